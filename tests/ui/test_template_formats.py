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
    from desktop_ift.core.job_format import read_job, read_jsonl
    from desktop_ift.core.training.prepare import prepare_train_job
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
    from desktop_ift.core.job_format import read_job, read_jsonl
    from desktop_ift.core.training.prepare import prepare_train_job
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


# ---------------------------------------------------------------------------------- tokens and validation
def _write_varied_chat_csv(path, n_conversations=8):
    """Conversation k's answer repeats a phrase k times, so the conversations have different lengths."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["conv", "turn", "speaker", "text"])
        for c in range(1, n_conversations + 1):
            writer.writerow([f"c{c}", 1, "user", f"question {c}"])
            writer.writerow([f"c{c}", 2, "assistant", " ".join(["refund the invoice"] * (3 * c)) + f" end{c}"])
    return path


def _set_max_length(window, max_len):
    window.state.remember(train_config={**(window.state.setting("train_config") or {}), "max_seq_length": max_len})


def _line(item):
    return {"system": item["system"], "messages": item["messages"]}


def test_chat_tokens_show_the_assistant_turns_as_trained(demo_model_in_workspace, window, qtbot, tmp_path):
    from desktop_ift.core.templates.token_preview import LightTokenizer, preview_example

    _import(window, qtbot, _write_chat_csv(tmp_path / "chats.csv"), 40)
    _set_max_length(window, 512)
    page, panel = _chat_panel(window, qtbot)
    panel.tabs.setCurrentWidget(panel.tokens)
    qtbot.waitUntil(lambda: panel.last_preview is not None and not panel.tokens_busy, timeout=10000)
    expected = preview_example(LightTokenizer(demo_model_in_workspace), _line(panel.items[0]), 512)
    shown = panel.last_preview
    assert shown.ids == expected.ids and shown.trained == expected.trained
    trained = "".join(t for t, keep in zip(shown.token_strings, shown.trained) if keep)
    context = "".join(t for t, keep in zip(shown.token_strings, shown.trained) if not keep)
    assert "assistant says 2 in c1" in trained and "assistant says 4 in c1" in trained
    assert "user says" not in trained and "user says 1 in c1" in context
    header = panel.tokens.header.text()
    assert f"{expected.n_tokens:,} tokens" in header and f"the loss counts <b>{expected.n_trained:,}</b>" in header
    assert "<|assistant|>" in panel.tokens.plain_text() and panel.tokens.note.isHidden()
    panel.next_button.click()  # the view follows the conversation shown
    second = f"says 2 in {panel.items[1]['conversation']}"
    qtbot.waitUntil(lambda: not panel.tokens_busy and second in panel.tokens.plain_text(), timeout=10000)


def test_chat_validation_counts_long_conversations_and_links_to_them(demo_model_in_workspace, window, qtbot,
                                                                      tmp_path, monkeypatch):
    import pyqtgraph as pg

    from desktop_ift.core.templates.token_preview import LightTokenizer, preview_example
    from desktop_ift.ui.widgets import template_format_panel

    monkeypatch.setattr(template_format_panel, "MEASURE_CHUNK", 3)  # several background steps
    _import(window, qtbot, _write_varied_chat_csv(tmp_path / "varied.csv"), 16)
    tok = LightTokenizer(demo_model_in_workspace)
    page, panel = _chat_panel(window, qtbot)
    lengths = [preview_example(tok, _line(item), 4096).n_tokens for item in panel.items]
    max_len = sorted(lengths)[4]  # between the conversations' lengths
    longer = [u for u, n in enumerate(lengths) if n > max_len]
    assert 0 < len(longer) < len(lengths)
    _set_max_length(window, max_len)
    panel.tabs.setCurrentWidget(panel.validation)
    qtbot.waitUntil(lambda: panel.last_report is not None and not panel.measuring()
                    and panel.last_report.lengths is not None and len(panel.last_report.lengths) == 8, timeout=20000)
    report = panel.last_report
    assert report.lengths.tolist() == lengths
    too_long = next(p for p in report.problems if p.kind == "too_long")
    assert too_long.units == longer and f"{len(longer)} of 8 conversations" in too_long.message
    title = panel.validation.hist_title.text()
    assert f"{len(longer)} of 8 longer than {max_len}" in title and "measured so far" not in title
    cut_lines = [i for i in panel.validation.plot.getPlotItem().items if isinstance(i, pg.InfiniteLine)]
    assert [line.value() for line in cut_lines] == [max_len]
    # clicking the problem shows its first conversation, clicking again the next
    index = report.problems.index(too_long)
    panel.validation._clicked(panel.validation.list.item(index))
    assert panel.tabs.currentWidget() is panel.preview
    assert f"Conversation {longer[0] + 1} of 8" in panel.position_label.text()
    assert f"end{longer[0] + 1}" in panel.preview_text()
    panel.validation._clicked(panel.validation.list.item(index))
    assert f"Conversation {longer[1] + 1} of 8" in panel.position_label.text()


def test_a_broken_conversation_is_shown_by_its_rows(window, qtbot, tmp_path):
    _import(window, qtbot, _write_chat_csv(tmp_path / "bad.csv", n_conversations=3, bad=2), 12)
    page, panel = _chat_panel(window, qtbot)
    panel.tabs.setCurrentWidget(panel.validation)
    qtbot.waitUntil(lambda: panel.last_report is not None and not panel.measuring(), timeout=10000)
    assert panel.problems_list.isHidden()  # the Validation tab lists it; no second list below
    index = next(i for i, p in enumerate(panel.last_report.problems) if p.kind == "conversation")
    panel.validation._clicked(panel.validation.list.item(index))
    text = panel.preview_text()
    assert "cannot be used" in text and "two user messages in a row" in text
    assert "user says 2 in c2" in text and "'c2'" in panel.position_label.text()


def test_pretraining_tokens_and_validation_say_long_documents_are_split(demo_model_in_workspace, window, qtbot,
                                                                        tmp_path):
    from desktop_ift.core.templates.token_preview import LightTokenizer
    from desktop_ift.core.training.collator import tokenize_rows

    path = tmp_path / "articles.csv"
    long_body = "The refund of the invoice arrived late. " * 12
    path.write_text("body\n" + "".join(f"Short note {i}.\n" for i in range(5)) + long_body + "\n",
                    encoding="utf-8")
    _import(window, qtbot, path, 6)
    _set_max_length(window, 24)
    page = window.templates_page
    window.show_page(page)
    page.set_format("pretrain")
    panel = page.format_panel
    panel.set_text_columns(["body"])
    qtbot.waitUntil(lambda: not panel.building, timeout=10000)
    long_index = next(u for u, d in enumerate(panel.items) if d["text"].startswith("The refund"))
    pieces = len(tokenize_rows([panel.items[long_index]], LightTokenizer(demo_model_in_workspace), 24, True, "text"))
    assert pieces > 1
    panel.show_item(long_index)
    panel.tabs.setCurrentWidget(panel.tokens)
    qtbot.waitUntil(lambda: panel.last_preview is not None and not panel.tokens_busy, timeout=10000)
    assert all(panel.last_preview.trained)
    assert f"splits it into {pieces} examples" in panel.tokens.header.text()
    assert f"example {pieces}" in panel.tokens.plain_text()
    panel.tabs.setCurrentWidget(panel.validation)
    qtbot.waitUntil(lambda: panel.last_report is not None and not panel.measuring()
                    and panel.last_report.lengths is not None, timeout=10000)
    too_long = next(p for p in panel.last_report.problems if p.kind == "too_long")
    assert too_long.units == [long_index] and "Nothing is cut" in too_long.message
    assert "split into several examples, not cut" in panel.validation.hist_title.text()


def test_without_a_chat_template_the_tokens_show_the_plain_fallback(demo_model_in_workspace, window, qtbot,
                                                                     tmp_path):
    import json

    (demo_model_in_workspace / "chat_template.jinja").unlink(missing_ok=True)
    config_path = demo_model_in_workspace / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    _import(window, qtbot, _write_chat_csv(tmp_path / "chats.csv", n_conversations=2), 8)
    page, panel = _chat_panel(window, qtbot)
    panel.tabs.setCurrentWidget(panel.tokens)
    qtbot.waitUntil(lambda: panel.last_preview is not None and not panel.tokens_busy, timeout=10000)
    assert not panel.tokens.note.isHidden() and "no chat template" in panel.tokens.note.text()
    assert "### Instruction:" in panel.tokens.plain_text() and "### Response:" in panel.tokens.plain_text()
