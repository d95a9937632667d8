"""Offline text and classification metrics, computed by the reference libraries.

ROUGE comes from ``rouge_score`` exactly as Hugging Face ``evaluate``'s ``rouge`` module calls it
(``RougeScorer(...).score(reference, prediction)`` per example, F-measure, ``use_aggregator=False``
then the mean), with the Porter stemmer on by default as in most papers (``use_stemmer=False`` for
without). With several references per example, ROUGE takes the best reference per example and type
(``RougeScorer.score_multi``), BLEU and chrF score against all references (sacrebleu's several reference
streams, shorter lists padded with None) and exact match accepts any reference.
:func:`describe_text_metrics` says all this in words for the report. BLEU and chrF come from
``sacrebleu`` (corpus level, default 13a word tokenisation for BLEU). Accuracy/precision/recall/F1
come from ``sklearn.metrics``. Nothing here needs network
access or nltk data, and nothing here imports Qt.

Note that ``rouge_score``'s default tokenizer keeps only ``[a-z0-9]`` tokens, so ROUGE is zero for
text written entirely in non-Latin scripts; BLEU and chrF do not have that limitation.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

__all__ = [
    "NO_LABEL",
    "ROUGE_TYPES",
    "SCALAR_METRICS",
    "WORKER_METRICS",
    "compute_all",
    "compute_classification_metrics",
    "compute_text_metrics",
    "describe_text_metrics",
    "detect_label_set",
    "match_label",
    "normalize_answer",
    "per_example_scores",
]

ROUGE_TYPES: tuple[str, ...] = ("rouge1", "rouge2", "rougeL", "rougeLsum")

#: Column/row name in the confusion matrix for predictions that match no label. It cannot clash
#: with a real label: normalization strips the brackets, so "(none)" as a label becomes "none".
NO_LABEL = "(none)"

#: (key, display name, higher_is_better) for the side-by-side table, in display order.
SCALAR_METRICS: list[tuple[str, str, bool]] = [
    ("rougeL", "ROUGE-L", True),
    ("rouge1", "ROUGE-1", True),
    ("rouge2", "ROUGE-2", True),
    ("rougeLsum", "ROUGE-Lsum", True),
    ("bleu", "BLEU", True),
    ("chrf", "chrF", True),
    ("exact_match", "Exact match", True),
    ("accuracy", "Accuracy", True),
    ("precision_macro", "Precision (macro)", True),
    ("recall_macro", "Recall (macro)", True),
    ("f1_macro", "F1 (macro)", True),
    ("response_loss", "Loss (answer tokens)", False),
    ("text_loss", "Loss (test documents)", False),
    ("perplexity", "Perplexity", False),
    ("answers_cut", "Answers cut at the length limit", False),
    ("forgotten", "Questions forgotten", False),
    ("learned", "Questions learned", True),
]

#: Scores the evaluation/benchmark workers add to :func:`compute_all`'s (the teacher-forced loss, and the
#: forgetting check's counts of questions that changed against the first model).
WORKER_METRICS = frozenset({"response_loss", "text_loss", "perplexity", "forgotten", "learned", "answers_cut"})
COUNT_METRICS = frozenset({"forgotten", "learned", "answers_cut"})

# Characters stripped from both ends of an answer: whitespace, quotes, brackets and sentence
# punctuation. Symbols that carry meaning at the edge of short answers (+ - # % $ * / etc.)
# are kept, so "C++", "-5" and "50%" survive normalisation.
_EDGE_CHARS = string.whitespace + "\"'`“”‘’„«»‹›()[]{}<>.,;:!?…"
_WHITESPACE_RUN = re.compile(r"\s+")

# Label detection: a column is treated as categorical only if its labels are short.
_MAX_LABEL_WORDS = 6


def normalize_answer(text: str) -> str:
    """Return ``text`` lowercased, with internal whitespace collapsed to single spaces and
    surrounding whitespace, quotes, brackets and sentence punctuation (including a trailing
    period) stripped. Punctuation inside the answer is kept ("3.5" stays "3.5")."""
    lowered = _WHITESPACE_RUN.sub(" ", str(text).lower())
    return lowered.strip(_EDGE_CHARS)


def _check_pair(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) == 0:
        raise ValueError(
            "No predictions to score: the prediction list is empty. "
            "Generate outputs for at least one example before computing metrics."
        )
    if len(predictions) != len(references):
        raise ValueError(
            f"Got {len(predictions)} predictions but {len(references)} references; "
            "each prediction needs one entry (a reference, or a list of several references)."
        )
    for kind, items in (("prediction", predictions), ("reference", references)):
        for i, item in enumerate(items):
            if kind == "reference" and isinstance(item, (list, tuple)):
                if not item or not all(isinstance(r, str) for r in item):
                    raise TypeError(f"reference {i} must be a non-empty list of str (several references) or a str.")
                continue
            if not isinstance(item, str):
                raise TypeError(
                    f"{kind} {i} is {type(item).__name__}, not str; convert missing values "
                    "to empty strings before computing metrics."
                )


@lru_cache(maxsize=8)
def _scorer(rouge_types: tuple[str, ...], use_stemmer: bool) -> rouge_scorer.RougeScorer:
    # split_summaries=False: rougeLsum splits on newlines only (no nltk data needed), which is
    # what evaluate's rouge module does when it is not given pre-split text.
    return rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer, split_summaries=False)


def _reference_lists(references: Sequence) -> list[list[str]]:
    return [list(r) if isinstance(r, (list, tuple)) else [r] for r in references]


def compute_text_metrics(
    predictions: list[str], references: list[str] | list[list[str]], use_stemmer: bool = True
) -> dict[str, float]:
    """Score generated text against the reference(s) of each example.

    ``references`` holds one string per example, or one list of strings per example (several references:
    a list of one is the same as the string). Returns ``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum``
    (mean per-example F-measure in 0..1, identical to ``evaluate``'s rouge with ``use_aggregator=False``
    followed by the mean; with several references the best one per example and type, as
    ``RougeScorer.score_multi``; rougeLsum treats newlines as sentence boundaries), ``bleu`` and ``chrf``
    (sacrebleu corpus scores against every reference, 0..100, BLEU on 13a word tokens) and
    ``exact_match`` (fraction of examples whose :func:`normalize_answer` form equals that of a reference,
    0..1). ROUGE uses the Porter stemmer unless ``use_stemmer`` is False.

    Raises ValueError for an empty prediction list or a length mismatch.
    """
    _check_pair(predictions, references)
    ref_lists = _reference_lists(references)
    scorer = _scorer(ROUGE_TYPES, bool(use_stemmer))
    per_type: dict[str, list[float]] = {t: [] for t in ROUGE_TYPES}
    for refs, pred in zip(ref_lists, predictions):
        scores = scorer.score(refs[0], pred) if len(refs) == 1 else scorer.score_multi(refs, pred)
        for rouge_type in ROUGE_TYPES:
            per_type[rouge_type].append(scores[rouge_type].fmeasure)
    result = {t: float(np.mean(v)) for t, v in per_type.items()}
    width = max(len(refs) for refs in ref_lists)
    # sacrebleu wants one stream per reference position; a missing reference is None (ignored)
    streams = [[refs[k] if k < len(refs) else None for refs in ref_lists] for k in range(width)]
    result["bleu"] = float(sacrebleu.corpus_bleu(list(predictions), streams).score)
    result["chrf"] = float(sacrebleu.corpus_chrf(list(predictions), streams).score)
    result["exact_match"] = float(
        np.mean([any(normalize_answer(p) == normalize_answer(r) for r in refs)
                 for p, refs in zip(predictions, ref_lists)])
    )
    return result


def describe_text_metrics(use_stemmer: bool = True) -> dict[str, str]:
    """How the text scores are computed, in words, for the report and the page (what a reader needs to
    compare them with published numbers)."""
    return {
        "rouge_library": "rouge_score (Google Research), F-measure",
        "rouge_tokenizer": "rouge_score's default: lowercase, every character outside a-z and 0-9 is a "
                           "separator (text in other scripts scores 0)",
        "rouge_stemming": "Porter stemmer on" if use_stemmer else "no stemming",
        "rouge_sentence_splitting": "ROUGE-Lsum splits sentences at newlines only (no nltk sentence splitter)",
        "rouge_aggregation": "mean of the per-example scores (no bootstrap); with several references the best "
                             "reference per example and ROUGE type",
        "bleu": f"sacrebleu {sacrebleu.__version__} corpus BLEU on every reference (tok:13a, case-sensitive, "
                "smooth:exp)",
        "chrf": f"sacrebleu {sacrebleu.__version__} corpus chrF on every reference (char order 6, beta 2)",
        "exact_match": "after lowercasing and stripping spaces, quotes and end punctuation; any reference",
    }


def detect_label_set(references: list[str], max_labels: int = 20) -> list[str] | None:
    """Return the sorted normalized labels if ``references`` look like a categorical column,
    else None.

    Rule: after :func:`normalize_answer`, the column must have between 2 and ``max_labels``
    distinct values, at most half as many distinct values as rows (each label occurs twice on
    average, so a handful of free-text answers is not mistaken for classes), no empty value,
    and every value must be short (at most 6 words). A single distinct value gives None.
    """
    normalized = [normalize_answer(r) for r in references]
    distinct = set(normalized)
    if len(distinct) < 2 or len(distinct) > max_labels:
        return None
    if len(distinct) > len(normalized) / 2:
        return None
    if any(not label or len(label.split()) > _MAX_LABEL_WORDS for label in distinct):
        return None
    return sorted(distinct)


def _normalize_labels(labels: Sequence[str]) -> list[str]:
    """Normalize and de-duplicate ``labels`` keeping their order; reject unusable lists."""
    out: list[str] = []
    for label in labels:
        norm = normalize_answer(label)
        if not norm:
            raise ValueError(f"Label {label!r} is empty after normalization; remove it from the label list.")
        if norm not in out:
            out.append(norm)
    if not out:
        raise ValueError("The label list is empty; give at least one label or use labels=None.")
    return out


def match_label(prediction: str, labels: list[str]) -> str | None:
    """Return the label a free-text ``prediction`` means, or None.

    First the normalized prediction is compared with each normalized label; failing that, the
    longest label that appears as a whole word at the start of the normalized prediction wins
    ("billing - the customer was charged" -> "billing", but "billings" matches nothing).
    The returned value is the label as given in ``labels``.
    """
    pred = normalize_answer(prediction)
    normalized = [(normalize_answer(label), label) for label in labels]
    for norm, label in normalized:
        if norm and pred == norm:
            return label
    best: tuple[int, str] | None = None
    for norm, label in normalized:
        if norm and re.match(re.escape(norm) + r"(?!\w)", pred):
            if best is None or len(norm) > best[0]:
                best = (len(norm), label)
    return None if best is None else best[1]


def compute_classification_metrics(
    predictions: list[str], references: list[str], labels: list[str]
) -> dict:
    """Treat outputs as class labels and score them with sklearn.

    Predictions are mapped with :func:`match_label` (unmatched -> ``"(none)"``, always counted
    wrong); references must each equal one of ``labels`` after normalization (ValueError
    otherwise). Labels are reported in normalized form. Returns ``accuracy``,
    ``precision_macro``, ``recall_macro``, ``f1_macro`` (macro over ``labels`` only,
    zero_division=0), ``per_class`` ({label: {precision, recall, f1, support}}) and
    ``confusion_matrix`` ({"labels": labels + ["(none)"], "matrix": rows = reference,
    columns = predicted}).
    """
    _check_pair(predictions, references)
    label_list = _normalize_labels(labels)
    label_set = set(label_list)
    y_true = [normalize_answer(r) for r in references]
    unknown = sorted({r for r in y_true if r not in label_set})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise ValueError(
            f"{len(unknown)} reference value(s) are not in the label list ({shown}); "
            "add them to the labels or evaluate this column as free text (labels=None)."
        )
    y_pred = [match_label(p, label_list) or NO_LABEL for p in predictions]

    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=label_list, average="macro", zero_division=0
    )
    p_cls, r_cls, f_cls, support = precision_recall_fscore_support(
        y_true, y_pred, labels=label_list, average=None, zero_division=0
    )
    matrix_labels = label_list + [NO_LABEL]
    matrix = confusion_matrix(y_true, y_pred, labels=matrix_labels)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "per_class": {
            label: {
                "precision": float(p_cls[i]),
                "recall": float(r_cls[i]),
                "f1": float(f_cls[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(label_list)
        },
        "confusion_matrix": {"labels": matrix_labels, "matrix": matrix.astype(int).tolist()},
    }


def compute_all(
    predictions: list[str],
    references: list[str],
    labels: list[str] | None | str = "auto",
    use_stemmer: bool = True,
) -> dict:
    """Compute every applicable metric for one model's outputs.

    Always includes the text metrics of :func:`compute_text_metrics`, ``n_examples`` and
    ``labels``. ``labels="auto"`` detects a label set with :func:`detect_label_set`; a list uses
    it; None skips classification. When classification runs, the flat keys ``accuracy``,
    ``precision_macro``, ``recall_macro``, ``f1_macro`` and the nested ``per_class`` and
    ``confusion_matrix`` are added; ``labels`` holds the normalized label list (else None).
    """
    result: dict = dict(compute_text_metrics(predictions, references, use_stemmer=use_stemmer))
    result["n_examples"] = len(predictions)
    result["use_stemmer"] = bool(use_stemmer)
    references = [r[0] if isinstance(r, (list, tuple)) else r for r in references]  # classes: the first
    if isinstance(labels, str):
        if labels != "auto":
            raise ValueError(f"labels must be 'auto', a list of labels or None, not {labels!r}.")
        label_list = detect_label_set(references)
    elif labels is None:
        label_list = None
    else:
        label_list = _normalize_labels(labels)
    result["labels"] = label_list
    if label_list is not None:
        result.update(compute_classification_metrics(predictions, references, label_list))
    return result


def per_example_scores(
    prediction: str, reference: str | list[str], labels: list[str] | None = None, use_stemmer: bool = True
) -> dict[str, float]:
    """Score a single example for the per-row table: ``rougeL`` (F-measure; the best reference when
    several are given), ``exact_match`` (1.0 or 0.0, any reference) and, when ``labels`` are given,
    ``correct`` (1.0 if the prediction maps via :func:`match_label` to the same label as the (first)
    reference, else 0.0)."""
    _check_pair([prediction], [reference])
    refs = list(reference) if isinstance(reference, (list, tuple)) else [reference]
    scorer = _scorer(("rougeL",), bool(use_stemmer))
    rouge = scorer.score(refs[0], prediction) if len(refs) == 1 else scorer.score_multi(refs, prediction)
    scores = {
        "rougeL": float(rouge["rougeL"].fmeasure),
        "exact_match": float(any(normalize_answer(prediction) == normalize_answer(r) for r in refs)),
    }
    if labels is not None:
        label_list = _normalize_labels(labels)
        predicted = match_label(prediction, label_list)
        scores["correct"] = float(predicted is not None and predicted == normalize_answer(refs[0]))
    return scores
