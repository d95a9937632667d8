"""Prompt templates: rendering, filters, the sandbox, and problems reported with their line and column."""

from __future__ import annotations

import datetime as dt

import pytest

from desktop_ift.core.templates.render import (
    PromptTemplate,
    RenderedExample,
    TemplateError,
    check_template,
    placeholder_for,
    placeholders,
    render_row,
    render_rows,
)

ROW = {"question": "What is the capital of France?", "answer": "Paris", "n": 3, "score": 3.0, "empty": None,
       "flag": True}


def render_prompt(source: str, row: dict = ROW) -> str:
    return render_row(PromptTemplate(prompt=source, response="fixed"), row).prompt


def test_render_row_fills_all_three_fields():
    template = PromptTemplate(system="You answer geography questions.", prompt="Q: {{ question }}",
                              response="{{ answer }}")
    assert render_row(template, ROW) == RenderedExample(
        system="You answer geography questions.", prompt="Q: What is the capital of France?", response="Paris")


def test_values_print_naturally():
    assert render_prompt("{{ n }}|{{ score }}|{{ empty }}|{{ flag }}") == "3|3.0||true"
    assert render_prompt("{{ day }}", {"day": dt.datetime(2024, 5, 1)}) == "2024-05-01"
    assert render_prompt("{{ x }}", {"x": float("nan")}) == ""


def test_filters():
    assert render_prompt("{{ answer | upper }} {{ answer | lower }}") == "PARIS paris"
    assert render_prompt("[{{ '  padded  ' | trim }}]") == "[padded]"
    assert render_prompt("{{ question | truncate(12, leeway=0) }}") == "What is..."
    assert render_prompt("{{ empty | default_if_empty('n/a') }}/{{ answer | default_if_empty('n/a') }}") == "n/a/Paris"
    assert render_prompt("{{ blank | default_if_empty('none given') }}", {"blank": "   "}) == "none given"


def test_blocks_and_no_trailing_newline():
    source = "{% if flag %}\nYes: {{ answer }}\n{% endif %}\n{% if not flag %}\nNo\n{% endif %}\nEnd\n"
    assert render_prompt(source) == "Yes: Paris\nEnd"


def test_columns_with_odd_names_through_row():
    template = PromptTemplate(prompt=placeholder_for("Customer Name") + " / " + placeholder_for("message"),
                              response="{{ row.reply }}")
    assert placeholders(template) == {"Customer Name", "message", "reply"}
    rendered = render_row(template, {"Customer Name": "Ada", "message": "hi", "reply": "hello"})
    assert (rendered.prompt, rendered.response) == ("Ada / hi", "hello")


def test_placeholders_lists_referenced_columns_only():
    template = PromptTemplate(system="{{ persona }}", prompt="{% for t in tags %}{{ t }} {% endfor %}{{ q }}",
                              response="{% set a = answer %}{{ a | upper }}")
    assert placeholders(template) == {"persona", "tags", "q", "answer"}


def test_missing_column_is_named_with_the_available_ones():
    template = PromptTemplate(prompt="Q: {{ question }}\nContext: {{ context }}", response="{{ answer }}")
    with pytest.raises(TemplateError) as info:
        render_row(template, ROW)
    err = info.value
    assert (err.field, err.line, err.column) == ("prompt", 2, 13)
    assert str(err).startswith("Prompt, line 2: this row has no column 'context'. Available columns: question, answer")


def test_render_rows_names_the_data_row():
    template = PromptTemplate(prompt="{{ q }}", response="{{ a }}")
    rows = [{"q": "1", "a": "x"}, {"q": "2", "a": "y"}, {"q": "3"}]
    with pytest.raises(TemplateError, match=r"Response, line 1 \(data row 3\): this row has no column 'a'"):
        render_rows(template, rows)
    assert [r.prompt for r in render_rows(template, rows[:2])] == ["1", "2"]


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ question.__class__.__base__.__subclasses__() }}",
    "{{ answer.upper.__globals__ }}",
    "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
    "{{ 'x' * 100000000 }}",
])
def test_sandbox_blocks_python_internals(source):
    with pytest.raises(TemplateError) as info:
        render_prompt(source)
    assert info.value.field == "prompt" and info.value.line == 1
    assert str(info.value).startswith("Prompt, line 1:")


@pytest.mark.parametrize("source", ["{% include 'secrets.txt' %}", "{% import 'macros.j2' as m %}",
                                    "{% extends 'base.j2' %}"])
def test_no_files_are_loaded(source):
    with pytest.raises(TemplateError, match="is not available"):
        render_prompt(source)


def test_syntax_error_line_number():
    with pytest.raises(TemplateError) as info:
        render_prompt("Question:\n{{ question }\nEnd")
    assert (info.value.field, info.value.line) == ("prompt", 2)
    assert str(info.value).startswith("Prompt, line 2: unexpected '}'")


def test_unknown_filter_lists_the_available_ones():
    with pytest.raises(TemplateError, match="there is no filter named 'shout'.*upper"):
        render_prompt("{{ answer | shout }}")


def test_check_template_ok_for_the_right_columns():
    template = PromptTemplate(system="Be brief.", prompt="{{ question }}", response="{{ answer }}")
    assert check_template(template, ["question", "answer"]) == []


def test_check_template_reports_unknown_columns_with_a_suggestion():
    template = PromptTemplate(prompt="Q: {{ question }}\n{{ quesiton }}", response="{{ anwser }}")
    problems = check_template(template, ["question", "answer"])
    assert [(p.field, p.line, p.column, p.severity) for p in problems] == [
        ("prompt", 2, 4, "error"), ("response", 1, 4, "error")]
    assert problems[0].text == ("Prompt, line 2: there is no column 'quesiton' in this dataset. "
                                "Did you mean 'question'? Available columns: question, answer.")


def test_check_template_reports_syntax_errors_per_field():
    template = PromptTemplate(system="{% if %}", prompt="ok", response="{{ answer }")
    problems = check_template(template, ["answer"])
    assert [(p.field, p.line) for p in problems] == [("system", 1), ("response", 1)]


@pytest.mark.parametrize("response", ["", "   \n", "{{ '' }}", "{% if false %}x{% endif %}"])
def test_check_template_blank_response_is_an_error(response):
    problems = check_template(PromptTemplate(prompt="{{ question }}", response=response), ["question"])
    assert [(p.field, p.severity) for p in problems] == [("response", "error")]
    assert "the response is empty for every row: the model would learn nothing" in problems[0].message


def test_check_template_warns_about_constant_response_and_empty_prompt():
    problems = check_template(PromptTemplate(prompt="", response="yes"), ["question"])
    assert [(p.field, p.severity) for p in problems] == [("prompt", "warning"), ("response", "warning")]


def test_a_syntax_error_is_located_at_its_line_and_column_while_typing():
    problems = check_template(PromptTemplate(prompt="Hello\n  {{ name }", response="{{ a }}"), ["a", "name"])
    assert [(p.field, p.line, p.column) for p in problems] == [("prompt", 2, 11)]
    assert "unexpected '}'" in problems[0].message
