"""A folder of ``.txt``/``.md`` files: one document per file, for continued pre-training."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from desktop_ift.core.data.import_common import DataImportError, binary_error, detect_encoding, read_decoded

TEXT_FILE_SUFFIXES = (".txt", ".md", ".markdown")


def text_files(folder: Path) -> list[Path]:
    """The text files under ``folder`` (sub-folders included, hidden ones skipped), in name order."""
    out = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in TEXT_FILE_SUFFIXES:
            out.append(path)
    return out


def read_text_folder(folder: Path, options=None) -> pa.Table:
    """A table with columns ``file`` (the path inside the folder) and ``text`` (the whole file); empty
    files are skipped. Raises :class:`DataImportError` naming the folder if it holds no text."""
    files = text_files(folder)
    if not files:
        raise DataImportError(
            f'The folder "{folder.name}" holds no .txt or .md files. Choose a folder of text documents (one '
            "document per file), or a table file.", folder)
    names, texts = [], []
    for path in files:
        if path.stat().st_size == 0:
            continue
        try:
            encoding = detect_encoding(path)
        except DataImportError:
            raise binary_error(path) from None
        decoded = read_decoded(path, encoding)  # BOM removed; undecodable bytes counted, never dropped
        if decoded.replaced_count:
            message = decoded.notices(path.relative_to(folder).as_posix())[0][1]
            raise DataImportError(message + " Nothing was imported.", path, f"line {decoded.replaced_lines[0]}")
        text = decoded.text
        if not text.strip():
            continue
        names.append(path.relative_to(folder).as_posix())
        texts.append(text)
    if not texts:
        raise DataImportError(
            f'The text files in "{folder.name}" are all empty. Choose a folder whose files hold text.', folder)
    return pa.table({"file": pa.array(names, pa.string()), "text": pa.array(texts, pa.string())})
