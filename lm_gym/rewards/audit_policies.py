"""The reward audit's degenerate policies, and how the fixed ones are chosen.

A policy is ``policy(context, episode) -> continuation text`` for the prompt of ``episode``,
drawing only on what :class:`AuditContext` holds (the prompts, the true continuations, corpus
words, the env tokenizer's ids). :data:`TEXT_POLICIES` play against every text env,
:data:`STORY_POLICIES` against stories; the fixed sentence and the fixed word are chosen with
hindsight, before the audit, as the reward's favourites (:func:`choose_fixed_sentence`,
:func:`choose_fixed_word`). :mod:`lm_gym.rewards.audit` plays them through the env.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    means = mean_rewards(reward, prompts, pool, texts_per_call=len(prompts))  # one a call
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
