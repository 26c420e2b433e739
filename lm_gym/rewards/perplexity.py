"""Reward callables with the shape of TRL's reward functions: ``f(prompts, completions, **kw)``.

They work as the reward of lm_gym's text-generation envs and, unchanged, as ``reward_funcs``
of TRL's trainers (which pass extra keyword arguments such as ``completion_ids``; they are
accepted and ignored).

:class:`ParentPerplexityReward` is BAMBINO-LM's reward: a frozen parent LM that is fluent in
the new language scores the baby's continuation by perplexity, and the perplexity is mapped
to a reward by one of the two published forms (:func:`perplexity_reward`). Baby and parent
have different tokenizers; the path is baby ids -> text -> parent ids, so any pair works.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lm_gym.evaluation.scoring import Scorer
from lm_gym.models.loading import LM, load_model, load_shared_model
from lm_gym.utils.validation import check_number

REWARD_FORMS = ("sigmoid", "inverse")
"""``sigmoid``: the authors' code, ``alpha / (1 + exp(beta (PPL - tau)))``; ``inverse``: the
paper's eq. (1), ``alpha / (beta (PPL - tau))``, guarded (see :func:`perplexity_reward`)."""

AUTHORS_ALPHA, AUTHORS_BETA, AUTHORS_TAU = 5.0, 0.001, 150.0
"""The reward parameters of the BAMBINO-LM authors' public code."""

INVERSE_MIN_GAP = 1.0
"""Default guard of eq. (1): ``PPL - tau`` is clamped to at least this many perplexity units."""

MAX_LOG_PERPLEXITY = 700.0
"""Mean negative log-likelihoods are capped here so ``exp`` stays finite in float64."""


def perplexity_reward(
    perplexity: np.ndarray | Sequence[float],
    form: str = "sigmoid",
    alpha: float = AUTHORS_ALPHA,
    beta: float = AUTHORS_BETA,
    tau: float = AUTHORS_TAU,
    min_gap: float = INVERSE_MIN_GAP,
) -> np.ndarray:
    """Map perplexities to rewards; the result is always finite.

    * ``sigmoid``: ``R = alpha / (1 + exp(beta (PPL - tau)))``, computed as
      ``alpha (1 - tanh(beta (PPL - tau) / 2)) / 2`` so no intermediate overflows. R falls
      from ``alpha`` to 0 as PPL grows and is ``alpha / 2`` at ``PPL = tau``.
    * ``inverse`` (eq. (1)): ``R = alpha / (beta max(PPL - tau, min_gap))``. Unguarded, eq. (1)
      is infinite at ``PPL = tau`` and negative (rewarding fluent text less than anything)
      below it; the clamp makes every ``PPL <= tau + min_gap`` earn the largest reward,
      ``alpha / (beta min_gap)``, and keeps R decreasing in PPL above that.

    Args:
        perplexity: finite perplexities (>= 1).
        form: ``"sigmoid"`` or ``"inverse"``.
        alpha, beta, tau: the published parameters (``beta > 0``).
        min_gap: the eq. (1) guard, ``> 0``.
    """
    _check_form(form, alpha, beta, tau, min_gap)
    ppl = np.asarray(perplexity, dtype=np.float64)
    if not np.all(np.isfinite(ppl)):
        raise ValueError(f"perplexities must be finite, got {ppl}")
    if form == "sigmoid":
        return alpha * 0.5 * (1.0 - np.tanh(0.5 * beta * (ppl - tau)))
    return alpha / (beta * np.maximum(ppl - tau, min_gap))


def _check_form(form: str, alpha: float, beta: float, tau: float, min_gap: float) -> None:
    if form not in REWARD_FORMS:
        raise ValueError(f"reward form must be one of {REWARD_FORMS}, got {form!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("tau", tau), ("min_gap", min_gap)):
        check_number(name, value)
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if min_gap <= 0:
        raise ValueError(f"min_gap must be > 0, got {min_gap}")


def load_parent(spec: Any = "parent-it", device: str | torch.device | None = None) -> LM:
    """The parent LM for ``spec``, loaded once per process and frozen.

    Args:
        spec: anything :func:`lm_gym.models.load_model` takes. Models loaded here from a name
            or folder get ``requires_grad=False``; an in-memory model is used as given (it is
            only ever run under ``torch.inference_mode``).
        device: where to score; ``None`` uses lm_gym's default device.
    """
    if isinstance(spec, str | os.PathLike):
        return load_shared_model(spec, device=device)
    return load_model(spec, device=device)


def _common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    for i, (a, b) in enumerate(zip(first, second)):
        if a != b:
            return i
    return min(len(first), len(second))


class ParentPerplexityReward:
    """BAMBINO-LM's reward: a frozen parent LM's perplexity of the continuation, as a reward.

    The perplexity is that of the completion *given* the prompt: the parent reads ``prompt +
    completion`` (re-tokenized with its own tokenizer) and only the tokens from the first one
    that is not wholly inside the prompt are scored. An empty (or whitespace-only) completion
    is scored as the parent's probability of the text ending right after the prompt (its EOS
    token), so it gets a finite, usually poor, perplexity rather than a free reward. Trailing
    whitespace is dropped before scoring.
    ``score_eos=True`` scores the EOS after every completion. A text longer than the parent's
    context is cut on the left (the earliest context goes first).

    Args:
        parent: the parent LM spec (recipe name, folder, HF id, in-memory model or ``LM``).
        form: ``"sigmoid"`` (authors' code, default) or ``"inverse"`` (paper's eq. (1)).
        alpha, beta, tau: reward parameters; the defaults are the authors' (5, 0.001, 150).
            The Bambino envs pass a ``tau`` calibrated for their default models.
        min_gap: guard of eq. (1), see :func:`perplexity_reward`.
        score_eos: also score the parent's EOS after each completion.
        device: where the parent scores (``None``: lm_gym's default device).
        batch_size: texts per parent forward pass.
    """

    __name__ = "parent_perplexity"  # TRL names reward functions by __name__

    def __init__(
        self,
        parent: Any = "parent-it",
        form: str = "sigmoid",
        alpha: float = AUTHORS_ALPHA,
        beta: float = AUTHORS_BETA,
        tau: float = AUTHORS_TAU,
        *,
        min_gap: float = INVERSE_MIN_GAP,
        score_eos: bool = False,
        device: str | torch.device | None = None,
        batch_size: int = 64,
    ) -> None:
        _check_form(form, alpha, beta, tau, min_gap)
        self.form, self.alpha, self.beta, self.tau = form, alpha, beta, float(tau)
        self.min_gap, self.score_eos = min_gap, score_eos
        model, tokenizer = load_parent(parent, device)
        if tokenizer.eos_token_id is None:
            raise ValueError("the parent's tokenizer needs an EOS token (to score empty text)")
        self.scorer = Scorer(model, tokenizer, batch_size=batch_size, add_eos=True)
        self.max_tokens = self.scorer.max_positions

    def __repr__(self) -> str:
        return (
            f"ParentPerplexityReward(form={self.form!r}, alpha={self.alpha}, beta={self.beta}, "
            f"tau={self.tau})"
        )

    def perplexities(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        """The parent's perplexity of each completion given its prompt, float64, finite."""
        prompts, completions = _checked_texts(prompts, completions)
        if not prompts:
            return np.zeros(0, dtype=np.float64)
        tokenizer, eos = self.scorer.tokenizer, self.scorer.eos_id
        # Trailing whitespace says nothing and tokenizers treat it differently: drop it.
        texts = [(p + c).rstrip() for p, c in zip(prompts, completions)]
        full = [[*ids, eos] for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        contexts = [p.rstrip() for p in prompts]
        prompt_ids = tokenizer(contexts, add_special_tokens=False)["input_ids"]
        rows, starts, ends = [], [], []
        for ids, context in zip(full, prompt_ids):
            start = min(_common_prefix(ids, context), len(ids) - 1)  # at least the EOS
            end = len(ids) if self.score_eos or start == len(ids) - 1 else len(ids) - 1
            cut = max(0, len(ids) - self.max_tokens) if self.max_tokens else 0
            rows.append(ids[cut:])
            starts.append(max(start - cut, 0))
            ends.append(end - cut)
        # One pass scores every row from its start; the EOS term is dropped where not wanted.
        flat = self.scorer.continuation_logprobs(rows, starts)
        sizes = [len(row) - start for row, start in zip(rows, starts)]
        pieces = np.split(flat, np.cumsum(sizes)[:-1])
        mean_nll = np.array(
            [-piece[: end - start].mean() for piece, start, end in zip(pieces, starts, ends)]
        )
        return np.exp(np.minimum(mean_nll, MAX_LOG_PERPLEXITY))

    def with_info(
        self, prompts: Sequence[str], completions: Sequence[str], **kwargs: Any
    ) -> tuple[list[float], dict[str, list[float]]]:
        """Rewards and, under ``"ppl"``, the perplexities they come from."""
        perplexity = self.perplexities(prompts, completions)
        rewards = perplexity_reward(
            perplexity, self.form, self.alpha, self.beta, self.tau, self.min_gap
        )
        return rewards.tolist(), {"ppl": perplexity.tolist()}

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], **kwargs: Any
    ) -> list[float]:
        """One finite reward per completion (extra keyword arguments are ignored)."""
        return self.with_info(prompts, completions)[0]


def _checked_texts(
    prompts: Sequence[str], completions: Sequence[str]
) -> tuple[list[str], list[str]]:
    for name, texts in (("prompts", prompts), ("completions", completions)):
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"{name}[{index}] must be a str (plain-text prompts, not chat messages), "
                    f"got {type(text).__name__}"
                )
    if len(prompts) != len(completions):
        raise ValueError(f"got {len(prompts)} prompts but {len(completions)} completions")
    return list(prompts), list(completions)
