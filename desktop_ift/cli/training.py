"""``prepare-train``, ``train`` (``runs`` lives in :mod:`desktop_ift.cli.runs`)."""

from __future__ import annotations

from pathlib import Path

from desktop_ift.cli.common import CliError, find_project, open_store, run_job

_CONFIG_OPTIONS = ("method", "epochs", "max_steps", "learning_rate", "batch_size", "max_seq_length", "lora_r",
                   "seed")


def train_config_from_args(args, base=None):
    """``base`` (default: TrainConfig()) with every option given on the command line applied."""
    from desktop_ift.core.training.config import TrainConfig

    values = (base or TrainConfig()).to_dict()
    for key in _CONFIG_OPTIONS:
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    return TrainConfig.from_dict(values)


def cmd_prepare_train(args) -> int:
    from desktop_ift.core.data.splits import SplitSpec
    from desktop_ift.core.demo import DEMO_TRAIN_CONFIG
    from desktop_ift.core.jobs import DEMO_MODEL, prepare_train_job

    store = open_store()
    project = find_project(store, args.project)
    dataset_id = args.dataset or project.settings.get("dataset_id")
    template_id = args.template or project.settings.get("template_id")
    if not dataset_id or not template_id:
        raise CliError("Name the dataset and template with --dataset ID --template ID "
                       "(see: desktop-ift datasets / desktop-ift templates).")
    model = args.model or DEMO_MODEL
    config = train_config_from_args(args, DEMO_TRAIN_CONFIG if model == DEMO_MODEL else None)
    split = SplitSpec(train=args.split[0], validation=args.split[1], test=args.split[2], seed=args.split_seed)
    _, job_path = prepare_train_job(store, project.id, int(dataset_id), int(template_id), config, model, split)
    print(job_path)
    return 0


def cmd_train(args) -> int:
    return run_job(Path(args.job), args.json)


def register(sub) -> None:
    p = sub.add_parser("prepare-train", help="write a training job and print the path of its job.json")
    p.add_argument("--project", help="project name (default: the demo project)")
    p.add_argument("--dataset", type=int, help="dataset id (default: the project's current one)")
    p.add_argument("--template", type=int, help="template id (default: the project's current one)")
    p.add_argument("--model", help="'demo' or a local Hugging Face model folder")
    p.add_argument("--method", choices=["lora", "full"])
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-seq-length", type=int)
    p.add_argument("--lora-r", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--split", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--split-seed", type=int, default=42)
    p.set_defaults(func=cmd_prepare_train)

    p = sub.add_parser("train", help="run a training job file in a worker process")
    p.add_argument("job")
    p.add_argument("--json", action="store_true", help="print the raw event lines")
    p.set_defaults(func=cmd_train)
