"""Importing a large CSV: our full import vs ``pyarrow.csv.read_csv`` alone, in the same run.

The script writes a 1,000,000-row CSV with mixed text columns (some cells hold quotes, commas and line breaks),
then measures, each in a fresh child process (so one cannot warm or bloat the other):

* baseline: ``pyarrow.csv.read_csv`` with the options the file needs (``newlines_in_values=True``): parsing
  only, close to the limit of what any import can do;
* ours: :func:`desktop_ift.core.data.importers.import_dataset` into an empty workspace: encoding, delimiter,
  quote and header detection, parsing, type inference, SHA-256 of the source, the Arrow snapshot and the
  database record;
* the preview: a fresh process opens the snapshot and converts the first page of 50 rows (the data page's
  first paint), then jumps to row 900,000 and converts 50 rows there.

Peak memory is the child's ``ru_maxrss`` (the kernel's exact high-water mark, which counts Arrow's own
allocations; ``tracemalloc`` does not see them) minus its resident size just before the timed work. Each
timing is the best of ``--repeat`` runs.

    .venv/bin/python benchmarks/import_speed.py [--rows 1000000] [--repeat 2]

The last line printed is one JSON object: seconds of both, ``ratio`` (ours / pyarrow; target <= 1.5),
``peak_memory_ratio`` (our peak / file size; target <= 2.5), ``first_page_seconds`` (target <= 0.5),
``jump_rss_mb`` (memory added by showing rows 900,000+; it must stay far below the table's size) and the
file size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_WORDS = ("refund invoice parcel courier firmware password account delivery order charged twice missing "
          "broken screen battery return label tracking number late support thanks please help urgent").split()


def write_csv(path: Path, rows: int, seed: int = 0) -> int:
    """Write the test CSV (id, question, answer, category, score) and return its size in bytes."""
    rng = random.Random(seed)

    def text(n_words: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(n_words))

    # A pool of ready-quoted cells keeps generation fast; a third of them need quoting.
    questions = []
    for i in range(4000):
        t = text(rng.randint(4, 30))
        kind = i % 6
        if kind == 0:
            t = f'He said "{t}", then left'
        elif kind == 1:
            t = f"{t}, and also, {text(3)}"
        elif kind == 2:
            t = f"{t}\nsecond line: {text(5)}"
        questions.append('"' + t.replace('"', '""') + '"' if any(c in t for c in ',"\n') else t)
    answers = [text(rng.randint(10, 60)) for _ in range(4000)]
    answers = ['"' + a + '"' if i % 5 == 0 else a for i, a in enumerate(answers)]
    answers = [a.replace(" thanks ", "\nthanks\n") if i % 5 == 0 else a for i, a in enumerate(answers)]
    categories = ("billing", "shipping", "technical", "account", "returns")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("id,question,answer,category,score\n")
        chunk = []
        for i in range(rows):
            chunk.append(f"{i + 1},{rng.choice(questions)},{rng.choice(answers)},{rng.choice(categories)},"
                         f"{rng.random():.4f}\n")
            if len(chunk) >= 50_000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk))
    return path.stat().st_size


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(mode: str, csv_path: str, home: str) -> dict:
    """One measurement in this (fresh) process; returns seconds and peak memory above the start."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from desktop_ift.core.data.importers import import_dataset, load_dataset_table, table_rows
    from desktop_ift.core.store import Store

    store = Store.open(home) if mode != "baseline" else None
    project = (store.find_project("bench") or store.create_project("bench")) if store else None
    before = _rss()
    start = time.perf_counter()
    result: dict = {}
    if mode == "baseline":
        table = pcsv.read_csv(csv_path, parse_options=pcsv.ParseOptions(newlines_in_values=True))
        result["rows"] = table.num_rows
    elif mode == "ours":
        record = import_dataset(store, project.id, csv_path, name="bench")
        result["rows"], result["dataset_id"] = record.n_rows, record.id
    else:  # preview of the dataset imported by "ours"
        record = store.list_datasets(project.id)[-1]
        table = load_dataset_table(record)
        first = table_rows(table, 0, 50)
        result["first_page_seconds"] = time.perf_counter() - start
        assert len(first) == 50
        rss = _rss()
        t = time.perf_counter()
        jump_row = min(900_000, table.num_rows - 50)
        jump = table_rows(table, jump_row, 50)
        result["jump_seconds"] = time.perf_counter() - t
        result["jump_rss_mb"] = (_rss() - rss) / 1e6
        result["table_mb"] = table.nbytes / 1e6
        assert jump[0]["id"] == jump_row + 1, "the jump read the wrong rows"
        result["pyarrow_version"] = pa.__version__
    result["seconds"] = time.perf_counter() - start
    result["peak_mb"] = max(_peak() - before, 0) / 1e6
    return result


def run_child(mode: str, csv_path: Path, home: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(csv_path), str(home)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CSV", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        tmp = Path(tmp)
        csv_path = tmp / "big.csv"
        t = time.perf_counter()
        size = write_csv(csv_path, args.rows)
        print(f"wrote {csv_path.name}: {args.rows:,} rows, {size / 1e6:.1f} MB in {time.perf_counter() - t:.1f}s",
              flush=True)
        base_runs, our_runs = [], []
        for i in range(args.repeat):
            base_runs.append(run_child("baseline", csv_path, tmp / f"ws{i}"))
            our_runs.append(run_child("ours", csv_path, tmp / f"ws{i}"))
            print(f"run {i + 1}: pyarrow {base_runs[-1]['seconds']:.2f}s ({base_runs[-1]['peak_mb']:.0f} MB), "
                  f"ours {our_runs[-1]['seconds']:.2f}s ({our_runs[-1]['peak_mb']:.0f} MB)", flush=True)
        assert all(r["rows"] == args.rows for r in base_runs + our_runs), "row counts differ"
        preview = run_child("preview", csv_path, tmp / "ws0")
        base = min(r["seconds"] for r in base_runs)
        ours = min(r["seconds"] for r in our_runs)
        peak = max(r["peak_mb"] for r in our_runs)
        figures = {
            "benchmark": "import_speed",
            "rows": args.rows,
            "file_mb": round(size / 1e6, 1),
            "baseline": "pyarrow.csv.read_csv(newlines_in_values=True)",
            "baseline_seconds": round(base, 3),
            "ours_seconds": round(ours, 3),
            "ratio": round(ours / base, 3),
            "ratio_target": 1.5,
            "baseline_peak_mb": round(max(r["peak_mb"] for r in base_runs), 1),
            "ours_peak_mb": round(peak, 1),
            "peak_memory_ratio": round(peak * 1e6 / size, 3),
            "peak_memory_ratio_target": 2.5,
            "first_page_seconds": round(preview["first_page_seconds"], 4),
            "first_page_target_seconds": 0.5,
            "jump_to_row_900000_seconds": round(preview["jump_seconds"], 4),
            "jump_rss_mb": round(preview["jump_rss_mb"], 2),
            "snapshot_table_mb": round(preview["table_mb"], 1),
            "cpu_count": os.cpu_count(),
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
