"""``templates``: list, library, import/export, template sets, checks and data exports.

    desktop-ift templates                          the project's templates and template sets
    desktop-ift templates library [--task T]       built-in phrasings and your saved ones
    desktop-ift templates use NAME [--map a=b]     copy a library template into the project
    desktop-ift templates save-library ID          save a project template to your library
    desktop-ift templates import FILE              add a JSON/YAML library file to your library
    desktop-ift templates export FILE              write your library (or --builtin) as JSON/YAML
    desktop-ift templates set NAME --ids 1 2 3     save a template set (--mode, --weights, --seed) and use it
    desktop-ift templates references ID [COLS]     more reference columns of a template (e.g. summary2,summary3)
    desktop-ift templates check                    validate what the project trains on (--max-seq-length)
    desktop-ift templates export-data FORMAT DIR   write the rendered data (bedrock, openai, alpaca, ...)
"""

from __future__ import annotations

from desktop_ift.cli.common import CliError, add_project_option, find_project, open_store, project_name
from desktop_ift.cli.training import add_split_options, default_config, split_from_args
from desktop_ift.core.data.importers import load_dataset_table
from desktop_ift.core.store import StoreError
from desktop_ift.core.templates.conversation import ConversationSpec, PretrainSpec
from desktop_ift.core.templates.exports import FORMATS, export_parts
from desktop_ift.core.templates.library import (
    builtin_templates, current_training_source, export_library, import_library, library, list_sets, load_set,
    rename_columns, save_set, save_to_library, set_training_source, user_templates,
)
from desktop_ift.core.templates.references import reference_columns, set_reference_columns
from desktop_ift.core.templates.render import PromptTemplate
from desktop_ift.core.templates.template_set import MODES
from desktop_ift.core.templates.training_data import build_split_lines
from desktop_ift.core.templates.validation import validate_source
from desktop_ift.core.training.plan_lengths import plan_tokenizer
from desktop_ift.core.training.prepare import default_split
from desktop_ift.core.training.source import resolve_training_source


def _project(args):
    store = open_store()
    return store, find_project(store, project_name(args))


def cmd_list(args) -> int:
    store, project = _project(args)
    current = current_training_source(store, project.id)
    for t in store.list_templates(project.id):
        mark = "\t(current)" if current == t.id else ""
        print(f"{t.id}\t{t.name}{mark}")
    for s in list_sets(store, project.id):
        mark = "\t(current)" if getattr(current, "name", None) == s.name else ""
        print(f"set {s.id}\t{s.name}\t{s.mode}, templates {', '.join(map(str, s.template_ids))}{mark}")
    return 0


def cmd_library(args) -> int:
    store = open_store()
    for t in library(store):
        if args.task and t.task != args.task:
            continue
        origin = "built-in" if t.builtin else f"saved {t.id}"
        print(f"{t.task or '-'}\t{t.name}\t{origin}")
    return 0


def _parse_map(pairs: list[str] | None) -> dict[str, str]:
    mapping = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise CliError(f"--map takes LIBRARY_COLUMN=YOUR_COLUMN, not {pair!r}.")
        old, new = pair.split("=", 1)
        mapping[old.strip()] = new.strip()
    return mapping


def cmd_use(args) -> int:
    store, project = _project(args)
    matches = [t for t in library(store) if t.name == args.name]
    if not matches:
        raise CliError(f"No library template named {args.name!r}. See: desktop-ift templates library")
    template = rename_columns(matches[-1].as_template(), _parse_map(args.map))
    record = store.save_template(project.id, args.as_name or template.name, template.prompt, template.response,
                                 template.system)
    set_training_source(store, project.id, {"kind": "template", "template_id": record.id})
    print(f"Saved template {record.id} {record.name!r} in project {project.name!r} and made it current.")
    return 0


def cmd_save_library(args) -> int:
    store = open_store()
    rec = store.get_template(args.template)
    saved = save_to_library(store, PromptTemplate(rec.prompt, rec.response, rec.system, rec.name), args.task or "")
    print(f"Saved {saved.name!r} to your library.")
    return 0


def cmd_import(args) -> int:
    added = import_library(open_store(), args.file)
    print(f"Added {len(added)} template(s) to your library: {', '.join(t.name for t in added)}")
    return 0


def cmd_export(args) -> int:
    store = open_store()
    templates = builtin_templates() if args.builtin else user_templates(store)
    if not templates:
        raise CliError("Your library is empty: save templates to it first (or export --builtin).")
    path = export_library(templates, args.file)
    print(f"Wrote {len(templates)} template(s) to {path}")
    return 0


def cmd_references(args) -> int:
    store = open_store()
    try:
        rec = store.get_template(args.template)
    except StoreError as exc:
        raise CliError(f"{exc} List them with: desktop-ift templates") from exc
    columns = reference_columns(store, rec.id) if args.columns is None else \
        set_reference_columns(store, rec.id, args.columns)
    if columns:
        print(f"Template {rec.id} {rec.name!r}: evaluation scores with its response and the columns "
              f"{', '.join(columns)} as references.")
    else:
        print(f"Template {rec.id} {rec.name!r}: its response is the only reference.")
    return 0


def cmd_set(args) -> int:
    store, project = _project(args)
    record = save_set(store, project.id, args.name, args.ids, args.mode, args.weights, args.seed)
    set_training_source(store, project.id, {"kind": "template_set", "set_id": record.id})
    print(f"Saved template set {record.id} {record.name!r} ({record.mode}) in project {project.name!r} and made it "
          "what the project trains on.")
    return 0


def _source(store, project, args):
    """What to check or export: --template / --set / --chat / --pretrain, else the project's current choice."""
    if getattr(args, "template", None):
        return args.template
    if getattr(args, "set", None):
        return load_set(store, args.set)
    if getattr(args, "chat", None):
        conv, role, content = args.chat
        return ConversationSpec(conv, role, content, turn_column=args.turn_column, system_column=args.system_column)
    if getattr(args, "pretrain", None):
        return PretrainSpec(list(args.pretrain))
    source = current_training_source(store, project.id)
    if source is None:
        raise CliError("Choose what to use with --template ID, --set ID, --chat or --pretrain.")
    return source


def _dataset(store, project, args):
    dataset_id = args.dataset or project.settings.get("dataset_id")
    if not dataset_id:
        raise CliError("Name the dataset with --dataset ID (see: desktop-ift datasets).")
    return store.get_dataset(int(dataset_id))


def cmd_check(args) -> int:
    store, project = _project(args)
    dataset = _dataset(store, project, args)
    source = resolve_training_source(store, _source(store, project, args))
    model = args.model or "demo"
    max_len = args.max_seq_length or default_config(model).max_seq_length
    tokenizer = _tokenizer(store, model)
    report = validate_source(source, load_dataset_table(dataset), tokenizer, max_len)
    print(f"Project {project.name!r}, {dataset.label}: {report.n_examples:,} examples from {report.n_rows:,} rows.")
    for p in report.problems:
        more = " ..." if len(p.rows) > 10 else ""
        rows = f" Rows: {', '.join(str(r + 1) for r in p.rows[:10])}{more}." if p.rows else ""
        print(f"[{p.severity}] {p.text}{rows}")
    if report.lengths is not None and len(report.lengths):
        print(f"Tokens per example: median {int(sorted(report.lengths)[len(report.lengths) // 2])}, longest "
              f"{int(report.lengths.max())}; {report.n_too_long:,} longer than {max_len} (the training default "
              f"for this model; --max-seq-length changes it).")
    if not report.problems:
        print("No problems found.")
    return 0 if report.can_train else 1


def _tokenizer(store, model: str):
    """The tokenizer training will use (the demo model is built first when needed: a few seconds)."""
    tokenizer, label = plan_tokenizer(model, store.home)
    if tokenizer is None:
        raise CliError(f"Cannot count tokens with {model}: {label}.")
    return tokenizer


def cmd_export_data(args) -> int:
    store, project = _project(args)
    dataset = _dataset(store, project, args)
    source = resolve_training_source(store, _source(store, project, args))
    table = load_dataset_table(dataset)
    if args.no_split:
        split = None
    else:
        split = split_from_args(args) or default_split(table)
    if split is not None and split.stratify_column and split.stratify_column not in table.column_names:
        raise CliError(f"Cannot stratify by {split.stratify_column!r}: the dataset has no such column.")
    built = build_split_lines(source, table, split)
    if built.problems:
        raise CliError(built.problems)
    written = export_parts(args.format, built.lines, args.out)
    counts = ", ".join(f"{k} {len(v):,}" for k, v in built.lines.items())
    how = "" if split is None else f" (split {split.split_column and 'from the column ' + repr(split.split_column) or 'by shares, seed ' + str(split.seed)})"
    print(f"Exported {counts} examples of project {project.name!r} as {args.format}{how}:")
    for path in written:
        print(path)
    return 0


def _add_source_options(p) -> None:
    add_project_option(p)
    p.add_argument("--dataset", type=int, help="dataset id (default: the project's current one)")
    p.add_argument("--template", type=int, help="a project template id")
    p.add_argument("--set", type=int, help="a template set id")
    p.add_argument("--chat", nargs=3, metavar=("CONVERSATION_COL", "ROLE_COL", "CONTENT_COL"),
                   help="multi-turn chat: one row per message")
    p.add_argument("--turn-column", help="with --chat: the column that orders the messages")
    p.add_argument("--system-column", help="with --chat: a column with the system prompt")
    p.add_argument("--pretrain", nargs="+", metavar="TEXT_COL", help="continued pre-training: text column(s)")


def register(sub) -> None:
    """Add the ``templates`` command and its subcommands."""
    top = sub.add_parser("templates", help="list, share and check prompt templates; export rendered data")
    add_project_option(top)
    top.set_defaults(func=cmd_list)
    cmds = top.add_subparsers(dest="templates_command", metavar="SUBCOMMAND")

    p = cmds.add_parser("library", help="list the built-in phrasings and your saved templates")
    add_project_option(p, "accepted like on every command; the library is shared by all projects")
    p.add_argument("--task", help="only this task (summarise, classify, extract, question_answering, ...)")
    p.set_defaults(func=cmd_library)

    p = cmds.add_parser("use", help="copy a library template into the project and make it current")
    p.add_argument("name")
    add_project_option(p)
    p.add_argument("--as", dest="as_name", help="name in the project (default: the library name)")
    p.add_argument("--map", nargs="*", metavar="LIB=YOURS", help="rename columns, e.g. text=article")
    p.set_defaults(func=cmd_use)

    p = cmds.add_parser("save-library", help="save a project template to your library")
    p.add_argument("template", type=int, metavar="TEMPLATE_ID")
    p.add_argument("--task", help="the task it belongs to")
    p.set_defaults(func=cmd_save_library)

    p = cmds.add_parser("import", help="add the templates of a JSON/YAML file to your library")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)

    p = cmds.add_parser("export", help="write your library as JSON (.json) or YAML (.yaml)")
    p.add_argument("file")
    p.add_argument("--builtin", action="store_true", help="export the built-in phrasings instead")
    p.set_defaults(func=cmd_export)

    p = cmds.add_parser("set", help="save a template set and make it what the project trains on")
    p.add_argument("name")
    p.add_argument("--ids", type=int, nargs="+", required=True, metavar="TEMPLATE_ID")
    p.add_argument("--mode", choices=MODES, default="random")
    p.add_argument("--weights", type=float, nargs="+", help="random mode: one weight per template")
    p.add_argument("--seed", type=int, default=0)
    add_project_option(p)
    p.set_defaults(func=cmd_set)

    p = cmds.add_parser("references", help="show or set a template's more reference columns (evaluation "
                                           "scores with all of them)")
    p.add_argument("template", type=int, metavar="TEMPLATE_ID")
    p.add_argument("columns", nargs="?", help="comma-separated columns, e.g. summary2,summary3 ('' to clear)")
    p.set_defaults(func=cmd_references)

    p = cmds.add_parser("check", help="validate the project's templates on its data (exit 1 if training "
                                      "would be refused)")
    _add_source_options(p)
    p.add_argument("--model", help="'demo' or a model folder: also count tokens")
    p.add_argument("--max-seq-length", type=int, help="default: the training default for the model (the demo's "
                   "for the demo model)")
    p.set_defaults(func=cmd_check)

    p = cmds.add_parser("export-data", help="write the rendered examples in another tool's format")
    p.add_argument("format", choices=FORMATS)
    p.add_argument("out", help="output folder")
    _add_source_options(p)
    add_split_options(p)
    p.add_argument("--no-split", action="store_true", help="one file with every example")
    p.set_defaults(func=cmd_export_data)
