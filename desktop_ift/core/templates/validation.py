"""The validation panel's findings: everything wrong with a dataset rendered through a template set.

:func:`validate` reports unknown placeholders and syntax errors (with their line and column), rows whose
rendered prompt or response is empty, examples longer than the maximum sequence length (with a token-length
histogram and the cut-off), duplicates after rendering and identical prompts with different answers. Every
:class:`Problem` lists the table rows it concerns, so the GUI can jump to them. Chat and pre-training
settings are validated by :func:`validate_source` the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from desktop_ift.core.templates.batch_render import TableRenderer
from desktop_ift.core.templates.conversation import (
    ConversationError, ConversationSpec, build_conversations, build_documents, check_columns,
)
from desktop_ift.core.templates.format_lengths import MeasuredLengths, chat_findings, document_examples
from desktop_ift.core.templates.render import TemplateError, check_template
from desktop_ift.core.templates.template_set import TemplateSet, assignments
from desktop_ift.core.templates.token_preview import set_lengths
from desktop_ift.core.training.plan_lengths import chat_dropped

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
    units: list[int] = dataclasses.field(default_factory=list)  # chat/pre-training: indices of conversations/documents

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
    unit: str = "example"  # what ``n_examples`` and ``lengths`` count: example, conversation, document
    split_long: bool = False  # pre-training: a longer document is split into several examples, not cut

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
            f"({report.max_seq_length} tokens; the longest has {int(totals.max())}). Training truncates them "
            "(the whole response kept where possible, the prompt cut) or drops them, as chosen on the Train page, "
            "which shows how many before launch. Raise the maximum length or shorten them.",
            long_rows))


def validate_source(source, table: pa.Table, tokenizer=None, max_seq_length: int = 256, cache=None,
                    data_key: str = "", completion_only: bool = True) -> ValidationReport:
    """:func:`validate` for a TemplateSet; for chat (ConversationSpec) or pre-training (PretrainSpec)
    settings: missing columns, conversations whose roles do not alternate, empty texts, duplicates and,
    with a tokenizer, the token length of every conversation/document (:func:`format_report`)."""
    if isinstance(source, TemplateSet):
        return validate(source, table, tokenizer, max_seq_length, cache, data_key)
    try:
        check_columns(source, table.column_names)
    except ConversationError as exc:
        return ValidationReport([Problem("columns", str(exc), severity="error")], table.num_rows, 0, max_seq_length)
    kind = "chat" if isinstance(source, ConversationSpec) else "pretrain"
    if kind == "chat":
        units, bad = build_conversations(table, source)
    else:
        units, bad = build_documents(table, source), []
    lengths = None
    if tokenizer is not None and units:
        lengths = MeasuredLengths(kind)
        lengths.extend(tokenizer, units, len(units))
    return format_report(kind, units, bad, table.num_rows, max_seq_length, lengths, completion_only)


def format_report(kind: str, items: list[dict], build_problems: list, n_rows: int, max_seq_length: int,
                  lengths=None, completion_only: bool = True) -> ValidationReport:
    """The findings for chat (``kind="chat"``: ``items`` are conversations from ``build_conversations``,
    ``build_problems`` its problems) or pre-training (``"pretrain"``: documents from ``build_documents``).

    Problems link to their conversations/documents through ``units`` (indices into ``items``) and to
    their table rows. ``lengths`` (a :class:`~desktop_ift.core.templates.format_lengths.MeasuredLengths`)
    may cover only the first items; the report's ``lengths`` then has that many entries.
    """
    chat = kind == "chat"
    problems = [Problem("conversation", p.text, p.rows, "error") for p in build_problems]
    if not chat:
        empty = sorted(set(range(n_rows)) - {d["idx"] for d in items})
        if empty:
            problems.append(Problem("empty_document", f"{_rows_phrase(len(empty), n_rows, 'rows')} have no text in "
                                    "the chosen columns; they will be left out.", empty))
    if not items:
        problems.append(Problem("empty", "These settings give no training examples.", severity="error"))
    if chat:
        problems += _empty_message_problems(items)
    problems += _duplicate_unit_problems(items, chat)
    report = ValidationReport(problems, n_rows, len(items), max_seq_length,
                              unit="conversation" if chat else "document", split_long=not chat)
    if lengths is not None and lengths.measured:
        totals = lengths.total
        report.lengths = totals
        top = max(int(totals.max()), max_seq_length) + 1
        report.histogram = np.histogram(totals, bins=HISTOGRAM_BINS, range=(0, top))
        of = (f"{_rows_phrase(lengths.measured, len(items), report.unit + 's')} measured so far"
              if lengths.measured < len(items) else "")
        problems += (_chat_length_problems(items, lengths, max_seq_length, completion_only, of) if chat
                     else _document_length_problems(items, lengths, max_seq_length, of))
    return report


def _unit_problem(kind: str, message: str, items: list[dict], units: list[int], severity: str = "warning") -> Problem:
    return Problem(kind, message, [int(items[u]["idx"]) for u in units], severity, units=list(units))


def _empty_message_problems(items: list[dict]) -> list[Problem]:
    out = []
    for role, why in (("assistant", "the model learns to answer them with nothing"),
                      ("user", "the model answers a question it never sees")):
        units = [u for u, c in enumerate(items)
                 if any(m["role"] == role and not str(m["content"]).strip() for m in c["messages"])]
        if units:
            out.append(_unit_problem(f"empty_{role}", f"{_count(len(units), 'conversation')} "
                                     f"{'has' if len(units) == 1 else 'have'} an empty {role} message: {why}. "
                                     "Fill or remove those rows on the Data page.", items, units))
    return out


def _duplicate_unit_problems(items: list[dict], chat: bool) -> list[Problem]:
    groups: dict = {}
    for u, item in enumerate(items):
        key = ((item.get("system", ""), tuple((m["role"], m["content"]) for m in item["messages"])) if chat
               else item["text"])
        groups.setdefault(key, []).append(u)
    dupes = [g for g in groups.values() if len(g) > 1]
    if not dupes:
        return []
    noun = "conversation" if chat else "document"
    extra = sum(len(g) - 1 for g in dupes)
    units = sorted(u for g in dupes for u in g)
    return [_unit_problem("duplicate", f"Duplicates: {_count(extra, noun)} exactly repeat{'s' if extra == 1 else ''} "
                          f"another ({_count(len(dupes), 'group')}). Repeats weigh more in training; remove them if "
                          "that is not intended.", items, units)]


def _chat_length_problems(items, lengths, max_len: int, completion_only: bool, of: str) -> list[Problem]:
    found = chat_findings(lengths.as_chat(), max_len, completion_only)
    found["dropped"] = chat_dropped(lengths.as_chat(), max_len, completion_only)
    out = []
    cut = np.nonzero(found["cut"])[0].tolist()
    measured = f" ({of})" if of else ""
    if cut:
        out.append(_unit_problem(
            "too_long", f"{_rows_phrase(len(cut), lengths.measured, 'conversations')}{measured} are longer than the "
            f"maximum sequence length ({max_len} tokens; the longest has {int(lengths.total.max()):,}). Training "
            "keeps their last answer whole where possible and cuts the earlier turns. Raise the maximum length on the "
            "Train page or split long conversations.", items, cut))
    dropped = np.nonzero(found["dropped"])[0].tolist()
    if dropped:
        out.append(_unit_problem(
            "dropped", f"{_count(len(dropped), 'conversation')} would teach nothing: no assistant token is left "
            f"once cut to {max_len} tokens, so training leaves {'it' if len(dropped) == 1 else 'them'} out.",
            items, dropped))
    return out


def _document_length_problems(items, lengths, max_len: int, of: str) -> list[Problem]:
    long_units = np.nonzero(lengths.total > max_len)[0].tolist()
    if not long_units:
        return []
    pieces = document_examples(lengths.total, max_len)
    measured = f" ({of})" if of else ""
    return [_unit_problem(
        "too_long", f"{_rows_phrase(len(long_units), lengths.measured, 'documents')}{measured} are longer than the "
        f"maximum sequence length ({max_len} tokens; the longest has {int(lengths.total.max()):,}). Nothing is cut: "
        f"training splits each into pieces of at most {max_len} tokens, so they give "
        f"{int(pieces[long_units].sum()):,} examples ({int(pieces.sum()):,} from all measured documents). A piece "
        "does not see the text of the piece before it.", items, long_units, "info")]
