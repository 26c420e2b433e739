"""The word ledger of a training run: what the student read and wrote, counted as BabyLM counts.

BabyLM (2025 and 2026 calls, guidelines) bounds what a submitted student may learn from: the
words it is exposed to (repeats counted, text written by a teacher included), the words it may
generate itself, and the epochs over its data. Words are BabyLM's: the whitespace-separated
pieces of a text (:func:`lm_gym.corpora.words.count_words`), punctuation attached.

**What is counted** (every count is a plain integer in :attr:`WordLedger.counts`):

* ``exposed/clm``: every CLM batch the student is trained on (``CLMAlternation``), charged
  before the update, so a batch that would cross a limit is refused and never trained on. The
  words of the texts as given are counted, even when a row is cut to ``max_length`` tokens;
* ``exposed/prompts``: the prompt of each finished episode (the text the student continues),
  once per episode; an agent's optimisation epochs over its own batch are not new exposure;
* ``exposed/teacher``: text a teacher or parent writes for the student to read (an env that
  has one reports it as ``info["teacher_text"]``; Bambino's parent and BabyStories' reward
  model write nothing: they return a number);
* ``generated``: the words of the student's own continuations;
* ``consumed/<corpus>``: words read from each registered corpus (``clm``, ``prompts``); its
  epochs are ``consumed / words in the corpus`` (:meth:`WordLedger.epochs`).

**Budgets** (:class:`WordBudget`): ``"strict"`` (100M words exposed, 100M generated, 10 epochs),
``"strict-small"`` (10M exposed, 100M generated, 10 epochs), either divided for small runs
(``"strict-small/1000"``: 10,000 exposed, 100,000 generated, 10 epochs) or explicit numbers.
A limit is never crossed: every charge is checked first (:meth:`WordLedger.check`) and a unit
that would take a count past its limit raises :class:`BudgetExhausted` before the unit happens.
Stopping "exactly" at a limit means: after the stop every count is at most its limit, and the
refused unit would have taken one past it. A CLM batch's size is known before it is trained on,
so a CLM stop is tight; an env step's is not (the continuations are not written yet), so it is
admitted only if its worst case fits (every row ending with the longest prompt and the longest
continuation the env allows), and the run stops before a step that might cross.

**Data-parallel training**: counts are integers that add up across ranks: each rank charges
what it trained on (its episodes, its part of each CLM batch). A ledger made in a process group
(:mod:`lm_gym.utils.distributed`) enforces its rank's :meth:`WordBudget.share` of the budget
(:attr:`WordLedger.limits`; the shares add up to the budget, so the global counts never exceed
it without any communication per step); the global ledger is :meth:`WordLedger.reduced` with
an all-reduce (SUM) over :meth:`WordLedger.count_vector`, once per iteration where the training
loop logs and milestones are saved (``BaseAgent.learn``, on every rank, before rank 0 writes).
A rank's refusal stops every rank before the same update and before any further CLM batch
(``BaseAgent.learn``, and ``CLMSchedule.clm_step`` for a CLM batch, which all ranks draw
together).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lm_gym.corpora.words import count_words
from lm_gym.utils import distributed
from lm_gym.utils.env_attributes import get_env_attr
from lm_gym.utils.validation import check_int, check_number

SOURCES = ("clm", "prompts", "teacher")
"""Where the words the student is exposed to come from (see the module docstring)."""

MILLION = 1_000_000

_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMbB]?)\s*$")
_SUFFIXES = {"": 1, "k": 1_000, "m": MILLION, "b": 1_000 * MILLION}


def parse_words(text: str | int, name: str = "word count") -> int:
    """``"10k"`` -> 10000, ``"1M"`` -> 1000000, ``"2.5M"`` -> 2500000, ``12`` -> 12.

    Raises:
        ValueError: for anything else, or an amount that is not a positive whole word count.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return check_int(name, text, minimum=1)
    match = _AMOUNT.match(str(text))
    if match is None:
        raise ValueError(f"{name} must be a number of words such as 10000, 10k or 1M, got {text!r}")
    value = float(match.group(1)) * _SUFFIXES[match.group(2).lower()]
    if value < 1 or value != int(value):
        raise ValueError(f"{name} must be a positive whole number of words, got {text!r}")
    return int(value)


def format_words(words: int) -> str:
    """``1000000`` -> ``"1M"``, ``20000`` -> ``"20k"``, ``1500`` -> ``"1500"`` (BabyLM style)."""
    for suffix, size in (("M", MILLION), ("k", 1_000)):
        if words >= size and words % size == 0:
            return f"{words // size}{suffix}"
    return str(words)


@dataclass(frozen=True)
class WordBudget:
    """Limits of a run (``None``: unlimited)."""

    exposed: int | None = None
    """Words the student may be exposed to, repeats counted, every source together."""
    generated: int | None = None
    """Words the student may generate."""
    epochs: float | None = None
    """Passes over each corpus (words consumed / words in the corpus)."""
    name: str | None = None
    """The preset it came from (``"strict-small/1000"``), for the record."""

    def __post_init__(self) -> None:
        for field in ("exposed", "generated"):
            value = getattr(self, field)
            if value is not None:
                check_int(f"budget {field}", value, minimum=1)
        if self.epochs is not None:
            check_number("budget epochs", self.epochs, minimum=0, exclusive_minimum=True)

    @classmethod
    def parse(cls, spec: Any) -> WordBudget | None:
        """A budget from ``None``, a :class:`WordBudget`, a preset name (optionally divided:
        ``"strict-small/1000"``) or a mapping of explicit limits (word counts as numbers or
        strings such as ``"10k"``).

        Raises:
            ValueError: for an unknown preset, divisor or field, or a bad limit.
        """
        if spec is None or isinstance(spec, WordBudget):
            return spec
        if isinstance(spec, str):
            return _preset(spec)
        if isinstance(spec, Mapping):
            unknown = sorted(set(spec) - {"exposed", "generated", "epochs"})
            if unknown:
                raise ValueError(
                    f"unknown budget field(s) {unknown}; a budget has 'exposed', 'generated' "
                    "and 'epochs'"
                )
            return cls(
                exposed=_optional_words(spec.get("exposed"), "budget exposed"),
                generated=_optional_words(spec.get("generated"), "budget generated"),
                epochs=spec.get("epochs"),
            )
        raise ValueError(
            f"budget must be None, {sorted(PRESETS)} (optionally '/N' to divide it), or a "
            f"mapping of 'exposed', 'generated', 'epochs'; got {spec!r}"
        )

    def share(self, rank: int, world_size: int) -> WordBudget:
        """The part of this budget rank ``rank`` of ``world_size`` enforces on its own.

        Word limits are split as evenly as integers allow (the shares add up to the limit);
        the epoch limit is split too, since each rank's epochs are its own words over the
        whole corpus. Summed over ranks, counts within the shares stay within the budget.
        """
        check_int("world_size", world_size, minimum=1)
        check_int("rank", rank, minimum=0, maximum=world_size - 1)

        def part(limit: int | None) -> int | None:
            if limit is None:
                return None
            return limit // world_size + (1 if rank < limit % world_size else 0)

        epochs = None if self.epochs is None else self.epochs / world_size
        return WordBudget(part(self.exposed), part(self.generated), epochs, self.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)


PRESETS = {
    "strict": WordBudget(exposed=100 * MILLION, generated=100 * MILLION, epochs=10),
    "strict-small": WordBudget(exposed=10 * MILLION, generated=100 * MILLION, epochs=10),
}
"""BabyLM's tracks (see the README on which rules they encode and which they cannot)."""


def _preset(text: str) -> WordBudget:
    name, _, divisor_text = text.strip().partition("/")
    if name not in PRESETS:
        raise ValueError(
            f"unknown budget {text!r}: use one of {sorted(PRESETS)}, e.g. 'strict-small/100'"
        )
    preset = PRESETS[name]
    if not divisor_text:
        return WordBudget(preset.exposed, preset.generated, preset.epochs, name)
    divisor = parse_words(divisor_text, f"the divisor of budget {text!r}")
    if preset.exposed % divisor or preset.generated % divisor:
        raise ValueError(f"budget {text!r}: {divisor} does not divide the word limits evenly")
    return WordBudget(
        preset.exposed // divisor, preset.generated // divisor, preset.epochs, text.strip()
    )


def _optional_words(value: Any, name: str) -> int | None:
    return None if value is None else parse_words(value, name)


class BudgetExhausted(Exception):
    """A unit of training (a CLM batch, an env step) would take a count past its limit.

    Raised before the unit happens, so nothing of it was trained on, generated or shown.

    Attributes:
        counter: what would cross (``"exposed"``, ``"generated"`` or ``"epochs over clm"``).
        current: its value now; ``requested``: what the unit would add (at most);
        ``limit``: the limit; ``what``: the refused unit, in words.
    """

    def __init__(
        self, counter: str, current: float, requested: float, limit: float, what: str
    ) -> None:
        self.counter, self.current, self.requested = counter, current, requested
        self.limit, self.what = limit, what
        super().__init__(
            f"word budget reached: {what} would take {counter} from {_show(current)} to "
            f"{_show(current + requested)}, past its limit of {_show(limit)}; training stops "
            "here and none of it was trained on"
        )

    def __reduce__(self) -> tuple:
        """Pickle with the constructor's arguments (the ranks of a run exchange refusals)."""
        return type(self), (self.counter, self.current, self.requested, self.limit, self.what)


def _show(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4f}"


class WordLedger:
    """Counts of the words a student was exposed to and generated, checked against a budget.

    Args:
        budget: anything :meth:`WordBudget.parse` takes.

    Attributes:
        budget: the :class:`WordBudget` (``None``: count, never refuse).
        limits: what this process enforces: ``budget``, or under data parallelism this rank's
            :meth:`WordBudget.share` of it (the process group when the ledger is made).
        counts: ``{"exposed/clm", "exposed/prompts", "exposed/teacher", "generated",
            "consumed/<corpus>"...}`` -> words (integers that add up across ranks).
        corpus_words: words in each registered corpus (the same on every rank).
        refusal: the :class:`BudgetExhausted` of the latest refusal in this process, if any.
    """

    def __init__(self, budget: Any = None) -> None:
        self.budget = WordBudget.parse(budget)
        self.limits = self.budget
        if self.budget is not None and distributed.world_size() > 1:
            self.limits = self.budget.share(distributed.rank(), distributed.world_size())
        self.counts: dict[str, int] = {f"exposed/{source}": 0 for source in SOURCES}
        self.counts["generated"] = 0
        self.corpus_words: dict[str, int] = {}
        self.refusal: BudgetExhausted | None = None

    # ------------------------------------------------------------------ corpora
    def register_corpus(self, name: str, texts: Iterable[str]) -> int:
        """Record the size of corpus ``name`` (its words) so its epochs can be counted.

        Registering the same corpus again with another size is an error: epochs would change
        meaning halfway through a run.

        Returns:
            The corpus's words.
        """
        words = sum(count_words(text) for text in texts)
        if name in self.corpus_words and self.corpus_words[name] != words:
            raise ValueError(
                f"corpus {name!r} is registered with {self.corpus_words[name]:,} words; "
                f"registering it again with {words:,} would change what its epochs mean"
            )
        self.corpus_words[name] = words
        self.counts.setdefault(f"consumed/{name}", 0)
        return words

    def epochs(self, corpus: str) -> float:
        """Passes over ``corpus`` so far: words consumed / words in it (0 for an empty one)."""
        size = self.corpus_words.get(corpus, 0)
        return self.counts.get(f"consumed/{corpus}", 0) / size if size else 0.0

    # ------------------------------------------------------------------ totals
    @property
    def exposed(self) -> int:
        """Words exposed, every source together."""
        return sum(self.counts[f"exposed/{source}"] for source in SOURCES)

    @property
    def generated(self) -> int:
        """Words generated by the student."""
        return self.counts["generated"]

    # ------------------------------------------------------------------ checking and charging
    def check(
        self,
        *,
        exposed: int = 0,
        generated: int = 0,
        consumed: Mapping[str, int] | None = None,
        what: str,
    ) -> None:
        """Refuse a unit that would add (at most) these words, if it could cross a limit
        (of :attr:`limits`: this rank's share under data parallelism).

        Raises:
            BudgetExhausted: naming the first limit it would cross; ``refusal`` records it.
        """
        budget = self.limits
        if budget is None:
            return
        if budget is not self.budget:
            what += f" (rank {distributed.rank()}'s share of the budget)"
        checks: list[tuple[str, float, float, float | None]] = [
            ("words exposed", self.exposed, exposed, budget.exposed),
            ("words generated", self.generated, generated, budget.generated),
        ]
        for corpus, words in (consumed or {}).items():
            size = self.corpus_words.get(corpus)
            if size and budget.epochs is not None:
                checks.append(
                    (f"epochs over {corpus}", self.epochs(corpus), words / size, budget.epochs)
                )
        for counter, current, requested, limit in checks:
            if limit is not None and requested > 0 and current + requested > limit + 1e-12:
                self.refusal = BudgetExhausted(counter, current, requested, limit, what)
                raise self.refusal

    def expose(
        self, source: str, texts: Sequence[str], *, corpus: str | None = None, what: str = ""
    ) -> int:
        """Check, then charge, ``texts`` the student reads (from ``corpus``, if one).

        Returns:
            The words charged.

        Raises:
            BudgetExhausted: nothing is charged then.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        words = sum(count_words(text) for text in texts)
        consumed = {corpus: words} if corpus is not None else None
        self.check(exposed=words, consumed=consumed, what=what or f"{words:,} words of {source}")
        self.counts[f"exposed/{source}"] += words
        if corpus is not None:
            self.counts[f"consumed/{corpus}"] = self.counts.get(f"consumed/{corpus}", 0) + words
        return words

    def charge(
        self,
        *,
        prompts: Sequence[str] = (),
        completions: Sequence[str] = (),
        teacher: Sequence[str] = (),
    ) -> None:
        """Charge finished episodes (admitted beforehand by :meth:`check` with their worst
        case): their prompts (from the corpus ``prompts``), the student's continuations and
        any teacher text."""
        prompt_words = sum(count_words(text) for text in prompts)
        self.counts["exposed/prompts"] += prompt_words
        if "prompts" in self.corpus_words:
            self.counts["consumed/prompts"] += prompt_words
        self.counts["exposed/teacher"] += sum(count_words(text) for text in teacher)
        self.counts["generated"] += sum(count_words(text) for text in completions)

    # ------------------------------------------------------------------ reports
    def metrics(self) -> dict[str, float]:
        """The logged numbers: ``words/exposed``, ``words/generated``, ``words/exposed_<source>``
        and ``words/epochs_<corpus>``."""
        metrics: dict[str, float] = {
            "words/exposed": self.exposed,
            "words/generated": self.generated,
        }
        for source in SOURCES:
            metrics[f"words/exposed_{source}"] = self.counts[f"exposed/{source}"]
        for corpus in sorted(self.corpus_words):
            metrics[f"words/epochs_{corpus}"] = self.epochs(corpus)
        return metrics

    def summary(self) -> dict[str, Any]:
        """Plain JSON for result files: totals, counts by source, epochs, budget, refusal."""
        return {
            "exposed": self.exposed,
            "generated": self.generated,
            "exposed_by_source": {source: self.counts[f"exposed/{source}"] for source in SOURCES},
            "epochs": {corpus: self.epochs(corpus) for corpus in sorted(self.corpus_words)},
            "corpus_words": dict(sorted(self.corpus_words.items())),
            "budget": None if self.budget is None else self.budget.to_dict(),
            "stopped_by_budget": None if self.refusal is None else str(self.refusal),
        }

    # ------------------------------------------------------------------ state and ranks
    def state_dict(self) -> dict[str, Any]:
        """The counts and corpus sizes (not the budget: a resumed run may raise it)."""
        return {"counts": dict(self.counts), "corpus_words": dict(self.corpus_words)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from counts saved by :meth:`state_dict`.

        Raises:
            ValueError: when a corpus registered in both has another size now.
        """
        for name, words in state["corpus_words"].items():
            if name in self.corpus_words and self.corpus_words[name] != words:
                raise ValueError(
                    f"the saved ledger counted corpus {name!r} as {words:,} words, this run's "
                    f"has {self.corpus_words[name]:,}: resume with the same corpus"
                )
        self.corpus_words.update(state["corpus_words"])
        self.counts = {**self.counts, **{k: int(v) for k, v in state["counts"].items()}}

    def count_vector(self) -> tuple[list[str], list[int]]:
        """``(names, values)`` of the counts in a fixed order: what an all-reduce sums."""
        names = sorted(self.counts)
        return names, [self.counts[name] for name in names]

    def reduced(self, all_reduce: Callable[[list[int]], Sequence[int]]) -> WordLedger:
        """The global ledger: a copy whose counts are ``all_reduce`` (a SUM over ranks, e.g.
        ``torch.distributed.all_reduce`` of an int64 tensor) of :meth:`count_vector`.

        Every rank must have registered the same corpora (the same names in the same order).
        """
        names, values = self.count_vector()
        summed = list(all_reduce(list(values)))
        if len(summed) != len(names):
            raise ValueError(f"all_reduce returned {len(summed)} counts for {len(names)}")
        total = WordLedger(self.budget)
        total.limits = self.budget  # the whole run's counts against the whole budget
        total.corpus_words = dict(self.corpus_words)
        total.counts = {name: int(value) for name, value in zip(names, summed)}
        total.refusal = self.refusal
        return total


def ledger_of(env: Any) -> WordLedger | None:
    """The :class:`WordLedger` an env stack declares (``word_ledger``), or ``None``."""
    ledger = get_env_attr(env, "word_ledger", None)
    return ledger if isinstance(ledger, WordLedger) else None
