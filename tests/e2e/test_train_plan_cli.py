"""Issue 13 end to end through the real CLI and worker: the plan printed before launch says how many
examples are longer than the maximum length, and the worker trains exactly the examples it announced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def _job(out) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_400_examples_356_too_long_are_truncated_by_default_and_dropped_only_when_asked(
        workspace_home, demo_model_in_workspace, tmp_path):
    home = workspace_home
    rows = ["id,text,label"]
    for i in range(400):
        text = ("the parcel never arrived and nobody answers my emails about it " * 8) if i >= 44 else f"hi {i}"
        rows.append(f"{i},{text},{'shipping' if i % 2 else 'billing'}")
    src = tmp_path / "long.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert cli(home, "import", str(src), "--project", "Long").returncode == 0
    from desktop_ift.core.store import Store

    with Store.open(home) as store:
        project = store.find_project("Long")
        template = store.save_template(project.id, "Echo", "Text: {{ text }}", "{{ label }}")
    common = ["prepare-train", "--model", "tiny", "--project", "Long", "--template", str(template.id), "--split", "1", "0", "0",
              "--max-seq-length", "64", "--max-steps", "2", "--batch-size", "16", "--no-packing"]

    default = cli(home, *common)
    job = _job(default)
    assert "356 of 400 training examples are longer: truncated" in default.stdout
    assert "Training on  400 training examples" in default.stdout
    assert job["plan"]["lengths"]["trained"]["train"] == 400

    dropped = cli(home, *common, "--drop-long")
    drop_job = _job(dropped)
    assert "356 of 400 training examples are longer: dropped" in dropped.stdout
    assert "Training on  44 training examples" in dropped.stdout

    for job_data, n in ((job, 400), (drop_job, 44)):
        run_dir = Path(job_data["output_dir"]).parent
        out = cli(home, "train", str(run_dir / "job.json"))
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"on {400} examples" in out.stdout  # the lines written: every example of the split
        assert f"{n} training examples (tokenized, 356 longer than 64 tokens" in out.stdout, out.stdout


def test_separate_train_dev_test_files_keep_their_rows_and_no_test_row_reaches_training(
        workspace_home, demo_model_in_workspace, tmp_path):
    home = workspace_home
    files = {}
    for part, n in (("train", 20), ("dev", 5), ("test", 6)):
        extra = ",source" if part == "test" else ""  # the test file has one more column
        lines = [f"text,label{extra}"] + [f"{part} message {i},{'a' if i % 2 else 'b'}{',web' if extra else ''}"
                                          for i in range(n)]
        files[part] = tmp_path / f"{part}.csv"
        files[part].write_text("\n".join(lines) + "\n", encoding="utf-8")
    ids = {}
    for part, path in files.items():
        out = cli(home, "--project", "Parts", "import", str(path))  # --project before the command
        assert out.returncode == 0, out.stderr
        assert "into project 'Parts'" in out.stdout and "now its current dataset" in out.stdout
        ids[part] = out.stdout.split(" as dataset ")[1].split()[0]
    refused = cli(home, "combine-splits", "--train", ids["train"], "--validation", ids["dev"], "--test", ids["test"])
    assert refused.returncode == 1 and "Remove columns" in refused.stderr
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"steps": [{"kind": "drop_columns", "columns": ["source"]}]}), encoding="utf-8")
    cleaned = cli(home, "clean", ids["test"], "--recipe", str(recipe))
    assert cleaned.returncode == 0, cleaned.stderr
    ids["test"] = cleaned.stdout.split("into dataset ")[1].split(":")[0]
    combined = cli(home, "combine-splits", "--train", ids["train"], "--validation", ids["dev"], "--test", ids["test"],
                   "--name", "all parts")
    assert combined.returncode == 0, combined.stderr
    assert "now the current dataset of project 'Parts'" in combined.stdout
    from desktop_ift.core.store import Store

    with Store.open(home) as store:
        project = store.find_project("Parts")
        template = store.save_template(project.id, "t", "Message: {{ text }}", "{{ label }}")

    out = cli(home, "prepare-train", "--model", "tiny", "--project", "Parts", "--template", str(template.id))
    job = _job(out)
    assert "20 train · 5 validation · 6 test (from the data's column 'split')" in out.stdout
    assert job["source"]["counts"] == {"train": 20, "validation": 5, "test": 6}
    texts = {part: {json.loads(line)["prompt"] for line in Path(path).read_text(encoding="utf-8").splitlines()}
             for part, path in job["data"].items()}
    assert texts["test"] == {f"Message: test message {i}" for i in range(6)}
    assert not texts["test"] & texts["train"] and all("train message" in t for t in texts["train"])

    exported = cli(home, "templates", "export-data", "alpaca", str(tmp_path / "out"), "--project", "Parts",
                   "--template", str(template.id))
    assert exported.returncode == 0, exported.stderr
    assert "train 20, validation 5, test 6" in exported.stdout and "from the column 'split'" in exported.stdout

    ratios = cli(home, "prepare-train", "--model", "tiny", "--project", "Parts", "--template", str(template.id), "--split", "0.5",
                 "0.25", "0.25", "--stratify", "label")
    assert "stratified by 'label'" in ratios.stdout and _job(ratios)["plan"]["split"]["method"] == "ratios"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["chat", "pretrain"])
def test_chat_and_pretraining_runs_train_through_the_cli(workspace_home, demo_model_in_workspace, tmp_path, fmt):
    home = workspace_home
    src = tmp_path / f"{fmt}.csv"
    if fmt == "chat":
        rows = ["conversation,role,content"]
        for c in range(24):
            rows += [f"{c},user,where is parcel {c}", f"{c},assistant,it ships on day {c % 7}",
                     f"{c},user,thanks", f"{c},assistant,you are welcome"]
        options = ["--format", "chat", "--chat", "conversation", "role", "content"]
    else:
        rows = ["text"] + [f"the invoice number {i} was paid on time and the order shipped " * (1 + i % 5)
                           for i in range(30)]
        options = ["--format", "pretrain", "--text-columns", "text"]
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert cli(home, "import", str(src), "--project", fmt).returncode == 0
    missing = cli(home, "prepare-train", "--model", "tiny", "--project", fmt, "--format", fmt)
    assert missing.returncode == 1 and ("--chat" in missing.stderr or "--text-columns" in missing.stderr)
    out = cli(home, "prepare-train", "--model", "tiny", "--project", fmt, *options, "--max-seq-length", "32", "--max-steps", "2",
              "--batch-size", "4")
    job = _job(out)
    plan = job["plan"]
    assert plan["data_format"] == fmt and job["data_format"] == ("chat" if fmt == "chat" else "text")
    assert ("chat conversations" if fmt == "chat" else "continued pre-training on raw text") in out.stdout
    if fmt == "pretrain":
        assert "split into several examples (nothing is lost)" in out.stdout
        assert plan["lengths"]["trained"]["train"] > plan["split"]["examples"]["train"]  # long texts give pieces
    trained = cli(home, "train", str(Path(job["output_dir"]).parent / "job.json"))
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert f"{plan['lengths']['trained']['train']} training examples (tokenized" in trained.stdout


def test_project_means_the_same_before_or_after_the_subcommand(workspace_home, tmp_path):
    home = workspace_home
    src = tmp_path / "dialogues.csv"
    src.write_text("dialogue,summary\nA: hi B: hello,greeting\nA: bye B: ciao,farewell\n", encoding="utf-8")
    assert cli(home, "import", str(src), "--project", "ds").returncode == 0
    library = cli(home, "templates", "library", "--project", "ds")
    assert library.returncode == 0, library.stderr
    name = library.stdout.splitlines()[0].split("\t")[1]
    for n, where in enumerate((["templates", "--project", "ds", "use", name],
                               ["--project", "ds", "templates", "use", name],
                               ["templates", "use", name, "--project", "ds"])):
        out = cli(home, *where, "--as", f"mine {n}")
        assert out.returncode == 0, out.stderr
        assert "in project 'ds'" in out.stdout
    from desktop_ift.core.store import Store

    with Store.open(home) as store:
        ds = store.find_project("ds")
        assert len(store.list_templates(ds.id)) == 3
        demo = [p for p in store.list_projects() if p.name != "ds"]
        assert all(not store.list_templates(p.id) for p in demo)  # nothing went to another project
        assert ds.settings["dataset_id"] and ds.settings["template_id"]  # the import and the use are current


def test_a_preset_is_sized_to_the_counted_token_lengths_and_says_so(workspace_home, demo_model_in_workspace,
                                                                     tmp_path):
    home = workspace_home
    rows = ["id,text,label"] + [f"{i},{'word ' * (5 + 3 * i)},{'a' if i % 2 else 'b'}" for i in range(60)]
    src = tmp_path / "lengths.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert cli(home, "import", str(src), "--project", "Len").returncode == 0
    from desktop_ift.core.store import Store
    from desktop_ift.core.training.plan_lengths import plan_tokenizer, train_lengths

    with Store.open(home) as store:
        project = store.find_project("Len")
        template = store.save_template(project.id, "Echo", "Text: {{ text }}", "{{ label }}")
    out = cli(home, "prepare-train", "--model", "tiny", "--project", "Len", "--template", str(template.id),
              "--preset", "Quick try", "--split", "1", "0", "0")
    job = _job(out)
    # the longest example counted independently with the same tokenizer decides the maximum length
    tok, _ = plan_tokenizer("demo", home)
    lines = [json.loads(x) for x in Path(job["data"]["train"]).read_text(encoding="utf-8").splitlines()]
    longest = max(train_lengths(tok, "instruction", lines))
    expected = min(512, max(64, 32 * -(-longest // 32)))
    assert job["config"]["max_seq_length"] == expected
    assert f"Maximum length {expected} tokens: fits the longest example ({longest} tokens)." in out.stdout
    assert job["plan"]["lengths"]["longer"]["train"] == 0

    # an option given on the command line still wins over the preset
    out = cli(home, "prepare-train", "--model", "tiny", "--project", "Len", "--template", str(template.id),
              "--preset", "Quick try", "--split", "1", "0", "0", "--max-seq-length", "48")
    assert _job(out)["config"]["max_seq_length"] == 48
    assert "Your options win over the preset: --max-seq-length 48." in out.stdout
