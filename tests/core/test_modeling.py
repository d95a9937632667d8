"""Loading model folders (modeling.py), finding hub models (hub_cache.py) and formatting examples
(prompt_format.py), on the real tiny model."""

from __future__ import annotations

import json
import shutil

import pytest

from desktop_ift.core import hub_cache, modeling, prompt_format
from desktop_ift.core.errors import ModelFolderError


@pytest.fixture
def model_copy(tmp_path, tiny_model_dir):
    """A writable copy of the tiny model folder."""
    return shutil.copytree(tiny_model_dir, tmp_path / "copy")


def test_missing_pad_token_becomes_eos(model_copy):
    cfg_path = model_copy / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("pad_token", None)
    cfg_path.write_text(json.dumps(cfg))
    tok = modeling.load_tokenizer(model_copy, padding_side="left")
    assert tok.pad_token == tok.eos_token == "</s>"
    assert tok.padding_side == "left"


def test_pad_token_is_kept_when_present(tiny_model_dir):
    tok = modeling.load_tokenizer(tiny_model_dir)
    assert tok.pad_token == "<pad>" and tok.padding_side == "right"


def test_format_prompt_uses_the_chat_template(tiny_model_dir):
    tok = modeling.load_tokenizer(tiny_model_dir)
    assert prompt_format.format_prompt(tok, "Be brief.", "Hello") == "<s><|system|>\nBe brief.\n<|user|>\nHello\n<|assistant|>\n"
    assert prompt_format.format_prompt(tok, "", "Hello") == "<s><|user|>\nHello\n<|assistant|>\n"


def test_format_prompt_without_chat_template_uses_the_plain_layout(tiny_model_dir):
    tok = modeling.load_tokenizer(tiny_model_dir)
    tok.chat_template = None
    assert prompt_format.format_prompt(tok, "", "Hello") == "### Instruction:\nHello\n\n### Response:\n"
    assert prompt_format.format_prompt(tok, "Be brief.", "Hello") == (
        "Be brief.\n\n### Instruction:\nHello\n\n### Response:\n")
    # Without the template the bos token is added by encoding, not written in the text.
    ids = prompt_format.encode_prompt(tok, prompt_format.format_prompt(tok, "", "Hello"))
    assert isinstance(ids, list) and ids


def test_training_and_evaluation_see_the_same_prompt_tokens(tiny_model_dir):
    tok = modeling.load_tokenizer(tiny_model_dir)
    prompt_text, full_text = prompt_format.format_example(tok, "Sys", "Ticket: refund please", "billing")
    assert full_text == prompt_text + "billing" + tok.eos_token
    prompt_ids, completion_ids = prompt_format.encode_example(tok, prompt_text, full_text)
    assert prompt_ids == prompt_format.encode_prompt(tok, prompt_format.format_prompt(tok, "Sys", "Ticket: refund please"))
    assert prompt_ids.count(tok.bos_token_id) == 1, "the chat template writes <s>; encoding must not add another"
    assert completion_ids[-1] == tok.eos_token_id
    assert tok.decode(completion_ids, skip_special_tokens=True) == "billing"


def test_tiny_model_loads_through_the_same_code_as_any_folder(tiny_model_dir):
    model = modeling.load_causal_lm(tiny_model_dir)
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training


def test_folder_without_config_json(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelFolderError, match="no config.json") as info:
        modeling.load_causal_lm(tmp_path)
    assert str(tmp_path) in info.value.message and info.value.hint


def test_missing_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        modeling.resolve_model(str(tmp_path / "nowhere"), tmp_path)


def test_folder_without_weights(model_copy):
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="no weights"):
        modeling.load_causal_lm(model_copy)


def test_encoder_decoder_models_are_refused_with_a_reason(model_copy):
    cfg = json.loads((model_copy / "config.json").read_text())
    cfg.update(model_type="t5", is_encoder_decoder=True)
    (model_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match="encoder-decoder"):
        modeling.load_causal_lm(model_copy)


def test_adapter_folder_given_as_model(tmp_path, tiny_model_dir):
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    with pytest.raises(ModelFolderError, match="LoRA adapter, not a whole model"):
        modeling.load_causal_lm(adapter)


def test_adapter_loads_on_its_base(tmp_path, tiny_model_dir):
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    model = modeling.load_causal_lm(tiny_model_dir, adapter=adapter)
    assert type(model).__name__ == "PeftModelForCausalLM"


def test_adapter_for_another_base_is_a_clear_error(tmp_path, tiny_model_dir, toy):
    from desktop_ift.core.training.tiny_model import build_tiny_model

    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    other = build_tiny_model(tmp_path / "other", toy.texts(), vocab_size=512, hidden_size=64, intermediate_size=128)
    with pytest.raises(ModelFolderError, match="does not fit the base model") as info:
        modeling.load_causal_lm(other, adapter=adapter)
    assert "Choose the base model the adapter was trained on" in info.value.hint


def test_whole_model_given_as_adapter(tiny_model_dir):
    with pytest.raises(ModelFolderError, match="whole model, not a LoRA adapter"):
        modeling.load_causal_lm(tiny_model_dir, adapter=tiny_model_dir)


def _make_adapter(base_dir, target):
    """An untrained LoRA adapter saved the way training saves one."""
    from desktop_ift.core.training.config import TrainConfig
    from desktop_ift.core.training.recipe import apply_lora

    model = apply_lora(modeling.load_causal_lm(base_dir, for_training=True), TrainConfig(lora_r=4, lora_alpha=8))
    model.save_pretrained(target)
    return target


def test_a_hub_id_is_looked_up_in_the_local_cache_only_when_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFolderError, match="not in the local Hugging Face cache, and online access is off") as info:
        modeling.resolve_model("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)
    assert "enable online access" in info.value.hint
    with pytest.raises(ModelFolderError, match="does not exist"):
        modeling.resolve_model("./not/a/hub id", tmp_path)


def test_encoder_decoder_folders_are_recognised_without_loading(model_copy):
    assert not modeling.is_encoder_decoder(model_copy)
    cfg = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**cfg, "model_type": "t5", "is_encoder_decoder": True}))
    assert modeling.is_encoder_decoder(model_copy)


def _fake_hub_cache(root, hub_id, revisions, main=None):
    repo = root / ("models--" + hub_id.replace("/", "--"))
    for rev in revisions:
        (repo / "snapshots" / rev).mkdir(parents=True)
        (repo / "snapshots" / rev / "config.json").write_text(json.dumps({"model_type": "llama"}))
    if main:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(main + "\n")
    return repo


def test_a_hub_id_in_the_local_cache_resolves_without_network(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_cache.hub_cache_dir() == tmp_path / "hf-home" / "hub"
    repo = _fake_hub_cache(tmp_path / "hf-home" / "hub", "acme/tiny", ["old", "new"], main="old")
    assert modeling.resolve_model("acme/tiny", tmp_path) == repo / "snapshots" / "old"  # refs/main wins
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "other"))  # read now, not at import
    assert hub_cache.find_in_hub_cache("acme/tiny") is None
    repo = _fake_hub_cache(tmp_path / "other", "acme/tiny", ["a", "b"])
    import os

    os.utime(repo / "snapshots" / "a", (1, 1))
    assert hub_cache.find_in_hub_cache("acme/tiny") == repo / "snapshots" / "b"  # no refs: the newest
    assert hub_cache.find_in_hub_cache("not an id") is None
    assert hub_cache.looks_like_hub_id("acme/tiny") and not hub_cache.looks_like_hub_id(str(tmp_path))


def test_an_adapter_folder_names_its_base_model(tmp_path, tiny_model_dir):
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    assert modeling.adapter_base_model(adapter) == str(tiny_model_dir)
    assert modeling.adapter_base_model(tiny_model_dir) is None  # a whole model is not an adapter
    model = modeling.load_generation_model(tiny_model_dir, adapter=adapter)
    assert type(model).__name__ == "PeftModelForCausalLM" and not model.training


def test_encoder_inputs_at_evaluation_equal_those_of_seq2seq_training(tiny_model_dir):
    from desktop_ift.core.training.collator import tokenize_seq2seq_rows

    tok = modeling.load_tokenizer(tiny_model_dir)
    rows = [{"system": "Classify.", "prompt": "Ticket: refund please " * 8, "response": "billing"},
            {"system": "", "prompt": "Ticket: late parcel", "response": "shipping"}]
    trained = tokenize_seq2seq_rows(rows, tok, max_seq_length=16)
    for row, features in zip(rows, trained):
        text = prompt_format.format_model_prompt(tok, row["system"], row["prompt"], seq2seq=True)
        assert prompt_format.encode_source(tok, text, max_length=16) == features["input_ids"]
