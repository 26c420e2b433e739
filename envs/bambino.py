"""BAMBINO-LM as environments: an English baby continues Italian prompts, a parent scores them.

``Bambino-v0`` (token mode) and ``BambinoSeq-v0`` (sequence mode) are built by the two
factories below (see :mod:`lm_gym.registration`). Every part has an offline default and can
be replaced by keyword:

* ``baby_model="baby-en"``: the policy's model, here only for its tokenizer and vocabulary
  size (the action space); the loaded handle is kept as ``env.baby`` for agents that want
  the policy the env was built for;
* ``parent_model="parent-it"``: the frozen scorer, loaded once per process;
* ``corpus``: prompts come from the first ``prompt_tokens`` baby tokens of each utterance; by
  default seeded Italian parentese, or a path (``load_texts``) or a list of strings;
* ``reward_form``, ``alpha``, ``beta``, ``tau``: see :mod:`lm_gym.rewards.perplexity`.

The paper's models work the same way on a machine that has them::

    gym.make("Bambino-v0", baby_model="babylm/opt-125m-strict-small",
             parent_model="GroNLP/gpt2-small-italian", corpus="italian.train")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from lm_gym.corpora.loaders import resolve_texts
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.envs.text_generation import TextGenerationEnv
from lm_gym.envs.text_generation_batch import MODES, Shaping
from lm_gym.envs.text_generation_vector import TextGenerationVectorEnv
from lm_gym.models.clm import bos_id
from lm_gym.models.loading import LM, forward_with_cache, load_model
from lm_gym.rewards.perplexity import (
    AUTHORS_ALPHA,
    AUTHORS_BETA,
    REWARD_FORMS,
    ParentPerplexityReward,
)
from lm_gym.utils.validation import check_positive_int

CORPUS_SIZE = 5_000
"""Italian parentese utterances generated for the default prompts and L2 stream."""

CORPUS_SEED = 2_024
"""Generator seed of the default corpus (no recipe or held-out set uses it)."""

CALIBRATED_TAU = {"sigmoid": 22_700.0, "inverse": 47.0}
"""Default ``tau`` per reward form for the default models, measured with :func:`calibrate_tau`.

How: ``calibrate_tau(sample_parent_perplexities(512, seed=0), form)``, i.e. 512 continuations
of the untrained ``baby-en`` on the default prompts (plain sampling, as the authors' code:
top_k=0, top_p=1), scored by ``parent-it``. Their parent perplexities spanned 1 to 3.4e7
(quantiles 5/25/50/75/95%: 47 / 9.7e3 / 2.27e4 / 6.18e4 / 2.9e5): a few punctuation-only
continuations are fluent to the parent, English phrases are not.

* ``sigmoid``: the median (2.27e4, rounded). With the authors' tau=150 the median reward of
  the untrained baby is 0 and three quarters of the rewards are below 0.02; centred on the
  median, half the rewards are above ``alpha / 2`` and half below, so the untrained baby's
  better and worse continuations get different rewards. (With ``beta = 0.001`` the step is
  still sharp for perplexities this spread out; a smaller ``beta`` gives a smoother signal.)
* ``inverse``: the 5th percentile (47), so eq. (1)'s guard is hit by about 5% of the samples
  and the rest spread over ``alpha / (beta (PPL - tau))``.

Recompute them for other models or corpora with the same call.
"""


@lru_cache(maxsize=1)
def default_corpus() -> tuple[str, ...]:
    """The default prompt corpus: seeded Italian parentese (deterministic)."""
    return tuple(generate_parentese("it", CORPUS_SIZE, seed=CORPUS_SEED))


def resolve_corpus(corpus: str | os.PathLike | Sequence[str] | None) -> list[str]:
    """``None`` -> the default corpus; a path -> its utterances; a list of strings as is."""
    return resolve_texts(corpus, default_corpus, name="corpus", item="utterance")


def _parts(
    *,
    mode: str,
    prompt_tokens: int,
    max_new_tokens: int,
    baby_model: Any,
    parent_model: Any,
    corpus: Any,
    reward_form: str,
    alpha: float,
    beta: float,
    tau: float | None,
    device: str | torch.device | None,
) -> tuple[LM, list[str], ParentPerplexityReward, int]:
    """Load everything a Bambino env needs, validating the cheap arguments first."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    check_positive_int("prompt_tokens", prompt_tokens)
    check_positive_int("max_new_tokens", max_new_tokens)
    if reward_form not in REWARD_FORMS:
        raise ValueError(f"reward_form must be one of {REWARD_FORMS}, got {reward_form!r}")
    tau = CALIBRATED_TAU[reward_form] if tau is None else tau
    texts = resolve_corpus(corpus)
    reward = ParentPerplexityReward(parent_model, reward_form, alpha, beta, tau, device=device)
    baby = load_model(baby_model, device=device)
    vocab = max(len(baby.tokenizer), int(getattr(baby.model.config, "vocab_size", 0) or 0))
    return baby, texts, reward, vocab


def make_bambino_env(
    *,
    baby_model: Any = "baby-en",
    parent_model: Any = "parent-it",
    corpus: str | os.PathLike | Sequence[str] | None = None,
    prompt_tokens: int = 5,
    max_new_tokens: int = 16,
    reward_form: str = "sigmoid",
    alpha: float = AUTHORS_ALPHA,
    beta: float = AUTHORS_BETA,
    tau: float | None = None,
    mode: str = "token",
    shaping: Shaping | None = None,
    device: str | torch.device | None = None,
    render_mode: str | None = None,
) -> TextGenerationEnv:
    """One Bambino env (``Bambino-v0`` with ``mode="token"``, ``BambinoSeq-v0`` with
    ``mode="sequence"``).

    Args:
        baby_model: spec of the generating model (its tokenizer defines the actions).
        parent_model: spec of the scoring parent.
        corpus: ``None`` (Italian parentese), a corpus path, or a list of utterances.
        prompt_tokens: prompt length in baby tokens (the paper: 5).
        max_new_tokens: longest continuation (the authors' code: 16).
        reward_form: ``"sigmoid"`` or ``"inverse"``.
        alpha, beta: reward parameters (the authors': 5 and 0.001).
        tau: reward midpoint / singularity; ``None`` takes :data:`CALIBRATED_TAU`.
        mode: ``"token"`` or ``"sequence"``.
        shaping: optional per-step reward, see :class:`TextGenerationEnv`.
        device: where baby and parent live (``None``: lm_gym's default device).
        render_mode: ``None`` or ``"ansi"``.
    """
    baby, texts, reward, vocab = _parts(
        mode=mode,
        prompt_tokens=prompt_tokens,
        max_new_tokens=max_new_tokens,
        baby_model=baby_model,
        parent_model=parent_model,
        corpus=corpus,
        reward_form=reward_form,
        alpha=alpha,
        beta=beta,
        tau=tau,
        device=device,
    )
    env = TextGenerationEnv(
        baby.tokenizer,
        texts,
        reward,
        prompt_tokens=prompt_tokens,
        max_new_tokens=max_new_tokens,
        mode=mode,
        vocab_size=vocab,
        shaping=shaping,
        render_mode=render_mode,
    )
    env.baby = baby
    return env


def make_bambino_vector_env(
    num_envs: int = 1,
    *,
    baby_model: Any = "baby-en",
    parent_model: Any = "parent-it",
    corpus: str | os.PathLike | Sequence[str] | None = None,
    prompt_tokens: int = 5,
    max_new_tokens: int = 16,
    reward_form: str = "sigmoid",
    alpha: float = AUTHORS_ALPHA,
    beta: float = AUTHORS_BETA,
    tau: float | None = None,
    mode: str = "token",
    shaping: Shaping | None = None,
    device: str | torch.device | None = None,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    tensor_device: str | torch.device | None = None,
    render_mode: str | None = None,
) -> TextGenerationVectorEnv:
    """``num_envs`` Bambino episodes in one native vector env (``gym.make_vec``'s entry point).

    Arguments as :func:`make_bambino_env`, plus ``num_envs``, ``autoreset_mode`` and
    ``tensor_device`` (see :class:`TextGenerationVectorEnv`).
    """
    baby, texts, reward, vocab = _parts(
        mode=mode,
        prompt_tokens=prompt_tokens,
        max_new_tokens=max_new_tokens,
        baby_model=baby_model,
        parent_model=parent_model,
        corpus=corpus,
        reward_form=reward_form,
        alpha=alpha,
        beta=beta,
        tau=tau,
        device=device,
    )
    env = TextGenerationVectorEnv(
        baby.tokenizer,
        texts,
        reward,
        num_envs=num_envs,
        prompt_tokens=prompt_tokens,
        max_new_tokens=max_new_tokens,
        mode=mode,
        vocab_size=vocab,
        shaping=shaping,
        autoreset_mode=autoreset_mode,
        tensor_device=tensor_device,
        render_mode=render_mode,
    )
    env.baby = baby
    return env


def sample_parent_perplexities(
    num_samples: int = 512, *, seed: int = 0, **env_kwargs: Any
) -> np.ndarray:
    """Parent perplexities of the baby's own samples on the env's prompts.

    The baby samples as in the authors' code (plain sampling: top_k=0, top_p=1.0, with its
    BOS before the prompt) through a ``SAME_STEP`` vector env of ``num_samples`` rows; the
    first episode of every row is kept.

    Args:
        num_samples: number of continuations.
        seed: seeds the prompts and the sampling.
        env_kwargs: any :func:`make_bambino_vector_env` argument (models, corpus, lengths).
    """
    env = make_bambino_vector_env(num_samples, autoreset_mode="SameStep", **env_kwargs)
    model, tokenizer = env.baby
    obs, _ = env.reset(seed=seed)
    k = env.task.prompt_tokens
    device = model.device
    prompts = torch.as_tensor(obs["input_ids"][:, :k], device=device)
    inputs = torch.cat([torch.full_like(prompts[:, :1], bos_id(tokenizer)), prompts], dim=1)
    generator = torch.Generator(device=device).manual_seed(seed)
    perplexity = np.full(num_samples, np.nan)
    past = None
    with torch.inference_mode():
        for _ in range(env.task.max_new_tokens):
            output, past = forward_with_cache(model, inputs, past)
            probs = output.logits[:, -1, : env.task.vocab_size].float().softmax(-1)
            actions = torch.multinomial(probs, 1, generator=generator)
            _, _, terminated, truncated, info = env.step(actions[:, 0])
            first = (terminated | truncated) & np.isnan(perplexity)
            if first.any():
                perplexity[first] = info["final_info"]["ppl"][first]
            inputs = actions
    return perplexity


def calibrate_tau(perplexities: np.ndarray, form: str = "sigmoid") -> float:
    """The ``tau`` that spreads rewards of these perplexities: median (sigmoid), 5th
    percentile (inverse). See :data:`CALIBRATED_TAU`."""
    values = np.asarray(perplexities, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("calibrate_tau needs at least one finite perplexity")
    if form == "sigmoid":
        return float(np.median(values))
    if form == "inverse":
        return float(np.percentile(values, 5))
    raise ValueError(f"form must be 'sigmoid' or 'inverse', got {form!r}")
