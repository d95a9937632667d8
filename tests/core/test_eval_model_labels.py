"""The column of a model named with ``--model`` is labelled by what the user typed, and never takes a label
the run's columns (or another chosen model) already have."""

from __future__ import annotations

from desktop_ift.core.evaluation.eval_jobs import _add_chosen, chosen_model


def test_a_chosen_model_is_labelled_by_what_the_user_typed(tmp_path):
    folder = tmp_path / "models" / "gguf" / "llama-3.2-1b-0123456789ab"
    assert chosen_model("tiny", "demo") == {"label": "tiny", "model": "demo", "adapter": None}
    assert chosen_model("/downloads/Llama-3.2-1B.Q4_K_M.gguf", str(folder))["label"] == "Llama-3.2-1B.Q4_K_M.gguf"
    assert chosen_model(" ollama:llama3.2:1b", str(folder))["label"] == "ollama:llama3.2:1b"
    assert chosen_model("lmstudio:bartowski/x/x.Q4.gguf", str(folder))["label"] == "lmstudio:bartowski/x/x.Q4.gguf"
    assert chosen_model("smollm2", str(tmp_path / "SmolLM2-135M-Instruct"))["label"] == "SmolLM2-135M-Instruct"
    assert chosen_model("org/model", "org/model")["label"] == "org/model"  # a hub id in the cache


def test_chosen_labels_never_repeat_a_label_already_in_the_comparison():
    runs = [{"label": "base", "model": "m", "adapter": None}, {"label": "fine-tuned", "model": "m", "adapter": "a"}]
    chosen = [{"label": "base", "model": "x", "adapter": None}, {"label": "a.gguf", "model": "y", "adapter": None},
              {"label": "a.gguf", "model": "z", "adapter": None}]
    assert [m["label"] for m in _add_chosen(runs, chosen)] == ["base", "fine-tuned", "base (2)", "a.gguf", "a.gguf (2)"]
    assert _add_chosen(runs, None) == runs
