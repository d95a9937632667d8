"""Train page: a folder that is not a model is refused with a message that says what is missing."""

from __future__ import annotations

import json


def test_non_model_folder_is_rejected_clearly(window, tmp_path):
    page = window.train_page
    folder = tmp_path / "holiday-photos"
    folder.mkdir()
    assert not page.set_model_folder(str(folder))
    assert "config.json" in page.model_banner.message
    assert not page.start_button.isEnabled()
    assert "model folder" in page.start_button.toolTip()
    page.demo_radio.setChecked(True)
    assert page.model_banner.isHidden()
    assert page.start_button.isEnabled()


def test_model_folder_with_config_is_accepted(window, tmp_path):
    page = window.train_page
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}), encoding="utf-8")
    assert page.set_model_folder(str(folder))
    assert page.start_button.isEnabled()


def test_form_is_generated_from_config_metadata(window):
    from desktop_ift.core.demo import DEMO_TRAIN_CONFIG
    from desktop_ift.core.training.config import TrainConfig

    page = window.train_page
    help_text = TrainConfig.__dataclass_fields__["learning_rate"].metadata["help"]
    assert page.form.widgets["learning_rate"].toolTip() == help_text
    config = page.train_config()
    assert config.epochs == DEMO_TRAIN_CONFIG.epochs
    assert config.learning_rate == DEMO_TRAIN_CONFIG.learning_rate
    page.set_method("lora")
    assert page.form.widgets["lora_r"].isEnabled()
    page.set_method("full")
    assert not page.form.widgets["lora_r"].isEnabled()
    assert "LoRA" in page.form.widgets["lora_r"].toolTip()


def test_summary_names_dataset_template_and_split(window):
    page = window.train_page
    text = " ".join(label.text() for label in page.summary_values.values())
    assert window.state.dataset().name in text
    assert window.state.template().name in text
    assert "320 train" in text


def test_start_prepares_a_job_and_hands_it_to_the_window(window, qtbot, store, monkeypatch):
    started = []
    monkeypatch.setattr(window.run_controller, "start", lambda run_id, job, command=None: started.append((run_id, job)))
    window.train_page.start()
    qtbot.waitUntil(lambda: bool(started), timeout=20000)
    run_id, job = started[0]
    assert store.get_run(run_id).kind == "train"
    assert job.endswith("job.json")
    assert window.current_page() is window.monitor_page
