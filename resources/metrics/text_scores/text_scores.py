"""ROUGE, BLEU and chrF for Hugging Face ``evaluate``, loadable offline by path.

    import evaluate
    metric = evaluate.load("/path/to/desktop_ift/resources/metrics/text_scores")
    metric.compute(predictions=[...], references=[...], use_stemmer=False)

The hub's ``rouge``/``sacrebleu``/``chrf`` scripts cannot be fetched offline; this module computes the
same numbers with the same reference libraries (rouge-score per example, F-measure, mean over examples,
rougeLsum splitting on newlines; sacrebleu corpus BLEU with 13a tokens and corpus chrF), so a script
written against ``evaluate`` gets exactly what the desktop_ift app shows. Written for desktop_ift.
"""

import datasets
import evaluate
import numpy as np
import sacrebleu
from rouge_score import rouge_scorer

_DESCRIPTION = "ROUGE-1/2/L/Lsum (rouge-score), BLEU and chrF (sacrebleu), one reference per prediction."
_KWARGS = """
Args:
    predictions: list of generated texts.
    references: list of reference texts, one per prediction.
    use_stemmer: Porter stemming in ROUGE (default False).
Returns:
    rouge1, rouge2, rougeL, rougeLsum (0..1), bleu and chrf (0..100).
"""
_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class TextScores(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, use_stemmer=False):
        scorer = rouge_scorer.RougeScorer(_TYPES, use_stemmer=use_stemmer, split_summaries=False)
        per_type = {t: [] for t in _TYPES}
        for ref, pred in zip(references, predictions):
            scores = scorer.score(ref, pred)
            for t in _TYPES:
                per_type[t].append(scores[t].fmeasure)
        result = {t: float(np.mean(v)) for t, v in per_type.items()}
        result["bleu"] = float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)
        result["chrf"] = float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score)
        return result
