"""Which devices this computer can train on, found without importing torch (the GUI calls this).

NVIDIA GPUs come from ``nvidia-smi`` (names, total and free memory, compute capability), Apple silicon is
recognised from the platform (its GPU shares the main memory), and the CPU always is a device with the
machine's RAM (psutil). :func:`detect_devices` caches its answer for the life of the process; it takes a
few milliseconds without a GPU and about a tenth of a second with ``nvidia-smi``.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache

GIB = 1024**3


@dataclass(frozen=True)
class Device:
    """One device: ``kind`` is cuda, mps or cpu; memory in bytes (free may be unknown: None)."""

    kind: str
    index: int
    name: str
    total_memory: int
    free_memory: int | None = None
    bf16: bool = False

    @property
    def label(self) -> str:
        """``"cuda:0 NVIDIA A100 (80.0 GiB)"`` and the like."""
        where = f"{self.kind}:{self.index}" if self.kind == "cuda" else self.kind
        return f"{where} {self.name} ({self.total_memory / GIB:.1f} GiB)"


@dataclass(frozen=True)
class Hardware:
    """The devices found: the GPUs (possibly none) and the CPU with the machine's memory."""

    gpus: tuple[Device, ...] = ()
    cpu: Device = field(default_factory=lambda: Device("cpu", 0, "CPU", 0))

    @property
    def accelerator(self) -> str:
        """``"cuda"``, ``"mps"`` or ``"cpu"``: where a training job will run."""
        return self.gpus[0].kind if self.gpus else "cpu"

    @property
    def training_device(self) -> Device:
        """The device whose memory limits a job (the first GPU, else the CPU)."""
        return self.gpus[0] if self.gpus else self.cpu

    def to_dict(self) -> dict:
        return {"gpus": [asdict(g) for g in self.gpus], "cpu": asdict(self.cpu), "accelerator": self.accelerator}

    def describe(self) -> str:
        """One line for people: what will train and how much memory it has."""
        if not self.gpus:
            return f"No GPU found: training runs on the CPU ({self.cpu.total_memory / GIB:.0f} GiB of memory)."
        if len(self.gpus) == 1:
            return f"GPU: {self.gpus[0].label}."
        return f"{len(self.gpus)} GPUs: " + "; ".join(g.label for g in self.gpus) + "."


def _nvidia_gpus(timeout: float = 5.0) -> tuple[Device, ...]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ()
    fields_ = "index,name,memory.total,memory.free,compute_cap"
    try:
        out = subprocess.run([exe, f"--query-gpu={fields_}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=timeout, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_nvidia_smi(out)


def parse_nvidia_smi(text: str) -> tuple[Device, ...]:
    """Devices from ``nvidia-smi --query-gpu=index,name,memory.total,memory.free,compute_cap`` CSV output
    (memory in MiB)."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            index, name, total, free = int(parts[0]), parts[1], int(float(parts[2])), int(float(parts[3]))
        except ValueError:
            continue
        try:
            bf16 = float(parts[4]) >= 8.0 if len(parts) > 4 else False
        except ValueError:
            bf16 = False
        gpus.append(Device("cuda", index, name, total * 2**20, free * 2**20, bf16))
    return tuple(gpus)


def _cpu_device() -> Device:
    import psutil

    vm = psutil.virtual_memory()
    name = platform.processor() or platform.machine() or "CPU"
    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    return Device("cpu", 0, f"{name} ({cores} cores)", int(vm.total), int(vm.available), False)


@lru_cache(maxsize=1)
def detect_devices() -> Hardware:
    """The devices of this computer (cached): NVIDIA GPUs, Apple-silicon GPU (MPS), and the CPU."""
    cpu = _cpu_device()
    gpus = _nvidia_gpus()
    if not gpus and platform.system() == "Darwin" and platform.machine() == "arm64":
        gpus = (Device("mps", 0, "Apple GPU (shares the main memory)", cpu.total_memory, cpu.free_memory, True),)
    return Hardware(gpus=gpus, cpu=cpu)
