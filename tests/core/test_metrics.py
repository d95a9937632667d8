"""Metrics must equal the reference libraries (rouge_score, sacrebleu, sklearn) on the same inputs."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from desktop_ift.core.evaluation.metrics import (
    SCALAR_METRICS,
    WORKER_METRICS,
    compute_all,
    compute_classification_metrics,
    compute_text_metrics,
    detect_label_set,
    match_label,
    normalize_answer,
    per_example_scores,
)

PREDICTIONS = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dogs",
    "Refunds are processed within five business days.",
    "The invoice was paid twice\nso we issued a refund.",
    "",
    "running runners ran quickly",
]
REFERENCES = [
    "The cat is sitting on the mat.",
    "The quick brown fox jumped over the lazy dog.",
    "We process refunds in 5 business days.",
    "The customer paid the invoice twice.\nA refund was issued.",
    "Nothing to add.",
    "the runner runs quick",
]

LABEL_REFS = ["billing", "shipping", "billing", "returns", "account", "technical",
              "shipping", "returns", "account", "technical", "billing", "shipping"]


def _reference_rouge(predictions, references, use_stemmer):
    """What evaluate's rouge module computes with use_aggregator=False, then the mean."""
    scorer = rouge_scorer.RougeScorer(
        ["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=use_stemmer
    )
    scores = [scorer.score(ref, pred) for ref, pred in zip(references, predictions)]
    return {k: float(np.mean([s[k].fmeasure for s in scores])) for k in scores[0]}


# ---------------------------------------------------------------- normalize_answer


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Billing.", "billing"),
        ("  billing  ", "billing"),
        ('"Billing"', "billing"),
        ("“Shipping”!", "shipping"),
        ("New   York\n City", "new york city"),
        ("3.5", "3.5"),
        ("C++", "c++"),
        ("-5", "-5"),
        ("(positive)", "positive"),
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


# ---------------------------------------------------------------- text metrics


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score(use_stemmer):
    ours = compute_text_metrics(PREDICTIONS, REFERENCES, use_stemmer=use_stemmer)
    expected = _reference_rouge(PREDICTIONS, REFERENCES, use_stemmer)
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert ours[key] == pytest.approx(expected[key], abs=1e-12), key
        assert 0.0 <= ours[key] <= 1.0


def test_stemmer_changes_rouge():
    # No token matches until the Porter stemmer maps cats->cat and running/runs->run.
    plain = compute_text_metrics(["cats running"], ["cat runs"], use_stemmer=False)["rouge1"]
    stemmed = compute_text_metrics(["cats running"], ["cat runs"])["rouge1"]  # stemming is the default
    assert plain == 0.0
    assert stemmed == pytest.approx(1.0)


def test_rouge_lsum_uses_newlines_as_sentence_breaks():
    # Same tokens, different sentence order: rougeL (one LCS) penalises it, rougeLsum (union LCS
    # per reference sentence) does not.
    pred = "the refund was issued\nthe customer paid twice"
    ref = "the customer paid twice\nthe refund was issued"
    scores = compute_text_metrics([pred], [ref])
    assert scores["rougeLsum"] == pytest.approx(1.0)
    assert scores["rougeL"] < 0.9


def test_bleu_and_chrf_equal_sacrebleu():
    ours = compute_text_metrics(PREDICTIONS, REFERENCES)
    assert ours["bleu"] == sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score
    assert ours["chrf"] == sacrebleu.corpus_chrf(PREDICTIONS, [REFERENCES]).score
    assert 0.0 < ours["bleu"] < 100.0
    assert 0.0 < ours["chrf"] < 100.0


def test_bleu_is_word_based():
    reference = "the customer was charged twice for the same order last month"
    # Swap the last two letters of every word: same characters, almost all character
    # n-grams kept, but not one word right.
    garbled = " ".join(w[:-2] + w[-1] + w[-2] if len(w) > 2 else w for w in reference.split())
    assert sorted(garbled) == sorted(reference)
    assert compute_text_metrics([reference], [reference])["bleu"] == pytest.approx(100.0)
    ours = compute_text_metrics([garbled], [reference])["bleu"]
    char_level = sacrebleu.corpus_bleu([garbled], [[reference]], tokenize="char").score
    assert ours < 1.0
    assert char_level > 20.0  # what a character-level BLEU would have reported

    rng = random.Random(0)
    chars = list(reference)
    rng.shuffle(chars)
    assert compute_text_metrics(["".join(chars)], [reference])["bleu"] < 1.0


def test_exact_match_uses_normalization():
    scores = compute_text_metrics(["Billing.", "shipping", "returns"], [" billing", "Shipping!", "account"])
    assert scores["exact_match"] == pytest.approx(2 / 3)


def test_identical_texts_score_perfectly():
    scores = compute_text_metrics(REFERENCES[:4], REFERENCES[:4])
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match"):
        assert scores[key] == pytest.approx(1.0), key
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)


def test_empty_predictions_raise():
    with pytest.raises(ValueError, match="empty"):
        compute_text_metrics([], [])
    with pytest.raises(ValueError, match="empty"):
        compute_all([], [])


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="2 predictions but 3 references"):
        compute_text_metrics(["a", "b"], ["a", "b", "c"])
    with pytest.raises(ValueError):
        compute_classification_metrics(["a"], ["a", "b"], ["a", "b"])


def test_non_string_input_raises():
    with pytest.raises(TypeError, match="reference 1"):
        compute_text_metrics(["a", "b"], ["a", None])


# ---------------------------------------------------------------- labels


def test_detect_label_set_for_categorical_column():
    assert detect_label_set(LABEL_REFS) == ["account", "billing", "returns", "shipping", "technical"]
    # Normalization merges spelling variants.
    assert detect_label_set(["Yes.", "no", "yes", " No "]) == ["no", "yes"]


def test_detect_label_set_rejects_free_text_and_constants():
    assert detect_label_set(REFERENCES) is None
    assert detect_label_set(["same"] * 10) is None
    # Two different answers in two rows are not a label set.
    assert detect_label_set(["Paris", "Berlin"]) is None
    # Repeated long sentences are not labels.
    long_refs = ["the customer asked about a refund for a broken item",
                 "the customer wants to change the delivery address today"] * 5
    assert detect_label_set(long_refs) is None


def test_detect_label_set_respects_max_labels():
    refs = [f"class {i}" for i in range(6)] * 4
    assert detect_label_set(refs, max_labels=6) == sorted(f"class {i}" for i in range(6))
    assert detect_label_set(refs, max_labels=5) is None


@pytest.mark.parametrize(
    "prediction", ["Billing.", " billing ", "billing - the customer was charged", "BILLING"]
)
def test_match_label_finds_billing(prediction):
    assert match_label(prediction, ["account", "billing", "shipping"]) == "billing"


@pytest.mark.parametrize(
    "prediction", ["I am not sure what this is about", "billings", "the billing team", ""]
)
def test_match_label_returns_none_for_unrelated_text(prediction):
    assert match_label(prediction, ["account", "billing", "shipping"]) is None


def test_match_label_prefers_longest_prefix_label():
    assert match_label("very positive, loved it", ["positive", "very positive"]) == "very positive"
    assert match_label("positive overall", ["positive", "very positive"]) == "positive"


# ---------------------------------------------------------------- classification


def test_classification_all_correct():
    refs = ["billing", "shipping", "returns", "billing"]
    result = compute_classification_metrics(["Billing.", "shipping", "Returns", "billing"], refs,
                                            ["billing", "returns", "shipping"])
    assert result["accuracy"] == 1.0
    assert result["f1_macro"] == 1.0
    assert result["precision_macro"] == 1.0
    assert result["recall_macro"] == 1.0


def test_classification_one_wrong_out_of_four():
    labels = ["billing", "returns", "shipping"]
    refs = ["billing", "shipping", "returns", "billing"]
    preds = ["billing", "shipping", "returns", "shipping"]
    result = compute_classification_metrics(preds, refs, labels)
    assert result["accuracy"] == 0.75
    assert result["per_class"]["billing"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                                              "support": 2}
    assert result["per_class"]["shipping"]["precision"] == 0.5
    cm = result["confusion_matrix"]
    assert cm["labels"] == ["billing", "returns", "shipping", "(none)"]
    # rows = reference, cols = predicted: one billing predicted as shipping.
    assert cm["matrix"] == [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_classification_equals_sklearn_with_unmatched_predictions():
    labels = ["account", "billing", "returns", "shipping", "technical"]
    preds = ["billing", "Shipping - late parcel", "no idea", "returns.", "account", "billing",
             "shipping", "returns", "technical issue", "technical", "", "shipping"]
    # What match_label should make of them ("technical issue" -> prefix rule -> "technical").
    mapped = ["billing", "shipping", "(none)", "returns", "account", "billing",
              "shipping", "returns", "technical", "technical", "(none)", "shipping"]
    assert [match_label(p, labels) or "(none)" for p in preds] == mapped
    result = compute_classification_metrics(preds, LABEL_REFS, labels)

    p, r, f, _ = precision_recall_fscore_support(LABEL_REFS, mapped, labels=labels, average="macro",
                                                 zero_division=0)
    assert result["accuracy"] == accuracy_score(LABEL_REFS, mapped)
    assert result["precision_macro"] == pytest.approx(p)
    assert result["recall_macro"] == pytest.approx(r)
    assert result["f1_macro"] == pytest.approx(f)
    pc, rc, fc, sc = precision_recall_fscore_support(LABEL_REFS, mapped, labels=labels, average=None,
                                                     zero_division=0)
    for i, label in enumerate(labels):
        assert result["per_class"][label] == {
            "precision": pytest.approx(pc[i]), "recall": pytest.approx(rc[i]),
            "f1": pytest.approx(fc[i]), "support": int(sc[i]),
        }
    expected_cm = confusion_matrix(LABEL_REFS, mapped, labels=labels + ["(none)"]).tolist()
    assert result["confusion_matrix"]["matrix"] == expected_cm
    # Unmatched predictions land in the "(none)" column and count as wrong.
    assert sum(row[-1] for row in expected_cm) == 2
    # Hand count: rows 3, 6, 9 and 11 are wrong.
    assert result["accuracy"] == pytest.approx(8 / 12)


def test_classification_rejects_reference_outside_labels():
    with pytest.raises(ValueError, match="not in the label list"):
        compute_classification_metrics(["billing", "shipping"], ["billing", "refund"], ["billing", "shipping"])


# ---------------------------------------------------------------- compute_all / per example


def test_compute_all_auto_detects_labels():
    preds = list(LABEL_REFS)
    preds[0] = "shipping"
    result = compute_all(preds, LABEL_REFS)
    assert result["n_examples"] == 12
    assert result["labels"] == ["account", "billing", "returns", "shipping", "technical"]
    assert result["accuracy"] == pytest.approx(11 / 12)
    assert result["exact_match"] == pytest.approx(11 / 12)
    assert "per_class" in result and "confusion_matrix" in result
    for key, _name, _higher in SCALAR_METRICS:
        if key not in WORKER_METRICS:  # the workers add these (teacher-forced loss, forgetting counts)
            assert isinstance(result[key], float), key


def test_compute_all_free_text_skips_classification():
    result = compute_all(PREDICTIONS, REFERENCES)
    assert result["labels"] is None
    assert "accuracy" not in result and "per_class" not in result
    assert result["rougeL"] == compute_text_metrics(PREDICTIONS, REFERENCES)["rougeL"]


def test_compute_all_explicit_labels_and_none():
    refs = ["yes", "no"]
    result = compute_all(["Yes, definitely", "no"], refs, labels=["Yes", "No"])
    assert result["labels"] == ["yes", "no"]
    assert result["accuracy"] == 1.0
    assert result["exact_match"] == 0.5
    assert "accuracy" not in compute_all(["yes", "no", "yes", "no"], ["yes", "no", "yes", "no"], labels=None)


def test_compute_all_passes_stemmer():
    assert compute_all(["cats running"], ["cat runs"], labels=None, use_stemmer=True)["rouge1"] == 1.0


def test_per_example_scores():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)  # the default, as in most papers
    pred, ref = PREDICTIONS[1], REFERENCES[1]
    scores = per_example_scores(pred, ref)
    assert scores == {"rougeL": scorer.score(ref, pred)["rougeL"].fmeasure, "exact_match": 0.0}
    labelled = per_example_scores("Billing - charged twice", "billing", labels=["billing", "shipping"])
    assert labelled["correct"] == 1.0
    assert labelled["exact_match"] == 0.0
    assert per_example_scores("no clue", "billing", labels=["billing", "shipping"])["correct"] == 0.0


def test_scalar_metrics_table_order():
    assert [k for k, _, _ in SCALAR_METRICS] == [
        "rougeL", "rouge1", "rouge2", "rougeLsum", "bleu", "chrf", "exact_match",
        "accuracy", "precision_macro", "recall_macro", "f1_macro", "response_loss", "text_loss", "perplexity",
        "answers_cut", "forgotten", "learned",
    ]
    lower_is_better = {key for key, _, higher in SCALAR_METRICS if not higher}
    assert lower_is_better == {"response_loss", "text_loss", "perplexity", "answers_cut", "forgotten"}
