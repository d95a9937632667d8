"""Preparing evaluation runs (the evaluation counterpart of :mod:`desktop_ift.core.training.prepare`).

Everything here is cheap and torch-free: the GUI calls it on its own thread. A prepared run's folder
holds a ``job.json`` that :mod:`desktop_ift.core.worker` runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from desktop_ift.core.data.importers import load_dataset_table
from desktop_ift.core.evaluation.answer_length import measure
from desktop_ift.core.evaluation.benchmark_data import BenchmarkFormatError, builtin_path, load_benchmark
from desktop_ift.core.evaluation.items import EvalDataError, data_format, eval_items
from desktop_ift.core.hub_cache import find_in_hub_cache, looks_like_hub_id
from desktop_ift.core.job_format import DEMO_MODEL, JOB_VERSION, JobError, read_job, read_jsonl
from desktop_ift.core.models.choice import validate_model_choice
from desktop_ift.core.models.discovery import is_gguf_choice
from desktop_ift.core.store import RunRecord, Store, StoreError
from desktop_ift.core.templates.references import job_reference_columns
from desktop_ift.core.templates.render import TemplateError
from desktop_ift.core.templates.training_data import build_split_lines
from desktop_ift.core.training.source import check_source, render_error, resolve_training_source
from desktop_ift.core.training.config import GenerationConfig


def _finished_train_run(store: Store, run_id: str) -> tuple[RunRecord, dict]:
    try:
        train = store.get_run(run_id)
    except StoreError as exc:
        raise JobError(str(exc)) from exc
    if train.kind != "train":
        raise JobError(f"{run_id} is not a training run.")
    if train.status != "finished":
        raise JobError(
            f"The training run {run_id} is {train.status}, not finished: there is no fine-tuned model "
            "to evaluate yet. Wait for it to finish, or pick a finished run."
        )
    return train, read_job(Path(train.run_dir) / "job.json")


def _tuned_model(train: RunRecord, train_job: dict, label: str) -> dict:
    base_model = train_job["model"]
    output_dir = train.output_dir or train_job["output_dir"]
    if train_job["config"].get("method", "lora") == "full":
        return {"label": label, "model": output_dir, "adapter": None}
    return {"label": label, "model": base_model, "adapter": output_dir}


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unique(label: str, taken: set[str]) -> str:
    out, n = label, 2
    while out in taken:
        out, n = f"{label} ({n})", n + 1
    taken.add(out)
    return out


def model_label_for(train: RunRecord, many: bool) -> str:
    """The column title of a fine-tuned run: ``fine-tuned`` alone, else ``fine-tuned: <run name>``."""
    return f"fine-tuned: {train.name or train.id}" if many else "fine-tuned"


def _models_for_runs(runs: list[tuple[RunRecord, dict]], include_base: bool) -> list[dict]:
    """Base column(s) first (one per distinct base model), then one column per fine-tuned run."""
    many = len(runs) > 1
    taken: set[str] = set()
    models: list[dict] = []
    if include_base:
        bases = list(dict.fromkeys(job["model"] for _, job in runs))
        for base in bases:
            name = "base" if len(bases) == 1 else f"base: {Path(base).name or base}"
            models.append({"label": _unique(name, taken), "model": base, "adapter": None})
    for train, train_job in runs:
        models.append(_tuned_model(train, train_job, _unique(model_label_for(train, many), taken)))
    return models


def chosen_model(choice: str, model: str) -> dict:
    """The column of a model named by the user (``--model``) rather than by a training run: ``choice`` is what
    was typed (``tiny``, ``smollm2``, a folder, a ``.gguf`` file, ``ollama:NAME[:TAG]``, ``lmstudio:PATH``),
    ``model`` the job entry it resolved to (see :func:`desktop_ift.core.models.bundled.resolve_model_option`).
    The label is what the user will recognise: ``tiny``, the file name of a ``.gguf``, the ``ollama:``/
    ``lmstudio:`` name as typed, else the model folder's name (or the hub id)."""
    choice = str(choice).strip()
    if model == DEMO_MODEL:
        label = "tiny"
    elif is_gguf_choice(choice):
        label = choice if choice.startswith(("ollama:", "lmstudio:")) else Path(choice).name
    else:
        label = Path(model).name if Path(model).is_absolute() else model  # a folder, or a hub id
    return {"label": label, "model": model, "adapter": None}


def _add_chosen(models: list[dict], chosen: list[dict] | None) -> list[dict]:
    """``models`` followed by the ``chosen`` columns, each label made unique among them."""
    taken = {m["label"] for m in models}
    return models + [{**m, "label": _unique(m["label"], taken)} for m in chosen or []]


def _same_test_rows(job_a: dict, job_b: dict) -> bool:
    """Whether two training jobs hold out the same rows of the same dataset version as their test split
    (their prompts may still differ: another template)."""
    def rows(job: dict):
        source = job.get("source") or {}
        idx = sorted(int(r["idx"]) for r in read_jsonl(Path(job["data"]["test"])))
        return source["dataset_id"], source["dataset_version"], idx

    try:
        return rows(job_a) == rows(job_b)
    except (OSError, ValueError, TypeError, KeyError):
        return False


def _run_ids(train_run_id: str | list[str]) -> list[str]:
    run_ids = [train_run_id] if isinstance(train_run_id, str) else list(dict.fromkeys(train_run_id))
    if not run_ids:
        raise JobError("Choose at least one finished training run to evaluate.")
    return run_ids


SPLITS = ("test", "validation")


def _split_path(train: RunRecord, train_job: dict, split: str) -> Path:
    if split not in SPLITS:
        raise JobError(f"Unknown split {split!r}: evaluate the test or the validation split.")
    path = (train_job.get("data") or {}).get(split)
    if not path:
        raise JobError(f"The run {train.name or train.id} has no {split} split. Train again with a {split} ratio "
                       "above 0, or evaluate another split.")
    return Path(path)


def _tokenizer_folder(train: RunRecord, train_job: dict) -> str | None:
    """A folder with the fine-tuned model's tokenizer (the run's output), else the base model's folder."""
    for folder in (train.output_dir or train_job.get("output_dir"), train_job.get("model")):
        if folder and (Path(folder) / "tokenizer_config.json").exists():
            return str(folder)
    return None


def _read_items(path: Path, what: str):
    rows = read_jsonl(path) if path.exists() else []
    if not rows:
        raise JobError(f"The {what} is empty, so there is nothing to evaluate. Train again with a test ratio "
                       "above 0 (for example 0.1), or choose another split or test set.")
    try:
        fmt = data_format(rows)
        return rows, fmt, ([] if fmt == "text" else eval_items(rows))
    except EvalDataError as exc:
        raise JobError(str(exc)) from exc


def suggest_answer_length(store: Store, train_run_id: str, split: str = "test", value: int | None = None,
                          test_dataset_id: int | None = None, reference_columns: list[str] | None = None):
    """The :class:`~desktop_ift.core.evaluation.answer_length.AnswerLength` an evaluation of this run's
    ``split`` (or of the test set ``test_dataset_id``) would use: derived from its references (``value``
    None) or the user's ``value`` measured against them. None for continued pre-training data (nothing is
    generated)."""
    train, train_job = _finished_train_run(store, train_run_id)
    path, test_set, what, _ = _evaluation_data(store, train, train_job, split, test_dataset_id, reference_columns)
    try:
        _, fmt, items = _read_items(path, what)
    finally:
        if test_set is not None:
            path.unlink(missing_ok=True)
    if fmt == "text":
        return None
    refs = [r for item in items for r in item.references]
    return measure(refs, _tokenizer_folder(train, train_job), value)


def _training_source_spec(train_job: dict):
    """The ``to_dict`` form of what the run trained on (template set, chat or text columns), from its job."""
    source = train_job.get("source") or {}
    for key in ("template_set", "chat_spec", "text_spec", "pretrain_spec"):
        if isinstance(source.get(key), dict):
            return source[key]
    if isinstance(source.get("template"), dict):
        return {"templates": [source["template"]], "mode": "all"}
    raise JobError("The training run does not record what it was trained on (its template or columns), so another "
                   "dataset cannot be laid out the same way. Evaluate the run's own test split instead.")


def _dataset_lines(store: Store, train_job: dict, dataset_id: int, indices: list[int] | None = None):
    """The data lines the run's template set / columns make from a dataset (all rows), and its record and
    table (for reference columns)."""
    try:
        dataset = store.get_dataset(int(dataset_id))
    except (StoreError, ValueError, TypeError) as exc:
        raise JobError(f"The test set {dataset_id} cannot be found ({exc}). Choose an imported dataset.") from exc
    source = resolve_training_source(store, _training_source_spec(train_job))
    check_source(source, dataset.column_names)
    table = load_dataset_table(dataset)
    try:
        built = build_split_lines(source, table, None)
    except (TemplateError, ValueError) as exc:
        raise JobError(render_error(exc) if isinstance(exc, TemplateError) else str(exc)) from exc
    if built.problems:
        raise JobError(built.problems)
    return dataset, table, built.lines.get("all", [])


def _add_references(lines: list[dict], table, columns: list[str], where: str) -> int:
    """Give every instruction line its extra references from ``columns`` of its source row (the rendered
    response first, empty cells and repeats left out); returns how many lines got more than one."""
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise JobError(f"The reference column(s) {', '.join(missing)} are not in {where}. "
                       f"Its columns: {', '.join(table.column_names)}.")
    values = {c: table.column(c).to_pylist() for c in columns}
    several = 0
    for line in lines:
        refs = [str(line["response"])]
        for c in columns:
            value = values[c][int(line["idx"])]
            text = "" if value is None else str(value)
            if text.strip() and text not in refs:
                refs.append(text)
        line["references"] = refs
        several += len(refs) > 1
    return several


def _label_choice(labels, train_job: dict):
    """``(labels for the worker, where they came from)``; ``"train"`` detects the set on the training data."""
    if labels == "train":
        # lazy: metrics loads scikit-learn (pandas) and sacrebleu, ~3 s; the GUI and the CLI import this module
        from desktop_ift.core.evaluation.metrics import detect_label_set

        path = Path((train_job.get("data") or {}).get("train", ""))
        rows = read_jsonl(path) if path.exists() else []
        try:
            refs = [item.reference for item in eval_items(rows)] if rows else []
        except ValueError:
            refs = []
        found = detect_label_set(refs) if refs else None
        if found is None:
            raise JobError("The training references are not a small set of short labels, so no label set can be "
                           "taken from them. Give the labels, let them be detected on the test references, or "
                           "evaluate as free text.")
        return found, f"detected from the {len(refs)} training references"
    if labels == "auto":
        return "auto", "detected from the test references"
    if labels is None:
        return None, "none: free text"
    return list(labels), "given by you"


def _evaluation_data(store: Store, first: RunRecord, first_job: dict, split: str, test_dataset_id: int | None,
                     reference_columns: list[str] | None) -> tuple[Path, dict | None, str, str]:
    """``(test file, test_set info or None, what it is in words, split name)`` of an evaluation: the run's
    split file as it is, or -- for another dataset or extra reference columns -- new lines in a temporary
    file (moved into the evaluation run's folder once it exists)."""
    reference_columns = [c for c in (reference_columns or []) if c]
    from_template = not reference_columns
    if from_template:  # none given: the columns the run's templates name as further references
        reference_columns = job_reference_columns(first_job)
    test_set = None
    if test_dataset_id is not None:
        dataset, table, lines = _dataset_lines(store, first_job, test_dataset_id)
        if not lines:
            raise JobError(f"The test set {dataset.label} makes no example with the run's template (no rows, or "
                           "every response is empty).")
        test_set = {"dataset_id": dataset.id, "name": dataset.name, "version": dataset.version,
                    "rows": dataset.n_rows, "examples": len(lines)}
        split = "test set"
    elif reference_columns:
        test_path = _split_path(first, first_job, split)
        lines = read_jsonl(test_path) if test_path.exists() else []
        dataset_id = (first_job.get("source") or {}).get("dataset_id")
        if dataset_id is None:
            raise JobError("The run does not record its dataset, so the reference columns cannot be looked up.")
        dataset = store.get_dataset(int(dataset_id))
        table = load_dataset_table(dataset)
    if reference_columns:
        if lines and "response" not in lines[0]:
            raise JobError("Several references apply to prompt/response data only; this run trains on "
                           f"{'conversations' if 'messages' in lines[0] else 'documents'}.")
        several = _add_references(lines, table, reference_columns, f"the dataset {dataset.label}")
        test_set = {**(test_set or {}), "reference_columns": reference_columns, "with_several": several,
                    "references_from": "the template" if from_template else "given by you"}
    if test_set is not None:
        folder = Path(store.home) / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="eval-test-", suffix=".jsonl", dir=folder)
        os.close(handle)
        test_path = Path(name)
        test_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
        what = f"test set {test_set.get('name', '')}" if test_dataset_id is not None else f"{split} split"
    else:
        test_path = _split_path(first, first_job, split)
        what = f"{split} split of the run {first.name or first.id}"
    return test_path, test_set, what, split


def prepare_eval_job(
    store: Store,
    train_run_id: str | list[str],
    generation: GenerationConfig | None = None,
    include_base: bool = True,
    labels: str | list[str] | None = "auto",
    use_cache: bool = True,
    max_new_tokens: int | None = None,
    split: str = "test",
    use_stemmer: bool = True,
    test_dataset_id: int | None = None,
    reference_columns: list[str] | None = None,
    models: list[dict] | None = None,
) -> tuple[RunRecord, Path]:
    """Create an evaluation run comparing the base model with the model(s) fine-tuned by ``train_run_id``.

    ``train_run_id`` is one training run id or a list of them. Every model answers the same prompts: the
    ``split`` (``test`` or ``validation``) prepared for the first run; the other runs must have the same
    split (else the comparison would mix different questions, or test a model on its own training rows) --
    JobError otherwise. There is one base column per distinct base model. ``labels`` is ``"auto"`` (detect
    a small label set on the test references), ``"train"`` (detect it on the training references), an
    explicit label list, or None (free text: no accuracy/F1); the job records where the set came from.

    The longest answer is ``max_new_tokens`` when given, else derived from the references of the split
    (:mod:`desktop_ift.core.evaluation.answer_length`); ``generation.max_new_tokens`` is ignored. The job's
    ``answer_length`` records the value and where it came from. Instruction and chat data are answered and
    scored; continued pre-training data is scored by its loss (nothing is generated).

    ``test_dataset_id`` evaluates on a separately imported dataset instead of the run's split: every row of
    it, laid out by the run's own template set (or chat/text columns). ``reference_columns`` names columns
    holding more references for each example (e.g. ``summary2``, ``summary3``): the rendered response stays
    the first reference, and the scores use all of them (ROUGE best-of, BLEU/chrF on all).

    ``models`` adds more columns answering the same prompts (``[{"label", "model", "adapter"}]``, e.g. from
    :func:`chosen_model`): another base model, a GGUF from Ollama... after the runs' columns.
    """
    generation = generation or GenerationConfig()
    run_ids = _run_ids(train_run_id)
    runs = [_finished_train_run(store, rid) for rid in run_ids]
    first, first_job = runs[0]
    test_path, test_set, what, split = _evaluation_data(store, first, first_job, split, test_dataset_id,
                                                         reference_columns)
    try:
        _, fmt, items = _read_items(test_path, what)
    except JobError:
        if test_set is not None:
            test_path.unlink(missing_ok=True)
        raise
    # several runs must have been tested on the same split (a separate test set is the same for all of them)
    digest = _file_digest(_split_path(first, first_job, split)) if test_dataset_id is None else ""
    for train, train_job in runs[1:] if test_dataset_id is None else []:
        other = Path((train_job.get("data") or {}).get(split) or "")
        if not other.is_file() or _file_digest(other) != digest:
            if test_set is not None:
                test_path.unlink(missing_ok=True)
            if other.is_file() and _same_test_rows(first_job, train_job):
                raise JobError(
                    f"The runs {first.name or first.id} and {train.name or train.id} were tested on the same rows, "
                    "but their templates turn those rows into different prompts, so one set of test prompts "
                    "cannot ask both fairly. Evaluate them separately (each with its own template) and compare "
                    "their scores.")
            raise JobError(
                f"The runs {first.name or first.id} and {train.name or train.id} were tested on different {split} "
                "splits, so their scores cannot be compared side by side. Compare runs trained on the same "
                "dataset version with the same split settings, or evaluate them separately."
            )
    many = len(runs) > 1
    models = _add_chosen(_models_for_runs(runs, include_base), models)
    max_seq_length = int(first_job["config"].get("max_seq_length") or 512)
    answer_length = None
    if fmt != "text":
        refs = [r for item in items for r in item.references]
        answer_length = measure(refs, _tokenizer_folder(first, first_job), max_new_tokens)
        generation = GenerationConfig.from_dict({**generation.to_dict(), "max_new_tokens": answer_length.value})
    worker_labels, labels_source = _label_choice(labels, first_job)
    name = first.name or first.id if not many else f"{len(runs)} runs"
    run = store.create_run(
        "evaluate",
        config={"generation": generation.to_dict(), "models": models, "train_run_id": run_ids[0],
                "train_run_ids": run_ids, "labels": worker_labels, "labels_source": labels_source,
                "split": split, "test_set": test_set, "data_format": fmt, "use_stemmer": bool(use_stemmer),
                "answer_length": answer_length.to_dict() if answer_length else None},
        project_id=first.project_id,
        name=f"evaluate {name}" + ("" if split == "test" else f" ({split} split)" if test_set is None or
                                   test_dataset_id is None else f" on {test_set['name']}"),
        parent_run_id=run_ids[0],
    )
    if test_set is not None:  # the lines made for this evaluation live with it
        final = Path(run.run_dir) / "test.jsonl"
        shutil.move(str(test_path), final)
        test_path = final
    job = {
        "kind": "evaluate",
        "version": JOB_VERSION,
        "run_id": run.id,
        "workspace": str(store.home),
        "test_data": str(test_path),
        "split": split,
        "test_set": test_set,
        "data_format": fmt,
        "models": models,
        "generation": generation.to_dict(),
        "answer_length": answer_length.to_dict() if answer_length else None,
        "labels": worker_labels,
        "labels_source": labels_source,
        "use_stemmer": bool(use_stemmer),
        "train_run_id": run_ids[0],
        "train_run_ids": run_ids,
        "max_seq_length": max_seq_length,
        "use_cache": use_cache,
    }
    job_path = Path(run.run_dir) / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return run, job_path


def prepare_benchmark_job(
    store: Store,
    train_run_id: str | list[str] | None = None,
    files: list[str] | None = None,
    builtin: str | None = None,
    k_shot: int = 0,
    include_base: bool = True,
    models: list[dict] | None = None,
    max_questions: int = 0,
    batch_size: int = 8,
    project_id: int | None = None,
) -> tuple[RunRecord, Path]:
    """Create a multiple-choice benchmark run (``kind: "benchmark"``) on the base and fine-tuned model(s).

    The questions come from ``files`` (MMLU layout, CSV/JSONL) and/or a built-in set (``builtin="general"``:
    the forgetting check). The files are read and checked here, so a file in another layout is refused
    before anything runs (JobError naming the file and its missing columns). ``models`` may be given
    directly instead of training runs (``[{"label", "model", "adapter"}]``).
    """
    if k_shot < 0 or k_shot > 10:
        raise JobError(f"The number of solved examples (k-shot) must be between 0 and 10 (got {k_shot}).")
    paths = [str(Path(f).expanduser().resolve()) for f in (files or [])]
    try:
        if builtin:
            paths.append(str(builtin_path(builtin)))
        questions, _ = load_benchmark(paths)
    except BenchmarkFormatError as exc:
        raise JobError(f"{exc.message} {exc.hint}") from exc
    parent = None
    if models is None:
        if train_run_id is None:
            raise JobError("Choose a finished training run (or give the models) to run the benchmark on.")
        run_ids = _run_ids(train_run_id)
        runs = [_finished_train_run(store, rid) for rid in run_ids]
        models = _models_for_runs(runs, include_base)
        parent = run_ids[0]
        project_id = project_id if project_id is not None else runs[0][0].project_id
    if not models:
        raise JobError("Choose at least one model to run the benchmark on.")
    name = "forgetting check" if builtin and not files else (Path(paths[0]).stem if len(paths) == 1 else
                                                             f"{len(paths)} benchmark files")
    spec = {"files": paths, "k_shot": int(k_shot), "max_questions": int(max_questions),
            "batch_size": int(batch_size), "name": name}
    run = store.create_run("benchmark", config={"benchmark": spec, "models": models, "questions": len(questions)},
                           project_id=project_id, name=f"{name} ({len(questions)} questions)",
                           parent_run_id=parent)
    job = {"kind": "benchmark", "version": JOB_VERSION, "run_id": run.id, "workspace": str(store.home),
           "models": models, "benchmark": spec}
    job_path = Path(run.run_dir) / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return run, job_path


def prepare_chat_job(store: Store, model: str, adapter: str | None = None,
                     generation: GenerationConfig | None = None, label: str = "",
                     project_id: int | None = None) -> tuple[RunRecord, Path]:
    """Create a playground session (``kind: "chat"``): one model loaded once, answering requests on stdin."""
    if looks_like_hub_id(model):  # a run trained on a hub model: the worker loads it from the local cache
        if find_in_hub_cache(model) is None:
            raise JobError(f"The model {model} is not in the local Hugging Face cache, so it cannot be loaded "
                           "offline. Train a run with downloading allowed first, or choose a model folder.")
    else:
        model = validate_model_choice(model)
    if adapter and not (Path(adapter) / "adapter_config.json").exists():
        raise JobError(f"{adapter} is not a LoRA adapter folder (it has no adapter_config.json). "
                       "Choose the output folder of a finished LoRA training run.")
    generation = generation or GenerationConfig(max_new_tokens=128)
    label = label or ("fine-tuned" if adapter else "base")
    run = store.create_run("chat", config={"model": model, "adapter": adapter, "label": label},
                           project_id=project_id, name=f"playground: {label}")
    job = {"kind": "chat", "version": JOB_VERSION, "run_id": run.id, "workspace": str(store.home),
           "model": model, "adapter": adapter, "label": label, "generation": generation.to_dict()}
    job_path = Path(run.run_dir) / "job.json"
    job_path.write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    return run, job_path


def chat_target(store: Store, train_run_id: str) -> tuple[str, str | None]:
    """``(model, adapter)`` of a finished training run's fine-tuned model, for the playground."""
    train, train_job = _finished_train_run(store, train_run_id)
    tuned = _tuned_model(train, train_job, "fine-tuned")
    return tuned["model"], tuned["adapter"]
