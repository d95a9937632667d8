"""What each test line asks and expects, for instruction and chat data, and the chat context given to the
model: the history through its chat template with the generation prompt, the tokens training used."""

from __future__ import annotations

import pytest

from desktop_ift.core.evaluation.items import EvalDataError, data_format, eval_items
from desktop_ift.core.evaluation.response_loss import chat_answer_encoding

CONVERSATION = {"idx": 7, "system": "Be brief.", "messages": [
    {"role": "user", "content": "My invoice is wrong."}, {"role": "assistant", "content": "Which one?"},
    {"role": "user", "content": "The March one."}, {"role": "assistant", "content": "billing"}]}


def test_chat_lines_score_the_last_assistant_turn_with_the_history_as_context():
    (item,) = eval_items([CONVERSATION])
    assert item.idx == 7 and item.references == ["billing"] and item.answer == "billing"
    assert item.history == CONVERSATION["messages"][:3]
    assert item.shown == "user: My invoice is wrong.\nassistant: Which one?\nuser: The March one."
    with pytest.raises(EvalDataError, match="conversation 3 has no assistant turn"):
        eval_items([{"idx": 3, "messages": [{"role": "user", "content": "hi"}]}])


def test_instruction_lines_may_carry_several_references():
    items = eval_items([{"idx": 0, "prompt": "p", "response": "a", "references": ["a", "b", " "]},
                        {"idx": 1, "prompt": "q", "response": "c"}])
    assert [i.references for i in items] == [["a", "b"], ["c"]]
    assert data_format([{"text": "doc"}]) == "text" and eval_items([{"text": "doc"}]) == []


def test_the_chat_context_is_the_template_with_its_generation_prompt(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tok.chat_template
    (item,) = eval_items([CONVERSATION])
    context, answer = chat_answer_encoding(tok, item)
    expected = tok.apply_chat_template([{"role": "system", "content": "Be brief."}] + item.history,
                                       tokenize=False, add_generation_prompt=True)
    # as in training, an earlier assistant turn ends with eos where the template writes no end marker
    assert tok.decode(context).replace(tok.eos_token, "") == expected
    assert tok.decode(context).count(tok.eos_token) == 1
    assert tok.decode(answer).startswith("billing") and answer[-1] == tok.eos_token_id
