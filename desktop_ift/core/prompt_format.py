"""How an example is laid out for a model, the same way in training, evaluation, previews and exports.

Training and evaluation both format a row with :func:`format_prompt` / :func:`format_example` and encode
the prompt with :func:`encode_prompt`, so a fine-tuned model is asked questions exactly as it was taught.
Multi-turn chats are cut into pieces with :func:`format_chat_segments`. Everything here works on any
tokenizer object (transformers' or the light preview tokenizer) and imports nothing of the project.
"""

from __future__ import annotations

#: Used when a tokenizer has no chat template (base models): an Alpaca-like layout.
PLAIN_INSTRUCTION = "### Instruction:\n"
PLAIN_RESPONSE = "\n\n### Response:\n"


def format_prompt(tokenizer, system: str, prompt: str) -> str:
    """The text a model sees before its answer.

    With a chat template: ``tokenizer.apply_chat_template`` with the system (if any) and user messages and
    the generation prompt. Without one (base models)::

        {system}\\n\\n### Instruction:\\n{prompt}\\n\\n### Response:\\n

    (the system part and its blank line only when ``system`` is not empty).
    """
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:
            if not system:
                raise
            # Some templates reject a system role: put it in front of the user message instead.
            messages = [{"role": "user", "content": f"{system}\n\n{prompt}"}]
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    head = f"{system}\n\n" if system else ""
    return f"{head}{PLAIN_INSTRUCTION}{prompt}{PLAIN_RESPONSE}"


def format_example(tokenizer, system: str, prompt: str, response: str) -> tuple[str, str]:
    """``(prompt_text, full_text)`` with ``full_text = prompt_text + response + eos``: one training example."""
    prompt_text = format_prompt(tokenizer, system, prompt)
    return prompt_text, prompt_text + response + (tokenizer.eos_token or "")


def seq2seq_source(system: str, prompt: str) -> str:
    """The encoder input of an encoder-decoder model for one example: ``{system}\n\n{prompt}``, or the
    prompt alone without a system text -- the layout training uses (``collator.tokenize_seq2seq_rows``)."""
    return f"{system}\n\n{prompt}" if system else prompt


def encode_source(tokenizer, text: str, max_length: int = 512) -> list[int]:
    """Encoder token ids of ``text`` (with the tokenizer's special tokens), cut to ``max_length`` as in
    training."""
    return tokenizer(text, truncation=True, max_length=max_length)["input_ids"]


def format_model_prompt(tokenizer, system: str, prompt: str, seq2seq: bool) -> str:
    """What a model is given for one example: the encoder text for an encoder-decoder model
    (:func:`seq2seq_source`), else the decoder-only prompt of :func:`format_prompt`."""
    return seq2seq_source(system, prompt) if seq2seq else format_prompt(tokenizer, system, prompt)


def adds_bos_itself(tokenizer, text: str) -> bool:
    """True when ``text`` already starts with the bos token (chat templates often write it themselves)."""
    bos = getattr(tokenizer, "bos_token", None)
    return bool(bos) and text.startswith(bos)


def encode_prompt(tokenizer, prompt_text: str) -> list[int]:
    """Token ids of a formatted prompt, with the tokenizer's special tokens unless the text has them."""
    return tokenizer(prompt_text, add_special_tokens=not adds_bos_itself(tokenizer, prompt_text))["input_ids"]


def encode_example(tokenizer, prompt_text: str, full_text: str) -> tuple[list[int], list[int]]:
    """``(prompt_ids, completion_ids)`` of an example; prompt ids equal :func:`encode_prompt`'s exactly.

    The two parts are tokenized separately so the boundary is exact and the model is asked, at evaluation,
    with the very tokens it was trained on.
    """
    prompt_ids = encode_prompt(tokenizer, prompt_text)
    completion_ids = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None and (not completion_ids or completion_ids[-1] != tokenizer.eos_token_id):
        completion_ids.append(tokenizer.eos_token_id)
    return prompt_ids, completion_ids


def plain_chat_segments(tokenizer, system: str, messages: list[dict]) -> list[tuple[str, bool]]:
    """A conversation in the plain ``### Instruction:`` / ``### Response:`` layout, one block per turn, as
    ``[(text, is_assistant), ...]`` (what :func:`format_chat_segments` gives without a usable chat template)."""
    eos = tokenizer.eos_token or ""
    segments: list[tuple[str, bool]] = []
    head = f"{system}\n\n" if system else ""
    for message in messages:
        if message.get("role") == "assistant":
            segments.append((f"{message.get('content', '')}{eos}", True))
        else:
            segments.append((f"{head}{PLAIN_INSTRUCTION}{message.get('content', '')}{PLAIN_RESPONSE}", False))
            head = "\n\n"
    return segments


def format_chat_segments(tokenizer, system: str, messages: list[dict]) -> list[tuple[str, bool]]:
    """A multi-turn conversation as ``[(text, is_assistant), ...]`` whose texts joined are the whole chat.

    With a chat template every piece is the difference between the template's rendering of successive
    prefixes of the conversation, so the joined text is exactly what the template writes, and each
    assistant piece is what the model must produce at that turn (its content and the template's
    end-of-turn marker, plus eos when the template writes none). Without a template, or with one whose
    renderings are not prefixes of each other, the plain ``### Instruction:`` / ``### Response:`` layout
    is used, one block per turn.
    """
    if not getattr(tokenizer, "chat_template", None):
        return plain_chat_segments(tokenizer, system, messages)
    base = [{"role": "system", "content": system}] if system else []
    eos = tokenizer.eos_token or ""
    segments: list[tuple[str, bool]] = []
    done = ""
    try:
        for i, message in enumerate(messages):
            if message.get("role") != "assistant":
                continue
            before = tokenizer.apply_chat_template(base + messages[:i], tokenize=False, add_generation_prompt=True)
            after = tokenizer.apply_chat_template(base + messages[: i + 1], tokenize=False)
            if not before.startswith(done) or not after.startswith(before):
                return plain_chat_segments(tokenizer, system, messages)
            answer = after[len(before):]
            if eos and eos not in answer:
                answer += eos
            segments += [(before[len(done):], False), (answer, True)]
            done = after  # the template's own rendering; an eos we appended is not part of it
    except Exception:  # a template that rejects the roles or the system message
        return plain_chat_segments(tokenizer, system, messages)
    return [(text, trainable) for text, trainable in segments if text]


def encode_segments(tokenizer, segments: list[tuple[str, bool]]) -> tuple[list[int], list[bool]]:
    """Token ids of ``segments`` joined, and per token whether it belongs to an assistant (trained) piece.

    Each piece is tokenized on its own so the boundaries are exact; the tokenizer's special tokens are
    added in front only when the first piece does not write the bos token itself.
    """
    ids: list[int] = []
    trained: list[bool] = []
    for i, (text, is_assistant) in enumerate(segments):
        special = i == 0 and not adds_bos_itself(tokenizer, text)
        piece = tokenizer(text, add_special_tokens=special)["input_ids"]
        if special and tokenizer.eos_token_id is not None and piece and piece[-1] == tokenizer.eos_token_id \
                and not text.endswith(tokenizer.eos_token or "\0"):
            piece = piece[:-1]  # some tokenizers append eos as a special token: only the text's own eos counts
        ids += piece
        trained += [is_assistant] * len(piece)
    return ids, trained


def padding_id(tokenizer) -> int:
    """The id to pad batches with: the tokenizer's pad token, else its end-of-sequence token (else 0); the
    padded positions are masked, so only its being a valid id matters."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
