"""Multiple-choice benchmark files in the MMLU layout: reading, checking, and the built-in general set.

A question has ``question``, four choices ``A``-``D``, the ``answer`` letter and a ``subject``. Accepted
files (CSV or JSONL):

* with a header row / keys: ``question, A, B, C, D, answer`` (names case-insensitive), optionally
  ``subject``; without a ``subject`` column the file name is the subject (``anatomy_test.csv`` ->
  ``anatomy``: a trailing ``_test``/``_val``/``_dev`` is dropped);
* the original MMLU CSV files, which have no header row: exactly six columns in that order.

Files named ``<subject>_dev.*`` are few-shot examples for that subject, not questions to score.
Everything here is plain Python (the GUI checks a file before a job is written); a file in another
layout raises :class:`BenchmarkFormatError` naming the file and the missing columns.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from desktop_ift.core.errors import DataError
from desktop_ift.core.paths import resources_dir

LETTERS = ("A", "B", "C", "D")
REQUIRED = ("question", "A", "B", "C", "D", "answer")
BUILTIN_GENERAL = "general"
_SPLIT_SUFFIX = re.compile(r"_(test|val|validation|dev)$", re.IGNORECASE)


class BenchmarkFormatError(DataError):
    """A benchmark file that is not in the MMLU layout; the message names the file and what is missing."""

    default_hint = ("A benchmark file needs the columns question, A, B, C, D, answer (a letter A-D) and "
                    "optionally subject; CSV or JSONL.")


@dataclass
class Question:
    """One multiple-choice question."""

    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # "A".."D"
    source: str = ""
    row: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def builtin_path(name: str = BUILTIN_GENERAL) -> Path:
    """The file of a built-in set (``general``: 40 general-knowledge questions written for this app)."""
    if name != BUILTIN_GENERAL:
        raise BenchmarkFormatError(f"There is no built-in benchmark called {name!r} (only {BUILTIN_GENERAL!r}).")
    return resources_dir() / "benchmarks" / "general_knowledge.jsonl"


def subject_from_filename(path: Path) -> str:
    """``high_school_physics_test.csv`` -> ``high school physics``."""
    return _SPLIT_SUFFIX.sub("", path.stem).replace("_", " ").strip() or path.stem


def is_dev_file(path: Path) -> bool:
    """Whether ``path`` holds few-shot examples (``*_dev.csv``) rather than questions to score."""
    return path.stem.lower().endswith("_dev")


def _records(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        out = []
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise BenchmarkFormatError(f"{path.name}, line {n}, is not valid JSON ({exc}).") from exc
            if not isinstance(value, dict):
                raise BenchmarkFormatError(f"{path.name}, line {n}, is not a JSON object with named fields.")
            out.append(value)
        return out
    if suffix == ".json":
        value = json.loads(path.read_text(encoding="utf-8-sig"))
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise BenchmarkFormatError(f"{path.name} must hold a list of question objects.")
        return value
    if suffix in (".csv", ".tsv", ".txt"):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = [r for r in csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ",") if any(c.strip() for c in r)]
        if not rows:
            return []
        header = [h.strip() for h in rows[0]]
        lowered = {h.lower() for h in header}
        if "question" in lowered or "answer" in lowered:
            return [dict(zip(header, r)) for r in rows[1:]]
        if all(len(r) == 6 for r in rows):  # the original MMLU files: no header row
            return [dict(zip(REQUIRED, r)) for r in rows]
        return [dict(zip(header, r)) for r in rows[1:]]
    raise BenchmarkFormatError(f"{path.name}: benchmark files must be CSV, TSV or JSONL (got {suffix or 'no extension'}).")


def _column_map(keys: list[str]) -> dict[str, str]:
    by_lower = {str(k).strip().lower(): k for k in keys}
    return {name: by_lower[name.lower()] for name in (*REQUIRED, "subject") if name.lower() in by_lower}


def read_questions(path: Path | str) -> list[Question]:
    """Read one benchmark file; raises :class:`BenchmarkFormatError` for a file in another layout."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkFormatError(f"The benchmark file {path} does not exist.")
    try:
        records = _records(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, BenchmarkFormatError):
            raise
        raise BenchmarkFormatError(f"{path.name} cannot be read ({exc}).") from exc
    if not records:
        raise BenchmarkFormatError(f"{path.name} holds no questions.")
    columns = _column_map(list(records[0]))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        found = ", ".join(str(k) for k in records[0]) or "none"
        raise BenchmarkFormatError(
            f"{path.name} is not in the multiple-choice layout: it has no {', '.join(missing)} column"
            f"{'s' if len(missing) > 1 else ''} (its columns: {found})."
        )
    default_subject = subject_from_filename(path)
    out = []
    for n, rec in enumerate(records, 1):
        answer = str(rec.get(columns["answer"], "")).strip().upper().rstrip(".)")
        if answer.isdigit() and 0 <= int(answer) < 4:  # some exports store the index 0-3
            answer = LETTERS[int(answer)]
        if answer not in LETTERS:
            raise BenchmarkFormatError(
                f"{path.name}, question {n}: the answer {rec.get(columns['answer'])!r} is not one of A, B, C, D."
            )
        question = str(rec.get(columns["question"], "")).strip()
        if not question:
            raise BenchmarkFormatError(f"{path.name}, question {n}, has an empty question.")
        subject = str(rec.get(columns["subject"], "") or "").strip() if "subject" in columns else ""
        out.append(Question(
            subject=subject or default_subject,
            question=question,
            choices=tuple(str(rec.get(columns[c], "")).strip() for c in LETTERS),  # type: ignore[arg-type]
            answer=answer,
            source=path.name,
            row=n,
        ))
    return out


def load_benchmark(files: list[str | Path]) -> tuple[list[Question], list[Question]]:
    """``(questions, shots)`` from benchmark files; ``*_dev`` files give the few-shot examples.

    Raises :class:`BenchmarkFormatError` when no file is given, or a file is unusable.
    """
    if not files:
        raise BenchmarkFormatError("Choose at least one benchmark file (or the built-in general set).")
    questions: list[Question] = []
    shots: list[Question] = []
    for f in files:
        path = Path(f)
        (shots if is_dev_file(path) else questions).extend(read_questions(path))
    if not questions:
        raise BenchmarkFormatError("Every file given holds few-shot examples (*_dev); add the questions to score.")
    return questions, shots
