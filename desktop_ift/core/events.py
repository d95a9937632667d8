"""The event contract between a worker process and everything that watches it.

A worker (training or evaluation) describes what happens as a stream of typed events. Each event carries
the run id and a per-run sequence number that only ever grows, so a reader (the GUI, the CLI, a GUI that
was restarted) can resume from the last number it saw. On the wire an event is one JSON object per line:

    {"type": "log", "run_id": "r-...", "seq": 7, "time": 1700000000.0, "step": 20, "loss": 1.93, ...}

This module is the only contract: workers write it (to their stdout and to the store), the GUI and CLI
read it. It has no dependency beyond the standard library.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Iterable, Iterator

PROTOCOL_VERSION = 1


class EventDecodeError(ValueError):
    """A line that is not a valid event (library noise on stdout, a truncated write, an unknown type)."""


@dataclass(frozen=True)
class Event:
    """Common part of every event."""

    run_id: str
    seq: int
    time: float = field(default_factory=time.time)

    type: ClassVar[str] = "event"
    #: Events after which the run is over.
    terminal: ClassVar[bool] = False


@dataclass(frozen=True)
class Started(Event):
    """The worker is up and knows what it will do."""

    job_kind: str = "train"  # "train" or "evaluate"
    total_steps: int = 0
    description: str = ""
    pid: int = 0
    device: str = ""
    info: dict = field(default_factory=dict)
    #: 1 for the first run of the job, 2 after the first resume, ... (0 in streams written before attempts
    #: were numbered: readers count the ``started`` events instead).
    attempt: int = 0
    #: The worker process's own creation time (psutil ``create_time``): with ``pid`` it names the process
    #: exactly, so a reused pid is never mistaken for the worker (0 when unknown).
    create_time: float = 0.0

    type: ClassVar[str] = "started"


@dataclass(frozen=True)
class Log(Event):
    """Training progress at one optimizer step. Missing figures are None."""

    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_second: float | None = None
    tokens_seen: int | None = None
    memory_mb: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None

    type: ClassVar[str] = "log"


@dataclass(frozen=True)
class Progress(Event):
    """Progress of a stage that is not an optimizer step (building the demo model, generating answers)."""

    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""

    type: ClassVar[str] = "progress"


@dataclass(frozen=True)
class Eval(Event):
    """Scores: validation loss during training, or a model's metrics in an evaluation job."""

    step: int = 0
    model_label: str = ""
    metrics: dict = field(default_factory=dict)

    type: ClassVar[str] = "eval"


@dataclass(frozen=True)
class Checkpoint(Event):
    """A checkpoint was written and can be resumed from."""

    step: int = 0
    path: str = ""

    type: ClassVar[str] = "checkpoint"


@dataclass(frozen=True)
class Finished(Event):
    """The job completed."""

    output_dir: str = ""
    metrics: dict = field(default_factory=dict)

    type: ClassVar[str] = "finished"
    terminal: ClassVar[bool] = True


@dataclass(frozen=True)
class Failed(Event):
    """The job stopped on an error. ``message`` says what happened in plain words, ``hint`` what to try."""

    message: str = ""
    hint: str = ""
    details: str = ""  # the traceback, for the log pane and bug reports; never shown in a dialog

    type: ClassVar[str] = "failed"
    terminal: ClassVar[bool] = True


@dataclass(frozen=True)
class Cancelled(Event):
    """The job was stopped on request (SIGTERM) after saving a checkpoint."""

    step: int = 0
    checkpoint: str = ""

    type: ClassVar[str] = "cancelled"
    terminal: ClassVar[bool] = True


@dataclass(frozen=True)
class Paused(Event):
    """The user paused the job: the worker saved a resumable checkpoint and stopped. The run is not over:
    resuming it starts a new attempt (a ``resumed`` event, then ``started`` with the next ``attempt``)."""

    step: int = 0
    checkpoint: str = ""

    type: ClassVar[str] = "paused"
    terminal: ClassVar[bool] = True  # the attempt (and its process) ends here


@dataclass(frozen=True)
class Resumed(Event):
    """A resume of a paused, cancelled, failed or lost run was asked for: a worker will continue from
    ``checkpoint`` (at ``step``) as attempt number ``attempt``."""

    attempt: int = 0
    step: int = 0
    checkpoint: str = ""
    note: str = ""  # newer checkpoints that were skipped and why ("checkpoint-40 skipped: ... damaged")

    type: ClassVar[str] = "resumed"


@dataclass(frozen=True)
class Output(Event):
    """Generated text for one request of an interactive job (the playground): ``text`` is the new piece,
    ``done`` marks the request's last piece."""

    request: int = 0
    text: str = ""
    done: bool = False

    type: ClassVar[str] = "output"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (Started, Log, Progress, Eval, Checkpoint, Finished, Failed, Cancelled, Paused,
                               Resumed, Output)
}
TERMINAL_TYPES = frozenset(name for name, cls in EVENT_TYPES.items() if cls.terminal)


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: encode them as None so every reader can parse the line."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_dict(event: Event) -> dict:
    """The event as a plain dict, with its ``type``."""
    data = _clean(asdict(event))
    return {"type": event.type, **data}


def encode(event: Event) -> str:
    """One JSON line (no trailing newline)."""
    return json.dumps(to_dict(event), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def from_dict(data: dict) -> Event:
    """Build a typed event from a decoded dict; unknown keys are ignored (newer writers, older readers)."""
    if not isinstance(data, dict):
        raise EventDecodeError("an event must be a JSON object")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise EventDecodeError(f"unknown event type {kind!r}")
    if not isinstance(data.get("run_id"), str) or not isinstance(data.get("seq"), int):
        raise EventDecodeError("an event needs a string run_id and an integer seq")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:  # pragma: no cover - defensive
        raise EventDecodeError(str(exc)) from exc


def decode(line: str | bytes) -> Event:
    """Parse one JSON line into its typed event, or raise :class:`EventDecodeError`."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line.startswith("{"):
        raise EventDecodeError("not a JSON object")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventDecodeError(f"invalid JSON: {exc}") from exc
    return from_dict(data)


def decode_stream(lines: Iterable[str | bytes]) -> Iterator[Event]:
    """Yield the events in ``lines``, skipping anything that is not an event (library noise)."""
    for line in lines:
        try:
            yield decode(line)
        except EventDecodeError:
            continue


class LineBuffer:
    """Splits chunks of bytes read from a pipe into complete lines (a read may end mid-line)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        """Add ``chunk``; return the complete lines it finished, decoded as UTF-8."""
        self._pending += chunk
        *complete, self._pending = self._pending.split(b"\n")
        return [c.decode("utf-8", errors="replace") for c in complete if c.strip()]

    def flush(self) -> list[str]:
        """Return whatever is left (the process ended without a final newline)."""
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", errors="replace")] if rest.strip() else []
