"""BAMBINO-LM as environments: an English baby continues Italian prompts, a parent scores them.

``Bambino-v0`` (token mode) and ``BambinoSeq-v0`` (sequence mode) are :class:`BambinoEnv`
with ``mode="token"`` and ``mode="sequence"``; ``gym.make_vec`` builds :class:`BambinoVectorEnv`
(see :mod:`lm_gym.registration`). Their keywords are the fields of :class:`BambinoConfig`;
every part has an offline default and can be replaced by keyword. The paper's models work the
same way on a machine that has them::

    gym.make("Bambino-v0", baby_model="babylm/opt-125m-strict-small",
             parent_model="GroNLP/gpt2-small-italian", corpus="italian.train")

:func:`sample_parent_perplexities` and :func:`calibrate_tau` recompute the default ``tau`` of
:data:`CALIBRATED_TAU` for other models or corpora.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from lm_gym.corpora.loaders import resolve_texts
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.envs.text_generation import GenerationParts, TextGenerationEnv, config_from_keywords
from lm_gym.envs.text_generation_batch import MODES, Shaping, check_episode_length
from lm_gym.envs.text_generation_vector import TextGenerationVectorEnv
from lm_gym.models.clm import bos_id
from lm_gym.models.loading import forward_with_cache, load_model
from lm_gym.rewards.perplexity import (
    AUTHORS_ALPHA,
    AUTHORS_BETA,
    REWARD_FORMS,
    ParentPerplexityReward,
)
from lm_gym.utils.validation import check_choice, check_positive_int

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


@dataclass(frozen=True)
class BambinoConfig:
    """The keywords of every Bambino env, single and vector (the registered ids set ``mode``).

    The cheap fields are checked on construction; :meth:`build` loads the models.
    """

    baby_model: Any = "baby-en"
    """Spec of the generating model (recipe, folder, HF id, in-memory model, ``LM``); its
    tokenizer defines the actions and it is the env's ``generating_model``."""
    parent_model: Any = "parent-it"
    """Spec of the frozen scoring parent, loaded once per process."""
    corpus: str | os.PathLike | Sequence[str] | None = None
    """Prompt corpus: ``None`` (seeded Italian parentese), a corpus path, or a list of texts."""
    prompt_tokens: int = 5
    """Prompt length in baby tokens (the paper: 5; the authors' code: 8)."""
    max_new_tokens: int = 16
    """Longest continuation in baby tokens (the authors' code: 16)."""
    reward_form: str = "sigmoid"
    """``"sigmoid"`` (the authors' code) or ``"inverse"`` (the paper's eq. (1), guarded)."""
    alpha: float = AUTHORS_ALPHA
    """Reward scale (the authors': 5)."""
    beta: float = AUTHORS_BETA
    """Reward slope (the authors': 0.001)."""
    tau: float | None = None
    """Reward midpoint (sigmoid) or singularity (inverse); ``None`` takes :data:`CALIBRATED_TAU`."""
    mode: str = "token"
    """``"token"`` (one baby token per step) or ``"sequence"`` (the whole continuation)."""
    shaping: Shaping | None = None
    """Optional per-step reward, see :class:`~lm_gym.envs.TextGenerationEnv`."""
    device: str | torch.device | None = None
    """Where baby and parent live (``None``: lm_gym's default device)."""

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_positive_int("prompt_tokens", self.prompt_tokens)
        check_positive_int("max_new_tokens", self.max_new_tokens)
        check_episode_length(self.prompt_tokens, self.max_new_tokens)
        check_choice("reward_form", self.reward_form, REWARD_FORMS)

    def build(self) -> GenerationParts:
        """Read the corpus and load the parent reward, then the baby."""
        tau = CALIBRATED_TAU[self.reward_form] if self.tau is None else self.tau
        texts = resolve_corpus(self.corpus)
        reward = ParentPerplexityReward(
            self.parent_model, self.reward_form, self.alpha, self.beta, tau, device=self.device
        )
        baby = load_model(self.baby_model, device=self.device)
        return GenerationParts(
            baby, texts, reward, self.prompt_tokens, self.max_new_tokens, self.mode, self.shaping
        )


class BambinoEnv(TextGenerationEnv):
    """An English baby LM continues Italian prompts; a parent LM's perplexity is the reward.

    ## Description
    The feedback phase of BAMBINO-LM (Shen, Joshi and Chen, 2024). A baby LM pre-trained on
    English (default: the offline ``baby-en`` recipe, OPT-style like the paper's
    ``babylm/opt-125m-strict-small``) continues the first ``prompt_tokens`` baby tokens of an
    Italian utterance; a frozen parent LM fluent in Italian (default ``parent-it``, GPT-2-style
    like ``GroNLP/gpt2-small-italian``) scores the continuation. Baby and parent have different
    tokenizers: the reward goes baby ids -> text -> parent ids. The learning phase (CLM on the
    Italian corpus) is :class:`lm_gym.wrappers.CLMAlternation` around this env.

    ## Action Space
    ``mode="token"`` (``Bambino-v0``): ``Discrete(V)``, the next baby token, with ``V`` the
    larger of the baby tokenizer's size and the baby model's output size.
    ``mode="sequence"`` (``BambinoSeq-v0``): ``Box(0, V-1, (max_new_tokens,), int64)``, the
    whole continuation; ids after the first EOS are ignored. A bad action raises and leaves the
    env as it was.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=MultiBinary(L))``, ``L =
    prompt_tokens + max_new_tokens`` (21 by default): the prompt, the baby's tokens so far,
    then padding with mask 0.

    ## Rewards
    0 until the episode ends, then the parent's perplexity ``PPL`` of the continuation given
    the prompt, as a reward: ``reward_form="sigmoid"``, ``alpha / (1 + exp(beta (PPL - tau)))``
    (the authors' code), or ``"inverse"``, ``alpha / (beta (PPL - tau))`` (the paper's eq. (1),
    with ``PPL - tau`` clamped to at least ``min_gap`` so it is never singular or negative).
    ``tau`` defaults to :data:`CALIBRATED_TAU`. Never NaN or inf, empty continuations included.

    ## Starting State
    A prompt drawn uniformly, with the env's seeded generator, from the first ``prompt_tokens``
    baby tokens of each corpus utterance that has that many.

    ## Episode End
    Token mode: terminated when the baby emits EOS, truncated after ``max_new_tokens`` tokens.
    Sequence mode: terminated after its one step. The final ``info`` holds ``prompt``,
    ``completion`` and the parent's ``ppl``.

    ## Arguments
    The fields of :class:`BambinoConfig`, as keywords: ``baby_model``, ``parent_model``,
    ``corpus``, ``prompt_tokens``, ``max_new_tokens``, ``reward_form``, ``alpha``, ``beta``,
    ``tau``, ``mode``, ``shaping``, ``device``; and ``render_mode`` (``None`` or ``"ansi"``).
    An unknown keyword is a ``TypeError`` before any model loads. The loaded baby is the
    declared attribute ``generating_model`` (an :class:`~lm_gym.models.LM`), the config
    ``config``.

    ## Version History
    * v0: initial release.
    """

    def __init__(self, *, render_mode: str | None = None, **kwargs: Any) -> None:
        self.config = config_from_keywords(BambinoConfig, type(self), kwargs)
        super().__init__(**self.config.build().env_arguments(), render_mode=render_mode)


class BambinoVectorEnv(TextGenerationVectorEnv):
    """``num_envs`` Bambino episodes stepped as one batch (``gym.make_vec``'s entry point).

    ## Description
    :class:`BambinoEnv`'s episodes, ``num_envs`` at a time, in one
    :class:`~lm_gym.envs.TextGenerationVectorEnv` (a few tensor operations per step whatever
    ``num_envs`` is; the parent scores every row that finishes in one call).

    ## Action Space
    :class:`BambinoEnv`'s, batched: ``MultiDiscrete([V] * num_envs)`` in token mode,
    ``Box(0, V-1, (num_envs, max_new_tokens), int64)`` in sequence mode; numpy arrays or
    torch tensors.

    ## Observation Space
    :class:`BambinoEnv`'s, batched to ``(num_envs, L)``; torch tensors on ``tensor_device``
    when it is set.

    ## Rewards
    As :class:`BambinoEnv`, per row; per-row ``ppl``, ``prompt`` and ``completion`` come in
    ``info`` with ``_key`` masks.

    ## Starting State
    As :class:`BambinoEnv`; every row draws its prompt from the vector env's one generator.

    ## Episode End
    As :class:`BambinoEnv`, per row, with Gymnasium's autoreset modes (``NEXT_STEP`` by
    default; see :class:`~lm_gym.envs.TextGenerationVectorEnv`).

    ## Arguments
    ``num_envs``, ``autoreset_mode``, ``tensor_device`` and ``render_mode`` (see
    :class:`~lm_gym.envs.TextGenerationVectorEnv`), and every :class:`BambinoEnv` keyword.

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
        self.config = config_from_keywords(BambinoConfig, type(self), kwargs)
        super().__init__(
            **self.config.build().env_arguments(),
            num_envs=num_envs,
            autoreset_mode=autoreset_mode,
            tensor_device=tensor_device,
            render_mode=render_mode,
        )


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
        env_kwargs: any :class:`BambinoConfig` field (models, corpus, lengths).
    """
    env = BambinoVectorEnv(num_samples, autoreset_mode="SameStep", **env_kwargs)
    model, tokenizer = env.generating_model
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
