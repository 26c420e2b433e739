"""Offline recipes: deterministic builds, cache keys, and the quality of the defaults."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lm_gym.models.building import VERSIONED_PACKAGES, build_environment, build_recipe
from lm_gym.models.recipes import RECIPES, cache_key, recipe_corpus
from lm_gym.rewards import build_reward_recipe
from lm_gym.utils.cache import is_valid_entry, read_metadata

PINNED = json.loads(Path(__file__).with_name("micro_weights.json").read_text())
"""SHA-256 of each micro recipe's weights, and the library versions they were built with."""


def _sha256(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_micro_build_is_deterministic(tmp_path, monkeypatch):
    weights = []
    for run in ("a", "b"):
        monkeypatch.setenv("LM_GYM_CACHE", str(tmp_path / run))
        folder = build_recipe("parent-it-micro", progress=False)
        assert is_valid_entry(folder)
        assert read_metadata(folder)["recipe"]["name"] == "parent-it-micro"
        weights.append((folder / "model.safetensors").read_bytes())
    assert weights[0] == weights[1]


def test_cache_key_depends_on_recipe_and_corpus():
    recipe = RECIPES["baby-en-micro"]
    corpus = recipe_corpus(recipe)
    assert cache_key(recipe, corpus) == cache_key(recipe, list(corpus))
    assert cache_key(recipe, corpus) != cache_key(dataclasses.replace(recipe, seed=1), corpus)
    assert cache_key(recipe, corpus) != cache_key(recipe, corpus[:-1])


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(KeyError, match="baby-en"):
        build_recipe("baby-xx")


def test_default_and_micro_tokenizers_differ_between_languages():
    from lm_gym.models.loading import load_model

    baby = load_model("baby-en-micro", device="cpu").tokenizer
    parent = load_model("parent-it-micro", device="cpu").tokenizer
    assert baby.get_vocab() != parent.get_vocab()
    text = "Il cane corre nel giardino."
    assert baby(text)["input_ids"] != parent(text)["input_ids"]
    assert torch.tensor(baby(text)["input_ids"]).max() < len(baby)


def test_micro_weights_match_their_pinned_hashes():
    """A change that alters any build shows here (regenerate micro_weights.json on purpose)."""
    here = build_environment()
    pinned = PINNED["build_environment"]
    differ = [name for name in VERSIONED_PACKAGES if here[name] != pinned[name]]
    if differ:
        pytest.skip(f"hashes were pinned with other versions of {differ}: {pinned}")
    assert here["torch_threads"] == pinned["torch_threads"]
    for name, digest in PINNED["sha256"].items():
        build = build_reward_recipe if name.startswith("reward") else build_recipe
        assert _sha256(build(name, progress=False)) == digest, name


def test_build_weights_do_not_depend_on_the_callers_threads(tmp_path):
    """A build in a process running 2 torch threads equals this (1-thread) process's build."""
    code = (
        "import torch; torch.set_num_threads(2)\n"
        "from lm_gym.models.building import build_recipe\n"
        "print(build_recipe('baby-en-micro', progress=False))"
    )
    env = {**os.environ, "LM_GYM_CACHE": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    two_threads = Path(result.stdout.strip().splitlines()[-1])
    assert torch.get_num_threads() == 1
    assert _sha256(two_threads) == _sha256(build_recipe("baby-en-micro", progress=False))
    metadata = read_metadata(two_threads)["build_environment"]
    assert metadata["torch_threads"] == "1" and metadata["torch"] == torch.__version__
