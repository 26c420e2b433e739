"""Offline model recipes: tiny LMs trained at first use on the built-in corpora.

Every environment's defaults must run with no network, so the default baby and parent models
are recipes: a tokenizer size, an architecture and a training budget on a built-in corpus.
This module is the table (data only); :func:`lm_gym.models.building.build_recipe` trains a
model at first use (with a progress bar) and caches it under ``$LM_GYM_CACHE`` keyed by
:func:`cache_key` (a hash of the recipe, its corpus text, the seed and the lm_gym version);
later calls load the cached folder. ``lm-gym prepare`` builds them all ahead of time.

The defaults mirror the BAMBINO-LM pairing at toy scale: ``baby-en`` is an OPT-style model
(like ``babylm/opt-125m-strict-small``) trained on English parentese, ``parent-it`` a
GPT-2-style model (like ``GroNLP/gpt2-small-italian``) trained on Italian parentese, each with
its own SentencePiece tokenizer. The ``-micro`` variants build in seconds for tests.

For BabyStories, ``storyteller-small`` and ``storyteller-large`` are GPT-2-style LMs of two
sizes (the paper's model-size axis) trained on generated children's stories, and
``reward-stories`` is a reward model (:class:`RewardRecipe`) that starts from
``storyteller-small`` and is trained on built-in story preferences
(:func:`lm_gym.rewards.training.build_reward_recipe`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lm_gym.corpora.parentese import generate_parentese
from lm_gym.corpora.stories import generate_story_texts
from lm_gym.version import __version__

BUILD_VERSION = 3
"""Bump whenever how a recipe is built changes (tokenizer training, architectures, training
loop, threads): it is part of the cache key, so every cached model is rebuilt with the new
code. 3: builds pin one torch thread (weights no longer depend on the machine's cores)."""


@dataclass(frozen=True)
class Recipe:
    """How to build one offline model."""

    name: str
    """Registry name, e.g. ``baby-en``."""
    description: str
    """One line for ``lm-gym list``."""
    corpus: str
    """Built-in corpus: a key of :data:`CORPORA` (``parentese-en``, ``parentese-it``,
    ``stories``)."""
    architecture: str
    """``opt`` or ``gpt2``."""
    vocab_size: int
    """SentencePiece vocabulary size (special tokens included)."""
    n_layer: int
    n_embd: int
    n_head: int
    corpus_size: int
    """Number of generated utterances (or stories) to train on."""
    train_steps: int
    batch_size: int = 32
    lr: float = 3e-3
    max_positions: int = 64
    seed: int = 0


def _parentese(lang: str) -> Callable[[int, int], list[str]]:
    def generate(n: int, seed: int) -> list[str]:
        return generate_parentese(lang, n, seed=seed)

    return generate


def _stories(n: int, seed: int) -> list[str]:
    return generate_story_texts(n, seed)


CORPORA: dict[str, Callable[[int, int], list[str]]] = {
    "parentese-en": _parentese("en"),
    "parentese-it": _parentese("it"),
    "stories": _stories,
}


@dataclass(frozen=True)
class RewardRecipe(Recipe):
    """How to build one offline reward model (a scalar-head LM, see
    :mod:`lm_gym.rewards.reward_model`).

    ``corpus_size`` counts the stories whose preference pairs it trains on; the architecture
    fields size a model trained from scratch and are ignored when ``base`` is set.
    """

    base: str | None = None
    """Recipe of the causal LM to start from (its weights and tokenizer, with a new scalar
    head), or ``None`` for a new GPT-2 with its own tokenizer."""
    pooling: str = "mean"
    """How token scores become a text's score (see
    ``lm_gym.rewards.training.RewardModelConfig.pooling``)."""
    cut_short: float = 0.0
    """Share of the stories that give a cut-short pair (the true continuation over itself
    stopped early, :func:`lm_gym.rewards.preferences.make_cut_short_pairs`) instead of a corrupted
    one, so the model does not rate stopping at once above every real continuation."""
    garbled: float = 0.0
    """Share of the stories that give a garbled pair (the true continuation over itself with a
    few broken words, :func:`lm_gym.rewards.preferences.make_garbled_pairs`), so a policy
    cannot raise its score by drifting into broken words the model never saw."""
    other_ending: float = 0.0
    """Share of the stories that give an ``other_ending`` pair whatever the draw, on top of
    that corruption's ordinary share: another story's ending reads as fluently as the true
    one, so it is the corruption a reward model separates worst."""
    frozen_blocks: int | None = None
    """Train every weight (``None``), or keep the base's embeddings and first ``k`` blocks
    (see ``lm_gym.rewards.training.RewardModelConfig.frozen_blocks``)."""
    group_size: int | None = None
    """Texts per forward pass in training, shortest first (see
    ``lm_gym.rewards.training.RewardModelConfig.group_size``); ``None``: the whole step in one
    pass, padded to its longest text."""


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "baby-en",
            "English baby LM (OPT-style, 2x128) on English parentese",
            "parentese-en",
            "opt",
            vocab_size=2000,
            n_layer=2,
            n_embd=128,
            n_head=4,
            corpus_size=40_000,
            train_steps=1200,
        ),
        Recipe(
            "parent-it",
            "Italian parent LM (GPT-2-style, 2x128) on Italian parentese",
            "parentese-it",
            "gpt2",
            vocab_size=2400,
            n_layer=2,
            n_embd=128,
            n_head=4,
            corpus_size=40_000,
            train_steps=1200,
        ),
        Recipe(
            "baby-en-micro",
            "micro English baby LM for tests (seconds to build)",
            "parentese-en",
            "opt",
            vocab_size=600,
            n_layer=1,
            n_embd=32,
            n_head=2,
            corpus_size=3_000,
            train_steps=120,
        ),
        Recipe(
            "parent-it-micro",
            "micro Italian parent LM for tests (seconds to build)",
            "parentese-it",
            "gpt2",
            vocab_size=650,
            n_layer=1,
            n_embd=64,
            n_head=2,
            corpus_size=10_000,
            train_steps=400,
        ),
    )
}


# BabyStories: two storytellers of different sizes on the same stories and budget, and the
# reward model. The sizes keep each build to a few minutes on one CPU thread.
STORY_RECIPES = (
    Recipe(
        "storyteller-small",
        "small storyteller (GPT-2-style, 2x128) on generated children's stories",
        "stories",
        "gpt2",
        vocab_size=800,
        n_layer=2,
        n_embd=128,
        n_head=4,
        corpus_size=16_000,
        train_steps=1_200,
        batch_size=16,
        max_positions=256,
    ),
    Recipe(
        "storyteller-large",
        "larger storyteller (GPT-2-style, 4x128) on the same stories and budget",
        "stories",
        "gpt2",
        vocab_size=800,
        n_layer=4,
        n_embd=128,
        n_head=4,
        corpus_size=16_000,
        train_steps=1_200,
        batch_size=16,
        max_positions=256,
    ),
    RewardRecipe(
        "reward-stories",
        "story reward model: storyteller-small + scalar head, Bradley-Terry on preferences",
        "stories",
        "gpt2",
        vocab_size=800,
        n_layer=2,
        n_embd=128,
        n_head=4,
        corpus_size=25_600,
        train_steps=3_200,
        batch_size=16,
        lr=5e-4,
        max_positions=256,
        base="storyteller-small",
        cut_short=0.125,
        garbled=0.0625,
        other_ending=0.25,
        frozen_blocks=1,
        group_size=4,
    ),
    Recipe(
        "storyteller-micro",
        "micro storyteller for tests (seconds to build)",
        "stories",
        "gpt2",
        vocab_size=400,
        n_layer=1,
        n_embd=32,
        n_head=2,
        corpus_size=600,
        train_steps=40,
        batch_size=16,
        max_positions=256,
    ),
    RewardRecipe(
        "reward-stories-micro",
        "micro story reward model for tests (seconds to build)",
        "stories",
        "gpt2",
        vocab_size=400,
        n_layer=1,
        n_embd=32,
        n_head=2,
        corpus_size=480,
        train_steps=30,
        batch_size=16,
        lr=1e-3,
        max_positions=256,
        base="storyteller-micro",
        cut_short=0.125,
        garbled=0.125,
        other_ending=0.125,
        frozen_blocks=0,
    ),
)
RECIPES.update((recipe.name, recipe) for recipe in STORY_RECIPES)


def recipe_corpus(recipe: Recipe) -> list[str]:
    """The recipe's training text (deterministic for its seed)."""
    return CORPORA[recipe.corpus](recipe.corpus_size, recipe.seed)


def cache_key(recipe: Recipe, corpus: list[str], depends_on: Sequence[str] = ()) -> str:
    """Hash of the recipe's fields, its corpus text, the build version and lm_gym's version.

    Args:
        depends_on: names of the cache entries the build starts from (a reward model's base),
            so a rebuilt base also rebuilds what was made from it.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode())
    digest.update("\n".join(corpus).encode())
    for name in depends_on:
        digest.update(f"\n{name}".encode())
    digest.update(f"{BUILD_VERSION}/{__version__}".encode())
    return digest.hexdigest()[:16]
