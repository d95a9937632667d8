"""The ``desktop-ift`` command line: the same core calls as the GUI, for scripting and tests.

Each area registers its own subcommands (``register(subparsers)`` in ``app``, ``data``, ``training``,
``evaluation``), so the command line grows with the features without one long file.

Exit codes: 0 success, 1 the job or command failed (with one message on stderr), 2 bad usage,
3 the job was cancelled.
"""

from __future__ import annotations

import argparse
import sys

from desktop_ift import __version__
from desktop_ift.cli.app import cmd_gui
from desktop_ift.cli.common import EXIT_CANCELLED, EXIT_FAILED, CliError
from desktop_ift.core.data.importers import DataImportError
from desktop_ift.core.disk import WORKSPACE_ADVICE, disk_full_message
from desktop_ift.core.job_format import JobError
from desktop_ift.core.paths import workspace_home
from desktop_ift.core.store import StoreError, is_disk_full
from desktop_ift.core.templates.render import TemplateError
from desktop_ift.core.training.config import ConfigError

COMMAND_MODULES = ("app", "data", "training", "evaluation", "runs", "templates")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every area's subcommands."""
    import importlib

    parser = argparse.ArgumentParser(prog="desktop-ift", description="Fine-tune language models on your own "
                                     "data, on your own workstation, without code.")
    parser.add_argument("--version", action="version", version=f"desktop_ift {__version__}")
    parser.add_argument("--project", default=argparse.SUPPRESS,
                        help="the project every command works on (the same as --project after the command)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"desktop_ift.cli.{name}").register(sub)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is meant for the user (printed without a traceback)."""
    return (CliError, DataImportError, JobError, StoreError, ConfigError, TemplateError, ValueError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``desktop-ift``; returns the exit code."""
    args = build_parser().parse_args(argv)
    if not getattr(args, "command", None):
        return cmd_gui(args)
    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"desktop-ift: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    except Exception as exc:  # a full disk reaches SQLite anywhere: say it plainly, never a traceback
        if not is_disk_full(exc):
            raise
        message = disk_full_message(workspace_home(), writing="the workspace database", advice=WORKSPACE_ADVICE)
        print(f"desktop-ift: {message}", file=sys.stderr)
        return EXIT_FAILED


__all__ = ["main", "build_parser", "CliError"]
