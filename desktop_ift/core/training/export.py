"""Export a trained model out of the workspace: the run's folder as it is, or a LoRA adapter merged into its
base model as a standalone model that tools without adapter support (serving engines, converters) load.

The export is written to ``<dest>.partial`` next to the destination and renamed at the end, so a failure
halfway (a full disk, a missing base model) never leaves a folder that looks complete. The destination must
not exist yet, or be an empty folder: nothing the user has is overwritten. Merging loads torch and the base
model, so it runs in a child process (``desktop-ift runs export-model``), never in the GUI.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from desktop_ift.core.errors import WorkerError
from desktop_ift.core.modeling import adapter_base_model, load_generation_model


class ExportError(WorkerError):
    """An export that cannot be done, in plain words (what is wrong and what to do)."""


@dataclass(frozen=True)
class ExportResult:
    dest: Path
    kind: str  # "adapter", "merged" or "full"
    files: int
    bytes: int

    def describe(self) -> str:
        what = {"adapter": "the LoRA adapter (load it on its base model with peft)",
                "merged": "a standalone model: the adapter merged into its base (loads with transformers alone)",
                "full": "the fully fine-tuned model (loads with transformers alone)"}[self.kind]
        return f"Exported {what} to {self.dest} ({self.files} files, {self.bytes / 2**20:,.1f} MiB)."


def trained_model_folder(store, run_id: str) -> Path:
    """The output folder of a finished training run; ExportError saying why when there is none."""
    run = store.get_run(run_id)
    if run.kind != "train":
        raise ExportError(f"Run {run_id} is an {run.kind} run; only training runs have a model to export.")
    folder = Path(run.output_dir) if run.status == "finished" and run.output_dir else None
    if folder is None or not folder.is_dir():
        raise ExportError(f"Run {run_id} has no trained model to export ({run.status}).",
                          hint="Export a finished training run, or resume this one to the end first.")
    return folder


def is_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").exists() and not (folder / "config.json").exists()


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} already exists and is not an empty folder; nothing was written.",
                          hint="Choose a new folder name (it is created), or an empty folder.")


def _merge(source: Path, target: Path) -> None:
    """Load the base named by the adapter, merge the adapter into it, and save a standalone model."""
    base = adapter_base_model(source)
    if not base or not Path(base).is_dir():
        raise ExportError(f"The base model the adapter was trained on ({base or 'not named'}) is not on this "
                          "computer, so the adapter cannot be merged into it.",
                          hint="Export the adapter alone, or put the base model back at that path.")
    model = load_generation_model(base, adapter=source, dtype="auto")
    merged = model.merge_and_unload()
    merged.config.use_cache = True
    merged.save_pretrained(str(target), safe_serialization=True)
    # the rest of the run's output as it is: the tokenizer it trained with, the model card, config.yaml, the job
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("adapter_") and not (target / item.name).exists():
            shutil.copy2(item, target / item.name)
    card = target / "README.md"
    if card.exists():
        card.write_text(card.read_text(encoding="utf-8").rstrip() + "\n\n## Merged model\n\nThis folder is the "
                        f"LoRA adapter of this run merged into its base model (`{base}`): a standalone model that "
                        "`AutoModelFor….from_pretrained` loads without peft.\n", encoding="utf-8")


def export_model(source: Path | str, dest: Path | str, merge: bool = False) -> ExportResult:
    """Write the model in ``source`` (a run's output folder) to ``dest``; with ``merge``, an adapter is merged
    into its base model first (a full fine-tune is standalone already, ``merge`` changes nothing)."""
    source, dest = Path(source), Path(dest).expanduser()
    if not source.is_dir():
        raise ExportError(f"The model folder {source} is missing.", hint="It may have been deleted or moved.")
    _check_destination(dest)
    adapter = is_adapter(source)
    kind = "merged" if adapter and merge else "adapter" if adapter else "full"
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if kind == "merged":
            partial.mkdir()
            _merge(source, partial)
        else:
            shutil.copytree(source, partial)
        if dest.exists():  # an empty folder the user chose
            dest.rmdir()
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    files = [p for p in dest.rglob("*") if p.is_file()]
    return ExportResult(dest, kind, len(files), sum(p.stat().st_size for p in files))


def export_summary(result: ExportResult) -> str:
    """One JSON line for scripts (the CLI prints it after the sentence)."""
    return json.dumps({"dest": str(result.dest), "kind": result.kind, "files": result.files, "bytes": result.bytes})
