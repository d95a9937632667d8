"""The shipped ``evaluate`` metric module loads offline by path and equals the app's own scores."""

from __future__ import annotations

import pytest

from desktop_ift.core.evaluation.metrics import compute_text_metrics
from desktop_ift.core.paths import resources_dir

PREDICTIONS = ["The cat sat on the mat.", "Refunds take five days\nat most.", "", "running runners ran"]
REFERENCES = ["The cat is sitting on the mat.", "We refund within 5 days.\nAlways.", "Nothing.", "the runner runs"]


def test_text_scores_module_equals_our_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # a fresh cache: nothing may come from elsewhere
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(resources_dir() / "metrics" / "text_scores"))
    for use_stemmer in (False, True):
        theirs = metric.compute(predictions=PREDICTIONS, references=REFERENCES, use_stemmer=use_stemmer)
        ours = compute_text_metrics(PREDICTIONS, REFERENCES, use_stemmer=use_stemmer)
        assert set(theirs) == {"rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf"}
        for key, value in theirs.items():
            assert value == ours[key], (key, use_stemmer)
