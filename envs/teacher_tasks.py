"""Where the teacher environments get their pools and exams from.

A *task source* draws a fresh :class:`~lm_gym.corpora.artificial.SelectionTask` (pool, pool
labels, exam) for every episode seed, and fixes what stays the same across episodes: the
students' word vocabulary and the row width of the observation. Three built-in sources:

* ``"domains"``: Task 1 of ter Hoeve et al. (2022), :func:`~lm_gym.corpora.artificial.domains_task`;
* ``"structures"``: Task 2, :func:`~lm_gym.corpora.artificial.structures_task`;
* ``"parentese"``: a natural-language task over lm_gym's built-in child-directed speech: the
  pool mixes English and Italian utterances, the exam is Italian (:func:`parentese_task`).

A user can pass any callable ``seed -> SelectionTask`` instead (e.g. over their own corpus);
its vocabulary must be the same for every seed.
"""

from __future__ import annotations

import functools
import inspect
import operator
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lm_gym.corpora.artificial import SelectionTask, domains_task, structures_task
from lm_gym.corpora.parentese import generate_parallel
from lm_gym.envs.students import SPECIAL_TOKENS, WordVocabulary
from lm_gym.utils.limits import check_at_most
from lm_gym.utils.validation import check_int, check_positive_int

_TOKEN = re.compile(r"\w+'?|[^\w\s]")

DEFAULT_STUDENT_STEPS = {"domains": 400, "structures": 300, "parentese": 300}
"""Student updates per selection: the paper's 400 (Task 1) and 300 (Task 2); 300 for
parentese."""

TEACHER_LIMITS = {
    "pool_size": (
        10_000,
        "every reset draws and embeds the whole pool with the teacher LM, and the observation "
        "holds pool_size x max_length ids (the paper's pool: 100)",
    ),
    "exam_size": (
        10_000,
        "every step scores each student on the whole exam (the paper's exam: 10)",
    ),
    "student_steps": (
        100_000,
        "every step trains each student for this many updates (the paper: 300 to 400)",
    ),
}
"""Upper bounds of the teacher envs' sizes, with why: above them a reset or a step takes hours
or the pool does not fit in memory. A built-in task also refuses sizes it cannot generate
(e.g. more distinct sentences than its vocabulary and lengths allow)."""

PARENTESE_VOCABULARY_SAMPLE = 10_000
"""Parallel utterances whose words make the parentese students' fixed vocabulary (about 2,500
words; the rare words it misses are read as ``<unk>``)."""


def word_tokens(text: str) -> str:
    """Lowercase ``text`` and split off punctuation: ``"Sì, le voglio."`` -> ``"sì , le voglio ."``.

    Elided forms keep their apostrophe (``l'albero`` -> ``l' albero``).
    """
    return " ".join(_TOKEN.findall(text.lower()))


@functools.lru_cache(maxsize=4)
def parentese_vocabulary(sample_size: int = PARENTESE_VOCABULARY_SAMPLE) -> tuple[str, ...]:
    """The sorted words (:func:`word_tokens`) of ``sample_size`` English/Italian utterance pairs
    drawn with seed 0; computed once per process."""
    words = {w for pair in generate_parallel(sample_size, seed=0) for t in pair for w in t.split()}
    return tuple(sorted({w for text in words for w in word_tokens(text).split()}))


def parentese_task(
    pool_size: int = 100,
    exam_size: int = 10,
    *,
    italian_fraction: float = 0.5,
    seed: int = 0,
) -> SelectionTask:
    """A mixed English/Italian pool and an Italian exam from the built-in parentese generator.

    Utterances come from one seeded stream of parallel pairs; each pair is used once (its
    English *or* its Italian side), so no pool sentence is a translation of another or of an
    exam sentence, and no text repeats. Texts are lowercased with punctuation split off
    (:func:`word_tokens`), ready for word-level students.

    Args:
        pool_size: pool sentences.
        exam_size: Italian exam sentences.
        italian_fraction: share of Italian sentences in the pool (rounded); label 1.
        seed: seed of the utterance stream and of the pool order.

    Raises:
        ValueError: for bad sizes or fraction, or when the generator runs out of distinct
            utterances.
    """
    check_positive_int("pool_size", pool_size)
    check_positive_int("exam_size", exam_size)
    if isinstance(italian_fraction, bool) or not 0.0 <= float(italian_fraction) <= 1.0:
        raise ValueError(f"italian_fraction must be in [0, 1], got {italian_fraction!r}")
    n_italian = round(pool_size * float(italian_fraction))
    wanted = (
        [("it", 1)] * n_italian + [("en", 0)] * (pool_size - n_italian) + [("exam", 1)] * exam_size
    )
    pairs = generate_parallel(4 * len(wanted), seed=operator.index(seed))
    seen: set[str] = set()
    chosen: list[tuple[str, str, int]] = []
    for english, italian in pairs:
        if len(chosen) == len(wanted):
            break
        side, label = wanted[len(chosen)]
        text = word_tokens(english if side == "en" else italian)
        if text and text not in seen:
            seen.add(text)
            chosen.append((side, text, label))
    if len(chosen) < len(wanted):
        raise ValueError(
            f"parentese ran out of distinct utterances for {pool_size} + {exam_size} sentences"
        )
    pool = [(text, label) for side, text, label in chosen if side != "exam"]
    random.Random(operator.index(seed)).shuffle(pool)
    return SelectionTask(
        name="parentese",
        pool=tuple(text for text, _ in pool),
        pool_labels=tuple(label for _, label in pool),
        exam=tuple(text for side, text, _ in chosen if side == "exam"),
        vocabulary=parentese_vocabulary(),
    )


TASK_BUILDERS: dict[str, Callable[..., SelectionTask]] = {
    "domains": domains_task,
    "structures": structures_task,
    "parentese": parentese_task,
}
"""The built-in tasks by name: ``builder(pool_size, exam_size, seed=..., **task_kwargs)``."""


def check_teacher_sizes(**sizes: int) -> None:
    """Check each size (``pool_size=...``, ``exam_size=...``, ``student_steps=...``) against
    :data:`TEACHER_LIMITS`, before any task is drawn.

    Raises:
        ValueError: naming the argument, its limit and why.
    """
    for name, value in sizes.items():
        check_positive_int(name, value)
        check_at_most(name, value, *TEACHER_LIMITS[name])


def task_keywords(task: Any) -> tuple[str, ...]:
    """The keywords the built-in ``task`` takes besides its sizes and seed (none for a callable
    or an unknown name)."""
    builder = TASK_BUILDERS.get(task) if isinstance(task, str) else None
    if builder is None:
        return ()
    fixed = {"pool_size", "exam_size", "seed"}
    return tuple(name for name in inspect.signature(builder).parameters if name not in fixed)


@dataclass(frozen=True)
class TaskSource:
    """A seeded stream of selection tasks and what stays fixed across them."""

    name: str
    """``"domains"``, ``"structures"``, ``"parentese"`` or the callable's name."""
    make: Callable[[int], SelectionTask]
    """``make(seed)``: the task of one episode."""
    vocabulary: WordVocabulary
    """The students' words (and the ids of the observation's ``input_ids``)."""
    max_length: int
    """Row width: the longest sentence plus ``<s>`` and ``</s>``; longer rows are cut."""
    pool_size: int
    """Pool sentences of every task."""
    exam_size: int
    """Exam sentences of every task."""
    default_student_steps: int
    """Student updates per selection when the env is not told otherwise."""


def build_task_source(
    task: str | Callable[[int], SelectionTask],
    pool_size: int,
    exam_size: int,
    max_length: int | None = None,
    **task_kwargs: Any,
) -> TaskSource:
    """Resolve ``task`` into a :class:`TaskSource`, checking every argument on a probe task.

    Args:
        task: a built-in name or a callable ``seed -> SelectionTask``.
        pool_size: pool sentences per episode (built-in tasks).
        exam_size: exam sentences per episode (built-in tasks).
        max_length: row width; ``None`` derives it from the task (the longest possible
            sentence for the artificial tasks, 24 for parentese, the probe task's longest
            sentence for a callable).
        **task_kwargs: passed to the task builder (``v1_fraction``, ``length``,
            ``s1_fraction``, ``min_len``, ``max_len``, ``italian_fraction``, ``distinct``...).

    Raises:
        ValueError / TypeError: for an unknown task name or bad task arguments.
    """
    builders = TASK_BUILDERS
    if not callable(task):
        check_teacher_sizes(pool_size=pool_size, exam_size=exam_size)
    if callable(task):
        if task_kwargs:
            raise TypeError(f"task keyword arguments {sorted(task_kwargs)} need a built-in task")
        name, make = getattr(task, "__name__", "custom"), task
        steps = DEFAULT_STUDENT_STEPS["domains"]
    elif isinstance(task, str) and task in builders:
        builder = builders[task]
        name, steps = task, DEFAULT_STUDENT_STEPS[task]

        def make(seed: int) -> SelectionTask:
            return builder(pool_size, exam_size, seed=seed, **task_kwargs)

    else:
        raise ValueError(f"task must be one of {sorted(builders)} or a callable, got {task!r}")
    probe = make(0)
    if not isinstance(probe, SelectionTask):
        raise TypeError(f"task {name!r} must return a SelectionTask, got {type(probe).__name__}")
    if len(probe.pool) < 1 or len(probe.exam) < 1:
        raise ValueError(f"task {name!r} gave an empty pool or exam")
    check_teacher_sizes(pool_size=len(probe.pool), exam_size=len(probe.exam))
    if max_length is None:
        if name == "domains":
            max_length = task_kwargs.get("length", 10) + 2
        elif name == "structures":
            max_length = task_kwargs.get("max_len", 10) + 2
        elif name == "parentese":
            max_length = 24
        else:
            max_length = max(len(s.split()) for s in probe.pool + probe.exam) + 2
    check_int("max_length", max_length, minimum=3)
    return TaskSource(
        name,
        make,
        WordVocabulary(probe.vocabulary),
        max_length,
        len(probe.pool),
        len(probe.exam),
        steps,
    )


def draw_task(source: TaskSource, seed: int) -> SelectionTask:
    """``source.make(seed)``, checked to have the source's sizes and vocabulary.

    Raises:
        ValueError: when a callable task changes its pool size, exam size or vocabulary.
    """
    task = source.make(seed)
    if (len(task.pool), len(task.exam)) != (source.pool_size, source.exam_size):
        raise ValueError(
            f"task {source.name!r} gave {len(task.pool)} pool / {len(task.exam)} exam sentences "
            f"for seed {seed}, expected {source.pool_size} / {source.exam_size}"
        )
    if len(task.pool_labels) != len(task.pool):
        raise ValueError(f"task {source.name!r}: pool_labels and pool differ in length")
    if task.vocabulary != source.vocabulary.tokens[len(SPECIAL_TOKENS) :]:
        raise ValueError(f"task {source.name!r} changed its vocabulary for seed {seed}")
    return task
