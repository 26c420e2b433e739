"""Count what the student reads and writes into a word ledger, and stop it at its budget.

:class:`WordCounter` wraps any env (single or vector) and keeps a
:class:`~lm_gym.babylm.ledger.WordLedger`, declared as ``word_ledger`` so agents, callbacks and
checkpoints find it through the wrapper stack. Per finished episode it charges the prompt's
words (exposure, from the corpus ``prompts``), the continuation's words (generated) and any
``info["teacher_text"]`` (exposure by a teacher); a ``CLMAlternation`` anywhere in the stack
charges its CLM batches to the same ledger (:meth:`~lm_gym.wrappers.CLMAlternation.
attach_word_ledger`), whichever of the two wraps the other.

**Admission before each step.** Whether a step ends episodes and how long their continuations
are is only known afterwards, so before each step the wrapper checks the step's worst case:
every row (``num_envs``, or 1) ends an episode with the longest prompt of the env's prompt set,
a continuation of ``max_new_tokens`` tokens each decoding to as many words as any single token
does, and the env's declared ``max_teacher_words``. If that could cross a limit the step is
refused with :class:`~lm_gym.babylm.ledger.BudgetExhausted` *before* the env moves (a refused
action leaves the env as it was), so counts never pass their limits. Episodes an agent
abandons unfinished (a rollout's filler rows, a stopped batch) are never charged: their text
never reached an update.

``info`` (and the reset info) carries ``words_exposed`` and ``words_generated`` (arrays over
rows for a vector env). Envs that show no prompts and write no continuations (the teacher
envs) charge nothing.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper

from lm_gym.babylm.ledger import WordLedger
from lm_gym.corpora.words import count_words
from lm_gym.utils.env_attributes import get_env_attr

TEACHER_KEY = "teacher_text"
"""The ``info`` key of text a teacher writes for the student (one string per row)."""


def max_words_per_token(tokenizer: Any, vocab_size: int) -> int:
    """The most words any single token id decodes to (at least 1).

    A continuation decoded as a whole has at most the sum of its tokens' words (joining text
    can merge words, never split them), so ``max_new_tokens`` times this bounds its words.
    """
    texts = tokenizer.batch_decode([[i] for i in range(vocab_size)], skip_special_tokens=True)
    return max([1, *(count_words(text) for text in texts)])


class _EpisodeBounds:
    """The worst case of one finished episode, from the env's task (zero without one)."""

    def __init__(self, env: Any, ledger: WordLedger) -> None:
        task = getattr(env.unwrapped, "task", None)
        prompts = getattr(task, "prompt_texts", None)
        self.prompt = self.continuation = 0
        if prompts is not None and hasattr(task, "max_new_tokens"):
            ledger.register_corpus("prompts", prompts)
            self.prompt = max(count_words(text) for text in prompts)
            vocab = int(getattr(task, "vocab_size", len(task.tokenizer)))
            self.continuation = task.max_new_tokens * max_words_per_token(task.tokenizer, vocab)
        declared = get_env_attr(env, "max_teacher_words", None)
        self.teacher = int(declared) if declared is not None else None

    def admit(self, ledger: WordLedger, rows: int) -> None:
        """Refuse a step of ``rows`` rows whose worst case could cross a limit."""
        teacher = self.teacher or 0
        ledger.check(
            exposed=rows * (self.prompt + teacher),
            generated=rows * self.continuation,
            consumed={"prompts": rows * self.prompt} if self.prompt else None,
            what=(
                f"the next env step ({rows} row(s), each possibly ending an episode of up to "
                f"{self.prompt} prompt words and {self.continuation} generated words)"
            ),
        )

    def teacher_texts(self, texts: list[str]) -> list[str]:
        if texts and self.teacher is None:
            raise ValueError(
                f"the env reports info[{TEACHER_KEY!r}] but declares no max_teacher_words: "
                "the ledger needs that bound to admit steps before they happen"
            )
        return texts


def _attach(env: Any, ledger: WordLedger) -> None:
    """Hand ``ledger`` to every inner layer that charges words itself (CLM alternation)."""
    layer, seen = env, set()
    while layer is not None and id(layer) not in seen:
        seen.add(id(layer))
        attach = getattr(type(layer), "attach_word_ledger", None)
        if attach is not None:
            attach(layer, ledger)
        layer = getattr(layer, "env", None)


def _make_ledger(ledger: WordLedger | None, budget: Any) -> WordLedger:
    if ledger is not None and budget is not None:
        raise ValueError("give a ledger or a budget, not both (the ledger has its own budget)")
    if ledger is not None and not isinstance(ledger, WordLedger):
        raise TypeError(f"ledger must be a WordLedger, got {type(ledger).__name__}")
    return ledger if ledger is not None else WordLedger(budget)


class _LedgerAccess:
    """What both wrappers expose of their ledger."""

    word_ledger: WordLedger

    def state_dict(self) -> dict[str, Any]:
        """The ledger's counts (see :meth:`WordLedger.state_dict`)."""
        return self.word_ledger.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the counts saved by :meth:`state_dict`."""
        self.word_ledger.load_state_dict(state)


class WordCounter(_LedgerAccess, gym.Wrapper):
    """Keep a word ledger of ``env`` (module docstring); a ``VectorEnv`` gets
    :class:`VectorWordCounter`.

    Args:
        env: the env the student acts in.
        ledger: an existing :class:`WordLedger` to count into, or
        budget: the budget of a new one (:meth:`WordBudget.parse`; ``None``: count only).
    """

    def __new__(cls, env: Any, *args: Any, **kwargs: Any):
        if isinstance(env, VectorEnv) and cls is WordCounter:
            return VectorWordCounter(env, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, env: gym.Env, ledger: WordLedger | None = None, *, budget: Any = None):
        super().__init__(env)
        self.word_ledger = _make_ledger(ledger, budget)
        self._bounds = _EpisodeBounds(env, self.word_ledger)
        _attach(env, self.word_ledger)

    def _counters(self, info: dict[str, Any]) -> dict[str, Any]:
        ledger = self.word_ledger
        return {**info, "words_exposed": ledger.exposed, "words_generated": ledger.generated}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, self._counters(info)

    def step(self, action: Any):
        self._bounds.admit(self.word_ledger, 1)
        obs, reward, terminated, truncated, info = self.env.step(action)
        teacher = info.get(TEACHER_KEY)
        teacher = [teacher] if isinstance(teacher, str) else list(teacher or [])
        self.word_ledger.charge(teacher=self._bounds.teacher_texts(teacher))
        if (terminated or truncated) and "completion" in info:
            self.word_ledger.charge(prompts=[info["prompt"]], completions=[info["completion"]])
        return obs, reward, terminated, truncated, self._counters(info)


def _rows_with(info: dict[str, Any], key: str, rows: np.ndarray) -> list[int]:
    """The rows among ``rows`` where a vector ``info`` holds ``key``."""
    if key not in info:
        return []
    present = info.get(f"_{key}", np.ones(len(info[key]), dtype=bool))
    return [int(row) for row in rows if present[row]]


class VectorWordCounter(_LedgerAccess, VectorWrapper):
    """:class:`WordCounter` for vector envs; the counters come as ``(num_envs,)`` arrays."""

    def __init__(
        self, env: VectorEnv, ledger: WordLedger | None = None, *, budget: Any = None
    ) -> None:
        super().__init__(env)
        self.word_ledger = _make_ledger(ledger, budget)
        self._bounds = _EpisodeBounds(env, self.word_ledger)
        _attach(env, self.word_ledger)

    # Gymnasium's VectorWrapper does not pass these through; agents call them on the env
    # they were given (the fixed teachers read each sub-env's ``pool_labels``).
    def get_attr(self, name: str) -> tuple:
        """``get_attr`` of the wrapped vector env."""
        return self.env.get_attr(name)

    def set_attr(self, name: str, values: Any) -> None:
        """``set_attr`` of the wrapped vector env."""
        self.env.set_attr(name, values)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple:
        """``call`` of the wrapped vector env."""
        return self.env.call(name, *args, **kwargs)

    def _counters(self, info: dict[str, Any]) -> dict[str, Any]:
        every = np.ones(self.num_envs, dtype=bool)
        for key, value in (
            ("words_exposed", self.word_ledger.exposed),
            ("words_generated", self.word_ledger.generated),
        ):
            info[key] = np.full(self.num_envs, value)
            info[f"_{key}"] = every
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, self._counters(info)

    def step(self, actions: Any):
        self._bounds.admit(self.word_ledger, self.num_envs)
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        every = np.arange(self.num_envs)
        teacher = [str(info[TEACHER_KEY][row]) for row in _rows_with(info, TEACHER_KEY, every)]
        self.word_ledger.charge(teacher=self._bounds.teacher_texts(teacher))
        ended = np.flatnonzero(np.logical_or(terminated, truncated))
        episodes = info.get("final_info", info)
        rows = _rows_with(episodes, "completion", ended)
        self.word_ledger.charge(
            prompts=[str(episodes["prompt"][row]) for row in rows],
            completions=[str(episodes["completion"][row]) for row in rows],
        )
        return obs, rewards, terminated, truncated, self._counters(info)
