"""Building models: the GPT-2 and OPT configurations lm_gym uses, and offline recipe builds.

Three places make a fresh transformer: the offline recipes (:mod:`lm_gym.models.recipes`), reward
models trained from scratch (:mod:`lm_gym.rewards.training`) and the teacher envs' students
exported to Hugging Face (:mod:`lm_gym.envs.students`). All of them build through
:func:`gpt2_config` / :func:`opt_config`, so every lm_gym model has the same conventions: no
dropout (training is deterministic given the seed) and the tokenizer's special ids in the config.

:func:`build_recipe` returns the cache folder of a language-model recipe, training it first if
needed (the cache entry is written atomically, see :mod:`lm_gym.utils.cache`). Reward-model
recipes are built by :func:`lm_gym.rewards.training.build_reward_recipe`, which starts from a
language-model recipe built here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM

from lm_gym.models.clm import train_clm
from lm_gym.models.recipes import RECIPES, Recipe, RewardRecipe, cache_key, recipe_corpus
from lm_gym.models.tokenization import train_sentencepiece_tokenizer
from lm_gym.utils.cache import cache_root, get_or_build, is_valid_entry
from lm_gym.utils.device import torch_threads
from lm_gym.version import __version__

BUILD_THREADS = 1
"""Torch threads of every recipe build. Float32 reductions are split across threads, so the
thread count changes the trained weights (measured: ``baby-en-micro`` and ``storyteller-micro``
built with 1 and with 2 threads differ); pinned, a build gives the same weights on any machine
with the same library versions. ``lm-gym prepare`` runs independent builds in parallel
processes instead."""

Progress = bool | Callable[[int], object]
"""How a build reports its training steps: a bar (``True``), nothing, or a function."""

VERSIONED_PACKAGES = ("torch", "transformers", "tokenizers", "sentencepiece", "numpy")
"""Libraries whose versions are recorded in every build's manifest (they decide the weights)."""


def build_environment() -> dict[str, str]:
    """What a build's weights depend on besides the recipe: library versions, threads."""
    import importlib.metadata
    import platform

    versions = {name: importlib.metadata.version(name) for name in VERSIONED_PACKAGES}
    return {
        "lm_gym": __version__,
        "python": platform.python_version(),
        **versions,
        "torch_threads": str(BUILD_THREADS),
    }


def special_token_ids(tokenizer: Any) -> dict[str, Any]:
    """The tokenizer's vocabulary size and pad / BOS / EOS ids, as config keywords."""
    return {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def gpt2_config(
    *, n_embd: int, n_layer: int, n_head: int, n_positions: int, **overrides: Any
) -> GPT2Config:
    """A GPT-2 configuration without dropout; ``overrides`` add or replace any field
    (``vocab_size`` and the special ids, ``num_labels``, ``tie_word_embeddings``, ...)."""
    return GPT2Config(
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        n_positions=n_positions,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **overrides,
    )


def opt_config(
    *, hidden_size: int, num_layers: int, num_heads: int, max_positions: int, **overrides: Any
) -> OPTConfig:
    """An OPT configuration without dropout, its feed-forward 4x the hidden size."""
    return OPTConfig(
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        ffn_dim=4 * hidden_size,
        word_embed_proj_dim=hidden_size,
        max_position_embeddings=max_positions,
        dropout=0.0,
        attention_dropout=0.0,
        **overrides,
    )


def new_recipe_model(recipe: Recipe, tokenizer: Any) -> torch.nn.Module:
    """A freshly initialised causal LM of ``recipe``'s architecture and size."""
    ids = special_token_ids(tokenizer)
    if recipe.architecture == "opt":
        return OPTForCausalLM(
            opt_config(
                hidden_size=recipe.n_embd,
                num_layers=recipe.n_layer,
                num_heads=recipe.n_head,
                max_positions=recipe.max_positions,
                **ids,
            )
        )
    if recipe.architecture == "gpt2":
        return GPT2LMHeadModel(
            gpt2_config(
                n_embd=recipe.n_embd,
                n_layer=recipe.n_layer,
                n_head=recipe.n_head,
                n_positions=recipe.max_positions,
                **ids,
            )
        )
    raise ValueError(f"recipe {recipe.name!r}: unknown architecture {recipe.architecture!r}")


def _build(recipe: Recipe, corpus: list[str], folder: Path, progress: Progress) -> dict:
    with torch_threads(BUILD_THREADS):
        return _train_recipe(recipe, corpus, folder, progress)


def _train_recipe(recipe: Recipe, corpus: list[str], folder: Path, progress: Progress) -> dict:
    start = time.perf_counter()
    torch.manual_seed(recipe.seed)
    tokenizer = train_sentencepiece_tokenizer(corpus, recipe.vocab_size, seed=recipe.seed)
    model = new_recipe_model(recipe, tokenizer)
    # Recipes are built on the CPU in float32 so the cached weights are the same everywhere.
    losses = train_clm(
        model,
        tokenizer,
        corpus,
        steps=recipe.train_steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        max_length=recipe.max_positions,
        seed=recipe.seed,
        progress=progress if callable(progress) else progress and f"building {recipe.name}",
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "recipe": dataclasses.asdict(recipe),
        "lm_gym_version": __version__,
        "build_environment": build_environment(),
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
        "build_seconds": round(time.perf_counter() - start, 1),
    }


_RESOLVED: dict[tuple[str, Path], Path] = {}
"""Entries already resolved in this process, so the corpus is not regenerated per load."""


def recipe_entry(name: str, key: str) -> Path:
    """The cache folder of recipe ``name`` with cache key ``key``."""
    return cache_root() / "models" / f"{name}-{key}"


def build_recipe(name: str, *, progress: Progress = True) -> Path:
    """Return the cache folder of language-model recipe ``name``, training it first if needed.

    ``progress``: show a bar, or a function called with 1 after every training step.

    Raises:
        KeyError: for an unknown recipe (the message lists the known ones).
        ValueError: for a reward-model recipe (build those with
            :func:`lm_gym.rewards.training.build_reward_recipe`).
    """
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[name]
    if isinstance(recipe, RewardRecipe):
        raise ValueError(
            f"{name!r} is a reward-model recipe: load it with lm_gym.rewards.load_reward_model "
            "(or build it with lm_gym.rewards.build_reward_recipe)"
        )
    known = _RESOLVED.get((name, cache_root()))
    if known is not None and is_valid_entry(known):
        return known
    corpus = recipe_corpus(recipe)
    entry = recipe_entry(name, cache_key(recipe, corpus))
    built = get_or_build(entry, lambda folder: _build(recipe, corpus, folder, progress))
    _RESOLVED[(name, cache_root())] = built
    return built
