"""Limits that keep one template render bounded in time and memory.

A template file can come from someone else, and Jinja can loop, repeat text and raise numbers to powers.
Every render runs under a :class:`Budget` (one per thread): a deadline, a count of loop iterations and a
count of characters written. The sandbox calls :func:`check_*` before it builds anything large, so a
hostile template stops with :class:`LimitExceeded` (naming the limit) before it allocates gigabytes, and the
deadline is checked at every loop step, function/macro call and operator, so nothing spins for minutes.

Measured on this machine (see tests/reliability): the checks cost a few microseconds per row; rendering in a
child process would cost ~150 ms to start the child plus pickling every row, so limits run in-process.
"""

from __future__ import annotations

import re
import string
import threading
import time
from typing import Any, Iterable, Iterator

MAX_TEXT = 10_000_000  # characters (or list items) that one operation may build
MAX_OUTPUT = 50_000_000  # characters one render may write (a long text column printed a few times fits)
MAX_LOOP_STEPS = 200_000  # loop iterations (all {% for %} loops and list filters together) in one render
MAX_SECONDS = 1.0  # wall time for one field of one row
MAX_INT_BITS = 100_000  # about 30,000 digits: the largest number "*" or "**" may produce
MAX_WIDTH = 100_000  # the widest padding/indent/format width a template may ask for


class LimitExceeded(Exception):
    """A render went over one of the limits; ``str(e)`` says which, in plain words."""


class Budget:
    """What one render may still spend: time until ``deadline``, loop steps and characters written."""

    __slots__ = ("deadline", "steps", "written", "seconds")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.steps = 0
        self.written = 0

    def tick(self, steps: int = 1) -> None:
        """Count ``steps`` loop iterations and check the deadline."""
        self.steps += steps
        if self.steps > MAX_LOOP_STEPS:
            raise LimitExceeded(f"its loops ran more than {MAX_LOOP_STEPS:,} times for one row")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"it ran longer than {self.seconds:g} s for one row")


class _Local(threading.local):
    budget: Budget | None = None


_LOCAL = _Local()


def current() -> Budget | None:
    """The budget of the render running on this thread, or None outside a render (compile-time folding)."""
    return _LOCAL.budget


def start(seconds: float | None = None) -> Budget | None:
    """Give this thread a fresh :class:`Budget`; returns the previous one, to hand to :func:`stop`."""
    previous = _LOCAL.budget
    _LOCAL.budget = Budget(MAX_SECONDS if seconds is None else seconds)
    return previous


def stop(previous: Budget | None) -> None:
    """End the render started by :func:`start`."""
    _LOCAL.budget = previous


def check_time() -> None:
    budget = current()
    if budget is not None:
        budget.check_time()


# ------------------------------------------------------------------------------------------ sizes
def weight(value: Any, limit: int = MAX_TEXT) -> int:
    """About how many characters ``str(value)`` would have, counted only up to just past ``limit``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        total = len(value)
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            if total > limit:
                break
            total += weight(item, limit - total)
        return total
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1
    return 1


def check_size(size: int, what: str) -> None:
    if size > MAX_TEXT:
        raise LimitExceeded(f"{what} would be {size:,} characters long (the limit is {MAX_TEXT:,})")


def check_width(width: Any, what: str) -> None:
    if isinstance(width, (int, float)) and not isinstance(width, bool) and abs(width) > MAX_WIDTH:
        raise LimitExceeded(f"{what} asks for a width of {width:,} (the limit is {MAX_WIDTH:,})")


def check_int_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"{what} would make a number of about {bits * 3 // 10:,} digits "
                            f"(the limit is {MAX_INT_BITS * 3 // 10:,})")


# ------------------------------------------------------------------------------------------ operators
def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left <operator> right`` before Python computes it when the result would be too large."""
    check_time()
    is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and is_int(times) and times > 0:
                check_size(weight(seq) * times, "repeating text or a list with '*'")
        if is_int(left) and is_int(right):
            check_int_bits(left.bit_length() + right.bit_length(), "multiplying")
    elif operator == "**":
        if is_int(left) and is_int(right) and right > 0 and abs(left) > 1:
            check_int_bits(left.bit_length() * right, "raising a number to a power with '**'")
    elif operator == "+":
        if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            check_size(weight(left) + weight(right), "joining text or lists with '+'")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(fmt: str, values: Any) -> None:
    """Refuse ``fmt % values`` when a ``%Nd``-style width or precision (or a ``*`` one) is huge."""
    if isinstance(values, (tuple, dict)) and len(values) > MAX_WIDTH:
        raise LimitExceeded(f"a '%' format is given {len(values):,} values (the limit is {MAX_WIDTH:,})")
    check_size(len(fmt) + weight(values), "the formatted text")
    starred = False
    for match in _PERCENT_SPEC.finditer(fmt):
        for part in match.groups():
            if part == "*":
                starred = True
            elif part:
                check_width(int(part), "a '%' format")
    if starred:
        for value in values if isinstance(values, tuple) else (values,):
            check_width(value, "a '%*' format")


def check_brace_format(fmt: str, args: Iterable[Any], kwargs: dict) -> None:
    """Refuse ``fmt.format(...)`` when a ``{:>N}`` width (or a nested ``{:>{}}`` one) is huge."""
    nested = False
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # Python reports the malformed format itself
    for _literal, _name, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            nested = True
        for digits in re.findall(r"\d+", spec):
            check_width(int(digits), "a '{:…}' format")
    if nested:
        for value in list(args) + list(kwargs.values()):
            check_width(value, "a nested '{:{}}' format")
    check_size(len(fmt) + weight(list(args)) + weight(list(kwargs.values())), "the formatted text")


_WIDTH_METHODS = {"ljust", "rjust", "center", "zfill"}


def check_call(obj: Any, args: tuple, kwargs: dict) -> None:
    """Refuse a call on text (``'x'.ljust(10**9)``, ``sep.join(huge)``, ``replace``) that would be huge."""
    check_time()
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS:
        for value in list(args) + list(kwargs.values()):
            check_width(value, f"'.{name}()'")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        check_width(size, "'.expandtabs()'")
        if isinstance(size, int):
            check_size(len(owner) + owner.count("\t") * size, "the text with tabs expanded")
    elif name == "join" and args:
        check_join(owner, args[0])
    elif name == "replace" and len(args) >= 2:
        check_replace(owner, args[0], args[1])


def check_join(separator: Any, items: Any) -> None:
    if isinstance(items, (list, tuple, str)):
        count = len(items)
        check_size(weight(items) + weight(separator) * max(count - 1, 0), "the joined text")


def check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        count = len(text) + 1 if old == "" else text.count(old)
        check_size(len(text) + count * (len(new) - len(old)), "the text after replace")


# ------------------------------------------------------------------------------------------ iteration
def limited_iter(items: Any) -> Iterator[Any]:
    """``items`` one by one, each step counted against the render's loop limit and deadline."""
    budget = _LOCAL.budget
    if budget is None:
        yield from items
        return
    for item in items:
        budget.tick()
        yield item


def charge_output(value: Any) -> Any:
    """Count what a ``{{ ... }}`` writes against the render's output limit; returns ``value`` unchanged."""
    budget = _LOCAL.budget
    if budget is not None:
        budget.written += len(value) if type(value) is str else weight(value, MAX_OUTPUT - budget.written)
        if budget.written > MAX_OUTPUT:
            raise LimitExceeded(f"it writes more than {MAX_OUTPUT:,} characters for one row")
    return value
