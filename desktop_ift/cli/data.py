"""``import``, ``inspect``, ``split``, ``clean``, ``combine-splits``, ``projects``, ``datasets``.

(``templates`` lives in :mod:`desktop_ift.cli.templates`.)
"""

from __future__ import annotations

import json
from pathlib import Path

from desktop_ift.cli.common import CliError, add_project_option, find_project, open_store, project_name
from desktop_ift.core.data.cleaning import Recipe, apply_recipe_to, lineage
from desktop_ift.core.data.combine import combine_as_splits
from desktop_ift.core.data.importers import ImportOptions, import_dataset, load_dataset_table
from desktop_ift.core.data.splits import SPLIT_NAMES, SplitSpec, split_table
from desktop_ift.core.data.table_summary import summarize_columns


def _options_from_args(args):
    sheet = args.sheet
    if sheet is not None and sheet.isdigit():
        sheet = int(sheet) - 1  # the command line counts sheets from 1, like a person does
    return ImportOptions(delimiter=args.delimiter, quote_char=args.quote_char, encoding=args.encoding,
                         has_header=False if args.no_header else True if getattr(args, "header", False) else None,
                         sheet=sheet,
                         header_row=args.header_row, records_key=args.records_key)


def cmd_import(args) -> int:
    store = open_store()
    name = project_name(args, "My project")
    project = store.find_project(name)
    notices: list = []  # a new project is created only once the file was read (a failed import leaves none)
    record = import_dataset(store, project.id if project else None, args.file, name=args.name,
                            options=_options_from_args(args), notices=notices, new_project=name)
    project = store.get_project(record.project_id)
    _make_current(store, record)
    for notice in notices:
        print(f"Note: {notice}")
    columns = ", ".join(f"{c['name']} ({c['type']})" for c in record.columns)
    print(f"Imported {record.label} into project {project.name!r} as dataset {record.id} (now its current "
          "dataset).")
    print(f"Columns: {columns}")
    return 0


def _make_current(store, record) -> str:
    """Make ``record`` its project's current dataset; returns the project's name."""
    store.update_project_settings(record.project_id, dataset_id=record.id)
    return store.get_project(record.project_id).name


def _dataset(store, dataset_id: int):
    record = store.get_dataset(dataset_id)
    return record, load_dataset_table(record)


def cmd_inspect(args) -> int:
    store = open_store()
    record, table = _dataset(store, args.dataset)
    print(f"Dataset {record.id}: {record.label}")
    print(f"Source: {record.source_path} ({record.size_bytes:,} bytes, sha256 {record.source_hash[:12]}…)")
    made = lineage(store, record.id)
    if made is not None:
        print(f"Cleaned from dataset {made.parent_id} with: " + "; ".join(s.describe() for s in made.recipe.steps))
    summaries = summarize_columns(table)
    if args.json:
        print(json.dumps([s.__dict__ for s in summaries], ensure_ascii=False))
        return 0
    print(f"{'column':<24} {'type':<9} {'empty':>8} {'distinct':>9}  {'text length min/median/max':<27} example")
    for s in summaries:
        distinct = f"{s.n_distinct:,}{'+' if s.distinct_capped else ''}"
        lengths = (f"{s.min_length}/{s.median_length:g}/{s.max_length}" if s.max_length is not None else "")
        print(f"{s.name[:24]:<24} {s.type:<9} {s.n_empty:>8,} {distinct:>9}  {lengths:<27} {s.example[:40]!r}")
    return 0


def cmd_split(args) -> int:
    store = open_store()
    record, table = _dataset(store, args.dataset)
    train, validation, test = args.ratios
    spec = SplitSpec(train=train, validation=validation, test=test, seed=args.seed,
                     stratify_column=args.stratify, split_column=args.split_column)
    parts = split_table(table, spec)
    how = (f'from the column "{spec.split_column}"' if spec.split_column else
           f"by ratios {train:g}/{validation:g}/{test:g}, seed {spec.seed}"
           + (f', stratified by "{spec.stratify_column}"' if spec.stratify_column else ""))
    print(f"Split of {record.label} {how}:")
    for name in SPLIT_NAMES:
        print(f"  {name:<11}{len(parts[name]):>10,} rows")
    if args.json:
        print(json.dumps({name: len(parts[name]) for name in SPLIT_NAMES}))
    return 0


def cmd_clean(args) -> int:
    store = open_store()
    try:
        text = Path(args.recipe).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"Cannot read the recipe {args.recipe}: {exc.strerror or exc}.") from exc
    recipe = Recipe.from_json(text)
    parent = store.get_dataset(args.dataset)
    record = apply_recipe_to(store, args.dataset, recipe)
    for step in recipe.steps:
        print(f"  - {step.describe()}")
    where = _make_current(store, record)
    print(f"Cleaned {parent.label} into dataset {record.id}: {record.label} "
          f"({parent.n_rows - record.n_rows:,} rows removed), now the current dataset of project {where!r}.")
    return 0


def cmd_combine(args) -> int:
    store = open_store()
    train = store.get_dataset(args.train)
    parts = {"train": args.train, "validation": args.validation, "test": args.test}
    record = combine_as_splits(store, train.project_id, args.name or train.name,
                               {k: v for k, v in parts.items() if v})
    where = _make_current(store, record)
    print(f"Combined into dataset {record.id}: {record.label}, with a \"split\" column, now the current dataset "
          f"of project {where!r}. prepare-train and templates export-data use its split column by default "
          "(--split-column split).")
    return 0


def cmd_projects(args) -> int:
    for p in open_store().list_projects():
        print(f"{p.id}\t{p.name}")
    return 0


def cmd_datasets(args) -> int:
    store = open_store()
    for d in store.list_datasets(find_project(store, project_name(args)).id):
        print(f"{d.id}\t{d.label}\t{', '.join(d.column_names)}")
    return 0


def _ratios(text: str) -> list[float]:
    import argparse

    try:
        values = [float(v) for v in text.replace("/", ",").split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise argparse.ArgumentTypeError("give three shares, e.g. 0.8,0.1,0.1")
    return values


def register(sub) -> None:
    p = sub.add_parser("import", help="import a data file or folder (CSV, TSV, JSON, JSONL, Excel, Parquet, "
                                      "Arrow, a datasets save_to_disk folder, a folder of .txt/.md files)")
    p.add_argument("file")
    add_project_option(p, "project name (created if new; default: My project)")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--delimiter", help="CSV/TSV column separator (',', ';', 'tab', '|'); default: detected")
    p.add_argument("--quote-char", help="CSV quote character; default: detected")
    p.add_argument("--encoding", help="text encoding (utf-8, utf-16, cp1252, latin-1...); default: detected")
    p.add_argument("--no-header", action="store_true", help="the first row is data, not column names")
    p.add_argument("--header", action="store_true", help="the first row holds the column names (default: detected)")
    p.add_argument("--sheet", help="Excel sheet: its name or number (from 1); default: the first")
    p.add_argument("--header-row", type=int, help="Excel row (from 1) holding the column names")
    p.add_argument("--records-key", help="JSON: the key whose list holds the records")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("inspect", help="summarise a dataset's columns (type, empty, distinct, text lengths)")
    p.add_argument("dataset", type=int, metavar="DATASET_ID")
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("split", help="show how many rows each split gets")
    p.add_argument("dataset", type=int, metavar="DATASET_ID")
    p.add_argument("--ratios", type=_ratios, default=[0.8, 0.1, 0.1], help="train,validation,test (0.8,0.1,0.1)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--stratify", metavar="COLUMN", help="keep this column's class proportions in each split")
    p.add_argument("--split-column", metavar="COLUMN", help="take each row's split from this column")
    p.add_argument("--json", action="store_true", help="also print the counts as JSON")
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("clean", help="apply a cleaning recipe (JSON) and save the result as a new version")
    p.add_argument("dataset", type=int, metavar="DATASET_ID")
    p.add_argument("--recipe", required=True, help='recipe file: {"steps": [{"kind": "drop_empty_rows"}, ...]}')
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser("combine-splits", help="combine datasets imported from separate files into one "
                                              "dataset with a split column")
    p.add_argument("--train", type=int, required=True, metavar="DATASET_ID")
    p.add_argument("--validation", type=int, metavar="DATASET_ID")
    p.add_argument("--test", type=int, metavar="DATASET_ID")
    p.add_argument("--name", help="name of the combined dataset (default: the training dataset's name)")
    p.set_defaults(func=cmd_combine)

    sub.add_parser("projects", help="list projects").set_defaults(func=cmd_projects)
    for name, func, text in [("datasets", cmd_datasets, "list a project's datasets")]:
        p = sub.add_parser(name, help=text)
        add_project_option(p)
        p.set_defaults(func=func)
