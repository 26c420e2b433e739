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
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

Policy = Callable[["AuditContext", int], str]
"""``policy(context, episode) -> continuation text`` for the prompt of ``episode``."""

NON_FLUENT = (
    "empty",
    "punctuation",
    "repetition",
    "shuffled_words",
    "copied_prompt",
    "random_tokens",
    "word_salad",
    "fixed_word",
)
"""The degenerate policies the reference must beat on at least 70% of prompts."""

WIN_RATE_TARGET = 0.7
"""Least share of prompts the reference must win against each non-fluent policy."""

SATURATION_TARGET = 0.1
"""Largest share of reference rewards allowed within 1% of the reward's maximum."""


@dataclass
class AuditContext:
    """What the degenerate policies may draw on: prompts, references and corpus words."""

    prompts: list[str]
    """The prompt of each audited episode."""
    references: list[str]
    """The true continuation of each prompt."""
    words: list[str]
    """Words of the held-out references (for shuffled and random words)."""
    fixed: dict[str, str] = field(default_factory=dict)
    """Fixed continuations chosen before the audit (e.g. ``"fixed_sentence"``)."""
    token_ids: list[int] = field(default_factory=list)
    """The env tokenizer's ordinary (not special) token ids, for random tokens."""
    token_counts: list[int] = field(default_factory=list)
    """How many tokens each reference is in the env's tokenizer."""
    decode: Callable[[Sequence[int]], str] | None = None
    """The env tokenizer's ``ids -> text``."""
    word_token_ids: list[int] = field(default_factory=list)
    """Ids of the tokenizer's whole-word tokens (a word-start marker, then letters only)."""
    max_tokens: int = 0
    """Tokens an episode leaves room for before EOS."""


def _words(text: str) -> list[str]:
    return text.split()


def empty(context: AuditContext, episode: int) -> str:
    """End at once (EOS as the first action)."""
    return ""


def punctuation(context: AuditContext, episode: int) -> str:
    """A lone full stop."""
    return " ."


def copied_prompt(context: AuditContext, episode: int) -> str:
    """The prompt again."""
    return " " + context.prompts[episode].strip()


def repetition(context: AuditContext, episode: int) -> str:
    """The reference's first word, repeated as many times as the reference has words."""
    words = _words(context.references[episode]) or ["."]
    return " " + " ".join([words[0]] * len(words))


def shuffled_words(context: AuditContext, episode: int) -> str:
    """The reference's own words in a random order (same words, no syntax); an order other
    than the reference's whenever the words allow one."""
    words = _words(context.references[episode])
    shuffled = list(words)
    random.Random(episode).shuffle(shuffled)
    if shuffled == words and len(set(words)) > 1:
        shuffled = words[1:] + words[:1]
    return " " + " ".join(shuffled)


def random_words(context: AuditContext, episode: int) -> str:
    """As many words as the reference, drawn from the held-out corpus."""
    rng = random.Random(episode)
    count = max(1, len(_words(context.references[episode])))
    return " " + " ".join(rng.choice(context.words) for _ in range(count))


def random_tokens(context: AuditContext, episode: int) -> str:
    """As many tokens as the reference, drawn uniformly from the tokenizer's ordinary ids: what
    the ``random`` agent (the normalised scores' 0) writes. A reward that maps text with no
    word to a floor can rank such noise above a beginner's short answers; the reference must
    still beat it."""
    if context.decode is None or not context.token_ids:
        raise ValueError("random_tokens needs the env tokenizer's ids and decode in the context")
    rng = random.Random(episode)
    count = max(1, context.token_counts[episode] if context.token_counts else 1)
    text = context.decode([rng.choice(context.token_ids) for _ in range(count)])
    return text if text[:1].isspace() else " " + text


def word_salad(context: AuditContext, episode: int) -> str:
    """As many random whole words of the tokenizer's vocabulary as an episode holds: long,
    word-shaped, meaningless, in whatever language the tokenizer was fitted on (for
    Bambino-v0, the baby's English). What PPO alone learnt on Bambino-v0 with a large entropy
    bonus (``ent_coef=0.5``): a reward per word can pay more for any long run of real words
    than for a beginner's short answer, so the true continuation must still beat it."""
    if context.decode is None or not context.word_token_ids or context.max_tokens < 1:
        raise ValueError("word_salad needs the env tokenizer's word ids, decode and max_tokens")
    rng = random.Random(episode)
    ids = [rng.choice(context.word_token_ids) for _ in range(context.max_tokens)]
    text = context.decode(ids)
    return text if text[:1].isspace() else " " + text


def word_token_ids(tokenizer: Any, ids: Sequence[int], min_letters: int = 3) -> list[int]:
    """The ``ids`` whose token is a whole word: a word-start marker (GPT-2's ``Ġ`` or
    SentencePiece's ``▁``) followed by ``min_letters`` or more letters (by default three:
    shorter pieces such as ``Wh`` are mostly word starts, not words)."""
    tokens = tokenizer.convert_ids_to_tokens(list(ids))
    return [
        i
        for i, token in zip(ids, tokens)
        if token and token[0] in "Ġ▁" and len(token) > min_letters and token[1:].isalpha()
    ]


def fixed_word(context: AuditContext, episode: int) -> str:
    """One word and a full stop for every prompt: the reward's favourite among the tokenizer's
    word tokens, one letter or longer (picked by :func:`choose_fixed_word` before the audit).
    What PPO alone learnt on Bambino-v0 with a weak KL penalty (``kl_coef=0.05``): " s." for
    42% of its samples. A likelihood ratio such as SLOR pays for a word the parent expects more
    than its frequency does, and a short fragment can be such a word."""
    if "fixed_word" not in context.fixed:
        raise ValueError("fixed_word needs the word chosen by choose_fixed_word in the context")
    return context.fixed["fixed_word"]


def fixed_sentence(context: AuditContext, episode: int) -> str:
    """One fluent continuation for every prompt: the reward's favourite among the held-out
    references (picked by :func:`choose_fixed_sentence` before the audit)."""
    return context.fixed["fixed_sentence"]


def cut_short(context: AuditContext, episode: int) -> str:
    """The reference stopped after its first word."""
    words = _words(context.references[episode])
    return " " + words[0] if words else ""


def another_ending(context: AuditContext, episode: int) -> str:
    """The reference of another prompt (another story's ending)."""
    return context.references[(episode + 1) % len(context.references)]


TEXT_POLICIES: dict[str, Policy] = {
    "empty": empty,
    "punctuation": punctuation,
    "fixed_sentence": fixed_sentence,
    "copied_prompt": copied_prompt,
    "repetition": repetition,
    "shuffled_words": shuffled_words,
    "random_words": random_words,
    "random_tokens": random_tokens,
    "word_salad": word_salad,
    "fixed_word": fixed_word,
}
"""The degenerate policies every text env is audited against."""

STORY_POLICIES: dict[str, Policy] = {
    **TEXT_POLICIES,
    "cut_short": cut_short,
    "another_ending": another_ending,
}
"""Stories are also audited against stopping early and another story's ending."""


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


def choose_fixed_sentence(
    reward: Callable[..., Sequence[float]],
    prompts: Sequence[str],
    candidates: Sequence[str],
    *,
    max_candidates: int = 64,
) -> str:
    """The candidate continuation with the highest mean reward over ``prompts``: the strongest
    "say the same fluent thing every time" policy among ``candidates``."""
    pool = list(dict.fromkeys(c for c in candidates if c.strip()))[:max_candidates]
    if not pool:
        raise ValueError("no candidate continuation to choose a fixed sentence from")
    means = [float(np.mean(reward(list(prompts), [c] * len(prompts)))) for c in pool]
    return pool[int(np.argmax(means))]


def mean_rewards(
    reward: Callable[..., Sequence[float]],
    prompts: Sequence[str],
    candidates: Sequence[str],
    *,
    texts_per_call: int = 256,
) -> list[float]:
    """The mean reward of each candidate continuation over ``prompts``, several candidates to a
    call of ``reward`` (about ``texts_per_call`` texts)."""
    per_call = max(1, texts_per_call // max(1, len(prompts)))
    means: list[float] = []
    for start in range(0, len(candidates), per_call):
        chunk = candidates[start : start + per_call]
        values = reward(list(prompts) * len(chunk), [c for c in chunk for _ in prompts])
        means += np.asarray(values, dtype=np.float64).reshape(len(chunk), -1).mean(1).tolist()
    return means


def choose_fixed_word(
    reward: Callable[..., Sequence[float]],
    prompts: Sequence[str],
    words: Sequence[str],
    *,
    screening_prompts: int = 4,
    finalists: int = 16,
) -> str:
    """The continuation ``" <word>."`` with the highest mean reward over ``prompts``, searched
    in two rounds: every word on the first ``screening_prompts`` prompts, then the best
    ``finalists`` on all of them (a vocabulary times 32 prompts would cost more than the
    audit itself).

    Raises:
        ValueError: when there is no word to choose from.
    """
    pool = list(dict.fromkeys(f" {w.strip()}." for w in words if w.strip()))
    if not pool:
        raise ValueError("no word to choose a fixed word from")
    screen = mean_rewards(reward, prompts[:screening_prompts], pool)
    best = [pool[i] for i in np.argsort(screen, kind="stable")[::-1][:finalists]]
    final = mean_rewards(reward, prompts, best)
    return best[int(np.argmax(final))]


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
            ``audit_policies`` attribute when it has one).
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
    chosen = dict(policies or getattr(base, "audit_policies", TEXT_POLICIES))
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
        if ids:
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
) -> AuditReport:
    """Audit a registered text env (``lm-gym audit-reward ENV_ID``).

    The env is made with ``gym.make``; when its class says how to draw prompts from held-out
    text (a classmethod ``audit_arguments()``, as lm_gym's text envs have) those keywords come
    first and ``env_kwargs`` override them, and its ``audit_fixed_candidates()`` (if any) are the
    fixed-sentence policy's candidates.
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
        return audit_env(env, episodes=episodes, seed=seed, fixed_candidates=candidates)
    finally:
        env.close()
