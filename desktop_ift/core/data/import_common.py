"""What every importer shares: the error type, the user's overrides, text-encoding detection and
turning mixed Python values into Arrow columns."""

from __future__ import annotations

import codecs
import json
import math
import unicodedata
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from desktop_ift.core.data.text_decoding import DecodedText, decode_bytes, guess_encoding

SAMPLE_BYTES = 256 * 1024
WHOLE_FILE_BYTES = 32 * 1024 * 1024  # files up to this size are judged whole when detecting the encoding
# A single cell above this many bytes is refused: no prompt can use it, and it usually means a quote was
# never closed, so that the rest of the file became one cell.
MAX_CELL_BYTES = 8 * 1024 * 1024

# Leading bytes of files people rename by mistake; the NUL/control-character test catches the rest.
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one: if it is, rename it to .xlsx)"),
    (b"PAR1", "a Parquet file (rename it to .parquet)"),
    (b"ARROW1", "an Arrow file (rename it to .arrow)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel (.xls) or Word file (save it as .xlsx or .csv)"),
    (b"\x7fELF", "a program"),
)


@dataclass
class ImportNotice:
    """Something the user must see before importing: the data would be read, but not plainly.

    ``kind``: ``decode`` (undecodable bytes), ``mixed_encoding``, ``encoding`` (a detected legacy one),
    ``quoted_newlines``, ``header``, ``formula`` (no saved result) or ``types`` (a mixed column kept as text).
    ``message`` names the count and the first row or cell; ``suggestion`` holds a setting that would help
    (e.g. ``{"encoding": "cp1252"}``).
    """

    kind: str
    message: str
    suggestion: dict | None = None

    def __str__(self) -> str:
        return self.message


class DataImportError(Exception):
    """A file could not be imported. ``str(e)`` is the whole message for the user.

    ``path`` is the file concerned; ``location`` says where in it (``"line 17"``, ``"row 5"``) or is None.
    """

    def __init__(self, message: str, path: Path | str | None = None, location: str | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.location = location


@dataclass
class ImportOptions:
    """How to read a file; ``None`` means "detect it". The import dialog and the CLI fill these in.

    ``delimiter``/``quote_char``/``encoding``/``has_header`` apply to delimited text; ``sheet`` (a name or a
    0-based index) and ``header_row`` (1-based row holding the column names) to Excel; ``records_key`` to a
    JSON object whose records sit under that key.
    """

    delimiter: str | None = None
    quote_char: str | None = None
    encoding: str | None = None
    has_header: bool | None = None
    sheet: str | int | None = None
    header_row: int | None = None
    records_key: str | None = None

    def __post_init__(self) -> None:
        if self.delimiter is not None:
            self.delimiter = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(
                self.delimiter, self.delimiter)
            if len(self.delimiter) != 1 or self.delimiter in "\r\n":
                raise ValueError(f"The delimiter must be one character (or 'tab'), not {self.delimiter!r}.")
        if self.quote_char is not None and (len(self.quote_char) != 1 or self.quote_char in "\r\n"):
            raise ValueError(f"The quote character must be one character, not {self.quote_char!r}.")
        if self.encoding is not None:
            try:
                self.encoding = codecs.lookup(self.encoding).name
            except LookupError:
                raise ValueError(f"Unknown text encoding {self.encoding!r}: use e.g. utf-8, utf-16, cp1252 "
                                 "or latin-1.") from None
        if self.header_row is not None and (isinstance(self.header_row, bool) or int(self.header_row) < 1):
            raise ValueError(f"The header row is counted from 1, not {self.header_row!r}.")
        if self.records_key is not None and not str(self.records_key).strip():
            self.records_key = None

    def to_dict(self) -> dict:
        """The options that are set (not detected), as JSON-ready values."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict | None) -> "ImportOptions":
        """Options from :meth:`to_dict` output; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})


def short(exc: BaseException) -> str:
    """One line of an exception's text, at most 200 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# ---------------------------------------------------------------------------------------------- text encoding
def detect_encoding(path: Path, override: str | None = None) -> str:
    """The Python codec that decodes the text file at ``path``; refuses files that are not text.

    Checks only the first :data:`SAMPLE_BYTES`; a UTF-8 guess that later fails is retried as CP-1252 by the
    reader. ``override`` skips the guess (but not the binary check).
    """
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise DataImportError(
                f'"{path.name}" is not a text table: it looks like {what}. Choose the right file.', path)
    body = head[len(codecs.BOM_UTF8):] if head.startswith(codecs.BOM_UTF8) else head
    if override:
        encoding = override
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif _looks_like_utf16(head, 1):
        encoding = "utf-16-le"
    elif _looks_like_utf16(head, 0):
        encoding = "utf-16-be"
    elif b"\x00" in head:
        raise binary_error(path)
    else:
        encoding = guess_encoding(_whole_or_head(path, body, len(head) - len(body)))[0]
        if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
    sample = body.decode(encoding, errors="replace")
    odd = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    if odd >= 3 and odd > len(sample) / 100:
        raise binary_error(path)
    if encoding.startswith("utf-16") and "\x00" in sample:
        raise binary_error(path)
    return encoding


def _whole_or_head(path: Path, head: bytes, skip: int) -> bytes:
    """The file's bytes (after ``skip`` BOM bytes) when it is small enough to judge whole, else ``head``."""
    try:
        if path.stat().st_size <= WHOLE_FILE_BYTES:
            return path.read_bytes()[skip:]
    except OSError:
        pass
    return head


def read_decoded(path: Path, encoding: str | None, limit: int | None = None) -> DecodedText:
    """The text of ``path`` (the first ``limit`` bytes cut at a line end, when given), decoded by
    :func:`~desktop_ift.core.data.text_decoding.decode_bytes`: BOM removed, every undecodable byte counted."""
    with open(path, "rb") as fh:
        raw = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raw = raw[:limit]
        if b"\n" in raw:
            raw = raw[: raw.rindex(b"\n") + 1]
    if encoding in ("utf-8-sig",):
        encoding = "utf-8"
    return decode_bytes(raw, encoding)


def binary_error(path: Path) -> DataImportError:
    """The error for a file that holds binary data instead of text."""
    return DataImportError(
        f'"{path.name}" does not contain text: it holds binary data (is it an image, an archive or a program '
        "renamed to a table extension?). Choose the original CSV/Excel/JSON file.", path)


def _looks_like_utf16(head: bytes, nul_offset: int) -> bool:
    """UTF-16 without a byte-order mark: mostly-ASCII text has a NUL in every other byte."""
    if len(head) < 4:
        return False
    zeros = head[nul_offset::2].count(0)
    others = head[1 - nul_offset::2].count(0)
    half = len(head) // 2
    return zeros > 0.4 * half and others < 0.05 * half


def _decodes(head: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        decoder.decode(head)  # not final: the sample may end inside a character
    except UnicodeDecodeError:
        return False
    return True


def decodes_fully(path: Path, encoding: str) -> bool:
    """True if the whole file decodes with ``encoding`` (read in 1 MiB chunks)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def first_bad_line(path: Path, encoding: str) -> int | None:
    """The 1-based line holding the first byte that ``encoding`` cannot decode (None if all decode)."""
    line = 1
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return line
            line += 1
    return None


def read_text_sample(path: Path, encoding: str, limit: int = SAMPLE_BYTES) -> tuple[str, bool]:
    """The first ``limit`` bytes of the file as text, cut at a line end; True if that is the whole file."""
    with open(path, "rb") as fh:
        raw = fh.read(limit + 1)
    whole = len(raw) <= limit
    text = raw[:limit].decode(encoding, errors="ignore")
    if not whole and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text, whole


# ---------------------------------------------------------------------------------------------- values
def json_type(value: Any) -> str:
    """The JSON word for a Python value (for messages)."""
    if isinstance(value, bool):
        return "true/false value"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text string"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "record"


def column_from_values(values: list, name: str = "", notices: list | None = None,
                       row_label: str = "row") -> pa.Array:
    """An Arrow column with the values' own type, or their text when the values mix types.

    Never changes a value in silence: true/false beside numbers, or integers too large for a float beside
    floats, keep their text (``true``, ``1.5``) instead of becoming 1.0/0.0, and a column kept as text for
    mixing types is added to ``notices`` with its first odd row.
    """
    kinds = {_kind(v) for v in values if v is not None}
    if "bool" in kinds and kinds & {"int", "float"} or ("bigint" in kinds and "float" in kinds):
        return _as_text(values, name, notices, row_label, kinds)
    try:
        array = pa.array(values)
        if not pa.types.is_null(array.type):
            return array
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    if notices is not None and len(kinds) > 1:
        return _as_text(values, name, notices, row_label, kinds)
    return pa.array([None if v is None else to_text(v) for v in values], pa.string())


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "bigint" if abs(value) > 2**53 else "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


_KIND_WORDS = {"bool": "true/false", "int": "numbers", "bigint": "large integers", "float": "numbers",
               "text": "text"}


def _as_text(values: list, name: str, notices: list | None, row_label: str, kinds: set) -> pa.Array:
    if notices is not None:
        first_kind = _kind(next(v for v in values if v is not None))
        odd = next(i for i, v in enumerate(values) if v is not None and _kind(v) != first_kind)
        words = sorted({_KIND_WORDS.get(k, k) for k in kinds})
        notices.append(ImportNotice("types", (
            f'Column "{name}" mixes {" and ".join(words)} (first different value: {row_label} {odd + 1}), so it '
            "is kept as text exactly as written (true stays true, 1.5 stays 1.5). Convert it later on the Data "
            "page if it should be one type.")))
    return pa.array([None if v is None else to_text(v) for v in values], pa.string())


def to_text(value: Any) -> str:
    """A cell value as the text a user would expect to see."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def drop_unnamed_blank_columns(table: pa.Table) -> pa.Table:
    """Drop columns with no name and no values (a trailing delimiter on every line makes one)."""
    keep = []
    for i, (name, column) in enumerate(zip(table.column_names, table.columns)):
        if str(name).strip() == "" and is_blank(column):
            continue
        keep.append(i)
    return table.select(keep) if len(keep) != table.num_columns else table


def is_blank(column: pa.ChunkedArray) -> bool:
    """True if every cell is null or blank text."""
    if column.null_count == len(column):
        return True
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        filled = pc.sum(pc.not_equal(pc.utf8_trim_whitespace(column), "")).as_py() or 0
        return filled == 0
    return False
