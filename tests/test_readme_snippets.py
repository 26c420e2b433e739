"""Issue 19 item 3: every ```python block of README.md runs as a script and succeeds.

Each block is written to ``snippet.py`` in a fresh temporary folder and run there by a fresh
interpreter (so a block must be self-contained, and a process pool needs its
``if __name__ == "__main__":`` guard, as for a user who pastes it into a file). The models
are the micro recipes and training budgets are small: ``tests/readme_snippets/sitecustomize.py``
(on the child's ``PYTHONPATH``) maps every default recipe name to its micro counterpart and
caps ``BaseAgent.learn`` at :data:`MAX_TIMESTEPS`, without changing the snippet's text. The
model cache is the tests' (``LM_GYM_CACHE``), the hub is offline.

A block that cannot run on a CPU offline starts with ``# snippet: skip (<reason>)``; the reason
is required.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HOOK = Path(__file__).resolve().parent / "readme_snippets"
MAX_TIMESTEPS = 64
"""Timesteps a snippet's ``learn`` may train (its own number when smaller)."""

BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"^#\s*snippet:\s*skip\b(.*)$", re.MULTILINE)
REASON = re.compile(r"^\s*\((\S[^)]*)\)\s*$")


def readme_snippets() -> list[tuple[int, str]]:
    """``(line of the opening fence, code)`` of every ```python block of the README."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def skip_reason(code: str) -> str | None:
    """The block's skip reason, ``""`` for a marker without one, ``None`` when it runs."""
    marker = SKIP.search(code)
    if marker is None:
        return None
    reason = REASON.match(marker.group(1))
    return reason.group(1).strip() if reason else ""


SNIPPETS = readme_snippets()


def test_the_readme_has_python_snippets_and_every_skip_says_why():
    assert SNIPPETS, "no ```python block found: did the fence style change?"
    unexplained = [line for line, code in SNIPPETS if skip_reason(code) == ""]
    assert not unexplained, f"README.md:{unexplained}: '# snippet: skip (<reason>)' needs a reason"
    assert skip_reason("# snippet: skip (needs a GPU)\nx = 1\n") == "needs a GPU"
    assert skip_reason("# snippet: skip\nx = 1\n") == ""
    assert skip_reason("x = 1  # no marker\n") is None


def test_every_default_recipe_has_one_micro_counterpart():
    sys.path.insert(0, str(HOOK))
    try:
        from sitecustomize import micro_counterpart
    finally:
        sys.path.remove(str(HOOK))
    from lm_gym.models.recipes import RECIPES
    from lm_gym.prepare import default_recipes

    pairs = {name: micro_counterpart(name) for name in default_recipes()}
    assert pairs["baby-en"] == "baby-en-micro" and pairs["parent-it"] == "parent-it-micro"
    assert pairs["storyteller-large"] == "storyteller-micro"
    assert pairs["reward-stories"] == "reward-stories-micro"
    assert all(type(RECIPES[a]) is type(RECIPES[b]) for a, b in pairs.items())


@pytest.mark.parametrize("line, code", SNIPPETS, ids=[f"README.md:{line}" for line, _ in SNIPPETS])
def test_readme_snippet_runs_as_a_script(line, code, tmp_path):
    reason = skip_reason(code)
    if reason:
        pytest.skip(reason)
    (tmp_path / "snippet.py").write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH")])),
        "LM_GYM_SNIPPET_TIMESTEPS": str(MAX_TIMESTEPS),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "snippet.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    where = f"README.md:{line}: exit code {done.returncode}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, where
    assert "Traceback" not in done.stderr, where  # e.g. failed worker runs the snippet survived
