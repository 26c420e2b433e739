"""The fixture layer every test shares.

* **One torch thread** for the whole session: the models under test are tiny, and two threads
  contending with any other load on a 2-core machine stall each other (measured 10x slower
  here). Benchmarks compare both sides on the same single thread.
* **A session-wide temporary model cache**: ``LM_GYM_CACHE`` points at a fresh folder, so the
  tests never read or write the user's own cache (the micro recipes build in seconds). Set
  ``LM_GYM_TEST_CACHE=<folder>`` to reuse a cache across sessions, e.g. for the slow tests
  that build the default recipes (minutes).
* **The tiny LM** (``tiny_lm_dir``, ``tiny_lm``): one GPT-2 built by
  :func:`support.train_tiny_lm`, shared by the whole session.
* **The agent toys** (``toys``): see ``tests/toys.py``.
* **Read-only folders** (``make_read_only``), for the errors of an unwritable cache or output.

Shared constants and builders live in ``tests/support.py`` (import them as ``support``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

torch.set_num_threads(1)

_CACHE = os.environ.get("LM_GYM_TEST_CACHE") or tempfile.mkdtemp(prefix="lm_gym-test-cache-")
os.environ["LM_GYM_CACHE"] = _CACHE  # set at import: subprocesses of the tests inherit it


def pytest_sessionfinish(session, exitstatus) -> None:
    """Delete the temporary cache (a cache given by ``LM_GYM_TEST_CACHE`` is kept)."""
    if not os.environ.get("LM_GYM_TEST_CACHE"):
        shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """Folder of a tiny trained GPT-2 (2 layers, 32 dims) and its tokenizer (save_pretrained)."""
    from support import english_sentences, train_tiny_lm

    model, tokenizer = train_tiny_lm(english_sentences(400), architecture="gpt2")
    folder = tmp_path_factory.mktemp("tiny_lm")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_lm(tiny_lm_dir: Path):
    """``(model, tokenizer)`` loaded from :func:`tiny_lm_dir`, model in eval mode on CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    return model, AutoTokenizer.from_pretrained(tiny_lm_dir)


@pytest.fixture(scope="session")
def toys() -> ModuleType:
    """The toy tokenizer, tiny LMs and toy envs of ``tests/toys.py``."""
    import toys as module

    return module


@pytest.fixture
def make_read_only() -> Callable[[Path], Path]:
    """A function making a folder (created if missing) read-only until the test ends.

    Root ignores permissions, so as root the folder is made immutable (``chattr +i``); the
    test is skipped where that is not allowed either.
    """
    undo: list[list[str]] = []

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
                pytest.skip("running as root without chattr +i: no way to make a folder read-only")
            undo.append(["chattr", "-i", str(folder)])
        else:
            folder.chmod(0o555)
            undo.append(["chmod", "755", str(folder)])
        return folder

    yield make
    for command in undo:
        subprocess.run(command, check=True)
