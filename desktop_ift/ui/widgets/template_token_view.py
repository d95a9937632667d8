"""The exact training text after the model's chat template, token by token, with the part the loss is
computed on highlighted and the tokens beyond the maximum length struck through."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import muted_label

TRAINED_BG = ("#dcfce7", "#bbf7d0")  # alternate shades so token borders are visible
PROMPT_BG = ("#f3f4f6", "#e5e7eb")


def tokens_html(preview) -> str:
    """HTML of a :class:`~desktop_ift.core.templates.token_preview.TokenPreview`."""
    parts = []
    for i, (text, trained) in enumerate(zip(preview.token_strings, preview.trained)):
        shades = TRAINED_BG if trained else PROMPT_BG
        style = f"background:{shades[i % 2]};"
        if i >= preview.max_seq_length:
            style += f"text-decoration: line-through; color:{theme.MUTED};"
        shown = html.escape(text).replace("\n", "↵<br>").replace(" ", "&nbsp;") or "&nbsp;"
        parts.append(f'<span style="{style}" title="token {i + 1}: id {preview.ids[i]}">{shown}</span>')
    return (f'<div style="font-family: monospace; font-size: 10pt; line-height: 150%;">{"".join(parts)}</div>')


class TokenView(QWidget):
    """Header line (model, counts) above the coloured token text."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.header = muted_label("Choose a model to see the exact training text and its tokens.")
        layout.addWidget(self.header)
        self.legend = muted_label(
            f'<span style="background:{TRAINED_BG[0]}">&nbsp;green&nbsp;</span>: the loss is computed on these '
            f'tokens (what the model learns to write) · <span style="background:{PROMPT_BG[1]}">&nbsp;grey&nbsp;'
            "</span>: context only · struck through: cut off by the maximum length")
        layout.addWidget(self.legend)
        self.text = QTextBrowser()
        layout.addWidget(self.text, 1)

    def show_message(self, text: str) -> None:
        self.header.setText(text)
        self.text.clear()

    def show_preview(self, preview, model_label: str) -> None:
        cut = (f" · <b style='color:{theme.DANGER}'>{preview.n_tokens - preview.max_seq_length:,} tokens beyond the "
               f"maximum length {preview.max_seq_length} are cut off</b>") if preview.truncated else ""
        self.header.setText(f"{model_label}: <b>{preview.n_tokens:,} tokens</b>, the loss counts "
                            f"<b>{preview.n_trained:,}</b>{cut}")
        self.text.setHtml(tokens_html(preview))

    def plain_text(self) -> str:
        return self.text.toPlainText()
