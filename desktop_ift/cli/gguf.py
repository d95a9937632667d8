"""``runs export-gguf RUN DEST [--type f16|bf16|q8_0] [--ollama NAME]``: a finished run's model as a GGUF
file for llama.cpp / Ollama / LM Studio, with an Ollama Modelfile and a README.txt beside it."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from desktop_ift.cli.common import CliError, open_store
from desktop_ift.core.errors import WorkerError
from desktop_ift.core.models.gguf_export import export_gguf
from desktop_ift.core.store import StoreError


def cmd_export_gguf(args) -> int:
    """Convert a finished run's model (an adapter merged first) to GGUF in the new folder DEST."""
    store = open_store()
    try:
        run_id = store.get_run(args.run).id
    except StoreError as exc:
        raise CliError(f"{exc} List the runs with: desktop-ift runs") from exc
    try:
        result = export_gguf(store, run_id, Path(args.dest), outtype=args.type, name=args.ollama,
                             progress=lambda message: print(message + "…", file=sys.stderr, flush=True))
    except WorkerError as exc:
        raise CliError(exc.message + (f" {exc.hint}" if exc.hint else "")) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise CliError(f"The disk is full: the GGUF export to {args.dest} was not written (nothing "
                           "half-written is left). Free some space, or choose another disk.") from exc
        raise CliError(f"The GGUF export to {args.dest} failed: {exc}. Nothing half-written is left.") from exc
    finally:
        store.close()
    print(result.describe())
    print(result.summary())
    return 0


def register(actions) -> None:
    """Add ``export-gguf`` to the ``runs`` actions."""
    a = actions.add_parser("export-gguf", help="convert a finished run's model to GGUF (llama.cpp, Ollama, "
                                               "LM Studio) with an Ollama Modelfile")
    a.add_argument("run")
    a.add_argument("dest", help="the folder to create (must not exist, or be empty)")
    a.add_argument("--type", default="q8_0", choices=("f16", "bf16", "q8_0"),
                   help="the GGUF's number format: q8_0 (default, half the size of f16, nearly identical "
                        "answers), f16 or bf16 (exact; Ollama can quantize them further)")
    a.add_argument("--ollama", metavar="NAME", help="the model's name in Ollama (default: the run id)")
    a.set_defaults(func=cmd_export_gguf)
