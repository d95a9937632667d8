"""TensorBoard event files per training run (real worker on the tiny model), read back from the file format."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from desktop_ift.core.training.config import TrainConfig

pytestmark = pytest.mark.slow


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from every event file in ``folder``.

    An event file is a sequence of records: uint64 length, uint32 CRC of the length, ``length`` bytes of a
    serialized ``Event`` protobuf, uint32 CRC of the data (little-endian). CRCs are not checked here.
    """
    from tensorboardX.proto.event_pb2 import Event

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack_from("<Q", data, pos)
            event = Event.FromString(data[pos + 12: pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                if value.WhichOneof("value") == "simple_value":
                    out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_run_writes_tensorboard_scalars_matching_the_store(store, tiny_model_dir, toy, worker):
    rows = toy.rows(40)
    config = TrainConfig(method="lora", max_steps=6, batch_size=8, logging_steps=1, eval_steps=3,
                         learning_rate=3e-3, lora_r=4, lora_alpha=8)
    result = worker.run(worker.train_job(store, str(tiny_model_dir), config, rows[:30], rows[30:]))
    assert result.returncode == 0 and result.last.type == "finished", result.last

    run = store.get_run(result.run_id)
    folder = Path(run.run_dir) / "tensorboard"
    assert list(folder.glob("events.out.tfevents.*")), "an event file in <run_dir>/tensorboard"
    scalars = read_scalars(folder)

    stored_loss = store.metric_series(run.id, "loss")
    assert [s for s, _ in stored_loss] == list(range(1, 7))
    assert [s for s, _ in scalars["train/loss"]] == [s for s, _ in stored_loss]
    for (_, tb), (_, db) in zip(scalars["train/loss"], stored_loss):
        assert tb == pytest.approx(db, abs=1e-6)

    lrs = dict(store.metric_series(run.id, "learning_rate"))
    assert [s for s, _ in scalars["train/learning_rate"]] == list(range(1, 7))
    for step, value in scalars["train/learning_rate"]:
        assert value == pytest.approx(lrs[step], rel=1e-6)
    assert len(scalars["train/grad_norm"]) == 6 and all(v > 0 for _, v in scalars["train/grad_norm"])
    assert len(scalars["train/tokens_per_second"]) == 6
    assert all(v > 0 for _, v in scalars["train/tokens_per_second"])
    eval_loss = store.metric_series(run.id, "eval_loss")
    assert [s for s, _ in scalars["eval/loss"]] == [s for s, _ in eval_loss] == [3, 6]
    for (_, tb), (_, db) in zip(scalars["eval/loss"], eval_loss):
        assert tb == pytest.approx(db, abs=1e-6)


def test_tensorboard_write_failure_does_not_fail_the_run(store, tiny_model_dir, toy, worker):
    rows = toy.rows(20)
    config = TrainConfig(method="lora", max_steps=2, batch_size=8, logging_steps=1, lora_r=4, lora_alpha=8)
    job = worker.train_job(store, str(tiny_model_dir), config, rows)
    (job.parent / "tensorboard").write_text("a file where the folder should be")
    result = worker.run(job)

    assert result.returncode == 0 and result.last.type == "finished", result.last
    assert len(result.of_type("log")) == 2
    log_text = (job.parent / "worker.log").read_text()
    assert "warning: TensorBoard event files disabled" in log_text
