"""Disk space, said in plain words: is there room for a checkpoint, a save or an export before it starts,
and what to tell the user when a write ran out of space (ENOSPC): :func:`disk_full_message` is the one
wording the checks, the worker and the workspace database all use.

Used by the worker (checkpoints, the final save), the export code and the workspace; nothing here writes.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

# Room kept free beyond the estimate: file systems need some, and the database must still take the events.
SAFETY_BYTES = 64 * 1024 * 1024

#: What to do about a full disk, after the message (the default advice of :func:`disk_full_message`).
FREE_SPACE_ADVICE = ("Free some space (old runs and their checkpoints are usually the largest: desktop-ift runs "
                     "delete RUN) or choose a folder on another disk, then try again.")
#: The advice when the workspace database could not be written (SQLite cannot tell a full disk from a
#: read-only one).
WORKSPACE_ADVICE = ("Nothing could be saved (a read-only disk reads the same); what was saved before is intact. "
                    "Free some space (old runs and checkpoints are the largest) and try again.")


class DiskSpaceError(OSError):
    """Not enough free space for a write; ``str(e)`` is the message for the user, ``summary`` the same
    without the advice (for callers that give their own hint)."""

    def __init__(self, message: str, needed: int, free: int, where: Path, summary: str = ""):
        super().__init__(errno.ENOSPC, message)
        self.message, self.needed, self.free, self.where = message, needed, free, where
        self.summary = summary or message

    def __str__(self) -> str:
        return self.message


def human_bytes(n: float) -> str:
    """``1.5 GB``, ``320 MB``, ``12 KB``, ``512 bytes`` (powers of 1000, as file managers show them)."""
    n = float(n)
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n)} bytes"


def existing_parent(path: Path | str) -> Path:
    """``path`` or its nearest folder that exists (a file about to be written does not exist yet)."""
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def mount_point(path: Path | str) -> Path:
    """The mount point of the file system holding ``path`` (what "free on ..." names)."""
    path = existing_parent(path).resolve()
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


def free_bytes(path: Path | str) -> int:
    """Bytes free for this user on the file system holding ``path``."""
    return shutil.disk_usage(existing_parent(path)).free


def folder_size(path: Path | str) -> int:
    """Total size of the files under ``path`` (0 if it does not exist); a previous checkpoint's size is the
    best estimate of the next one's."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def disk_full_message(where: Path | str | None, needed: int | None = None, free: int | None = None,
                      what: str = "", writing: str = "", estimated: bool = False,
                      advice: str = FREE_SPACE_ADVICE) -> str:
    """The app's one way to say a disk is full, before a write (:func:`check_free_space`), after a worker's
    save failed, or when the workspace database could not be written::

        The disk is full[ to save WHAT] ([about ]NEEDED needed, FREE free on WHERE)[ while writing FILE]. ADVICE

    ``where`` is the folder named (a file system's mount point, or the folder being written; None: not
    known, and no amounts are given); its free space is measured unless ``free`` is given ("unknown" when it
    cannot be read). ``needed`` None says "more space needed"; ``estimated`` puts "about" before an amount
    that is an estimate. ``advice`` "" leaves the advice out, for a caller that shows its own hint.
    """
    amount = f"{'about ' if estimated else ''}{human_bytes(needed)} needed" if needed else "more space needed"
    if where is not None:
        if free is None:
            try:
                free = free_bytes(where)
            except OSError:
                free = None
        amount += f", {human_bytes(free) if free is not None else 'unknown'} free on {where}"
    subject = f" to save {what}" if what else ""
    file = f" while writing {writing}" if writing else ""
    text = f"The disk is full{subject} ({amount}){file}."
    return f"{text} {advice}" if advice else text


def check_free_space(path: Path | str, needed: int, what: str = "this") -> None:
    """Raise :class:`DiskSpaceError` (with :func:`disk_full_message`) unless ``needed`` bytes plus a safety
    margin fit on the file system holding ``path``. Call it before a checkpoint, a save or an export."""
    free = free_bytes(path)
    if needed + SAFETY_BYTES > free:
        where = mount_point(path)
        summary = disk_full_message(where, needed + SAFETY_BYTES, free, what, advice="")
        raise DiskSpaceError(f"{summary} {FREE_SPACE_ADVICE}", needed, free, where, summary)


def is_disk_full_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is "no space left on device" / a quota exceeded, including
    the same failure reported by a library (safetensors, torch.save, SQLite) in its own words."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc).lower()
        if "no space left on device" in text or "disk quota exceeded" in text or "database or disk is full" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
