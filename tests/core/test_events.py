"""The event contract: every event type survives the JSON-lines round trip, and readers skip noise."""

import json
import math

import pytest

from desktop_ift.core import events as ev


def sample_events(run_id="train-1"):
    return [
        ev.Started(run_id, 1, job_kind="train", total_steps=40, description="LoRA on demo", pid=123,
                   device="cpu", info={"model": "demo"}),
        ev.Progress(run_id, 2, stage="loading", done=1, total=2, message="Loading the model"),
        ev.Log(run_id, 3, step=1, total_steps=40, epoch=0.025, loss=2.5, learning_rate=1e-3, grad_norm=1.2,
               tokens_per_second=900.0, tokens_seen=512, memory_mb=300.5, elapsed_s=0.4, eta_s=16.0),
        ev.Eval(run_id, 4, step=10, model_label="", metrics={"eval_loss": 1.5}),
        ev.Checkpoint(run_id, 5, step=10, path="/tmp/ckpt-10"),
        ev.Finished(run_id, 6, output_dir="/tmp/out", metrics={"train_loss": 1.1}),
        ev.Failed(run_id, 7, message="Out of memory", hint="Use LoRA", details="Traceback ..."),
        ev.Cancelled(run_id, 8, step=12, checkpoint="/tmp/ckpt-12"),
        ev.Output(run_id, 9, request=2, text=" billing", done=True),
    ]


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.type)
def test_every_event_type_round_trips(event):
    line = ev.encode(event)
    assert "\n" not in line
    assert json.loads(line)["type"] == event.type
    decoded = ev.decode(line)
    assert type(decoded) is type(event)
    assert decoded == event


def test_all_contract_types_are_registered():
    assert {"started", "log", "eval", "checkpoint", "finished", "failed", "cancelled", "paused",
            "resumed"} <= set(ev.EVENT_TYPES)
    assert ev.TERMINAL_TYPES == {"finished", "failed", "cancelled", "paused"}


def test_old_started_lines_still_decode_and_new_fields_round_trip():
    old = ev.decode('{"type":"started","run_id":"r","seq":1,"time":5.0,"total_steps":10,"pid":42}')
    assert isinstance(old, ev.Started) and old.attempt == 0 and old.create_time == 0.0 and old.pid == 42
    new = ev.Started("r", 1, pid=42, attempt=3, create_time=1234.5)
    assert ev.decode(ev.encode(new)) == new
    paused = ev.Paused("r", 9, step=8, checkpoint="/c/checkpoint-8")
    assert ev.decode(ev.encode(paused)) == paused and paused.terminal


def test_nan_and_infinity_become_null_so_any_reader_can_parse():
    line = ev.encode(ev.Log("r", 1, step=1, loss=math.nan, grad_norm=math.inf))
    data = json.loads(line)
    assert data["loss"] is None and data["grad_norm"] is None


def test_decode_rejects_noise_with_a_decode_error():
    for noise in ["{'loss': 1.0, 'epoch': 0.1}", "Some weights were not initialized", "{}", '{"type": "nope",'
                  ' "run_id": "r", "seq": 1}', '{"type": "log", "seq": "x", "run_id": "r"}', "[1, 2]"]:
        with pytest.raises(ev.EventDecodeError):
            ev.decode(noise)


def test_decode_stream_skips_library_noise_and_keeps_order():
    lines = ["warming up...", *map(ev.encode, sample_events()), "{'train_runtime': 3.2}"]
    decoded = list(ev.decode_stream(lines))
    assert [e.seq for e in decoded] == list(range(1, 10))


def test_unknown_fields_from_a_newer_writer_are_ignored():
    data = ev.to_dict(ev.Log("r", 3, step=2, loss=1.0))
    data["future_field"] = 42
    decoded = ev.decode(json.dumps(data))
    assert decoded.step == 2 and decoded.loss == 1.0


def test_line_buffer_reassembles_lines_split_across_reads():
    payload = "".join(ev.encode(e) + "\n" for e in sample_events()).encode()
    buf = ev.LineBuffer()
    lines = []
    for i in range(0, len(payload), 7):  # reads that end mid-line, even mid-UTF-8 is fine at byte level
        lines += buf.feed(payload[i:i + 7])
    lines += buf.flush()
    assert [ev.decode(line).seq for line in lines] == list(range(1, 10))


def test_line_buffer_flush_returns_a_last_line_without_newline():
    buf = ev.LineBuffer()
    assert buf.feed(b'{"a": 1}\n{"b"') == ['{"a": 1}']
    assert buf.flush() == ['{"b"']
