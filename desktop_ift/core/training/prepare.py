"""Preparing a training run in the parent process (cheap, no torch): the plan of what will be trained
(:func:`build_plan`, shown before launch), then the run and its job (:func:`prepare_train_job`). The job
file's format is described in :mod:`desktop_ift.core.job_format`; writing it is
:mod:`desktop_ift.core.training.train_job`.
"""

from __future__ import annotations

from pathlib import Path

from desktop_ift.core.data.snapshots import load_dataset_table
from desktop_ift.core.data.splits import SplitError, SplitSpec, detect_split_column
from desktop_ift.core.job_format import DEMO_MODEL, JobError
from desktop_ift.core.models.choice import validate_model_choice
from desktop_ift.core.models.discovery import model_origin, origin_text
from desktop_ift.core.store import RunRecord, Store, StoreError
from desktop_ift.core.templates.conversation import ConversationError
from desktop_ift.core.templates.render import TemplateError
from desktop_ift.core.templates.template_set import TemplateSet
from desktop_ift.core.templates.training_data import build_split_lines, data_format_of
from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.plan import PlanError, PlanLengths, PlanSplit, PlanTemplate, TrainPlan
from desktop_ift.core.training.plan_lengths import measure, plan_tokenizer, train_lengths
from desktop_ift.core.training.source import check_source, render_error, resolve_training_source
from desktop_ift.core.training.train_job import write_train_job


def default_split(table):
    """The split a dataset gets when the user chose none: its own split column when it has one (a column
    named ``split`` whose every value names a part), else 80/10/10 with seed 42."""
    column = detect_split_column(table)
    return SplitSpec(split_column=column) if column else SplitSpec()


def build_plan(
    store: Store,
    project_id: int,
    dataset_id: int,
    template_id,
    config: TrainConfig,
    model: str = DEMO_MODEL,
    split=None,
    name: str = "",
    allow_download: bool = False,
    tokenizer="auto",
):
    """The :class:`~desktop_ift.core.training.plan.TrainPlan` of a run and the data lines it was counted on.

    Renders and splits the data exactly as the run will (nothing is written), and counts the token lengths
    with ``tokenizer`` (``"auto"``: the chosen model's, building the demo model first when needed; a
    ``(tokenizer, label)`` pair from :func:`~desktop_ift.core.training.plan_lengths.plan_tokenizer`; None:
    not counted). ``split`` None takes :func:`default_split`. Returns ``(plan, built)``; raises :class:`JobError`
    with a plain message for anything the user must fix.
    """
    try:
        dataset = store.get_dataset(dataset_id)
    except StoreError as exc:
        raise JobError(str(exc)) from exc
    source = resolve_training_source(store, template_id)
    check_source(source, dataset.column_names)
    model = validate_model_choice(model, allow_download=allow_download, workspace=store.home)
    table = load_dataset_table(dataset)
    if table.num_rows == 0:
        raise JobError(f"The dataset {dataset.label} has no rows. Import a file with data first.")
    split = split or default_split(table)
    if split.stratify_column and split.stratify_column not in dataset.column_names:
        raise JobError(f"Cannot stratify by {split.stratify_column!r}: the dataset has no such column.")
    try:
        built = build_split_lines(source, table, split)
    except (TemplateError, ConversationError, SplitError) as exc:
        raise JobError(render_error(exc) if isinstance(exc, TemplateError) else str(exc)) from exc
    if built.problems:
        raise JobError(built.problems)
    lines = built.lines
    if sum(len(v) for v in lines.values()) == 0:
        what = ("every document is empty: the text columns hold no text" if data_format_of(source) == "text"
                else "every response is empty, so the model would learn nothing. Check that the response "
                "uses the column with the answers")
        raise JobError(f"These settings cannot be used for training: {what}.")
    if not lines["train"]:
        raise JobError("The training split is empty. Use a larger training ratio or a bigger dataset.")
    worker_format = data_format_of(source)
    if isinstance(tokenizer, str) and tokenizer == "auto":
        tokenizer, tok_label = plan_tokenizer(model, store.home)
    elif isinstance(tokenizer, tuple):  # (tokenizer or None, label) from plan_tokenizer
        tokenizer, tok_label = tokenizer
    else:
        tok_label = "given tokenizer" if tokenizer is not None else "no tokenizer"
    counted = {}
    if tokenizer is not None:
        counted = measure(tokenizer, worker_format, lines, config.max_seq_length, config.overflow,
                          config.train_on_completion_only, config.truncate_side)
    templates, set_kw, spec = [], {}, {}
    if isinstance(source, TemplateSet):
        ids = list(source.template_ids) + [None] * (len(source.templates) - len(source.template_ids))
        weights = source.weights or [None] * len(source.templates)
        templates = [PlanTemplate(name=label, prompt=t.prompt, response=t.response, system=t.system or "",
                                  template_id=tid, weight=w)
                     for label, t, tid, w in zip(source.labels(), source.templates, ids, weights)]
        set_kw = {"set_mode": source.mode, "set_seed": source.seed,
                  "set_name": source.name if len(source.templates) > 1 else ""}
    else:
        spec = source.to_dict()
    try:
        plan = TrainPlan(
            project_id=project_id, dataset_id=dataset.id, dataset_name=dataset.name,
            dataset_version=dataset.version,
            data_format={"text": "pretrain"}.get(worker_format, worker_format), model=model,
            model_source=_model_source(model),
            config=config.to_dict(),
            split=PlanSplit(method="column" if split.split_column else "ratios", train=split.train,
                            validation=split.validation, test=split.test, seed=split.seed,
                            stratify_column=split.stratify_column, split_column=split.split_column,
                            rows={k: len(v) for k, v in built.parts.items()},
                            examples={k: len(v) for k, v in lines.items()}),
            lengths=PlanLengths(max_seq_length=config.max_seq_length, overflow=config.overflow,
                                truncate_side=config.truncate_side, measured=tokenizer is not None,
                                tokenizer=tok_label, **counted),
            templates=templates, format_spec=spec, dropped_empty=built.dropped_empty,
            allow_download=bool(allow_download), name=name, **set_kw)
    except PlanError as exc:
        raise JobError(str(exc)) from exc
    if plan.lengths.measured and plan.lengths.trained.get("train", 0) == 0:
        n = plan.split.examples["train"]
        raise JobError(f"All {n:,} training examples are longer than the maximum length ({config.max_seq_length} "
                       f"tokens) and longer examples are dropped, so nothing would train. Raise the maximum "
                       f"length (a maximum of {plan.lengths.cover95:,} covers 95%), or truncate them instead.")
    return plan, built


def training_lengths(store: Store, template_id, built, model: str) -> list[int] | None:
    """The token length of every training example of ``built`` (the second value of :func:`build_plan`),
    counted with ``model``'s tokenizer, to size a preset to the data; None when that tokenizer is not at hand
    (a hub model not downloaded, an encoder-decoder model)."""
    tokenizer, _ = plan_tokenizer(model, store.home)
    if tokenizer is None:
        return None
    worker_format = data_format_of(resolve_training_source(store, template_id))
    return train_lengths(tokenizer, worker_format, built.lines.get("train", []))


def prepare_train_job(
    store: Store,
    project_id: int,
    dataset_id: int,
    template_id,
    config: TrainConfig,
    model: str = DEMO_MODEL,
    split=None,
    name: str = "",
    allow_download: bool = False,
    planned=None,
) -> tuple[RunRecord, Path]:
    """Render, split and write the data of a training run, create the run (status ``queued``) and its job.

    ``template_id`` is what to train on: a project template id, or anything
    :func:`resolve_training_source` accepts (a TemplateSet with several templates, chat columns, text
    columns for continued pre-training). The split (``split``, a
    :class:`~desktop_ift.core.data.splits.SplitSpec`; default :func:`default_split`) is made on source rows
    (whole conversations for chat) *before* a template set expands them, so the variants of one row never
    land in both training and test data. Rows whose response renders empty are left out (counted in the
    plan's ``dropped_empty``). ``planned`` is the ``(plan, built)`` pair :func:`build_plan` returned (the
    plan the user saw); without it the plan is built here. Returns the run and the path of its
    ``job.json``, which holds the plan (key ``plan``) next to what the worker reads. Raises
    :class:`JobError` with a plain message for anything the user must fix, before anything is created.
    ``model`` is "demo", a model folder, or a Hugging Face hub id (``org/name``) found in the local hub
    cache -- or anywhere with ``allow_download``, when the worker may fetch it.
    """
    if planned is None:
        planned = build_plan(store, project_id, dataset_id, template_id, config, model, split, name,
                             allow_download)
    return write_train_job(store, *planned)


def _model_source(model: str) -> dict:
    """Where a model converted from a GGUF came from (with its one-line ``text`` for the plan), else {}."""
    origin = model_origin(model) if model not in (DEMO_MODEL, "smollm2") else {}
    return {**origin, "text": origin_text(origin)} if origin else {}
