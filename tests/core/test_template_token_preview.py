"""The token preview (no transformers) must show exactly what the worker trains on."""

from __future__ import annotations


import numpy as np
import pyarrow as pa
import pytest

from desktop_ift.core import modeling, prompt_format
from desktop_ift.core.templates.batch_render import TableRenderer
from desktop_ift.core.templates.render import PromptTemplate
from desktop_ift.core.templates.template_set import TemplateSet
from desktop_ift.core.templates.token_preview import (
    LightTokenizer,
    PreviewError,
    TokenLengthCache,
    example_lengths,
    preview_example,
    set_lengths,
)

LINES = [
    {"system": "Be brief.", "prompt": "Ticket: my invoice is wrong\nCategory?", "response": "billing"},
    {"system": "", "prompt": "Where is my parcel?", "response": "shipping, probably"},
]
CHAT = {"system": "You help.", "messages": [
    {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Ciao"}]}


@pytest.mark.parametrize("which", ["chat", "plain"])
def test_preview_text_and_tokens_equal_the_workers(which, tiny_model_dir, plain_model_dir):
    folder = tiny_model_dir if which == "chat" else plain_model_dir
    light, real = LightTokenizer(folder), modeling.load_tokenizer(folder)
    assert bool(light.chat_template) == bool(real.chat_template) == (which == "chat")
    for line in LINES:
        preview = preview_example(light, line, max_seq_length=512)
        prompt_text, full_text = prompt_format.format_example(real, line["system"], line["prompt"], line["response"])
        prompt_ids, completion_ids = prompt_format.encode_example(real, prompt_text, full_text)
        assert preview.text == full_text
        assert preview.ids == prompt_ids + completion_ids and preview.n_tokens == len(prompt_ids) + len(completion_ids)
        assert preview.trained == [False] * len(prompt_ids) + [True] * len(completion_ids)
        assert preview.spans[1] == (full_text[len(prompt_text):], True)
    if which == "chat":
        preview = preview_example(light, CHAT, max_seq_length=512)
        ids, trained = prompt_format.encode_segments(real, prompt_format.format_chat_segments(real, CHAT["system"],
                                                                                     CHAT["messages"]))
        assert (preview.ids, preview.trained) == (ids, trained)


def test_the_loss_part_and_the_cut_off(tiny_model_dir):
    preview = preview_example(LightTokenizer(tiny_model_dir), LINES[0], max_seq_length=10)
    assert preview.truncated and preview.n_trained == 0  # the answer lies beyond the cut
    full = preview_example(LightTokenizer(tiny_model_dir), LINES[0], max_seq_length=512)
    assert full.n_trained == sum(full.trained) > 0 and "".join(full.token_strings) == full.text


def test_batch_lengths_equal_one_by_one_encoding(tiny_model_dir):
    light, real = LightTokenizer(tiny_model_dir), modeling.load_tokenizer(tiny_model_dir)
    systems = ["Be brief.", "", "Be brief."] * 5
    prompts = [f"question number {i} about {{braces}}" for i in range(15)]
    responses = ["billing", "a longer answer here", "billing"] * 5
    p, c = example_lengths(light, systems, prompts, responses)
    for i in range(15):
        prompt_text, full_text = prompt_format.format_example(real, systems[i], prompts[i], responses[i])
        prompt_ids, completion_ids = prompt_format.encode_example(real, prompt_text, full_text)
        assert (p[i], c[i]) == (len(prompt_ids), len(completion_ids))


def test_an_unchanged_template_is_never_tokenized_twice(tiny_model_dir):
    tok = LightTokenizer(tiny_model_dir)
    table = pa.table({"q": [f"q{i}" for i in range(50)], "a": ["x"] * 50})
    renderer = TableRenderer(table)
    a, b = PromptTemplate("{{ q }}", "{{ a }}", name="a"), PromptTemplate("Q: {{ q }}", "{{ a }}", name="b")
    cache = TokenLengthCache()
    first = set_lengths(tok, TemplateSet([a, b], mode="all"), renderer, "ds1:v1", cache)
    assert cache.encoded_rows == 100
    again = set_lengths(tok, TemplateSet([a, b], mode="round_robin"), renderer, "ds1:v1", cache)
    assert cache.encoded_rows == 100  # every example was already measured
    assert np.array_equal(again["total"][::2], first["total"][::4])
    edited = PromptTemplate("Question: {{ q }}", "{{ a }}", name="b")
    set_lengths(tok, TemplateSet([a, edited], mode="all"), renderer, "ds1:v1", cache)
    assert cache.encoded_rows == 150  # only the edited template is measured again
    set_lengths(tok, TemplateSet([a], mode="all"), renderer, "ds1:v2", cache)
    assert cache.encoded_rows == 200  # a new data version is measured again


def test_a_folder_without_tokenizer_json_says_so(tmp_path):
    with pytest.raises(PreviewError, match="no tokenizer.json"):
        LightTokenizer(tmp_path)
