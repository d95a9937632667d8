"""Helpers shared by the command modules: opening the workspace, finding a project, running a job."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from desktop_ift.core import events as ev
from desktop_ift.core.demo import ensure_demo_project
from desktop_ift.core.job_format import read_job
from desktop_ift.core.job_process import describe_event, run_job_process
from desktop_ift.core.models.bundled import BUNDLED_DIRNAME, is_bundled_converted, resolve_model_option
from desktop_ift.core.models.discovery import is_gguf_choice
from desktop_ift.core.models.gguf_convert import GgufError
from desktop_ift.core.store import Store

EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 1, 2, 3


class CliError(Exception):
    """A problem the user can fix; printed as one message, no traceback."""


def open_store():
    """The workspace (``DESKTOP_IFT_HOME`` or the platform's user-data folder)."""
    return Store.open()


def add_project_option(parser, help: str = "project name (default: the demo project)") -> None:
    """``--project NAME`` on a command. It never resets a name given earlier on the line (``desktop-ift
    --project X templates use ...`` and ``templates --project X use ...`` mean the same as ``... use
    --project X``): the option has no default of its own; read it with :func:`project_name`."""
    import argparse

    parser.add_argument("--project", default=argparse.SUPPRESS, help=help)


def project_name(args, default: str | None = None) -> str | None:
    """The ``--project`` given anywhere on the command line, or ``default``."""
    return getattr(args, "project", None) or default


def find_project(store, name: str | None):
    """The named project, or the demo project (created on first use) when no name is given."""
    if name:
        project = store.find_project(name)
        if project is None:
            known = ", ".join(p.name for p in store.list_projects()) or "none yet"
            raise CliError(f"No project named {name!r} (projects: {known}). "
                           "Create one with: desktop-ift import FILE --project NAME")
        return project

    return ensure_demo_project(store)


def resolve_cli_model(value: str | None, workspace) -> str:
    """``--model`` (None: the bundled SmolLM2) -> the job's model entry, converting the bundled model on
    first use with its progress printed; a missing bundled model is a CliError saying how to install it."""
    if value in (None, "smollm2") and not is_bundled_converted(workspace):
        print(f"Preparing {BUNDLED_DIRNAME} (first use: converting the bundled 4-bit GGUF once, about a minute)",
              flush=True)

    if value and is_gguf_choice(value):
        print(f"Preparing {value} (a GGUF model: converted once into the workspace, then reused by its hash)",
              flush=True)
    last = [-1]

    def progress(message: str, fraction: float) -> None:
        if int(fraction * 10) != last[0]:
            last[0] = int(fraction * 10)
            print(f"  {fraction:4.0%} {message}", flush=True)

    try:
        return resolve_model_option(value, workspace, progress)
    except GgufError as exc:
        raise CliError(str(exc)) from exc


def print_event(event) -> None:
    """Print one event as a timestamped human line (events not worth a line are skipped)."""
    text = describe_event(event)
    if text:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def run_job(job_path: Path, as_json: bool = False) -> int:
    """Run a job file in a worker process, printing its events; returns the CLI exit code."""
    job = read_job(job_path)
    on_event = (lambda e: print(ev.encode(e), flush=True)) if as_json else print_event
    code, terminal = run_job_process(job_path, on_event=on_event)
    if isinstance(terminal, ev.Finished):
        return 0
    if isinstance(terminal, (ev.Cancelled, ev.Paused)):
        return EXIT_CANCELLED
    if terminal is None and code == 4:  # another worker holds the run: the worker said so on stderr
        return EXIT_FAILED
    if terminal is None:
        log = Path(job["workspace"]) / "runs" / job["run_id"] / "worker.log"
        print(f"The worker process ended without a result (exit code {code}). See {log}.", file=sys.stderr)
    return EXIT_FAILED
