"""One worker per run (the lock file), the worker's numbering of attempts, pause as an event, a full disk."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from desktop_ift.core import events as ev
from desktop_ift.core import run_lock
from desktop_ift.core.worker import PAUSE_REQUEST, EventWriter, classify_error


def test_a_second_holder_is_refused_with_the_live_ones_pid_and_a_stale_lock_is_taken_over(tmp_path):
    run_dir = tmp_path / "runs" / "train-x"
    lock = run_lock.acquire(run_dir)
    try:
        holder = run_lock.live_holder(run_dir)
        assert holder["pid"] == os.getpid() and holder["create_time"] > 0
        with pytest.raises(run_lock.RunBusy) as refused:
            run_lock.acquire(run_dir)
        assert f"worker process {os.getpid()}" in str(refused.value) and "since" in str(refused.value)
        assert "runs watch train-x" in str(refused.value)
    finally:
        lock.release()
    assert run_lock.live_holder(run_dir) is None
    # a worker killed while holding it leaves the file behind: the OS lock went with it
    dead = subprocess.run([sys.executable, "-c", (
        "import sys, os; from desktop_ift.core import run_lock; run_lock.acquire(sys.argv[1]); os._exit(9)"),
        str(run_dir)], env={**os.environ}, timeout=60)
    assert dead.returncode == 9 and (run_dir / run_lock.LOCK_NAME).exists()
    assert run_lock.live_holder(run_dir) is None
    again = run_lock.acquire(run_dir)
    assert json.loads((run_dir / run_lock.LOCK_NAME).read_text())["pid"] == os.getpid()
    again.release()


def test_the_writer_numbers_attempts_names_the_process_and_writes_a_pause(store):
    run = store.create_run("train", {})
    writer = EventWriter(store, run.id, None)
    first = writer.emit(ev.Started, total_steps=5, pid=os.getpid())
    assert first.attempt == 1 and first.create_time > 0
    (store.run_dir(run.id) / PAUSE_REQUEST).write_text("pause")
    paused = writer.emit(ev.Cancelled, step=3, checkpoint="/c/checkpoint-3")
    assert isinstance(paused, ev.Paused) and paused.step == 3 and store.get_run(run.id).status == "paused"
    second = EventWriter(store, run.id, None).emit(ev.Started, total_steps=5, pid=os.getpid())
    assert second.attempt == 2 and second.seq == 3


def test_a_full_disk_says_how_much_is_needed_and_free_where(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (run_dir / "checkpoints" / "checkpoint-2" / "model.safetensors").write_bytes(b"\0" * 5_000_000)  # 5.0 MB
    exc = OSError(errno.ENOSPC, "No space left on device", str(run_dir / "checkpoints" / "checkpoint-4" / "x"))
    message, hint = classify_error(exc, run_dir)
    assert message.startswith("The disk is full (about 5.0 MB needed, ") and f"free on {run_dir}" in message
    assert "resume" in hint
    wrapped = RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed writing file")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert classify_error(wrapped, run_dir)[0].startswith("The disk is full")
    assert classify_error(OSError(errno.ENOSPC, "full"), tmp_path / "nothing")[0].startswith(
        "The disk is full (more space needed, ")
