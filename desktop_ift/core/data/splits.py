"""Deterministic train/validation/test splits of a dataset's rows: by ratios with a seed (optionally
stratified by a column), or taken from a column that already names each row's split."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Hashable

SPLIT_NAMES = ("train", "validation", "test")
# Values of a split column (compared case-insensitively, spaces trimmed) and the split each one means.
SPLIT_ALIASES = {
    **dict.fromkeys(("train", "training", "trn", "tr"), "train"),
    **dict.fromkeys(("validation", "valid", "val", "dev", "development", "eval", "evaluation"), "validation"),
    **dict.fromkeys(("test", "testing", "tst", "holdout", "held-out", "heldout"), "test"),
}


class SplitError(ValueError):
    """A split setting the user chose cannot work; ``str(e)`` says why and what to change."""


@dataclass
class SplitSpec:
    """How to divide rows: fractions for each split (summing to 1), the random seed, an optional column to
    stratify by (each split then keeps that column's class proportions).

    With ``split_column`` set, the ratios, seed and stratify column are ignored: each row goes to the split
    its value in that column names (``train``/``validation``/``test`` and common spellings, see
    :data:`SPLIT_ALIASES`).
    """

    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1
    seed: int = 42
    stratify_column: str | None = None
    split_column: str | None = None

    def __post_init__(self) -> None:
        for name in SPLIT_NAMES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise SplitError(f"The {name} share must be a number between 0 and 1, not {value!r}.")
            if abs(value) < 1e-9 or 1 < value < 1 + 1e-9:  # rounding noise such as 1 - a - b
                value = 0.0 if abs(value) < 1e-9 else 1.0
                setattr(self, name, value)
            if value < 0 or value > 1:
                raise SplitError(f"The {name} share must be between 0 and 1 (it is {value:g}).")
        if self.train <= 0:
            raise SplitError("The training share must be above 0: the model needs rows to learn from.")
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise SplitError(
                f"The train, validation and test shares must add up to 1 (100%); they add up to {total:.4g} "
                f"({self.train:g} + {self.validation:g} + {self.test:g}). Adjust them."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SplitError(f"The random seed must be a whole number, not {self.seed!r}.")
        if self.stratify_column is not None and not str(self.stratify_column).strip():
            self.stratify_column = None
        if self.split_column is not None and not str(self.split_column).strip():
            self.split_column = None

    def ratios(self) -> dict[str, float]:
        """``{"train": ..., "validation": ..., "test": ...}``."""
        return {name: float(getattr(self, name)) for name in SPLIT_NAMES}


def split_counts(n_rows: int, spec: SplitSpec) -> dict[str, int]:
    """How many of ``n_rows`` rows each split gets (what the GUI shows before training).

    Counts follow the shares (largest remainder), add up to ``n_rows``, and training always gets at least one
    row. With 3 or more rows, every split whose share is above 0 gets at least one row.
    """
    if n_rows < 0:
        raise SplitError(f"The number of rows cannot be negative ({n_rows}).")
    counts = _largest_remainder(n_rows, spec.ratios())
    if n_rows >= 3:
        for name in ("validation", "test"):
            if getattr(spec, name) > 0 and counts[name] == 0:
                counts[name] = 1
                counts["train"] -= 1
    if n_rows >= 1 and counts["train"] == 0:
        donor = max(("validation", "test"), key=lambda k: counts[k])
        counts[donor] -= 1
        counts["train"] += 1
    return counts


def split_indices(n_rows: int, spec: SplitSpec, stratify_values: list | None = None,
                  column_values: list | None = None) -> dict[str, list[int]]:
    """Row indices (ascending) of each split: keys ``train``, ``validation``, ``test``.

    The same ``n_rows``, shares, seed and values give the same split every time; every row is in exactly one
    split, and the sizes are :func:`split_counts`. With ``stratify_values`` (one value per row), each class
    is shared out between the splits in proportion to the shares, as closely as whole rows allow.

    When ``spec.split_column`` is set, ``column_values`` (that column's value for each row) must be given and
    decides each row's split (see :func:`splits_from_column`).
    """
    if spec.split_column:
        if column_values is None:
            raise SplitError(f'The split is taken from the column "{spec.split_column}", but its values were not '
                             "given. (Pass column_values, or use split_table.)")
        if len(column_values) != n_rows:
            raise SplitError(f'The split column "{spec.split_column}" has {len(column_values)} values but the '
                             f"dataset has {n_rows} rows.")
        return splits_from_column(column_values, spec.split_column)
    counts = split_counts(n_rows, spec)
    rng = random.Random(spec.seed)
    if stratify_values is None:
        order = list(range(n_rows))
        rng.shuffle(order)
        out, start = {}, 0
        for name in SPLIT_NAMES:
            out[name] = sorted(order[start:start + counts[name]])
            start += counts[name]
        return out
    if len(stratify_values) != n_rows:
        raise SplitError(
            f"The stratify column has {len(stratify_values)} values but the dataset has {n_rows} rows."
        )
    classes: dict[Hashable, list[int]] = {}
    for index, value in enumerate(stratify_values):
        classes.setdefault(_class_key(value), []).append(index)
    members = list(classes.values())
    for rows in members:
        rng.shuffle(rows)
    allocation = _allocate(counts, [len(rows) for rows in members], spec.ratios())
    out = {name: [] for name in SPLIT_NAMES}
    for rows, per_split in zip(members, allocation):
        start = 0
        for name in SPLIT_NAMES:
            out[name].extend(rows[start:start + per_split[name]])
            start += per_split[name]
    return {name: sorted(indices) for name, indices in out.items()}


def split_table(table: Any, spec: SplitSpec) -> dict[str, list[int]]:
    """:func:`split_indices` for a ``pyarrow.Table``: from ``spec.split_column`` when it is set, otherwise by
    the ratios, stratified by ``spec.stratify_column`` when it is set.

    Raises :class:`SplitError` naming the column (and the available ones) if the table lacks it.
    """
    if spec.split_column:
        if spec.split_column not in table.column_names:
            raise SplitError(
                f'Cannot take the split from "{spec.split_column}": the dataset has no such column. '
                f"Available columns: {', '.join(table.column_names)}."
            )
        return splits_from_column(table.column(spec.split_column).to_pylist(), spec.split_column)
    values = None
    if spec.stratify_column:
        if spec.stratify_column not in table.column_names:
            raise SplitError(
                f'Cannot stratify by "{spec.stratify_column}": the dataset has no such column. '
                f"Available columns: {', '.join(table.column_names)}."
            )
        values = table.column(spec.stratify_column).to_pylist()
    return split_indices(table.num_rows, spec, values)


def _class_key(value: Any) -> Hashable:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _largest_remainder(total: int, ratios: dict[str, float]) -> dict[str, int]:
    exact = {name: total * ratio for name, ratio in ratios.items()}
    counts = {name: int(math.floor(value)) for name, value in exact.items()}
    left = total - sum(counts.values())
    for name in sorted(exact, key=lambda k: (-(exact[k] - counts[k]), SPLIT_NAMES.index(k)))[:left]:
        counts[name] += 1
    return counts


def _allocate(counts: dict[str, int], class_sizes: list[int], ratios: dict[str, float]) -> list[dict[str, int]]:
    """Per-class split sizes whose row sums are the class sizes and whose column sums are ``counts``.

    Each class first gets the whole-number part of its proportional share; the rows left over go, largest
    fractional remainder first, to splits that still need rows; any rest fills the remaining gaps in order.
    """
    exact = [{name: size * ratios[name] for name in SPLIT_NAMES} for size in class_sizes]
    cells = [{name: min(int(math.floor(e[name])), counts[name]) for name in SPLIT_NAMES} for e in exact]
    need = {name: counts[name] - sum(c[name] for c in cells) for name in SPLIT_NAMES}
    # Taking whole parts can overshoot a split that was shrunk for the minimum-one rule; give rows back.
    for name in SPLIT_NAMES:
        for cell in cells:
            while need[name] < 0 and cell[name] > 0:
                cell[name] -= 1
                need[name] += 1
    spare = [size - sum(c.values()) for size, c in zip(class_sizes, cells)]
    order = sorted(
        ((exact[i][name] - math.floor(exact[i][name]), i, name) for i in range(len(cells)) for name in SPLIT_NAMES),
        key=lambda t: (-t[0], t[1], SPLIT_NAMES.index(t[2])),
    )
    for remainder, i, name in order:
        if remainder > 0 and spare[i] > 0 and need[name] > 0:
            cells[i][name] += 1
            spare[i] -= 1
            need[name] -= 1
    for i, cell in enumerate(cells):
        for name in SPLIT_NAMES:
            take = min(spare[i], need[name])
            cell[name] += take
            spare[i] -= take
            need[name] -= take
    return cells


def splits_from_column(values: list, column: str = "split") -> dict[str, list[int]]:
    """Row indices of each split, read from a column's values (``train``, ``val``, ``Test``, ...).

    Raises :class:`SplitError` naming the first row whose value is empty or names no split, with the values
    that are understood, and when no row is for training.
    """
    out: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for index, value in enumerate(values):
        key = SPLIT_ALIASES.get(str(value).strip().lower()) if value is not None else None
        if key is None:
            shown = "an empty cell" if value is None or not str(value).strip() else f"{str(value)[:40]!r}"
            raise SplitError(
                f'Row {index + 1} has {shown} in the split column "{column}"; every row must say train, '
                "validation (or val/dev) or test. Fix the value, clean those rows out, or split by ratios.")
        out[key].append(index)
    if not out["train"]:
        raise SplitError(f'No row of the split column "{column}" says train: the model needs rows to learn from.')
    return out


def column_split_counts(values: list, column: str = "split") -> dict[str, int]:
    """How many rows each split gets when the split comes from a column (what the GUI shows)."""
    return {name: len(rows) for name, rows in splits_from_column(values, column).items()}


def table_split_counts(table, spec: SplitSpec) -> dict[str, int]:
    """Rows per split for a loaded table: read from ``spec.split_column`` when it names one, else from the
    ratios. Raises :class:`SplitError` (naming the column or the first bad row) when the column cannot be
    used."""
    if not spec.split_column:
        return split_counts(table.num_rows, spec)
    if spec.split_column not in table.column_names:
        raise SplitError(f"The split column {spec.split_column!r} is not in this dataset. "
                         f"Available columns: {', '.join(table.column_names)}.")
    return column_split_counts(table.column(spec.split_column).to_pylist(), spec.split_column)


def detect_split_column(table) -> str | None:
    """The name of ``table``'s own split column, or None: a column called ``split`` (any case) whose every
    value names a part (see :data:`SPLIT_ALIASES`) and that gives at least one training row."""
    for name in table.column_names:
        if name.strip().lower() != "split":
            continue
        try:
            splits_from_column(table.column(name).to_pylist(), name)
        except SplitError:
            return None
        return name
    return None
