"""Issue 13: the Template set tab alone decides which templates train; nothing replaces its choice."""

from __future__ import annotations

import json
from pathlib import Path


def _start_and_read_job(window, qtbot, monkeypatch) -> dict:
    started = []
    monkeypatch.setattr(window.run_controller, "start",
                        lambda run_id, job, command=None: started.append((run_id, job)))
    window.train_page.start()
    qtbot.waitUntil(lambda: bool(started), timeout=20000)
    return json.loads(Path(started[0][1]).read_text(encoding="utf-8"))


def test_a_library_template_never_unticks_and_the_ticked_template_is_what_trains(window, qtbot, monkeypatch,
                                                                                demo_model_in_workspace):
    from desktop_ift.core.templates.render import PromptTemplate

    page = window.templates_page
    window.show_page(page)
    mine = window.state.template()
    panel = page.tools.set_panel
    page.tools.load_set()
    assert panel.ticked_ids() == [mine.id]

    # Add a template from the library and save it: the user's template stays ticked.
    chosen = PromptTemplate(name="Classify (library)", prompt="Classify this message: {{ message }}",
                            response="{{ category }}")
    page.apply_library_template(chosen)
    assert page.save()
    added = window.state.template()
    assert added.id != mine.id
    assert mine.id in panel.ticked_ids(), "adding a library template unticked the user's template"

    # The user leaves only their own template ticked while the library one is open in the editor.
    panel.set_tick(added.id, False)
    panel.set_tick(mine.id, True)
    assert panel.ticked_ids() == [mine.id]
    assert window.state.template_id == added.id  # the editor still shows the other one

    job = _start_and_read_job(window, qtbot, monkeypatch)
    names = [t["name"] for t in job["source"]["template_set"]["templates"]]
    assert names == [mine.name]
    train_lines = [json.loads(line) for line in Path(job["data"]["train"]).read_text(encoding="utf-8").splitlines()]
    assert {line["template"] for line in train_lines} == {mine.name}
    run = window.state.store.get_run(job["run_id"])
    assert mine.name in run.name and added.name not in run.name


def test_the_plan_panel_shows_long_examples_before_launch_and_raises_the_length_in_one_click(
        window, qtbot, monkeypatch, demo_model_in_workspace):
    page = window.train_page
    window.show_page(page)
    page.form.set_values({"max_seq_length": 40})
    qtbot.waitUntil(lambda: "longer: truncated" in page.summary_values["length"].text(), timeout=15000)
    assert "320 of 320 training examples are longer" in page.summary_values["length"].text()
    assert page.summary_values["trained"].text().startswith("320 training examples")
    assert page.summary_values["template"].text() == window.state.template().name
    assert "320 of 320 longer than 40" in page.histogram.title.text()
    assert page.histogram.raise_button.isVisible()

    # Drop instead: the plan says how many remain, and the job trains exactly that.
    overflow = page.advanced_form.widgets["overflow"]  # Advanced settings: what happens to longer examples
    overflow.setCurrentIndex(overflow.findData("drop"))
    cover = page.plan.lengths.cover95
    page.form.set_values({"max_seq_length": cover - 1})  # a few are longer
    qtbot.waitUntil(lambda: "longer: dropped" in page.summary_values["length"].text(), timeout=15000)
    remaining = page.plan.lengths.trained["train"]
    assert 0 < remaining < 320 and page.summary_values["trained"].text().startswith(f"{remaining} training")
    job = _start_and_read_job(window, qtbot, monkeypatch)
    assert job["config"]["overflow"] == "drop" and job["plan"]["lengths"]["trained"]["train"] == remaining

    # One click: the maximum length that covers 95% of the examples.
    window.show_page(page)  # (starting showed the Monitor page)
    page.histogram.raise_button.click()
    assert page.train_config().max_seq_length == page.histogram._cover == cover
    qtbot.waitUntil(lambda: page.plan is not None and page.plan.lengths.max_seq_length == page.histogram._cover,
                    timeout=15000)
    assert page.plan.lengths.longer["train"] <= 0.05 * 320
