"""The fault matrix of issue #15: hostile templates, hostile import files, damaged/moved/full workspaces,
names, OOM, plus seeded fuzz of the importers and the renderer. Each case is classified:

* ``correct``: the data came back unchanged (notices allowed) or the system did the right thing;
* ``clear``: it stopped, or went on, with a plain message that says what and where;
* ``silent_wrong``: a value changed with nothing said;
* ``crash``: a traceback (an exception that is not a user-facing error, or a dead process);
* ``hang``: no answer within 10 s.

Every matrix case runs in its own forked process with a 10 s limit. Usage::

    python benchmarks/reliability_report.py [--fuzz N]

The last line printed is JSON: ``{"crash": 0, "hang": 0, "clear": ..., "correct": ..., "silent_wrong": 0, ...}``.
"""

from __future__ import annotations

import argparse
import codecs
import json
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reliability"))  # the fuzz generators and oracles live with the tests

TIMEOUT_S = 10.0


# ---------------------------------------------------------------------------------------------- cases
def _user_errors():
    from desktop_ift.core.data.importers import DataImportError
    from desktop_ift.core.store import StoreError
    from desktop_ift.core.templates.render import TemplateError

    return (DataImportError, TemplateError, StoreError, ValueError)


HOSTILE_TEMPLATES = [
    "{% set a = 'x' * 1000000 %}{% for i in a %}{% for j in a %}{{ j }}{% endfor %}{% endfor %}",
    "{% set a = 'x' * 1000000 %}{% for i in a %}{% for j in a %}{% endfor %}{% endfor %}",
    "{{ ((9**999)**999)**999 }}", "{{ 'x'|center(2000000000) }}", "{{ '%2000000000d' % 1 }}",
    "{{ '{:>2000000000}'.format(1) }}", "{{ '{:>{}}'.format(1, 2000000000) }}", "{{ '%*d' % (2000000000, 1) }}",
    "{{ 'x'.ljust(2000000000) }}", "{{ ('x' * 1000000)|list|join('x' * 1000000) }}",
    "{{ ['x' * 1000000] * 1000000 }}", "{% set a = 'x' * 1000000 %}{% set a = a~a~a~a~a~a~a~a~a~a~a %}{{ a }}",
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "{{ 'x'|indent(2000000000) }}",
    "{{ [1]|tojson(indent=2000000000) }}", "{{ ('x' * 1000000)|wordwrap(1)|length }}",
    "{% for i in ('x' * 1000000) %}{{ 'y' * 100000 }}{% endfor %}", "{{ ('%s' * 3000000) % ((1,) * 3000000) }}",
]


def template_case(source: str):
    def run(folder: Path):
        from desktop_ift.core.templates.render import PromptTemplate, TemplateError, render_row

        try:
            render_row(PromptTemplate(prompt=source, response="{{ a }}"), {"a": "x"})
        except TemplateError as exc:
            return "clear", str(exc)[:120]
        return "silent_wrong", "a hostile template rendered without a limit"
    return run


def import_case(make, expected=None, options=None):
    """``make(folder) -> path``; ``expected`` rows (list of dicts) for a correct import, None: must refuse."""
    def run(folder: Path):
        from desktop_ift.core.data.importers import ImportOptions, read_table

        path = make(folder)
        notices: list = []
        try:
            table = read_table(path, ImportOptions(**(options or {})), notices)
        except _user_errors() as exc:
            return ("clear" if expected is None else "clear"), str(exc)[:120]
        rows = table.to_pylist()
        if expected is not None and rows == expected:
            return "correct", "; ".join(str(n)[:60] for n in notices)
        if notices:
            return "clear", "; ".join(str(n)[:100] for n in notices)
        return "silent_wrong", f"got {rows!r}"[:200]
    return run


def _file(name: str, data: bytes | str):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path
    return make


def _link(target: str):
    def make(folder: Path) -> Path:
        path = folder / "data.csv"
        path.symlink_to(target)
        return path
    return make


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.csv"
    os.mkfifo(path)
    return path


def _xlsx_formula(folder: Path) -> Path:
    import openpyxl

    path = folder / "f.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["q", "n"])
    wb.active.append(["one", 1])
    wb.active.append(["two", "=B2+1"])
    wb.save(path)
    return path


def workspace_case(kind: str):
    def run(folder: Path):
        from desktop_ift.core.store import Store

        home = folder / "ws"
        if kind == "zero":
            home.mkdir()
            (home / "workspace.db").write_bytes(b"")
        elif kind in ("damaged", "moved", "full"):
            with Store.open(home) as store:
                project = store.create_project("P")
                store.create_run("train", {}, project.id)
            if kind == "damaged":
                db = home / "workspace.db"
                raw = bytearray(db.read_bytes())
                for i in range(4096 * 2, min(len(raw), 4096 * 5)):
                    raw[i] = (raw[i] * 7 + 13) % 256
                db.write_bytes(bytes(raw))
            elif kind == "moved":
                moved = folder / "moved"
                shutil.move(str(home), moved)
                with Store.open(moved) as store:
                    run_dir = Path(store.list_runs()[0].run_dir)
                return ("correct", str(run_dir)) if run_dir.is_dir() and str(moved) in str(run_dir) else (
                    "silent_wrong", f"run folder lost: {run_dir}")
            elif kind == "full":
                store = Store.open(home)
                pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
                store.conn.execute(f"PRAGMA max_page_count={pages}")
                try:
                    for i in range(5000):
                        store.create_project(f"p{i} " + "x" * 150)
                finally:
                    store.close()
                return "silent_wrong", "the database never filled"
        from desktop_ift.core import store as store_module

        store_module._CHECKED.clear()  # as at the next start of the app: a new process checks again
        try:
            Store.open(home).close()
        except _user_errors() as exc:
            return "clear", str(exc)[:120]
        return "silent_wrong", "opened a damaged workspace without a word"
    return run


def names_case(name: str, same_as: str | None):
    def run(folder: Path):
        from desktop_ift.core.store import Store

        with Store.open(folder / "ws") as store:
            store.create_project("p1")
            try:
                found = store.find_project(name)
                created = found or store.create_project(name)
            except _user_errors() as exc:
                return "clear", str(exc)[:120]
            if same_as is not None:
                return ("correct", "") if created.name == same_as else ("silent_wrong", created.name)
            return "silent_wrong", f"accepted {name!r}"
    return run


def oom_case(folder: Path):
    import subprocess

    from desktop_ift.core.training import memory

    folders = memory.own_cgroup_folders()
    if not folders:
        return "correct", "no cgroup (skipped)"
    version, own = folders[0]
    child = own / f"report-{os.getpid()}"
    try:
        child.mkdir()
        (child / ("memory.max" if version == 2 else "memory.limit_in_bytes")).write_text(str(64 * 2**20))
        if version == 1 and (child / "memory.memsw.limit_in_bytes").exists():
            (child / "memory.memsw.limit_in_bytes").write_text(str(64 * 2**20))
    except OSError:
        return "correct", "no writable cgroup (skipped)"
    try:
        before = memory.oom_kill_count(child)
        code = ("import os,sys; open(sys.argv[1] + '/cgroup.procs','w').write(str(os.getpid())); "
                "x = [bytearray(16 * 2**20) for _ in range(64)]")
        done = subprocess.run([sys.executable, "-c", code, str(child)], capture_output=True, timeout=8)
        ok = memory.was_oom_killed(done.returncode, before, folder=child)
        return ("correct", "OOM kill recognised") if ok else ("silent_wrong", f"exit {done.returncode} not seen as OOM")
    finally:
        try:
            child.rmdir()
        except OSError:
            pass


def matrix() -> list[tuple[str, object]]:
    cases: list[tuple[str, object]] = []
    for i, source in enumerate(HOSTILE_TEMPLATES):
        cases.append((f"template {i + 1}: {source[:40]}", template_case(source)))
    bom = codecs.BOM_UTF8 + "name,city\nJosé,Málaga\n".encode("cp1252")
    cases += [
        ("import BOM + cp1252", import_case(_file("b.csv", bom), [{"name": "José", "city": "Málaga"}])),
        ("import BOM + cp1252 read as utf-8-sig", import_case(_file("b.csv", bom), None, {"encoding": "utf-8-sig"})),
        ("import BOM + cp1252 read as cp1252", import_case(_file("b.csv", bom), [{"name": "José", "city": "Málaga"}],
                                                           {"encoding": "cp1252"})),
        ("import mixed UTF-8/CP-1252", import_case(_file("m.csv", "w,n\ncafé,1\n".encode() + "naïve,2\n".encode(
            "cp1252")), [{"w": "café", "n": 1}, {"w": "naïve", "n": 2}])),
        ("import GB18030", import_case(_file("g.csv", "id,t\n1,你好，世界\n2,今天天气很好\n".encode("gb18030")),
                                       [{"id": 1, "t": "你好，世界"}, {"id": 2, "t": "今天天气很好"}])),
        ("import Shift-JIS", import_case(_file("s.csv", "id,t\n1,こんにちは世界\n2,今日はいい天気ですね\n".encode(
            "shift_jis")), [{"id": 1, "t": "こんにちは世界"}, {"id": 2, "t": "今日はいい天気ですね"}])),
        ("import KOI8-R", import_case(_file("k.csv", "id,t\n1,Привет мир\n2,Сегодня хорошая погода\n".encode(
            "koi8_r")), [{"id": 1, "t": "Привет мир"}, {"id": 2, "t": "Сегодня хорошая погода"}])),
        ("import unclosed quote", import_case(_file("q.csv", 'id,t\n1,"hello\n2,world\n3,x\n'))),
        ("import quoted line break", import_case(_file("n.csv", 'id,t\n1,"a\nb"\n2,c\n'),
                                                 [{"id": 1, "t": "a\nb"}, {"id": 2, "t": "c"}])),
        ("import header with a number", import_case(_file("h.csv", "name,2024\nann,hi\nbo,yo\n"),
                                                    [{"name": "ann", "2024": "hi"}, {"name": "bo", "2024": "yo"}])),
        ("import semicolons", import_case(_file("s.csv", "a;b\nx, y;1\nz;2\n"), [{"a": "x, y", "b": 1},
                                                                               {"a": "z", "b": 2}])),
        ("import xlsx formula without result", import_case(_xlsx_formula)),
        ("import JSON bool beside float", import_case(_file("j.json", '[{"f": true}, {"f": 1.5}, {"f": false}]'),
                                                      [{"f": "true"}, {"f": "1.5"}, {"f": "false"}])),
        ("import JSONL bool beside float", import_case(_file("j.jsonl", '{"f": true}\n{"f": 1.5}\n'),
                                                       [{"f": "true"}, {"f": "1.5"}])),
        ("import symlink to /dev/zero", import_case(_link("/dev/zero"))),
        ("import symlink to /dev/urandom", import_case(_link("/dev/urandom"))),
        ("import FIFO", import_case(_fifo)),
        ("import path over 4096 characters", import_case(lambda f: f / (("d" * 200 + "/") * 25) / "x.csv")),
        ("import empty file", import_case(_file("e.csv", b""))),
        ("import PNG renamed .csv", import_case(_file("p.csv", b"\x89PNG\r\n\x1a\n" + bytes(100)))),
        ("workspace 0-byte database", workspace_case("zero")),
        ("workspace damaged pages", workspace_case("damaged")),
        ("workspace moved folder", workspace_case("moved")),
        ("workspace full database", workspace_case("full")),
        ("name with a trailing space", names_case("p1 ", "p1")),
        ("name with an ANSI escape", names_case("x\x1b[31my", None)),
        ("name with a newline", names_case("two\nlines", None)),
        ("kernel OOM kill recognised", oom_case),
    ]
    return cases


# ---------------------------------------------------------------------------------------------- running
def _child(run, queue) -> None:
    folder = Path(tempfile.mkdtemp(prefix="reliab-"))
    try:
        queue.put(run(folder))
    except _user_errors() as exc:
        queue.put(("clear", str(exc)[:120]))
    except BaseException as exc:  # noqa: BLE001 - a crash is what is being counted
        queue.put(("crash", "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_case(run) -> tuple[str, str, float]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(run, queue))
    started = time.monotonic()
    process.start()
    process.join(TIMEOUT_S)
    elapsed = time.monotonic() - started
    if process.is_alive():
        process.kill()
        process.join()
        return "hang", f"no answer in {TIMEOUT_S:g} s", elapsed
    try:
        outcome, detail = queue.get(timeout=1)
    except Exception:  # noqa: BLE001
        return "crash", f"the process died (exit {process.exitcode})", elapsed
    return outcome, detail, elapsed


def fuzz(n: int) -> dict[str, dict[str, int]]:
    """``n`` seeded cases each of delimited import, JSON import and template rendering."""
    from hypothesis import HealthCheck, given, settings

    from fuzz_cases import check_csv, check_json, check_template, csv_tables, json_records, templates

    results: dict[str, dict[str, int]] = {}
    folder = Path(tempfile.mkdtemp(prefix="reliab-fuzz-"))
    examples: dict[str, list] = {}

    def count(kind: str, outcome: tuple[str, str], started: float) -> None:
        name = "hang" if time.monotonic() - started > TIMEOUT_S else outcome[0]
        results.setdefault(kind, {}).setdefault(name, 0)
        results[kind][name] += 1
        if name not in ("correct", "clear"):
            examples.setdefault(kind, []).append(outcome[1])

    config = settings(max_examples=n, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))

    @config
    @given(csv_tables())
    def csv_cases(case):
        started = time.monotonic()
        count("fuzz csv", check_csv(case, folder), started)

    @config
    @given(json_records())
    def json_cases(case):
        started = time.monotonic()
        count("fuzz json", check_json(case, folder), started)

    @config
    @given(templates())
    def template_cases(source):
        started = time.monotonic()
        count("fuzz template", check_template(source), started)

    for test in (csv_cases, json_cases, template_cases):
        test()
    shutil.rmtree(folder, ignore_errors=True)
    for kind, found in examples.items():
        for text in found[:3]:
            print(f"  {kind}: {text}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz", type=int, default=300, help="seeded fuzz cases per kind (default 300)")
    args = parser.parse_args()
    totals = {k: 0 for k in ("crash", "hang", "clear", "correct", "silent_wrong")}
    print(f"{'case':<52} {'outcome':<13} {'seconds':>7}  detail")
    for name, run in matrix():
        outcome, detail, elapsed = run_case(run)
        totals[outcome] += 1
        print(f"{name[:52]:<52} {outcome:<13} {elapsed:>7.2f}  {detail[:90]!r}")
    fuzz_counts = fuzz(args.fuzz)
    for kind, found in fuzz_counts.items():
        print(f"{kind:<52} {json.dumps(found)}")
        for outcome, number in found.items():
            totals[outcome] = totals.get(outcome, 0) + number
    print(json.dumps({**totals, "matrix_cases": len(matrix()), "fuzz_cases_per_kind": args.fuzz}))
    return 0 if totals["crash"] == totals["hang"] == totals["silent_wrong"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
