"""Train page: a folder that is not a model is refused with a message that says what is missing."""

from __future__ import annotations

import json

import pytest


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
    from desktop_ift.core.demo import demo_settings
    from desktop_ift.core.models.bundled import BUNDLED_PARAMETERS, bundled_available

    config = page.train_config()
    expected = demo_settings(BUNDLED_PARAMETERS)[0] if bundled_available() else DEMO_TRAIN_CONFIG
    assert config.max_steps == expected.max_steps and config.method == expected.method
    assert config.learning_rate == expected.learning_rate
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


def test_start_prepares_a_job_and_hands_it_to_the_window(window, qtbot, store, monkeypatch, demo_model_in_workspace):
    started = []
    monkeypatch.setattr(window.run_controller, "start", lambda run_id, job, command=None: started.append((run_id, job)))
    window.train_page.demo_radio.setChecked(True)  # the tiny model: no conversion of the bundled one
    window.train_page.start()
    qtbot.waitUntil(lambda: bool(started), timeout=20000)
    run_id, job = started[0]
    assert store.get_run(run_id).kind == "train"
    assert job.endswith("job.json")
    assert window.current_page() is window.monitor_page


def test_presets_fill_the_form_and_explain_themselves(window, qtbot):
    from desktop_ift.core.training.presets import get_preset

    page = window.train_page
    assert list(page.preset_buttons) == ["Quick try", "Balanced", "Best quality"]
    page.preset_buttons["Best quality"].click()
    config = page.train_config()
    preset = get_preset("Best quality")
    assert config.method == "dora" and page.method_buttons["dora"].isChecked()
    from desktop_ift.core.training.presets import sized_preset

    sized = sized_preset("Best quality", **page._preset_context())  # sized for the chosen model and data
    assert config.lora_r == sized.values["lora_r"] and config.learning_rate == sized.values["learning_rate"]
    assert all(note in page.preset_note.text() for note in sized.notes)
    page.demo_radio.setChecked(True)  # the tiny random model: the preset's own values
    page.preset_buttons["Best quality"].click()
    config = page.train_config()
    assert config.lora_r == preset.values["lora_r"] and config.gradient_checkpointing
    assert page.preset_buttons["Best quality"].isChecked()
    assert preset.explanation in page.preset_note.text()
    page.form.widgets["learning_rate"].setValue(0.01)  # the user changes a setting: no preset any more
    assert not any(b.isChecked() for b in page.preset_buttons.values())
    assert "Custom" in page.preset_state.text()


def test_advanced_settings_hold_the_engine_options(window):
    page = window.train_page
    for name in ("lr_scheduler", "precision", "gradient_checkpointing", "packing", "save_total_limit",
                 "lora_target_modules", "quantization_bits", "distributed", "num_processes"):
        assert name in page.advanced_form.widgets, name
    page.set_method("lora")
    assert not page.advanced_form.widgets["quantization_bits"].isEnabled()
    page.advanced_form.widgets["lora_target_modules"].setText("q_proj, v_proj")
    assert page.train_config().target_modules() == ["q_proj", "v_proj"]
    page.advanced_form.widgets["lora_target_modules"].setText("q_proj; !!")
    assert not page.start_button.isEnabled() and "lora_target_modules" in page.settings_banner.message


def test_memory_estimate_warns_before_launch_with_what_would_fit(window, qtbot, tmp_path):
    page = window.train_page
    qtbot.waitUntil(lambda: page.hardware is not None, timeout=10000)
    big = tmp_path / "big-model"
    big.mkdir()
    (big / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
        "num_key_value_heads": 8, "intermediate_size": 28672, "vocab_size": 128256}), encoding="utf-8")
    assert page.set_model_folder(str(big))
    page.set_method("full")
    assert "GiB needed" in page.summary_values["memory"].text()
    assert not page.memory_banner.isHidden()
    assert "probably" in page.memory_banner.title_label.text().lower()
    assert "LoRA" in page.memory_banner.message
    assert page.start_button.isEnabled(), "a warning, not a block: the user may know better"
    page.demo_radio.setChecked(True)
    assert page.memory_banner.isHidden()


def test_qlora_is_offered_only_with_an_nvidia_gpu(window, qtbot):
    page = window.train_page
    qtbot.waitUntil(lambda: page.hardware is not None, timeout=10000)
    if any(g.kind == "cuda" for g in page.hardware.gpus):
        pytest.skip("this machine has an NVIDIA GPU: QLoRA is not refused for lack of one")
    assert not page.method_buttons["qlora"].isEnabled()
    assert "NVIDIA GPU" in page.method_buttons["qlora"].toolTip()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, tiny_model_dir):
    """A Hugging Face hub cache in tmp (HF_HUB_CACHE) holding acme/tiny-chat: config.json + tokenizer, laid out
    like the real cache (models--org--name/snapshots/<rev>/, refs/main). Nothing touches the network."""
    import shutil

    cache = tmp_path / "hf-cache"
    repo = cache / "models--acme--tiny-chat"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        if (tiny_model_dir / name).exists():
            shutil.copy(tiny_model_dir / name, snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return snapshot


def test_hub_model_id_from_the_local_cache_or_only_with_downloads_allowed(window, qtbot, hub_cache):
    page = window.train_page
    assert not page.download_check.isChecked()  # offline by default
    assert "works offline by default" in page.download_check.toolTip()

    assert page.set_hub_model("acme/tiny-chat")
    assert "Found in the local Hugging Face cache" in page.model_banner.message
    assert str(hub_cache) in page.model_banner.message
    assert page.start_button.isEnabled()
    assert page.summary_values["model"].text() == "acme/tiny-chat"

    # Not in the cache and downloads off: the user is told what to do before launch, and cannot launch.
    assert not page.set_hub_model("acme/not-downloaded")
    message = page.model_banner.message
    assert "not in the local Hugging Face cache" in message and "downloading is off" in message
    assert "tick “Allow downloading it from the Hub”" in message
    assert "choose its folder under “Local model folder”" in message
    assert not page.start_button.isEnabled()
    page.start()
    assert "This model is not on this computer: see the message under the model id" in page.start_banner.message

    page.download_check.setChecked(True)
    assert "will download it from the Hugging Face Hub when the run starts" in page.model_banner.message
    assert page.start_button.isEnabled()

    assert not page.set_hub_model("just-a-name")
    assert "is not a Hugging Face model id" in page.model_banner.message
    page.demo_radio.setChecked(True)
    assert page.start_button.isEnabled() and page.model_banner.isHidden()


@pytest.mark.parametrize("hub_id, allow", [("acme/tiny-chat", False), ("acme/not-downloaded", True)])
def test_start_with_a_hub_model_writes_the_id_and_the_download_choice(window, qtbot, store, monkeypatch, hub_cache,
                                                                     hub_id, allow):
    from desktop_ift.core.modeling import resolve_model

    started = []
    monkeypatch.setattr(window.run_controller, "start", lambda run_id, job, command=None: started.append((run_id, job)))
    page = window.train_page
    assert page.set_hub_model(hub_id, allow_download=allow)
    page.start()
    qtbot.waitUntil(lambda: bool(started), timeout=20000)
    run_id, job_path = started[0]
    job = json.loads(open(job_path, encoding="utf-8").read())
    assert (job["model"], job["allow_download"]) == (hub_id, allow)
    assert store.get_run(run_id).config["model"] == hub_id
    if not allow:  # what the worker will load: the cached snapshot, with no network
        assert resolve_model(job["model"], store.home) == hub_cache
    assert window.state.setting("train_model") == hub_id
