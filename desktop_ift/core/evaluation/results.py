"""Reading a finished evaluation or benchmark run back from the store, in one shape for every consumer.

The GUI's side-by-side view, the HTML report and the CSV/JSON exports all start from
:func:`load_comparison`, so they show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_ift.core import events as ev

# The metric functions are imported where they are used: importing metrics loads scikit-learn and
# sacrebleu, which the GUI should not pay for at start-up.


@dataclass
class ExampleRow:
    """One test example with every model's answer and per-example scores."""

    idx: int
    prompt: str
    reference: str
    outputs: dict[str, str] = field(default_factory=dict)
    scores: dict[str, dict] = field(default_factory=dict)

    def score(self, label: str, key: str) -> float | None:
        value = self.scores.get(label, {}).get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def category(self) -> str:
        """The class of the example (its subject for a benchmark, else its normalized reference)."""
        from desktop_ift.core.evaluation.metrics import normalize_answer  # lazy: see the note at the top

        for scores in self.scores.values():
            if isinstance(scores.get("subject"), str):
                return scores["subject"]
        return normalize_answer(self.reference)


@dataclass
class Comparison:
    """An evaluation run as a whole: scores per model, full metric details, and the examples."""

    run_id: str
    kind: str  # "evaluate" or "benchmark"
    name: str
    status: str
    labels: list[str]
    scores: dict[str, dict[str, float | None]]
    details: dict[str, dict]
    examples: list[ExampleRow]
    info: dict = field(default_factory=dict)

    @property
    def baseline(self) -> str | None:
        return self.labels[0] if self.labels else None

    def example_score_key(self) -> str:
        """The per-example score the gain/loss sort uses: ``correct`` when the examples have it, the
        document loss for continued pre-training, else ROUGE-L."""
        for row in self.examples:
            for scores in row.scores.values():
                if "correct" in scores:
                    return "correct"
                if "text_loss" in scores:
                    return "text_loss"
        return "rougeL"

    def gain(self, row: ExampleRow, label: str) -> float | None:
        """How much better ``label`` does than the baseline on ``row`` (its score minus the baseline's; for a
        loss, the baseline's minus its own); None when either is missing."""
        key = self.example_score_key()
        base = row.score(self.baseline, key) if self.baseline else None
        mine = row.score(label, key)
        if base is None or mine is None:
            return None
        return base - mine if key == "text_loss" else mine - base

    def label_set(self) -> list[str] | None:
        """The label set accuracy/F1 were computed over (None: free text)."""
        for label in self.labels:
            found = self.details.get(label, {}).get("labels")
            if found:
                return list(found)
        return None

    def method_notes(self) -> list[tuple[str, str]]:
        """``(what, how)`` lines saying how this evaluation measured: the data, the longest answer and where
        it came from, the label set and its source, and the ROUGE/BLEU/chrF settings -- what a reader needs
        to compare the scores with published ones. The page and the report show the same lines."""
        info = self.info
        notes: list[tuple[str, str]] = []
        if self.kind != "evaluate":
            return notes
        split = info.get("split") or "test"
        fmt = info.get("data_format") or "instruction"
        what = {"chat": "conversations", "text": "documents"}.get(fmt, "examples")
        notes.append(("Data", f"{info.get('examples', len(self.examples))} {split} {what} ({fmt} format)"))
        test_set = info.get("test_set") or {}
        if test_set.get("dataset_id") is not None:
            notes.append(("Test set", f"the dataset {test_set.get('name')} v{test_set.get('version')} "
                                      f"({test_set.get('rows')} rows), laid out with the run's template"))
        if test_set.get("reference_columns"):
            notes.append(("References", f"the response plus the columns {', '.join(test_set['reference_columns'])}; "
                                        f"{test_set.get('with_several', 0)} examples have several"))
        if info.get("measured"):
            notes.append(("Measured", str(info["measured"])))
        length = info.get("answer_length")
        if isinstance(length, dict) and length.get("text"):
            notes.append(("Longest answer", str(length["text"])))
        cut = {label: self.scores.get(label, {}).get("answers_cut") for label in self.labels}
        if any(v for v in cut.values()):
            notes.append(("Answers cut", ", ".join(f"{label}: {v:.0f}" for label, v in cut.items() if v is not None)
                          + " reached the limit before their end"))
        if fmt != "text":
            labels = self.label_set()
            source = info.get("labels_source") or "detected from the test references"
            notes.append(("Label set", (f"{', '.join(labels)} ({source})" if labels else
                                        f"none: scored as free text ({source})")))
        settings = info.get("metric_settings") or {}
        for key, title in (("rouge_tokenizer", "ROUGE tokenizer"), ("rouge_stemming", "ROUGE stemming"),
                           ("rouge_sentence_splitting", "ROUGE-Lsum sentences"),
                           ("rouge_aggregation", "ROUGE aggregation"), ("bleu", "BLEU"), ("chrf", "chrF"),
                           ("exact_match", "Exact match")):
            if settings.get(key):
                notes.append((title, str(settings[key])))
        return notes

    def confusion(self, label: str) -> dict | None:
        """``{"labels": [...], "matrix": [[...]]}`` of a model (rows = reference, columns = predicted)."""
        return self.details.get(label, {}).get("confusion_matrix")

    def categories(self) -> list[str]:
        return sorted({row.category() for row in self.examples})


def load_comparison(store, run_id: str) -> Comparison:
    """Everything an evaluation/benchmark run stored, as a :class:`Comparison` (StoreError if unknown)."""
    run = store.get_run(run_id)
    details: dict[str, dict] = {}
    info: dict = {}
    for event in store.events(run_id):
        if isinstance(event, ev.Eval) and event.model_label:
            details[event.model_label] = event.metrics
        elif isinstance(event, ev.Started):
            info = dict(event.info or {})
    scores = store.eval_results(run_id)
    labels = list(dict.fromkeys([*details, *scores]))
    by_idx: dict[int, ExampleRow] = {}
    for rec in store.eval_examples(run_id):
        row = by_idx.setdefault(rec["idx"], ExampleRow(rec["idx"], rec["prompt"], rec["reference"]))
        row.outputs[rec["model_label"]] = rec["output"]
        row.scores[rec["model_label"]] = rec["scores"]
    examples = [by_idx[i] for i in sorted(by_idx)]
    return Comparison(run.id, run.kind, run.name, run.status, labels, scores, details, examples, info)


def predicted_class(output: str, labels: list[str] | None) -> str:
    """The class an answer was mapped to (``(none)`` when it matches no label)."""
    from desktop_ift.core.evaluation.metrics import NO_LABEL, match_label  # lazy: see the note at the top

    if not labels:
        return ""
    return match_label(output, labels) or NO_LABEL
