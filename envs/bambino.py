"""BAMBINO-LM as environments: an English baby continues Italian prompts, a parent judges them.

``Bambino-v0`` (token mode) and ``BambinoSeq-v0`` (sequence mode) are :class:`BambinoEnv`
with ``mode="token"`` and ``mode="sequence"``; ``gym.make_vec`` builds :class:`BambinoVectorEnv`
(see :mod:`lm_gym.registration`). Their keywords are the fields of :class:`BambinoConfig`;
every part has an offline default and can be replaced by keyword. The paper's models work the
same way on a machine that has them::

    gym.make("Bambino-v0", baby_model="babylm/opt-125m-strict-small",
             parent_model="GroNLP/gpt2-small-italian", corpus="italian.train")

The default reward is the parent's per-word SLOR (:class:`~lm_gym.rewards.ParentReward`), which
passes the reward audit (``lm-gym audit-reward Bambino-v0``) and needs no calibration; the
paper's two perplexity forms are named options whose ``tau`` is calibrated on the untrained
baby's own samples when it is not given (:func:`calibrate_tau`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from lm_gym.evaluation.evaluate import evaluation_texts
from lm_gym.models.clm import bos_id
from lm_gym.models.loading import LM, load_model
from lm_gym.models.recipes import RECIPES, recipe_corpus
from lm_gym.models.sampling import generate
from lm_gym.rewards.parent import (
    AUTHORS_ALPHA,
    AUTHORS_BETA,
    PAPER_FORMS,
    REWARD_FORMS,
    SLOR_SCALE,
    ParentReward,
)
from lm_gym.utils.validation import check_choice, check_number, check_positive_int

LOGGER = logging.getLogger(__name__)

CORPUS_SIZE = 5_000
"""Italian parentese utterances generated for the default prompts and L2 stream (before the
evaluation sentences are taken out)."""

CORPUS_SEED = 2_024
"""Generator seed of the default corpus (no recipe or held-out set uses it)."""

AUDIT_SEED = 5_151
"""Generator seed of the held-out Italian the reward audit takes its true continuations from."""

CALIBRATION_SAMPLES = 256
"""Untrained-baby samples a paper form's ``tau`` is calibrated on when it is not given."""


@lru_cache(maxsize=1)
def default_corpus() -> tuple[str, ...]:
    """The default L2 corpus: seeded Italian parentese, without any sentence of the Italian
    evaluation sets (held-out text, minimal pairs, sentence types), so what the baby is
    evaluated on it never trains on (deterministic)."""
    held_out = evaluation_texts("it")
    texts = generate_parentese("it", CORPUS_SIZE, seed=CORPUS_SEED)
    return tuple(text for text in texts if text not in held_out)


def resolve_corpus(corpus: str | os.PathLike | Sequence[str] | None) -> list[str]:
    """``None`` -> the default corpus; a path -> its utterances; a list of strings as is."""
    return resolve_texts(corpus, default_corpus, name="corpus", item="utterance")


def audit_corpus(size: int = 2_000) -> list[str]:
    """Italian parentese no recipe, env corpus or evaluation set contains: the reward audit's
    source of true continuations (``lm-gym audit-reward Bambino-v0``)."""
    seen = {*default_corpus(), *recipe_corpus(RECIPES["parent-it"]), *evaluation_texts("it")}
    return [text for text in generate_parentese("it", size, seed=AUDIT_SEED) if text not in seen]


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
    """L2 corpus (prompts and the CLM stream): ``None`` (seeded Italian parentese without the
    evaluation sentences), a corpus path, or a list of texts."""
    prompt_words: int = 3
    """Prompt length in words: prompts end at a word boundary and mean the same whatever the
    baby's tokenizer (the paper's 5 OPT tokens of Italian are about 2-3 words)."""
    prompt_tokens: int | None = None
    """Cut prompts after this many baby tokens instead (the paper: 5; the authors' code: 8);
    with a tokenizer that splits words finely they may end inside a word."""
    max_new_tokens: int = 32
    """Longest continuation in baby tokens (``baby-en`` spells Italian with about 4.9 tokens a
    word: 32 tokens fit the true continuation of 97% of the default prompts)."""
    reward_form: str = "slor"
    """``"slor"`` (per-word SLOR of the parent, the default), ``"sigmoid"`` (the authors'
    code) or ``"inverse"`` (the paper's eq. (1), guarded); see :mod:`lm_gym.rewards.parent`."""
    scale: float = SLOR_SCALE
    """The ``slor`` reward is ``tanh(SLOR / scale)``, in ``(-1, 1)``."""
    alpha: float = AUTHORS_ALPHA
    """Paper forms: reward scale (the authors': 5)."""
    beta: float = AUTHORS_BETA
    """Paper forms: reward slope (the authors': 0.001)."""
    tau: float | None = None
    """Paper forms: midpoint (sigmoid) or singularity (inverse); ``None`` calibrates it on the
    untrained baby's samples (:func:`calibrate_tau`)."""
    mode: str = "token"
    """``"token"`` (one baby token per step) or ``"sequence"`` (the whole continuation)."""
    shaping: Shaping | None = None
    """Optional per-step reward, see :class:`~lm_gym.envs.TextGenerationEnv`."""
    device: str | torch.device | None = None
    """Where baby and parent live (``None``: lm_gym's default device)."""

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_positive_int("prompt_words", self.prompt_words)
        if self.prompt_tokens is not None:
            check_positive_int("prompt_tokens", self.prompt_tokens)
        check_positive_int("max_new_tokens", self.max_new_tokens)
        check_episode_length(self.prompt_tokens or 0, self.max_new_tokens)
        check_choice("reward_form", self.reward_form, REWARD_FORMS)
        check_number("scale", self.scale, minimum=0.0, exclusive_minimum=True)
        if self.tau is not None:
            check_number("tau", self.tau)

    def build(self) -> GenerationParts:
        """Read the corpus, load the parent reward and the baby (calibrating ``tau`` for a
        paper form when it is not given)."""
        texts = resolve_corpus(self.corpus)
        needs_tau = self.reward_form in PAPER_FORMS and self.tau is None
        reward = self._reward(texts, "slor" if needs_tau else self.reward_form, self.tau)
        baby = load_model(self.baby_model, device=self.device)
        parts = self._parts(baby, texts, reward)
        if needs_tau:
            ppl = baby_sample_scores(parts, CALIBRATION_SAMPLES, seed=0)["ppl"]
            tau = calibrate_tau(ppl, self.reward_form)
            LOGGER.info(
                "Bambino: reward_form=%r, tau calibrated to %.4g on %d samples of the "
                "untrained baby (pass tau= to fix it)",
                self.reward_form,
                tau,
                len(ppl),
            )
            parts = self._parts(baby, texts, self._reward(texts, self.reward_form, tau))
        return parts

    def _reward(self, texts: list[str], form: str, tau: float | None) -> ParentReward:
        paper = {} if tau is None else {"tau": tau}
        return ParentReward(
            self.parent_model,
            form,
            unigram_corpus=texts,
            scale=self.scale,
            alpha=self.alpha,
            beta=self.beta,
            device=self.device,
            **paper,
        )

    def _parts(self, baby: LM, texts: list[str], reward: ParentReward) -> GenerationParts:
        by_tokens = self.prompt_tokens is not None
        return GenerationParts(
            baby,
            texts,
            reward,
            prompt_tokens=self.prompt_tokens,
            prompt_words=None if by_tokens else self.prompt_words,
            prompt_pairs=None,
            max_new_tokens=self.max_new_tokens,
            mode=self.mode,
            shaping=self.shaping,
        )


class BambinoEnv(TextGenerationEnv):
    """An English baby LM continues Italian prompts; a parent LM judges the continuation.

    ## Description
    The feedback phase of BAMBINO-LM (Shen, Joshi and Chen, 2024). A baby LM pre-trained on
    English (default: the offline ``baby-en`` recipe, OPT-style like the paper's
    ``babylm/opt-125m-strict-small``) continues the first ``prompt_words`` words of an Italian
    utterance; a frozen parent LM fluent in Italian (default ``parent-it``, GPT-2-style like
    ``GroNLP/gpt2-small-italian``) scores the continuation. Baby and parent have different
    tokenizers: the reward goes baby ids -> text -> parent ids. The learning phase (CLM on the
    Italian corpus) is :class:`lm_gym.wrappers.CLMAlternation` around this env.

    ## Action Space
    ``mode="token"`` (``Bambino-v0``): ``Discrete(V)``, the next baby token, with ``V`` the
    larger of the baby tokenizer's size and the baby model's output size.
    ``mode="sequence"`` (``BambinoSeq-v0``): ``Box(0, V-1, (max_new_tokens,), int64)``, the
    whole continuation; ids after the first EOS are ignored. A bad action raises and leaves the
    env as it was.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=MultiBinary(L))``, ``L = P +
    max_new_tokens`` with ``P`` the longest prompt in baby tokens (27 for the defaults, so
    ``L`` is 59): the prompt right-aligned in the first ``P`` columns (padding with mask 0 on
    its left), the baby's tokens so far from column ``P``, then padding with mask 0.

    ## Rewards
    0 until the episode ends, then the parent's judgement of the continuation given the prompt.
    ``reward_form="slor"`` (default): its per-word SLOR, ``(log P_parent(continuation, EOS |
    prompt) - log P_unigram(continuation)) / words`` mapped into ``(-1, 1)`` by ``tanh(SLOR /
    scale)`` (a continuation without a word earns -1), with the
    unigram model estimated on the env's corpus: fluent Italian that fits the prompt scores
    high, whatever its words' frequency and length; empty or punctuation-only text, repeated or
    shuffled words and the prompt copied score low (``lm-gym audit-reward Bambino-v0``).
    ``"sigmoid"`` (the authors' code) and ``"inverse"`` (the paper's eq. (1), guarded) map the
    parent's per-token perplexity ``PPL`` through ``tau``, calibrated on the untrained baby's
    samples when not given. Never NaN or inf, empty continuations included.

    ## Starting State
    A prompt drawn uniformly, with the env's seeded generator, from the corpus utterances that
    have more than ``prompt_words`` words (or ``prompt_tokens`` tokens).

    ## Episode End
    Token mode: terminated when the baby emits EOS, truncated after ``max_new_tokens`` tokens.
    Sequence mode: terminated after its one step. The final ``info`` holds ``prompt``,
    ``completion``, the parent's per-token ``ppl`` and per-word ``ppl_word``, and ``slor``.

    ## Arguments
    The fields of :class:`BambinoConfig`, as keywords: ``baby_model``, ``parent_model``,
    ``corpus``, ``prompt_words``, ``prompt_tokens``, ``max_new_tokens``, ``reward_form``,
    ``scale``, ``alpha``, ``beta``, ``tau``, ``mode``, ``shaping``, ``device``; and
    ``render_mode`` (``None`` or ``"ansi"``). An unknown keyword is a ``TypeError`` before any
    model loads. The loaded baby is the declared attribute ``generating_model`` (an
    :class:`~lm_gym.models.LM`), the config ``config``.

    ## Version History
    * v0: initial release (v0 until the first published leaderboard; before it the default
      reward was the authors' sigmoid form and prompts were 5 baby tokens).
    """

    @classmethod
    def audit_arguments(cls) -> dict[str, Any]:
        """Keywords that make the env draw its prompts from held-out Italian (no recipe, env
        corpus or evaluation set contains it), for ``lm-gym audit-reward``."""
        return {"corpus": audit_corpus()}

    @classmethod
    def audit_fixed_candidates(cls) -> list[str]:
        """Continuations the audit's fixed-sentence policy chooses from: the continuations
        of the default corpus (the reward's favourite one is played for every prompt)."""
        pairs = (text.split(" ", 3) for text in default_corpus())
        return [" " + parts[3] for parts in pairs if len(parts) == 4][:500]

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
    As :class:`BambinoEnv`, per row; per-row ``prompt``, ``completion``, ``ppl``, ``ppl_word``
    and ``slor`` come in ``info`` with ``_key`` masks.

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


def baby_sample_scores(
    parts: GenerationParts, num_samples: int, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """The reward and its info (``ppl``, ``ppl_word``, ``slor``, ...) of the generating model's
    own continuations of ``num_samples`` prompts, sampled as in the authors' code (plain
    sampling, top_k=0, top_p=1, BOS before the prompt), through a sequence-mode vector env.

    Args:
        parts: what a Bambino config builds (models, prompts, reward).
        num_samples: number of continuations (prompts drawn with the env's seeded generator).
        seed: seeds the prompts and the sampling.
    """
    arguments = {**parts.env_arguments(), "mode": "sequence"}
    env = TextGenerationVectorEnv(**arguments, num_envs=num_samples, autoreset_mode="SameStep")
    model, tokenizer = parts.generating_model
    obs, _ = env.reset(seed=seed)
    width = env.task.prompt_width
    device = next(model.parameters()).device
    prompts = torch.as_tensor(obs["input_ids"][:, :width], device=device)
    masks = torch.as_tensor(obs["attention_mask"][:, :width], device=device)
    pad = env.task.pad_token_id
    generator = torch.Generator(device=device).manual_seed(seed)
    tokens, _ = generate(
        model,
        prompts,
        masks,
        env.task.max_new_tokens,
        generator,
        eos_id=env.task.eos_token_id,
        pad_id=pad,
        bos_id=bos_id(tokenizer),
        vocab_size=env.task.vocab_size,
    )
    _, rewards, _, _, info = env.step(tokens)
    final = info["final_info"]
    scores = {"reward": np.asarray(rewards, dtype=np.float64)}
    for key, values in final.items():
        if not key.startswith("_") and np.asarray(values).dtype.kind == "f":
            scores[key] = np.asarray(values, dtype=np.float64)
    env.close()
    return scores


def sample_parent_perplexities(
    num_samples: int = CALIBRATION_SAMPLES, *, seed: int = 0, **env_kwargs: Any
) -> np.ndarray:
    """Parent perplexities (per parent token) of the untrained baby's own samples.

    Args:
        num_samples: number of continuations.
        seed: seeds the prompts and the sampling.
        env_kwargs: any :class:`BambinoConfig` field (models, corpus, lengths).
    """
    config = replace(BambinoConfig(**env_kwargs), reward_form="slor", tau=None)
    return baby_sample_scores(config.build(), num_samples, seed=seed)["ppl"]


def calibrate_tau(perplexities: np.ndarray, form: str = "sigmoid") -> float:
    """The ``tau`` that spreads a paper form's rewards over these perplexities: their median
    (sigmoid: half the samples above ``alpha / 2``), or their 5th percentile (inverse: eq.
    (1)'s guard hit by about 5% of them).

    Raises:
        ValueError: for no finite perplexity, or another form.
    """
    values = np.asarray(perplexities, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("calibrate_tau needs at least one finite perplexity")
    check_choice("form", form, PAPER_FORMS)
    if form == "sigmoid":
        return float(np.median(values))
    return float(np.percentile(values, 5))
