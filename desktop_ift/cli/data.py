"""``import``, ``projects``, ``datasets``, ``templates``."""

from __future__ import annotations

from desktop_ift.cli.common import find_project, open_store


def cmd_import(args) -> int:
    from desktop_ift.core.data.importers import import_dataset

    store = open_store()
    project = store.find_project(args.project) or store.create_project(args.project)
    record = import_dataset(store, project.id, args.file, name=args.name)
    columns = ", ".join(f"{c['name']} ({c['type']})" for c in record.columns)
    print(f"Imported {record.label} into project {project.name!r} as dataset {record.id}.")
    print(f"Columns: {columns}")
    return 0


def cmd_projects(args) -> int:
    for p in open_store().list_projects():
        print(f"{p.id}\t{p.name}")
    return 0


def cmd_datasets(args) -> int:
    store = open_store()
    for d in store.list_datasets(find_project(store, args.project).id):
        print(f"{d.id}\t{d.label}\t{', '.join(d.column_names)}")
    return 0


def cmd_templates(args) -> int:
    store = open_store()
    for t in store.list_templates(find_project(store, args.project).id):
        print(f"{t.id}\t{t.name}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("import", help="import a data file (CSV, TSV, JSON, JSONL, Excel, Parquet)")
    p.add_argument("file")
    p.add_argument("--project", default="My project", help="project name (created if new)")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.set_defaults(func=cmd_import)
    sub.add_parser("projects", help="list projects").set_defaults(func=cmd_projects)
    for name, func, text in [("datasets", cmd_datasets, "list a project's datasets"),
                             ("templates", cmd_templates, "list a project's templates")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--project", help="project name (default: the demo project)")
        p.set_defaults(func=func)
