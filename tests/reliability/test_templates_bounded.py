"""#15.1 Templates without limits: every hostile template from the issue ends in < 2 s with a plain message
naming the template and the limit; ordinary templates still render the same text."""

from __future__ import annotations

import json
import time

import pytest

from desktop_ift.core.templates.render import PromptTemplate, TemplateError, check_template, render_row

from reliability_helpers import assert_plain, run_cli

HOSTILE = {
    "nested loops over a million characters":
        "{% set a = 'x' * 1000000 %}{% for i in a %}{% for j in a %}{{ j }}{% endfor %}{% endfor %}",
    "empty nested loops": "{% set a = 'x' * 1000000 %}{% for i in a %}{% for j in a %}{% endfor %}{% endfor %}",
    "power tower": "{{ ((9**999)**999)**999 }}",
    "center(2e9)": "{{ 'x'|center(2000000000) }}",
    "%-format width": "{{ '%2000000000d' % 1 }}",
    "%-format precision": "{{ '%.2000000000f' % 1.0 }}",
    "%* width": "{{ '%*d' % (2000000000, 1) }}",
    "{:>N} width": "{{ '{:>2000000000}'.format(1) }}",
    "nested {:>{}} width": "{{ '{:>{}}'.format(1, 2000000000) }}",
    "ljust": "{{ 'x'.ljust(2000000000) }}",
    "expandtabs": "{{ 'a\tb'.expandtabs(2000000000) }}",
    "join of a million by a million": "{{ ('x' * 1000000)|list|join('x' * 1000000) }}",
    "list of big strings repeated": "{{ ['x' * 1000000] * 1000000 }}",
    "~ doubling": "{% set a = 'x' * 1000000 %}{% set a = a~a~a~a~a~a~a~a~a~a~a %}{{ a }}",
    "+ doubling": "{% set a = 'x' * 5000000 %}{% set b = a + a %}{% set c = b + b %}{{ c }}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "endless macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "batch(1) of a million": "{{ ('x' * 1000000)|list|batch(1)|list|length }}",
    "indent(2e9)": "{{ 'x'|indent(2000000000) }}",
    "tojson indent": "{{ [1]|tojson(indent=2000000000) }}",
    "wordwrap of one long word": "{{ ('x' * 1000000)|wordwrap(1)|length }}",
    "a loop writing 100k per step": "{% for i in ('x' * 1000000) %}{{ 'y' * 100000 }}{% endfor %}",
    "big multiplications": "{{ (9**9999) * (9**9999) * (9**9999) * (9**9999) * (9**9999) * (9**9999) }}",
    "million-value % format": "{{ ('%s' * 3000000) % ((1,) * 3000000) }}",
}


@pytest.mark.parametrize("source", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_template_stops_fast_with_a_plain_message(source):
    template = PromptTemplate(prompt=source, response="{{ answer }}", name="shared by someone")
    started = time.monotonic()
    with pytest.raises(TemplateError) as info:
        render_row(template, {"answer": "yes"})
    assert time.monotonic() - started < 2.0
    message = str(info.value)
    assert message.startswith("Prompt, line 1")
    assert "Traceback" not in message
    if info.value.limit:  # a limit (not Python's own recursion guard) stopped it: the message names both
        assert "the template 'shared by someone' was stopped because" in message
        assert info.value.limit in message


def test_check_template_is_bounded_too():
    template = PromptTemplate(prompt="{{ q }}", response="{% for i in 'x' * 1000000 %}{% for j in 'x' * 1000000 %}"
                              "{% endfor %}{% endfor %}")
    started = time.monotonic()
    problems = check_template(template, ["q"])
    assert time.monotonic() - started < 2.0
    assert any("was stopped because its loops ran more than" in p.message for p in problems)


@pytest.mark.parametrize("source, expected", [
    ("{{ q|center(9) }}", "    a    "),
    ("{{ '%5d|%-4s|' % (42, q) }}", "   42|a   |"),
    ("{{ '{:>6}'.format(q) }}", "     a"),
    ("{% for c in 'abc' %}{{ c|upper }}{% endfor %}", "ABC"),
    ("{{ ['a', 'b']|join(', ') }} {{ 'x' * 3 }} {{ 2 ** 10 }}", "a, b xxx 1024"),
    ("{{ q ~ '!' ~ 1 }}", "a!1"),
    ("{{ (q * 3)|replace('a', 'bb') }}", "bbbbbb"),
    ("{{ [1, 2, 3]|map('string')|join }}{{ [1, 2]|sum }}", "1233"),
])
def test_ordinary_templates_render_as_before(source, expected):
    assert render_row(PromptTemplate(prompt=source, response="r"), {"q": "a"}).prompt == expected


def test_a_long_text_column_still_renders():
    long_text = "word " * 1_000_000  # 5 million characters: legitimate data is not a "limit"
    example = render_row(PromptTemplate(prompt="{{ q }}\n{{ q|upper }}", response="{{ q ~ '.' }}"), {"q": long_text})
    assert len(example.prompt) == 2 * len(long_text) + 1 and example.response == long_text + "."


def test_cli_check_and_prepare_train_end_with_a_clear_error(tmp_path):
    """`templates check` and `prepare-train` used to hang on such a template; now they stop in seconds."""
    home = tmp_path / "ws"
    data = tmp_path / "d.csv"
    data.write_text("question,answer\nhello,a\nbye,b\n", encoding="utf-8")
    assert run_cli(home, "import", str(data), "--project", "P").returncode == 0
    shared = tmp_path / "shared.json"
    shared.write_text(json.dumps({"templates": [{
        "name": "friendly", "prompt": "{% for i in 'x' * 1000000 %}{% for j in 'x' * 1000000 %}{{ question }}"
        "{% endfor %}{% endfor %}", "response": "{{ answer }}"}]}), encoding="utf-8")
    assert run_cli(home, "templates", "import", str(shared)).returncode == 0
    used = run_cli(home, "templates", "use", "friendly", "--project", "P")
    assert used.returncode == 0, used.stdout + used.stderr
    for args in (("templates", "check", "--project", "P", "--dataset", "1"),
                 ("prepare-train", "--project", "P", "--dataset", "1")):
        started = time.monotonic()
        out = run_cli(home, *args, timeout=60)
        assert time.monotonic() - started < 30
        assert out.returncode != 0
        assert_plain(out)
        text = out.stdout + out.stderr
        assert "was stopped because its loops ran more than 200,000 times" in text, text
