"""BabyStories as environments: a storyteller continues story beginnings, a reward model judges.

``BabyStories-v0`` (token mode) and ``BabyStoriesSeq-v0`` (sequence mode) are built by the two
factories below (see :mod:`lm_gym.registration`) on
:class:`~lm_gym.envs.text_generation.TextGenerationEnv`. The setup follows Zhao et al. (2023):
the storyteller's continuation of a story beginning is scored by a reward model trained on
preferences between continuations (:mod:`lm_gym.rewards.reward_model`), and PPO with a KL penalty
fine-tunes the storyteller on that reward. Model size is the paper's experimental axis, so
the storyteller is an argument like everything else:

* ``storyteller="storyteller-small"`` (or ``"storyteller-large"``, a folder, an HF id, an
  ``LM``): the policy's model, used here for its tokenizer and vocabulary (the action space);
  the loaded handle is kept as ``env.baby`` (the attribute lm_gym agents look for) and
  ``env.storyteller``;
* ``reward_model="reward-stories"``: any spec :func:`~lm_gym.reward_model.load_reward_model`
  accepts (recipe, ``save_pretrained`` folder, in-memory model); loaded once per process;
* ``prompts``: story beginnings; by default the first sentence and the first two sentences of
  seeded generated stories, or a path (``load_texts``) or a list of strings.

Observations have a fixed width, so every prompt of one env has the same number of storyteller
tokens, ``prompt_tokens``; prompts stay whole sentences: the env keeps the beginnings whose
length is exactly ``prompt_tokens`` (default: the most common length among them) and drops
the others.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from gymnasium.vector import AutoresetMode

from lm_gym.corpora.loaders import resolve_texts
from lm_gym.corpora.stories import generate_stories
from lm_gym.envs.text_generation import TextGenerationEnv
from lm_gym.envs.text_generation_batch import MODES, Shaping
from lm_gym.envs.text_generation_vector import TextGenerationVectorEnv
from lm_gym.models.loading import LM, load_model
from lm_gym.rewards.reward_model import RewardModelReward
from lm_gym.utils.validation import check_positive_int

PROMPT_STORIES = 3_000
"""Stories generated for the default prompts."""

PROMPT_SEED = 31_337
"""Generator seed of the default prompts (no recipe trains on it)."""


@lru_cache(maxsize=1)
def default_prompts() -> tuple[str, ...]:
    """Seeded story beginnings: each story's first sentence and its first two sentences."""
    beginnings = (
        beginning
        for story in generate_stories(PROMPT_STORIES, PROMPT_SEED)
        for beginning in (story.sentences[0], " ".join(story.sentences[:2]))
    )
    return tuple(dict.fromkeys(beginnings))  # unique, in order


def resolve_prompts(prompts: str | os.PathLike | Sequence[str] | None) -> list[str]:
    """``None`` -> :func:`default_prompts`; a path -> its lines; a list of strings as is."""
    return resolve_texts(prompts, default_prompts, name="prompts", item="story beginning")


def same_length_prompts(
    tokenizer: Any, prompts: Sequence[str], prompt_tokens: int | None = None
) -> tuple[list[str], int]:
    """The prompts that are exactly ``prompt_tokens`` tokens long, and that length.

    Args:
        tokenizer: the storyteller's tokenizer.
        prompts: candidate story beginnings.
        prompt_tokens: the width; ``None`` takes the most common length (the shortest on ties).

    Raises:
        ValueError: no prompt has that length (the message lists the lengths there are).
    """
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]
    counts = Counter(lengths)
    if prompt_tokens is None:
        prompt_tokens = min(counts, key=lambda n: (-counts[n], n))
    kept = [p for p, n in zip(prompts, lengths) if n == prompt_tokens]
    if not kept:
        common = ", ".join(f"{n} ({c})" for n, c in counts.most_common(8))
        raise ValueError(
            f"no prompt is exactly prompt_tokens={prompt_tokens} tokens long; the most common "
            f"lengths (count) are {common}"
        )
    return kept, prompt_tokens


def _parts(
    storyteller: Any,
    reward_model: Any,
    prompts: Any,
    prompt_tokens: int | None,
    max_new_tokens: int,
    mode: str,
    device: str | torch.device | None,
) -> tuple[LM, list[str], int, RewardModelReward, int]:
    """Load everything a BabyStories env needs, validating the cheap arguments first."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    check_positive_int("max_new_tokens", max_new_tokens)
    if prompt_tokens is not None:
        check_positive_int("prompt_tokens", prompt_tokens)
    candidates = resolve_prompts(prompts)
    reward = RewardModelReward(reward_model, device=device)
    teller = load_model(storyteller, device=device)
    kept, width = same_length_prompts(teller.tokenizer, candidates, prompt_tokens)
    vocab = max(len(teller.tokenizer), int(getattr(teller.model.config, "vocab_size", 0) or 0))
    return teller, kept, width, reward, vocab


def make_babystories_env(
    *,
    storyteller: Any = "storyteller-small",
    reward_model: Any = "reward-stories",
    prompts: str | os.PathLike | Sequence[str] | None = None,
    prompt_tokens: int | None = None,
    max_new_tokens: int = 48,
    mode: str = "token",
    shaping: Shaping | None = None,
    device: str | torch.device | None = None,
    render_mode: str | None = None,
) -> TextGenerationEnv:
    """One BabyStories env (``BabyStories-v0`` with ``mode="token"``, ``BabyStoriesSeq-v0``
    with ``mode="sequence"``).

    Args:
        storyteller: spec of the generating model (its tokenizer defines the actions).
        reward_model: spec of the reward model scoring prompt + continuation.
        prompts: ``None`` (generated story beginnings), a path, or a list of beginnings.
        prompt_tokens: prompt width in storyteller tokens; ``None`` picks the most common.
        max_new_tokens: longest continuation in tokens.
        mode: ``"token"`` or ``"sequence"``.
        shaping: optional per-step reward, see :class:`TextGenerationEnv`.
        device: where storyteller and reward model live (``None``: lm_gym's default).
        render_mode: ``None`` or ``"ansi"``.
    """
    teller, kept, width, reward, vocab = _parts(
        storyteller, reward_model, prompts, prompt_tokens, max_new_tokens, mode, device
    )
    env = TextGenerationEnv(
        teller.tokenizer,
        kept,
        reward,
        prompt_tokens=width,
        max_new_tokens=max_new_tokens,
        mode=mode,
        vocab_size=vocab,
        shaping=shaping,
        render_mode=render_mode,
    )
    env.baby = env.storyteller = teller
    return env


def make_babystories_vector_env(
    num_envs: int = 1,
    *,
    storyteller: Any = "storyteller-small",
    reward_model: Any = "reward-stories",
    prompts: str | os.PathLike | Sequence[str] | None = None,
    prompt_tokens: int | None = None,
    max_new_tokens: int = 48,
    mode: str = "token",
    shaping: Shaping | None = None,
    device: str | torch.device | None = None,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    tensor_device: str | torch.device | None = None,
    render_mode: str | None = None,
) -> TextGenerationVectorEnv:
    """``num_envs`` BabyStories episodes in one native vector env (``gym.make_vec``).

    Arguments as :func:`make_babystories_env`, plus ``num_envs``, ``autoreset_mode`` and
    ``tensor_device`` (see :class:`TextGenerationVectorEnv`).
    """
    teller, kept, width, reward, vocab = _parts(
        storyteller, reward_model, prompts, prompt_tokens, max_new_tokens, mode, device
    )
    env = TextGenerationVectorEnv(
        teller.tokenizer,
        kept,
        reward,
        num_envs=num_envs,
        prompt_tokens=width,
        max_new_tokens=max_new_tokens,
        mode=mode,
        vocab_size=vocab,
        shaping=shaping,
        autoreset_mode=autoreset_mode,
        tensor_device=tensor_device,
        render_mode=render_mode,
    )
    env.baby = env.storyteller = teller
    return env
