"""The playground: a long-lived worker that loads one model once and answers chat requests as they come.

``run_chat(job, writer, stop)`` is the worker function of ``kind: "chat"`` jobs (prepared by
:func:`desktop_ift.core.evaluation.eval_jobs.prepare_chat_job`). After ``started`` it reads requests from
its stdin, one JSON object per line::

    {"request": 3, "messages": [{"role": "user", "content": "..."}, ...], "system": "...",
     "generation": {"max_new_tokens": 128, "temperature": 0.7, ...}}
    {"cancel": 3}                      # stop generating request 3 now

and answers each with ``output`` events: pieces of text as they are generated (``done: false``), then one
final event with the **whole** answer and ``done: true``. It ends with ``finished`` when stdin closes, or on
SIGTERM.

What is stored: the streamed pieces go to stdout only (storing every token in the workspace database
would write a row per token for no use); the final ``output`` of each request -- the complete answer -- is
stored like every other event, so a session's answers are kept. The pieces and the final event share one
sequence, so a reader never sees a number twice.

An encoder-decoder model (T5, BART) gets the conversation as its encoder input (earlier turns as
``User: ..``/``Assistant: ..`` lines, the system text in front, as in training) and streams its decoder's
answer the same way.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading

from desktop_ift.core import events as ev
from desktop_ift.core.evaluation.generation import stop_token_ids
from desktop_ift.core.evaluation.runner import resolve_model_spec
from desktop_ift.core.modeling import (
    describe_device,
    is_encoder_decoder,
    load_generation_model,
    load_tokenizer,
)
from desktop_ift.core.prompt_format import (
    encode_prompt,
    encode_source,
    format_chat_segments,
    format_prompt,
    seq2seq_source,
)
from desktop_ift.core.training.config import ConfigError, GenerationConfig

_POLL_S = 0.2


def chat_prompt(tokenizer, messages: list[dict], system: str = "", seq2seq: bool = False) -> str:
    """The text the model continues, laid out as in training: one message as :func:`format_prompt` writes an
    instruction example, a conversation as :func:`format_chat_segments` writes a multi-turn one (the
    tokenizer's chat template, or the plain ``### Instruction:`` blocks for a model without one).
    With ``seq2seq`` (an encoder-decoder model): the encoder text of :func:`seq2seq_source`, earlier turns
    in front of the last message."""
    messages = [m for m in messages if m.get("role") in ("user", "assistant") and str(m.get("content", "")).strip()]
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("The conversation must end with a user message.")
    if seq2seq:
        history = "".join(f"{m['role'].title()}: {m['content']}\n" for m in messages[:-1])
        return seq2seq_source(system, history + messages[-1]["content"])
    # exactly the layout training wrote: one question as an instruction example (format_prompt), a longer
    # conversation as a multi-turn one (format_chat_segments), with the same fallbacks
    if len(messages) == 1:
        return format_prompt(tokenizer, system, messages[0]["content"])
    segments = format_chat_segments(tokenizer, system, messages + [{"role": "assistant", "content": ""}])
    last_user = max(i for i, (_text, is_answer) in enumerate(segments) if not is_answer)
    return "".join(text for text, _is_answer in segments[:last_user + 1])


class _Requests:
    """Reads stdin in a thread: requests go to a queue, ``cancel`` lines set the current request's flag."""

    def __init__(self, stream) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.cancelled: set[int] = set()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                self.queue.put({"error": f"not a JSON request: {line[:80]}"})
                continue
            if isinstance(message, dict) and "cancel" in message:
                self.cancelled.add(int(message["cancel"]))
            else:
                self.queue.put(message)
        self.queue.put(None)  # stdin closed


def _generate(model, tokenizer, prompt: str, gen: GenerationConfig, on_text, should_stop) -> str:
    """Generate one answer, calling ``on_text(piece)`` as text arrives; returns the whole answer."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return should_stop()

    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    # skip_prompt drops the first piece the streamer gets: the prompt, or an encoder-decoder's start token
    ids = encode_source(tokenizer, prompt, _source_limit(tokenizer)) if seq2seq else encode_prompt(tokenizer, prompt)
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), streamer=streamer,
                  max_new_tokens=gen.max_new_tokens, repetition_penalty=gen.repetition_penalty,
                  pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_token_ids(tokenizer, model) or None,
                  stopping_criteria=StoppingCriteriaList([_Stop()]))
    if gen.temperature > 0:
        kwargs.update(do_sample=True, temperature=gen.temperature, top_p=gen.top_p)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    pieces = []
    for piece in streamer:
        if piece:
            pieces.append(piece)
            on_text(piece)
    thread.join()
    if errors:
        raise errors[0]
    return "".join(pieces).strip()


def _source_limit(tokenizer) -> int:
    limit = getattr(tokenizer, "model_max_length", 0) or 0
    return limit if 0 < limit < 1_000_000 else 512


def run_chat(job: dict, writer, stop, stdin=None) -> str:
    """Serve chat requests until stdin closes or a stop is requested; return ``"finished"``."""
    label = job.get("label") or "model"
    default_gen = job.get("generation") or {}
    writer.emit(ev.Started, job_kind="chat", total_steps=0, pid=os.getpid(), device=describe_device(),
                description=f"playground: {label}", info={"model": job.get("model"), "adapter": job.get("adapter")})
    path, adapter = resolve_model_spec({"model": job["model"], "adapter": job.get("adapter")}, job["workspace"], writer)
    writer.emit(ev.Progress, stage="loading model", done=0, total=1, message=f"{label}: loading {path}")
    tokenizer = load_tokenizer(path)
    seq2seq = is_encoder_decoder(path)
    model = load_generation_model(path, adapter=adapter)
    writer.emit(ev.Progress, stage="ready", done=1, total=1, message=f"{label} is ready")
    requests = _Requests(stdin if stdin is not None else sys.stdin)
    while not stop.is_set():
        try:
            message = requests.queue.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        if message is None:
            break
        number = int(message.get("request", 0)) if isinstance(message, dict) else 0
        try:
            if "error" in message:
                raise ValueError(message["error"])
            gen = GenerationConfig.from_dict({**default_gen, **(message.get("generation") or {})})
            prompt = chat_prompt(tokenizer, list(message.get("messages") or []), str(message.get("system") or ""),
                                 seq2seq=seq2seq)
        except (ValueError, TypeError, ConfigError) as exc:
            writer.emit(ev.Output, request=number, text=f"[request refused: {exc}]", done=True)
            continue
        answer = _generate(
            model, tokenizer, prompt, gen,
            on_text=lambda piece, n=number: writer.emit(ev.Output, keep=False, request=n, text=piece, done=False),
            should_stop=lambda n=number: stop.is_set() or n in requests.cancelled,
        )
        writer.emit(ev.Output, request=number, text=answer, done=True)
    writer.emit(ev.Finished, output_dir="", metrics={})
    return "finished"
