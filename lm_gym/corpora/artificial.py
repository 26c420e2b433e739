"""The artificial languages of ter Hoeve et al. (2022), "Towards Interactive Language Modeling".

A teacher picks sentences from a pool; students train on the picks and sit an exam. Two tasks
make the right choice checkable, because each sentence has a known type:

* **Task 1, domains.** Two disjoint vocabularies, V1 = {a..j} and V2 = {k..t}. A sentence is
  ``length`` tokens drawn uniformly, with replacement, from one of them. The pool mixes both
  domains (50/50 in the paper); the exam is all V1.
* **Task 2, structures.** Tokens come from V1. Structure 1 (S1) is ``(xy)^n``: a pair of two
  different tokens repeated (``a c a c``), so no two neighbours are ever identical. Structure 2
  (S2) is doubled tokens, ``xx`` or ``(xxyy)^n`` with ``x != y`` (``d d f f``). Only these
  forms are generated, and both structures take the same lengths with the same probabilities:
  the lengths in ``min_len..max_len`` that both forms can have (2 and the multiples of 4; with
  the paper's 2-10 that is 2, 4 and 8), so a sentence's length says nothing about its
  structure. The pool is 20% S1 / 80% S2; the exam is all S1.

Tokens are joined by single spaces. Every vocabulary, length, ratio and size is a keyword
argument whose default is the paper's value. Randomness comes only from ``random.Random(seed)``
(``seed`` may be any integer, NumPy integers included, so an environment can pass a draw from its
``np_random``), so the same arguments give the same task.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lm_gym.utils.validation import check_int, check_number

V1: tuple[str, ...] = tuple("abcdefghij")
"""Task 1's exam vocabulary, and Task 2's only vocabulary."""
V2: tuple[str, ...] = tuple("klmnopqrst")
"""Task 1's distractor vocabulary."""

S1, S2 = 1, 2
"""Structure ids returned by :func:`structure_of` and accepted by :func:`structure_sentences`."""


@dataclass(frozen=True)
class SelectionTask:
    """A pool to select from and the exam the selection is judged on.

    Attributes:
        name: ``"domains"`` or ``"structures"``.
        pool: the candidate sentences, in a seeded random order.
        pool_labels: one per pool sentence; 1 when it has the exam's type (V1 in Task 1, S1
            in Task 2), else 0. An oracle teacher picks only label-1 sentences.
        exam: the sentences the students' perplexity is measured on, all of the exam type.
        vocabulary: every token that can occur in pool or exam, sorted; a student's
            tokenizer needs exactly these.
    """

    name: str
    pool: tuple[str, ...]
    pool_labels: tuple[int, ...]
    exam: tuple[str, ...]
    vocabulary: tuple[str, ...]

    @property
    def exam_type_indices(self) -> tuple[int, ...]:
        """Positions of the pool sentences of the exam's type (what an oracle selects)."""
        return tuple(i for i, label in enumerate(self.pool_labels) if label == 1)


# --------------------------------------------------------------------------------------------
# Single sentences
# --------------------------------------------------------------------------------------------


def _domain_sentence(rng: random.Random, vocabulary: Sequence[str], length: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(length))


def _pair(rng: random.Random, vocabulary: Sequence[str]) -> tuple[str, str]:
    """Two different tokens, in random order."""
    x, y = rng.sample(vocabulary, 2)
    return x, y


def _s1_sentence(rng: random.Random, vocabulary: Sequence[str], length: int) -> str:
    """``(xy)^n`` of ``length`` tokens (an even length)."""
    x, y = _pair(rng, vocabulary)
    return " ".join((x, y) * (length // 2))


def _s2_sentence(rng: random.Random, vocabulary: Sequence[str], length: int) -> str:
    """``x x`` (length 2) or ``(xxyy)^n`` (a multiple of 4)."""
    if length == 2:
        x = rng.choice(vocabulary)
        return f"{x} {x}"
    x, y = _pair(rng, vocabulary)
    return " ".join((x, x, y, y) * (length // 4))


def structure_lengths(min_len: int = 2, max_len: int = 10) -> list[int]:
    """The lengths in ``min_len..max_len`` that both Task 2 structures take.

    ``(xy)^n`` has the even lengths, ``xx`` length 2 and ``(xxyy)^n`` the multiples of 4, so
    the shared lengths are 2 and the multiples of 4 (2, 4, 8 in the paper's range 2-10).
    """
    return [n for n in range(min_len, max_len + 1) if n == 2 or n % 4 == 0]


def _forms(structure: int, vocab_size: int, length: int) -> int:
    """How many distinct sentences of ``structure`` have ``length`` tokens."""
    if structure == S2 and length == 2:
        return vocab_size
    return vocab_size * (vocab_size - 1)


def _length_weights(vocab_size: int, lengths: Sequence[int]) -> list[int]:
    """The weight of each shared length, for both structures alike: the number of distinct S2
    sentences of that length (S2 is the scarcer structure at every length), so S2 sentences are
    uniform over all S2 forms and a full pool of distinct sentences is possible."""
    return [_forms(S2, vocab_size, n) for n in lengths]


def _stratified_lengths(
    rng: random.Random, n: int, lengths: Sequence[int], weights: Sequence[int]
) -> list[int]:
    """``n`` lengths whose counts are ``n`` times the weights' shares, rounded by largest
    remainder (ties broken at random), so two structures' histograms differ only by rounding."""
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(lengths)), key=lambda i: (counts[i] - exact[i], rng.random()))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return [length for length, count in zip(lengths, counts) for _ in range(count)]


# --------------------------------------------------------------------------------------------
# Classifying sentences
# --------------------------------------------------------------------------------------------


def domain_of(sentence: str, v1: Sequence[str] = V1, v2: Sequence[str] = V2) -> int | None:
    """Return 1 if every token of ``sentence`` is in ``v1``, 2 if every token is in ``v2``.

    Returns:
        1 or 2, or ``None`` for an empty sentence or one that mixes or leaves the vocabularies.
    """
    tokens = set(sentence.split())
    if not tokens:
        return None
    if tokens <= set(v1):
        return 1
    if tokens <= set(v2):
        return 2
    return None


def structure_of(sentence: str) -> int | None:
    """Return :data:`S1` or :data:`S2` when ``sentence`` has one of the paper's Task 2 forms.

    S1 is ``(xy)^n`` (``x y``, ``x y x y``, ...: two different tokens alternating, an even
    length). S2 is ``x x`` or ``(xxyy)^n`` (``x x y y``, ``x x y y x x y y``, ...). The check
    is about shape only, not vocabulary.

    Returns:
        1, 2, or ``None`` when the sentence has neither form.
    """
    tokens = sentence.split()
    if len(tokens) < 2 or len(tokens) % 2:
        return None
    x, y = tokens[0], tokens[1]
    if x != y and tokens == [x, y] * (len(tokens) // 2):
        return S1
    if tokens == [x, x]:
        return S2
    if len(tokens) % 4 == 0 and x == y and tokens[2] != x:
        z = tokens[2]
        if tokens == [x, x, z, z] * (len(tokens) // 4):
            return S2
    return None


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _check_count(name: str, value: object, minimum: int) -> int:
    return check_int(name, value, minimum=minimum)


def _check_fraction(name: str, value: object) -> float:
    return check_number(name, value, minimum=0.0, maximum=1.0)


def _check_vocabulary(name: str, vocabulary: object, minimum: int) -> tuple[str, ...]:
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Sequence):
        raise TypeError(f"{name} must be a sequence of token strings, e.g. ('a', 'b')")
    tokens = tuple(vocabulary)
    for token in tokens:
        if not isinstance(token, str) or not token or token != "".join(token.split()):
            raise ValueError(f"{name} holds {token!r}: tokens must be non-empty, no whitespace")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"{name} has repeated tokens: {tokens}")
    if len(tokens) < minimum:
        raise ValueError(f"{name} needs at least {minimum} tokens, got {len(tokens)}")
    return tokens


def _check_lengths(min_len: object, max_len: object) -> list[int]:
    """The shared Task 2 lengths of a valid ``min_len..max_len`` (:func:`structure_lengths`)."""
    low = _check_count("min_len", min_len, 2)
    high = _check_count("max_len", max_len, 2)
    if high < low:
        raise ValueError(f"max_len ({high}) must be >= min_len ({low})")
    lengths = structure_lengths(low, high)
    if not lengths:
        raise ValueError(
            f"min_len..max_len = {low}..{high} holds no length both structures take: "
            "(xy)^n, xx and (xxyy)^n share only 2 and the multiples of 4"
        )
    return lengths


def _check_capacity(what: str, needed: int, available: int) -> None:
    if needed > available:
        raise ValueError(
            f"{needed} distinct {what} sentences requested but only {available} exist with "
            "these settings; pass distinct=False or widen the vocabulary or lengths"
        )


# --------------------------------------------------------------------------------------------
# Drawing many sentences
# --------------------------------------------------------------------------------------------


def _draw(make: Callable[[], str], n: int, taken: set[str] | None) -> list[str]:
    """Call ``make`` until ``n`` sentences are collected.

    With a ``taken`` set, a sentence already in it is drawn again, and every kept sentence is
    added to it; callers have checked that enough distinct sentences exist.
    """
    out: list[str] = []
    while len(out) < n:
        sentence = make()
        if taken is not None:
            if sentence in taken:
                continue
            taken.add(sentence)
        out.append(sentence)
    return out


def domain_sentences(
    n: int, vocabulary: Sequence[str] = V1, *, length: int = 10, seed: int = 0
) -> list[str]:
    """Generate ``n`` Task 1 sentences of ``length`` tokens drawn uniformly from ``vocabulary``.

    Sentences may repeat; use this for large training or evaluation streams of one domain.
    """
    n = _check_count("n", n, 0)
    length = _check_count("length", length, 1)
    vocabulary = _check_vocabulary("vocabulary", vocabulary, 1)
    rng = random.Random(operator.index(seed))
    return [_domain_sentence(rng, vocabulary, length) for _ in range(n)]


def structure_sentences(
    n: int,
    structure: int,
    *,
    vocabulary: Sequence[str] = V1,
    min_len: int = 2,
    max_len: int = 10,
    seed: int = 0,
) -> list[str]:
    """Generate ``n`` Task 2 sentences of one structure (:data:`S1` or :data:`S2`).

    The ``n`` lengths are drawn first, from the lengths both structures take
    (:func:`structure_lengths`) with the same probabilities for both (proportional to the
    number of S2 forms of each length), then each sentence's tokens uniformly from
    ``vocabulary``; so the same ``seed`` gives S1 and S2 sentences of identical lengths.
    Sentences may repeat.
    """
    n = _check_count("n", n, 0)
    vocabulary = _check_vocabulary("vocabulary", vocabulary, 2)
    lengths = _check_lengths(min_len, max_len)
    make = _sentence_maker(structure)
    rng = random.Random(operator.index(seed))
    drawn = rng.choices(lengths, weights=_length_weights(len(vocabulary), lengths), k=n)
    return [make(rng, vocabulary, length) for length in drawn]


def _sentence_maker(structure: object) -> Callable[[random.Random, Sequence[str], int], str]:
    """The sentence function of one structure."""
    if structure == S1:
        return _s1_sentence
    if structure == S2:
        return _s2_sentence
    raise ValueError(f"structure must be {S1} or {S2}, got {structure!r}")


def _distinct_structures(
    rng: random.Random,
    structure: int,
    vocabulary: Sequence[str],
    lengths: Sequence[int],
    taken: set[str] | None,
) -> list[str]:
    """One sentence of ``structure`` per entry of ``lengths``, new to ``taken`` when given."""
    make = _sentence_maker(structure)
    out: list[str] = []
    for length in lengths:
        out += _draw(lambda: make(rng, vocabulary, length), 1, taken)  # noqa: B023 (called now)
    return out


# --------------------------------------------------------------------------------------------
# The two selection tasks
# --------------------------------------------------------------------------------------------


def _assemble(
    name: str,
    rng: random.Random,
    exam_type: list[str],
    other_type: list[str],
    exam: list[str],
    vocabulary: Sequence[str],
) -> SelectionTask:
    """Shuffle the pool (labels follow their sentences) and freeze the task."""
    labelled = [(s, 1) for s in exam_type] + [(s, 0) for s in other_type]
    rng.shuffle(labelled)
    return SelectionTask(
        name=name,
        pool=tuple(s for s, _ in labelled),
        pool_labels=tuple(label for _, label in labelled),
        exam=tuple(exam),
        vocabulary=tuple(sorted(vocabulary)),
    )


def domains_task(
    pool_size: int = 100,
    exam_size: int = 10,
    *,
    length: int = 10,
    v1_fraction: float = 0.5,
    v1: Sequence[str] = V1,
    v2: Sequence[str] = V2,
    distinct: bool = True,
    seed: int = 0,
) -> SelectionTask:
    """Build Task 1: a pool mixing two vocabularies and an exam in the first one.

    Args:
        pool_size: number of pool sentences (paper: 100).
        exam_size: number of exam sentences, all from ``v1`` (paper: 10).
        length: tokens per sentence (paper: 10).
        v1_fraction: share of ``v1`` sentences in the pool, rounded to the nearest count
            (paper: 0.5). The rest are ``v2`` sentences.
        v1: the exam's vocabulary (paper: a..j).
        v2: the distractor vocabulary, disjoint from ``v1`` (paper: k..t).
        distinct: when true, no sentence appears twice in the pool and none of the exam
            sentences is in the pool, so the exam measures generalisation.
        seed: seed of the ``random.Random`` every draw comes from.

    Returns:
        The task; ``pool_labels`` is 1 for ``v1`` sentences.
    """
    pool_size = _check_count("pool_size", pool_size, 0)
    exam_size = _check_count("exam_size", exam_size, 1)
    length = _check_count("length", length, 1)
    v1_fraction = _check_fraction("v1_fraction", v1_fraction)
    v1 = _check_vocabulary("v1", v1, 1)
    v2 = _check_vocabulary("v2", v2, 1)
    if set(v1) & set(v2):
        raise ValueError(f"v1 and v2 must be disjoint, both hold {sorted(set(v1) & set(v2))}")
    n_v1 = round(pool_size * v1_fraction)
    if distinct:
        _check_capacity("v1", n_v1 + exam_size, len(v1) ** length)
        _check_capacity("v2", pool_size - n_v1, len(v2) ** length)

    rng = random.Random(operator.index(seed))
    taken: set[str] | None = set() if distinct else None
    pool_v1 = _draw(lambda: _domain_sentence(rng, v1, length), n_v1, taken)
    pool_v2 = _draw(lambda: _domain_sentence(rng, v2, length), pool_size - n_v1, taken)
    exam = _draw(lambda: _domain_sentence(rng, v1, length), exam_size, taken)
    return _assemble("domains", rng, pool_v1, pool_v2, exam, v1 + v2)


def structures_task(
    pool_size: int = 100,
    exam_size: int = 10,
    *,
    min_len: int = 2,
    max_len: int = 10,
    s1_fraction: float = 0.2,
    vocabulary: Sequence[str] = V1,
    distinct: bool = True,
    seed: int = 0,
) -> SelectionTask:
    """Build Task 2: a pool mixing two structures and an exam in structure 1.

    Args:
        pool_size: number of pool sentences (paper: 100).
        exam_size: number of exam sentences, all S1 (paper: 10).
        min_len: shortest sentence, at least 2 (paper: 2).
        max_len: longest sentence (paper: 10). Sentences take the lengths in
            ``min_len..max_len`` both structures have (:func:`structure_lengths`: 2, 4, 8 for
            the paper's range), with counts in the same proportions for the pool's S1 and S2
            sentences and the exam (up to rounding), so length carries no label information.
        s1_fraction: share of S1 sentences in the pool, rounded to the nearest count
            (paper: 0.2). The rest are S2.
        vocabulary: the tokens (paper: a..j).
        distinct: when true, no sentence appears twice in the pool and none of the exam
            sentences is in the pool. With the paper's settings there are 270 distinct S1
            (90 per length) and 190 distinct S2 sentences (10 of length 2, 90 each of lengths
            4 and 8), so the default sizes fit easily.
        seed: seed of the ``random.Random`` every draw comes from.

    Returns:
        The task; ``pool_labels`` is 1 for S1 sentences.
    """
    pool_size = _check_count("pool_size", pool_size, 0)
    exam_size = _check_count("exam_size", exam_size, 1)
    s1_fraction = _check_fraction("s1_fraction", s1_fraction)
    vocabulary = _check_vocabulary("vocabulary", vocabulary, 2)
    shared = _check_lengths(min_len, max_len)
    weights = _length_weights(len(vocabulary), shared)
    n_s1 = round(pool_size * s1_fraction)
    rng = random.Random(operator.index(seed))
    s1_lengths = _stratified_lengths(rng, n_s1, shared, weights)
    s2_lengths = _stratified_lengths(rng, pool_size - n_s1, shared, weights)
    exam_lengths = _stratified_lengths(rng, exam_size, shared, weights)
    if distinct:
        for length in shared:
            s1_needed = s1_lengths.count(length) + exam_lengths.count(length)
            _check_capacity(f"S1 length-{length}", s1_needed, _forms(S1, len(vocabulary), length))
            s2_needed = s2_lengths.count(length)
            _check_capacity(f"S2 length-{length}", s2_needed, _forms(S2, len(vocabulary), length))

    taken: set[str] | None = set() if distinct else None
    pool_s1 = _distinct_structures(rng, S1, vocabulary, s1_lengths, taken)
    pool_s2 = _distinct_structures(rng, S2, vocabulary, s2_lengths, taken)
    exam = _distinct_structures(rng, S1, vocabulary, exam_lengths, taken)
    return _assemble("structures", rng, pool_s1, pool_s2, exam, vocabulary)
