"""``lm-gym export RUN OUT --babylm``: a git repository whose branches are exactly the
milestones reached (and ``main``), each holding a model transformers loads; OUT is never
overwritten."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lm_gym.babylm import ExportError, export_babylm, list_revisions, read_revision
from lm_gym.cli import main


def git(repo, *args) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def checkout(repo, branch, into):
    """The files of ``branch``, extracted with ``git archive`` (no work tree touched)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", branch], cwd=repo, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def test_export_writes_one_branch_per_milestone_reached_each_loadable(
    milestone_run, tmp_path, capsys
):
    out = tmp_path / "babylm-repo"
    assert main(["export", str(milestone_run), str(out), "--babylm"]) == 0
    assert "chck_2k" in capsys.readouterr().out

    reached = [record["revision"] for _, record in list_revisions(milestone_run / "revisions")]
    assert reached == ["chck_500", "chck_1k", "chck_1500", "chck_2k"]
    branches = git(out, "branch", "--format=%(refname:short)").split()
    assert sorted(branches) == sorted([*reached, "main"])
    assert git(out, "status", "--porcelain") == ""  # everything is committed
    history = git(out, "log", "--format=%s", "main").splitlines()[::-1]
    assert [line.split(":")[0] for line in history] == [*reached, "final model"]

    probe = "il cane corre"
    for branch in [*reached, "main"]:
        files = checkout(out, branch, tmp_path / "checkouts" / branch)
        assert read_revision(files)["revision"] == branch
        assert f"`{branch}`" in (files / "README.md").read_text()  # the model card
        saved = milestone_run / "revisions" / branch
        for name in ("model.safetensors", "config.json", "tokenizer.json"):
            assert (files / name).read_bytes() == (saved / name).read_bytes(), name
        model = AutoModelForCausalLM.from_pretrained(files).eval()
        tokenizer = AutoTokenizer.from_pretrained(files)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([tokenizer(probe)["input_ids"]])).logits
        assert logits.shape[-1] == len(tokenizer) and torch.isfinite(logits).all()


def test_export_never_overwrites_and_needs_revisions(milestone_run, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("my work")
    with pytest.raises(ExportError, match="already exists: lm-gym export never overwrites"):
        export_babylm(milestone_run, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert main(["export", str(milestone_run), str(tmp_path / "new")]) == 2
    assert "--babylm" in capsys.readouterr().err
    empty = tmp_path / "no-revisions"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no milestone revisions"):
        export_babylm(empty, tmp_path / "other")
    assert not (tmp_path / "other").exists() and not (tmp_path / "new").exists()
