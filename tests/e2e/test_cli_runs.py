"""``desktop-ift runs ...`` for real: cancel a training run, resume it, lose its worker, resume again,
export its metrics, delete it. The worker trains the tiny demo model."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_ift.core.store import Store


def _env(home: Path) -> dict:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2")
    env.pop("HF_HUB_OFFLINE", None)
    return env


def cli(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=_env(home), timeout=timeout, stdin=subprocess.DEVNULL)


def train_until(home: Path, args: list[str], stop_after_step: int, how: str, timeout: float = 240):
    """Run ``desktop-ift ARGS --json``; once a log event reaches ``stop_after_step``, either press Ctrl+C
    (``how="interrupt"``: the worker checkpoints and cancels) or SIGKILL the worker ("kill": it is lost).
    Returns (exit code, events as dicts)."""
    proc = subprocess.Popen([sys.executable, "-m", "desktop_ift", *args, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(home), stdin=subprocess.DEVNULL)
    events, worker_pid, deadline = [], None, time.monotonic() + timeout
    try:
        for line in proc.stdout:
            event = json.loads(line)
            events.append(event)
            if event["type"] == "started":
                worker_pid = event["pid"]
            if event["type"] == "log" and event["step"] >= stop_after_step and how:
                if how == "interrupt":
                    proc.send_signal(signal.SIGINT)
                else:
                    os.kill(worker_pid, signal.SIGKILL)
                    proc.kill()
                    break
                how = ""
            assert time.monotonic() < deadline, "the run took too long"
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, events


@pytest.mark.slow
def test_cancel_resume_lose_resume_export_delete(workspace_home, demo_model_in_workspace, tmp_path):
    home = workspace_home
    out = cli(home, "prepare-train", "--model", "tiny", "--max-steps", "16", "--batch-size", "8")
    assert out.returncode == 0, out.stderr
    job_path = Path(out.stdout.strip().splitlines()[-1])
    run_id = json.loads(job_path.read_text())["run_id"]

    # 1. Ctrl+C: the worker saves a checkpoint and the run is cancelled.
    code, first = train_until(home, ["train", str(job_path)], stop_after_step=4, how="interrupt")
    assert code == 3 and first[-1]["type"] == "cancelled", first[-1]
    stopped_at = first[-1]["step"]
    shown = cli(home, "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "cancelled" in shown.stdout and f"checkpoint-{stopped_at}" in shown.stdout
    assert f"desktop-ift runs resume {run_id}" in shown.stdout

    # 2. Resume; the worker is killed (no final event) a few steps later: the run is lost, not "running".
    code, second = train_until(home, ["runs", "resume", run_id], stop_after_step=stopped_at + 2, how="kill")
    # numbering continues: the `resumed` event written by `runs resume`, then the worker's `started`
    assert second[0]["type"] == "started" and second[0]["seq"] == first[-1]["seq"] + 2
    assert second[0]["attempt"] == 2
    assert second[0]["info"]["resume_from"].endswith(f"checkpoint-{stopped_at}")
    assert [e["step"] for e in second if e["type"] == "log"][0] > stopped_at  # continues, not from zero
    listed = cli(home, "runs")
    line = next(x for x in listed.stdout.splitlines() if x.startswith(run_id))
    assert "\tlost\t" in line and "lost at step" in line  # the same word as `runs show` and the GUI
    assert "status" in (shown := cli(home, "runs", "show", run_id).stdout) and "lost" in shown

    # 3. Resume the lost run from the same checkpoint: it finishes all 16 steps.
    out = cli(home, "runs", "resume", run_id)
    assert out.returncode == 0, out.stdout + out.stderr
    with Store.open(home) as store:
        run = store.get_run(run_id)
        assert run.status == "finished" and run.last_step == 16
        seqs = [e.seq for e in store.events(run_id)]
        assert seqs == list(range(1, len(seqs) + 1))

    # 4. Metrics as CSV: one curve, every step once, in order (the lost attempt's extra steps left out).
    csv_path = tmp_path / "metrics.csv"
    out = cli(home, "runs", "export-metrics", run_id, str(csv_path))
    assert out.returncode == 0, out.stderr
    rows = [r for r in csv.DictReader(csv_path.open()) if r["loss"]]
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(set(steps)) and steps[-1] == 16

    # 5. Delete: refused without confirmation when not interactive, then done with --yes.
    out = cli(home, "runs", "delete", run_id)
    assert out.returncode == 1 and "--yes" in out.stderr
    out = cli(home, "runs", "delete", run_id, "--yes")
    assert out.returncode == 0, out.stderr
    assert not (home / "runs" / run_id).exists()
    assert run_id not in cli(home, "runs").stdout


def test_runs_commands_explain_unknown_runs_and_refusals(workspace_home):
    out = cli(workspace_home, "runs", "show", "train-nope")
    assert out.returncode == 1 and "no run 'train-nope'" in out.stderr and "desktop-ift runs" in out.stderr
    with Store.open(workspace_home) as store:
        run = store.create_run("train", {})
    out = cli(workspace_home, "runs", "resume", run.id)
    assert out.returncode == 1 and "not started yet" in out.stderr
