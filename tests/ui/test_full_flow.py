"""The whole demo flow through the GUI, offscreen, with the real worker process and the real tiny model."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_demo_flow_through_the_gui_trains_live_and_fills_the_comparison(window, qtbot, store):
    # 1. Data: the demo dataset is shown.
    assert window.data_page.model.rowCount() > 0
    # 2. Templates: the preview renders a real row of the demo data through the demo template.
    window.show_page(window.templates_page)
    # 3. Train: the tiny test model (the bundled SmolLM2 is the default; tests/e2e trains that one).
    window.show_page(window.train_page)
    page = window.train_page
    from desktop_ift.core.demo import DEMO_TRAIN_CONFIG

    page.demo_radio.setChecked(True)
    page.form.set_values(DEMO_TRAIN_CONFIG.to_dict())
    page.advanced_form.set_values(DEMO_TRAIN_CONFIG.to_dict())
    page.set_method(DEMO_TRAIN_CONFIG.method)
    qtbot.waitUntil(lambda: page.start_button.isEnabled(), timeout=15000)
    page.start_button.click()

    # 4. Monitor: the window switches to it and the loss curve grows while the worker runs.
    monitor = window.monitor_page
    # (Start builds the demo model first, to count the tokens of the plan: seconds, more on a busy machine)
    qtbot.waitUntil(lambda: window.current_page() is monitor, timeout=90000)
    qtbot.waitUntil(lambda: monitor.loss.n >= 3, timeout=120000)
    qtbot.waitUntil(lambda: monitor.status == "finished", timeout=300000)
    run_id = monitor.run_id
    assert store.get_run(run_id).status == "finished"
    assert monitor.loss.n == len(store.metric_series(run_id, "loss"))
    assert monitor.progress.value() == monitor.progress.maximum()

    # 5. Evaluate: base vs fine-tuned on the test split; the side-by-side table fills in.
    window.show_page(window.evaluate_page)
    evaluate = window.evaluate_page
    qtbot.waitUntil(lambda: evaluate.selected_train_run() == run_id, timeout=15000)
    qtbot.waitUntil(lambda: evaluate.evaluate_button.isEnabled(), timeout=15000)
    evaluate.evaluate_button.click()
    # wait for the page itself to see the end (the store says "finished" before the GUI reads the last events)
    qtbot.waitUntil(lambda: evaluate.results_table.rowCount() > 0 and evaluate.eval_run_id
                    and evaluate.status == "finished", timeout=300000)
    results = store.eval_results(evaluate.eval_run_id)
    assert set(results) == {"base", "fine-tuned"}
    assert results["fine-tuned"]["accuracy"] >= 0.9 > results["base"]["accuracy"]
    accuracy = evaluate.result_cell("Accuracy", 0)
    assert accuracy is not None and float(accuracy.text()) == pytest.approx(results["base"]["accuracy"], abs=1e-3)
    assert evaluate.examples_table.rowCount() == len(store.eval_examples(evaluate.eval_run_id, "base"))
