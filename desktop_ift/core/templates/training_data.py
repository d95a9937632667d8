"""From a table and what to train on (template set, chat columns, text columns) to data lines per split.

Used by run preparation (``core.training.prepare``) and by the exports, so an exported dataset holds exactly the
examples a run would train on. The split is made on source units — rows, or whole conversations for
chat — *before* a template set expands them, so the variants of one row never land in two splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from desktop_ift.core.data.splits import SplitError, split_indices
from desktop_ift.core.templates.batch_render import TableRenderer
from desktop_ift.core.templates.conversation import (
    ConversationSpec,
    PretrainSpec,
    build_conversations,
    build_documents,
)
from desktop_ift.core.templates.template_set import TemplateSet, render_set


def data_format_of(source) -> str:
    """The worker's name for the data lines ``source`` makes: ``instruction``, ``chat`` or ``text``."""
    if isinstance(source, ConversationSpec):
        return "chat"
    if isinstance(source, PretrainSpec):
        return "text"
    return "instruction"


@dataclass
class BuiltData:
    """``lines`` per split (``train``/``validation``/``test``, or ``all`` without a split), the source units
    in each split (``parts``), examples left out as empty, and a message when conversations are unusable."""

    lines: dict[str, list[dict]]
    parts: dict[str, list[int]]
    dropped_empty: int
    problems: str = ""
    data_format: str = "instruction"


def _units(source, table: pa.Table) -> tuple[list, list[int], str]:
    if isinstance(source, ConversationSpec):
        conversations, problems = build_conversations(table, source)
        message = ""
        if problems:
            listed = "; ".join(p.text for p in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            message = (f"{len(problems)} conversation(s) cannot be used: {listed}{more}. Fix or remove these rows, "
                       "or choose other columns.")
        return conversations, [c["idx"] for c in conversations], message
    rows = list(range(table.num_rows))
    return rows, rows, ""


def _lines(source, table: pa.Table, units: list, indices: list[int], renderer: TableRenderer) -> tuple[list[dict], int]:
    if isinstance(source, ConversationSpec):
        return [{"idx": units[i]["idx"], "system": units[i]["system"], "messages": units[i]["messages"]}
                for i in indices], 0
    if isinstance(source, PretrainSpec):
        docs = build_documents(table, source, [units[i] for i in indices])
        return docs, len(indices) - len(docs)
    lines = render_set(source, table, [units[i] for i in indices], renderer)
    kept = [line for line in lines if line["response"].strip()]
    return kept, len(lines) - len(kept)


def build_split_lines(source, table: pa.Table, split=None) -> BuiltData:
    """The data lines ``source`` makes from ``table``, divided by ``split`` (a SplitSpec; None: one part
    called ``all``). Raises TemplateError (naming the row) when a row cannot be rendered, ConversationError
    for a missing column, SplitError for a stratify column the table lacks."""
    if not isinstance(source, (TemplateSet, ConversationSpec, PretrainSpec)):
        raise TypeError(f"cannot build training data from {type(source).__name__}")
    units, first_rows, problems = _units(source, table)
    if problems:
        return BuiltData({}, {}, 0, problems, data_format_of(source))
    if split is None:
        parts = {"all": list(range(len(units)))}
    else:
        values = {}
        for role in ("stratify_column", "split_column"):  # per unit: the value at its first row
            name = getattr(split, role, None)
            if name:
                if name not in table.column_names:
                    raise SplitError(f"The split uses the column {name!r}, which the dataset does not have. "
                                     f"Available columns: {', '.join(table.column_names)}.")
                column = table.column(name).to_pylist()
                values[role] = [column[r] for r in first_rows]
        if "split_column" in values:
            parts = split_indices(len(units), split, None, values["split_column"])
        else:
            parts = split_indices(len(units), split, values.get("stratify_column"))
    renderer = TableRenderer(table)
    lines, dropped = {}, 0
    for part, indices in parts.items():
        lines[part], left_out = _lines(source, table, units, indices, renderer)
        dropped += left_out
    return BuiltData(lines, parts, dropped, "", data_format_of(source))
