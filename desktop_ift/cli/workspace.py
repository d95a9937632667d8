"""``desktop-ift workspace``: where the workspace is, whether it is sound, and a fresh start if it is not."""

from __future__ import annotations

from desktop_ift.cli.common import EXIT_FAILED
from desktop_ift.core.paths import workspace_home
from desktop_ift.core.store import check_workspace, start_fresh_workspace


def cmd_workspace(args) -> int:
    home = workspace_home()
    if args.fresh:
        kept = start_fresh_workspace(home)
        print(f"The old database was kept as {kept}. The next command starts a fresh workspace in {home} "
              "(imported files and run folders were left in place).")
        return 0
    if not args.check:
        print(home)
        return 0
    print(f"Workspace: {home}")
    problems = check_workspace(home)
    for problem in problems:
        print(f"Problem: {problem}")
    if problems:
        print("To go on: restore workspace.db from a backup, or keep a copy and start a fresh workspace with: "
              "desktop-ift workspace --fresh")
        return EXIT_FAILED
    print("The workspace is sound (database quick check: ok; every dataset and run folder is in place).")
    return 0


def register(sub) -> None:
    p = sub.add_parser("workspace", help="print the workspace folder; --check it; --fresh to start over safely")
    p.add_argument("--check", action="store_true", help="check the database and that every saved file exists")
    p.add_argument("--fresh", action="store_true",
                   help="keep a copy of the (damaged) database and start a fresh one; files stay in place")
    p.set_defaults(func=cmd_workspace)
