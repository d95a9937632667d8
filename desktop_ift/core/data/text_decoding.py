"""Turning a text file's bytes into text without losing a character in silence.

* A UTF-8 byte-order mark is removed whatever encoding is used (it would otherwise end up in the first
  column name as ``ï»¿``).
* The encoding is detected: BOMs, UTF-16, strict UTF-8, then ``charset-normalizer`` for legacy encodings
  (GB18030, Shift-JIS, KOI8-R, CP-1252 ...), with a word-shape check that prefers CP-1252 for short
  Western samples, where statistical detection is unreliable.
* A file that is mostly UTF-8 with a few CP-1252 bytes (a CSV edited in two programs) keeps its UTF-8 text,
  and only the bytes that are not UTF-8 are read as CP-1252, each place counted.
* Bytes no encoding can read become U+FFFD and are counted with their first line, and an encoding that
  reads the whole file cleanly is proposed.

:func:`decode_bytes` returns a :class:`DecodedText` whose :meth:`~DecodedText.notices` say all of this in
plain words.
"""

from __future__ import annotations

import codecs
import re
import threading
import unicodedata
from dataclasses import dataclass, field

_LOCAL = threading.local()
_HANDLER = "desktop_ift_counted"
_SINGLE_BYTE_PREFERRED = tuple(codecs.lookup(n).name for n in ("cp1252", "cp1250", "cp1251", "koi8_r",
                                                                 "iso8859_15", "latin_1"))
_MULTI_BYTE = {codecs.lookup(n).name for n in {"gb18030", "gbk", "gb2312", "big5", "big5hkscs", "cp932", "shift_jis", "euc_jp", "euc_kr",
               "cp949", "iso2022_jp", "utf-16", "utf_32", "hz", "cp950", "johab", "euc_jis_2004",
               "shift_jis_2004", "shift_jisx0213"}}


@dataclass
class DecodedText:
    """A file's text and what happened while decoding it."""

    text: str
    encoding: str  # the codec the text was read with (Python's name)
    bom_removed: bool = False
    detected: bool = True  # False when the user chose the encoding
    fallback: str | None = None  # the codec used for the bytes that were not ``encoding`` (mixed files)
    fallback_lines: list[int] = field(default_factory=list)  # 1-based lines holding such bytes
    fallback_count: int = 0
    replaced_lines: list[int] = field(default_factory=list)  # lines holding undecodable bytes (now U+FFFD)
    replaced_count: int = 0
    clean_encoding: str | None = None  # an encoding that reads every byte, proposed when some were replaced
    bom_mismatch: bool = False  # a UTF-8 BOM on a file whose text is not UTF-8

    @property
    def lossless(self) -> bool:
        return self.replaced_count == 0

    def notices(self, name: str) -> list[tuple[str, str]]:
        """``[(kind, message), ...]`` for the user, in plain words (empty when nothing needs saying)."""
        out = []
        if self.replaced_count:
            proposal = (f" The whole file reads cleanly as {self.clean_encoding}: choose that encoding."
                        if self.clean_encoding else
                        " No common encoding reads every byte: the file may be damaged; export it again as UTF-8.")
            out.append(("decode", f'"{name}": {self.replaced_count:,} character(s) on {len(self.replaced_lines):,} '
                        f"line(s) are not valid {self.encoding} text and would become � (first: line "
                        f"{self.replaced_lines[0]}).{proposal}"))
        if self.fallback_count:
            out.append(("mixed_encoding", f'"{name}" is UTF-8 except {self.fallback_count:,} byte(s) on '
                        f"{len(self.fallback_lines):,} line(s) (first: line {self.fallback_lines[0]}), which "
                        f"were read as {self.fallback}: the file was probably edited in two programs. Check "
                        "those rows in the preview."))
        if self.bom_mismatch:
            out.append(("encoding", f'"{name}" starts with a UTF-8 byte-order mark, but its text is '
                        f"{self.encoding}: it was read as {self.encoding} and the mark removed."))
        elif self.detected and self.encoding not in ("utf-8", "ascii") and not self.encoding.startswith("utf-16"):
            out.append(("encoding", f'"{name}" is not UTF-8: it was read as {self.encoding} (detected). If '
                        "letters look wrong in the preview, choose the file's real encoding."))
        return out


def normal_name(encoding: str) -> str:
    """Python's canonical codec name (``UTF8`` -> ``utf-8``, ``latin_1`` -> ``iso8859-1``)."""
    return codecs.lookup(encoding).name


def decode_bytes(raw: bytes, encoding: str | None = None) -> DecodedText:
    """Decode ``raw`` with ``encoding`` (None: detect it), never dropping a byte without counting it."""
    bom = raw.startswith(codecs.BOM_UTF8)
    if bom:
        raw = raw[len(codecs.BOM_UTF8):]
    chosen = encoding is not None
    if chosen:
        encoding = normal_name(encoding)
        if encoding == "utf-8-sig":
            encoding = "utf-8"
    fallback = None
    if not chosen:
        encoding, fallback = guess_encoding(raw)
    result = DecodedText("", encoding, bom_removed=bom, detected=not chosen)
    result.bom_mismatch = bom and encoding != "utf-8"
    try:
        result.text = raw.decode(encoding)
        return result
    except UnicodeDecodeError:
        pass
    if encoding == "utf-8" and fallback is None and _mostly_utf8(raw):
        fallback = _best_single_byte(_non_utf8_bytes(raw)) or "cp1252"  # mixed: keep the UTF-8 text
    state = _State(raw, fallback)
    _LOCAL.state = state
    try:
        result.text = raw.decode(encoding, errors=_HANDLER)
    finally:
        _LOCAL.state = None
    result.fallback = fallback if state.fallback_offsets else None
    result.fallback_count = len(state.fallback_offsets)
    result.fallback_lines = _lines(raw, state.fallback_offsets)
    result.replaced_count = len(state.replaced_offsets)
    result.replaced_lines = _lines(raw, state.replaced_offsets)
    if result.replaced_count:
        result.clean_encoding = clean_encoding(raw, exclude=encoding)
    return result


def guess_encoding(raw: bytes) -> tuple[str, str | None]:
    """``(encoding, fallback)`` for ``raw`` (without a UTF-8 BOM); ``fallback`` is set for mixed UTF-8 files."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    try:
        raw.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(raw):
        return "utf-8", _best_single_byte(_non_utf8_bytes(raw)) or "cp1252"
    return _best_encoding(raw), None


def clean_encoding(raw: bytes, exclude: str | None = None) -> str | None:
    """An encoding that decodes every byte of ``raw`` (the detector's choice first), or None."""
    best = _best_encoding(raw)
    for candidate in (best, "utf-8", "cp1252", "gb18030", "cp932", "koi8-r"):
        if candidate == exclude:
            continue
        try:
            raw.decode(candidate)
            return candidate
        except UnicodeDecodeError:
            continue
    return None


# ------------------------------------------------------------------------------------------------ internals
class _State:
    def __init__(self, raw: bytes, fallback: str | None):
        self.raw = raw
        self.fallback = fallback
        self.fallback_offsets: list[int] = []
        self.replaced_offsets: list[int] = []


def _counted(exc: UnicodeError) -> tuple[str, int]:
    state: _State | None = getattr(_LOCAL, "state", None)
    if not isinstance(exc, UnicodeDecodeError) or state is None:
        raise exc
    bad = exc.object[exc.start:exc.end]
    if state.fallback:
        try:
            text = bytes(bad).decode(state.fallback)
            state.fallback_offsets.extend(range(exc.start, exc.end))
            return text, exc.end
        except UnicodeDecodeError:
            pass
    state.replaced_offsets.append(exc.start)
    return "\ufffd", exc.end


codecs.register_error(_HANDLER, _counted)


def _lines(raw: bytes, offsets: list[int]) -> list[int]:
    """The distinct 1-based line numbers of byte ``offsets`` (sorted)."""
    lines, line, position = [], 1, 0
    for offset in sorted(set(offsets)):
        line += raw.count(b"\n", position, offset)
        position = offset
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def _mostly_utf8(raw: bytes) -> bool:
    """True when ``raw`` holds real UTF-8 multi-byte characters and the invalid bytes are few."""
    text = raw.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return good >= 1 and good >= bad


def _non_utf8_bytes(raw: bytes) -> bytes:
    """The lines of ``raw`` that are not valid UTF-8 (what a fallback encoding must read)."""
    out = []
    for line in raw.split(b"\n"):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            out.append(line)
    return b"\n".join(out)


def _best_encoding(raw: bytes) -> str:
    """The likeliest legacy encoding of ``raw``: of charset-normalizer's candidates and the common code pages
    (CP-1252/1250/1251, KOI8-R, GB18030, Shift-JIS, EUC-KR, Big5), the one whose decoding gives the most
    natural words (:func:`_word_score`); CP-1252, then the detector's order, on ties. Statistical detection
    alone misreads short files (KOI8-R as Shift-JIS, GB18030 as Korean)."""
    try:
        from charset_normalizer import from_bytes

        matches = list(from_bytes(raw[: 1 << 20]))
    except Exception:  # noqa: BLE001 - the detector is an aid, never a reason to fail
        matches = []
    names = []
    for match in matches:
        try:
            names.append(normal_name(match.encoding))
        except LookupError:
            continue
    return _best_single_byte(raw, names, multi_byte=True) or "iso8859-1"


_COMMON = tuple(codecs.lookup(n).name for n in ("cp1252", "cp1250", "cp1251", "koi8_r", "gb18030", "cp932",
                                                  "cp949", "big5", "iso8859_15", "latin_1"))


def _best_single_byte(raw: bytes, ranked: list[str] | None = None, multi_byte: bool = False) -> str | None:
    """The candidate encoding whose decoding of ``raw`` scores best (see :func:`_best_encoding`)."""
    candidates = list(dict.fromkeys([_SINGLE_BYTE_PREFERRED[0], *(ranked or []), *_COMMON]))
    best, best_score = None, -1.0
    for name in candidates:
        if name in _MULTI_BYTE and not multi_byte:
            continue
        try:
            text = raw.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        score = _word_score(text)
        if score > best_score + 1e-9:
            best, best_score = name, score
    return best


_JAPANESE = {"CJK", "HIRAGANA", "KATAKANA"}


def _word_score(text: str) -> float:
    """The share of non-ASCII characters (punctuation, spaces and currency signs aside) that sit in words that look like words: only
    letters, one script (Japanese may mix kanji and kana), one case shape (lower, Title or UPPER), no
    half-width katakana or rare supplementary characters, and, for Latin script, some plain ASCII letters
    (a Latin word made only of accented letters, like ``ìèð``, is another script read with the wrong code
    page). Symbols, box drawings and control characters count against it."""
    sample = text[: 1 << 18]
    total = sum(1 for ch in sample if ord(ch) > 0x7F and unicodedata.category(ch)[0] not in "PZ"
                and unicodedata.category(ch) != "Sc")  # punctuation, spaces and currency are neutral
    if not total:
        return 1.0  # only punctuation, spaces and currency signs: nothing looks wrong
    good = 0
    for word in _WORDS.split(sample):
        if not word or word.isascii():
            continue
        if any(ord(ch) > 0xFFFF for ch in word):
            continue
        scripts = {unicodedata.name(ch, "?").split(" ")[0] for ch in word}
        if "HALFWIDTH" in scripts or "?" in scripts:
            continue
        if len(scripts) != 1 and not scripts <= _JAPANESE:
            continue
        cased = any(ch.islower() or ch.isupper() for ch in word)
        if cased and not (word.islower() or word.istitle() or word.isupper()):
            continue
        if scripts == {"LATIN"} and len(word) >= 3 and not any(ch.isascii() for ch in word):
            continue
        good += sum(1 for ch in word if ord(ch) > 0x7F)
    return good / total


_WORDS = re.compile(r"[\W\d_]+")
