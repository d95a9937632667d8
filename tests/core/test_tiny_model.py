"""The tiny demo model is an ordinary Hugging Face folder that plain transformers can load."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


def test_folder_is_a_standard_model_folder(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not [p for p in tiny_model_dir.parent.iterdir() if p.name.startswith(".")], "no temp folder left over"
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 2


def test_plain_transformers_loads_and_generates(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<s>", "</s>", "<pad>", "<unk>")
    assert tok.chat_template, "the tiny tokenizer has a chat template"
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<s><|user|>\nHi\n<|assistant|>\n"
    ids = tok(text, add_special_tokens=False, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] <= ids["input_ids"].shape[1] + 3
    # Words from the training texts are single tokens or a few pieces, not bytes.
    assert len(tok("billing shipping technical", add_special_tokens=False)["input_ids"]) <= 6


def test_same_texts_and_seed_give_the_same_model(tmp_path, tiny_model_dir, toy):
    from safetensors.torch import load_file

    from desktop_ift.core.training.tiny_model import build_tiny_model
    again = build_tiny_model(tmp_path / "again", toy.texts(), vocab_size=512)
    a, b = load_file(tiny_model_dir / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tiny_model_dir / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_an_existing_folder_is_left_alone(tmp_path, tiny_model_dir):
    from desktop_ift.core.training.tiny_model import build_tiny_model

    before = (tiny_model_dir / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tiny_model_dir, ["other text"]) == tiny_model_dir
    assert (tiny_model_dir / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.slow
def test_two_processes_building_at_once_both_get_a_whole_model(tmp_path):
    code = (
        "import sys; from desktop_ift.core.training.tiny_model import build_tiny_model;"
        "p = build_tiny_model(sys.argv[1], ['hello world'] * 20, vocab_size=300);"
        "from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained(p); print('ok')"
    )
    target = tmp_path / "models" / "tiny"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert all(out.strip().endswith("ok") for out, _ in results)
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny"]
