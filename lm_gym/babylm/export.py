"""Export a run's revisions as a git repository laid out the way BabyLM submissions are.

A BabyLM submission is a model repository whose default branch holds the final model and whose
branches ``chck_1M``, ``chck_2M``, ... hold the intermediate checkpoints (the evaluation
pipeline loads each with ``from_pretrained(repo, revision="chck_1M")``).
:func:`export_babylm` builds that repository locally with the git command line: one commit per
milestone, in the order of words exposed, each with the revision's files at the root and a
model card, a branch named after the milestone at that commit, and ``main`` at the final model.
Push it to a model hub with ``git push --all``. With git-lfs installed the weights are stored as
LFS objects (the hubs refuse plain files over 10 MB); without it they are plain git files.

The output folder must not exist: it is built beside it and renamed into place when complete,
so nothing of the user's is ever overwritten and a killed export leaves no half repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from lm_gym.babylm.milestones import (
    FINAL,
    METADATA,
    list_revisions,
    read_revision,
    revisions_folder,
)
from lm_gym.utils.files import temporary_sibling

LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.model")
"""Files stored with git-lfs when it is installed (weights and binary tokenizer models)."""
COMMITTER = ("-c", "user.name=lm_gym", "-c", "user.email=lm_gym@localhost")
"""Author of the export commits, so no git identity needs to be configured."""


class ExportError(ValueError):
    """A run folder that cannot be exported, or an output that already exists."""


def git_lfs_available() -> bool:
    """True when the git-lfs extension is installed."""
    found = subprocess.run(["git", "lfs", "version"], capture_output=True, check=False)
    return found.returncode == 0


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *COMMITTER, "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout


def model_card(record: dict[str, Any]) -> str:
    """The README of one revision: what it is and the ledger behind it."""
    ledger = record["ledger"]
    budget = ledger.get("budget") or {}
    by_source = ", ".join(f"{k} {v:,}" for k, v in ledger["exposed_by_source"].items())
    epochs = ", ".join(f"{k} {v:.3f}" for k, v in ledger["epochs"].items()) or "-"
    lines = [
        "---",
        "library_name: transformers",
        "tags:",
        "- babylm",
        "- lm_gym",
        "---",
        f"# Revision `{record['revision']}`",
        "",
        "A causal language model trained with lm_gym, exported for BabyLM "
        "(`AutoModelForCausalLM` and `AutoTokenizer` load it).",
        "",
        "| | |",
        "| --- | --- |",
        f"| milestone (words exposed) | {record['milestone'] or 'final model'} |",
        f"| words exposed | {record['words_exposed']:,} ({by_source}) |",
        f"| words generated | {record['words_generated']:,} |",
        f"| epochs | {epochs} |",
        f"| budget | {budget.get('name') or budget or 'none'} |",
        f"| timesteps | {record['num_timesteps']:,} |",
        f"| lm_gym | {record['lm_gym_version']} |",
        "",
        "Words are whitespace-separated words, repeats included (BabyLM's count). "
        f"`{METADATA}` holds the full ledger.",
    ]
    return "\n".join(lines) + "\n"


def _commit_revision(repo: Path, folder: Path, message: str) -> None:
    """Make the repository's tree exactly ``folder``'s files (plus its own), and commit."""
    for child in repo.iterdir():
        if child.name in (".git", ".gitattributes"):
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    for child in folder.iterdir():
        if child.is_dir():
            shutil.copytree(child, repo / child.name)
        else:
            shutil.copy2(child, repo / child.name)
    (repo / "README.md").write_text(model_card(read_revision(folder)), encoding="utf-8")
    # Empty the index first: a copied file can keep its size and time stamps (and even its
    # inode number), and git would then take it for unchanged without reading it.
    _git(repo, "rm", "-r", "-q", "--cached", "--ignore-unmatch", ".")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", message)


def export_babylm(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the revisions of ``source`` (a run folder) as a git repository at ``out``.

    Returns:
        ``out``.

    Raises:
        ExportError: when ``out`` exists (it is never overwritten) or ``source`` has no
            revisions; FileNotFoundError for a missing ``source``.
    """
    out = Path(out)
    if os.path.lexists(out):
        raise ExportError(f"{out} already exists: lm-gym export never overwrites; give a new path")
    folder = revisions_folder(source)
    revisions = list_revisions(folder)
    final = folder / FINAL
    work = temporary_sibling(out)
    try:
        work.mkdir(parents=True)
        _git(work, "init", "--quiet", "--initial-branch", FINAL)
        if git_lfs_available():
            _git(work, "lfs", "install", "--local")
            (work / ".gitattributes").write_text(
                "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS)
            )
        for path, record in revisions:
            words = f"{record['words_exposed']:,} words exposed"
            _commit_revision(work, path, f"{record['revision']}: {words}")
            _git(work, "branch", record["revision"])
        if (final / METADATA).is_file():
            words = f"{read_revision(final)['words_exposed']:,} words exposed"
            _commit_revision(work, final, f"final model: {words}")
        if os.path.lexists(out):
            raise ExportError(f"{out} appeared while exporting: it is left as it is")
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def export_summary(repo: str | os.PathLike) -> dict[str, Any]:
    """The branches of an exported repository and the words of each (for the CLI's report)."""
    repo = Path(repo)
    branches = _git(repo, "branch", "--format=%(refname:short)").split()
    words = {}
    for branch in branches:
        record = json.loads(_git(repo, "show", f"{branch}:{METADATA}"))
        words[branch] = record["words_exposed"]
    return {"repository": str(repo), "branches": words}
