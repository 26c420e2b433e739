"""Fixtures of the agent tests: the toy models and envs of ``agent_toys.py``.

Tests run with ``--import-mode=importlib``, so helper modules are not importable by name; the
``toys`` fixture loads ``agent_toys.py`` from its path (subprocess scripts do the same).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

TOYS_PATH = Path(__file__).with_name("agent_toys.py")


def load_toys() -> ModuleType:
    """Import ``agent_toys.py`` by path."""
    spec = importlib.util.spec_from_file_location("agent_toys", TOYS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def toys() -> ModuleType:
    """The toy tokenizer, tiny LMs and toy envs (see ``agent_toys.py``)."""
    return load_toys()


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """Run the agent tests on one torch thread.

    The models here are tiny, so a second thread buys nothing, and on a shared 2-core machine
    two threads per process made these tests an order of magnitude slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
