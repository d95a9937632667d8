"""The exact training text after the model's chat template, token by token, with the part the loss is
computed on highlighted and the tokens beyond the maximum length struck through."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import muted_label

TRAINED_BG = ("#dcfce7", "#bbf7d0")  # alternate shades so token borders are visible
PROMPT_BG = ("#f3f4f6", "#e5e7eb")


def tokens_html(preview, split: bool = False) -> str:
    """HTML of a :class:`~desktop_ift.core.templates.token_preview.TokenPreview`. Tokens past the maximum
    length are struck through, or with ``split`` (pre-training) a marker shows where each further training
    example starts (only a last piece of one token, which teaches nothing, is struck through)."""
    parts = []
    n, max_len = preview.n_tokens, max(preview.max_seq_length, 1)
    lone_last = split and n > max_len and n % max_len == 1
    for i, (text, trained) in enumerate(zip(preview.token_strings, preview.trained)):
        shades = TRAINED_BG if trained else PROMPT_BG
        style = f"background:{shades[i % 2]};"
        if split and i and i % max_len == 0:
            parts.append(f'<span style="color:{theme.ACCENT}; font-weight:bold;">&nbsp;‖&nbsp;example&nbsp;'
                         f'{i // max_len + 1}&nbsp;‖&nbsp;</span>')
        if (i >= preview.max_seq_length and not split) or (lone_last and i == n - 1):
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

        self.note = muted_label("")
        self.note.setVisible(False)
        layout.insertWidget(2, self.note)
        self._default_legend = self.legend.text()

    def show_message(self, text: str) -> None:
        self.header.setText(text)
        self.note.setVisible(False)
        self.text.clear()

    def show_preview(self, preview, model_label: str, note: str = "", split: bool = False) -> None:
        """Show ``preview``; ``note`` (e.g. the fallback format) goes under the header; with ``split``
        (pre-training) a long text is shown as the several examples training makes of it, not as cut."""
        max_len = preview.max_seq_length
        if split:
            from desktop_ift.core.templates.format_lengths import document_examples

            pieces = int(document_examples([preview.n_tokens], max_len)[0])
            more = (f" · longer than the maximum length {max_len}: training <b>splits it into {pieces:,} "
                    "examples</b>, nothing is cut") if preview.truncated else ""
            self.header.setText(f"{model_label}: <b>{preview.n_tokens:,} tokens</b>, the loss counts every "
                                f"token{more}")
            self.legend.setText(f'<span style="background:{TRAINED_BG[0]}">&nbsp;green&nbsp;</span>: the loss is '
                                f'computed on every token · <b style="color:{theme.ACCENT}">‖&nbsp;example&nbsp;2&nbsp;‖</b>: '
                                f"where training starts a new example ({max_len} tokens each)")
        else:
            cut = (f" · <b style='color:{theme.DANGER}'>{preview.n_tokens - max_len:,} tokens beyond the maximum "
                   f"length {max_len} are cut off</b>") if preview.truncated else ""
            self.header.setText(f"{model_label}: <b>{preview.n_tokens:,} tokens</b>, the loss counts "
                                f"<b>{preview.n_trained:,}</b>{cut}")
            self.legend.setText(self._default_legend)
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.text.setHtml(tokens_html(preview, split))

    def plain_text(self) -> str:
        """The shown text (spaces as spaces) for tests and accessibility."""
        return self.text.toPlainText().replace("\xa0", " ")
