"""The validation panel's findings, each pointing at its rows."""

from __future__ import annotations

import pyarrow as pa
import pytest

from desktop_ift.core.templates.conversation import ConversationSpec, PretrainSpec, build_conversations
from desktop_ift.core.templates.render import PromptTemplate
from desktop_ift.core.templates.template_set import TemplateSet
from desktop_ift.core.templates.token_preview import LightTokenizer
from desktop_ift.core.templates.validation import validate, validate_source

ROWS = pa.table({"q": ["a", "b", "a", "", "long " * 200], "ans": ["1", "", "1", "x", "2"]})


def by_kind(report):
    return {p.kind: p for p in report.problems}


def test_unknown_placeholder_is_an_error_with_line_and_column():
    report = validate(TemplateSet.single(PromptTemplate("Hi\n  {{ qq }}", "{{ ans }}")), ROWS)
    problem = by_kind(report)["template"]
    assert problem.severity == "error" and (problem.line, problem.column) == (2, 6) and "qq" in problem.text
    assert "Did you mean 'q'" in problem.text and not report.can_train


def test_empty_fields_and_duplicates_link_to_their_rows():
    report = validate(TemplateSet.single(PromptTemplate("{{ q }}", "{{ ans }}")), ROWS)
    found = by_kind(report)
    assert found["empty_response"].rows == [1] and found["empty_response"].severity == "warning"
    assert found["empty_prompt"].rows == [3]
    assert found["duplicate"].rows == [0, 2] and "1 example exactly repeats" in found["duplicate"].message
    assert report.can_train


def test_conflicting_answers_to_the_same_prompt_are_reported():
    t = pa.table({"q": ["same", "same", "other"], "ans": ["yes", "no", "yes"]})
    report = validate(TemplateSet.single(PromptTemplate("{{ q }}", "{{ ans }}")), t)
    assert by_kind(report)["conflict"].rows == [0, 1]


def test_every_response_empty_blocks_training():
    t = pa.table({"q": ["a", "b"], "ans": ["", " "]})
    report = validate(TemplateSet.single(PromptTemplate("{{ q }}", "{{ ans }}")), t)
    assert by_kind(report)["empty_response"].severity == "error" and not report.can_train


def test_too_long_rows_are_counted_with_a_histogram_and_the_cut_off(tiny_model_dir):
    tok = LightTokenizer(tiny_model_dir)
    report = validate(TemplateSet([PromptTemplate("{{ q }}", "{{ ans }}"), PromptTemplate("Q {{ q }}", "{{ ans }}")],
                                  mode="all"), ROWS, tok, max_seq_length=64)
    assert len(report.lengths) == 10 and report.n_too_long == 2
    assert by_kind(report)["too_long"].rows == [4]
    counts, edges = report.histogram
    assert counts.sum() == 10 and edges[0] == 0 and edges[-1] > report.lengths.max()
    assert edges[-1] > 64  # the cut-off lies inside the plotted range


def test_conversation_roles_must_alternate_and_end_with_the_assistant():
    t = pa.table({"c": [1, 1, 2, 2, 3, 3, 4], "turn": [1, 2, 1, 2, 2, 1, 1],
                  "role": ["user", "assistant", "user", "user", "Bot", "Human", "user"],
                  "text": ["q", "a", "q", "q2", "a", "q", "q"]})
    conversations, problems = build_conversations(t, ConversationSpec("c", "role", "text", turn_column="turn"))
    assert [c["conversation"] for c in conversations] == ["1", "3"]
    assert conversations[1]["messages"][0] == {"role": "user", "content": "q"}
    texts = {p.conversation: p for p in problems}
    assert "two user messages in a row (row 4)" in texts["2"].message and texts["2"].rows == [2, 3]
    assert "ends with a user message" in texts["4"].message
    report = validate_source(ConversationSpec("c", "role", "text", turn_column="turn"), t)
    assert not report.can_train and {tuple(p.rows) for p in report.errors} == {(2, 3), (6,)}


def test_missing_columns_of_chat_or_pretraining_are_named():
    report = validate_source(PretrainSpec(["body"]), ROWS)
    assert not report.can_train and "no column 'body'" in report.errors[0].message


@pytest.mark.parametrize("role, expected", [("Human", "user"), (" BOT ", "assistant"), ("system", "system")])
def test_role_spellings(role, expected):
    from desktop_ift.core.templates.conversation import normalise_role

    assert normalise_role(role) == expected


def test_chat_findings_link_to_their_conversations(tiny_model_dir):
    from desktop_ift.core.templates.token_preview import preview_example

    tok = LightTokenizer(tiny_model_dir)
    t = pa.table({"c": [1, 1, 2, 2, 3, 3, 4, 4], "role": ["user", "assistant"] * 4,
                  "text": ["hi", "yo", "hi", "yo", "help " * 80, "ok", "q", ""]})
    spec = ConversationSpec("c", "role", "text")
    report = validate_source(spec, t, tok, max_seq_length=40)
    found = by_kind(report)
    assert report.unit == "conversation" and report.n_examples == 4 and report.can_train
    assert found["duplicate"].units == [0, 1] and found["duplicate"].rows == [0, 2]
    assert found["empty_assistant"].units == [3] and found["empty_assistant"].rows == [6]
    conversations, _ = build_conversations(t, spec)
    lengths = [preview_example(tok, c, 40).n_tokens for c in conversations]
    assert report.lengths.tolist() == lengths
    long_units = [u for u, n in enumerate(lengths) if n > 40]
    assert long_units == [2] and found["too_long"].units == long_units
    assert "1 of 4 conversations" in found["too_long"].message
    assert "keeps their last answer whole" in found["too_long"].message
    # the long question is cut, its answer kept: training keeps the conversation
    assert "dropped" not in found or 2 not in found["dropped"].units


def test_long_documents_are_reported_as_split_not_cut(tiny_model_dir):
    from desktop_ift.core.training.collator import tokenize_rows

    tok = LightTokenizer(tiny_model_dir)
    t = pa.table({"body": ["short text", "refund " * 100, "", "short text"]})
    report = validate_source(PretrainSpec(["body"]), t, tok, max_seq_length=32)
    found = by_kind(report)
    assert report.unit == "document" and report.split_long and report.can_train
    assert found["empty_document"].rows == [2]
    assert found["duplicate"].units == [0, 2] and found["duplicate"].rows == [0, 3]
    pieces = len(tokenize_rows([{"text": "refund " * 100}], tok, 32, True, "text"))
    assert found["too_long"].severity == "info" and found["too_long"].units == [1]
    assert "Nothing is cut" in found["too_long"].message and f"they give {pieces} examples" in found["too_long"].message
