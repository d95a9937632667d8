"""Writing instruction data in the formats other tools train on.

Every exporter takes data lines as :mod:`desktop_ift.core.templates.training_data` builds them
(instruction ``{"system", "prompt", "response"}``, chat ``{"system", "messages"}`` or text ``{"text"}``)
and writes one file (or a folder):

========================  ===================================================================================
``bedrock``               Amazon Bedrock fine-tuning, prompt/completion JSONL: ``{"prompt", "completion"}``
``bedrock-conversation``  Amazon Bedrock conversation JSONL: ``{"schemaVersion": "bedrock-conversation-2024",
                          "system": [{"text"}], "messages": [{"role", "content": [{"text"}]}]}``
``bedrock-pretraining``   Amazon Bedrock continued pre-training JSONL: ``{"input"}``
``openai``                OpenAI chat fine-tuning JSONL: ``{"messages": [{"role", "content"}]}``
``alpaca``                Alpaca JSON list: ``{"instruction", "input", "output"}`` (+ ``system`` when set)
``datasets``              a Hugging Face ``datasets`` folder (``load_from_disk``), one split per part
========================  ===================================================================================

A system prompt goes into the format's own system field where it has one, and in front of the prompt
(separated by a blank line) where it has none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

BEDROCK_CONVERSATION_SCHEMA = "bedrock-conversation-2024"


class ExportError(ValueError):
    """The data cannot be written in the chosen format; the text says why and which format fits."""


def _turns(line: dict) -> list[dict]:
    if "messages" in line:
        return list(line["messages"])
    if "prompt" in line:
        return [{"role": "user", "content": line["prompt"]}, {"role": "assistant", "content": line["response"]}]
    raise ExportError("Continued pre-training text has no prompt and response: export it as Bedrock continued "
                      "pre-training or as a datasets folder.")


def _with_system(system: str, text: str) -> str:
    return f"{system}\n\n{text}" if system else text


def bedrock_prompt_completion(line: dict) -> dict:
    """``{"prompt", "completion"}``; only single-turn examples fit this format."""
    turns = _turns(line)
    if len(turns) != 2:
        raise ExportError("The Bedrock prompt/completion format holds one question and one answer; this data is "
                          "multi-turn. Export it in the Bedrock conversation or OpenAI chat format.")
    return {"prompt": _with_system(line.get("system", ""), turns[0]["content"]), "completion": turns[1]["content"]}


def bedrock_conversation(line: dict) -> dict:
    """The Bedrock conversation record (``schemaVersion`` bedrock-conversation-2024)."""
    record: dict = {"schemaVersion": BEDROCK_CONVERSATION_SCHEMA}
    if line.get("system"):
        record["system"] = [{"text": line["system"]}]
    record["messages"] = [{"role": m["role"], "content": [{"text": m["content"]}]} for m in _turns(line)]
    return record


def bedrock_pretraining(line: dict) -> dict:
    """``{"input": text}``; an instruction example becomes its system, prompt and response joined."""
    if "text" in line:
        return {"input": line["text"]}
    parts = [line.get("system", "")] + [m["content"] for m in _turns(line)]
    return {"input": "\n\n".join(p for p in parts if p)}


def openai_chat(line: dict) -> dict:
    """``{"messages": [{"role": "system"|"user"|"assistant", "content"}]}``."""
    system = [{"role": "system", "content": line["system"]}] if line.get("system") else []
    return {"messages": system + [{"role": m["role"], "content": m["content"]} for m in _turns(line)]}


def alpaca(line: dict) -> dict:
    """``{"instruction", "input", "output"}`` (and ``system`` when there is one); single-turn only."""
    turns = _turns(line)
    if len(turns) != 2:
        raise ExportError("The Alpaca format holds one instruction and one answer; this data is multi-turn. "
                          "Export it in the OpenAI chat or Bedrock conversation format.")
    record = {"instruction": turns[0]["content"], "input": "", "output": turns[1]["content"]}
    if line.get("system"):
        record["system"] = line["system"]
    return record


RECORD_WRITERS: dict[str, Callable[[dict], dict]] = {
    "bedrock": bedrock_prompt_completion,
    "bedrock-conversation": bedrock_conversation,
    "bedrock-pretraining": bedrock_pretraining,
    "openai": openai_chat,
    "alpaca": alpaca,
}
FORMATS = (*RECORD_WRITERS, "datasets")
FORMAT_LABELS = {
    "bedrock": "Amazon Bedrock – prompt/completion (JSONL)",
    "bedrock-conversation": "Amazon Bedrock – conversation (JSONL)",
    "bedrock-pretraining": "Amazon Bedrock – continued pre-training (JSONL)",
    "openai": "OpenAI – chat fine-tuning (JSONL)",
    "alpaca": "Alpaca – instruction/input/output (JSON)",
    "datasets": "Hugging Face datasets folder",
}
SUFFIXES = {"alpaca": ".json", "datasets": ""}


def default_name(fmt: str, part: str) -> str:
    """A file name for one part in one format, e.g. ``train.bedrock.jsonl``."""
    return f"{part}.{fmt}{SUFFIXES.get(fmt, '.jsonl')}" if fmt != "datasets" else "dataset"


def write_records(fmt: str, lines: Iterable[dict], path: Path | str) -> int:
    """Write ``lines`` in format ``fmt`` to ``path``; returns how many records were written."""
    if fmt not in RECORD_WRITERS:
        raise ExportError(f"Unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    convert = RECORD_WRITERS[fmt]
    records = [convert(line) for line in lines]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "alpaca":
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        with path.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


def write_datasets_folder(parts: dict[str, list[dict]], folder: Path | str) -> Path:
    """Save the parts in the layout of ``datasets.DatasetDict.save_to_disk`` (one split per part), written
    with pyarrow alone so the GUI process never imports ``datasets``; ``datasets.load_from_disk`` reads it.

    Layout: ``dataset_dict.json`` (the split names) and per split ``data-00000-of-00001.arrow`` (an Arrow
    IPC stream), ``dataset_info.json`` and ``state.json``; the features are inferred from the Arrow schema.
    """
    import hashlib

    import pyarrow as pa

    folder = Path(folder)
    splits = {name: lines for name, lines in parts.items() if lines}
    if not splits:
        raise ExportError("There is nothing to export: every part is empty.")
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in splits.items():
        table = pa.Table.from_pylist([_plain(line) for line in lines])
        split_dir = folder / name
        split_dir.mkdir(exist_ok=True)
        data_file = "data-00000-of-00001.arrow"
        with pa.OSFile(str(split_dir / data_file), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        info = {"citation": "", "description": "Exported by desktop_ift", "homepage": "", "license": ""}
        (split_dir / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
        fingerprint = hashlib.sha256(json.dumps(lines, sort_keys=True, default=str).encode()).hexdigest()[:16]
        (split_dir / "state.json").write_text(json.dumps(
            {"_data_files": [{"filename": data_file}], "_fingerprint": fingerprint, "_format_columns": None,
             "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False, "_split": name}),
            encoding="utf-8")
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}), encoding="utf-8")
    return folder


def _plain(line: dict) -> dict:
    return {k: v for k, v in line.items() if k != "rows"}


def export_parts(fmt: str, parts: dict[str, list[dict]], folder: Path | str) -> list[Path]:
    """Write every part (``train``/``validation``/``test`` or ``all``) in ``fmt`` into ``folder``; returns
    the files (or the one datasets folder) written."""
    folder = Path(folder)
    if fmt == "datasets":
        return [write_datasets_folder(parts, folder / default_name(fmt, ""))]
    written = []
    for part, lines in parts.items():
        if lines:
            path = folder / default_name(fmt, part)
            write_records(fmt, lines, path)
            written.append(path)
    if not written:
        raise ExportError("There is nothing to export: every part is empty.")
    return written
