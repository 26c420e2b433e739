"""BAMBINO-LM's reward: a frozen parent LM, fluent in the new language, judges the baby's text.

Reward callables here have the shape of TRL's reward functions, ``f(prompts, completions,
**kw)``: they serve lm_gym's text-generation envs and, unchanged, TRL's trainers as
``reward_funcs`` (extra keywords such as ``completion_ids`` are accepted and ignored). Baby and
parent have different tokenizers; the path is baby ids -> text -> parent ids, so any pair works.

:class:`ParentReward` has three forms:

* ``"slor"`` (the default): the per-word SLOR of the continuation (Lau, Clark and Lappin 2017):
  ``(log P_parent(continuation, EOS | prompt) - log P_unigram(continuation)) / words``, in nats
  per word, mapped into ``(-1, 1)`` by ``tanh(SLOR / scale)`` (no flat region: a policy can
  always tell a worse continuation from a bad one). The parent's log-probability makes fluent,
  fitting
  text score high; subtracting a unigram model of the language removes what frequent words and
  length alone would buy; dividing by the number of words makes it mean the same whatever the
  tokenizers; the EOS makes stopping mid-sentence cost. A continuation without a word (empty,
  punctuation only) does not continue the prompt and earns the floor, -1: otherwise
  stopping at once, which the parent often finds likely, would beat every attempt in a language
  the policy does not speak yet, and a policy would learn to say nothing (measured: PPO alone
  took the untrained ``baby-en`` from 49% to 64% "." when silence scored the parent's
  probability of ending). Nothing to calibrate: it works in log space for any parent. Its
  range, ``(-1, 1)``, is what makes PPO's KL penalty meaningful: with a fixed KL weight ``b``,
  PPO's optimum is ``pi_ref(x) exp(r(x) / b)`` (``tests/agents/test_ppo_optimum.py``), so a
  reward in nats per word (a range of 40) under PPO's default ``b`` of 0.2 tilts the baby by
  factors up to ``e^200`` and collapses it onto the best cheap string it can say (measured:
  "a a", "s.").
* ``"sigmoid"`` (the authors' code), ``alpha / (1 + exp(beta (PPL - tau)))``, and ``"inverse"``
  (the paper's eq. (1)), ``alpha / (beta (PPL - tau))`` guarded, on the parent's per-token
  perplexity ``PPL`` of the continuation (:func:`perplexity_reward`). They need ``tau`` for the
  models at hand; the Bambino envs calibrate it on the untrained baby's samples.

Every reward is finite. ``reward.with_info`` also reports the per-token perplexity ``ppl``,
the per-word perplexity ``ppl_word`` (tokenizer-independent) and the raw ``slor``.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lm_gym.corpora.loaders import resolve_texts
from lm_gym.evaluation.scoring import Scorer
from lm_gym.models.loading import LM, load_model, load_shared_model
from lm_gym.models.recipes import RECIPES, recipe_corpus
from lm_gym.utils.validation import check_choice, check_number

REWARD_FORMS = ("slor", "sigmoid", "inverse")
"""``slor``: per-word SLOR of the parent (default); ``sigmoid``: the authors' code,
``alpha / (1 + exp(beta (PPL - tau)))``; ``inverse``: the paper's eq. (1), ``alpha / (beta
(PPL - tau))``, guarded (see :func:`perplexity_reward`)."""

PAPER_FORMS = ("sigmoid", "inverse")
"""The two published forms, on per-token perplexity (they need ``tau``)."""

AUTHORS_ALPHA, AUTHORS_BETA, AUTHORS_TAU = 5.0, 0.001, 150.0
"""The reward parameters of the BAMBINO-LM authors' public code."""

INVERSE_MIN_GAP = 1.0
"""Default guard of eq. (1): ``PPL - tau`` is clamped to at least this many perplexity units."""

SLOR_SCALE = 40.0
"""Default scale of the ``slor`` form, in nats per word (the reward is ``tanh(SLOR / scale)``):
real continuations stay far from the reward's bounds (the audit checks), one broken word
cannot dominate a batch, and the spread of a beginner's attempts stays visible (the untrained
``baby-en``'s samples have SLORs from about -53 to -1, median -11.8, under ``parent-it``, so
they fall on the steep part of ``tanh``). Measured with PPO alone on the untrained baby (seeds
0-2, 30,720 tokens, PPO defaults): at scale 20 the share of "." went 49/46/48% -> 40/48/48%,
at scale 40 49/46/48% -> 20/30/35% with longer continuations (1.26-1.31 -> 1.42-1.61 words).
A hard clip at 10 was tried first: more than half of those samples sat on it, with no reward
difference for PPO to follow."""

MAX_LOG_PERPLEXITY = 700.0
"""Mean negative log-likelihoods are capped here so ``exp`` stays finite in float64."""

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of ``text`` as the reward counts them: runs of letters and digits, lowercased."""
    return _WORD.findall(text.lower())


class UnigramWords:
    """A unigram model of words (add-one smoothed), the "frequency" half of SLOR.

    Args:
        texts: the language's corpus (for Bambino: the env's L2 corpus, or the parent's own).
    """

    def __init__(self, texts: Iterable[str]) -> None:
        self.counts = Counter(word for text in texts for word in words(text))
        if not self.counts:
            raise ValueError("the unigram corpus has no words")
        self.total = sum(self.counts.values())
        self._denominator = math.log(self.total + len(self.counts) + 1)

    def logprob(self, text: str) -> float:
        """Log-probability of ``text``'s words under the unigram model (0 for no word)."""
        return sum(math.log(self.counts[w] + 1) - self._denominator for w in words(text))


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
    if form not in PAPER_FORMS:
        raise ValueError(f"perplexity forms are {PAPER_FORMS}, got {form!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("tau", tau), ("min_gap", min_gap)):
        check_number(name, value)
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if min_gap <= 0:
        raise ValueError(f"min_gap must be > 0, got {min_gap}")


def load_parent(spec: Any = "parent-it", device: str | torch.device | None = None) -> LM:
    """The parent LM for ``spec``, frozen; names and folders are loaded once per process.

    Args:
        spec: anything :func:`lm_gym.models.load_model` takes. An in-memory model is used as
            given (it is only ever run under ``torch.inference_mode``).
        device: where to score; ``None`` uses lm_gym's default device.
    """
    if isinstance(spec, str | os.PathLike):
        return load_shared_model(spec, device=device)
    return load_model(spec, device=device)


@dataclass(frozen=True)
class ContinuationScores:
    """The parent's view of a batch of continuations (each array ``(n,)``)."""

    logprob: np.ndarray
    """``log P_parent(continuation, EOS | prompt)`` in nats."""
    token_nll: np.ndarray
    """Mean negative log-likelihood per parent token of the continuation (EOS left out unless
    the continuation is empty or ``score_eos``): the log of the per-token perplexity."""
    words: np.ndarray
    """Words of each continuation (:func:`words`)."""


class ParentReward:
    """A frozen parent LM's judgement of each continuation given its prompt, as a reward.

    The parent reads ``prompt + completion`` (re-tokenized with its own tokenizer) and scores
    the tokens from the first one not wholly inside the prompt, then its EOS. Trailing
    whitespace is dropped first. A text longer than the parent's context is cut on the left.

    Args:
        parent: the parent LM spec (recipe name, folder, HF id, in-memory model or ``LM``).
        form: ``"slor"`` (default), ``"sigmoid"`` or ``"inverse"`` (module docstring).
        unigram_corpus: texts (or a corpus path) the ``slor`` form's unigram model is estimated
            on; default: the parent recipe's own corpus when ``parent`` names a recipe (another
            parent needs it given, e.g. the L2 corpus; the Bambino envs pass theirs).
        scale: the ``slor`` form's reward is ``tanh(SLOR / scale)``, in ``(-1, 1)``.
        alpha, beta, tau: parameters of the paper forms (the authors' 5, 0.001 and 150); ``tau``
            must fit the models (the Bambino envs calibrate it when it is ``None``).
        min_gap: guard of eq. (1), see :func:`perplexity_reward`.
        score_eos: the paper forms' perplexity also scores the EOS after each completion.
        device: where the parent scores (``None``: lm_gym's default device).
        batch_size: texts per parent forward pass.
    """

    __name__ = "parent_reward"  # TRL names reward functions by __name__

    def __init__(
        self,
        parent: Any = "parent-it",
        form: str = "slor",
        *,
        unigram_corpus: str | os.PathLike | Sequence[str] | None = None,
        scale: float = SLOR_SCALE,
        alpha: float = AUTHORS_ALPHA,
        beta: float = AUTHORS_BETA,
        tau: float = AUTHORS_TAU,
        min_gap: float = INVERSE_MIN_GAP,
        score_eos: bool = False,
        device: str | torch.device | None = None,
        batch_size: int = 64,
    ) -> None:
        check_choice("form", form, REWARD_FORMS)
        self.form = form
        self.scale = check_number("scale", scale, minimum=0.0, exclusive_minimum=True)
        if form in PAPER_FORMS:
            _check_form(form, alpha, beta, tau, min_gap)
        self.alpha, self.beta, self.tau, self.min_gap = alpha, beta, float(tau), min_gap
        self.score_eos = score_eos
        self.unigram = _unigram(form, parent, unigram_corpus)
        model, tokenizer = load_parent(parent, device)
        if tokenizer.eos_token_id is None:
            raise ValueError("the parent's tokenizer needs an EOS token (to score empty text)")
        self.scorer = Scorer(model, tokenizer, batch_size=batch_size, add_eos=True)
        self.max_tokens = self.scorer.max_positions

    def __repr__(self) -> str:
        if self.form == "slor":
            return f"ParentReward(form='slor', scale={self.scale})"
        return (
            f"ParentReward(form={self.form!r}, alpha={self.alpha}, beta={self.beta}, "
            f"tau={self.tau})"
        )

    @property
    def reward_range(self) -> tuple[float, float]:
        """The smallest and largest reward this form can give."""
        if self.form == "slor":
            return -1.0, 1.0
        if self.form == "sigmoid":
            return 0.0, self.alpha
        return 0.0, self.alpha / (self.beta * self.min_gap)

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> ContinuationScores:
        """The parent's log-probability of each completion (and its EOS) given its prompt."""
        prompts, completions = _checked_texts(prompts, completions)
        if not prompts:
            empty = np.zeros(0, dtype=np.float64)
            return ContinuationScores(empty, empty, empty)
        tokenizer, eos = self.scorer.tokenizer, self.scorer.eos_id
        # Trailing whitespace says nothing and tokenizers treat it differently: drop it.
        texts = [(p + c).rstrip() for p, c in zip(prompts, completions)]
        full = [[*ids, eos] for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        contexts = [p.rstrip() for p in prompts]
        prompt_ids = tokenizer(contexts, add_special_tokens=False)["input_ids"]
        rows, starts = [], []
        for ids, context in zip(full, prompt_ids):
            start = min(_common_prefix(ids, context), len(ids) - 1)  # at least the EOS
            cut = max(0, len(ids) - self.max_tokens) if self.max_tokens else 0
            rows.append(ids[cut:])
            starts.append(max(start - cut, 0))
        flat = self.scorer.continuation_logprobs(rows, starts)
        sizes = [len(row) - start for row, start in zip(rows, starts)]
        pieces = np.split(flat, np.cumsum(sizes)[:-1])
        # The per-token perplexity leaves the EOS out (unless there is nothing else).
        token_nll = np.array(
            [-(p if self.score_eos or len(p) == 1 else p[:-1]).mean() for p in pieces]
        )
        return ContinuationScores(
            logprob=np.array([piece.sum() for piece in pieces]),
            token_nll=np.minimum(token_nll, MAX_LOG_PERPLEXITY),
            words=np.array([len(words(c)) for c in completions], dtype=np.float64),
        )

    def perplexities(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        """The parent's per-token perplexity of each completion given its prompt (finite)."""
        return np.exp(self.score(prompts, completions).token_nll)

    def with_info(
        self, prompts: Sequence[str], completions: Sequence[str], **kwargs: Any
    ) -> tuple[list[float], dict[str, list[float]]]:
        """Rewards, and the ``ppl`` (per token), ``ppl_word`` and ``slor`` they come from."""
        scores = self.score(prompts, completions)
        per_word = np.maximum(scores.words, 1.0)
        unigram = np.array([self.unigram.logprob(c) for c in completions]) if self.unigram else 0
        slor = (scores.logprob - unigram) / per_word
        ppl = np.exp(scores.token_nll)
        if self.form == "slor":
            rewards = np.where(scores.words > 0, np.tanh(slor / self.scale), -1.0)
        else:
            rewards = perplexity_reward(
                ppl, self.form, self.alpha, self.beta, self.tau, self.min_gap
            )
        ppl_word = np.exp(np.minimum(-scores.logprob / (scores.words + 1.0), MAX_LOG_PERPLEXITY))
        info = {"ppl": ppl.tolist(), "ppl_word": ppl_word.tolist()}
        if self.unigram is not None:
            info["slor"] = slor.tolist()
        return rewards.tolist(), info

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], **kwargs: Any
    ) -> list[float]:
        """One finite reward per completion (extra keyword arguments are ignored)."""
        return self.with_info(prompts, completions)[0]


def _unigram(
    form: str, parent: Any, corpus: str | os.PathLike | Sequence[str] | None
) -> UnigramWords | None:
    """The unigram model the ``slor`` form needs (``None`` for the paper forms without one)."""
    if corpus is None and form != "slor":
        return None
    if corpus is None and isinstance(parent, str) and parent in RECIPES:
        corpus = recipe_corpus(RECIPES[parent])
    if corpus is None:
        raise ValueError(
            "form='slor' needs unigram_corpus=<texts or a corpus path> of the parent's "
            "language (only a parent recipe brings its own corpus)"
        )
    return UnigramWords(resolve_texts(corpus, lambda: (), name="unigram_corpus", item="text"))


def _common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    for i, (a, b) in enumerate(zip(first, second)):
        if a != b:
            return i
    return min(len(first), len(second))


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
