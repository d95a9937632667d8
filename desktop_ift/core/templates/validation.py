"""The validation panel's findings: everything wrong with a dataset rendered through a template set.

:func:`validate` reports unknown placeholders and syntax errors (with their line and column), rows whose
rendered prompt or response is empty, examples longer than the maximum sequence length (with a token-length
histogram and the cut-off), duplicates after rendering and identical prompts with different answers. Every
:class:`Problem` lists the table rows it concerns, so the GUI can jump to them. Chat and pre-training
settings are validated by :func:`validate_source` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from desktop_ift.core.templates.batch_render import TableRenderer
from desktop_ift.core.templates.render import TemplateError, check_template
from desktop_ift.core.templates.template_set import TemplateSet, assignments

HISTOGRAM_BINS = 30


@dataclass
class Problem:
    """One finding. ``rows`` are 0-based table rows (the GUI shows them 1-based); ``severity`` is
    ``"error"`` (training refused) or ``"warning"``; ``field``/``line``/``column`` locate template errors."""

    kind: str
    message: str
    rows: list[int] = field(default_factory=list)
    severity: str = "warning"
    template: str = ""
    field: str = ""
    line: int | None = None
    column: int | None = None

    @property
    def text(self) -> str:
        """The message with the template it concerns, when there are several."""
        return f"{self.template}: {self.message}" if self.template else self.message


@dataclass
class ValidationReport:
    """All findings plus the token-length picture (``lengths`` per example; None without a tokenizer)."""

    problems: list[Problem]
    n_rows: int
    n_examples: int
    max_seq_length: int
    lengths: np.ndarray | None = None
    histogram: tuple[np.ndarray, np.ndarray] | None = None  # (counts, bin edges)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def can_train(self) -> bool:
        """False when an error makes training impossible."""
        return not self.errors

    @property
    def n_too_long(self) -> int:
        return int((self.lengths > self.max_seq_length).sum()) if self.lengths is not None else 0


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _rows_phrase(n: int, total: int, what: str) -> str:
    return f"{n:,} of {total:,} {what}"


def validate(template_set: TemplateSet, table: pa.Table, tokenizer=None, max_seq_length: int = 256,
             cache=None, data_key: str = "", renderer: TableRenderer | None = None) -> ValidationReport:
    """Check ``template_set`` on every row of ``table``; with a :class:`LightTokenizer`, also lengths."""
    renderer = renderer or TableRenderer(table)
    labels = template_set.labels()
    many = len(labels) > 1
    problems: list[Problem] = []
    usable = []
    for label, template in zip(labels, template_set.templates):
        found = check_template(template, table.column_names)
        for p in found:
            problems.append(Problem("template", p.text, severity=p.severity, template=label if many else "",
                                    field=p.field, line=p.line, column=p.column))
        if not any(p.severity == "error" for p in found):
            usable.append(template)
    n_rows = table.num_rows
    row_idx, tmpl_idx = assignments(template_set, n_rows)
    report = ValidationReport(problems, n_rows, len(row_idx), max_seq_length)
    if len(usable) != len(template_set.templates) or n_rows == 0:
        return report
    rendered = {"system": [""] * len(row_idx), "prompt": [""] * len(row_idx), "response": [""] * len(row_idx)}
    for k, template in enumerate(template_set.templates):
        where = np.nonzero(tmpl_idx == k)[0]
        if not len(where):
            continue
        try:
            fields = renderer.render(template, pa.array(row_idx[where], type=pa.int64()))
        except TemplateError as exc:
            rows = [exc.row] if exc.row is not None else []
            problems.append(Problem("render", str(exc), rows, "error", labels[k] if many else "", exc.field, exc.line))
            return report
        for name, values in fields.items():
            target = rendered[name]
            for pos, value in zip(where.tolist(), values):
                target[pos] = value
    problems.extend(_empty_problems(rendered, row_idx, n_rows))
    problems.extend(_duplicate_problems(rendered, row_idx))
    if tokenizer is not None:
        from desktop_ift.core.templates.token_preview import set_lengths

        counts = set_lengths(tokenizer, template_set, renderer, data_key, cache)
        _length_findings(report, counts["total"], counts["row"])
    return report


def _empty_problems(rendered: dict, row_idx: np.ndarray, n_rows: int) -> list[Problem]:
    out = []
    n = len(row_idx)
    empty_response = [int(row_idx[i]) for i, text in enumerate(rendered["response"]) if not text.strip()]
    if len(empty_response) == n:
        out.append(Problem("empty_response", "The response is empty for every row, so the model would learn "
                           "nothing: training is not possible. Use the column with the answers in the response.",
                           empty_response[:1000], "error"))
    elif empty_response:
        out.append(Problem("empty_response", f"{_rows_phrase(len(empty_response), n, 'examples')} have an empty "
                           "response; they will be left out of training.", sorted(set(empty_response))))
    empty_prompt = [int(row_idx[i]) for i, text in enumerate(rendered["prompt"]) if not text.strip()]
    if empty_prompt:
        out.append(Problem("empty_prompt", f"{_rows_phrase(len(empty_prompt), n, 'examples')} have an empty "
                           "prompt: the model sees no input for them.", sorted(set(empty_prompt))))
    return out


def _duplicate_problems(rendered: dict, row_idx: np.ndarray) -> list[Problem]:
    groups: dict[tuple, list[int]] = {}
    answers: dict[tuple, dict[str, list[int]]] = {}
    for i, key in enumerate(zip(rendered["system"], rendered["prompt"], rendered["response"])):
        groups.setdefault(key, []).append(int(row_idx[i]))
        answers.setdefault(key[:2], {}).setdefault(key[2], []).append(int(row_idx[i]))
    out = []
    dupes = [rows for rows in groups.values() if len(rows) > 1]
    if dupes:
        extra = sum(len(r) - 1 for r in dupes)
        rows = sorted({r for g in dupes for r in g})
        out.append(Problem("duplicate", f"Duplicates after rendering: {_count(extra, 'example')} exactly "
                           f"repeat{'s' if extra == 1 else ''} another ({_count(len(dupes), 'group')}). Repeats "
                           "weigh more in training; remove them if that is not intended.", rows))
    conflicts = [by for by in answers.values() if len(by) > 1]
    if conflicts:
        rows = sorted({r for by in conflicts for rs in by.values() for r in rs})
        out.append(Problem("conflict", f"{len(conflicts):,} prompts appear with different responses, so the model "
                           "is taught two answers to the same question. Check these rows.", rows))
    return out


def _length_findings(report: ValidationReport, totals: np.ndarray, rows: np.ndarray) -> None:
    report.lengths = totals
    if len(totals):
        top = max(int(totals.max()), report.max_seq_length) + 1
        report.histogram = np.histogram(totals, bins=HISTOGRAM_BINS, range=(0, top))
    long_rows = sorted(set(rows[totals > report.max_seq_length].tolist()))
    if long_rows:
        n = int((totals > report.max_seq_length).sum())
        report.problems.append(Problem(
            "too_long", f"{_rows_phrase(n, len(totals), 'examples')} are longer than the maximum sequence length "
            f"({report.max_seq_length} tokens; the longest has {int(totals.max())}). Their end is cut off in "
            "training, and an answer cut away entirely teaches nothing. Raise the maximum length or shorten them.",
            long_rows))


def validate_source(source, table: pa.Table, tokenizer=None, max_seq_length: int = 256, cache=None,
                    data_key: str = "") -> ValidationReport:
    """:func:`validate` for a TemplateSet; for chat (ConversationSpec) or pre-training (PretrainSpec)
    settings: missing columns, conversations whose roles do not alternate, empty documents and lengths."""
    from desktop_ift.core.templates.conversation import (
        ConversationError, ConversationSpec, build_conversations, build_documents, check_columns)

    if isinstance(source, TemplateSet):
        return validate(source, table, tokenizer, max_seq_length, cache, data_key)
    try:
        check_columns(source, table.column_names)
    except ConversationError as exc:
        return ValidationReport([Problem("columns", str(exc), severity="error")], table.num_rows, 0, max_seq_length)
    problems: list[Problem] = []
    if isinstance(source, ConversationSpec):
        units, bad = build_conversations(table, source)
        problems += [Problem("conversation", p.text, p.rows, "error") for p in bad]
    else:
        units = build_documents(table, source)
        empty = sorted(set(range(table.num_rows)) - {d["idx"] for d in units})
        if empty:
            problems.append(Problem("empty_document", f"{len(empty):,} rows have no text in the chosen columns; "
                                    "they will be left out.", empty))
    if not units:
        problems.append(Problem("empty", "These settings give no training examples.", severity="error"))
    report = ValidationReport(problems, table.num_rows, len(units), max_seq_length)
    if tokenizer is not None and units:
        from desktop_ift.core.templates.token_preview import preview_example

        sample = units[:2000]  # a preview: a few thousand examples give the picture
        totals = np.array([preview_example(tokenizer, u, max_seq_length).n_tokens for u in sample], dtype=np.int64)
        _length_findings(report, totals, np.array([u["idx"] for u in sample], dtype=np.int64))
    return report
