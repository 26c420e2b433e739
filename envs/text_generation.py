"""Text generation as a Gymnasium environment: prompts from a corpus, any reward callable.

One base serves every text-generation setup. BAMBINO-LM plugs in Italian prompts and the
parent-perplexity reward (:mod:`lm_gym.envs.bambino`); BabyStories plugs in story prompts and
a reward-model reward (:mod:`lm_gym.envs.babystories`). The episode logic lives in
:mod:`lm_gym.envs.text_generation_batch`, shared with the native vector env.

A family (Bambino, BabyStories) declares its keywords once, as a frozen config dataclass, and
turns them into :class:`GenerationParts`, the arguments both base classes take; its single and
vector classes only add what differs between the two (``num_envs``, autoreset, tensors).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch

from lm_gym.envs.text_generation_batch import (
    GenerationBatch,
    RewardFunction,
    Shaping,
    TextGenerationTask,
    as_token_tensor,
    check_actions,
)
from lm_gym.models.loading import LM
from lm_gym.utils.limits import context_length
from lm_gym.utils.validation import check_keywords

Config = TypeVar("Config")


def config_from_keywords(config_class: type[Config], env_class: type, keywords: Mapping) -> Config:
    """``config_class(**keywords)``, refusing unknown keywords first (before any model loads).

    Args:
        config_class: a family's config dataclass (its fields are the family's keywords).
        env_class: the class being built; its explicit parameters (``render_mode``,
            ``num_envs``...) are valid keywords too, and its name heads the error.

    Raises:
        TypeError: for an unknown keyword, naming every valid one with a "did you mean".
    """
    own = [
        name
        for name, parameter in inspect.signature(env_class).parameters.items()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    fields = [field.name for field in dataclasses.fields(config_class)]
    check_keywords(env_class.__name__, keywords, [*fields, *own])
    return config_class(**keywords)


@dataclasses.dataclass(frozen=True)
class GenerationParts:
    """What a family builds from its config: the loaded generating model, the prompt texts,
    the reward and the episode sizes, i.e. the arguments of both base env classes."""

    generating_model: LM
    """The policy's model; its tokenizer defines the actions, its output size the vocabulary."""
    texts: Sequence[str]
    """Prompt corpus (see :meth:`TextGenerationTask.build`)."""
    reward_fn: RewardFunction
    """Scores ``(prompts, completions)`` at episode end."""
    prompt_tokens: int | None
    """Cut prompts after this many tokens of the generating model (or ``None``)."""
    prompt_words: int | None
    """Cut prompts after this many words (or ``None``)."""
    prompt_pairs: Sequence[tuple[str, str]] | None
    """Or explicit ``(prompt, continuation)`` pairs (or ``None``)."""
    max_new_tokens: int
    """Longest continuation in tokens."""
    mode: str
    """``"token"`` or ``"sequence"``."""
    shaping: Shaping | None = None
    """Optional per-step reward."""

    def env_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :class:`TextGenerationEnv` and ``TextGenerationVectorEnv``.

        The action vocabulary is the larger of the tokenizer's size and the model's output size
        (OPT-125m has 50272 logits for 50265 tokens; the extra ids decode to nothing).
        """
        model, tokenizer = self.generating_model
        vocab = max(len(tokenizer), int(getattr(model.config, "vocab_size", 0) or 0))
        return {
            "tokenizer": tokenizer,
            "texts": self.texts,
            "reward_fn": self.reward_fn,
            "prompt_tokens": self.prompt_tokens,
            "prompt_words": self.prompt_words,
            "prompt_pairs": self.prompt_pairs,
            "max_new_tokens": self.max_new_tokens,
            "mode": self.mode,
            "vocab_size": vocab,
            "shaping": self.shaping,
            "generating_model": self.generating_model,
        }


def fit_words(tokenizer: Any, text: str, limit: int) -> str:
    """The longest prefix of ``text`` made of whole words that is at most ``limit`` tokens."""
    words = text.split(" ")
    while words and len(tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]) > limit:
        words.pop()
    return " ".join(words)


def check_generating_model(generating_model: Any) -> LM | None:
    """``generating_model`` if it is ``None`` or an :class:`~lm_gym.models.LM`; else TypeError."""
    if generating_model is not None and not isinstance(generating_model, LM):
        raise TypeError(
            "generating_model must be an lm_gym LM (model, tokenizer) or None, got "
            f"{type(generating_model).__name__}"
        )
    return generating_model


def generating_context(generating_model: LM | None) -> int | None:
    """The positions the generating model reads (``None`` without a model or when unknown):
    episodes must fit it (:func:`~lm_gym.envs.text_generation_batch.check_episode_length`)."""
    return None if generating_model is None else context_length(generating_model.model)


class TextGenerationEnv(gym.Env):
    """A language model continues a prompt; a reward callable scores the continuation.

    ## Description
    Each episode draws a prompt (the beginning of a corpus text: its first ``prompt_tokens``
    tokens or ``prompt_words`` words, or an explicit prompt) and lets the agent, usually a
    causal LM, continue it. At the end the decoded prompt and continuation go to the reward
    callable, e.g. a parent LM's likelihood (BAMBINO-LM) or a reward model. The rest of the
    prompt's text is its true continuation, :meth:`reference_continuation` (for the reward
    audit; agents see only the observation).

    ## Action Space
    Token mode: ``Discrete(V)``, the next token id. Sequence mode: ``Box(0, V-1,
    (max_new_tokens,), int64)``, the whole continuation; ids after the first EOS are ignored
    (pad them). An out-of-range id, a wrong shape or a non-integer dtype raises ``ValueError``
    or ``TypeError`` and leaves the env untouched.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=MultiBinary(L))`` with ``L =
    P + max_new_tokens``, where ``P`` (``task.prompt_width``) is the longest prompt in tokens:
    the prompt block (each prompt right-aligned in its ``P`` columns, the pad id with mask 0 on
    its left), the generated ids from column ``P`` on, then the pad id with mask 0.

    ## Rewards
    The reward callable's score of the continuation at the episode's end, 0 before; an
    optional ``shaping(input_ids, attention_mask)`` adds a reward after every step.

    ## Starting State
    A prompt drawn uniformly from the corpus prompts with the env's seeded generator.

    ## Episode End
    Token mode: terminated when the action is EOS, truncated after ``max_new_tokens`` tokens.
    Sequence mode: terminated after the single step. The final ``info`` holds ``prompt``,
    ``completion`` and the reward callable's extras (e.g. ``ppl``).

    ## Arguments
    ``tokenizer``, ``texts``, ``reward_fn``, ``prompt_tokens``, ``prompt_words``,
    ``prompt_pairs``, ``max_new_tokens``, ``mode``, ``vocab_size``, ``shaping``: see
    :meth:`TextGenerationTask.build`.
    ``generating_model``: the :class:`~lm_gym.models.LM` the tokenizer belongs to, or ``None``;
    kept as the declared attribute ``generating_model``, which agents read (through wrappers,
    with :func:`lm_gym.utils.env_attributes.get_env_attr`) to act with the env's own model.
    ``render_mode="ansi"`` renders the prompt and the text so far.

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        tokenizer: Any,
        texts: Sequence[str],
        reward_fn: RewardFunction,
        *,
        prompt_tokens: int | None = None,
        prompt_words: int | None = None,
        prompt_pairs: Sequence[tuple[str, str]] | None = None,
        max_new_tokens: int = 16,
        mode: str = "token",
        vocab_size: int | None = None,
        shaping: Shaping | None = None,
        generating_model: LM | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.generating_model = check_generating_model(generating_model)
        self.task = TextGenerationTask.build(
            tokenizer,
            texts,
            reward_fn,
            prompt_tokens=prompt_tokens,
            prompt_words=prompt_words,
            prompt_pairs=prompt_pairs,
            max_new_tokens=max_new_tokens,
            mode=mode,
            vocab_size=vocab_size,
            shaping=shaping,
            context_length=generating_context(self.generating_model),
        )
        self.render_mode = render_mode
        self.observation_space = self.task.observation_space()
        self.action_space = self.task.action_space()
        self._batch = GenerationBatch(self.task, 1, torch.device("cpu"))

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the generating model."""
        return self.task.tokenizer

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict, dict]:
        """Start an episode with a new prompt; ``info["prompt"]`` is its text."""
        super().reset(seed=seed)
        (prompt,) = self._batch.reset_rows(np.ones(1, dtype=bool), self.np_random)
        return self._observation(), {"prompt": prompt}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        """Append ``action`` (token mode) or the whole continuation (sequence mode)."""
        if self._batch.done[0]:
            raise RuntimeError("the episode has ended (or never started): call reset() first")
        shape = () if self.task.mode == "token" else (self.task.max_new_tokens,)
        check_actions(self.task, action, shape)
        actions = as_token_tensor(action, torch.device("cpu")).reshape(1, *shape)
        rewards, term, trunc, end_info = self._batch.step(actions, np.ones(1, dtype=bool))
        info = {key: values[0] for key, values in end_info.items() if key != "rows"}
        return self._observation(), float(rewards[0]), bool(term[0]), bool(trunc[0]), info

    def reference_continuation(self, fit: bool = True) -> str:
        """The true continuation of the current prompt (the rest of its text): what the reward
        audit plays as the reference policy. Not part of the observation: an agent that reads
        it cheats.

        Args:
            fit: cut it after the last whole word that fits in an episode with room for EOS.

        Raises:
            RuntimeError: before the first ``reset``.
        """
        if not self._batch.started:
            raise RuntimeError("call reset() first: there is no prompt yet")
        rest = self.task.prompts.continuations[int(self._batch.prompt_index[0])]
        return fit_words(self.task.tokenizer, rest, self.task.max_new_tokens - 1) if fit else rest

    def render(self) -> str | None:
        """The prompt and, in brackets, the text generated so far (``render_mode="ansi"``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; use render_mode='ansi'")
            return None
        return self._batch.render_rows()[0]

    def _observation(self) -> dict:
        obs = self._batch.observation()
        return {key: value[0] for key, value in obs.items()}
