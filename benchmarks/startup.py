"""Start-up time of the GUI: from process start to the first shown main window.

Each measurement is a fresh interpreter (``python -c``), offscreen, on a temporary workspace
(``DESKTOP_IFT_HOME``). The parent notes the wall-clock time just before it spawns the child; the child
notes it from a ``QTimer.singleShot(0)`` queued right after ``window.show()`` (the first turn of the event
loop, when the window has been shown). So the figure includes interpreter start-up and every import.

Measured:
* app, cold workspace: the first run creates the workspace and the demo project (dataset import included);
* app, warm: three more runs on that workspace (the usual start);
* baseline: a bare QApplication with an empty QMainWindow, three runs (the floor any PySide6 app pays).

Prints one line per run, then as its LAST line one JSON object with the figures: ``time_to_window_s`` (the
median warm run), ``baseline_s`` (median), ``ratio``, ``target_s`` (2.0) and ``torch_imported``.

    python benchmarks/startup.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0
HEAVY = ("torch", "transformers", "peft", "accelerate", "trl", "datasets")

APP_CHILD = textwrap.dedent("""
    import time
    t_start = time.perf_counter()
    import json, sys
    from PySide6.QtCore import QTimer
    from desktop_ift.ui.app import create_application, create_main_window
    from desktop_ift.core.store import Store
    t_imported = time.perf_counter()
    app = create_application(["startup-benchmark"])
    store = Store.open()
    window = create_main_window(store)
    t_built = time.perf_counter()
    result = {}

    def shown():
        result["shown_wall"] = time.time()
        result["shown_perf"] = time.perf_counter()
        state = window.state
        if state.table() is not None:
            data_ready()
        else:
            state.table_loaded.connect(lambda _id: data_ready())
            QTimer.singleShot(15000, finish)

    def data_ready():
        result.setdefault("data_perf", time.perf_counter())
        QTimer.singleShot(0, finish)

    def finish():
        heavy = sorted(m for m in %(heavy)r if m in sys.modules)
        print(json.dumps({
            "shown_wall": result["shown_wall"],
            "in_process_s": result["shown_perf"] - t_start,
            "imports_s": t_imported - t_start,
            "build_s": t_built - t_imported,
            "data_s": (result["data_perf"] - t_start) if "data_perf" in result else None,
            "heavy_imported": heavy,
        }), flush=True)
        app.quit()

    window.show()
    QTimer.singleShot(0, shown)
    app.exec()
""") % {"heavy": HEAVY}

BASELINE_CHILD = textwrap.dedent("""
    import time
    t_start = time.perf_counter()
    import json
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow
    app = QApplication(["startup-baseline"])
    window = QMainWindow()
    window.resize(1280, 800)

    def shown():
        print(json.dumps({"shown_wall": time.time(), "in_process_s": time.perf_counter() - t_start}), flush=True)
        app.quit()

    window.show()
    QTimer.singleShot(0, shown)
    app.exec()
""")


def measure(script: str, home: Path) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DESKTOP_IFT_HOME=str(home))
    env.setdefault("PYTHONPATH", str(REPO_ROOT))
    spawn = time.time()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         cwd=str(REPO_ROOT), timeout=180)
    if out.returncode != 0:
        raise SystemExit(f"the benchmark child failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["time_to_window_s"] = data["shown_wall"] - spawn
    return data


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ift-startup-") as tmp:
        home = Path(tmp) / "workspace"
        app_runs = []
        for i in range(4):
            run = measure(APP_CHILD, home)
            run["kind"] = "app-cold" if i == 0 else "app-warm"
            app_runs.append(run)
            print(f"{run['kind']:9s} time to window {run['time_to_window_s']:.3f} s  (imports {run['imports_s']:.3f} s, "
                  f"build {run['build_s']:.3f} s, data shown at {run['data_s'] or float('nan'):.3f} s)", flush=True)
        base_runs = []
        for _ in range(3):
            run = measure(BASELINE_CHILD, home)
            base_runs.append(run)
            print(f"baseline  time to window {run['time_to_window_s']:.3f} s", flush=True)
    warm = [r["time_to_window_s"] for r in app_runs[1:]]
    baseline = statistics.median(r["time_to_window_s"] for r in base_runs)
    median_warm = statistics.median(warm)
    data_times = [r["data_s"] for r in app_runs[1:] if r["data_s"] is not None]
    heavy = sorted({m for r in app_runs for m in r["heavy_imported"]})
    summary = {
        "benchmark": "gui_startup",
        "time_to_window_s": round(median_warm, 3),
        "cold_workspace_s": round(app_runs[0]["time_to_window_s"], 3),
        "warm_runs_s": [round(x, 3) for x in warm],
        "time_to_data_s": round(statistics.median(data_times), 3) if data_times else None,
        "baseline_s": round(baseline, 3),
        "baseline_runs_s": [round(r["time_to_window_s"], 3) for r in base_runs],
        "ratio": round(median_warm / baseline, 2) if baseline else None,
        "target_s": TARGET_S,
        "meets_target": median_warm <= TARGET_S,
        "torch_imported": any(m in ("torch", "transformers") for m in heavy),
        "heavy_imported": heavy,
        "python": sys.version.split()[0],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
