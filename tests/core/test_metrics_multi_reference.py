"""Scores as papers report them: ROUGE stemmed (the default) and not, several references per example
(ROUGE best-of as rouge_score's score_multi, BLEU/chrF with every reference as sacrebleu), checked to 1e-6
against the reference libraries on generated outputs."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from desktop_ift.core.evaluation.metrics import (
    ROUGE_TYPES,
    compute_all,
    compute_text_metrics,
    describe_text_metrics,
    per_example_scores,
)

WORDS = ("the customer was charged twice for an order placed running late refunds processed within five "
         "business days agent replied apologised shipping delayed because warehouse closed cats dogs "
         "talked agreed meeting tomorrow morning").split()


def _generated(seed: int, n: int):
    """Outputs and 1-3 references per example, made from a random vocabulary (some with newlines)."""
    rng = random.Random(seed)

    def sentence() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 14))]
        if rng.random() < 0.3:
            words.insert(rng.randint(1, len(words) - 1), "\n")
        return " ".join(words).replace(" \n ", "\n")

    outputs = [sentence() for _ in range(n)]
    refs = [[sentence() for _ in range(rng.randint(1, 3))] for _ in range(n)]
    return outputs, refs


def _rouge_score_reference(outputs, refs, use_stemmer):
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer, split_summaries=False)
    per = [scorer.score_multi(r, o) for o, r in zip(outputs, refs)]
    return {t: float(np.mean([p[t].fmeasure for p in per])) for t in ROUGE_TYPES}


@pytest.mark.parametrize("use_stemmer", [True, False])
def test_several_references_equal_rouge_score_and_sacrebleu(use_stemmer):
    outputs, refs = _generated(1, 40)
    assert {len(r) for r in refs} == {1, 2, 3}
    ours = compute_text_metrics(outputs, refs, use_stemmer=use_stemmer)
    expected = _rouge_score_reference(outputs, refs, use_stemmer)
    for key in ROUGE_TYPES:
        assert ours[key] == pytest.approx(expected[key], abs=1e-6), key
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(3)]
    assert ours["bleu"] == pytest.approx(sacrebleu.corpus_bleu(outputs, streams).score, abs=1e-6)
    assert ours["chrf"] == pytest.approx(sacrebleu.corpus_chrf(outputs, streams).score, abs=1e-6)
    # several references score at least as well as the first alone
    first = compute_text_metrics(outputs, [r[0] for r in refs], use_stemmer=use_stemmer)
    assert ours["rouge1"] > first["rouge1"] and ours["bleu"] > first["bleu"]


def test_stemming_is_on_by_default_and_can_be_turned_off():
    outputs, refs = _generated(2, 30)
    single = [r[0] for r in refs]
    default = compute_text_metrics(outputs, single)
    for use_stemmer in (True, False):
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)
        expected = {t: float(np.mean([scorer.score(r, o)[t].fmeasure for o, r in zip(outputs, single)]))
                    for t in ROUGE_TYPES}
        ours = compute_text_metrics(outputs, single, use_stemmer=use_stemmer)
        for key in ROUGE_TYPES:
            assert ours[key] == pytest.approx(expected[key], abs=1e-6)
        if use_stemmer:
            assert default == ours
    assert compute_text_metrics(["cats running"], ["cat runs"])["rouge1"] == 1.0


def test_exact_match_accepts_any_reference_and_per_example_takes_the_best():
    scores = compute_text_metrics(["Billing.", "shipping"], [["refund", "billing"], ["returns"]])
    assert scores["exact_match"] == 0.5
    one = per_example_scores("the cat sat", ["a dog ran", "the cat sat"])
    assert one == {"rougeL": 1.0, "exact_match": 1.0}
    all_ = compute_all(["yes", "no", "yes", "no"], [["yes", "y"], ["no"], ["yes"], ["no", "n"]])
    assert all_["labels"] == ["no", "yes"] and all_["accuracy"] == 1.0  # classes from the first reference


def test_the_settings_are_described_for_the_report():
    stemmed, plain = describe_text_metrics(True), describe_text_metrics(False)
    assert stemmed["rouge_stemming"] == "Porter stemmer on" and plain["rouge_stemming"] == "no stemming"
    assert "newlines" in stemmed["rouge_sentence_splitting"]
    assert "mean of the per-example" in stemmed["rouge_aggregation"]
    assert "tok:13a" in stemmed["bleu"] and "a-z and 0-9" in stemmed["rouge_tokenizer"]
