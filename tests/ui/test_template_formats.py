"""Templates page formats: multi-turn chat and continued pre-training chosen from columns, previewed on real
rows, refused with a message naming the conversation when roles do not alternate, and saved as the
project's training source that a run then trains on."""

from __future__ import annotations

import csv


def _write_chat_csv(path, n_conversations=10, bad=None):
    """One row per message: conv, turn, speaker, text (rows shuffled so the turn column must order them)."""
    rows = []
    for c in range(1, n_conversations + 1):
        roles = ["user", "assistant", "user", "assistant"]
        if bad == c:
            roles = ["user", "user", "assistant", "assistant"]
        for turn, role in enumerate(roles, start=1):
            rows.append({"conv": f"c{c}", "turn": turn, "speaker": role,
                         "text": f"{role} says {turn} in c{c}"})
    rows.sort(key=lambda r: (r["conv"], -r["turn"]))  # file order is reversed inside a conversation
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["conv", "turn", "speaker", "text"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _import(window, qtbot, path, n_rows):
    window.import_file(path)
    qtbot.waitUntil(lambda: not window.data_page.importing, timeout=20000)
    qtbot.waitUntil(lambda: window.state.table() is not None and window.state.table().num_rows == n_rows,
                    timeout=15000)


def _chat_panel(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    page.set_format("chat")
    panel = page.format_panel
    panel.set_column("conversation", "conv")
    panel.set_column("turn", "turn")
    panel.set_column("role", "speaker")
    panel.set_column("content", "text")
    panel.set_column("system", None)
    qtbot.waitUntil(lambda: not panel.building, timeout=10000)
    return page, panel


def test_chat_preview_saves_source_and_prepares_chat_lines(window, qtbot, tmp_path, store):
    from desktop_ift.core.jobs import prepare_train_job, read_job, read_jsonl
    from desktop_ift.core.templates.library import current_training_source
    from desktop_ift.core.training.config import TrainConfig

    _import(window, qtbot, _write_chat_csv(tmp_path / "chats.csv"), 40)
    page, panel = _chat_panel(window, qtbot)
    assert page.mode_stack.currentWidget() is panel and not page.template_combo.isVisible()
    text = panel.preview_text()
    # the first conversation, in turn order although the file lists it backwards
    order = [text.index(f"{r} says {t} in c1") for r, t in (("user", 1), ("assistant", 2), ("user", 3),
                                                            ("assistant", 4))]
    assert order == sorted(order)
    assert "c2" not in text
    assert "Conversation 1 of 10" in panel.position_label.text()
    assert panel.problem_texts() == [] and panel.use_button.isEnabled()

    assert panel.use_for_training()
    project = window.state.project
    source = current_training_source(store, project.id)
    assert source == {"kind": "chat", "conversation_column": "conv", "role_column": "speaker",
                      "content_column": "text", "turn_column": "turn", "system_column": None}
    assert "multi-turn chat" in panel.current_label.text()

    _, job_path = prepare_train_job(store, project.id, window.state.dataset_id, source, TrainConfig(max_steps=1))
    job = read_job(job_path)
    lines = [line for part in job["data"].values() for line in read_jsonl(part)]
    assert len(lines) == 10
    first = next(line for line in lines if line["messages"][0]["content"].endswith("in c1"))
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user", "assistant"]
    assert first["messages"][1]["content"] == "assistant says 2 in c1"


def test_roles_that_do_not_alternate_name_the_conversation_and_block_training(window, qtbot, tmp_path, store):
    from desktop_ift.core.templates.library import current_training_source

    _import(window, qtbot, _write_chat_csv(tmp_path / "bad.csv", n_conversations=3, bad=2), 12)
    before = current_training_source(store, window.state.project.id)
    page, panel = _chat_panel(window, qtbot)
    problems = panel.problem_texts()
    assert len(problems) == 1
    assert "'c2'" in problems[0] and "two user messages in a row" in problems[0]
    assert not panel.banner.isHidden() and "c2" in panel.banner.message
    assert not panel.use_button.isEnabled()
    assert not panel.use_for_training()
    assert current_training_source(store, window.state.project.id) == before  # nothing changed
    # choosing the role column twice is refused too, with a message saying what to do
    panel.set_column("content", "speaker")
    qtbot.waitUntil(lambda: not panel.building, timeout=10000)
    assert "different columns" in panel.banner.message


def test_pretrain_previews_first_document_and_saves_source(window, qtbot, tmp_path, store):
    from desktop_ift.core.jobs import prepare_train_job, read_job, read_jsonl
    from desktop_ift.core.templates.library import current_training_source
    from desktop_ift.core.training.config import TrainConfig

    path = tmp_path / "articles.csv"
    path.write_text("title,body,views\n" + "".join(f"Title {i},Body of article {i}.,{i}\n" for i in range(10)),
                    encoding="utf-8")
    _import(window, qtbot, path, 10)
    page = window.templates_page
    window.show_page(page)
    page.set_format("pretrain")
    panel = page.format_panel
    panel.set_text_columns(["title", "body"])
    qtbot.waitUntil(lambda: not panel.building, timeout=10000)
    assert "Title 0\n\nBody of article 0." in panel.preview_text()
    assert "Document 1 of 10" in panel.position_label.text()
    assert panel.use_for_training()
    source = current_training_source(store, window.state.project.id)
    assert source == {"kind": "pretrain", "text_columns": ["title", "body"], "separator": "\n\n"}
    _, job_path = prepare_train_job(store, window.state.project.id, window.state.dataset_id, source,
                                    TrainConfig(max_steps=1))
    lines = [line for part in read_job(job_path)["data"].values() for line in read_jsonl(part)]
    assert sorted(line["text"] for line in lines)[0] == "Title 0\n\nBody of article 0."
    # no text column ticked: refused with a message, the saved source stays
    panel.set_text_columns([])
    qtbot.waitUntil(lambda: not panel.building, timeout=10000)
    assert "at least one text column" in panel.banner.message
    assert not panel.use_for_training()
    assert current_training_source(store, window.state.project.id) == source


def test_instruction_format_is_unchanged_and_takes_training_back(window, qtbot, tmp_path, store):
    from desktop_ift.core.templates.library import current_training_source

    page = window.templates_page
    window.show_page(page)
    assert page.format_mode() == "instruction" and page.template_combo.isVisible()
    template_id = window.state.template_id
    page.set_format("pretrain")
    panel = page.format_panel
    panel.set_text_columns(["message"])
    qtbot.waitUntil(lambda: not panel.building, timeout=10000)
    assert panel.use_for_training()
    assert current_training_source(store, window.state.project.id)["kind"] == "pretrain"
    page.set_format("instruction")
    assert page.template_combo.isVisible() and page.mode_stack.currentIndex() == 0
    assert current_training_source(store, window.state.project.id) == template_id
