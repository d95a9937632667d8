"""Several templates for one dataset: which template renders which row.

A :class:`TemplateSet` holds one or more :class:`PromptTemplate` and a mode:

* ``random`` — each row gets one template drawn at random (seeded, optionally weighted);
* ``round_robin`` — row *i* gets template *i mod N*;
* ``all`` — every row is rendered through every template (the data grows ×N).

The choice depends only on the row's index in the whole dataset and the seed, so a run's split (made on
source rows *before* expansion) never puts two variants of one row in different splits, and the same
set always gives the same data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from desktop_ift.core.templates.batch_render import TableRenderer
from desktop_ift.core.templates.render import PromptTemplate

MODES = ("random", "round_robin", "all")
MODE_LABELS = {
    "random": "One template per row, chosen at random",
    "round_robin": "One template per row, in turn (round-robin)",
    "all": "Every template for every row (×N)",
}


class TemplateSetError(ValueError):
    """A template set that cannot work (no templates, bad weights, unknown mode); the text says why."""


@dataclass
class TemplateSet:
    """Templates plus how rows are shared among them. ``weights`` (same length as ``templates``) only
    matter in ``random`` mode; ``template_ids`` remembers the project templates it was built from."""

    templates: list[PromptTemplate]
    mode: str = "random"
    weights: list[float] | None = None
    seed: int = 0
    name: str = ""
    template_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        texts = ("prompt", "response", "system", "name")  # a job's template also records its "references"
        self.templates = [t if isinstance(t, PromptTemplate) else PromptTemplate(**{k: t[k] for k in texts if k in t})
                          for t in self.templates]
        if not self.templates:
            raise TemplateSetError("A template set needs at least one template.")
        if self.mode not in MODES:
            raise TemplateSetError(f"Unknown mode {self.mode!r}: choose one of {', '.join(MODES)}.")
        if self.weights is not None:
            if len(self.weights) != len(self.templates):
                raise TemplateSetError(
                    f"There are {len(self.weights)} weights for {len(self.templates)} templates: give one weight "
                    "per template.")
            if any(not isinstance(w, (int, float)) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise TemplateSetError("Weights must be numbers of 0 or more, and at least one must be above 0.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TemplateSetError(f"The seed must be a whole number, not {self.seed!r}.")

    @classmethod
    def single(cls, template: PromptTemplate, template_id: int | None = None) -> "TemplateSet":
        """A set of one template (every row rendered once through it)."""
        return cls([template], mode="round_robin", name=template.name,
                   template_ids=[template_id] if template_id is not None else [])

    def labels(self) -> list[str]:
        """A display name per template: its own name, or "Template 2"."""
        return [t.name or f"Template {i + 1}" for i, t in enumerate(self.templates)]

    def to_dict(self) -> dict:
        """Plain JSON-able form (stored in job files and exports)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TemplateSet":
        """The inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in ("templates", "mode", "weights", "seed", "name", "template_ids")
                      if k in data})

    def expansion_factor(self) -> int:
        """How many examples each row gives (N in ``all`` mode, else 1)."""
        return len(self.templates) if self.mode == "all" else 1


def assignments(template_set: TemplateSet, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(row_index, template_index)`` arrays listing every example the set makes from ``n_rows`` rows.

    Examples are ordered by row, then by template (``all`` mode). The same set and row count always
    give the same arrays.
    """
    k = len(template_set.templates)
    rows = np.arange(n_rows, dtype=np.int64)
    if k == 1:
        return rows, np.zeros(n_rows, dtype=np.int64)
    if template_set.mode == "all":
        return np.repeat(rows, k), np.tile(np.arange(k, dtype=np.int64), n_rows)
    if template_set.mode == "round_robin":
        return rows, rows % k
    rng = np.random.default_rng(template_set.seed)
    p = None
    if template_set.weights is not None:
        w = np.asarray(template_set.weights, dtype=float)
        p = w / w.sum()
    return rows, rng.choice(k, size=n_rows, p=p).astype(np.int64)


def expansion_counts(template_set: TemplateSet, n_rows: int) -> dict:
    """What the set does to ``n_rows`` rows: ``{"rows", "examples", "per_template": {label: count}}``."""
    _, chosen = assignments(template_set, n_rows)
    counts = np.bincount(chosen, minlength=len(template_set.templates)) if n_rows else [0] * len(template_set.templates)
    return {"rows": n_rows, "examples": int(len(chosen)),
            "per_template": {label: int(c) for label, c in zip(template_set.labels(), counts)}}


def render_set(template_set: TemplateSet, table: pa.Table, rows: list[int] | np.ndarray | None = None,
               renderer: TableRenderer | None = None) -> list[dict]:
    """The examples the set makes from ``rows`` of ``table`` (default: all), in row order.

    Each is ``{"idx": source row, "system", "prompt", "response", "template": label}``. Assignment of
    templates is computed over the whole table, so a subset of rows gets the same templates it would get
    as part of the whole. Raises :class:`~desktop_ift.core.templates.render.TemplateError` (with the table
    row) when a row cannot be rendered.
    """
    renderer = renderer or TableRenderer(table)
    row_idx, tmpl_idx = assignments(template_set, table.num_rows)
    if rows is not None:
        keep = np.zeros(table.num_rows, dtype=bool)
        keep[np.asarray(rows, dtype=np.int64)] = True
        mask = keep[row_idx]
        row_idx, tmpl_idx = row_idx[mask], tmpl_idx[mask]
    labels = template_set.labels()
    out: list[dict | None] = [None] * len(row_idx)
    for k, template in enumerate(template_set.templates):
        positions = np.nonzero(tmpl_idx == k)[0]
        if not len(positions):
            continue
        source_rows = row_idx[positions]
        fields = renderer.render(template, pa.array(source_rows, type=pa.int64()))
        for j, (pos, src) in enumerate(zip(positions.tolist(), source_rows.tolist())):
            out[pos] = {"idx": src, "system": fields["system"][j], "prompt": fields["prompt"][j],
                        "response": fields["response"][j], "template": labels[k]}
    return out  # type: ignore[return-value]
