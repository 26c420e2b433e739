"""The default recipes are a sound start for the bilingual experiment (pinned at the level
measured when they were introduced: English 0.952, Italian 0.977, baby-en on Italian 0.521).

Builds ``baby-en`` and ``parent-it`` (minutes), so it runs with ``-m slow``; set
``LM_GYM_TEST_CACHE`` to a folder to keep the builds between sessions.
"""

from __future__ import annotations

import pytest

from lm_gym.evaluation.evaluate import evaluate_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    return {name: evaluate_model(name, device="cpu") for name in ("baby-en", "parent-it")}


def test_each_default_knows_its_own_language(results):
    assert results["baby-en"]["en"]["minimal_pairs"] >= 0.9
    assert results["parent-it"]["it"]["minimal_pairs"] >= 0.9
    for name, lang in (("baby-en", "en"), ("parent-it", "it")):
        assert min(results[name][lang]["by_phenomenon"].values()) >= 0.75, name


def test_parent_is_the_better_italian_model(results):
    assert results["parent-it"]["it"]["perplexity"] < results["baby-en"]["it"]["perplexity"] / 10


def test_baby_is_near_chance_on_italian_pairs(results):
    assert abs(results["baby-en"]["it"]["minimal_pairs"] - 0.5) <= 0.1
