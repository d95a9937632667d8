"""Several projects in one workspace: create one, switch to it, and come back to it on the next start."""

from __future__ import annotations

from desktop_ift.core.projects import last_opened_project


def test_project_dialog_creates_a_named_project_and_refuses_bad_names(window, store):
    from desktop_ift.ui.dialogs.project_dialog import ProjectDialog

    dialog = ProjectDialog(store, window.state.project.id, window, create=True)
    assert dialog.list.count() == 1 and "(open now)" in dialog.list.item(0).text()
    dialog.name_edit.setText("   ")
    dialog._create()
    assert dialog.error_label.isVisibleTo(dialog) and "needs a name" in dialog.error_label.text()
    dialog.name_edit.setText(window.state.project.name)
    dialog._create()
    assert "already exists" in dialog.error_label.text() and len(store.list_projects()) == 1
    assert dialog.name_edit.text() == window.state.project.name, "the typed name is kept"
    dialog.name_edit.setText("Contract clauses")
    dialog._create()
    created = store.find_project("Contract clauses")
    assert dialog.result() and created is not None and dialog.chosen_id == created.id


def test_switching_opens_the_project_in_a_new_window_and_next_start_reopens_it(window, store, qtbot):
    from desktop_ift.ui.app import Windows, create_main_window

    other = store.create_project("Contract clauses")
    windows = Windows(store, window)
    window.project_switch_requested.emit(other.id)  # what File → Open project… does after the dialog
    new = windows.current
    qtbot.addWidget(new)
    assert new is not window and new.state.project.id == other.id
    assert "Contract clauses" in new.windowTitle() and new.project_label.text() == "Contract clauses"
    assert new.isVisible() and not window.isVisible()
    assert last_opened_project(store).id == other.id
    again = create_main_window(store)
    qtbot.addWidget(again)
    assert again.state.project.id == other.id


def test_a_window_that_refuses_to_close_keeps_its_project(window, store, qtbot):
    from desktop_ift.ui.app import Windows

    other = store.create_project("Second")
    windows = Windows(store, window)
    window.templates_page.prompt_edit.setPlainText("an edit that is not saved")
    window.ask_question = lambda *args, **kwargs: 2  # "Cancel" in the unsaved-template question
    assert windows.switch(window, other.id) is None
    assert windows.current is window and window.isVisible()
    assert window.templates_page.prompt_edit.toPlainText() == "an edit that is not saved"
