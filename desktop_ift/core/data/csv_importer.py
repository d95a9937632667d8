"""Delimited text (CSV, TSV, ``.txt``): detect the encoding, delimiter, quote character and header row, let
the user override each, and read the file with ``pyarrow.csv`` (multi-threaded, no per-row Python)."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from desktop_ift.core.data.import_common import (
    MAX_CELL_BYTES,
    SAMPLE_BYTES,
    WHOLE_FILE_BYTES,
    DataImportError,
    ImportNotice,
    ImportOptions,
    decodes_fully,
    detect_encoding,
    drop_unnamed_blank_columns,
    first_bad_line,
    read_decoded,
    short,
)
from desktop_ift.core.data.text_decoding import DecodedText

DELIMITED_SUFFIXES = (".csv", ".tsv", ".txt")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}
_BLOCK_BYTES = 16 * 1024 * 1024
_INT_PATTERN = r"^(|0|-?[1-9][0-9]{0,17})$"  # canonical integers that fit int64 and print back unchanged
_FLOAT_PATTERN = r"^(|-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?)$"
_NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


@dataclass
class CsvDialect:
    """The settings a delimited file is read with (detected, or chosen by the user)."""

    encoding: str
    delimiter: str
    quote_char: str
    has_header: bool
    notices: list = field(default_factory=list)  # what detection wants the user to see (the header guess)


def detect_dialect(path: Path, options: ImportOptions | None = None) -> CsvDialect:
    """Detect how ``path`` is written; each setting given in ``options`` is taken as is."""
    options = options or ImportOptions()
    encoding = detect_encoding(path, options.encoding)
    sample = read_decoded(path, encoding, SAMPLE_BYTES).text
    whole = _size(path) <= SAMPLE_BYTES
    if not sample.strip():
        raise DataImportError(
            f'"{path.name}" is empty (it holds only blank lines). Choose a file that contains a table.', path)
    quote = options.quote_char or _detect_quote(sample)
    delimiter = options.delimiter or _choose_delimiter(sample, whole, path.suffix.lower(), quote)
    notices: list = []
    if options.has_header is not None:
        has_header = options.has_header
    else:
        has_header, notice = _detect_header(sample, delimiter, quote)
        if notice:
            notices.append(notice)
    return CsvDialect(encoding, delimiter, quote, has_header, notices)


def read_delimited(path: Path, options: ImportOptions | None = None, notices: list | None = None) -> pa.Table:
    """Every row of the delimited file at ``path`` as a table of text columns (types inferred later).

    What the user must see (bytes read in another encoding or replaced, cells with line breaks, the header
    guess) is appended to ``notices``; an unclosed quote that would swallow the rest of the file is an error.
    """
    options = options or ImportOptions()
    dialect = detect_dialect(path, options)
    source, decoded = _source(path, dialect, detected=options.encoding is None)
    try:
        raw = _read_with_arrow(source, dialect)
    except pa.ArrowInvalid as exc:
        raise _delimited_error(path, dialect, exc) from exc
    table = _name_columns(raw, path, dialect)
    found = dialect.notices + _decode_notices(decoded, path) + _line_break_notices(table, path, dialect, decoded)
    if notices is not None:
        notices.extend(found)
    return table


def preview_delimited(path: Path, options: ImportOptions | None = None, max_rows: int = 50,
                      notices: list | None = None) -> tuple[pa.Table, CsvDialect]:
    """The first ``max_rows`` rows (read from the start of the file only) and the dialect used; decoding
    problems of the whole file (up to 32 MB; else of its start) go to ``notices``."""
    dialect = detect_dialect(path, options)
    whole = _size(path) <= WHOLE_FILE_BYTES
    decoded = read_decoded(path, dialect.encoding, None if whole else SAMPLE_BYTES)
    decoded.detected = (options is None or options.encoding is None)
    found = dialect.notices + _decode_notices(decoded, path)  # undecodable bytes stop the preview too
    rows = _csv_rows(decoded.text[: SAMPLE_BYTES * 4], dialect.delimiter, max_rows + 1, dialect.quote_char)
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    if dialect.has_header:
        header, body = rows[0], rows[1:]
    else:
        header, body = default_names(width), rows
    columns = [pa.array([r[i] for r in body], pa.string()) for i in range(width)]
    table = pa.table(columns, names=[str(i) for i in range(width)]).rename_columns(header)
    if notices is not None:
        notices.extend(found + _line_break_notices(table, path, dialect, decoded, whole_file=False))
    return drop_unnamed_blank_columns(table), dialect


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _source(path: Path, dialect: CsvDialect, detected: bool = False):
    """What pyarrow reads: the file itself when it is plain UTF-8 (fast, no copy in memory), else the text
    decoded by us (BOM removed, other encodings and stray bytes counted) as UTF-8 bytes."""
    if dialect.encoding == "utf-8" and decodes_fully(path, "utf-8"):
        with open(path, "rb") as fh:
            if not fh.read(3).startswith(b"\xef\xbb\xbf"):
                return path, None
    decoded = read_decoded(path, dialect.encoding)
    decoded.detected = detected
    return pa.BufferReader(decoded.text.encode("utf-8")), decoded


def _decode_notices(decoded: DecodedText | None, path: Path) -> list:
    """What decoding did, as notices; bytes that no encoding read (they would become �) are an error that
    counts them, names the first line and proposes an encoding that reads the whole file."""
    if decoded is None:
        return []
    out = []
    for kind, message in decoded.notices(path.name):
        if kind == "decode":
            raise DataImportError(message + " Nothing was imported.", path, f"line {decoded.replaced_lines[0]}")
        out.append(ImportNotice(kind, message))
    return out


def _line_break_notices(table: pa.Table, path: Path, dialect: CsvDialect, decoded: DecodedText | None,
                        whole_file: bool = True) -> list:
    """Rows with a line break inside a quoted cell, counted, with the first one; an unclosed quote that runs
    to the end of the file raises :class:`DataImportError` naming the line where it opens."""
    mask = None
    for column in table.columns:
        if not pa.types.is_string(column.type):
            continue
        has = pc.or_(pc.match_substring(column, "\n"), pc.match_substring(column, "\r"))
        mask = has if mask is None else pc.or_(mask, has)
    if mask is None:
        return []
    mask = pc.fill_null(mask, False)
    count = pc.sum(mask).as_py() or 0
    if not count:
        return []
    first = pc.index(mask, True).as_py()
    if whole_file and mask[len(mask) - 1].as_py():
        _check_unclosed_quote(path, dialect, decoded)
    scope = "" if whole_file else " in the preview"
    return [ImportNotice("quoted_newlines", (
        f'"{path.name}": {count:,} row(s){scope} have a line break inside a quoted cell (first: data row '
        f"{first + 1}). That is right for multi-line text; if those rows look merged, a quote "
        f"({dialect.quote_char}) is not closed there: fix it, or choose another quote character."))]


def _check_unclosed_quote(path: Path, dialect: CsvDialect, decoded: DecodedText | None) -> None:
    text = decoded.text if decoded is not None else path.read_text(encoding=dialect.encoding, errors="replace")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=dialect.delimiter,
                        quotechar=dialect.quote_char, doublequote=True, strict=True)
    start = 1
    try:
        for _row in reader:
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc) and "EOF" not in str(exc):
            return
        swallowed = text.count("\n") + 1 - start
        raise DataImportError(
            f'"{path.name}", line {start}: a quote ({dialect.quote_char}) opens in this row and is never closed, '
            f"so the {swallowed:,} line(s) after it would become part of one cell. Close the quote (or double it "
            "inside the text), or choose another quote character, and import again.", path, f"line {start}")


def default_names(width: int) -> list[str]:
    """``column_1`` ... for a file without a header row."""
    return [f"column_{i + 1}" for i in range(width)]


def _read_with_arrow(source, dialect: CsvDialect) -> pa.Table:
    """``source``: a UTF-8 file path, or a buffer of UTF-8 bytes (see :func:`_source`)."""
    if isinstance(source, Path):
        with open(source, "rb") as fh:
            head = fh.read(1 << 16)
    else:
        head = source.read(1 << 16)
        source.seek(0)
    n_guess = max(len(r) for r in _csv_rows(head.decode("utf-8", errors="ignore"),
                                              dialect.delimiter, 50, dialect.quote_char))
    return pcsv.read_csv(
        source,
        read_options=pcsv.ReadOptions(autogenerate_column_names=True, encoding="utf8",
                                      block_size=_BLOCK_BYTES),
        parse_options=pcsv.ParseOptions(delimiter=dialect.delimiter, quote_char=dialect.quote_char,
                                        double_quote=True, newlines_in_values=True, ignore_empty_lines=True),
        convert_options=pcsv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(n_guess + 64)},
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def _name_columns(raw: pa.Table, path: Path, dialect: CsvDialect) -> pa.Table:
    raw = pa.table([c if pa.types.is_string(c.type) else c.cast(pa.string()) for c in raw.columns],
                   names=raw.column_names)
    if raw.num_rows == 0:
        raise DataImportError(f'"{path.name}" is empty. Choose a file that contains a table.', path)
    _check_cell_sizes(raw, path, 1 if dialect.has_header else 0)
    if dialect.has_header:
        header = ["" if v is None else str(v) for v in raw.slice(0, 1).to_pylist()[0].values()]
        data = raw.slice(1)
    else:
        header, data = default_names(raw.num_columns), raw
    return drop_unnamed_blank_columns(data.rename_columns(header))


def _check_cell_sizes(table: pa.Table, path: Path, header_rows: int) -> None:
    for column in table.columns:
        lengths = pc.binary_length(column)
        biggest = pc.max(lengths).as_py() or 0
        if biggest > MAX_CELL_BYTES:
            row = pc.index(lengths, biggest).as_py()
            where = "the header" if row < header_rows else f"data row {row - header_rows + 1}"
            raise DataImportError(
                f'"{path.name}", {where}: one cell holds {biggest / 1e6:.1f} MB of text, more than the '
                f"{MAX_CELL_BYTES // (1024 * 1024)} MB limit for one cell. This usually means a quote (\") "
                "opens there and is never closed; fix that cell, or split the text, and import again.",
                path, where)


def infer_text_types(table: pa.Table) -> pa.Table:
    """Make text columns numeric when that loses nothing: integers (and floats written exactly as Python
    prints them) become numbers, empty cells then become nulls. Vectorised, one column at a time."""
    columns = []
    for column in table.columns:
        columns.append(_infer_column(column) if pa.types.is_string(column.type) else column)
    return pa.table(columns, names=table.column_names)


def _infer_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if len(column) == 0 or pc.all(pc.equal(column, "")).as_py():
        return column
    if pc.all(pc.match_substring_regex(column, _INT_PATTERN)).as_py():
        try:
            return pc.cast(_empty_as_null(column), pa.int64())
        except pa.ArrowInvalid:
            return column
    if pc.all(pc.match_substring_regex(column, _FLOAT_PATTERN)).as_py():
        distinct = pc.unique(column).to_pylist()
        if all(v == "" or repr(float(v)) == v for v in distinct):
            return pc.cast(_empty_as_null(column), pa.float64())
    return column


def _empty_as_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


# ---------------------------------------------------------------------------------------------- detection
def _detect_quote(sample: str) -> str:
    """``'`` only when the sniffer finds it and it opens fields; otherwise ``"``."""
    try:
        quote = csv.Sniffer().sniff(sample[:65536], delimiters=",\t;|").quotechar
    except csv.Error:
        return '"'
    if quote == "'" and '"' not in sample[:65536]:
        return "'"
    return '"'


def _choose_delimiter(sample: str, whole: bool, suffix: str, quote: str = '"') -> str:
    """The delimiter that splits the header and the sampled rows into the same number (>1) of fields.

    The file type's usual delimiter is tried first, then the one ``csv.Sniffer`` guesses, then the rest;
    a file that no delimiter splits consistently is read with the type's usual one.
    """
    default = "\t" if suffix == ".tsv" else ","
    candidates = [default]
    try:
        candidates.append(csv.Sniffer().sniff(sample[:65536], delimiters=",\t;|").delimiter)
    except csv.Error:
        pass
    candidates += [",", "\t", ";", "|"]
    for delimiter in dict.fromkeys(candidates):
        rows = _csv_rows(sample, delimiter, 200, quote)
        if not whole and len(rows) > 1:
            rows = rows[:-1]  # the last sampled record may be cut short
        if rows and len(rows[0]) > 1 and all(len(r) == len(rows[0]) for r in rows):
            return delimiter
    if suffix == ".txt":
        return "\t" if "\t" in sample.splitlines()[0] else ","
    return default


def _detect_header(sample: str, delimiter: str, quote: str) -> tuple[bool, ImportNotice | None]:
    """Whether the first row holds column names, and a notice when the guess is not obvious.

    A first-row cell whose kind (number or text) differs from the cells below it is a name: the row is a
    header (``id,2024`` over ``1,hello``). Without such a cell, a first row without numbers is a header,
    and one whose numbers sit over numbers (``1,alpha`` over ``2,beta``) is data, which the user is told, so
    that a header such as ``year,2023`` over numbers can be switched back.
    """
    import re

    rows = _csv_rows(sample, delimiter, 51, quote)
    if len(rows) < 2:
        return True, None
    first, rest = rows[0], rows[1:]
    is_number = lambda cell: bool(re.match(_NUMBER_PATTERN, cell.strip()))  # noqa: E731
    header_votes = data_votes = 0
    for j, cell in enumerate(first):
        below = [r[j] for r in rest if j < len(r) and r[j].strip()]
        if not cell.strip() or not below:
            continue
        numeric_below = all(is_number(v) for v in below)
        textual_below = not any(is_number(v) for v in below)
        if is_number(cell):
            header_votes += textual_below
            data_votes += numeric_below
        elif numeric_below:
            header_votes += 1
    numbers = [c.strip() for c in first if is_number(c)]
    shown = ", ".join(c.strip() for c in first[:6]) + (", ..." if len(first) > 6 else "")
    if header_votes:
        return True, None
    if data_votes:
        return False, ImportNotice("header", (
            f"The first row ({shown}) has numbers where the rows below have numbers too, so it was read as data "
            "and the columns are named column_1, column_2, ...; if it holds the column names, tick \"The first "
            "row holds the column names\" (--header on the command line)."), {"has_header": True})
    return True, None


def _csv_rows(text: str, delimiter: str, limit: int, quote: str = '"') -> list[list[str]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote,
                              doublequote=True):
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows or [[]]


# ---------------------------------------------------------------------------------------------- errors
def _is_decode_error(exc: Exception) -> bool:
    text = str(exc)
    return "invalid UTF8" in text or "UnicodeDecodeError" in text or "codec can't decode" in text


def _delimited_error(path: Path, dialect: CsvDialect, exc: Exception) -> DataImportError:
    """Turn a pyarrow parse failure into a message that names the line (found again with the csv module)."""
    message = str(exc)
    if _is_decode_error(exc):
        line = first_bad_line(path, dialect.encoding)
        where = f", line {line}" if line else ""
        return DataImportError(
            f'"{path.name}"{where} contains bytes that are not valid {dialect.encoding} text. Choose the '
            "file's real encoding in the import options (often cp1252 or latin-1 for files saved on Windows), "
            "or save it again as UTF-8 (in Excel: CSV UTF-8) and import again.",
            path, f"line {line}" if line else None)
    if "straddl" in message:
        return DataImportError(
            f'"{path.name}" has a cell larger than {_BLOCK_BYTES // (1024 * 1024)} MB, more than any prompt can '
            'use. Usually a quote (") opens and is never closed, so the rest of the file became one cell: '
            "look for a stray quote, or choose another quote character in the import options, then import "
            "again.", path)
    expected = found = line = None
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, encoding=dialect.encoding, errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=dialect.delimiter, quotechar=dialect.quote_char, doublequote=True)
            previous_end = 0
            for row in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    found, line = len(row), start
                    break
    except csv.Error:
        pass
    name = DELIMITER_NAMES.get(dialect.delimiter, repr(dialect.delimiter))
    if line is not None:
        return DataImportError(
            f'"{path.name}", line {line}: expected {expected} values like the first row, but found {found}. '
            f"The columns are separated by a {name}: check that line for a missing or extra {name}, or for a "
            f"quote ({dialect.quote_char}) that is not closed, fix it and import again. If the separator is "
            "wrong, choose another delimiter in the import options.",
            path, f"line {line}")
    return DataImportError(
        f'"{path.name}" could not be read as a table separated by a {name}: {short(exc)}. '
        f"Check for an unclosed quote ({dialect.quote_char}) or rows with a different number of values, fix it "
        "and import again.", path)
