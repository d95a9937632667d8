"""Generators and oracles shared by the Hypothesis fuzz tests and ``benchmarks/reliability_report.py``.

Each ``check_*`` function imports or renders one generated case and returns its outcome: ``"correct"`` (the
values came back unchanged), ``"clear"`` (a plain error, or a notice that says what changed and where),
``"silent_wrong"`` (a value changed with nothing said) or ``"crash"`` (any other exception: a traceback).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

from hypothesis import strategies as st

CELL_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r"),
                    max_size=12)
CELL = st.one_of(CELL_TEXT, st.sampled_from(["", "0", "12", "-3", "1.5", "abc", "a,b", 'say "hi"', "line\nbreak",
                                             "café", "Zoë", "你好", "€5", " padded ", "true", "1e5", "007", "tab\there"]))
HEADER = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ ", min_size=1, max_size=8).map(lambda s: "c" + s.strip())


@st.composite
def csv_tables(draw):
    width = draw(st.integers(2, 4))
    names = draw(st.lists(HEADER, min_size=width, max_size=width, unique_by=lambda s: s.strip()))
    rows = draw(st.lists(st.lists(CELL, min_size=width, max_size=width), min_size=1, max_size=6))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    delimiter = draw(st.sampled_from([",", ",", ";", "\t"]))
    return names, rows, encoding, delimiter


JSON_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                       st.floats(allow_nan=False, allow_infinity=False), CELL_TEXT)


@st.composite
def json_records(draw):
    keys = draw(st.lists(HEADER, min_size=1, max_size=3, unique_by=lambda s: s.strip()))
    records = draw(st.lists(st.fixed_dictionaries({k: JSON_VALUE for k in keys}), min_size=1, max_size=6))
    return records, draw(st.sampled_from([".json", ".jsonl"]))


def _outcome(fn) -> tuple[str, str]:
    from desktop_ift.core.data.importers import DataImportError
    from desktop_ift.core.store import StoreError
    from desktop_ift.core.templates.render import TemplateError

    try:
        return fn()
    except (DataImportError, TemplateError, StoreError, ValueError) as exc:
        return "clear", str(exc)[:200]
    except Exception as exc:  # noqa: BLE001 - the very thing being counted
        return "crash", f"{type(exc).__name__}: {exc}"[:300]


def check_csv(case, folder: Path) -> tuple[str, str]:
    """Write the generated table as a delimited file and import it."""
    names, rows, encoding, delimiter = case
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows([names, *rows])
    text = buffer.getvalue()
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        return "correct", "not representable in that encoding (skipped)"
    path = folder / "fuzz.csv"
    path.write_bytes(raw)

    def run():
        from desktop_ift.core.data.importers import read_table

        notices: list = []
        table = read_table(path, notices=notices)
        expected_names = [n.strip() for n in names]
        got = [[_cell_text(v) for v in row.values()] for row in table.to_pylist()]
        if table.column_names == expected_names and got == [[c for c in r] for r in rows]:
            return "correct", ""
        if notices:
            return "clear", "; ".join(str(n)[:80] for n in notices)
        return "silent_wrong", f"expected {[expected_names] + rows!r}, got {[table.column_names] + got!r}"[:400]

    return _outcome(run)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def check_json(case, folder: Path) -> tuple[str, str]:
    records, suffix = case
    path = folder / f"fuzz{suffix}"
    text = json.dumps(records) if suffix == ".json" else "\n".join(json.dumps(r) for r in records)
    path.write_text(text, encoding="utf-8")

    def run():
        from desktop_ift.core.data.import_common import to_text
        from desktop_ift.core.data.importers import read_table

        notices: list = []
        table = read_table(path, notices=notices)
        typed_notice = {str(n).split('"')[1] for n in notices if n.kind == "types"}
        for name in table.column_names:
            got = table.column(name).to_pylist()
            want = [r.get(name) for r in records]
            for g, w in zip(got, want):
                if w is None:
                    if g is not None:
                        return "silent_wrong", f"{name}: null became {g!r}"
                elif isinstance(g, str) and not isinstance(w, str):
                    if g != to_text(w):
                        return "silent_wrong", f"{name}: {w!r} became {g!r}"
                    if name not in typed_notice and len({type(v) for v in want if v is not None}) > 1:
                        return "silent_wrong", f"{name}: kept as text without a notice"
                elif isinstance(w, bool) != isinstance(g, bool):
                    return "silent_wrong", f"{name}: {w!r} became {g!r}"
                elif isinstance(w, (int, float)) and not isinstance(w, bool):
                    if not isinstance(g, (int, float)) or (g != w and not math.isclose(g, w, rel_tol=0, abs_tol=0)):
                        return "silent_wrong", f"{name}: {w!r} became {g!r}"
                elif g != w:
                    return "silent_wrong", f"{name}: {w!r} became {g!r}"
        return "correct", ""

    return _outcome(run)


# ------------------------------------------------------------------------------------------ templates
_PIECES = [
    "plain text ", "{{ q }}", "{{ a | upper }}", "{{ q ~ a }}", "{{ row['q'] }}", "{% if q %}yes{% endif %}",
    "{% for c in q %}{{ c }}{% endfor %}", "{{ q | center(N) }}", "{{ '%Nd' % 1 }}", "{{ '{:>N}'.format(1) }}",
    "{{ 'x' * N }}", "{{ N ** N }}", "{{ q | indent(N) }}", "{{ [q] * N | join(',') }}", "{{ q | truncate(N) }}",
    "{% for i in 'x' * N %}{% for j in 'x' * N %}{{ j }}{% endfor %}{% endfor %}", "{{ q | wordwrap(N) }}",
    "{{ (q * N) | replace('a', 'bb') }}", "{{ q[N] }}", "{{ q.ljust(N) }}", "{{ q | batch(N) | list }}",
]
NUMBERS = st.sampled_from([0, 1, 3, 10, 999, 10**5, 10**6, 2 * 10**9, -5])


@st.composite
def templates(draw):
    pieces = draw(st.lists(st.tuples(st.sampled_from(_PIECES), NUMBERS), min_size=1, max_size=4))
    return "".join(p.replace("N", str(n)) for p, n in pieces)


def check_template(source: str, row: dict | None = None) -> tuple[str, str]:
    from desktop_ift.core.templates.render import PromptTemplate, render_row

    row = row or {"q": "question", "a": "answer"}

    def run():
        started = time.monotonic()
        render_row(PromptTemplate(prompt=source, response="{{ a }}"), row)
        if time.monotonic() - started > 10:
            return "hang", source
        return "correct", ""

    return _outcome(run)
