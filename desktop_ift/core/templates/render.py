"""Prompt templates: Jinja text with ``{{ column }}`` placeholders, rendered safely for each row of a dataset.

Templates run in Jinja's immutable sandbox with no loader (no include/import from disk), no globals and a
short list of text filters, so a template can read column values and format them but cannot reach Python
internals. A placeholder for a column the row lacks is an error that names the column, never a blank.
Columns whose names are not identifiers (``Customer Name``) are reached as ``{{ row["Customer Name"] }}``;
``row`` always means the whole row.
"""

from __future__ import annotations

import difflib
import keyword
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError as JinjaTemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from desktop_ift.core.templates import render_limits as limits
from desktop_ift.core.templates.render_limits import LimitExceeded

FIELDS = ("system", "prompt", "response")
FIELD_LABELS = {"system": "System", "prompt": "Prompt", "response": "Response"}
ROW_VARIABLE = "row"
_ALLOWED_FILTERS = (
    "abs", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "first", "float", "format",
    "indent", "int", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "replace",
    "reverse", "round", "select", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
    "truncate", "unique", "upper", "wordcount", "wordwrap",
)
_FORBIDDEN_TAGS = {nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from ... import",
                   nodes.Extends: "extends"}
_JINJA_WORDS = {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
                "loop", "self", "super", "caller", "varargs", "kwargs", ROW_VARIABLE}


@dataclass
class PromptTemplate:
    """The three texts that turn one row into one training example (``system`` may be empty)."""

    prompt: str
    response: str
    system: str = ""
    name: str = ""


@dataclass
class RenderedExample:
    """One row rendered through a :class:`PromptTemplate`."""

    system: str
    prompt: str
    response: str


@dataclass
class TemplateProblem:
    """Something :func:`check_template` found: ``severity`` is ``"error"`` (cannot train) or ``"warning"``."""

    field: str
    message: str
    line: int | None = None
    column: int | None = None
    severity: str = "error"

    @property
    def text(self) -> str:
        """The message with where it applies, e.g. ``Prompt, line 2: ...``."""
        return f"{_where(self.field, self.line)}: {self.message}"


class TemplateError(Exception):
    """A template cannot be compiled or rendered. ``str(e)`` reads like ``Prompt, line 2: unexpected '}' ...``.

    ``field`` is ``"system"``, ``"prompt"`` or ``"response"``; ``line``/``column`` are 1-based or None;
    ``row`` is the 0-based index of the data row being rendered, when there was one; ``detail`` is the
    message without the location.
    """

    def __init__(self, detail: str, field: str, line: int | None = None, column: int | None = None,
                 row: int | None = None):
        self.detail = detail
        self.field = field
        self.line = line
        self.column = column
        self.row = row
        self.limit: str | None = None  # which limit stopped the render, when one did
        where = _where(field, line)
        if row is not None:
            where += f" (data row {row + 1})"
        super().__init__(f"{where}: {detail}")


def _where(field: str, line: int | None) -> str:
    label = FIELD_LABELS.get(field, field.capitalize())
    return f"{label}, line {line}" if line else label


# ---------------------------------------------------------------------------------------------- environment
class _TemplateEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus the limits of :mod:`render_limits` on operators, calls and ``str.format``, so a
    template (perhaps shared by someone else) cannot run for minutes or fill memory."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        limits.check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt, is_map = value.__self__, value.__name__ == "format_map"

        def checked_format(*args: Any, **kwargs: Any) -> str:
            if is_map:
                mapping = args[0] if args and isinstance(args[0], dict) else {}
                limits.check_brace_format(fmt, (), mapping)
            else:
                limits.check_brace_format(fmt, args, kwargs)
            return wrapped(*args, **kwargs)

        return checked_format


def default_if_empty(value: Any, fallback: str = "") -> Any:
    """Jinja filter: ``fallback`` when ``value`` is missing, null or blank text, else ``value`` itself."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return fallback
    if isinstance(value, float) and math.isnan(value):
        return fallback
    return value


def _finalize(value: Any) -> Any:
    """How a value prints: no "None", floats as Python writes them (3.0), booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None and (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    return value


def _bounded_filters(filters: dict) -> dict:
    """Versions of the filters that can build something huge (or loop long) which check the limits first.

    The private ``_loop``/``_output``/``_concat`` filters are inserted by :class:`_LimitTransformer`.
    """
    from jinja2.utils import pass_context, pass_environment, pass_eval_context

    center, indent, join, replace = filters["center"], filters["indent"], filters["join"], filters["replace"]
    tojson, batch, slice_, sum_ = filters["tojson"], filters["batch"], filters["slice"], filters["sum"]
    map_, select, reject, wordwrap = filters["map"], filters["select"], filters["reject"], filters["wordwrap"]

    def do_center(value: Any, width: int = 80) -> str:
        limits.check_width(width, "| center")
        return center(value, width)

    def do_indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
        size = len(width) if isinstance(width, str) else width
        limits.check_width(size, "| indent")
        if isinstance(size, int):
            limits.check_size(len(str(value)) + size * (str(value).count("\n") + 1), "the indented text")
        return indent(value, width, first, blank)

    @pass_eval_context
    def do_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = value if isinstance(value, (str, list, tuple)) else list(limits.limited_iter(value))
        if attribute is None:
            limits.check_join(d, items)
        return join(eval_ctx, items, d, attribute)

    @pass_eval_context
    def do_replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> str:
        limits.check_replace(str(value), str(old), str(new))
        return replace(eval_ctx, value, old, new, count)

    def do_format(value: Any, *args: Any, **kwargs: Any) -> str:
        limits.check_percent_format(str(value), kwargs or args)
        return filters["format"](value, *args, **kwargs)

    @pass_eval_context
    def do_tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Any:
        if indent:
            limits.check_width(indent, "| tojson")
            width = len(indent) if isinstance(indent, str) else int(indent)
            limits.check_size(limits.weight(value) * (1 + width), "the JSON text")
        return tojson(eval_ctx, value, indent)

    def do_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        limits.check_width(linecount, "| batch")
        return batch(limits.limited_iter(value), linecount, fill_with)

    def do_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
        limits.check_width(slices, "| slice")
        return slice_(list(limits.limited_iter(value)), slices, fill_with)

    @pass_environment
    def do_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        return sum_(environment, limits.limited_iter(iterable), attribute, start)

    @pass_context
    def do_map(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        return map_(context, limits.limited_iter(value), *args, **kwargs)

    @pass_context
    def do_select(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        return select(context, limits.limited_iter(value), *args, **kwargs)

    @pass_context
    def do_reject(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        return reject(context, limits.limited_iter(value), *args, **kwargs)

    @pass_environment
    def do_wordwrap(environment: Any, s: Any, *args: Any, **kwargs: Any) -> str:
        text = str(s)  # textwrap is quadratic in the longest word: bound the text and its words
        limits.check_size(len(text) * 10, "the text to wrap (ten times its length)")
        limits.check_width(max(map(len, text.split()), default=0), "| wordwrap on a word that")
        return wordwrap(environment, s, *args, **kwargs)

    def do_concat(parts: list) -> str:
        texts = [str(part) for part in parts]
        limits.check_size(sum(len(text) for text in texts), "joining text with '~'")
        return "".join(texts)

    return {"center": do_center, "indent": do_indent, "join": do_join, "replace": do_replace,
            "format": do_format, "tojson": do_tojson, "batch": do_batch, "slice": do_slice, "sum": do_sum,
            "map": do_map, "select": do_select, "reject": do_reject, "wordwrap": do_wordwrap,
            "_loop": limits.limited_iter, "_output": limits.charge_output, "_concat": do_concat}


class _LimitTransformer(NodeTransformer):
    """Rewrites a parsed template so every loop step, every ``{{ ... }}`` and every ``~`` is counted."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_loop")
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [child if isinstance(child, nodes.TemplateData) else _filter(child, "_output")
                      for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), "_concat")


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


def _make_environment() -> _TemplateEnvironment:
    env = _TemplateEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, trim_blocks=True,
        lstrip_blocks=True, finalize=_finalize, loader=None, auto_reload=False,
    )
    env.filters = {name: env.filters[name] for name in _ALLOWED_FILTERS}
    env.filters.update(_bounded_filters(env.filters))
    env.filters["default_if_empty"] = default_if_empty
    env.globals.clear()
    return env


_ENV = _make_environment()


def available_filters() -> list[str]:
    """The names of the filters a template may use (``{{ column | upper }}``)."""
    return sorted(name for name in _ENV.filters if not name.startswith("_"))


def placeholder_for(column: str) -> str:
    """The placeholder text that inserts ``column``: ``{{ name }}``, or ``{{ row["Odd name"] }}``."""
    if column.isidentifier() and not keyword.iskeyword(column) and column not in _JINJA_WORDS:
        return "{{ " + column + " }}"
    return "{{ row[" + _quote(column) + "] }}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------- compiling
@dataclass(frozen=True)
class _Compiled:
    template: Any  # jinja2.Template
    columns: dict  # column name -> (line, column) of its first use
    source: str


@lru_cache(maxsize=256)
def _compile(field: str, source: str) -> _Compiled:
    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_message(exc), field, exc.lineno or None,
                            syntax_error_column(source, exc.lineno, exc.message or "")) from None
    for node_type, tag in _FORBIDDEN_TAGS.items():
        for node in ast.find_all(node_type):
            raise TemplateError(
                f"{{% {tag} %}} is not available: a template can only use this row's columns. "
                "Write the text into the template itself.", field, node.lineno)
    try:  # an unknown filter or test is only found while compiling
        columns = _referenced_columns(ast, source)
        ast = _LimitTransformer().visit(ast)
        ast.set_environment(_ENV)
        template = _ENV.from_string(ast)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_message(exc), field, exc.lineno or None) from None
    return _Compiled(template, columns, source)


def syntax_error_column(source: str, line: int | None, message: str) -> int | None:
    """A 1-based column for a Jinja syntax error (Jinja reports only the line): where the unexpected
    text is, else where the last ``{{``/``{%`` opened on that line."""
    lines = source.splitlines()
    if not line or not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    match = re.search(r"unexpected '(.+?)'", message)
    if match and match.group(1) in text:
        return text.index(match.group(1)) + 1
    opened = max(text.rfind("{{"), text.rfind("{%"))
    return opened + 1 if opened >= 0 else None


def _syntax_message(exc: TemplateSyntaxError) -> str:
    message = exc.message or str(exc)
    match = re.match(r"No filter named '([^']+)'", message)
    if match:
        return (f"there is no filter named '{match.group(1)}'. Filters you can use: "
                f"{', '.join(available_filters())}.")
    match = re.match(r"No test named '([^']+)'", message)
    if match:
        return f"there is no test named '{match.group(1)}' (as in {{% if x is ... %}})."
    message = message.rstrip(".")
    if "end of template" in message:
        message += " (a {{ or {% is opened but not closed, or a block such as {% if %} lacks its {% endif %})"
    return (f"{message}. Placeholders are written {{{{ column }}}} and blocks {{% if column %}} ... {{% endif %}}; "
            "check the brackets on this line.")


def _referenced_columns(ast: nodes.Template, source: str) -> dict[str, tuple[int, int | None]]:
    """Columns the template reads, with the (line, column) of their first use."""
    names = set(meta.find_undeclared_variables(ast)) - {ROW_VARIABLE}
    found: dict[str, tuple[int, int | None]] = {}
    lines = source.splitlines()
    for node in ast.find_all(nodes.Name):
        if node.ctx == "load" and node.name in names and node.name not in found:
            found[node.name] = (node.lineno, _find_column(lines, node.lineno, node.name))
    for node in ast.find_all((nodes.Getitem, nodes.Getattr)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == ROW_VARIABLE and target.ctx == "load"):
            continue
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            key = node.arg.value
        else:
            continue
        if key not in found:
            found[key] = (node.lineno, _find_column(lines, node.lineno, key))
    return found


def _find_column(lines: list[str], line: int, name: str) -> int | None:
    if not 1 <= line <= len(lines):
        return None
    match = re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", lines[line - 1])
    return match.start() + 1 if match else None


def placeholders(template: PromptTemplate) -> set[str]:
    """The column names the template's system, prompt and response read (``row["x"]`` counts as ``x``).

    A field with a syntax error contributes nothing; :func:`check_template` reports the error.
    """
    out: set[str] = set()
    for field in FIELDS:
        try:
            out |= set(_compile(field, getattr(template, field) or "").columns)
        except TemplateError:
            continue
    return out


# ---------------------------------------------------------------------------------------------- checking
def check_template(template: PromptTemplate, columns: list[str]) -> list[TemplateProblem]:
    """Everything that would stop ``template`` from working on a dataset with ``columns``.

    Reports syntax errors (with their line), columns the dataset does not have (naming the available
    ones), a response that is blank for every row (an error: nothing to learn), a response that is the same
    text for every row and an empty prompt (warnings). An empty list means the template is ready.
    """
    problems: list[TemplateProblem] = []
    available = list(columns)
    for field in FIELDS:
        source = getattr(template, field) or ""
        try:
            compiled = _compile(field, source)
        except TemplateError as exc:
            problems.append(TemplateProblem(field, exc.detail, exc.line, exc.column))
            continue
        for name, (line, column) in compiled.columns.items():
            if name not in available:
                problems.append(TemplateProblem(field, _unknown_column_message(name, available), line, column))
        if field == "response":
            problems.extend(_response_problems(compiled))
        elif field == "prompt" and not source.strip():
            problems.append(TemplateProblem(
                field, "the prompt is empty, so the model sees no input. Put the columns the model should read "
                "in it, e.g. {{ question }}.", severity="warning"))
    return problems


def _unknown_column_message(name: str, available: list[str]) -> str:
    close = difflib.get_close_matches(name, available, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(available) if available else "(none)"
    return f"there is no column '{name}' in this dataset.{hint} Available columns: {listed}."


def _response_problems(compiled: _Compiled) -> list[TemplateProblem]:
    if not compiled.source.strip():
        return [TemplateProblem("response", "the response is empty for every row: the model would learn nothing. "
                                "Put the column the model should produce in it, e.g. {{ answer }}.")]
    if compiled.columns:
        return []
    previous = limits.start()
    try:
        text = compiled.template.render()
    except LimitExceeded as exc:
        return [TemplateProblem("response", _runtime_message(exc), _template_line(exc))]
    except Exception:  # a runtime error is reported when rows are rendered
        return []
    finally:
        limits.stop(previous)
    if not text.strip():
        return [TemplateProblem("response", "the response is empty for every row: the model would learn nothing. "
                                "Put the column the model should produce in it, e.g. {{ answer }}.")]
    return [TemplateProblem("response", "the response is the same text for every row, so the model would only "
                            "learn to repeat it. Use a column placeholder such as {{ answer }}.",
                            severity="warning")]


# ---------------------------------------------------------------------------------------------- rendering
class CompiledTemplate:
    """A :class:`PromptTemplate` compiled once, ready to render many rows."""

    def __init__(self, template: PromptTemplate):
        """Compile all three fields; raises :class:`TemplateError` on a syntax error or a forbidden tag."""
        self.template = template
        self._fields = {field: _compile(field, getattr(template, field) or "") for field in FIELDS}

    @property
    def columns(self) -> set[str]:
        """The columns this template reads."""
        return {name for compiled in self._fields.values() for name in compiled.columns}

    def render(self, row: dict, row_index: int | None = None) -> RenderedExample:
        """Fill the template with ``row``; raises :class:`TemplateError` naming the field, line and column."""
        values = {str(k): _plain_value(v) for k, v in row.items()}
        context = {**values, ROW_VARIABLE: values}
        out = {}
        for field, compiled in self._fields.items():
            for name, (line, column) in compiled.columns.items():
                if name not in values:
                    raise TemplateError(
                        f"this row has no column '{name}'. Available columns: {', '.join(values) or '(none)'}.",
                        field, line, column, row_index)
            try:
                out[field] = _render_field(field, compiled, context, row_index)
            except TemplateError as exc:
                raise named_limit_error(exc, self.template.name) from None
        return RenderedExample(**out)


def named_limit_error(exc: TemplateError, name: str) -> TemplateError:
    """``exc`` naming the template ``name`` when a render limit stopped it (else ``exc`` unchanged)."""
    if not exc.limit or not name or not exc.detail.startswith("this template"):
        return exc
    renamed = TemplateError(f"the template '{name}'" + exc.detail[len("this template"):], exc.field, exc.line,
                            exc.column, exc.row)
    renamed.limit = exc.limit
    return renamed


def _plain_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _render_field(field: str, compiled: _Compiled, context: dict, row_index: int | None) -> str:
    previous = limits.start()
    try:
        return compiled.template.render(context)
    except Exception as exc:  # every failure becomes a TemplateError that says where
        error = TemplateError(_runtime_message(exc), field, _template_line(exc), None, row_index)
        error.limit = str(exc) if isinstance(exc, LimitExceeded) else None
        raise error from None
    finally:
        limits.stop(previous)


def _runtime_message(exc: Exception) -> str:
    if isinstance(exc, LimitExceeded):
        return (f"this template was stopped because {exc}. Templates are limited so that one shared with you "
                "cannot freeze the app or fill its memory; simplify the loops, repeats or widths on this line.")
    if isinstance(exc, MemoryError):
        return "this template needs more memory than there is. Simplify the loops or repeats on this line."
    if isinstance(exc, SecurityError):
        reason = str(exc).rstrip(".")
        return (f"this template tries something templates may not do ({reason}). Use only column placeholders, "
                "filters such as | upper, and {% if %} / {% for %} blocks.")
    if isinstance(exc, UndefinedError):
        return f"{exc}. Check the placeholder on this line."
    if isinstance(exc, JinjaTemplateError):
        return f"{exc.message or exc}."
    if isinstance(exc, RecursionError):
        return "the template repeats itself without end. Simplify it."
    return f"the template could not be filled in for this row ({exc}). Check the filters on this line."


def _template_line(exc: BaseException) -> int | None:
    """The template line where ``exc`` happened (Jinja rewrites tracebacks to point at template lines)."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_row(template: PromptTemplate, row: dict) -> RenderedExample:
    """``row`` rendered through ``template``: nulls print as "", integers as ``3``, floats as ``3.0``.

    Raises :class:`TemplateError` for a syntax error, a column the row lacks (naming the available ones) or
    anything the sandbox refuses.
    """
    return CompiledTemplate(template).render(row)


def render_rows(template: PromptTemplate, rows: Iterable[dict]) -> list[RenderedExample]:
    """Every row rendered through ``template`` (compiled once); an error names the data row it happened on."""
    compiled = CompiledTemplate(template)
    return [compiled.render(row, index) for index, row in enumerate(rows)]
