"""Turning rows into training batches: the three data formats, completion-only labels, packing, the cache."""

from __future__ import annotations

import json

import pytest

from desktop_ift.core.modeling import load_tokenizer
from desktop_ift.core.training import collator as col
from desktop_ift.core.training.cache import cache_key, cached_tokenize, tokenizer_fingerprint


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def _decode_trained(tok, feature):
    return tok.decode([t for t, lab in zip(feature["input_ids"], feature["labels"]) if lab != col.IGNORE_INDEX])


def test_format_is_detected_from_the_keys():
    assert col.detect_format([{"prompt": "a", "response": "b", "system": ""}]) == "instruction"
    assert col.detect_format([{"messages": [], "system": ""}]) == "chat"
    assert col.detect_format([{"text": "hello"}]) == "text"
    with pytest.raises(ValueError, match="expected prompt\\+response"):
        col.detect_format([{"question": "a"}])


def test_instruction_rows_train_on_the_response_only(tok, toy):
    row = toy.rows(3)[1]
    (feature,) = col.tokenize_rows([row], tok, 256, completion_only=True)
    assert _decode_trained(tok, feature) == row["response"] + tok.eos_token
    (whole,) = col.tokenize_rows([row], tok, 256, completion_only=False)
    assert whole["labels"] == whole["input_ids"]


def test_chat_rows_train_on_every_assistant_turn_and_nothing_else(tok):
    row = {"idx": 0, "system": "Be brief.", "messages": [
        {"role": "user", "content": "Ticket: refund please"}, {"role": "assistant", "content": "billing"},
        {"role": "user", "content": "And my parcel is late"}, {"role": "assistant", "content": "shipping"}]}
    (feature,) = col.tokenize_rows([row], tok, 256, completion_only=True)
    trained = [t for t, lab in zip(feature["input_ids"], feature["labels"]) if lab != col.IGNORE_INDEX]
    text = tok.decode(trained, skip_special_tokens=True)
    assert "billing" in text and "shipping" in text
    assert "refund" not in text and "parcel" not in text and "brief" not in text
    whole = tok.decode(feature["input_ids"])
    assert whole.startswith("<s><|system|>\nBe brief.\n<|user|>\nTicket: refund please\n<|assistant|>\nbilling")
    assert whole.count("<s>") == 1 and whole.count("</s>") == 2, "each answer ends with eos, as in instruction rows"


def test_chat_without_a_template_uses_the_plain_layout(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    tok.chat_template = None
    row = {"system": "", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "billing"}]}
    (feature,) = col.tokenize_rows([row], tok, 256, completion_only=True)
    assert "### Instruction:\nhi\n\n### Response:\n" in tok.decode(feature["input_ids"])
    assert _decode_trained(tok, feature) == "billing" + tok.eos_token


def test_text_rows_train_on_every_token_and_long_texts_are_split_not_dropped(tok):
    long_text = " ".join(["The invoice shows a wrong amount."] * 40)
    features = col.tokenize_rows([{"idx": 0, "text": long_text}], tok, 64, completion_only=True)
    assert len(features) > 2 and all(len(f["input_ids"]) <= 64 for f in features)
    assert all(f["labels"] == f["input_ids"] for f in features)
    assert sum(len(f["input_ids"]) for f in features) == len(tok(long_text)["input_ids"]) + 1  # + eos


def test_a_long_example_keeps_its_whole_response_and_loses_prompt_tokens_or_is_dropped_if_chosen(tok):
    from desktop_ift.core.prompt_format import encode_example, format_example

    row = {"system": "", "prompt": "please read all of this " * 30 + "and answer", "response": "billing"}
    prompt_ids, completion_ids = encode_example(tok, *format_example(tok, "", row["prompt"], row["response"]))
    limit = len(completion_ids) + 10
    assert len(prompt_ids) > 10
    for side in ("middle", "start"):
        (feature,) = col.tokenize_rows([row], tok, limit, completion_only=True, truncate_side=side)
        assert len(feature["input_ids"]) == limit
        assert feature["input_ids"][-len(completion_ids):] == completion_ids  # the whole answer + eos
        assert _decode_trained(tok, feature).strip().startswith("billing")
        kept = feature["input_ids"][:10]
        if side == "start":
            assert kept == prompt_ids[-10:]
        else:
            assert kept == prompt_ids[:5] + prompt_ids[-5:]
    assert col.tokenize_rows([row], tok, limit, completion_only=True, overflow="drop") == []
    short = {"system": "", "prompt": "hi", "response": "billing"}
    assert len(col.tokenize_rows([short], tok, limit, completion_only=True, overflow="drop")) == 1


def test_a_long_conversation_keeps_its_final_answer_and_its_start_and_loses_the_earliest_turns(tok):
    from desktop_ift.core.prompt_format import encode_segments, format_chat_segments

    row = {"system": "Be brief.", "messages": [
        {"role": "user", "content": "Ticket: " + "the parcel is late again " * 20},
        {"role": "assistant", "content": "shipping"},
        {"role": "user", "content": "And a refund please"}, {"role": "assistant", "content": "billing"}]}
    ids, trained = encode_segments(tok, format_chat_segments(tok, row["system"], row["messages"]))
    last = max(i for i in range(len(trained)) if trained[i] and not trained[i - 1])
    answer = ids[last:]
    limit = len(answer) + 24
    assert len(ids) > limit
    for side in ("middle", "start"):
        (feature,) = col.tokenize_rows([row], tok, limit, completion_only=True, truncate_side=side)
        assert len(feature["input_ids"]) == limit
        assert feature["input_ids"][-len(answer):] == answer, "the final answer (and eos) is kept whole"
        assert "billing" in _decode_trained(tok, feature)
        text = tok.decode(feature["input_ids"])
        assert "refund please" in text, "the turn just before the answer stays"
        assert text.startswith("<s><|system|>\nBe brief.") == (side == "middle"), "middle keeps the start"
    (short,) = col.tokenize_rows([row], tok, len(ids), completion_only=True)
    assert short["input_ids"] == ids, "a conversation that fits is not touched"
    assert col.tokenize_rows([row], tok, limit, completion_only=True, overflow="drop") == []


def test_cut_instruction_keeps_some_prompt_when_the_response_alone_is_too_long():
    from desktop_ift.core.training.plan_lengths import cut_instruction

    prompt, response = list(range(100)), list(range(1000, 1200))
    p, r = cut_instruction(prompt, response, 64, "middle")
    assert len(p) + len(r) == 64 and len(p) == 16 and r == response[:48]
    assert cut_instruction(prompt[:10], response[:5], 64) == (prompt[:10], response[:5])  # fits: unchanged


def test_best_fit_decreasing_fills_bins_without_overflow():
    lengths = [9, 2, 7, 3, 5, 1, 4]
    bins = col.best_fit_decreasing(lengths, capacity=10)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert len(bins) == 4  # total 31 needs at least 4 bins of 10
    assert col.best_fit_decreasing([15, 3], capacity=10) == [[0], [1]]


def test_packed_batch_gives_the_same_loss_as_the_examples_padded(tiny_model_dir, tok, toy):
    """Packing must change nothing but the speed: no cross-example attention, same labels."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    model.config.use_cache = False  # as in training (with a cache, transformers ignores restarting positions)
    rows = toy.rows(6) + [{"system": "", "prompt": "Ticket: hello", "response": "technical " * 9}]
    for completion_only in (True, False):
        features = col.tokenize_rows(rows, tok, 128, completion_only=completion_only)
        packed = col.PackingCollator(tok.pad_token_id, capacity=128)(features)
        padded = col.PaddingCollator(tok.pad_token_id)(features)
        assert packed["input_ids"].shape[0] < len(features), "several examples share a row"
        assert "attention_mask" not in packed
        with torch.no_grad():
            loss_packed = model(**packed).loss
            loss_padded = model(**padded).loss
        assert torch.allclose(loss_packed, loss_padded, atol=1e-5), (completion_only, loss_packed, loss_padded)
        useful = sum(len(f["input_ids"]) for f in features)
        assert packed["input_ids"].numel() < padded["input_ids"].numel() and packed["input_ids"].numel() >= useful


def test_padding_waste_is_lower_when_packed(tok, toy):
    rows = [dict(r, response=(r["response"] + " ") * (1 + i % 7)) for i, r in enumerate(toy.rows(32))]
    features = col.tokenize_rows(rows, tok, 256, completion_only=True)
    assert col.padding_waste(features, 8, packed=True, capacity=256) < col.padding_waste(features, 8, False, 256)


def test_tokenized_data_is_cached_by_file_tokenizer_and_settings(tmp_path, tok, tiny_model_dir, toy):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in toy.rows(10)), encoding="utf-8")
    fp = tokenizer_fingerprint(tok, tiny_model_dir)
    settings = {"max_seq_length": 128, "completion_only": True}
    calls = []

    def build():
        calls.append(1)
        return col.tokenize_rows(toy.rows(10), tok, 128, True)

    first, hit1 = cached_tokenize(tmp_path / "cache", cache_key(data, fp, settings), build)
    again, hit2 = cached_tokenize(tmp_path / "cache", cache_key(data, fp, settings), build)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    assert again == first

    other_settings = cache_key(data, fp, {**settings, "max_seq_length": 64})
    data.write_text(data.read_text() + json.dumps(toy.rows(11)[-1]) + "\n")  # a new dataset version
    assert len({cache_key(data, fp, settings), other_settings, cache_key(tmp_path / "train.jsonl", fp, settings)}) == 2
    tok2 = load_tokenizer(tiny_model_dir)
    tok2.chat_template = "{{ messages[0]['content'] }}"
    assert tokenizer_fingerprint(tok2, tiny_model_dir) != fp, "another chat template tokenizes differently"


def test_a_damaged_cache_entry_is_rebuilt(tmp_path):
    (tmp_path / "k.arrow").write_bytes(b"garbage")
    features, hit = cached_tokenize(tmp_path, "k", lambda: [{"input_ids": [1, 2], "labels": [-100, 2]}])
    assert not hit and features == [{"input_ids": [1, 2], "labels": [-100, 2]}]
    assert cached_tokenize(tmp_path, "k", lambda: [])[0] == features
