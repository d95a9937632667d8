"""Preparing runs: everything the GUI and the CLI do before a worker process starts.

A run is prepared entirely in the parent (cheap, no torch): the dataset snapshot is rendered through the
template, split, and written as JSON-lines files into the run folder next to a ``job.json`` that names
everything the worker needs. The worker then depends on nothing but that folder and the workspace, so a
job can be re-run from a terminal (``desktop-ift train runs/<id>/job.json``) or copied to another machine.

Job file, training (``kind: "train"``)::

    {"kind": "train", "version": 1, "run_id": ..., "workspace": "/abs/home",
     "model": "demo" | "/abs/path/to/hf/folder",
     "model_source": {} | {where a model converted from GGUF came from: gguf_file, source, name, sha256, ...},
     "config": {TrainConfig fields},
     "data": {"train": "/abs/.../train.jsonl", "validation": "...", "test": "..."},
     "output_dir": "/abs/.../output", "resume_from": null | "/abs/checkpoint",
     "source": {"project_id", "dataset_id", "dataset_version", "template": {...}, "split": {...}},
     "plan": {TrainPlan.to_dict(): core.training.plan -- what was shown before launch, with the counts the
              worker must reproduce}}

Job file, evaluation (``kind: "evaluate"``, prepared by ``core.evaluation.eval_jobs``)::

    {"kind": "evaluate", "version": 1, "run_id": ..., "workspace": ...,
     "test_data": "/abs/.../test.jsonl",
     "models": [{"label": "base", "model": "demo" | path, "adapter": null},
                {"label": "fine-tuned", "model": "demo" | path, "adapter": "/abs/output" | null}],
     "generation": {GenerationConfig fields}, "labels": "auto" | [..] | null}

Each data line is one of (``job["data_format"]`` names which; the worker also tells them apart by keys)::

    instruction: {"idx": row index in the snapshot, "system", "prompt", "response", "template": label}
    chat:        {"idx": first row of the conversation, "system", "messages": [{"role", "content"}, ...]}
    text:        {"idx": row index, "text"}                  (continued pre-training)

The special model ``"demo"`` is the tiny model the worker builds in ``<workspace>/models`` on first use.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from desktop_ift.core.store import RunRecord, Store, StoreError
from desktop_ift.core.templates.references import reference_columns
from desktop_ift.core.training.config import TrainConfig

from desktop_ift.core.job_format import (  # noqa: F401 - re-exported: the names callers import from here
    DEMO_MODEL,
    JOB_KINDS,
    JOB_VERSION,
    JobError,
    read_job,
    read_jsonl,
    worker_command,
)
from desktop_ift.core.job_format import write_jsonl as _write_jsonl


def render_dataset(store: Store, dataset_id: int, template) -> list[dict]:
    """Render every row of a dataset snapshot through ``template`` (a PromptTemplate or a TemplateSet).

    Returns ``{"idx", "system", "prompt", "response", "template"}`` dicts, several per row when the set
    expands rows. Raises :class:`JobError` naming the first row that cannot be rendered.
    """
    from desktop_ift.core.data.importers import load_dataset_table
    from desktop_ift.core.templates.render import PromptTemplate, TemplateError
    from desktop_ift.core.templates.template_set import TemplateSet, render_set

    template_set = TemplateSet.single(template) if isinstance(template, PromptTemplate) else template
    table = load_dataset_table(store.get_dataset(dataset_id))
    try:
        return render_set(template_set, table)
    except TemplateError as exc:
        raise JobError(_render_error(exc)) from exc


def _render_error(exc) -> str:
    row = f"Row {exc.row + 1} cannot be rendered: " if getattr(exc, "row", None) is not None else ""
    return f"{row or 'The template cannot be rendered: '}{exc}"


def resolve_training_source(store: Store, source):
    """What a run trains on, as a TemplateSet, ConversationSpec or PretrainSpec.

    ``source`` may be a project template id (int), a PromptTemplate, a TemplateSet, a ConversationSpec, a
    PretrainSpec, or the ``to_dict()`` form of any of them (``{"kind": "chat", ...}``).
    """
    from desktop_ift.core.templates.conversation import ConversationSpec, PretrainSpec
    from desktop_ift.core.templates.render import PromptTemplate
    from desktop_ift.core.templates.template_set import TemplateSet, TemplateSetError

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


def _check_source(source, column_names: list[str]) -> None:
    from desktop_ift.core.templates.conversation import ConversationError, check_columns
    from desktop_ift.core.templates.render import check_template
    from desktop_ift.core.templates.template_set import TemplateSet

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


def data_format_of(source) -> str:
    """The worker's name for the data lines ``source`` makes: ``instruction``, ``chat`` or ``text``."""
    from desktop_ift.core.templates.training_data import data_format_of as _format

    return _format(source)


def default_split(table):
    """The split a dataset gets when the user chose none: its own split column when it has one (a column
    named ``split`` whose every value names a part), else 80/10/10 with seed 42."""
    from desktop_ift.core.data.splits import SplitSpec, detect_split_column

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
    from desktop_ift.core.data.importers import load_dataset_table
    from desktop_ift.core.data.splits import SplitError
    from desktop_ift.core.templates.conversation import ConversationError
    from desktop_ift.core.templates.render import TemplateError
    from desktop_ift.core.templates.template_set import TemplateSet
    from desktop_ift.core.templates.training_data import build_split_lines
    from desktop_ift.core.training.plan import PlanError, PlanLengths, PlanSplit, PlanTemplate, TrainPlan
    from desktop_ift.core.training.plan_lengths import measure, plan_tokenizer

    try:
        dataset = store.get_dataset(dataset_id)
    except StoreError as exc:
        raise JobError(str(exc)) from exc
    source = resolve_training_source(store, template_id)
    _check_source(source, dataset.column_names)
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
        raise JobError(_render_error(exc) if isinstance(exc, TemplateError) else str(exc)) from exc
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
    from desktop_ift.core.models.discovery import model_origin, origin_text

    origin = model_origin(model) if model not in (DEMO_MODEL, "smollm2") else {}
    return {**origin, "text": origin_text(origin)} if origin else {}


def write_train_job(store: Store, plan, built) -> tuple[RunRecord, Path]:
    """Create the run of ``plan`` (status ``queued``), write its data lines and its ``job.json``."""
    from desktop_ift.core.models.bundled import BUNDLED_DIRNAME, BUNDLED_MODEL

    if plan.model == BUNDLED_MODEL:
        raise JobError(f"{BUNDLED_DIRNAME} is not prepared yet: it is converted once into a model folder before "
                       "the first run (the Train page does it on Start; the CLI's --model smollm2 does it).")
    lines, parts = built.lines, built.parts
    config = TrainConfig.from_dict(plan.config)
    run = store.create_run("train", config=plan.config, project_id=plan.project_id, name=plan.name)
    run_dir = Path(run.run_dir)
    data_dir = run_dir / "data"
    data_dir.mkdir(exist_ok=True)
    data = {}
    for part in parts:
        path = data_dir / f"{part}.jsonl"
        _write_jsonl(path, lines[part])
        data[part] = str(path)
    split_spec = plan.split.spec()
    source_info = {
        "project_id": plan.project_id,
        "dataset_id": plan.dataset_id,
        "dataset_name": plan.dataset_name,
        "dataset_version": plan.dataset_version,
        "split": asdict(split_spec),
        "counts": dict(plan.split.examples),
        "source_counts": dict(plan.split.rows),
        "dropped_empty": plan.dropped_empty,
        "data_format": plan.worker_format,
        "template_names": plan.template_names(),
    }
    if plan.templates:
        first = plan.templates[0]
        refs = [reference_columns(store, t.template_id) for t in plan.templates]  # evaluation scores with them
        source_info["template"] = {"name": first.name, "prompt": first.prompt, "response": first.response,
                                   "system": first.system, "references": refs[0]}
        source_info["template_set"] = {
            "templates": [{"name": t.name, "prompt": t.prompt, "response": t.response, "system": t.system,
                           "references": r} for t, r in zip(plan.templates, refs)],
            "mode": plan.set_mode, "seed": plan.set_seed, "name": plan.set_name,
            "weights": [t.weight for t in plan.templates] if any(t.weight is not None for t in plan.templates)
            else None,
            "template_ids": [t.template_id for t in plan.templates if t.template_id is not None]}
    else:
        source_info[plan.worker_format + "_spec"] = dict(plan.format_spec)
    job = {
        "kind": "train",
        "version": JOB_VERSION,
        "run_id": run.id,
        "workspace": str(store.home),
        "model": plan.model,
        "model_source": plan.model_source,
        "config": config.to_dict(),
        "data": data,
        "data_format": plan.worker_format,
        "output_dir": str(run_dir / "output"),
        "resume_from": None,
        "source": source_info,
        "allow_download": plan.allow_download,
        "plan": plan.to_dict(),
    }
    job_path = run_dir / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    run = store.update_run(run.id, config={**config.to_dict(), "model": plan.model,
                                           "model_source": plan.model_source, "source": job["source"],
                                           "allow_download": plan.allow_download, "plan": job["plan"]},
                           output_dir=job["output_dir"])
    return run, job_path


def validate_model_choice(model: str, allow_download: bool = False, workspace=None, progress=None) -> str:
    """Return ``model`` ("demo", an absolute folder path, or a hub id) if it looks usable, else raise JobError.

    This is a cheap check that needs no torch (the GUI calls it when a folder is chosen): a folder must
    exist and hold a ``config.json`` with a ``model_type``; a hub id (``org/name``, not a path here) must be
    in the local Hugging Face cache unless ``allow_download``. The worker does the full load later.
    A GGUF choice (a ``.gguf`` file, ``ollama:NAME[:TAG]``, ``lmstudio:PATH``) gives its converted folder
    in ``workspace`` (converted once, cached by the file's hash, ``progress(message, fraction)`` along the
    way; that conversion loads torch); without ``workspace`` it is a JobError saying how to choose it.
    """
    from desktop_ift.core.modeling import find_in_hub_cache, hub_cache_dir, looks_like_hub_id
    from desktop_ift.core.models.bundled import (
        BUNDLED_DIRNAME, BUNDLED_MODEL, INSTALL_HINT, bundled_available, bundled_model_dir, is_bundled_converted,
    )
    from desktop_ift.core.models.discovery import is_gguf_choice

    if model == DEMO_MODEL:
        return model
    if model == BUNDLED_MODEL:
        # the bundled SmolLM2 before its one conversion: planned as it is (its tokenizer alone counts the
        # lengths), converted before a job is written (write_train_job refuses it as it is)
        if workspace is not None and is_bundled_converted(workspace):
            return str(bundled_model_dir(workspace))
        if not bundled_available():
            raise JobError(f"The model installed with the app ({BUNDLED_DIRNAME}) is missing. Install it: "
                           f"{INSTALL_HINT}")
        return model
    if is_gguf_choice(model):
        if workspace is None:
            raise JobError(f"{model} is a GGUF model, not a model folder: choose it with “GGUF, Ollama or LM "
                           "Studio model…” on the Train page (or pass it to --model); it is converted once "
                           "into an ordinary model folder.")
        from desktop_ift.core.models.discovery import resolve_gguf_choice
        from desktop_ift.core.models.gguf_convert import GgufError

        try:
            model = str(resolve_gguf_choice(workspace, model, progress))
        except GgufError as exc:
            raise JobError(str(exc)) from exc
    if looks_like_hub_id(model):
        hub_id = model.strip()
        if allow_download or find_in_hub_cache(hub_id) is not None:
            return hub_id
        raise JobError(f"The model {hub_id} is not on this computer (not in the Hugging Face cache at "
                       f"{hub_cache_dir()}), and downloading is off. Allow downloading this model (it needs an "
                       "internet connection), or download it once and choose its folder.")
    path = Path(model).expanduser()
    if not path.is_dir():
        raise JobError(f"Model folder not found: {path}. Choose a folder that holds a downloaded model.")
    config = path / "config.json"
    if not config.exists():
        raise JobError(
            f"{path} is not a model folder: it has no config.json. Choose the folder that holds config.json, "
            "the tokenizer files and the weights (*.safetensors) — a Hugging Face model folder."
        )
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as exc:
        raise JobError(f"{config} cannot be read as JSON ({exc}). The model folder looks damaged.") from exc
    if not model_type:
        raise JobError(f"{config} names no model_type, so it is not a transformers model configuration.")
    return str(path.resolve())
