"""Text generation as a Gymnasium environment: prompts from a corpus, any reward callable.

One base serves every text-generation setup. BAMBINO-LM plugs in Italian prompts and the
parent-perplexity reward (:mod:`lm_gym.envs.bambino`); BabyStories plugs in story prompts and
a reward-model reward (:mod:`lm_gym.envs.babystories`). The episode logic lives in
:mod:`lm_gym.envs.text_generation_batch`, shared with the native vector env.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


class TextGenerationEnv(gym.Env):
    """A language model continues a prompt; a reward callable scores the continuation.

    ## Description
    Each episode draws a prompt (the first ``prompt_tokens`` tokens of a corpus text) and lets
    the agent, usually a causal LM, continue it. At the end the decoded prompt and continuation
    go to the reward callable, e.g. a parent LM's perplexity (BAMBINO-LM) or a reward model.

    ## Action Space
    Token mode: ``Discrete(V)``, the next token id. Sequence mode: ``Box(0, V-1,
    (max_new_tokens,), int64)``, the whole continuation; ids after the first EOS are ignored
    (pad them). An out-of-range id, a wrong shape or a non-integer dtype raises ``ValueError``
    or ``TypeError`` and leaves the env untouched.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=MultiBinary(L))`` with ``L =
    prompt_tokens + max_new_tokens``, left-aligned: the prompt ids, the generated ids, then
    the pad id with mask 0.

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
    See :meth:`TextGenerationTask.build`; ``render_mode="ansi"`` renders the prompt and the
    text so far.

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
        prompt_tokens: int = 5,
        max_new_tokens: int = 16,
        mode: str = "token",
        vocab_size: int | None = None,
        shaping: Shaping | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.task = TextGenerationTask.build(
            tokenizer,
            texts,
            reward_fn,
            prompt_tokens=prompt_tokens,
            max_new_tokens=max_new_tokens,
            mode=mode,
            vocab_size=vocab_size,
            shaping=shaping,
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

    def render(self) -> str | None:
        """The prompt and, in brackets, the text generated so far (``render_mode="ansi"``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; use render_mode='ansi'")
            return None
        return self._batch.render_rows()[0]

    def _observation(self) -> dict:
        obs = self._batch.observation()
        return {key: value[0] for key, value in obs.items()}
