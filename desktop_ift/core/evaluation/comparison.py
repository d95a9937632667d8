"""Side-by-side comparison of models' scores: rows are metrics, columns are models.

Used by the CLI's table and the GUI's Evaluate page, so both show the same rows in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ComparisonRow:
    key: str
    name: str
    higher_is_better: bool
    values: dict[str, float | None]  # model label -> value
    best: str | None  # label of the best model (None on a tie or when fewer than two values)
    delta: float | None  # last model minus the first (the base), when both exist
    deltas: dict[str, float] = field(default_factory=dict)  # every other model minus the baseline


def comparison_rows(results: dict[str, dict[str, float | None]], baseline: str | None = None) -> list[ComparisonRow]:
    """Rows for every known scalar metric that at least one model has, in display order.

    ``results`` is ``{model label: {metric: value}}`` (as ``Store.eval_results`` returns). ``baseline`` is
    the label the change is measured against (default: the first model).
    """
    # lazy: metrics loads scikit-learn (pandas) and sacrebleu, ~3 s, kept out of GUI start and CLI listings
    from desktop_ift.core.evaluation.metrics import SCALAR_METRICS

    labels = list(results)
    baseline = baseline if baseline in results else (labels[0] if labels else None)
    rows = []
    for key, name, higher in SCALAR_METRICS:
        values = {label: results[label].get(key) for label in labels}
        present = {k: v for k, v in values.items() if v is not None}
        if not present:
            continue
        best = None
        if len(present) > 1:
            top = max(present.values()) if higher else min(present.values())
            winners = [k for k, v in present.items() if v == top]
            best = winners[0] if len(winners) == 1 else None
        delta = None
        others = [label for label in labels if label != baseline]
        if baseline is not None and others and values.get(baseline) is not None and values.get(others[-1]) is not None:
            delta = values[others[-1]] - values[baseline]  # type: ignore[operator]
        deltas = {}
        if baseline is not None and values.get(baseline) is not None:
            deltas = {label: values[label] - values[baseline]  # type: ignore[operator]
                      for label in others if values.get(label) is not None}
        rows.append(ComparisonRow(key, name, higher, values, best, delta, deltas))
    subjects = sorted({k for scores in results.values() for k in scores if k.startswith("subject/")})
    for key in subjects:
        values = {label: results[label].get(key) for label in labels}
        present = {k: v for k, v in values.items() if v is not None}
        top = max(present.values()) if len(present) > 1 else None
        winners = [k for k, v in present.items() if v == top]
        best = winners[0] if top is not None and len(winners) == 1 else None
        deltas = {}
        if baseline is not None and values.get(baseline) is not None:
            deltas = {label: values[label] - values[baseline]  # type: ignore[operator]
                      for label in labels if label != baseline and values.get(label) is not None}
        last = [label for label in labels if label != baseline]
        rows.append(ComparisonRow(key, f"Accuracy: {key.split('/', 1)[1]}", True, values, best,
                                  deltas.get(last[-1]) if last else None, deltas))
    return rows


def format_value(key: str, value: float | None) -> str:
    """Display a score: BLEU/chrF on their 0-100 scale, the others in 0-1 with three decimals."""
    if value is None:
        return "—"
    if key in ("forgotten", "learned", "n_examples", "n_questions", "answers_cut"):
        return f"{value:.0f}"
    return f"{value:.2f}" if key in ("bleu", "chrf", "perplexity") else f"{value:.3f}"


def format_delta(key: str, value: float | None) -> str:
    """A signed change, on the same scale as :func:`format_value`."""
    if value is None:
        return "—"
    if key in ("forgotten", "learned", "answers_cut"):
        return f"{value:+.0f}"
    return f"{value:+.2f}" if key in ("bleu", "chrf", "perplexity") else f"{value:+.3f}"


def is_improvement(row: ComparisonRow, delta: float) -> bool | None:
    """True when ``delta`` is a change for the better on this row, False for worse, None for no change."""
    if delta == 0:
        return None
    return (delta > 0) == row.higher_is_better


def format_comparison(results: dict[str, dict[str, float | None]]) -> str:
    """A plain-text table: one metric per row, one model per column, the best value marked with ``*``, then
    the change against the first model (one ``change`` column, or one per model when there are several)."""
    rows = comparison_rows(results)
    labels = list(results)
    others = labels[1:]
    change_titles = ["change"] if len(others) == 1 else [f"change {label}" for label in others]
    header = ["metric", *labels, *change_titles]
    body = []
    for row in rows:
        cells = [row.name]
        for label in labels:
            text = format_value(row.key, row.values.get(label))
            cells.append(text + (" *" if row.best == label else ""))
        cells.extend(format_delta(row.key, row.deltas.get(label)) for label in others)
        body.append(cells)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
