"""``prepare-train``, ``train``, ``export-bundle``, ``run-bundle``, ``estimate`` (``runs`` lives in
:mod:`desktop_ift.cli.runs`)."""

from __future__ import annotations

from pathlib import Path

from desktop_ift.cli.common import (
    CliError, add_project_option, find_project, open_store, project_name, resolve_cli_model, run_job,
)
from desktop_ift.core.data.splits import SplitSpec, split_counts
from desktop_ift.core.demo import DEMO_TRAIN_CONFIG
from desktop_ift.core.job_format import DEMO_MODEL
from desktop_ift.core.models.bundled import BUNDLED_MODEL, bundled_shape, is_bundled_converted, model_parameters
from desktop_ift.core.models.choice import validate_model_choice
from desktop_ift.core.templates.conversation import ConversationSpec, PretrainSpec
from desktop_ift.core.templates.library import current_training_source, load_set
from desktop_ift.core.training.bundle import export_bundle, run_bundle
from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.hardware import detect_devices
from desktop_ift.core.training.memory import fit_advice, load_shape
from desktop_ift.core.training.prepare import build_plan, training_lengths
from desktop_ift.core.training.presets import apply_preset, preset_names, sized_preset
from desktop_ift.core.training.tiny_model import DEMO_MODEL_DIRNAME
from desktop_ift.core.training.train_job import write_train_job


def add_config_options(parser) -> None:
    """One option per TrainConfig field (``--lora-r``, ``--packing/--no-packing`` ...), with the field's help
    and choices, plus ``--preset``: the dataclass is the single place where a setting is described."""
    import argparse
    from dataclasses import MISSING, fields

    parser.add_argument("--preset", choices=preset_names(), help="start from a preset (options given too win)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        kwargs = {"help": f.metadata.get("help", "").replace("%", "%%"), "default": None, "dest": f.name}
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        kwargs["type"] = type(default) if default is not None else str
        if f.metadata.get("choices"):
            kwargs["choices"] = list(f.metadata["choices"])
        parser.add_argument(flag, **kwargs)


def default_config(model: str | None):
    """The settings a run starts from: the demo's for the demo model, else TrainConfig's defaults. Training
    and ``templates check`` share them (the same default maximum length)."""
    return DEMO_TRAIN_CONFIG if (model or "demo") == "demo" else TrainConfig()


def train_config_from_args(args, base=None, **preset_context):
    """``base`` (default: TrainConfig()), then ``--preset`` (sized by ``preset_context``: parameters,
    lengths, n_train; see presets.sized_preset), then every option given on the command line."""
    from dataclasses import fields

    config = base or TrainConfig()
    if getattr(args, "preset", None):
        config = apply_preset(args.preset, config, **preset_context)
    values = config.to_dict()
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = value
    return TrainConfig.from_dict(values)


def _job_path(spec: str) -> Path:
    """A job.json path, a run folder, or the id of a run in the workspace."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.is_dir() and (path / "job.json").exists():
        return path / "job.json"
    store = open_store()
    try:
        return Path(store.get_run(spec).run_dir) / "job.json"
    except Exception as exc:
        raise CliError(f"{spec} is neither a job file nor a run id ({exc}).") from exc


def cmd_export_bundle(args) -> int:
    dest = Path(args.dest)
    if dest.exists():
        raise CliError(f"{dest} already exists; choose a new folder name for the bundle.")
    print(export_bundle(_job_path(args.run), dest, make_zip=args.zip))
    return 0


def cmd_run_bundle(args) -> int:
    bundle = Path(args.bundle)
    if not (bundle / "job.json").exists():
        raise CliError(f"{bundle} is not a training bundle (it has no job.json). Export one with export-bundle.")
    return run_job(run_bundle(bundle, args.model), args.json)


def cmd_estimate(args) -> int:
    """Print the devices and whether the job would fit, without loading the model (no torch)."""
    home = open_store().home
    shape = None
    if args.model in (None, BUNDLED_MODEL) and not is_bundled_converted(home):
        shape = bundled_shape()  # the bundled model's shape is known without converting it
    elif (model := validate_model_choice(resolve_cli_model(args.model, home))) == DEMO_MODEL:
        folder = home / "models" / DEMO_MODEL_DIRNAME
        if not (folder / "config.json").exists():
            raise CliError("The demo model is built on its first training run; estimate a model folder instead.")
    else:
        folder = Path(model)
    config = train_config_from_args(args)
    hw = detect_devices()
    print(hw.describe())
    print(fit_advice(shape or load_shape(folder), config, hw.training_device).message())
    return 0


def split_from_args(args):
    """The split the options name, or None (the dataset's own split column if it has one, else 80/10/10):
    ``--split-column COL``; ``--split TRAIN VAL TEST``, ``--split-seed``, ``--stratify COL``."""
    column = getattr(args, "split_column", None)
    ratios, stratify = getattr(args, "split", None), getattr(args, "stratify", None)
    if column and (ratios or stratify):
        raise CliError("--split-column takes each row's split from that column: leave out --split and --stratify.")
    if column:
        return SplitSpec(split_column=column)
    if ratios is None and stratify is None and getattr(args, "split_seed", None) is None:
        return None
    ratios = ratios or (0.8, 0.1, 0.1)
    seed = args.split_seed if args.split_seed is not None else 42
    return SplitSpec(train=ratios[0], validation=ratios[1], test=ratios[2], seed=seed, stratify_column=stratify)


def add_split_options(p) -> None:
    """``--split``, ``--split-seed``, ``--stratify``, ``--split-column`` (shared by prepare-train and
    templates export-data)."""
    p.add_argument("--split", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                   help="split by these shares (default: the data's own split column if it has one, else "
                   "0.8 0.1 0.1)")
    p.add_argument("--split-seed", type=int, help="seed of the split by shares (default 42)")
    p.add_argument("--stratify", metavar="COLUMN", help="keep this column's class proportions in every split")
    p.add_argument("--split-column", metavar="COLUMN",
                   help="take each row's split from this column (train/validation/test); a column named "
                   "'split' is used without asking")


def _training_source(store, project, args):
    """--format with its options, --template, --set, else what the project trains on."""
    fmt = args.format
    if fmt == "chat":
        if not args.chat:
            raise CliError("--format chat needs --chat CONVERSATION_COL ROLE_COL CONTENT_COL "
                           "(one row per message; --turn-column orders them, --system-column adds a system prompt).")
        conv, role, content = args.chat
        return ConversationSpec(conv, role, content, turn_column=args.turn_column, system_column=args.system_column)
    if fmt == "pretrain":
        if not args.text_columns:
            raise CliError("--format pretrain needs --text-columns COL [COL ...]: the columns with the raw text.")
        return PretrainSpec(list(args.text_columns))
    if args.chat or args.text_columns:
        raise CliError("--chat needs --format chat, --text-columns needs --format pretrain.")
    if args.template:
        return args.template
    if args.set:
        return load_set(store, args.set)
    source = current_training_source(store, project.id)
    if isinstance(source, dict) and fmt == "instruction":
        raise CliError(f"The project trains on {source.get('kind')} data; name a template with --template ID.")
    return source


def cmd_prepare_train(args) -> int:
    """Build the plan, print it, then write the job (the last line printed is the job.json path)."""
    store = open_store()
    project = find_project(store, project_name(args))
    dataset_id = args.dataset or project.settings.get("dataset_id")
    source = _training_source(store, project, args)
    if not dataset_id or source is None:
        raise CliError(f"Project {project.name!r} has no current dataset or template: name them with --dataset ID "
                       "--template ID (see: desktop-ift datasets / desktop-ift templates).")

    if (args.model or "smollm2").strip().lower() == "smollm2" and not is_bundled_converted(store.home):
        # the bundled model's first use converts it (about a minute, 540 MB): check that the data and the
        # template render first, so a template that cannot be used says so in seconds, nothing converted
        build_plan(store, project.id, int(dataset_id), source, default_config(DEMO_MODEL), DEMO_MODEL,
                   split_from_args(args), tokenizer=None)
    model = resolve_cli_model(args.model, store.home)
    split = split_from_args(args)
    n_train = split_counts(store.get_dataset(int(dataset_id)).n_rows, split)["train"] \
        if split is not None and not split.split_column else None
    context = {"parameters": model_parameters(model, store.home), "n_train": n_train}
    if args.preset:
        # a preset is sized to the data as on the Train page: count the training examples' token lengths first
        _, built = build_plan(store, project.id, int(dataset_id), source, default_config(model), model, split,
                              allow_download=args.allow_download, tokenizer=None)
        context["lengths"] = training_lengths(store, source, built, model)
        context["n_train"] = len(built.lines.get("train", []))
        sized = sized_preset(args.preset, **context)
        print(f"Preset {args.preset!r}: " + " ".join(sized.notes or ("its own values.",))
              + ("" if context["lengths"] else " (the examples' lengths could not be counted with this model's "
                 "tokenizer, so the preset's own maximum length is used)"))
        yours = [f"--{k.replace('_', '-')} {getattr(args, k)}" for k, v in sized.values.items()
                 if getattr(args, k, None) is not None and getattr(args, k) != v]
        if yours:
            print("Your options win over the preset: " + ", ".join(yours) + ".")
    config = train_config_from_args(args, default_config(model), **context)
    if args.drop_long:
        config = type(config).from_dict({**config.to_dict(), "overflow": "drop"})
    planned = build_plan(store, project.id, int(dataset_id), source, config, model, split,
                         allow_download=args.allow_download)
    print(f"Project {project.name!r} — what will be trained:")
    print(planned[0].text())
    _, job_path = write_train_job(store, *planned)
    print(job_path)
    return 0


def cmd_train(args) -> int:
    return run_job(Path(args.job), args.json)


def register(sub) -> None:
    p = sub.add_parser("prepare-train", help="write a training job and print the path of its job.json")
    add_project_option(p)
    p.add_argument("--dataset", type=int, help="dataset id (default: the project's current one)")
    p.add_argument("--template", type=int, help="template id (default: the project's current one)")
    p.add_argument("--set", type=int, help="a template set id")
    p.add_argument("--format", choices=("instruction", "chat", "pretrain"), default="instruction",
                   help="instruction (a template: prompt → response), chat (--chat columns) or pretrain "
                   "(--text-columns: continued pre-training on raw text)")
    p.add_argument("--chat", nargs=3, metavar=("CONVERSATION_COL", "ROLE_COL", "CONTENT_COL"),
                   help="with --format chat: one row per message")
    p.add_argument("--turn-column", help="with --format chat: the column that orders the messages")
    p.add_argument("--system-column", help="with --format chat: a column with the system prompt")
    p.add_argument("--text-columns", nargs="+", metavar="COL", help="with --format pretrain: the text column(s)")
    p.add_argument("--drop-long", action="store_true",
                   help="leave out examples longer than --max-seq-length (default: truncate them, keeping the "
                   "whole response where possible; --truncate-side says where the prompt is cut)")
    p.add_argument("--model", help="'smollm2' (default: the bundled SmolLM2-135M-Instruct), 'tiny' (the tiny "
                   "random test model), a local Hugging Face model folder, a hub id (org/name) in the "
                   "local Hugging Face cache, a .gguf file, ollama:NAME[:TAG] or lmstudio:PUBLISHER/REPO/FILE.gguf "
                   "(a GGUF is converted once into the workspace, cached by its hash)")
    p.add_argument("--allow-download", action="store_true",
                   help="let the training process download a hub model that is not in the local cache")
    add_config_options(p)
    add_split_options(p)
    p.set_defaults(func=cmd_prepare_train)

    p = sub.add_parser("train", help="run a training job file in a worker process")
    p.add_argument("job")
    p.add_argument("--json", action="store_true", help="print the raw event lines")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export-bundle", help="write a training run as a folder (or zip) that runs headless "
                       "elsewhere: job, data, config, accelerate config and the exact command")
    p.add_argument("run", help="run id, run folder or job.json")
    p.add_argument("dest", help="new folder for the bundle")
    p.add_argument("--zip", action="store_true", help="also write DEST.zip")
    p.set_defaults(func=cmd_export_bundle)

    p = sub.add_parser("run-bundle", help="run an exported training bundle on this machine")
    p.add_argument("bundle")
    p.add_argument("--model", help="the model folder on this machine (default: the path in the job)")
    p.add_argument("--json", action="store_true", help="print the raw event lines")
    p.set_defaults(func=cmd_run_bundle)

    p = sub.add_parser("estimate", help="show the devices and the memory a training job needs (no model load)")
    p.add_argument("--model", help="'smollm2' (default), 'tiny', a local Hugging Face model folder, "
                   "a .gguf file, ollama:NAME[:TAG] or lmstudio:PATH")
    add_config_options(p)
    p.set_defaults(func=cmd_estimate)
