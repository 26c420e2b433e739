"""Offline recipes: deterministic builds, cache keys, and the quality of the defaults."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lm_gym.models.building import build_recipe
from lm_gym.models.recipes import RECIPES, cache_key, recipe_corpus
from lm_gym.utils.cache import is_valid_entry, read_metadata


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
