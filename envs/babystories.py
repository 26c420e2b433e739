"""BabyStories as environments: a storyteller continues story beginnings, a reward model judges.

``BabyStories-v0`` (token mode) and ``BabyStoriesSeq-v0`` (sequence mode) are
:class:`BabyStoriesEnv` with ``mode="token"`` and ``mode="sequence"``; ``gym.make_vec`` builds
:class:`BabyStoriesVectorEnv` (see :mod:`lm_gym.registration`). Their keywords are the fields
of :class:`BabyStoriesConfig`. The setup follows Zhao et al. (2023): the storyteller's
continuation of a story beginning is scored by a reward model trained on preferences between
continuations (:mod:`lm_gym.rewards.reward_model`), and PPO with a KL penalty fine-tunes the
storyteller on that reward. Model size is the paper's experimental axis, so the storyteller is
an argument like everything else.

Prompts are whole sentences: the first sentence (or two) of each story; the rest of the story
is the prompt's true continuation (what the reward audit plays against degenerate policies).
By default the stories are generated with a seed of their own and keep none whose beginning
any storyteller or reward-model recipe trained on (:func:`default_stories`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from gymnasium.vector import AutoresetMode

from lm_gym.corpora.loaders import resolve_texts
from lm_gym.corpora.stories import Story, generate_stories
from lm_gym.envs.text_generation import GenerationParts, TextGenerationEnv, config_from_keywords
from lm_gym.envs.text_generation_batch import MODES, Shaping, check_episode_length
from lm_gym.envs.text_generation_vector import TextGenerationVectorEnv
from lm_gym.models.loading import load_model
from lm_gym.models.recipes import RECIPES
from lm_gym.rewards.audit_policies import STORY_POLICIES
from lm_gym.rewards.reward_model import RewardModelReward
from lm_gym.utils.validation import check_choice, check_positive_int

PROMPT_STORIES = 3_000
"""Stories generated for the default prompts (before the ones with trained-on beginnings
are left out)."""

PROMPT_SEED = 31_337
"""Generator seed of the default stories (no recipe trains on it)."""

AUDIT_SEED = 27_182
"""Generator seed of the held-out stories of the reward audit."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def beginnings(story: Story) -> tuple[str, str]:
    """A story's two possible prompts: its first sentence and its first two sentences."""
    return story.sentences[0], " ".join(story.sentences[:2])


@lru_cache(maxsize=1)
def trained_beginnings() -> frozenset[str]:
    """Every story beginning (first sentence, first two sentences) that a storyteller or
    reward-model recipe trains on: its corpus is the first ``corpus_size`` stories of its
    seed, so the largest of each seed covers all of them."""
    largest: dict[int, int] = {}
    for recipe in RECIPES.values():
        if recipe.corpus == "stories":
            largest[recipe.seed] = max(largest.get(recipe.seed, 0), recipe.corpus_size)
    return frozenset(
        beginning
        for seed, size in largest.items()
        for story in generate_stories(size, seed)
        for beginning in beginnings(story)
    )


def held_out_stories(count: int, seed: int, exclude: frozenset[str] = frozenset()) -> list[Story]:
    """Stories of ``seed`` whose beginnings no recipe trains on (nor are in ``exclude``)."""
    seen = trained_beginnings() | exclude
    return [
        story
        for story in generate_stories(count, seed)
        if not any(beginning in seen for beginning in beginnings(story))
    ]


@lru_cache(maxsize=1)
def default_stories() -> tuple[Story, ...]:
    """The default stories: seeded, none with a beginning any recipe trained on."""
    return tuple(held_out_stories(PROMPT_STORIES, PROMPT_SEED))


def default_prompts() -> tuple[str, ...]:
    """The default story beginnings (each default story's own prompt)."""
    return tuple(story.prompt for story in default_stories())


def story_pairs(
    stories: str | os.PathLike | Sequence[str] | None, prompt_sentences: int
) -> list[tuple[str, str]]:
    """``(beginning, rest)`` pairs: the default stories' own prompts and continuations, or each
    given story (one per line of a file, or a list of strings) cut after ``prompt_sentences``
    sentences (stories with nothing after them are skipped)."""
    if stories is None:
        return [(story.prompt, " " + story.continuation) for story in default_stories()]
    pairs = []
    for text in resolve_texts(stories, tuple, name="stories", item="story"):
        sentences = _SENTENCE_END.split(text.strip())
        if len(sentences) > prompt_sentences:
            head = " ".join(sentences[:prompt_sentences])
            pairs.append((head, " " + " ".join(sentences[prompt_sentences:])))
    if not pairs:
        raise ValueError(
            f"no story has more than prompt_sentences={prompt_sentences} sentences, so there "
            "is no prompt to continue"
        )
    return pairs


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
    stories: str | os.PathLike | Sequence[str] | None = None
    """Whole stories (``None``: :func:`default_stories`; a file with one story per line; a list
    of strings); each gives a prompt (its first ``prompt_sentences`` sentences) and its true
    continuation (the rest)."""
    prompts: str | os.PathLike | Sequence[str] | None = None
    """Or story beginnings only (a file, one a line, or a list): every one of them is used, of
    any length; their true continuations are unknown (the reward audit needs ``stories``)."""
    prompt_sentences: int = 1
    """Sentences of a given story that form its prompt."""
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
        check_positive_int("prompt_sentences", self.prompt_sentences)
        if self.stories is not None and self.prompts is not None:
            raise ValueError("give stories= (whole stories) or prompts= (beginnings), not both")
        check_episode_length(0, self.max_new_tokens)

    def build(self) -> GenerationParts:
        """Read the stories or prompts, load the reward model, then the storyteller."""
        if self.prompts is not None:
            beginnings_only = resolve_texts(
                self.prompts, tuple, name="prompts", item="story beginning"
            )
            pairs = [(prompt, "") for prompt in beginnings_only]
        else:
            pairs = story_pairs(self.stories, self.prompt_sentences)
        reward = RewardModelReward(self.reward_model, device=self.device)
        teller = load_model(self.storyteller, device=self.device)
        return GenerationParts(
            teller,
            (),
            reward,
            prompt_tokens=None,
            prompt_words=None,
            prompt_pairs=pairs,
            max_new_tokens=self.max_new_tokens,
            mode=self.mode,
            shaping=self.shaping,
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
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=MultiBinary(L))``, ``L = P +
    max_new_tokens`` with ``P`` the longest story beginning in storyteller tokens: the
    beginning right-aligned in the first ``P`` columns (padding with mask 0 on its left), the
    tokens so far from column ``P``, then padding with mask 0.

    ## Rewards
    0 until the episode ends, then the reward model's score of ``prompt + " " +
    continuation`` (:class:`~lm_gym.rewards.reward_model.RewardModelReward`; always finite).

    ## Starting State
    A story beginning drawn uniformly, with the env's seeded generator: by default the first
    sentence or two of a story generated with a seed no recipe trains on, never a beginning any
    storyteller or reward model was trained on.

    ## Episode End
    Token mode: terminated at EOS, truncated after ``max_new_tokens`` tokens. Sequence mode:
    terminated after its one step. The final ``info`` holds ``prompt`` and ``completion``.

    ## Arguments
    The fields of :class:`BabyStoriesConfig`, as keywords: ``storyteller``, ``reward_model``,
    ``stories``, ``prompts``, ``prompt_sentences``, ``max_new_tokens``, ``mode``, ``shaping``,
    ``device``; and
    ``render_mode`` (``None`` or ``"ansi"``). An unknown keyword is a ``TypeError`` before any
    model loads. The loaded storyteller is the declared attribute ``generating_model`` (an
    :class:`~lm_gym.models.LM`), the config ``config``.

    ## Version History
    * v0: initial release.
    """

    audit_policies = STORY_POLICIES
    """The degenerate policies the reward audit plays: every text policy, plus stopping after
    one word and another story's ending."""
    audit_whole_references = False
    """A story's rest is longer than an episode: the audit plays it cut at a word boundary
    (the reward model was trained on continuations stopped at a token budget)."""

    @classmethod
    def audit_arguments(cls) -> dict[str, Any]:
        """Keywords that make the env draw its prompts from held-out stories (no recipe trains
        on their beginnings, and none is a default prompt), for ``lm-gym audit-reward``."""
        exclude = frozenset(b for story in default_stories() for b in beginnings(story))
        stories = held_out_stories(1_000, AUDIT_SEED, exclude)
        return {"stories": [story.text for story in stories]}

    @classmethod
    def audit_fixed_candidates(cls) -> list[str]:
        """The audit's fixed-continuation candidates: the endings (last sentence) of training
        stories; the reward model's favourite one is played for every prompt."""
        recipe = RECIPES["reward-stories"]
        stories = generate_stories(400, recipe.seed)
        return list(dict.fromkeys(" " + story.sentences[-1] for story in stories))

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
