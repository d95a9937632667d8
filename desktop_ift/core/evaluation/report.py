"""Exporting a comparison: a self-contained HTML report (inline SVG charts) and CSV/JSON of everything.

The report needs no network and no external file: styles are inline, charts are SVG drawn here. It holds
the side-by-side scores (best marked, change against the base coloured), a bar chart of the scores, the
confusion matrices, per-subject accuracy for benchmarks, and every example with each model's answer.
"""

from __future__ import annotations

import csv
import html
import io
import json
import time
from pathlib import Path

from desktop_ift.core.evaluation.comparison import comparison_rows, format_delta, format_value, is_improvement
from desktop_ift.core.evaluation.results import Comparison

PALETTE = ["#64748b", "#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"]
GOOD, BAD = "#15803d", "#b91c1c"
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:32px auto;max-width:1100px;color:#0f172a}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px} .muted{color:#64748b}
table{border-collapse:collapse;margin:8px 0;font-size:14px} th,td{border:1px solid #e2e8f0;padding:6px 10px;
text-align:right;vertical-align:top} th{background:#f8fafc} td.l,th.l{text-align:left}
td.best{font-weight:700} .good{color:#15803d} .bad{color:#b91c1c} .ex td{font-size:13px;max-width:320px;
white-space:pre-wrap;word-break:break-word;text-align:left} .grid{display:flex;flex-wrap:wrap;gap:24px}
"""


def _scaled(key: str, value: float) -> float:
    """Scores on a common 0..1 axis for the chart (BLEU/chrF are 0..100)."""
    return value / 100.0 if key in ("bleu", "chrf") else value


def bar_chart_svg(comp: Comparison, width: int = 900, height: int = 300) -> str:
    """Grouped bars: one group per 0..1 score (BLEU/chrF divided by 100), one bar per model."""
    rows = [r for r in comparison_rows(comp.scores) if r.key not in ("response_loss", "perplexity")]
    rows = rows or []
    labels = comp.labels
    if not rows or not labels:
        return ""
    left, bottom, top = 40, 60, 20
    plot_w, plot_h = width - left - 10, height - bottom - top
    group_w = plot_w / len(rows)
    bar_w = max(2.0, (group_w * 0.8) / len(labels))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 24}" '
             f'viewBox="0 0 {width} {height + 24}" role="img" aria-label="scores by model">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#64748b">{tick:g}</text>')
    for g, row in enumerate(rows):
        x0 = left + g * group_w + group_w * 0.1
        for m, label in enumerate(labels):
            value = row.values.get(label)
            if value is None:
                continue
            v = max(0.0, min(1.0, _scaled(row.key, value)))
            h = plot_h * v
            x = x0 + m * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[m % len(PALETTE)]}"><title>{html.escape(label)}: '
                         f'{format_value(row.key, value)}</title></rect>')
        name = row.name + (" /100" if row.key in ("bleu", "chrf") else "")
        parts.append(f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{top + plot_h + 16}" font-size="11" '
                     f'text-anchor="middle" fill="#0f172a">{html.escape(name)}</text>')
    x = left
    for m, label in enumerate(labels):
        parts.append(f'<rect x="{x}" y="{height + 6}" width="12" height="12" fill="{PALETTE[m % len(PALETTE)]}"/>'
                     f'<text x="{x + 16}" y="{height + 16}" font-size="12">{html.escape(label)}</text>')
        x += 24 + 8 * len(label)
    parts.append("</svg>")
    return "".join(parts)


def confusion_svg(matrix: dict, title: str, cell: int = 34) -> str:
    """A confusion matrix as an SVG heat map (rows: reference, columns: predicted)."""
    names = matrix["labels"]
    values = matrix["matrix"]
    n = len(names)
    pad = 110
    peak = max((max(r) for r in values if r), default=0) or 1
    size_w, size_h = pad + n * cell + 10, pad + n * cell + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size_w}" height="{size_h}" role="img" '
             f'aria-label="confusion matrix {html.escape(title)}">',
             f'<text x="{pad}" y="14" font-size="13" font-weight="600">{html.escape(title)}</text>']
    for j, name in enumerate(names):
        x = pad + j * cell + cell / 2
        parts.append(f'<text x="{x:.1f}" y="{pad - 6}" font-size="10" transform="rotate(-45 {x:.1f} {pad - 6})">'
                     f'{html.escape(name[:16])}</text>')
    for i, name in enumerate(names):
        y = pad + i * cell
        parts.append(f'<text x="{pad - 6}" y="{y + cell / 2 + 4:.1f}" font-size="10" text-anchor="end">'
                     f'{html.escape(name[:16])}</text>')
        for j in range(n):
            v = values[i][j] if i < len(values) and j < len(values[i]) else 0
            shade = v / peak
            color = f"rgba(22,163,74,{0.1 + 0.8 * shade:.2f})" if i == j else f"rgba(220,38,38,{0.08 + 0.8 * shade:.2f})"
            parts.append(f'<rect x="{pad + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                         f'fill="{color if v else "#f8fafc"}"/><text x="{pad + j * cell + cell / 2 - 1:.1f}" '
                         f'y="{y + cell / 2 + 4:.1f}" font-size="11" text-anchor="middle">{v}</text>')
    parts.append(f'<text x="{pad}" y="{size_h - 8}" font-size="10" fill="#64748b">rows: reference · '
                 'columns: predicted</text></svg>')
    return "".join(parts)


def _scores_table(comp: Comparison) -> str:
    rows = comparison_rows(comp.scores, comp.baseline)
    others = [label for label in comp.labels if label != comp.baseline]
    head = "".join(f"<th>{html.escape(label)}</th>" for label in comp.labels)
    head += "".join(f"<th>change: {html.escape(label)}</th>" for label in others)
    body = []
    for row in rows:
        cells = [f'<td class="l">{html.escape(row.name)}{"" if row.higher_is_better else " ↓"}</td>']
        for label in comp.labels:
            best = " best" if row.best == label else ""
            mark = " ★" if row.best == label else ""
            cells.append(f'<td class="v{best}">{format_value(row.key, row.values.get(label))}{mark}</td>')
        for label in others:
            delta = row.deltas.get(label)
            better = None if delta is None else is_improvement(row, delta)
            cls = "" if better is None else (" good" if better else " bad")
            cells.append(f'<td class="d{cls}">{format_delta(row.key, delta)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="scores"><tr><th class="l">metric</th>{head}</tr>{"".join(body)}</table>'
            '<p class="muted">★ best value · ↓ lower is better · change = model minus '
            f'{html.escape(comp.baseline or "")}, green when better, red when worse.</p>')


def _subject_table(comp: Comparison) -> str:
    subjects = sorted({k.split("/", 1)[1] for s in comp.scores.values() for k in s if k.startswith("subject/")})
    if not subjects:
        return ""
    head = "".join(f"<th>{html.escape(label)}</th>" for label in comp.labels)
    body = "".join(
        f'<tr><td class="l">{html.escape(s)}</td>' + "".join(
            f"<td>{format_value('accuracy', comp.scores[label].get(f'subject/{s}'))}</td>" for label in comp.labels)
        + "</tr>" for s in subjects)
    return f'<h2>Accuracy per subject</h2><table><tr><th class="l">subject</th>{head}</tr>{body}</table>'


def _examples_table(comp: Comparison, limit: int) -> str:
    key = comp.example_score_key()
    head = "".join(f"<th>{html.escape(label)}</th><th>{key}</th>" for label in comp.labels)
    body = []
    for row in comp.examples[:limit]:
        cells = [f"<td>{row.idx}</td>", f"<td>{html.escape(row.prompt)}</td>", f"<td>{html.escape(row.reference)}</td>"]
        for label in comp.labels:
            score = row.score(label, key)
            cells.append(f"<td>{html.escape(row.outputs.get(label, ''))}</td>")
            cells.append(f"<td>{'—' if score is None else f'{score:.2f}'}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="muted">First {limit} of {len(comp.examples)} examples; the CSV export has all.</p>'
            if len(comp.examples) > limit else "")
    return (f'<h2>Examples</h2>{more}<table class="ex"><tr><th>#</th><th>prompt</th><th>reference</th>{head}</tr>'
            f'{"".join(body)}</table>')


def render_html(comp: Comparison, example_limit: int = 500) -> str:
    """The whole report as one HTML string (no external assets)."""
    title = f"Evaluation report — {comp.name or comp.run_id}"
    matrices = [(label, comp.confusion(label)) for label in comp.labels]
    matrices = [(label, m) for label, m in matrices if m]
    conf = ""
    if matrices:
        conf = '<h2>Confusion matrices</h2><div class="grid">' + "".join(
            confusion_svg(m, label) for label, m in matrices) + "</div>"
    settings = comp.info.get("generation") or {}
    settings_text = ", ".join(f"{k} {v}" for k, v in settings.items()) if settings else ""
    n = len(comp.examples)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="muted">Run {html.escape(comp.run_id)} · {comp.status} · {n} examples · models: '
        f'{html.escape(", ".join(comp.labels))} · written {time.strftime("%Y-%m-%d %H:%M")}'
        f'{" · " + html.escape(settings_text) if settings_text else ""}</p>'
        f"<h2>Scores</h2>{_scores_table(comp)}{bar_chart_svg(comp)}{_method_table(comp)}"
        f"{_subject_table(comp)}{conf}{_examples_table(comp, example_limit)}"
        "</body></html>"
    )


def _method_table(comp: Comparison) -> str:
    notes = comp.method_notes()
    if not notes:
        return ""
    rows = "".join(f'<tr><th class="l">{html.escape(what)}</th><td class="l">{html.escape(how)}</td></tr>'
                   for what, how in notes)
    return f"<h2>How the scores were computed</h2><table>{rows}</table>"


def scores_csv(comp: Comparison) -> str:
    """``metric,model,value`` for every stored score."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["metric", "model", "value"])
    for label in comp.labels:
        for metric, value in comp.scores.get(label, {}).items():
            writer.writerow([metric, label, "" if value is None else value])
    return out.getvalue()


def examples_csv(comp: Comparison) -> str:
    """One row per example: idx, prompt, reference, then each model's output and per-example scores."""
    keys = sorted({k for row in comp.examples for s in row.scores.values() for k in s})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["idx", "prompt", "reference"] + [f"{label}: {col}" for label in comp.labels
                                                      for col in ["output", *keys]])
    for row in comp.examples:
        cells = [row.idx, row.prompt, row.reference]
        for label in comp.labels:
            cells.append(row.outputs.get(label, ""))
            cells.extend(row.scores.get(label, {}).get(k, "") for k in keys)
        writer.writerow(cells)
    return out.getvalue()


def to_json(comp: Comparison) -> dict:
    """Everything as one JSON-ready dict (scores, full metric details, examples)."""
    return {"run_id": comp.run_id, "kind": comp.kind, "name": comp.name, "status": comp.status,
            "models": comp.labels, "scores": comp.scores, "details": comp.details, "info": comp.info,
            "method": dict(comp.method_notes()),
            "examples": [{"idx": r.idx, "prompt": r.prompt, "reference": r.reference, "outputs": r.outputs,
                          "scores": r.scores} for r in comp.examples]}


def write_report(comp: Comparison, path: Path | str) -> list[Path]:
    """Write ``path`` (HTML) and, next to it, ``<stem>-scores.csv``, ``<stem>-examples.csv`` and
    ``<stem>.json``; returns the files written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files = {
        path: render_html(comp),
        path.with_name(f"{path.stem}-scores.csv"): scores_csv(comp),
        path.with_name(f"{path.stem}-examples.csv"): examples_csv(comp),
        path.with_name(f"{path.stem}.json"): json.dumps(to_json(comp), indent=2, ensure_ascii=False),
    }
    for target, text in files.items():
        target.write_text(text, encoding="utf-8", newline="")
    return list(files)
