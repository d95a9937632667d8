"""Every export format checked against its documented schema, from instruction, chat and text data."""

from __future__ import annotations

import json

import pytest

from desktop_ift.core.templates.exports import ExportError, export_parts, write_records

INSTRUCTION = [{"idx": 0, "system": "Be brief.", "prompt": "Capital of France?", "response": "Paris", "template": "A"},
               {"idx": 1, "system": "", "prompt": "2+2?", "response": "4", "template": "A"}]
CHAT = [{"idx": 0, "system": "You help.", "messages": [
    {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}]
TEXT = [{"idx": 0, "text": "A long document."}, {"idx": 1, "text": "Another one."}]


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def is_text(value):
    return isinstance(value, str)


# Schemas as the providers document them (field names, types, required keys, allowed roles).
def check_bedrock_prompt_completion(record):
    assert set(record) == {"prompt", "completion"} and is_text(record["prompt"]) and is_text(record["completion"])


def check_bedrock_conversation(record):
    assert record["schemaVersion"] == "bedrock-conversation-2024"
    assert set(record) <= {"schemaVersion", "system", "messages"}
    for block in record.get("system", []):
        assert set(block) == {"text"} and is_text(block["text"])
    roles = [m["role"] for m in record["messages"]]
    assert roles[0] == "user" and roles[-1] == "assistant"
    assert all(a != b for a, b in zip(roles, roles[1:])) and set(roles) <= {"user", "assistant"}
    for m in record["messages"]:
        assert set(m) == {"role", "content"} and m["content"] and all(set(c) == {"text"} and is_text(c["text"])
                                                                      for c in m["content"])


def check_bedrock_pretraining(record):
    assert set(record) == {"input"} and is_text(record["input"]) and record["input"]


def check_openai(record):
    assert set(record) == {"messages"}
    roles = [m["role"] for m in record["messages"]]
    assert set(roles) <= {"system", "user", "assistant"} and "assistant" in roles
    assert "system" not in roles[1:]
    assert all(set(m) == {"role", "content"} and is_text(m["content"]) for m in record["messages"])


def test_bedrock_prompt_completion(tmp_path):
    path = tmp_path / "out.jsonl"
    assert write_records("bedrock", INSTRUCTION, path) == 2
    records = read_lines(path)
    for r in records:
        check_bedrock_prompt_completion(r)
    assert records[0] == {"prompt": "Be brief.\n\nCapital of France?", "completion": "Paris"}
    with pytest.raises(ExportError, match="multi-turn"):
        write_records("bedrock", CHAT, path)


def test_bedrock_conversation_from_instruction_and_chat(tmp_path):
    write_records("bedrock-conversation", INSTRUCTION + CHAT, tmp_path / "c.jsonl")
    records = read_lines(tmp_path / "c.jsonl")
    for r in records:
        check_bedrock_conversation(r)
    assert records[0]["system"] == [{"text": "Be brief."}] and "system" not in records[1]
    assert records[0]["messages"][1] == {"role": "assistant", "content": [{"text": "Paris"}]}
    assert len(records[2]["messages"]) == 4


def test_bedrock_continued_pretraining(tmp_path):
    write_records("bedrock-pretraining", TEXT, tmp_path / "p.jsonl")
    records = read_lines(tmp_path / "p.jsonl")
    for r in records:
        check_bedrock_pretraining(r)
    assert records == [{"input": "A long document."}, {"input": "Another one."}]


def test_openai_chat(tmp_path):
    write_records("openai", INSTRUCTION + CHAT, tmp_path / "o.jsonl")
    records = read_lines(tmp_path / "o.jsonl")
    for r in records:
        check_openai(r)
    assert records[0]["messages"] == [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": "Capital of France?"},
                                      {"role": "assistant", "content": "Paris"}]
    assert [m["role"] for m in records[2]["messages"]] == ["system", "user", "assistant", "user", "assistant"]


def test_alpaca_is_a_json_list_of_instruction_input_output(tmp_path):
    write_records("alpaca", INSTRUCTION, tmp_path / "a.json")
    records = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert isinstance(records, list)
    for r in records:
        assert {"instruction", "input", "output"} <= set(r) <= {"instruction", "input", "output", "system"}
        assert all(is_text(v) for v in r.values())
    assert records[1] == {"instruction": "2+2?", "input": "", "output": "4"}
    with pytest.raises(ExportError, match="Continued pre-training"):
        write_records("alpaca", TEXT, tmp_path / "x.json")


def test_datasets_folder_loads_with_the_datasets_library(tmp_path):
    from datasets import load_from_disk

    written = export_parts("datasets", {"train": INSTRUCTION, "test": INSTRUCTION[:1]}, tmp_path)
    loaded = load_from_disk(str(written[0]))
    assert set(loaded) == {"train", "test"} and loaded["train"].num_rows == 2
    assert loaded["train"][0] == INSTRUCTION[0]


def test_export_parts_writes_one_file_per_split(tmp_path):
    written = export_parts("openai", {"train": INSTRUCTION, "validation": [], "test": INSTRUCTION[:1]}, tmp_path)
    assert [p.name for p in written] == ["train.openai.jsonl", "test.openai.jsonl"]


def test_datasets_folder_holds_chat_and_text_data_too(tmp_path):
    from datasets import load_from_disk

    loaded = load_from_disk(str(export_parts("datasets", {"train": CHAT, "all": TEXT}, tmp_path)[0]))
    assert loaded["train"][0]["messages"][3] == {"role": "assistant", "content": "Goodbye."}
    assert loaded["all"]["text"] == ["A long document.", "Another one."]
