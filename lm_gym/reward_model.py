"""Reward models: a small LM with a scalar head, trained on preferences with Bradley-Terry.

In BabyStories (Zhao et al. 2023) PPO fine-tunes a storyteller against a reward model trained on
human preferences over story continuations. Here a reward model is any Hugging Face
``AutoModelForSequenceClassification`` with ``num_labels=1`` (by default a small GPT-2 whose
score is read at the last real token) and its tokenizer. It scores ``prompt + " " +
continuation`` as one text, framed as ``<s> text </s>``, and is trained with the Bradley-Terry
pairwise loss ``-log sigmoid(r(chosen) - r(rejected))``, so only differences of scores within
one prompt carry meaning. It saves and loads with ``save_pretrained``. lm_gym's own reward
models average the scalar head over all tokens instead of reading the last one (the pooling is
recorded in the model's config, see :attr:`RewardModelConfig.pooling`); models from elsewhere
are read at the last token, as Hugging Face does.

* :func:`train_reward_model` trains one on any :class:`~lm_gym.preferences.PreferencePair` list
  (from scratch with its own SentencePiece tokenizer, or from a local pretrained folder);
  :func:`train_reward_model_cli` is the ``lm-gym train-reward-model`` command.
* :func:`build_reward_model` builds the offline default recipes (``reward-stories`` and
  ``reward-stories-micro``) from built-in story preferences, and records their held-out pairwise
  accuracy, per corruption type, in the cache manifest.
* :class:`RewardModelReward` is the reward callable ``f(prompts, completions, **kw)`` the
  BabyStories environments use (also usable as a TRL ``reward_funcs`` entry).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    GPT2Config,
    GPT2ForSequenceClassification,
    PreTrainedModel,
)
from transformers.utils import logging as transformers_logging

from lm_gym.clm import SentenceBatches, encode_sentences
from lm_gym.corpora.stories import Story, generate_stories
from lm_gym.device import autocast
from lm_gym.models import LM, ModelLoadError, load_model
from lm_gym.preferences import (
    PreferencePair,
    load_preferences,
    make_cut_short_pairs,
    make_preference_pairs,
)
from lm_gym.tokenization import train_sentencepiece_tokenizer

if TYPE_CHECKING:
    from collections.abc import Callable

    from lm_gym.recipes import Recipe, RewardRecipe

HELDOUT_SEED_OFFSET = 7_919
"""Held-out story preferences use the recipe's seed plus this offset (never trained on)."""

POOLINGS = ("mean", "last")
"""How token scores become a text's score: see :attr:`RewardModelConfig.pooling`."""

POOLING_KEY = "lm_gym_score_pooling"
"""The model-config attribute that records the pooling (saved with ``save_pretrained``)."""


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

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")


def join_text(prompt: str, continuation: str) -> str:
    """The text a reward model scores: the prompt and its continuation, one space between."""
    return f"{prompt.strip()} {continuation.strip()}".strip()


def new_reward_model(tokenizer, config: RewardModelConfig) -> GPT2ForSequenceClassification:
    """A freshly initialised GPT-2 with a scalar head, sized by ``config``."""
    torch.manual_seed(config.seed)
    return GPT2ForSequenceClassification(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=config.max_length,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            num_labels=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
        )
    )


def _max_length(model: PreTrainedModel) -> int:
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def pooling_of(model: PreTrainedModel) -> str:
    """How ``model`` turns token scores into a text's score (saved in its config).

    ``"last"`` (Hugging Face's own, for any model that does not say) or ``"mean"``.
    """
    pooling = getattr(model.config, POOLING_KEY, "last")
    if pooling not in POOLINGS:
        raise ModelLoadError(f"{POOLING_KEY} must be one of {POOLINGS}, got {pooling!r}")
    if pooling == "mean" and not isinstance(getattr(model, "score", None), nn.Module):
        raise ModelLoadError(
            f"{POOLING_KEY}='mean' needs a per-token 'score' head, which "
            f"{type(model).__name__} does not have"
        )
    return pooling


def _scores(model: PreTrainedModel, tokenizer, texts: Sequence[str], max_length: int):
    device = next(model.parameters()).device
    input_ids, attention_mask = encode_sentences(tokenizer, texts, max_length)
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    with autocast(device):
        if pooling_of(model) == "last":
            return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0].float()
        hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
        token_scores = model.score(hidden)[..., 0].float()
    mask = attention_mask.float()
    return (token_scores * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@torch.no_grad()
def score_texts(
    model: PreTrainedModel,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int | None = None,
) -> list[float]:
    """Reward-model scores of ``texts`` (batched by length; finite: NaN becomes 0).

    Args:
        max_length: longest input in tokens; defaults to the model's position limit.
    """
    limit = max_length or _max_length(model)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    scores = [0.0] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        values = _scores(model, tokenizer, [texts[i] for i in chunk], limit)
        values = torch.nan_to_num(values, nan=0.0, posinf=1e4, neginf=-1e4)
        for i, value in zip(chunk, values.tolist()):
            scores[i] = value
    return scores


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Mean ``-log sigmoid(chosen - rejected)`` over the pairs."""
    return -nn.functional.logsigmoid(chosen - rejected).mean()


def _check_pairs(pairs: Sequence[PreferencePair]) -> None:
    if not pairs:
        raise ValueError("cannot train a reward model on an empty list of pairs")
    wrong = next((p for p in pairs if not isinstance(p, PreferencePair)), None)
    if wrong is not None:
        raise TypeError(f"pairs must be PreferencePair objects, got {type(wrong).__name__}")


def fit_reward_model(
    model: PreTrainedModel,
    tokenizer,
    pairs: Sequence[PreferencePair],
    config: RewardModelConfig,
    *,
    progress: bool | str = True,
) -> list[float]:
    """Train ``model`` in place with the Bradley-Terry loss; return the loss of every step."""
    _check_pairs(pairs)
    limit = min(config.max_length, _max_length(model))
    torch.manual_seed(config.seed)
    stream = SentenceBatches(pairs, config.batch_size, config.seed)  # batches of pairs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)

    def factor(step: int) -> float:
        ramp = min(1.0, (step + 1) / max(1, config.warmup))
        return ramp * 0.5 * (1 + math.cos(math.pi * min(step, config.steps) / config.steps))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    losses: list[float] = []
    bar = tqdm(
        range(config.steps),
        desc=progress if isinstance(progress, str) else "training reward model",
        disable=not progress,
        leave=False,
    )
    for _ in bar:
        batch = stream.next_batch()
        texts = [join_text(p.prompt, p.chosen) for p in batch]
        texts += [join_text(p.prompt, p.rejected) for p in batch]
        scores = _scores(model, tokenizer, texts, limit)
        loss = bradley_terry_loss(scores[: len(batch)], scores[len(batch) :])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    model.eval()
    return losses


def train_reward_model(
    pairs: Sequence[PreferencePair],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    base: str | os.PathLike[str] | None = None,
    config: RewardModelConfig | None = None,
    progress: bool | str = True,
) -> LM:
    """Train a reward model on preference pairs, and save it to ``out_dir`` if given.

    Args:
        pairs: the judgements (see :mod:`lm_gym.preferences` for reading them from files).
        out_dir: folder to ``save_pretrained`` the model and tokenizer into.
        base: ``None`` trains a GPT-2 from scratch (``config`` sizes it) with a SentencePiece
            tokenizer fitted on the pairs' texts; otherwise a local folder or Hugging Face id
            of a pretrained model (and tokenizer) that gets a fresh scalar head.
        config: architecture and training settings (defaults: :class:`RewardModelConfig`).

    Returns:
        The trained model and its tokenizer, on the CPU, in eval mode.
    """
    config = config or RewardModelConfig()
    _check_pairs(pairs)
    if out_dir is not None and not isinstance(out_dir, str | os.PathLike):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    if base is None:
        texts = sorted({join_text(p.prompt, t) for p in pairs for t in (p.chosen, p.rejected)})
        tokenizer = train_sentencepiece_tokenizer(texts, config.vocab_size, seed=config.seed)
        model = new_reward_model(tokenizer, config)
    else:
        torch.manual_seed(config.seed)  # seeds the new scalar head
        model, tokenizer = _from_pretrained(base, new_head=True)
    setattr(model.config, POOLING_KEY, config.pooling)
    pooling_of(model)  # a mean-pooled model needs a per-token head: fail before training
    fit_reward_model(model, tokenizer, pairs, config, progress=progress)
    if out_dir is not None:
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return LM(model, tokenizer)


def pairwise_accuracy(
    reward: Callable[..., list[float]], pairs: Sequence[PreferencePair]
) -> dict[str, Any]:
    """Share of pairs whose chosen continuation gets the higher reward (ties count as wrong).

    Args:
        reward: any reward callable ``f(prompts, completions) -> list[float]``.

    Returns:
        ``{"accuracy", "n", "by_corruption": {label: {"accuracy", "n"}}}``.
    """
    _check_pairs(pairs)
    prompts = [p.prompt for p in pairs]
    chosen = np.asarray(reward(prompts, [p.chosen for p in pairs]))
    rejected = np.asarray(reward(prompts, [p.rejected for p in pairs]))
    correct = chosen > rejected
    labels = np.asarray([p.corruption or "unlabelled" for p in pairs])
    return {
        "accuracy": float(correct.mean()),
        "n": len(pairs),
        "by_corruption": {
            label: {
                "accuracy": float(correct[labels == label].mean()),
                "n": int(sum(labels == label)),
            }
            for label in sorted(set(labels.tolist()))
        },
    }


def _heldout_stories(recipe: Recipe, n_stories: int) -> list[Story]:
    trained = {s.text for s in generate_stories(recipe.corpus_size, recipe.seed)}
    seed = recipe.seed + HELDOUT_SEED_OFFSET
    return [s for s in generate_stories(n_stories, seed) if s.text not in trained]


def heldout_story_preferences(recipe: Recipe, n_stories: int = 400) -> list[PreferencePair]:
    """Built-in preferences (the four corruptions) from stories the recipe never trained on
    (a different seed)."""
    stories = _heldout_stories(recipe, n_stories)
    return make_preference_pairs(stories, seed=recipe.seed + HELDOUT_SEED_OFFSET)


def heldout_cut_short_pairs(recipe: Recipe, n_stories: int = 400) -> list[PreferencePair]:
    """Cut-short pairs (:func:`~lm_gym.preferences.make_cut_short_pairs`) from the same held-out
    stories as :func:`heldout_story_preferences`: does the model prefer a real continuation to
    stopping early?"""
    stories = _heldout_stories(recipe, n_stories)
    return make_cut_short_pairs(stories, seed=recipe.seed + HELDOUT_SEED_OFFSET)


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
    )


def build_reward_model(
    folder: Path, recipe: RewardRecipe, *, base: Path | None = None, progress: bool = True
) -> dict:
    """Build a reward-model recipe into ``folder``; the cache's ``build`` callback.

    The model starts from ``base`` (the folder of the recipe's base storyteller) with a new
    scalar head, or from scratch when ``base`` is ``None``, and is trained on built-in
    preferences: one pair from each of ``recipe.corpus_size`` fresh stories (seed
    ``recipe.seed``), so no true story is seen twice and the model cannot learn the stories
    by heart instead of what the corruptions break. The first ``recipe.cut_short`` share of
    the stories gives a cut-short pair (the augmentation that teaches that stopping early is
    worse than a real continuation), the others one corruption each.

    Returns:
        The manifest metadata, with the held-out pairwise accuracy per corruption type and on
        held-out cut-short pairs.
    """
    import lm_gym

    start = time.perf_counter()
    stories = generate_stories(recipe.corpus_size, recipe.seed)
    n_cut = round(recipe.cut_short * len(stories))
    pairs = make_cut_short_pairs(stories[:n_cut], seed=recipe.seed)
    pairs += make_preference_pairs(stories[n_cut:], seed=recipe.seed, per_story=1)
    model, tokenizer = train_reward_model(
        pairs,
        folder,
        base=base,
        config=recipe_config(recipe),
        progress=f"building {recipe.name}" if progress else False,
    )
    reward = RewardModelReward(LM(model, tokenizer), device="cpu")
    return {
        "recipe": dataclasses.asdict(recipe),
        "lm_gym_version": lm_gym.__version__,
        "train_pairs": len(pairs),
        "train_cut_short_pairs": n_cut,
        "heldout_accuracy": pairwise_accuracy(reward, heldout_story_preferences(recipe)),
        "heldout_cut_short_accuracy": pairwise_accuracy(reward, heldout_cut_short_pairs(recipe)),
        "build_seconds": round(time.perf_counter() - start, 1),
    }


@contextlib.contextmanager
def _quiet_transformers(quiet: bool) -> Iterator[None]:
    """Silence transformers' warnings (e.g. its load report) inside the block when ``quiet``."""
    if not quiet:
        yield
        return
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)


def _from_pretrained(source: str | os.PathLike[str], *, new_head: bool = False) -> LM:
    """Load a sequence-classification model with one label and its tokenizer.

    Args:
        new_head: accept any pretrained model and give it a fresh scalar head (to train a
            reward model from it); otherwise the model must already be a reward model.
    """
    try:
        if not new_head:
            architectures = AutoConfig.from_pretrained(source).architectures or []
            if not any(a.endswith("ForSequenceClassification") for a in architectures):
                raise ModelLoadError(
                    f"{source} is not a reward model (architectures: {architectures}); "
                    "train one from it with train_reward_model(pairs, out_dir, base=...)"
                )
        with _quiet_transformers(new_head):  # a fresh head is expected: no "MISSING" report
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=1, **({"ignore_mismatched_sizes": True} if new_head else {})
            )
        tokenizer = AutoTokenizer.from_pretrained(source)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise ModelLoadError(f"could not load a reward model from {source}: {error}") from error
    if model.config.num_labels != 1:
        raise ModelLoadError(
            f"{source} has {model.config.num_labels} output labels; a reward model has 1"
        )
    if not new_head:
        pooling_of(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return LM(model, tokenizer)


@lru_cache(maxsize=8)
def _load_named(spec: str, device: str) -> LM:
    """Load a reward model by name or folder once per process and device."""
    from lm_gym.recipes import RECIPES, build_recipe

    if spec in RECIPES:
        return load_model(_from_pretrained(build_recipe(spec)), device=device)
    path = Path(spec).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} is not a model folder written by save_pretrained")
    if not path.exists() and (path.is_absolute() or spec.startswith((".", "~"))):
        raise ModelLoadError(f"reward model folder {path} does not exist")
    return load_model(_from_pretrained(path if path.exists() else spec), device=device)


def load_reward_model(
    spec: str | os.PathLike[str] | PreTrainedModel | LM | tuple,
    *,
    tokenizer: Any = None,
    device: str | torch.device | None = None,
) -> LM:
    """Turn a spec into a reward model (scalar head) and its tokenizer, in eval mode.

    Args:
        spec: a reward-model recipe name (``"reward-stories"``), a local ``save_pretrained``
            folder or Hugging Face id of a sequence-classification model with one label, an
            in-memory model (with ``tokenizer``), an ``LM`` or a ``(model, tokenizer)`` tuple.
            Names and folders are loaded once per process and device.
        device: where to put it (default :func:`lm_gym.device.default_device`).
    """
    if isinstance(spec, str | os.PathLike) and tokenizer is None:
        if not os.fspath(spec):
            raise ModelLoadError("empty reward model spec")
        from lm_gym.device import resolve_device

        return _load_named(os.fspath(spec), str(resolve_device(device)))
    if isinstance(spec, str | os.PathLike):
        model, _ = _from_pretrained(spec)
        spec = model
    lm = load_model(spec, tokenizer=tokenizer, device=device)
    if getattr(lm.model.config, "num_labels", 1) != 1:
        raise ModelLoadError("a reward model must have exactly one output label (num_labels=1)")
    pooling_of(lm.model)
    if lm.model.config.pad_token_id is None:
        lm.model.config.pad_token_id = lm.tokenizer.pad_token_id
    return lm


class RewardModelReward:
    """Reward callable: the reward model's score of each prompt + completion.

    ``reward(prompts, completions, **kwargs) -> list[float]``, the shape of TRL's reward
    functions (extra keyword arguments such as ``completion_ids`` are ignored). Scores are
    always finite. The model is loaded when the callable is made, once per process for a name
    or folder.

    Args:
        model: any spec :func:`load_reward_model` accepts (default: the offline
            ``reward-stories`` recipe).
        tokenizer: the tokenizer of an in-memory model.
        device: where to run the model.
        batch_size: texts per forward pass.
    """

    __name__ = "reward_model"

    def __init__(
        self,
        model: Any = "reward-stories",
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        batch_size: int = 64,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model, self.tokenizer = load_reward_model(model, tokenizer=tokenizer, device=device)
        self.batch_size = batch_size

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], **kwargs: Any
    ) -> list[float]:
        """Score ``prompt + " " + completion`` for each pair of the two lists."""
        if len(prompts) != len(completions):
            raise ValueError(f"got {len(prompts)} prompts but {len(completions)} completions")
        for name, texts in (("prompts", prompts), ("completions", completions)):
            bad = next((t for t in texts if not isinstance(t, str)), None)
            if bad is not None:
                raise TypeError(f"{name} must be strings, got {type(bad).__name__}")
        if not prompts:
            return []
        texts = [join_text(p, c) for p, c in zip(prompts, completions)]
        return score_texts(self.model, self.tokenizer, texts, batch_size=self.batch_size)


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

    The file holds pairs and/or BWS tuples (schema in :mod:`lm_gym.preferences`); it is fully
    validated before training starts. A tenth of the pairs (at least one, when there are ten or
    more) is held out to report pairwise accuracy.

    Args:
        data: the JSONL file.
        out: the folder to save the model and tokenizer into.
        base: an offline recipe name (``storyteller-small``), a pretrained model folder or an
            id to start from (default: a new small GPT-2).
        steps: optimiser steps (default: ``config.steps``).
        seed: seeds the held-out split, initialisation and batches.
        config: model and training settings (default :class:`RewardModelConfig`).

    Returns:
        ``{"out", "train_pairs", "heldout": pairwise_accuracy(...) or None}``.

    Raises:
        CorpusError: a malformed line (nothing is trained or written).
        ValueError: ``steps`` is not a positive integer.
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    pairs = load_preferences(data)
    if base is not None:
        from lm_gym.recipes import RECIPES, build_recipe

        base = build_recipe(base) if base in RECIPES else base
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_heldout = len(pairs) // 10
    heldout = [pairs[i] for i in order[:n_heldout]]
    train = [pairs[i] for i in order[n_heldout:]]
    config = dataclasses.replace(
        config or RewardModelConfig(), seed=seed, **({"steps": steps} if steps else {})
    )
    model, tokenizer = train_reward_model(train, out, base=base, config=config)
    reward = RewardModelReward(LM(model, tokenizer))
    return {
        "out": str(out),
        "train_pairs": len(train),
        "heldout": pairwise_accuracy(reward, heldout) if heldout else None,
    }
