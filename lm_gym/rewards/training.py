"""Training reward models with the Bradley-Terry pairwise loss, and the offline recipes.

The loss is ``-log sigmoid(r(chosen) - r(rejected))`` over preference pairs (see
:mod:`lm_gym.rewards.reward_model` for what a reward model is and how it scores).

* :func:`train_reward_model` trains one on any
  :class:`~lm_gym.rewards.preferences.PreferencePair` list (from scratch with its own
  SentencePiece tokenizer, or from a pretrained folder);
  :func:`train_reward_model_cli` is the ``lm-gym train-reward-model`` command.
* :func:`build_reward_model` builds the offline default recipes (``reward-stories`` and
  ``reward-stories-micro``) from built-in story preferences, and records their held-out pairwise
  accuracy, per corruption type, in the cache manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import GPT2ForSequenceClassification, PreTrainedModel

from lm_gym.corpora.stories import Story, generate_stories
from lm_gym.models.building import (
    BUILD_THREADS,
    build_environment,
    build_recipe,
    gpt2_config,
    recipe_entry,
    special_token_ids,
)
from lm_gym.models.clm import (
    SentenceBatches,
    optimizer_step,
    progress_bar,
    warmup_cosine_schedule,
)
from lm_gym.models.loading import LM, ModelLoadError
from lm_gym.models.recipes import RECIPES, Recipe, RewardRecipe, cache_key, recipe_corpus
from lm_gym.models.tokenization import train_sentencepiece_tokenizer
from lm_gym.rewards.preference_files import load_preferences
from lm_gym.rewards.preferences import (
    PreferencePair,
    make_cut_short_pairs,
    make_garbled_pairs,
    make_preference_pairs,
    pairs_by_corruption,
    split_by_prompt,
)
from lm_gym.rewards.reward_scores import (
    POOLING_KEY,
    POOLINGS,
    check_pairs,
    forward_scores,
    from_pretrained,
    join_text,
    max_length_of,
    pairwise_accuracy,
    pooling_of,
    score_continuations,
)
from lm_gym.utils.cache import get_or_build
from lm_gym.utils.device import torch_threads
from lm_gym.utils.validation import check_optional_int
from lm_gym.version import __version__

HELDOUT_SEED_OFFSET = 7_919
"""Held-out story preferences use the recipe's seed plus this offset (never trained on)."""


@dataclass(frozen=True)
class RewardModelConfig:
    """Architecture (for a model trained from scratch) and training of a reward model."""

    n_layer: int = 2
    """Transformer layers."""
    n_embd: int = 128
    """Hidden size."""
    n_head: int = 4
    """Attention heads."""
    vocab_size: int = 800
    """SentencePiece vocabulary size of a tokenizer trained on the preference texts."""
    max_length: int = 256
    """Longest ``<s> prompt continuation </s>`` in tokens (longer texts are cut)."""
    steps: int = 600
    """Optimiser steps."""
    batch_size: int = 32
    """Pairs per step (each step scores twice as many texts)."""
    lr: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, then cosine decay)."""
    warmup: int = 30
    """Warm-up steps."""
    seed: int = 0
    """Seeds weight initialisation and the order of pairs."""
    pooling: str = "mean"
    """``"mean"``: the text's score is the mean of the scalar head over its tokens (each token
    sees only its prefix, so every position can flag what is wrong there, such as a name that
    does not match its pronoun); ``"last"``: the head at the last token only (Hugging Face's
    ``ForSequenceClassification`` default). The choice is saved in the model's config."""
    frozen_blocks: int | None = None
    """``None`` trains every weight; ``k`` keeps the embeddings (tokens and positions) and the
    first ``k`` transformer blocks as they are, so a reward model built on a storyteller keeps
    its reading of the language and trains only what judges it (steadier and faster)."""
    group_size: int | None = 4
    """Texts per forward pass: a step's texts are sorted by length and scored in groups of
    this many, each padded only to its own longest (the same loss up to float rounding, with
    far less padding: 36% faster per step on ``reward-stories``); ``None``: one pass over the
    whole step, padded to its longest text."""

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        check_optional_int("frozen_blocks", self.frozen_blocks, minimum=0)
        check_optional_int("group_size", self.group_size, minimum=1)


def new_reward_model(tokenizer, config: RewardModelConfig) -> GPT2ForSequenceClassification:
    """A freshly initialised GPT-2 with a scalar head, sized by ``config``."""
    torch.manual_seed(config.seed)
    return GPT2ForSequenceClassification(
        gpt2_config(
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_positions=config.max_length,
            num_labels=1,
            **special_token_ids(tokenizer),
        )
    )


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Mean ``-log sigmoid(chosen - rejected)`` over the pairs."""
    return -nn.functional.logsigmoid(chosen - rejected).mean()


def _blocks(model: PreTrainedModel) -> nn.ModuleList:
    """The transformer blocks of ``model`` (the longest ``ModuleList`` in its base model)."""
    lists = [m for m in model.base_model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no list of transformer blocks to freeze")
    return max(lists, key=len)


def frozen_parameters(model: PreTrainedModel, frozen_blocks: int | None) -> list[nn.Parameter]:
    """The weights :attr:`RewardModelConfig.frozen_blocks` keeps: every embedding table of the
    base model outside its blocks, and the first ``frozen_blocks`` blocks.

    Raises:
        ValueError: more blocks asked for than the model has (or it has none).
    """
    if frozen_blocks is None:
        return []
    blocks = _blocks(model)
    if frozen_blocks > len(blocks):
        raise ValueError(f"frozen_blocks={frozen_blocks} but the model has {len(blocks)} blocks")
    inside = {id(p) for p in blocks.parameters()}
    embeddings = [
        p
        for m in model.base_model.modules()
        if isinstance(m, nn.Embedding)
        for p in m.parameters()
        if id(p) not in inside
    ]
    return embeddings + [p for block in blocks[:frozen_blocks] for p in block.parameters()]


@contextlib.contextmanager
def _no_grad_for(parameters: Sequence[nn.Parameter]) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``parameters`` inside the block (no gradient is computed
    for frozen weights), and restore each flag after."""
    flags = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(parameters, flags):
            p.requires_grad_(flag)


def fit_reward_model(
    model: PreTrainedModel,
    tokenizer,
    pairs: Sequence[PreferencePair],
    config: RewardModelConfig,
    *,
    progress: bool | str | Callable[[int], object] = True,
) -> list[float]:
    """Train ``model`` in place with the Bradley-Terry loss; return the loss of every step.

    The weights ``config.frozen_blocks`` names are left exactly as they were. ``progress`` is
    as :func:`~lm_gym.models.clm.train_clm`'s.
    """
    check_pairs(pairs)
    limit = min(config.max_length, max_length_of(model))
    frozen = frozen_parameters(model, config.frozen_blocks)
    trained = [p for p in model.parameters() if all(p is not f for f in frozen)]
    torch.manual_seed(config.seed)
    stream = SentenceBatches(pairs, config.batch_size, config.seed)  # batches of pairs
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=0.01)
    schedule = warmup_cosine_schedule(optimizer, config.warmup, config.steps)
    model.train()
    losses: list[float] = []
    bar, on_step = progress_bar(config.steps, progress, "training reward model")
    with _no_grad_for(frozen):
        for _ in bar:
            batch = stream.next_batch()
            texts = [join_text(p.prompt, p.chosen) for p in batch]
            texts += [join_text(p.prompt, p.rejected) for p in batch]
            scores = forward_scores(model, tokenizer, texts, limit, group_size=config.group_size)
            loss = bradley_terry_loss(scores[: len(batch)], scores[len(batch) :])
            losses.append(optimizer_step(loss, optimizer, schedule, trained))
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
            on_step(1)
    model.eval()
    return losses


def train_reward_model(
    pairs: Sequence[PreferencePair],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    base: str | os.PathLike[str] | None = None,
    config: RewardModelConfig | None = None,
    progress: bool | str | Callable[[int], object] = True,
) -> LM:
    """Train a reward model on preference pairs, and save it to ``out_dir`` if given.

    Args:
        pairs: the judgements (see :mod:`lm_gym.rewards.preference_files` for reading them
            from files).
        out_dir: folder to ``save_pretrained`` the model and tokenizer into.
        base: ``None`` trains a GPT-2 from scratch (``config`` sizes it) with a SentencePiece
            tokenizer fitted on the pairs' texts; otherwise a local folder or Hugging Face id
            of a pretrained model (and tokenizer) that gets a fresh scalar head.
        config: architecture and training settings (defaults: :class:`RewardModelConfig`).

    Returns:
        The trained model and its tokenizer, on the CPU, in eval mode.
    """
    config = config or RewardModelConfig()
    check_pairs(pairs)
    if out_dir is not None and not isinstance(out_dir, str | os.PathLike):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    if base is None:
        texts = sorted({join_text(p.prompt, t) for p in pairs for t in (p.chosen, p.rejected)})
        tokenizer = train_sentencepiece_tokenizer(texts, config.vocab_size, seed=config.seed)
        model = new_reward_model(tokenizer, config)
    else:
        torch.manual_seed(config.seed)  # seeds the new scalar head
        model, tokenizer = from_pretrained(base, new_head=True)
    setattr(model.config, POOLING_KEY, config.pooling)
    pooling_of(model)  # a mean-pooled model needs a per-token head: fail before training
    fit_reward_model(model, tokenizer, pairs, config, progress=progress)
    if out_dir is not None:
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return LM(model, tokenizer)


def _heldout_stories(recipe: Recipe, n_stories: int) -> list[Story]:
    trained = {s.text for s in generate_stories(recipe.corpus_size, recipe.seed)}
    seed = recipe.seed + HELDOUT_SEED_OFFSET
    return [s for s in generate_stories(n_stories, seed) if s.text not in trained]


def heldout_story_preferences(recipe: Recipe, n_stories: int = 400) -> list[PreferencePair]:
    """Built-in preferences (the four corruptions) from stories the recipe never trained on
    (a different seed)."""
    stories = _heldout_stories(recipe, n_stories)
    return make_preference_pairs(stories, seed=recipe.seed + HELDOUT_SEED_OFFSET)


def heldout_augmentation_pairs(recipe: Recipe, n_stories: int = 400) -> list[PreferencePair]:
    """Cut-short and garbled pairs (:func:`~lm_gym.rewards.preferences.make_cut_short_pairs`,
    :func:`~lm_gym.rewards.preferences.make_garbled_pairs`) from the same held-out stories as
    :func:`heldout_story_preferences`: does the model prefer a real continuation to stopping
    early, and fluent words to broken ones? (The two ways a policy could game it.)"""
    stories = _heldout_stories(recipe, n_stories)
    seed = recipe.seed + HELDOUT_SEED_OFFSET
    return make_cut_short_pairs(stories, seed=seed) + make_garbled_pairs(stories, seed=seed)


def recipe_config(recipe: Recipe) -> RewardModelConfig:
    """The :class:`RewardModelConfig` of a reward-model recipe."""
    return RewardModelConfig(
        n_layer=recipe.n_layer,
        n_embd=recipe.n_embd,
        n_head=recipe.n_head,
        vocab_size=recipe.vocab_size,
        max_length=recipe.max_positions,
        steps=recipe.train_steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
        pooling=recipe.pooling,
        frozen_blocks=recipe.frozen_blocks,
        group_size=recipe.group_size,
    )


def build_reward_model(
    folder: Path,
    recipe: RewardRecipe,
    *,
    base: Path | None = None,
    progress: bool | Callable[[int], object] = True,
) -> dict:
    """Build a reward-model recipe into ``folder``; the cache's ``build`` callback.

    The model starts from ``base`` (the folder of the recipe's base storyteller) with a new
    scalar head, or from scratch when ``base`` is ``None``, and is trained on built-in
    preferences: one pair from each of ``recipe.corpus_size`` fresh stories (seed
    ``recipe.seed``), so no true story is seen twice and the model cannot learn the stories
    by heart instead of what the corruptions break. The first ``recipe.cut_short`` share of
    the stories gives a cut-short pair (the augmentation that teaches that stopping early is
    worse than a real continuation), the next ``recipe.garbled`` share a garbled pair (fluent
    words beat broken ones), the next ``recipe.other_ending`` share an ``other_ending`` pair,
    the others one corruption each.

    Returns:
        The manifest metadata, with the held-out pairwise accuracy per corruption type and on
        held-out cut-short and garbled pairs.
    """
    start = time.perf_counter()
    stories = generate_stories(recipe.corpus_size, recipe.seed)
    n_cut = round(recipe.cut_short * len(stories))
    n_garbled = round(recipe.garbled * len(stories))
    n_other = round(recipe.other_ending * len(stories))
    garbled_end, other_end = n_cut + n_garbled, n_cut + n_garbled + n_other
    pairs = make_cut_short_pairs(stories[:n_cut], seed=recipe.seed)
    pairs += make_garbled_pairs(stories[n_cut:garbled_end], seed=recipe.seed)
    if n_other:
        pairs += make_preference_pairs(
            stories[garbled_end:other_end], seed=recipe.seed, corruptions=("other_ending",)
        )
    pairs += make_preference_pairs(stories[other_end:], seed=recipe.seed, per_story=1)
    model, tokenizer = train_reward_model(
        pairs,
        folder,
        base=base,
        config=recipe_config(recipe),
        progress=progress if callable(progress) else progress and f"building {recipe.name}",
    )
    reward = functools.partial(score_continuations, model, tokenizer)
    return {
        "recipe": dataclasses.asdict(recipe),
        "lm_gym_version": __version__,
        "build_environment": build_environment(),
        "train_pairs": len(pairs),
        "train_pairs_by_corruption": {k: len(v) for k, v in pairs_by_corruption(pairs).items()},
        "heldout_accuracy": pairwise_accuracy(reward, heldout_story_preferences(recipe)),
        "heldout_augmentation_accuracy": pairwise_accuracy(
            reward, heldout_augmentation_pairs(recipe)
        ),
        "build_seconds": round(time.perf_counter() - start, 1),
    }


def train_reward_model_cli(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    base: str | os.PathLike[str] | None = None,
    steps: int | None = None,
    seed: int = 0,
    config: RewardModelConfig | None = None,
) -> dict[str, Any]:
    """``lm-gym train-reward-model --data FILE --out DIR``: train on a JSONL file, save, report.

    The file holds pairs and/or BWS tuples (schema in :mod:`lm_gym.rewards.preference_files`);
    it is fully validated before training starts. A tenth of the prompts (at least one, when
    there are ten or more distinct prompts) is held out with all their pairs to report pairwise
    accuracy (:func:`~lm_gym.rewards.preferences.split_by_prompt`): the pairs of a BWS tuple,
    or of any one prompt, never land on both sides.

    Args:
        data: the JSONL file.
        out: the folder to save the model and tokenizer into.
        base: an offline recipe name (``storyteller-small``), a pretrained model folder or an
            id to start from (default: a new small GPT-2).
        steps: optimiser steps (default: ``config.steps``).
        seed: seeds the held-out split, initialisation and batches.
        config: model and training settings (default :class:`RewardModelConfig`).

    Returns:
        ``{"out", "train_pairs", "train_prompts", "heldout_prompts",
        "heldout": pairwise_accuracy(...) or None}``.

    Raises:
        CorpusError: a malformed line (nothing is trained or written).
        ValueError: ``steps`` is not a positive integer.
    """
    check_optional_int("steps", steps, minimum=1)
    pairs = load_preferences(data)
    if base is not None:
        base = build_recipe(base) if base in RECIPES else base
    train, heldout = split_by_prompt(pairs, 0.1, seed=seed)
    config = dataclasses.replace(
        config or RewardModelConfig(), seed=seed, **({"steps": steps} if steps else {})
    )
    try:
        model, tokenizer = train_reward_model(train, out, base=base, config=config)
    except ModelLoadError as error:
        if base is None or os.path.exists(os.path.expanduser(base)):
            raise
        known = ", ".join(n for n in RECIPES if not isinstance(RECIPES[n], RewardRecipe))
        raise ModelLoadError(
            f"--base {str(base)!r} is not an offline recipe (known: {known}); {error}"
        ) from error
    reward = functools.partial(score_continuations, model, tokenizer)
    return {
        "out": str(out),
        "train_pairs": len(train),
        "train_prompts": len({pair.prompt for pair in train}),
        "heldout_prompts": len({pair.prompt for pair in heldout}),
        "heldout": pairwise_accuracy(reward, heldout) if heldout else None,
    }


def build_reward_recipe(name: str, *, progress: bool | Callable[[int], object] = True) -> Path:
    """Return the cache folder of reward-model recipe ``name``, building it first if needed.

    Its base storyteller recipe (if any) is built first; the reward model's cache key includes
    the base's entry, so a rebuilt base also rebuilds the reward model. ``progress``: a bar, or
    a function called with 1 per training step (see :func:`~lm_gym.models.clm.train_clm`).

    Raises:
        KeyError: for an unknown recipe; ValueError: for a language-model recipe.
    """
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[name]
    if not isinstance(recipe, RewardRecipe):
        raise ValueError(f"{name!r} is a language-model recipe: build it with build_recipe")
    base = build_recipe(recipe.base, progress=progress) if recipe.base else None
    key = cache_key(recipe, recipe_corpus(recipe), [base.name] if base else [])

    def build(folder: Path) -> dict:
        with torch_threads(BUILD_THREADS):
            return build_reward_model(folder, recipe, base=base, progress=progress)

    return get_or_build(recipe_entry(name, key), build)
