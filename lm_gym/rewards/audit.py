"""The reward audit: does a text env's reward prefer real text to every degenerate policy?

A reward is part of the benchmark: if a policy can win by gaming it (a constant ".", one fixed
fluent sentence for every prompt, the prompt copied back), every leaderboard number measures
the game. The audit plays, through the env's own ``reset``/``step``, the *reference* policy
(the true continuation of each prompt, from held-out text no recipe trains on) against a named
set of degenerate policies on the same prompts, and reports for each one its mean reward, the
reference's win rate against it (ties count as losses), and how many reference rewards sit
within 1% of the reward's maximum (a saturated reward cannot rank).

Any text env built from lm_gym's parts can be audited: the env exposes its tokenizer, the
prompt of the current episode (``info["prompt"]``) and, through its task, the true continuation
of that prompt (``env.unwrapped.reference_continuation()``). ``lm-gym audit-reward ENV_ID``
runs it from the command line; :func:`audit_env` in Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from lm_gym.rewards.audit_policies import (
    NON_FLUENT,
    TEXT_POLICIES,
    AuditContext,
    Policy,
    choose_fixed_sentence,
    choose_fixed_word,
    word_token_ids,
)

WIN_RATE_TARGET = 0.7
"""Least share of prompts the reference must win against each non-fluent policy."""

SATURATION_TARGET = 0.1
"""Largest share of reference rewards allowed within 1% of the reward's maximum."""


@dataclass
class AuditReport:
    """The audit's numbers (JSON-ready through :meth:`to_dict`)."""

    episodes: int
    """Prompts audited (every policy plays each of them once)."""
    reward_max: float
    """The reward's maximum: declared by the reward (``reward_range``) or, when it declares
    none, the largest reward observed in the audit."""
    rewards: dict[str, list[float]]
    """Policy (``reference`` included) -> its reward on each prompt."""
    texts: dict[str, list[str]] = field(default_factory=dict)
    """Policy -> its continuation of each prompt (the reference's included)."""
    fixed: dict[str, str] = field(default_factory=dict)
    """The fixed continuations the audit chose (e.g. the reward's favourite sentence)."""
    examples: list[dict[str, str]] = field(default_factory=list)
    """A few prompts with each policy's continuation, for reading."""

    def mean(self, policy: str) -> float:
        """Mean reward of ``policy``."""
        return float(np.mean(self.rewards[policy]))

    def win_rate(self, policy: str) -> float:
        """Share of prompts where the reference earns more than ``policy`` (ties lose), among
        the prompts where ``policy`` says something else than the reference (a one-word
        reference repeated once, or shuffled, is the reference itself)."""
        reference, other = np.asarray(self.rewards["reference"]), np.asarray(self.rewards[policy])
        differs = np.ones(len(reference), dtype=bool)
        if policy in self.texts and "reference" in self.texts:
            pairs = zip(self.texts[policy], self.texts["reference"])
            differs = np.array([a.strip() != b.strip() for a, b in pairs])
        if not differs.any():
            return 1.0
        return float(np.mean(reference[differs] > other[differs]))

    @property
    def at_max_share(self) -> float:
        """Share of reference rewards within 1% of :attr:`reward_max` (of its magnitude)."""
        reference = np.asarray(self.rewards["reference"])
        tolerance = 0.01 * max(abs(self.reward_max), 1e-12)
        return float(np.mean(reference >= self.reward_max - tolerance))

    def failures(self) -> list[str]:
        """Why the reward fails the audit (empty when it passes)."""
        problems = []
        reference = self.mean("reference")
        for policy in self.rewards:
            if policy == "reference":
                continue
            if not reference > self.mean(policy):
                problems.append(
                    f"{policy} earns {self.mean(policy):.4g} on average, the reference "
                    f"{reference:.4g}"
                )
            if policy in NON_FLUENT and self.win_rate(policy) < WIN_RATE_TARGET:
                problems.append(
                    f"the reference beats {policy} on only {self.win_rate(policy):.0%} of "
                    f"prompts (target {WIN_RATE_TARGET:.0%})"
                )
        if self.at_max_share > SATURATION_TARGET:
            problems.append(
                f"{self.at_max_share:.0%} of reference rewards are within 1% of the maximum "
                f"{self.reward_max:.4g} (target at most {SATURATION_TARGET:.0%}): it saturates"
            )
        return problems

    @property
    def passed(self) -> bool:
        """True when the reward passes every target."""
        return not self.failures()

    def to_dict(self) -> dict[str, Any]:
        """Summary and per-prompt rewards, for ``--json``."""
        return {
            "episodes": self.episodes,
            "passed": self.passed,
            "failures": self.failures(),
            "reward_max": self.reward_max,
            "reference": {"mean": self.mean("reference"), "at_max_share": self.at_max_share},
            "policies": {
                name: {
                    "mean": self.mean(name),
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                    "reference_win_rate": self.win_rate(name),
                }
                for name, values in self.rewards.items()
                if name != "reference"
            },
            "fixed": self.fixed,
            "examples": self.examples,
            "rewards": self.rewards,
        }

    def table(self) -> str:
        """A markdown table: policy, mean reward, the reference's win rate against it."""
        lines = [
            "| policy | mean reward | reference wins |",
            "| --- | ---: | ---: |",
            f"| reference (true continuation) | {self.mean('reference'):.3f} | - |",
        ]
        for name in self.rewards:
            if name != "reference":
                lines.append(f"| {name} | {self.mean(name):.3f} | {self.win_rate(name):.0%} |")
        lines.append(
            f"\nreference rewards within 1% of the maximum ({self.reward_max:.4g}): "
            f"{self.at_max_share:.0%}; {'PASSED' if self.passed else 'FAILED'}"
        )
        return "\n".join(lines)


def _play(env: Any, seed: int, ids: Sequence[int]) -> float:
    """Reset ``env`` with ``seed`` and play the continuation ``ids`` (then EOS); the return."""
    base = env.unwrapped
    tokenizer = base.tokenizer
    eos = int(tokenizer.eos_token_id)
    env.reset(seed=seed)
    space = env.action_space
    if isinstance(space, spaces.Discrete):
        total, done = 0.0, False
        for token in [*ids, eos]:
            _, reward, terminated, truncated, _ = env.step(int(token))
            total += float(reward)
            done = terminated or truncated
            if done:
                break
        if not done:
            raise RuntimeError("the episode did not end after EOS: is EOS the env's end token?")
        return total
    width = int(space.shape[0])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    action = np.full(width, pad, dtype=np.int64)
    row = [*ids, eos][:width]
    action[: len(row)] = row
    _, reward, _, _, _ = env.step(action)
    return float(reward)


def _encode(tokenizer: Any, text: str, limit: int) -> list[int]:
    """``text``'s ids, cut to the ``limit`` tokens an episode leaves room for before EOS."""
    if not text.strip():
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])[:limit]


def audit_env(
    env: Any,
    *,
    episodes: int = 200,
    seed: int = 0,
    policies: Mapping[str, Policy] | None = None,
    fixed_candidates: Sequence[str] | None = None,
    whole_references: bool | None = None,
    examples: int = 3,
) -> AuditReport:
    """Audit the reward of a text env: the reference against each degenerate policy.

    Args:
        env: a single (not vector) text env built from lm_gym's parts, on held-out text: its
            base env must offer ``tokenizer``, ``reward_fn`` and ``reference_continuation()``
            (the true continuation of the current prompt, cut to fit an episode).
        episodes: prompts to audit (reset seeds ``seed .. seed + episodes - 1``).
        policies: name -> policy (default: :data:`TEXT_POLICIES`, or the env's own
            ``audit_policies`` attribute when it has one); ``{}`` plays the reference alone
            (what the leaderboard's normalisation needs).
        fixed_candidates: continuations the fixed-sentence policy picks from (default: the
            audited references); the one with the highest mean reward is used.
        whole_references: audit only prompts whose whole true continuation fits in an
            episode (a reference cut mid-sentence is no longer real text); default: the env's
            ``audit_whole_references`` attribute, else ``True``. Stories are longer than an
            episode, so their env cuts them at a word boundary instead (as the reward model
            was trained on).
        examples: how many prompts to keep with every policy's continuation, for the report.
    """
    base = env.unwrapped
    default = getattr(base, "audit_policies", TEXT_POLICIES)
    chosen = dict(default if policies is None else policies)
    tokenizer = base.tokenizer
    limit = base.task.max_new_tokens - 1
    whole = (
        getattr(base, "audit_whole_references", True)
        if whole_references is None
        else whole_references
    )
    prompts, references, seeds = [], [], []
    for candidate in range(seed, seed + 20 * episodes):
        if len(seeds) == episodes:
            break
        _, info = env.reset(seed=candidate)
        reference = base.reference_continuation()
        if whole and reference.strip() != base.reference_continuation(fit=False).strip():
            continue
        prompts.append(str(info["prompt"]))
        references.append(reference)
        seeds.append(candidate)
    if not seeds:
        raise ValueError("no prompt's true continuation fits in an episode: raise max_new_tokens")
    words = [w for text in references for w in text.split()] or ["."]
    special = set(getattr(tokenizer, "all_special_ids", None) or [])
    ordinary = [i for i in range(len(tokenizer)) if i not in special]
    context = AuditContext(
        prompts,
        references,
        words,
        token_ids=ordinary,
        token_counts=[len(_encode(tokenizer, text, limit)) for text in references],
        decode=lambda ids: tokenizer.decode(list(ids)),
        word_token_ids=word_token_ids(tokenizer, ordinary),
        max_tokens=limit,
    )
    if "fixed_sentence" in chosen:
        context.fixed["fixed_sentence"] = choose_fixed_sentence(
            base.task.reward_fn, prompts[: min(32, episodes)], fixed_candidates or references
        )
    if "fixed_word" in chosen:
        ids = word_token_ids(tokenizer, ordinary, min_letters=1)
        if not ids:
            raise ValueError(
                "the fixed_word policy needs word tokens in the env tokenizer (a word-start "
                "marker, Ġ or ▁, then letters); audit with policies= that leave it out"
            )
        context.fixed["fixed_word"] = choose_fixed_word(
            base.task.reward_fn,
            prompts[: min(32, episodes)],
            tokenizer.batch_decode([[i] for i in ids]),
        )
    episodes = len(seeds)
    texts: dict[str, list[str]] = {"reference": references}
    for name, policy in chosen.items():
        texts[name] = [policy(context, episode) for episode in range(episodes)]
    rewards = {
        name: [
            _play(env, reset_seed, _encode(tokenizer, text, limit))
            for reset_seed, text in zip(seeds, continuations)
        ]
        for name, continuations in texts.items()
    }
    declared = getattr(base.task.reward_fn, "reward_range", None)
    observed = max(max(values) for values in rewards.values())
    reward_max = float(declared[1]) if declared and math.isfinite(declared[1]) else observed
    shown = [
        {"prompt": prompts[i], **{name: texts[name][i] for name in texts}}
        for i in range(min(examples, episodes))
    ]
    return AuditReport(episodes, reward_max, rewards, texts, dict(context.fixed), shown)


def audit_registered(
    env_id: str,
    *,
    episodes: int = 200,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    policies: Mapping[str, Policy] | None = None,
) -> AuditReport:
    """Audit a registered text env (``lm-gym audit-reward ENV_ID``).

    The env is made with ``gym.make``; when its class says how to draw prompts from held-out
    text (a classmethod ``audit_arguments()``, as lm_gym's text envs have) those keywords come
    first and ``env_kwargs`` override them, and its ``audit_fixed_candidates()`` (if any) are the
    fixed-sentence policy's candidates. ``policies`` as in :func:`audit_env`.
    """
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    spec = gym.spec(env_id)
    entry = spec.entry_point
    env_class = load_env_creator(entry) if isinstance(entry, str) else entry
    defaults = getattr(env_class, "audit_arguments", dict)()
    candidates = getattr(env_class, "audit_fixed_candidates", lambda: None)()
    env = gym.make(env_id, **{**defaults, **dict(env_kwargs or {})})
    try:
        return audit_env(
            env, episodes=episodes, seed=seed, policies=policies, fixed_candidates=candidates
        )
    finally:
        env.close()
