"""Zero-shot classification with a causal LM, the way BabyLM-style papers score GLUE / UINAUIL.

Each item is a text with a gold label; each label has a *verbaliser*, a short text that says
the label in words. The item is written out once per label with a template (by default
``"{text} {verbalizer}"``), the LM scores every written-out candidate, and the label whose
candidate the LM finds likeliest is the prediction. No weights change: this measures what the
LM already knows.

Inputs are checked completely before any scoring, so a malformed line fails in a second with
its line number rather than after the model has run:

* items: a JSONL file, one ``{"text": str, "label": str | int}`` object a line (blank lines are
  skipped); labels are compared as strings;
* verbalisers: a JSON object ``{label: verbaliser}``, or
  ``{"template": "...", "verbalizers": {label: verbaliser}}`` to change the template, which must
  contain ``{text}`` and ``{verbalizer}`` once each.

All ``n_items x n_labels`` candidates go through :meth:`lm_gym.scoring.Scorer.score` in one
call (batched by length, identical texts scored once): there is no Python loop over items
through the model.

:func:`sentence_type_task` builds a small offline task from the parentese generator: is an
utterance a statement (``.``), a question (``?``) or an exclamation (``!``)?
"""

from __future__ import annotations

import os
import random
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lm_gym.corpora.loaders import jsonl_records, read_json
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.evaluation.scoring import Scorer
from lm_gym.utils.validation import check_text

DEFAULT_TEMPLATE = "{text} {verbalizer}"
"""How an item and a verbaliser are written out when the verbaliser file gives no template."""

NORMALIZATIONS = ("sum", "mean")
"""``sum``: total log-likelihood of the candidate; ``mean``: per token (lowest perplexity)."""


@dataclass(frozen=True)
class Verbalizers:
    """The labels of a task, the text that says each one, and how it joins an item's text.

    Attributes:
        mapping: label -> verbaliser, in the order labels are reported.
        template: a ``str.format`` template with the fields ``text`` and ``verbalizer``.
    """

    mapping: dict[str, str]
    template: str = DEFAULT_TEMPLATE

    def __post_init__(self) -> None:
        if len(self.mapping) < 2:
            raise ValueError(
                f"verbalizers: a classification needs two labels or more, got {list(self.mapping)}"
            )
        for label, verbalizer in self.mapping.items():
            if not isinstance(verbalizer, str):
                raise ValueError(
                    f"verbalizers: the verbaliser of label {label!r} must be a string, "
                    f"got {type(verbalizer).__name__}"
                )
            check_text(f"verbalizers: the verbaliser of label {label!r}", verbalizer)
        if not isinstance(self.template, str):
            raise ValueError(f"verbalizers: template must be a string, got {self.template!r}")
        fields = [name for _, name, _, _ in string.Formatter().parse(self.template) if name]
        if sorted(fields) != ["text", "verbalizer"]:
            raise ValueError(
                "verbalizers: the template must use {text} and {verbalizer} once each and no "
                f"other field, got {self.template!r}"
            )
        texts = [self.render("", v) for v in self.mapping.values()]
        if len(set(texts)) < len(texts):
            raise ValueError(
                "verbalizers: two labels write out the same text; they can't be told apart"
            )

    def render(self, text: str, verbalizer: str) -> str:
        """An item's text with one verbaliser, through the template."""
        return self.template.format(text=text, verbalizer=verbalizer)


def read_verbalizers(source: str | os.PathLike | Mapping) -> Verbalizers:
    """Verbalisers from a JSON file or an already-parsed mapping (formats: module docstring).

    The file is read with lm_gym's shared JSON reader (:func:`lm_gym.corpora.loaders.read_json`:
    a byte-order mark is fine, nesting is limited, lone surrogates are refused).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for a file that is not a UTF-8 JSON object or a malformed mapping.
    """
    if isinstance(source, Mapping):
        data, where = dict(source), "verbalizers"
    else:
        data, where = read_json(source, argument="the verbaliser file"), str(source)
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if "verbalizers" in data:
        unknown = set(data) - {"verbalizers", "template"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)} next to 'verbalizers'")
        mapping, template = data["verbalizers"], data.get("template", DEFAULT_TEMPLATE)
        if not isinstance(mapping, dict):
            raise ValueError(f"{where}: 'verbalizers' must be a JSON object of label -> text")
    else:
        mapping, template = data, DEFAULT_TEMPLATE
    try:
        return Verbalizers({str(k): v for k, v in mapping.items()}, template)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def read_items(
    path: str | os.PathLike, labels: Iterable[str] | None = None
) -> list[tuple[str, str]]:
    """``(text, label)`` pairs of a JSONL file of ``{"text": ..., "label": ...}`` objects.

    Args:
        path: the JSONL file.
        labels: when given, every item's label must be one of them.

    Raises:
        ValueError: naming the file and line of the first malformed line (not UTF-8, not a
            JSON object, a missing or non-string text, a missing label or one not in
            ``labels``), or for a file without items.
    """
    known = None if labels is None else set(labels)
    items = []
    for number, record in jsonl_records(path):
        where = f"{path}, line {number}"
        text, label = record.get("text"), record.get("label")
        if not isinstance(text, str):
            raise ValueError(f"{where}: 'text' missing or not a string in {record!r}")
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise ValueError(f"{where}: 'label' missing or not a string/integer in {record!r}")
        if known is not None and str(label) not in known:
            raise ValueError(f"{where}: label {label!r} has no verbaliser (known: {sorted(known)})")
        items.append((text, str(label)))
    if not items:
        raise ValueError(f"{path}: no items (an empty file or only blank lines)")
    return items


def zero_shot_accuracy(
    scorer: Scorer,
    items: Sequence[tuple[str, str]],
    verbalizers: Verbalizers,
    *,
    normalize: str = "sum",
) -> dict:
    """Classify every item by its likeliest verbalised text; accuracy and per-label counts.

    Args:
        scorer: the scorer of the LM under test.
        items: ``(text, gold label)`` pairs; every label must have a verbaliser.
        verbalizers: the task's labels, verbalisers and template.
        normalize: ``"sum"`` compares total log-likelihoods (the papers' choice), ``"mean"``
            compares log-likelihood per token, which does not favour short verbalisers.

    Returns:
        ``{"accuracy", "n", "chance", "majority", "by_label": {label: {"n", "correct",
        "predicted", "accuracy"}}}``; ``chance`` is ``1 / n_labels`` and ``majority`` the
        share of the most frequent gold label (what always answering it would score).

    Raises:
        ValueError: for no items, an unknown label or an unknown ``normalize``.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if not items:
        raise ValueError("zero_shot_accuracy needs at least one item, got none")
    labels = list(verbalizers.mapping)
    index = {label: i for i, label in enumerate(labels)}
    for number, (text, label) in enumerate(items):
        if not isinstance(text, str) or label not in index:
            raise ValueError(
                f"item {number}: expected (text, one of {labels}), got {(text, label)!r}"
            )
        check_text(f"item {number}", text)
    candidates = [
        verbalizers.render(text, verbalizers.mapping[label])
        for text, _ in items
        for label in labels
    ]
    log_likelihood, n_tokens = scorer.score(candidates)
    scores = log_likelihood / n_tokens if normalize == "mean" else log_likelihood
    predicted = scores.reshape(len(items), len(labels)).argmax(axis=1)
    gold = np.array([index[label] for _, label in items])
    correct = predicted == gold
    gold_counts, predicted_counts = (
        np.bincount(gold, minlength=len(labels)),
        np.bincount(predicted, minlength=len(labels)),
    )
    correct_counts = np.bincount(gold[correct], minlength=len(labels))
    by_label = {
        label: {
            "n": int(gold_counts[i]),
            "correct": int(correct_counts[i]),
            "predicted": int(predicted_counts[i]),
            "accuracy": float(correct_counts[i] / gold_counts[i]) if gold_counts[i] else None,
        }
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": float(correct.mean()),
        "n": len(items),
        "chance": 1.0 / len(labels),
        "majority": float(gold_counts.max() / len(items)),
        "by_label": by_label,
    }


SENTENCE_TYPES = {"statement": ".", "question": "?", "exclamation": "!"}
"""The built-in task's labels and the final punctuation that marks each one."""


def sentence_type_task(
    lang: str, n_per_label: int = 100, seed: int = 7_007
) -> tuple[list[tuple[str, str]], Verbalizers]:
    """A balanced offline task: statement, question or exclamation, from parentese.

    Single-sentence utterances of the seeded generator lose their final punctuation mark, which
    becomes the verbaliser (template ``"{text}{verbalizer}"``). English questions are mostly
    marked by word order too; Italian yes/no questions only by the mark, so the task also
    probes how much of the L2's sentence types a model has picked up.

    Raises:
        RuntimeError: when the generator gives too few utterances of a type.
    """
    by_type: dict[str, list[str]] = {label: [] for label in SENTENCE_TYPES}
    marks = {mark: label for label, mark in SENTENCE_TYPES.items()}
    for utterance in generate_parentese(lang, 40 * n_per_label, seed=seed):
        body, mark = utterance[:-1], utterance[-1:]
        if mark in marks and not any(m in body for m in marks):
            by_type[marks[mark]].append(body.rstrip())
    short = {label: len(texts) for label, texts in by_type.items() if len(texts) < n_per_label}
    if short:
        raise RuntimeError(f"too few single-sentence utterances of some types: {short}")
    items = [(text, label) for label, texts in by_type.items() for text in texts[:n_per_label]]
    random.Random(seed).shuffle(items)
    return items, Verbalizers(dict(SENTENCE_TYPES), "{text}{verbalizer}")
