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


def test_a_library_template_never_unticks_and_the_ticked_template_is_what_trains(window, qtbot, monkeypatch):
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
