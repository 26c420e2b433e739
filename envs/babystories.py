"""BabyStories as environments: a storyteller continues story beginnings, a reward model judges.

``BabyStories-v0`` (token mode) and ``BabyStoriesSeq-v0`` (sequence mode) are
:class:`BabyStoriesEnv` with ``mode="token"`` and ``mode="sequence"``; ``gym.make_vec`` builds
:class:`BabyStoriesVectorEnv` (see :mod:`lm_gym.registration`). Their keywords are the fields
of :class:`BabyStoriesConfig`. The setup follows Zhao et al. (2023): the storyteller's
continuation of a story beginning is scored by a reward model trained on preferences between
continuations (:mod:`lm_gym.rewards.reward_model`), and PPO with a KL penalty fine-tunes the
storyteller on that reward. Model size is the paper's experimental axis, so the storyteller is
an argument like everything else.

Observations have a fixed width, so every prompt of one env has the same number of storyteller
tokens, ``prompt_tokens``; prompts stay whole sentences: the env keeps the beginnings whose
length is exactly ``prompt_tokens`` (default: the most common length among them) and drops
the others (:func:`same_length_prompts`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from gymnasium.vector import AutoresetMode

from lm_gym.corpora.loaders import resolve_texts
from lm_gym.corpora.stories import generate_stories
from lm_gym.envs.text_generation import GenerationParts, TextGenerationEnv, config_from_keywords
from lm_gym.envs.text_generation_batch import MODES, Shaping, check_episode_length
from lm_gym.envs.text_generation_vector import TextGenerationVectorEnv
from lm_gym.models.loading import load_model
from lm_gym.rewards.reward_model import RewardModelReward
from lm_gym.utils.validation import check_choice, check_positive_int

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


@dataclass(frozen=True)
class BabyStoriesConfig:
    """The keywords of every BabyStories env, single and vector (the registered ids set
    ``mode``). The cheap fields are checked on construction; :meth:`build` loads the models."""

    storyteller: Any = "storyteller-small"
    """Spec of the generating model (``"storyteller-small"``, ``"storyteller-large"``, a
    folder, an HF id, an ``LM``); its tokenizer defines the actions and it is the env's
    ``generating_model``."""
    reward_model: Any = "reward-stories"
    """Any spec :func:`~lm_gym.rewards.reward_model.load_reward_model` accepts (recipe,
    ``save_pretrained`` folder, in-memory model); loaded once per process."""
    prompts: str | os.PathLike | Sequence[str] | None = None
    """Story beginnings: ``None`` (:func:`default_prompts`), a path, or a list of strings."""
    prompt_tokens: int | None = None
    """Prompt width in storyteller tokens; ``None`` picks the most common prompt length."""
    max_new_tokens: int = 48
    """Longest continuation in storyteller tokens."""
    mode: str = "token"
    """``"token"`` (one token per step) or ``"sequence"`` (the whole continuation)."""
    shaping: Shaping | None = None
    """Optional per-step reward, see :class:`~lm_gym.envs.TextGenerationEnv`."""
    device: str | torch.device | None = None
    """Where storyteller and reward model live (``None``: lm_gym's default device)."""

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_positive_int("max_new_tokens", self.max_new_tokens)
        if self.prompt_tokens is not None:
            check_positive_int("prompt_tokens", self.prompt_tokens)
        check_episode_length(self.prompt_tokens or 0, self.max_new_tokens)

    def build(self) -> GenerationParts:
        """Read the prompts, load the reward model, then the storyteller; keep the prompts of
        one width."""
        candidates = resolve_prompts(self.prompts)
        reward = RewardModelReward(self.reward_model, device=self.device)
        teller = load_model(self.storyteller, device=self.device)
        kept, width = same_length_prompts(teller.tokenizer, candidates, self.prompt_tokens)
        return GenerationParts(
            teller, kept, reward, width, self.max_new_tokens, self.mode, self.shaping
        )


class BabyStoriesEnv(TextGenerationEnv):
    """A storyteller LM continues a story beginning; a reward model scores the story.

    ## Description
    The setup of Zhao et al. (2023), offline: a storyteller (default ``storyteller-small``, a
    small GPT-2-style model trained on generated children's stories; ``storyteller-large`` is
    the larger one of the paper's size axis) continues the beginning of a story, and a reward
    model trained on preferences between continuations (default ``reward-stories``, a
    Bradley-Terry scalar head) scores prompt + continuation.

    ## Action Space
    ``mode="token"`` (``BabyStories-v0``): ``Discrete(V)``, the next storyteller token, with
    ``V`` the larger of the tokenizer's size and the model's output size.
    ``mode="sequence"`` (``BabyStoriesSeq-v0``): ``Box(0, V-1, (max_new_tokens,), int64)``, the
    whole continuation; ids after the first EOS are ignored. A bad action raises and leaves the
    env as it was.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=MultiBinary(L))``, ``L =
    prompt_tokens + max_new_tokens``: the story beginning, the tokens so far, then padding
    with mask 0.

    ## Rewards
    0 until the episode ends, then the reward model's score of ``prompt + " " +
    continuation`` (:class:`~lm_gym.rewards.reward_model.RewardModelReward`; always finite).

    ## Starting State
    A story beginning drawn uniformly, with the env's seeded generator, from the prompts that
    are exactly ``prompt_tokens`` storyteller tokens long (whole sentences: by default each
    generated story's first sentence and its first two sentences).

    ## Episode End
    Token mode: terminated at EOS, truncated after ``max_new_tokens`` tokens. Sequence mode:
    terminated after its one step. The final ``info`` holds ``prompt`` and ``completion``.

    ## Arguments
    The fields of :class:`BabyStoriesConfig`, as keywords: ``storyteller``, ``reward_model``,
    ``prompts``, ``prompt_tokens``, ``max_new_tokens``, ``mode``, ``shaping``, ``device``; and
    ``render_mode`` (``None`` or ``"ansi"``). An unknown keyword is a ``TypeError`` before any
    model loads. The loaded storyteller is the declared attribute ``generating_model`` (an
    :class:`~lm_gym.models.LM`), the config ``config``.

    ## Version History
    * v0: initial release.
    """

    def __init__(self, *, render_mode: str | None = None, **kwargs: Any) -> None:
        self.config = config_from_keywords(BabyStoriesConfig, type(self), kwargs)
        super().__init__(**self.config.build().env_arguments(), render_mode=render_mode)


class BabyStoriesVectorEnv(TextGenerationVectorEnv):
    """``num_envs`` BabyStories episodes stepped as one batch (``gym.make_vec``'s entry point).

    ## Description
    :class:`BabyStoriesEnv`'s episodes, ``num_envs`` at a time, in one
    :class:`~lm_gym.envs.TextGenerationVectorEnv`; the reward model scores every row that
    finishes in one call.

    ## Action Space
    :class:`BabyStoriesEnv`'s, batched: ``MultiDiscrete([V] * num_envs)`` in token mode,
    ``Box(0, V-1, (num_envs, max_new_tokens), int64)`` in sequence mode.

    ## Observation Space
    :class:`BabyStoriesEnv`'s, batched to ``(num_envs, L)``; torch tensors on
    ``tensor_device`` when it is set.

    ## Rewards
    As :class:`BabyStoriesEnv`, per row; ``prompt`` and ``completion`` come in ``info`` with
    ``_key`` masks.

    ## Starting State
    As :class:`BabyStoriesEnv`; every row draws from the vector env's one generator.

    ## Episode End
    As :class:`BabyStoriesEnv`, per row, with Gymnasium's autoreset modes (``NEXT_STEP`` by
    default; see :class:`~lm_gym.envs.TextGenerationVectorEnv`).

    ## Arguments
    ``num_envs``, ``autoreset_mode``, ``tensor_device`` and ``render_mode`` (see
    :class:`~lm_gym.envs.TextGenerationVectorEnv`), and every :class:`BabyStoriesEnv` keyword.

    ## Version History
    * v0: initial release.
    """

    def __init__(
        self,
        num_envs: int = 1,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        tensor_device: str | torch.device | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.config = config_from_keywords(BabyStoriesConfig, type(self), kwargs)
        super().__init__(
            **self.config.build().env_arguments(),
            num_envs=num_envs,
            autoreset_mode=autoreset_mode,
            tensor_device=tensor_device,
            render_mode=render_mode,
        )
