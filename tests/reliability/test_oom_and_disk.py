"""#15.4 kernel OOM kill and the container limit; #15.2 the disk-space helpers the worker and export use."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from desktop_ift.core import disk
from desktop_ift.core.training import memory
from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.hardware import GIB, Device
from desktop_ift.core.training.memory import cgroup_memory, fit_advice, shape_from_config, was_oom_killed

QWEN25_05B = {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True}


def _fake_v2(tmp_path: Path, limit: str, current: int, kills: int) -> None:
    root = tmp_path / "cgroup"
    (root / "job").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "memory.max").write_text("max\n")
    (root / "job" / "memory.max").write_text(limit + "\n")
    (root / "job" / "memory.current").write_text(f"{current}\n")
    (root / "job" / "memory.events").write_text(f"low 0\nhigh 0\nmax 3\noom 1\noom_kill {kills}\n")
    (tmp_path / "proc_cgroup").write_text("0::/job\n")


@pytest.fixture
def fake_cgroup_v2(tmp_path, monkeypatch):
    _fake_v2(tmp_path, str(2 * GIB), GIB // 4, 0)
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path / "cgroup")
    monkeypatch.setattr(memory, "PROC_CGROUP", tmp_path / "proc_cgroup")
    return tmp_path / "cgroup" / "job"


def test_cgroup_v2_limit_is_read(fake_cgroup_v2):
    group = cgroup_memory()
    assert (group.version, group.limit, group.usage, group.oom_kills) == (2, 2 * GIB, GIB // 4, 0)


def test_cgroup_v1_limit_is_read(tmp_path, monkeypatch):
    folder = tmp_path / "cg" / "memory" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "memory.limit_in_bytes").write_text(str(3 * GIB))
    (folder / "memory.usage_in_bytes").write_text(str(GIB))
    (folder / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (tmp_path / "cg" / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712")
    (tmp_path / "proc").write_text("4:memory:/docker/abc\n1:cpu:/\n")
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path / "cg")
    monkeypatch.setattr(memory, "PROC_CGROUP", tmp_path / "proc")
    group = cgroup_memory()
    assert (group.version, group.limit, group.usage, group.oom_kills) == (1, 3 * GIB, GIB, 2)


def test_pre_launch_check_counts_the_container_limit(fake_cgroup_v2):
    shape = shape_from_config(QWEN25_05B)
    config = TrainConfig(method="full", batch_size=4, max_seq_length=1024, gradient_checkpointing=False)
    machine = Device("cpu", 0, "CPU", 128 * GIB, 120 * GIB)  # the machine has room, the container does not
    advice = fit_advice(shape, config, machine)
    assert not advice.fits and "container (cgroup)" in advice.message()
    assert "It should fit" not in advice.message()


def test_oom_kill_is_recognised_from_the_cgroup_count(fake_cgroup_v2):
    before = memory.oom_kill_count(fake_cgroup_v2)
    (fake_cgroup_v2 / "memory.events").write_text("oom 2\noom_kill 1\n")
    assert was_oom_killed(-9, before, folder=fake_cgroup_v2)
    assert not was_oom_killed(1, before, folder=fake_cgroup_v2)  # an ordinary error is not an OOM kill
    assert not was_oom_killed(-9, 1, folder=fake_cgroup_v2)  # a kill -9 by the user is not one either
    assert was_oom_killed(-9, 1, peak_bytes=int(1.99 * GIB), folder=fake_cgroup_v2)  # memory at the limit
    assert "ran out of memory" in memory.out_of_memory_message(2 * GIB)


def _child_memory_cgroup() -> Path | None:
    """A fresh memory cgroup under ours with a 64 MB limit, or None where cgroups cannot be written."""
    folders = memory.own_cgroup_folders()
    if not folders:
        return None
    version, own = folders[0]
    child = own / f"reliab-{uuid.uuid4().hex[:6]}"
    try:
        child.mkdir()
        if version == 2:
            (child / "memory.max").write_text(str(64 * 2**20))
            (child / "memory.swap.max").write_text("0") if (child / "memory.swap.max").exists() else None
        else:
            (child / "memory.limit_in_bytes").write_text(str(64 * 2**20))
            if (child / "memory.memsw.limit_in_bytes").exists():
                (child / "memory.memsw.limit_in_bytes").write_text(str(64 * 2**20))
    except OSError:
        try:
            child.rmdir()
        except OSError:
            pass
        return None
    return child


def test_a_real_kernel_oom_kill_is_reported_as_out_of_memory():
    child = _child_memory_cgroup()
    if child is None:
        pytest.skip("no writable memory cgroup here")
    try:
        before = memory.oom_kill_count(child)
        code = ("import os,sys; open(sys.argv[1] + '/cgroup.procs','w').write(str(os.getpid())); "
                "x = [bytearray(16 * 2**20) for _ in range(64)]")
        done = subprocess.run([sys.executable, "-c", code, str(child)], timeout=60, capture_output=True)
        assert done.returncode == -9, done.stderr
        assert was_oom_killed(done.returncode, before, folder=child)
    finally:
        try:
            child.rmdir()
        except OSError:
            pass


# ------------------------------------------------------------------------------------------ disk
def test_free_space_check_names_needed_free_and_where(tmp_path):
    free = disk.free_bytes(tmp_path)
    disk.check_free_space(tmp_path / "not-yet" / "model.safetensors", 1024, "the checkpoint")
    with pytest.raises(disk.DiskSpaceError) as info:
        disk.check_free_space(tmp_path / "model.safetensors", free * 2, "the checkpoint")
    text = str(info.value)
    assert text.startswith("The disk is full to save the checkpoint (") and " needed, " in text
    assert f"free on {disk.mount_point(tmp_path)}" in text
    assert info.value.errno == errno.ENOSPC


def test_disk_full_errors_are_recognised_in_any_wording():
    assert disk.is_disk_full_error(OSError(errno.ENOSPC, "No space left on device"))
    wrapped = RuntimeError("safetensors: write failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert disk.is_disk_full_error(wrapped)
    assert disk.is_disk_full_error(RuntimeError("[enforce fail at inline_container.cc] ... No space left on device"))
    assert not disk.is_disk_full_error(ValueError("bad value"))
    assert disk.human_bytes(1_500_000_000) == "1.5 GB" and disk.human_bytes(512) == "512 bytes"


def test_folder_size_estimates_a_checkpoint(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "a.bin").write_bytes(b"x" * 1000)
    (tmp_path / "ckpt" / "b.json").write_bytes(b"y" * 24)
    assert disk.folder_size(tmp_path / "ckpt") == 1024 and disk.folder_size(tmp_path / "none") == 0
    os.sync()


def test_a_checkpoint_that_would_not_fit_is_refused_before_anything_is_written(tmp_path):
    """Before a checkpoint is saved, its size (the largest checkpoint so far) is checked against the free
    space: on a full disk the run fails with "The disk is full (… needed, … free on …)" and keeps its last
    complete checkpoint, instead of failing halfway through writing the next one."""
    import subprocess
    import uuid
    from types import SimpleNamespace

    from desktop_ift.core.disk import DiskSpaceError
    from desktop_ift.core.training.callbacks import EventCallback, checkpoint_size_estimate
    from desktop_ift.core.worker import classify_error

    mount = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        checkpoints = mount / "checkpoints"
        first = checkpoints / "checkpoint-2"
        first.mkdir(parents=True)
        (first / "adapter_model.safetensors").write_bytes(b"\0" * 1_000_000)
        assert checkpoint_size_estimate(checkpoints) >= 1_000_000

        class Writer:
            def emit(self, *a, **k):
                pass

        class NoStop:
            keep_best = False

            def is_set(self):
                return False

        callback = EventCallback(Writer(), NoStop())
        control = SimpleNamespace(should_save=True, should_training_stop=False)
        args, state = SimpleNamespace(output_dir=str(checkpoints)), SimpleNamespace(global_step=4)
        with pytest.raises(DiskSpaceError) as refused:
            callback.on_step_end(args, state, control)
        assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-2"]  # nothing half-written
        message, hint = classify_error(refused.value, mount)
        assert message.startswith("The disk is full") and "needed" in message and "free on" in message
        assert str(mount) in message and "resume" in hint

        room = tmp_path / "roomy" / "checkpoints"  # the same checkpoint on a disk with room goes ahead
        (room / "checkpoint-2").mkdir(parents=True)
        (room / "checkpoint-2" / "adapter_model.safetensors").write_bytes(b"\0" * 1_000_000)
        control.should_save = True
        assert callback.on_step_end(SimpleNamespace(output_dir=str(room)), state, control).should_save
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
