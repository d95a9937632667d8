"""How much memory a training job needs, worked out from the model's files without loading it.

No torch here: the GUI calls :func:`estimate_memory` whenever a setting changes. The parameter count comes
from the safetensors headers when the weights are there (exact), else from the dimensions in
``config.json`` (within a few percent for the usual architectures). The estimate adds up, in bytes:

* weights (full: fp32 master copy; LoRA/DoRA: the frozen model in 16 bits on a GPU, fp32 on the CPU;
  QLoRA: 4 or 8 bits per weight plus quantization constants),
* gradients and Adam's two moments for the trainable parameters (4 + 8 bytes each, fp32),
* activations for ``batch_size x max_seq_length`` tokens (about 34 x hidden bytes per token and layer in
  16 bits, with memory-efficient attention; 2 x hidden with gradient checkpointing), and the logits and
  their gradient in fp32 (tokens x vocabulary x 8 bytes),
* a fixed overhead for the CUDA context and the allocator (1 GiB on a GPU).

:func:`fit_advice` compares it with the device and, when it does not fit, says which changes would.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.hardware import GIB, Device

GATED_MLP_TYPES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
                   "gemma3", "gemma3_text", "phi3", "olmo", "olmo2", "granite", "cohere", "deepseek_v2",
                   "deepseek_v3", "smollm3", "t5", "mt5", "umt5")
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a model that drive its memory use."""

    model_type: str
    params: int
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    encoder_decoder: bool = False
    exact: bool = False  # True when counted from the weight files

    @property
    def head_dim(self) -> int:
        return self.hidden // max(self.heads, 1)


def _get(cfg: dict, *names, default=None):
    for name in names:
        if cfg.get(name) is not None:
            return cfg[name]
    return default


def count_safetensors_params(folder: Path) -> int | None:
    """The number of parameters in the ``*.safetensors`` files of ``folder`` (headers only), or None."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    try:
        for path in files:
            with path.open("rb") as fh:
                (size,) = struct.unpack("<Q", fh.read(8))
                if size > 100 * 2**20:
                    return None
                header = json.loads(fh.read(size))
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                n = 1
                for d in info.get("shape", []):
                    n *= d
                total += n
    except (OSError, ValueError, struct.error):
        return None
    return total


def shape_from_config(cfg: dict, folder: Path | None = None) -> ModelShape:
    """A :class:`ModelShape` from a ``config.json`` dict (and the weight headers in ``folder``, if any)."""
    text = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else None
    c = {**cfg, **text} if text else cfg
    model_type = str(c.get("model_type") or cfg.get("model_type") or "?")
    hidden = int(_get(c, "hidden_size", "n_embd", "d_model", "dim", default=0) or 0)
    layers = int(_get(c, "num_hidden_layers", "n_layer", "num_layers", "n_layers", default=0) or 0)
    encoder_decoder = bool(cfg.get("is_encoder_decoder"))
    dec_layers = int(_get(c, "num_decoder_layers", "decoder_layers", default=layers) or layers) if encoder_decoder else 0
    if encoder_decoder and "encoder_layers" in c:
        layers = int(c["encoder_layers"])
    heads = int(_get(c, "num_attention_heads", "n_head", "num_heads", "encoder_attention_heads", default=1) or 1)
    kv_heads = int(_get(c, "num_key_value_heads", default=heads) or heads)
    intermediate = int(_get(c, "intermediate_size", "n_inner", "d_ff", "ffn_dim", "encoder_ffn_dim",
                            default=4 * hidden) or 4 * hidden)
    vocab = int(_get(c, "vocab_size", default=32000) or 32000)
    experts = int(_get(c, "num_local_experts", "num_experts", default=1) or 1)
    gated = model_type in GATED_MLP_TYPES or "gated" in str(c.get("feed_forward_proj", ""))
    head_dim = int(_get(c, "head_dim", "d_kv", default=hidden // max(heads, 1)) or hidden // max(heads, 1))
    attn = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
    mlp = (3 if gated else 2) * hidden * intermediate * experts
    per_layer = attn + mlp + 4 * hidden
    tied = c.get("tie_word_embeddings", cfg.get("tie_word_embeddings", True))
    embeddings = vocab * hidden * (1 if tied else 2)
    params = embeddings + layers * per_layer
    if encoder_decoder:
        params += dec_layers * (per_layer + attn)  # decoder layers also have cross-attention
    exact = False
    if folder is not None:
        counted = count_safetensors_params(folder)
        if counted:
            params, exact = counted, True
    return ModelShape(model_type, int(params), hidden, layers + dec_layers, intermediate, heads, kv_heads, vocab,
                      encoder_decoder, exact)


def load_shape(model_dir: Path | str) -> ModelShape:
    """The :class:`ModelShape` of a Hugging Face model folder (reads config.json and weight headers only)."""
    folder = Path(model_dir)
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return shape_from_config(cfg, folder)


def lora_params(shape: ModelShape, rank: int) -> int:
    """Trainable parameters of LoRA adapters of ``rank`` on every linear projection of every layer."""
    h, f, kv = shape.hidden, shape.intermediate, shape.kv_heads * shape.head_dim
    per_layer = rank * ((h + h) * 2 + (h + kv) * 2 + (h + f) * 2 + (f + h))
    return shape.layers * per_layer


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed by a training job, by part; ``total`` is their sum."""

    weights: int
    gradients_and_optimizer: int
    activations: int
    overhead: int
    trainable_params: int
    total_params: int
    device_kind: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return self.weights + self.gradients_and_optimizer + self.activations + self.overhead

    def describe(self) -> str:
        """``"about 5.2 GiB (weights 2.9, optimizer 0.3, activations 1.5, overhead 0.5)"``."""
        parts = (f"weights {self.weights / GIB:.1f}, gradients+optimizer {self.gradients_and_optimizer / GIB:.1f}, "
                 f"activations {self.activations / GIB:.1f}, overhead {self.overhead / GIB:.1f}")
        return f"about {self.total / GIB:.1f} GiB ({parts} GiB)"


def estimate_memory(shape: ModelShape, config: TrainConfig, device_kind: str = "cuda",
                    bf16: bool = True) -> MemoryEstimate:
    """Estimate the peak memory of training ``shape`` with ``config`` on a ``device_kind`` device."""
    gpu = device_kind in ("cuda", "mps")
    half = gpu and config.precision != "fp32" and (bf16 or config.precision == "fp16" or device_kind == "cuda")
    act_bytes = 2 if half else 4
    notes = []
    if config.method == "full":
        trainable = shape.params
        weights = shape.params * 4
    else:
        trainable = lora_params(shape, config.lora_r)
        if config.method == "qlora":
            per_weight = 0.5 if config.quantization_bits == 4 else 1.0
            weights = int(shape.params * per_weight * 1.07) + shape.vocab * shape.hidden * 2  # head stays 16-bit
        else:
            weights = shape.params * (2 if half else 4)
        weights += trainable * 4
        if config.method == "dora":
            notes.append("DoRA needs a little more activation memory than LoRA.")
    optimizer = trainable * (4 + 8)
    tokens = config.batch_size * config.max_seq_length
    if config.gradient_checkpointing:
        per_token_layer = 2 * shape.hidden * act_bytes
        one_layer = tokens * (34 * shape.hidden * act_bytes // 2)
    else:
        per_token_layer = 34 * shape.hidden * act_bytes // 2 + 3 * shape.intermediate * act_bytes
        one_layer = 0
    activations = tokens * shape.layers * per_token_layer + one_layer + tokens * shape.vocab * 8
    if config.method == "dora":
        activations = int(activations * 1.15)
    overhead = GIB if device_kind == "cuda" else GIB // 2
    return MemoryEstimate(int(weights), int(optimizer), int(activations), int(overhead), int(trainable),
                          int(shape.params), device_kind, tuple(notes))


@dataclass(frozen=True)
class FitAdvice:
    """Whether a job fits its device, and what to change if it does not."""

    estimate: MemoryEstimate
    available: int
    device: str
    fits: bool
    suggestions: tuple[str, ...] = ()
    speed_tip: str = ""

    def message(self) -> str:
        """A paragraph for people: the estimate, the device, and the suggestions."""
        head = (f"This job needs {self.estimate.describe()}; {self.device} has "
                f"{self.available / GIB:.1f} GiB.")
        if self.fits:
            return head + " It should fit." + (f" {self.speed_tip}" if self.speed_tip else "")
        tips = "\n".join(f"• {s}" for s in self.suggestions) or "• Choose a smaller model."
        return head + " It will probably run out of memory. Changes that reduce it:\n" + tips


def _alternatives(config: TrainConfig, accelerator: str) -> list[tuple[str, str, TrainConfig]]:
    """``(sentence, short name, changed config)`` for each change that lowers the memory needed."""
    out = []
    if config.method == "full":
        out.append(("Use LoRA instead of full fine-tuning", "LoRA", replace(config, method="lora")))
    if config.method in ("lora", "dora", "full") and accelerator == "cuda":
        out.append(("Use QLoRA (4-bit; needs bitsandbytes)", "QLoRA 4-bit",
                    replace(config, method="qlora", quantization_bits=4)))
    if not config.gradient_checkpointing:
        out.append(("Turn on gradient checkpointing", "gradient checkpointing",
                    replace(config, gradient_checkpointing=True)))
    if config.batch_size > 1:
        b, acc = max(1, config.batch_size // 2), config.gradient_accumulation * 2
        out.append((f"Use batch size {b} with gradient accumulation {acc} (same effective batch)",
                    f"batch size {b}", replace(config, batch_size=b, gradient_accumulation=acc)))
    if config.max_seq_length > 256:
        n = config.max_seq_length // 2
        out.append((f"Shorten the maximum sequence length to {n}", f"sequences of {n} tokens",
                    replace(config, max_seq_length=n)))
    return out


def fit_advice(shape: ModelShape, config: TrainConfig, device: Device, headroom: float = 0.9) -> FitAdvice:
    """Compare the estimate with ``device``'s memory (free memory for the CPU, total for a GPU, times
    ``headroom``) and list the changes that would make the job fit, each with its own estimate."""
    est = estimate_memory(shape, config, device.kind, device.bf16)
    label = device.label
    if device.kind != "cpu":
        available = device.total_memory
    else:  # a container's cgroup limit (memory.max / memory.limit_in_bytes) binds before the machine's RAM
        available, note = memory_available_to_jobs(device.free_memory, device.total_memory)
        label = f"{label}, {note}" if note else label
    limit = available * headroom
    if est.total <= limit:
        tip = ""
        if config.gradient_checkpointing:
            without = estimate_memory(shape, replace(config, gradient_checkpointing=False), device.kind,
                                      device.bf16).total
            if without <= limit * 0.8:
                tip = (f"There is room to turn off gradient checkpointing (about {without / GIB:.1f} GiB "
                       "without it), which trains about 30% faster.")
        return FitAdvice(est, available, label, True, speed_tip=tip)
    suggestions = []
    combined, applied = config, []
    together_fits = None
    for text, short, alt in _alternatives(config, device.kind):
        alt_est = estimate_memory(shape, alt, device.kind, device.bf16).total
        suggestions.append(f"{text}: about {alt_est / GIB:.1f} GiB" + (" (fits)." if alt_est <= limit else "."))
        if together_fits is None:
            combined = _merge(combined, alt, config)
            applied = [a for a in applied if not (short.startswith("QLoRA") and a == "LoRA")] + [short]
            together = estimate_memory(shape, combined, device.kind, device.bf16).total
            if together <= limit:
                together_fits = (list(applied), together)
    if together_fits and len(together_fits[0]) > 1 and not any("(fits)" in s for s in suggestions):
        suggestions.append(f"Together ({' + '.join(together_fits[0])}): about "
                           f"{together_fits[1] / GIB:.1f} GiB (fits).")
    return FitAdvice(est, available, label, False, tuple(suggestions))


def _merge(acc: TrainConfig, alt: TrainConfig, base: TrainConfig) -> TrainConfig:
    changed = {k: v for k, v in alt.to_dict().items() if base.to_dict()[k] != v}
    if changed.get("method") == "lora" and acc.method == "qlora":
        changed.pop("method")
    return replace(acc, **changed)


# ---------------------------------------------------------------------------------------------- cgroups
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
_NO_LIMIT = 2**60  # cgroup v1 writes ~2**63 for "no limit"


@dataclass(frozen=True)
class CgroupMemory:
    """The memory limit of the container/cgroup this process runs in (None: no limit or not Linux)."""

    limit: int | None
    usage: int | None
    oom_kills: int | None
    folder: Path | None  # the cgroup folder whose limit applies (the tightest one up the tree)
    version: int = 0  # 1 or 2; 0 when no cgroup memory controller was found


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text in ("", "max"):
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _NO_LIMIT else value


def _read_key(path: Path, key: str) -> int | None:
    """``key N`` from a flat-keyed cgroup file (memory.events, memory.oom_control)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def own_cgroup_folders(root: Path | None = None, proc_cgroup: Path | None = None) -> list[tuple[int, Path]]:
    """``[(version, folder), ...]`` of this process's memory cgroup and its ancestors, innermost first."""
    root, proc_cgroup = root or CGROUP_ROOT, proc_cgroup or PROC_CGROUP
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    found: list[tuple[int, Path]] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, relative = parts
        if hierarchy == "0" and controllers == "":
            version, base = 2, root if (root / "cgroup.controllers").exists() else root / "unified"
        elif "memory" in controllers.split(","):
            version, base = 1, root / "memory"
        else:
            continue
        folder = base / relative.lstrip("/")
        if not folder.exists():
            folder = base  # inside a container the cgroup's own folder is mounted as the root
        chain = [folder] + [p for p in folder.parents if str(p).startswith(str(base))]
        found.extend((version, f) for f in chain)
    return found


def cgroup_memory(root: Path | None = None, proc_cgroup: Path | None = None) -> CgroupMemory:
    """The tightest cgroup v1/v2 memory limit over this process (``memory.max`` /
    ``memory.limit_in_bytes``), the usage there and its OOM-kill count."""
    best: CgroupMemory | None = None
    for version, folder in own_cgroup_folders(root, proc_cgroup):
        if version == 2:
            limit, usage = _read_int(folder / "memory.max"), _read_int(folder / "memory.current")
            kills = _read_key(folder / "memory.events", "oom_kill")
        else:
            limit, usage = _read_int(folder / "memory.limit_in_bytes"), _read_int(folder / "memory.usage_in_bytes")
            kills = _read_key(folder / "memory.oom_control", "oom_kill")
        if limit is None and best is None and (usage is not None or kills is not None):
            best = CgroupMemory(None, usage, kills, folder, version)
        if limit is not None and (best is None or best.limit is None or limit < best.limit):
            best = CgroupMemory(limit, usage, kills if kills is not None else (best.oom_kills if best else None),
                                folder, version)
    return best or CgroupMemory(None, None, None, None, 0)


def oom_kill_count(folder: Path | None = None) -> int | None:
    """How many processes the kernel's OOM killer has killed in the cgroup ``folder`` (default: this
    process's own memory cgroup). Read it before starting a worker, then pass it to :func:`was_oom_killed`."""
    if folder is None:
        folders = own_cgroup_folders()
        if not folders:
            return None
        version, folder = folders[0]
    else:
        version = 2 if (folder / "memory.events").exists() else 1
    if version == 2:
        return _read_key(folder / "memory.events", "oom_kill")
    return _read_key(folder / "memory.oom_control", "oom_kill")


def was_oom_killed(returncode: int | None, oom_kills_before: int | None = None, *,
                   peak_bytes: int | None = None, folder: Path | None = None) -> bool:
    """True when a worker that ended with ``returncode`` -9 (SIGKILL; 137 from a shell) was killed by the
    kernel for lack of memory: the cgroup's OOM-kill count rose since ``oom_kills_before``, or its peak
    memory (``peak_bytes``, e.g. the last ``rss`` the worker reported, or the cgroup's own record) came within
    5% of the limit (the container's, else the machine's RAM)."""
    if returncode not in (-9, 137):
        return False
    now = oom_kill_count(folder)
    if oom_kills_before is not None and now is not None and now > oom_kills_before:
        return True
    limit = _limit_for(folder)
    peaks = [p for p in (peak_bytes, _cgroup_peak(folder)) if p]
    return bool(limit and peaks and max(peaks) >= 0.95 * limit)


def out_of_memory_message(limit: int | None = None) -> str:
    """What to tell the user after :func:`was_oom_killed` said yes."""
    where = f" (the limit here is {limit / GIB:.1f} GiB)" if limit else ""
    return (f"The system stopped the training because it ran out of memory{where}. Lower the memory it needs: "
            "a smaller batch size (with more gradient accumulation), a shorter maximum length, gradient "
            "checkpointing, LoRA/QLoRA or a smaller model; then resume from the last checkpoint.")


def _limit_for(folder: Path | None) -> int | None:
    if folder is not None:
        return _read_int(folder / "memory.max") or _read_int(folder / "memory.limit_in_bytes")
    limit = cgroup_memory().limit
    if limit:
        return limit
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001
        return None


def _cgroup_peak(folder: Path | None) -> int | None:
    if folder is None:
        folders = own_cgroup_folders()
        if not folders:
            return None
        folder = folders[0][1]
    return _read_int(folder / "memory.peak") or _read_int(folder / "memory.max_usage_in_bytes")


def memory_available_to_jobs(device_free: int | None, device_total: int) -> tuple[int, str]:
    """The RAM a CPU job may use: the free memory, capped by the cgroup limit minus what the cgroup already
    uses; and a note naming the container limit when it is the tighter one."""
    available = device_free or device_total
    group = cgroup_memory()
    if group.limit:
        room = max(group.limit - (group.usage or 0), 0)
        if room < available:
            return room, f"limited to {group.limit / GIB:.1f} GiB by its container (cgroup), {room / GIB:.1f} GiB free"
    return available, ""
