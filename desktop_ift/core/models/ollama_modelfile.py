"""An Ollama ``Modelfile`` for an exported GGUF: the chat template in Ollama's Go-template form, the stop
tokens and the system prompt the model was trained with.

Ollama does not run Jinja chat templates; it needs a Go template over ``.Messages``. Translating any Jinja
program is not possible, so the tokenizer's template is *measured* instead: it is rendered on conversations
made of marker texts, and the fixed text it writes around each role is read off the result (the ChatML,
Llama 3, Zephyr… family, where each message is ``prefix(role) + content + suffix(role)``). The pieces are
then checked by rendering other conversations both ways; a template that does not follow that shape gets no
TEMPLATE line and a note saying so, never a guessed one.

Models without a chat template were trained on the plain layout of :func:`core.prompt_format.format_prompt`
(``### Instruction:`` / ``### Response:``); their Modelfile spells that layout out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from desktop_ift.core.prompt_format import PLAIN_INSTRUCTION, PLAIN_RESPONSE

# marker texts: no spaces or newlines (templates that trim the content keep them whole), no Jinja or Go syntax
_S, _U1, _A1, _U2, _A2 = "QxSYSTEMzQ", "QxUSER1zQ", "QxASSISTANT1zQ", "QxUSER2zQ", "QxASSISTANT2zQ"


class TemplateNotTranslatable(ValueError):
    """The tokenizer's chat template is not of the role-prefix/suffix shape (the reason is the message)."""


@dataclass(frozen=True)
class ChatPieces:
    """The fixed texts a chat template writes: ``preamble`` when the conversation has no system message,
    then ``<role>_pre + content + <role>_suf`` per message, and ``assistant_pre`` as the generation prompt."""

    preamble: str
    system_pre: str
    system_suf: str
    user_pre: str
    user_suf: str
    assistant_pre: str
    assistant_suf: str
    bos_dropped: str = ""  # a bos text the template writes itself; llama.cpp/Ollama add BOS from the GGUF

    def render(self, messages: list[dict]) -> str:
        """What the Go template of :func:`go_template` renders for ``messages`` (the generation prompt after
        a last non-assistant message; no suffix after a last assistant message, which Ollama continues)."""
        out = []
        if messages and messages[0]["role"] != "system":
            out.append(self.preamble)
        for i, m in enumerate(messages):
            last = i == len(messages) - 1
            pre, suf = {"system": (self.system_pre, self.system_suf), "user": (self.user_pre, self.user_suf),
                        "assistant": (self.assistant_pre, "" if last else self.assistant_suf)}[m["role"]]
            out.append(pre + m["content"] + suf)
            if last and m["role"] != "assistant":
                out.append(self.assistant_pre)
        return "".join(out)


def _render(tokenizer, messages: list[dict], generation: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)


def _between(text: str, markers: list[str]) -> list[str]:
    """The texts before, between and after ``markers``, which must each appear once, in order."""
    pieces, pos = [], 0
    for marker in markers:
        if text.count(marker) != 1:
            raise TemplateNotTranslatable("the template does not write each message's text exactly once")
        at = text.index(marker)
        if at < pos:
            raise TemplateNotTranslatable("the template re-orders the messages")
        pieces.append(text[pos:at])
        pos = at + len(marker)
    pieces.append(text[pos:])
    return pieces


def _cut_end(text: str, end: str, what: str) -> str:
    if not text.endswith(end):
        raise TemplateNotTranslatable(f"the text before {what} is not the same in every turn")
    return text[: len(text) - len(end)]


def _adds_bos(tokenizer) -> bool:
    """True when the tokenizer puts BOS in front of a text itself (the GGUF's ``add_bos_token``): llama.cpp
    and Ollama then add it too, so a template's own copy is left out of the Go template."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    try:
        return bos_id is not None and tokenizer("a")["input_ids"][:1] == [bos_id]
    except Exception:
        return False


def chat_pieces(tokenizer) -> ChatPieces:
    """Measure ``tokenizer``'s chat template (see the module docstring); TemplateNotTranslatable when it is
    not of the role-prefix/suffix shape, or renders some conversation differently from the pieces."""
    sys_m = {"role": "system", "content": _S}
    u1, a1 = {"role": "user", "content": _U1}, {"role": "assistant", "content": _A1}
    u2, a2 = {"role": "user", "content": _U2}, {"role": "assistant", "content": _A2}
    try:
        full = _render(tokenizer, [sys_m, u1, a1, u2, a2], False)
        gen = _render(tokenizer, [sys_m, u1], True)
        no_gen = _render(tokenizer, [sys_m, u1], False)
        no_system = _render(tokenizer, [u1, a1], False)
    except Exception as exc:  # a template that rejects system messages or alternation
        raise TemplateNotTranslatable(f"the template cannot render a system + user + assistant conversation "
                                      f"({exc})") from exc
    if not gen.startswith(no_gen) or gen == no_gen:
        raise TemplateNotTranslatable("its generation prompt is not text appended at the end")
    assistant_pre = gen[len(no_gen):]
    head, s_u1, u1_a1, a1_u2, u2_a2, tail = _between(full, [_S, _U1, _A1, _U2, _A2])
    if u1_a1 != u2_a2:
        raise TemplateNotTranslatable("it writes the first and later turns differently")
    user_suf = _cut_end(u1_a1, assistant_pre, "the assistant's answer")
    assistant_suf = tail
    if not a1_u2.startswith(assistant_suf):
        raise TemplateNotTranslatable("the end of an assistant message differs between turns")
    user_pre = a1_u2[len(assistant_suf):]
    system_suf = _cut_end(s_u1, user_pre, "a user message")
    ns_head = _between(no_system, [_U1, _A1])[0]
    preamble = _cut_end(ns_head, user_pre, "the first user message")
    bos = getattr(tokenizer, "bos_token", None) or ""
    dropped = ""
    if bos and _adds_bos(tokenizer) and head.startswith(bos) and (preamble.startswith(bos) or not preamble):
        head, preamble, dropped = head[len(bos):], preamble[len(bos):] if preamble else preamble, bos
    pieces = ChatPieces(preamble, head, system_suf, user_pre, user_suf, assistant_pre, assistant_suf, dropped)
    for conversation in ([sys_m, u1], [u1], [sys_m, u1, a1, u2], [u1, a1, u2]):
        expected = _render(tokenizer, conversation, True)
        if dropped and expected.startswith(dropped):
            expected = expected[len(dropped):]
        if pieces.render(conversation) != expected:
            raise TemplateNotTranslatable("the measured pieces do not reproduce the template on a "
                                          f"{len(conversation)}-message conversation")
    return pieces


def _literal(text: str) -> str:
    """``text`` as Go-template output: raw, or as a quoted constant when it holds template delimiters."""
    if "{{" in text or "}}" in text:
        return "{{ " + json.dumps(text, ensure_ascii=False) + " }}"
    return text


def go_template(p: ChatPieces) -> str:
    """The Go template (Ollama's ``TEMPLATE``) that renders ``.Messages`` as :meth:`ChatPieces.render` does."""
    parts = []
    if p.preamble:
        parts.append('{{ if and .Messages (ne (index .Messages 0).Role "system") }}' + _literal(p.preamble)
                     + "{{ end }}")
    parts.append("{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}")
    parts.append('{{ if eq .Role "system" }}' + _literal(p.system_pre) + "{{ .Content }}" + _literal(p.system_suf))
    parts.append('{{ else if eq .Role "user" }}' + _literal(p.user_pre) + "{{ .Content }}" + _literal(p.user_suf))
    parts.append('{{ else if eq .Role "assistant" }}' + _literal(p.assistant_pre) + "{{ .Content }}"
                 + "{{ if not $last }}" + _literal(p.assistant_suf) + "{{ end }}{{ end }}")
    parts.append('{{ if and $last (ne .Role "assistant") }}' + _literal(p.assistant_pre) + "{{ end }}{{ end }}")
    return "".join(parts)


PLAIN_TEMPLATE = ("{{ if .System }}{{ .System }}\n\n{{ end }}" + PLAIN_INSTRUCTION + "{{ .Prompt }}"
                  + PLAIN_RESPONSE)


@dataclass
class ModelfileSpec:
    """What goes into the Modelfile, and the notes the README and the command print about it."""

    gguf_name: str
    template: str | None
    stops: list[str]
    system: str | None
    notes: list[str] = field(default_factory=list)
    pieces: ChatPieces | None = None


def _special_tokens(tokenizer) -> list[str]:
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(token, "special", False):
            specials.add(str(token))
    return sorted(specials, key=len, reverse=True)


def build_spec(tokenizer, gguf_name: str, data_format: str, systems: list[str]) -> ModelfileSpec:
    """The Modelfile's content for a model trained with ``tokenizer`` in ``data_format`` ("instruction",
    "chat" or "text") on examples whose system texts were ``systems`` (one per training example)."""
    notes: list[str] = []
    eos = getattr(tokenizer, "eos_token", None) or ""
    stops = [eos] if eos else []
    distinct = sorted({s for s in systems if s})
    system = distinct[0] if len(distinct) == 1 and all(systems) else None
    if len(distinct) > 1:
        notes.append(f"The training examples had {len(distinct)} different system texts, so the Modelfile sets "
                     "none (add a SYSTEM line to choose one).")
    elif distinct and not system:
        notes.append("Only some training examples had a system text, so the Modelfile sets none.")
    if system and '"""' in system:
        notes.append('The system text contains """, which a Modelfile cannot quote, so the Modelfile sets none.')
        system = None
    pieces = None
    if data_format == "text":
        template = "{{ .Prompt }}"
        notes.append("The model was trained on plain text (continued pre-training): the prompt is passed as is.")
        system = None
    elif getattr(tokenizer, "chat_template", None):
        try:
            pieces = chat_pieces(tokenizer)
            template = go_template(pieces)
            if '"""' in template:
                raise TemplateNotTranslatable('it contains """, which a Modelfile cannot quote')
            specials = _special_tokens(tokenizer)
            for text in (pieces.assistant_suf, pieces.user_pre):
                for token in specials:
                    if token in text and token not in stops and token != pieces.bos_dropped:
                        stops.append(token)
        except TemplateNotTranslatable as exc:
            template = None
            notes.append(f"The chat template could not be written in Ollama's form ({exc}); the Modelfile has no "
                         "TEMPLATE line, so Ollama falls back to the template inside the GGUF if it knows it. "
                         "Write one by hand to be sure.")
    else:
        template = PLAIN_TEMPLATE
        stops.append(PLAIN_INSTRUCTION.strip())
    return ModelfileSpec(gguf_name, template, stops, system, notes, pieces)


def _quoted_block(keyword: str, text: str) -> str:
    return f'{keyword} """{text}"""'


def modelfile_text(spec: ModelfileSpec) -> str:
    """The Modelfile itself (FROM the GGUF beside it, TEMPLATE, stop PARAMETERs, SYSTEM)."""
    lines = ["# Made by desktop_ift. Register it with: ollama create NAME -f Modelfile",
             f"FROM ./{spec.gguf_name}"]
    if spec.template is not None:
        lines.append(_quoted_block("TEMPLATE", spec.template))
    for stop in spec.stops:
        lines.append(f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}")
    if spec.system:
        lines.append(_quoted_block("SYSTEM", spec.system))
    return "\n".join(lines) + "\n"
