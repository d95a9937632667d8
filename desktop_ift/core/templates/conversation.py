"""Chat and continued pre-training data from a table, without prompt templates.

* **Multi-turn chat** (:class:`ConversationSpec`): one row per message. Rows sharing a conversation id
  form one conversation, ordered by a turn column (or file order); a role column says who speaks. Roles
  must alternate user/assistant, start with the user and end with the assistant (a system row may come
  first). Each conversation becomes ``{"idx", "system", "messages": [{"role", "content"}, ...]}``.
* **Continued pre-training** (:class:`PretrainSpec`): one or more text columns joined into one document
  per row: ``{"idx", "text"}``.

Problems name the conversation and its rows (1-based, as the data table shows them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pyarrow as pa

from desktop_ift.core.templates.batch_render import column_texts

USER_ROLES = {"user", "human", "customer", "client", "question", "q", "prompt", "usr"}
ASSISTANT_ROLES = {"assistant", "bot", "agent", "ai", "gpt", "model", "answer", "a", "support", "response",
                   "reply", "chatbot"}
SYSTEM_ROLES = {"system", "sys", "instruction"}


class ConversationError(ValueError):
    """A chat or pre-training setting that cannot work (a missing column); the text says what to choose."""


@dataclass
class ConversationSpec:
    """Which columns make a multi-turn chat dataset (``turn_column`` optional: file order otherwise)."""

    conversation_column: str
    role_column: str
    content_column: str
    turn_column: str | None = None
    system_column: str | None = None

    kind = "chat"

    def columns(self) -> list[str]:
        """Every column this spec reads."""
        return [c for c in (self.conversation_column, self.role_column, self.content_column, self.turn_column,
                            self.system_column) if c]

    def to_dict(self) -> dict:
        """Plain JSON-able form, with ``kind: "chat"``."""
        return {"kind": self.kind, **asdict(self)}


@dataclass
class PretrainSpec:
    """Columns whose text, joined by ``separator``, is one document per row."""

    text_columns: list[str] = field(default_factory=list)
    separator: str = "\n\n"

    kind = "pretrain"

    def columns(self) -> list[str]:
        """Every column this spec reads."""
        return list(self.text_columns)

    def to_dict(self) -> dict:
        """Plain JSON-able form, with ``kind: "pretrain"``."""
        return {"kind": self.kind, **asdict(self)}


@dataclass
class ConversationProblem:
    """Why one conversation cannot be used; ``rows`` are 0-based table rows."""

    conversation: str
    rows: list[int]
    message: str

    @property
    def text(self) -> str:
        """``Conversation 'c7' (rows 4-6): ...``"""
        return f"Conversation {self.conversation!r} ({_rows_text(self.rows)}): {self.message}"


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r + 1) for r in rows[:6])
    more = f" and {len(rows) - 6} more" if len(rows) > 6 else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def check_columns(spec, column_names: list[str]) -> None:
    """Raise :class:`ConversationError` naming a column ``spec`` reads that the table lacks."""
    if isinstance(spec, PretrainSpec) and not spec.text_columns:
        raise ConversationError("Choose at least one text column for continued pre-training.")
    for name in spec.columns():
        if name not in column_names:
            raise ConversationError(f"There is no column '{name}' in this dataset. Available columns: "
                                    f"{', '.join(column_names)}.")


def normalise_role(value) -> str | None:
    """``"user"``, ``"assistant"``, ``"system"`` for the usual spellings (Human, Bot, agent, ...), else None."""
    text = str(value or "").strip().lower()
    if text in USER_ROLES:
        return "user"
    if text in ASSISTANT_ROLES:
        return "assistant"
    if text in SYSTEM_ROLES:
        return "system"
    return None


def _turn_key(value):
    if value is None:
        return (2, 0)
    if isinstance(value, (int, float)):
        return (0, value)
    try:
        return (0, float(str(value)))
    except ValueError:
        return (1, str(value))


def build_conversations(table: pa.Table, spec: ConversationSpec) -> tuple[list[dict], list[ConversationProblem]]:
    """Group and order the table's rows into conversations; return ``(conversations, problems)``.

    A conversation with a problem (unknown role, roles that do not alternate, no assistant turn, a turn
    number used twice) is left out of the first list and described in the second. Each conversation is
    ``{"idx": its first row, "conversation": id, "system", "messages", "rows": [table rows in order]}``.
    """
    check_columns(spec, table.column_names)
    ids = table.column(spec.conversation_column).to_pylist()
    roles = table.column(spec.role_column).to_pylist()
    contents = column_texts(table.column(spec.content_column)).to_pylist()
    turns = table.column(spec.turn_column).to_pylist() if spec.turn_column else None
    systems = column_texts(table.column(spec.system_column)).to_pylist() if spec.system_column else None
    groups: dict = {}
    for row, conv in enumerate(ids):
        groups.setdefault("" if conv is None else conv, []).append(row)
    conversations, problems = [], []
    for conv, rows in groups.items():
        if turns is not None:
            rows = sorted(rows, key=lambda r: (_turn_key(turns[r]), r))
            seen = [turns[r] for r in rows]
            dupes = {t for t in seen if seen.count(t) > 1}
            if dupes:
                problems.append(ConversationProblem(str(conv), rows, f"turn {sorted(map(str, dupes))[0]} appears "
                                                    "more than once, so the order of the messages is unclear."))
                continue
        problem, system, messages = _messages(rows, roles, contents)
        if systems is not None and not system:
            system = next((systems[r] for r in rows if systems[r].strip()), "")
        if problem:
            problems.append(ConversationProblem(str(conv), rows, problem))
            continue
        conversations.append({"idx": rows[0], "conversation": str(conv), "system": system, "messages": messages,
                              "rows": rows})
    conversations.sort(key=lambda c: c["idx"])
    return conversations, problems


def _messages(rows: list[int], roles: list, contents: list[str]) -> tuple[str, str, list[dict]]:
    system_parts, messages = [], []
    for r in rows:
        role = normalise_role(roles[r])
        if role is None:
            return (f"row {r + 1} has the role {roles[r]!r}; use user (or human, customer) and assistant (or bot, "
                    "agent).", "", [])
        if role == "system":
            if messages:
                return f"row {r + 1} is a system message after the conversation started; put it first.", "", []
            system_parts.append(contents[r])
            continue
        expected = "user" if not messages or messages[-1]["role"] == "assistant" else "assistant"
        if role != expected:
            if not messages:
                return (f"the conversation starts with an assistant message (row {r + 1}); it must start with "
                        "the user."), "", []
            return (f"two {role} messages in a row (row {r + 1}); roles must alternate user, assistant, "
                    "user, ..."), "", []
        messages.append({"role": role, "content": contents[r]})
    if not messages:
        return "it has no user or assistant messages.", "", []
    if messages[-1]["role"] != "assistant":
        return ("it ends with a user message that has no answer; the last message must be the assistant's "
                "(remove the last row or add the answer)."), "", []
    return "", "\n\n".join(p for p in system_parts if p.strip()), messages


def build_documents(table: pa.Table, spec: PretrainSpec, rows: list[int] | None = None) -> list[dict]:
    """``{"idx", "text"}`` per row (optionally only ``rows``), the text columns joined; empty rows skipped."""
    check_columns(spec, table.column_names)
    columns = [column_texts(table.column(c)).to_pylist() for c in spec.text_columns]
    wanted = range(table.num_rows) if rows is None else rows
    out = []
    for r in wanted:
        text = spec.separator.join(col[r] for col in columns if col[r].strip())
        if text.strip():
            out.append({"idx": int(r), "text": text})
    return out
