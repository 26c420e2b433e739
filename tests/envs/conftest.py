"""Fixtures for the text-generation env tests: a prompt corpus and a cheap, exact reward."""

from __future__ import annotations

import itertools

import pytest


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    """Short English sentences in the tiny LM's domain, plus two too short to give prompts."""
    subjects = ["the cat", "my friends", "a child", "the dogs"]
    verbs = ["sees", "wants", "likes"]
    objects = ["the ball today .", "some milk at home .", "the little boat ."]
    long = [" ".join(words) for words in itertools.product(subjects, verbs, objects)]
    return [*long, "hi", "."]


class LengthReward:
    """Reward = number of characters of the completion; reports the prompt length as info."""

    __name__ = "length_reward"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str], dict]] = []

    def with_info(self, prompts, completions, **kwargs):
        self.calls.append((list(prompts), list(completions), kwargs))
        return [float(len(c)) for c in completions], {"prompt_chars": [len(p) for p in prompts]}

    def __call__(self, prompts, completions, **kwargs):
        return self.with_info(prompts, completions, **kwargs)[0]


@pytest.fixture
def length_reward() -> LengthReward:
    """A fresh :class:`LengthReward` (it records its calls)."""
    return LengthReward()
