"""What a run trains on: a project template, a template set, chat columns or text columns, resolved into
one object (:class:`TemplateSet`, :class:`ConversationSpec` or :class:`PretrainSpec`) and checked against
a dataset's columns. Training preparation and evaluation preparation both start here."""

from __future__ import annotations

from desktop_ift.core.job_format import JobError
from desktop_ift.core.store import Store, StoreError
from desktop_ift.core.templates.conversation import ConversationError, ConversationSpec, PretrainSpec, check_columns
from desktop_ift.core.templates.render import PromptTemplate, check_template
from desktop_ift.core.templates.template_set import TemplateSet, TemplateSetError


def render_error(exc) -> str:
    """The plain message of a TemplateError, naming its row (1-based) when it has one."""
    row = f"Row {exc.row + 1} cannot be rendered: " if getattr(exc, "row", None) is not None else ""
    return f"{row or 'The template cannot be rendered: '}{exc}"


def resolve_training_source(store: Store, source):
    """What a run trains on, as a TemplateSet, ConversationSpec or PretrainSpec.

    ``source`` may be a project template id (int), a PromptTemplate, a TemplateSet, a ConversationSpec, a
    PretrainSpec, or the ``to_dict()`` form of any of them (``{"kind": "chat", ...}``).
    """
    if isinstance(source, bool):
        raise JobError(f"{source!r} is not a template.")
    if isinstance(source, int):
        try:
            rec = store.get_template(source)
        except StoreError as exc:
            raise JobError(str(exc)) from exc
        return TemplateSet.single(PromptTemplate(prompt=rec.prompt, response=rec.response, system=rec.system,
                                                 name=rec.name), rec.id)
    if isinstance(source, PromptTemplate):
        return TemplateSet.single(source)
    if isinstance(source, (TemplateSet, ConversationSpec, PretrainSpec)):
        return source
    if isinstance(source, dict):
        data = dict(source)
        kind = data.pop("kind", "template_set")
        try:
            if kind == "chat":
                return ConversationSpec(**data)
            if kind in ("pretrain", "text"):
                return PretrainSpec(**data)
            return TemplateSet.from_dict(data)
        except (TypeError, TemplateSetError) as exc:
            raise JobError(f"The training data settings cannot be read ({exc}).") from exc
    raise JobError(f"Cannot train on {type(source).__name__}: choose a template, a template set, chat columns "
                   "or text columns.")


def check_source(source, column_names: list[str]) -> None:
    """Raise :class:`JobError` when ``source`` (resolved) cannot be used with a dataset of these columns:
    a template with an error (naming which template of a set), or chat/text columns that are missing."""
    if isinstance(source, TemplateSet):
        many = len(source.templates) > 1
        for label, template in zip(source.labels(), source.templates):
            problems = [p for p in check_template(template, column_names) if p.severity == "error"]
            if problems:
                which = f"The template {label!r}" if many else "The template"
                raise JobError(f"{which} cannot be used for training: " + "; ".join(p.text for p in problems))
        return
    try:
        check_columns(source, column_names)
    except ConversationError as exc:
        raise JobError(str(exc)) from exc
