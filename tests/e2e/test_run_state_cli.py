"""Run state through the real CLI and the real worker on the tiny model (issue 12's acceptance):

* pause → resume → the parent CLI killed mid-run → ``runs watch`` re-attaches and ends with the outcome;
  a second worker on the live run is refused, naming the live one;
* SIGKILL the worker → ``runs show`` says lost within 2 s with its last step; ``runs resume`` continues and
  the loss curve equals an uninterrupted run's (|Δ| ≤ 1e-4 per logged step).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_ift.core import runs as run_ops
from desktop_ift.core.store import Store

pytestmark = pytest.mark.slow
# the tiny model, named: the default is now the bundled SmolLM2 (135M, minutes a run on a shared CPU)
ARGS = ["--model", "tiny", "--max-steps", "12", "--batch-size", "8", "--logging-steps", "1", "--save-steps", "2",
        "--seed", "7"]


def _env(home: Path) -> dict:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2")
    env.pop("HF_HUB_OFFLINE", None)
    return env


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=_env(home), timeout=timeout, stdin=subprocess.DEVNULL)


def popen(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "desktop_ift", *args, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(home), stdin=subprocess.DEVNULL)


def prepare(home: Path) -> tuple[Path, str]:
    out = cli(home, "prepare-train", *ARGS)
    assert out.returncode == 0, out.stderr
    job_path = Path(out.stdout.strip().splitlines()[-1])
    return job_path, json.loads(job_path.read_text())["run_id"]


def read_until(proc: subprocess.Popen, predicate, timeout: float = 240) -> list[dict]:
    """Events printed by ``proc`` until one satisfies ``predicate`` (returned list ends with it)."""
    events, deadline = [], time.monotonic() + timeout
    for line in proc.stdout:
        events.append(json.loads(line))
        if predicate(events[-1]):
            return events
        assert time.monotonic() < deadline, "the run took too long"
    raise AssertionError(f"the process ended first: {events[-1:]}, {proc.stderr.read()}")


def status_line(home: Path, run_id: str) -> str:
    shown = cli(home, "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    return next(line for line in shown.stdout.splitlines() if line.startswith("status"))


def log_curve(home: Path, run_id: str) -> dict[int, float]:
    """The loss per logged step; a step logged twice (a lost attempt went past its checkpoint) keeps the
    resumed value, the one the model that exists went through."""
    with Store.open(home) as store:
        return {e.step: e.loss for e in store.events(run_id) if e.type == "log"}


def test_pause_resume_parent_killed_watch_and_a_second_worker_refused(workspace_home, demo_model_in_workspace):
    home = workspace_home
    job_path, run_id = prepare(home)
    train = popen(home, "train", str(job_path))
    try:
        read_until(train, lambda e: e["type"] == "log" and e["step"] >= 2)
        out = cli(home, "runs", "pause", run_id)
        assert out.returncode == 0 and "pause" in out.stdout, out.stderr
        rest = read_until(train, lambda e: e["type"] in ("paused", "cancelled", "finished", "failed"))
        assert rest[-1]["type"] == "paused", rest[-1]
        assert train.wait(timeout=60) == 3
    finally:
        if train.poll() is None:
            train.kill()
    paused_at = rest[-1]["step"]
    assert "paused" in status_line(home, run_id)
    listed = next(x for x in cli(home, "runs").stdout.splitlines() if x.startswith(run_id))
    assert f"\tpaused\t" in listed and f"step {paused_at}/12" in listed  # `runs` and `runs show` agree

    resume = popen(home, "runs", "resume", run_id)
    try:
        started = read_until(resume, lambda e: e["type"] == "started")[-1]
        assert started["attempt"] == 2 and started["create_time"] > 0
        read_until(resume, lambda e: e["type"] == "log")
        # a second worker on the live run is refused, naming the live one
        second = subprocess.run([sys.executable, "-m", "desktop_ift.core.worker", str(job_path)],
                                capture_output=True, text=True, env=_env(home), timeout=120)
        assert second.returncode == 4 and f"worker process {started['pid']}" in second.stderr, second.stderr
        refused = cli(home, "runs", "resume", run_id)
        assert refused.returncode == 1 and f"worker process {started['pid']}" in refused.stderr
        resume.kill()  # the parent CLI dies mid-run (as when its terminal is closed): the worker goes on
        resume.wait()
        assert "running" in status_line(home, run_id)
        watched = cli(home, "runs", "watch", run_id, timeout=300)
    finally:
        if resume.poll() is None:
            resume.kill()
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "Finished at step 12" in watched.stdout
    show = cli(home, "runs", "show", run_id).stdout
    assert "finished" in show and "step 12 of 12" in show and "lost" not in show
    assert sorted(log_curve(home, run_id)) == list(range(1, 13))


def test_a_killed_worker_reads_lost_at_once_and_resume_continues_the_same_curve(workspace_home,
                                                                                  demo_model_in_workspace):
    home = workspace_home
    reference_job, reference_id = prepare(home)
    out = cli(home, "train", str(reference_job))
    assert out.returncode == 0, out.stderr
    reference = log_curve(home, reference_id)
    assert sorted(reference) == list(range(1, 13))

    job_path, run_id = prepare(home)
    train = popen(home, "train", str(job_path))
    try:
        events = read_until(train, lambda e: e["type"] == "log" and e["step"] >= 5)
        worker_pid = next(e["pid"] for e in events if e["type"] == "started")
        os.kill(worker_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        with Store.open(home) as store:  # the next look says lost: nothing waits for a timeout
            while run_ops.run_state(store, run_id).status != "lost":
                assert time.monotonic() - killed_at < 2.0, "still not lost 2 s after the kill"
                time.sleep(0.05)
        train.wait(timeout=60)
    finally:
        if train.poll() is None:
            train.kill()
    assert "lost" in status_line(home, run_id)
    show = cli(home, "runs", "show", run_id).stdout
    last_step = max(e["step"] for e in events if e["type"] == "log")
    assert f"lost at step {last_step}" in show or "lost at step" in show
    assert f"desktop-ift runs resume {run_id}" in show

    out = cli(home, "runs", "resume", run_id)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Resuming from checkpoint-" in out.stderr
    curve = log_curve(home, run_id)
    assert sorted(curve) == list(range(1, 13))
    worst = max(abs(curve[s] - reference[s]) for s in reference)
    assert worst <= 1e-4, f"the resumed curve differs by {worst}"
    assert "finished" in status_line(home, run_id)


def test_closing_the_terminal_of_train_leaves_the_worker_running_and_watch_follows_it(workspace_home,
                                                                                      demo_model_in_workspace):
    """Issue 15 item 8: the terminal's hang-up (SIGHUP) ends the CLI, not the worker (its own session)."""
    home = workspace_home
    job_path, run_id = prepare(home)
    train = subprocess.Popen([sys.executable, "-m", "desktop_ift", "train", str(job_path), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(home),
                             stdin=subprocess.DEVNULL, start_new_session=True)  # as a terminal's job
    try:
        read_until(train, lambda e: e["type"] == "log" and e["step"] >= 2)
        os.killpg(train.pid, signal.SIGHUP)  # the terminal closes: its whole process group hangs up
        assert train.wait(timeout=30) == -signal.SIGHUP
    finally:
        if train.poll() is None:
            train.kill()
    watched = cli(home, "runs", "watch", run_id, timeout=300)
    assert watched.returncode == 0 and "Finished at step 12" in watched.stdout, watched.stdout + watched.stderr
