"""Batched log-likelihood, perplexity and minimal-pair accuracy of texts under any causal LM.

Texts go in, numbers come out: the scoring model's own tokenizer turns each text into ids, so a
baby LM's generations can be scored by a parent LM with a different vocabulary (the BAMBINO-LM
reward path). Each text ``t_1 .. t_n`` is scored as ``sum_i log p(t_i | <s>, t_<i)``, where
``<s>`` is the tokenizer's BOS (EOS for tokenizers without one, as in GPT-2); ``</s>`` is
appended only with ``add_eos=True``. A text with no tokens at all (``""``) is scored as the
single EOS token, the event "the text ended at once", so it has one token, a finite log-likelihood
and a perplexity that punishes rather than rewards empty output.

**Per token and per word.** A perplexity per token depends on the tokenizer: a model that cuts
Italian into 4.8 pieces a word spreads a word's surprise over more, easier predictions than
one that uses 1.6, so per-token perplexities of models with different tokenizers are not
comparable. :meth:`Scorer.corpus_perplexities` also divides the same total log-likelihood by
the number of words (whitespace-separated; a scored ``</s>`` counts as one more word), which
every tokenizer shares.

The work is shaped for speed with small models, where the transformer body, the vocabulary
projection and the log-softmax all cost about the same:

- identical texts are scored once, and texts are batched by length so padding stays small;
- the last token is never fed (nothing after it is scored), and the LM head and log-softmax run
  only at the positions whose next token is scored, through ``logits_to_keep``;
- a minimal pair is scored as a difference, in one packed row: the shared prefix of good and
  bad goes through the model once, both continuations follow it (a 4D attention mask keeps
  them apart), and only positions from the first differing token on are projected onto the
  vocabulary.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lm_gym.corpora.loaders import jsonl_records
from lm_gym.models.clm import bos_id
from lm_gym.utils.device import autocast, resolve_device
from lm_gym.utils.validation import check_positive_int, check_text

PHENOMENON_FIELDS = ("UID", "linguistics_term")
"""Record fields naming a minimal pair's phenomenon, in order of preference (BLiMP's names)."""


class Scorer:
    """Scores texts under one causal LM, in batches, with the LM's own tokenizer.

    Args:
        model: a Hugging Face-style causal LM (``model(input_ids, attention_mask).logits``).
            It is switched to eval mode while scoring and put back in its previous mode after.
        tokenizer: the model's tokenizer; it needs a BOS or an EOS token to start sequences.
        batch_size: sequences per forward pass (a minimal pair counts as one).
        device: where to score; the model is moved there. ``None`` keeps the model's device.
        add_eos: also score the end of each text (``</s>`` after its last token).

    Raises:
        TypeError: when ``model`` is not a torch module.
        ValueError: for a non-positive ``batch_size`` or a tokenizer without BOS and EOS.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        *,
        batch_size: int = 64,
        device=None,
        add_eos: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_positive_int("batch_size", batch_size)
        if not callable(tokenizer):
            raise TypeError(f"tokenizer must be callable, got {type(tokenizer).__name__}")
        self.model = model if device is None else model.to(resolve_device(device))
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.add_eos = add_eos
        self.bos_id = bos_id(tokenizer)
        self.eos_id = tokenizer.eos_token_id
        config = getattr(model, "config", None)
        self.vocab_size = getattr(config, "vocab_size", None)
        self.max_positions = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        accepted = inspect.signature(model.forward).parameters
        self._keeps_logits = "logits_to_keep" in accepted
        self._takes_positions = "position_ids" in accepted

    @property
    def _attention(self) -> str | None:
        """The model's attention implementation (``"sdpa"``, ``"eager"``, ...), if it says."""
        return getattr(getattr(self.model, "config", None), "_attn_implementation", None)

    @property
    def _shares_prefix(self) -> bool:
        """Whether pairs can be packed: that needs position ids and a custom 4D attention mask,
        which Hugging Face's SDPA and eager attention both take as given."""
        return self._takes_positions and self._attention in ("sdpa", "eager")

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters, where inputs are sent."""
        return next(self.model.parameters()).device

    # ---------------------------------------------------------------- public scores

    def token_logprobs(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probabilities (natural log), one float64 array per text.

        The array of a text has one entry per scored token: its tokens, plus ``</s>`` with
        ``add_eos=True``; an empty text has one entry, for ``</s>``.
        """
        encoded = self.encode(texts)
        flat = self.continuation_logprobs(encoded, starts=[0] * len(encoded))
        return _split(flat, [len(ids) for ids in encoded])

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Log-likelihood and number of scored tokens of each text, in one pass.

        Returns:
            ``(log_likelihood, n_tokens)``: float64 and int64 arrays of shape ``(len(texts),)``.
        """
        encoded = self.encode(texts)
        n_tokens = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        flat = self.continuation_logprobs(encoded, starts=[0] * len(encoded))
        segments = np.repeat(np.arange(len(encoded)), n_tokens)
        log_likelihood = np.bincount(segments, weights=flat, minlength=len(encoded))
        return log_likelihood.astype(np.float64), n_tokens

    def log_likelihood(self, texts: Sequence[str]) -> np.ndarray:
        """``sum_i log p(t_i | <s>, t_<i)`` of each text, float64 of shape ``(len(texts),)``."""
        return self.score(texts)[0]

    def perplexity(self, texts: Sequence[str]) -> np.ndarray:
        """``exp(-log_likelihood / n_tokens)`` of each text, float64 of shape ``(len(texts),)``."""
        log_likelihood, n_tokens = self.score(texts)
        return np.exp(-log_likelihood / n_tokens)

    def corpus_perplexity(self, texts: Sequence[str]) -> float:
        """Perplexity per token of the texts taken as one corpus: ``exp(-sum ll / sum n_tokens)``.

        Raises:
            ValueError: when ``texts`` is empty.
        """
        return self.corpus_perplexities(texts)["perplexity"]

    def corpus_perplexities(self, texts: Sequence[str]) -> dict[str, float]:
        """Perplexity of the texts as one corpus per token and per word, from one pass.

        Both divide the same total log-likelihood; per word by the number of words, which does
        not depend on the tokenizer (module docstring): ``len(text.split())``, plus one for
        the ``</s>`` with ``add_eos=True``, and at least one per text (an empty text is scored
        as its ``</s>``).

        Returns:
            ``{"perplexity": per token, "perplexity_per_word": per word, "tokens_per_word":
            scored tokens / words}``.

        Raises:
            ValueError: when ``texts`` is empty.
        """
        log_likelihood, n_tokens = self.score(texts)
        if len(n_tokens) == 0:
            raise ValueError("corpus_perplexity needs at least one text, got none")
        words = sum(max(len(text.split()) + self.add_eos, 1) for text in texts)
        total, tokens = -log_likelihood.sum(), n_tokens.sum()
        return {
            "perplexity": float(math.exp(total / tokens)),
            "perplexity_per_word": float(math.exp(total / words)),
            "tokens_per_word": float(tokens / words),
        }

    def log_likelihood_difference(
        self, good: Sequence[str], bad: Sequence[str], *, share_prefix: bool = True
    ) -> np.ndarray:
        """``log_likelihood(good) - log_likelihood(bad)``, pair by pair, computed cheaply.

        Tokens the two texts of a pair share at the start have the same log-probability in both,
        so they cancel: the shared prefix runs through the model once, in one row with both
        continuations, and only tokens from the first difference on are scored.

        Args:
            good: the first text of each pair.
            bad: the second text of each pair, as many as ``good``.
            share_prefix: pack each pair in one row with its prefix once; ``False`` (or a model
                that takes no ``position_ids`` or uses another attention implementation than
                SDPA or eager) feeds both texts whole.

        Returns:
            float64 array of shape ``(len(good),)``; positive where ``good`` is more likely.
        """
        good_ids, bad_ids = self.encode(good, name="good"), self.encode(bad, name="bad")
        if len(good_ids) != len(bad_ids):
            raise ValueError(f"got {len(good_ids)} good texts but {len(bad_ids)} bad texts")
        unique = {(tuple(g), tuple(b)) for g, b in zip(good_ids, bad_ids) if g != b}
        pairs = sorted(unique)
        if share_prefix and self._shares_prefix:
            differences = self._prefix_shared_differences(pairs)
        else:
            differences = self._separate_differences(pairs)
        found = dict(zip(pairs, differences))
        result = np.array(
            [found.get((tuple(g), tuple(b)), 0.0) for g, b in zip(good_ids, bad_ids)],
            dtype=np.float64,
        )
        _check_finite(result, [1] * len(result), "pair")
        return result

    # ---------------------------------------------------------------- tokenization

    def encode(self, texts: Sequence[str], *, name: str = "texts") -> list[list[int]]:
        """The token ids each text is scored on (no ``<s>``; ``</s>`` as described above).

        Raises:
            TypeError: when ``texts`` is a single string or holds a non-string.
            ValueError: for an empty text with no EOS token to score, a token id outside the
                model's vocabulary, or a text longer than the model's context.
        """
        if isinstance(texts, str | bytes):
            raise TypeError(f"{name} must be a sequence of strings, not a single string")
        texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{name}[{index}] must be a str, got {type(text).__name__}")
        if not texts:
            return []
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        rows = []
        for index, ids in enumerate(encoded):
            ids = [*ids, self.eos_id] if self.add_eos or not ids else list(ids)
            if self.eos_id is None and (self.add_eos or len(ids) == 1):
                raise ValueError(
                    f"{name}[{index}] needs an EOS token (empty text or add_eos=True), "
                    "but the tokenizer has none"
                )
            if self.vocab_size is not None and max(ids) >= self.vocab_size:
                raise ValueError(
                    f"{name}[{index}] has token id {max(ids)}, outside the model's vocabulary "
                    f"of {self.vocab_size}: is the tokenizer the model's own?"
                )
            if self.max_positions is not None and len(ids) > self.max_positions:
                raise ValueError(
                    f"{name}[{index}] has {len(ids)} tokens; the model reads at most "
                    f"{self.max_positions} positions (<s> included)"
                )
            rows.append(ids)
        return rows

    # ---------------------------------------------------------------- batched math

    def continuation_logprobs(self, encoded: list[list[int]], starts: list[int]) -> np.ndarray:
        """Log-probabilities of ``ids[start:]`` given ``<s> ids[:start]``, for token-id rows.

        The scorer's core, public for callers that score part of a text (a completion after
        its prompt, as the parent-perplexity reward does) on ids they tokenized themselves.
        Identical rows are computed once; rows are batched by length.

        Args:
            encoded: rows of token ids of this scorer's tokenizer (no BOS; it is prepended).
            starts: per row, the first position scored (0 scores the whole row).

        Returns:
            The per-token values of all rows, concatenated in row order (row ``i``
            contributes ``len(encoded[i]) - starts[i]`` values).

        Raises:
            FloatingPointError: for a non-finite value, naming its row.
        """
        unique = sorted(set(zip(map(tuple, encoded), starts)), key=lambda row: (len(row[0]), row))
        scores = {}
        with self._scoring():
            for batch in _chunks(unique, self.batch_size):
                values = self._forward_logprobs(
                    [[self.bos_id, *row[:-1]] for row, _ in batch],
                    [row[start:] for row, start in batch],
                    starts=[start for _, start in batch],
                )
                scores.update(zip(batch, _split(values, [len(r) - s for r, s in batch])))
        if not scores:
            return np.zeros(0, dtype=np.float64)
        flat = np.concatenate([scores[(tuple(ids), s)] for ids, s in zip(encoded, starts)])
        _check_finite(flat, [len(ids) - s for ids, s in zip(encoded, starts)], "text")
        return flat

    def _forward_logprobs(
        self, inputs: list[list[int]], targets: list[list[int]], starts: list[int]
    ) -> np.ndarray:
        """One forward pass: log p(target) at input positions ``start ..`` of each row."""
        input_ids, mask = _pad(inputs, self.bos_id)
        keep = mask & (torch.arange(mask.shape[1]) >= torch.tensor(starts)[:, None])
        logits = self._forward(input_ids, mask.long(), keep)
        flat_targets = torch.tensor(list(itertools.chain.from_iterable(targets)))
        return _gather_logprobs(logits, flat_targets[:, None].to(logits.device))[:, 0]

    def _forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: torch.Tensor, **kwargs
    ) -> torch.Tensor:
        """Logits at the ``keep`` positions only, shape ``(keep.sum(), vocab)``."""
        device = self.device
        if self._keeps_logits:
            kwargs["logits_to_keep"] = keep.to(device)
        with autocast(device):
            output = self.model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs
            )
        return output.logits if self._keeps_logits else output.logits[keep.to(device)]

    def _prefix_shared_differences(self, pairs: list[tuple[tuple, tuple]]) -> list[float]:
        """Pair differences with each pair packed in one row that holds its prefix once.

        A pair sharing its first ``c`` tokens becomes the row ``<s> t_1 .. t_c | good rest |
        bad rest``: position ids restart at ``c + 1`` for each continuation and a 4D attention
        mask lets each continuation see the prefix and itself but not the other one. The prefix's
        last position predicts both texts' first own token (one normaliser for the two); the
        continuations predict the rest. Rows are batched by length, so there is little padding.
        """
        order = sorted(range(len(pairs)), key=lambda i: _packed_length(pairs[i]))
        differences = np.zeros(len(pairs))
        with self._scoring():
            for batch in _chunks(order, self.batch_size):
                layout = _PackedPairs([pairs[i] for i in batch], self.bos_id)
                logits = self._forward(
                    layout.input_ids,
                    self._attention_mask(layout.allowed),
                    layout.keep,
                    position_ids=layout.position_ids.to(self.device),
                )
                values = _gather_logprobs(logits, layout.targets.to(logits.device))
                scored = layout.weights != 0  # a filler target may have probability zero
                per_row = (np.where(scored, values, 0.0) * layout.weights).sum(-1)
                differences[batch] = np.bincount(layout.pair_of, per_row, minlength=len(batch))
        return differences.tolist()

    def _attention_mask(self, allowed: torch.Tensor) -> torch.Tensor:
        """A ``(batch, 1, query, key)`` mask in the form the model's attention expects.

        SDPA takes booleans; eager attention adds the mask to its scores, so it gets 0 where
        attention is allowed and the dtype's minimum elsewhere.
        """
        if self._attention == "sdpa":
            return allowed[:, None].to(self.device)
        dtype = next(self.model.parameters()).dtype
        blocked = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(
            ~allowed, torch.finfo(dtype).min
        )
        return blocked[:, None].to(self.device)

    def _separate_differences(self, pairs: list[tuple[tuple, tuple]]) -> list[float]:
        """Pair differences from whole texts, scoring only tokens after the shared prefix."""
        shared = [_common_prefix(g, b) for g, b in pairs]
        rows = [list(g) for g, _ in pairs] + [list(b) for _, b in pairs]
        flat = self.continuation_logprobs(rows, starts=shared + shared)
        lengths = [len(row) - start for row, start in zip(rows, shared + shared)]
        sums = np.bincount(np.repeat(np.arange(len(rows)), lengths), flat, minlength=len(rows))
        return list(sums[: len(pairs)] - sums[len(pairs) :])

    @contextlib.contextmanager
    def _scoring(self) -> Iterator[None]:
        """Eval mode and no autograd for the duration, restoring the model's mode after."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.model.train(was_training)


# -------------------------------------------------------------------- minimal pairs


def minimal_pair_accuracy(scorer: Scorer, pairs: Iterable[dict] | str | Path) -> dict:
    """Share of minimal pairs whose good sentence the model finds more likely than the bad one.

    A pair counts as correct when ``log p(good) > log p(bad)`` (a tie is wrong), as in BLiMP.

    Args:
        scorer: the scorer of the model under test.
        pairs: records with ``sentence_good``, ``sentence_bad`` and optionally a phenomenon
            (``UID``, else ``linguistics_term``), or the path of a BLiMP-style JSONL file.

    Returns:
        ``{"accuracy": float, "n": int, "by_phenomenon": {phenomenon: accuracy}}``.

    Raises:
        ValueError: for no pairs, or a malformed record (naming its line or index).
    """
    records = list(read_minimal_pairs(pairs) if isinstance(pairs, str | Path) else pairs)
    checked = [_checked_pair(record, f"pair {index}") for index, record in enumerate(records)]
    if not checked:
        raise ValueError("minimal_pair_accuracy needs at least one pair, got none")
    good, bad, phenomena = zip(*checked)
    correct = scorer.log_likelihood_difference(good, bad) > 0
    by_phenomenon = defaultdict(list)
    for phenomenon, is_correct in zip(phenomena, correct):
        by_phenomenon[phenomenon].append(is_correct)
    return {
        "accuracy": float(correct.mean()),
        "n": len(checked),
        "by_phenomenon": {name: float(np.mean(v)) for name, v in sorted(by_phenomenon.items())},
    }


def read_minimal_pairs(path: str | Path) -> list[dict]:
    """Read and check a BLiMP-style JSONL file of minimal pairs (blank lines are skipped).

    The file is read with lm_gym's shared loaders (a byte-order mark and any line ending are
    fine; see :mod:`lm_gym.corpora.loaders`), so ``lm-gym eval --pairs`` refuses a bad or empty
    file before any model is loaded.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for a line that is not UTF-8 JSON or not a well-formed pair (naming the
            file and line), or a file without any pair.
    """
    if isinstance(path, str) and not path.strip():
        raise ValueError("the minimal-pair file is an empty path; give a JSONL file")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no minimal-pair file at {path}")
    records = []
    for number, record in jsonl_records(path):
        _checked_pair(record, f"{path}, line {number}")
        records.append(record)
    if not records:
        raise ValueError(f"{path}: no minimal pairs (an empty file or only blank lines)")
    return records


def _checked_pair(record, where: str) -> tuple[str, str, str]:
    """``(good, bad, phenomenon)`` of a record, or a ValueError saying ``where`` it is bad."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a minimal pair must be a JSON object, got {record!r}")
    for field in ("sentence_good", "sentence_bad"):
        if not isinstance(record.get(field), str):
            raise ValueError(f"{where}: field {field!r} missing or not a string in {record!r}")
        check_text(f"{where}: field {field!r}", record[field])
    phenomenon = next((record[f] for f in PHENOMENON_FIELDS if record.get(f)), "unspecified")
    return record["sentence_good"], record["sentence_bad"], str(phenomenon)


# -------------------------------------------------------------------- helpers


def _chunks(items: list, size: int) -> Iterator[list]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _split(values: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    """Cut a flat array into consecutive parts of the given lengths."""
    return np.split(values, np.cumsum(lengths)[:-1]) if len(lengths) else []


def _pad(rows: Sequence[Sequence[int]], fill: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id rows into ``(ids, mask)`` int64 / bool tensors, without a per-row loop."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    mask = np.arange(lengths.max(initial=0)) < lengths[:, None]
    ids = np.full(mask.shape, fill, dtype=np.int64)
    ids[mask] = np.fromiter(itertools.chain.from_iterable(rows), np.int64, lengths.sum())
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """``log_softmax(logits)[i, targets[i, j]]`` in float32 math, returned as float64.

    The log-normaliser is computed in place (max, exp, sum, log), which is several times
    faster on CPU than ``torch.logsumexp``; ``logits`` is overwritten.
    """
    logits = logits.float()
    chosen = logits.gather(-1, targets)
    peak = logits.amax(-1, keepdim=True)
    log_normalizer = logits.sub_(peak).exp_().sum(-1, keepdim=True).log_().add_(peak)
    return (chosen - log_normalizer).double().cpu().numpy()


def _common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    """Number of leading tokens the two sequences share."""
    return next(
        (i for i, (a, b) in enumerate(zip(first, second)) if a != b), min(len(first), len(second))
    )


def _packed_length(pair: tuple[tuple, tuple]) -> int:
    """Length of a pair's packed row: ``<s>``, shared prefix, both continuations minus a token."""
    shared = _common_prefix(*pair)
    return 1 + shared + sum(max(len(text) - shared - 1, 0) for text in pair)


class _PackedPairs:
    """Model inputs for a batch of minimal pairs, one pair per row (prefix once, then both rests).

    Attributes:
        input_ids: ``(rows, width)`` token ids, right-padded.
        position_ids: ``(rows, width)``; each continuation carries on from the prefix.
        allowed: ``(rows, width, width)`` bool, query may attend to key.
        keep: ``(rows, width)`` bool, positions whose next token is scored.
        targets: ``(kept, 2)`` token ids scored at each kept position.
        weights: ``(kept, 2)`` +1 for the good text, -1 for the bad one, 0 for a filler target.
        pair_of: ``(kept,)`` the pair (row) each kept position belongs to.
    """

    def __init__(self, pairs: Sequence[tuple[tuple, tuple]], bos_id: int) -> None:
        shared = np.array([_common_prefix(good, bad) for good, bad in pairs])
        prefix = shared + 1
        good_rest = np.array([max(len(good) - c - 1, 0) for (good, _), c in zip(pairs, shared)])
        bad_rest = np.array([max(len(bad) - c - 1, 0) for (_, bad), c in zip(pairs, shared)])
        self.input_ids, _ = _pad(
            [[bos_id, *g[:c], *g[c:-1], *b[c:-1]] for (g, b), c in zip(pairs, shared)], bos_id
        )
        index = np.arange(self.input_ids.shape[1])
        bounds = np.cumsum([prefix, good_rest, bad_rest], axis=0)[:, :, None]  # (3, rows, 1)
        segment = np.select(
            [index < bounds[0], index < bounds[1], index < bounds[2]], [0, 1, 2], -1
        )
        # Good tokens sit right after the prefix, so their index is their position; bad tokens
        # take the same positions again.
        positions = np.where(segment == 2, index - good_rest[:, None], index)
        self.position_ids = torch.from_numpy(np.where(segment >= 0, positions, 0))
        query, key = segment[:, :, None], segment[:, None, :]
        allowed = (index[None, :, None] >= index[None, None, :]) & (key >= 0)
        allowed &= (key == 0) | (key == query)
        allowed |= np.eye(len(index), dtype=bool)  # padding attends to itself, never to NaN
        self.allowed = torch.from_numpy(allowed)
        self.keep = torch.from_numpy((index == prefix[:, None] - 1) | (segment > 0))
        targets, weights = [], []
        for (good, bad), c in zip(pairs, shared):
            targets.append(
                (good[c] if len(good) > c else bos_id, bad[c] if len(bad) > c else bos_id)
            )
            weights.append((float(len(good) > c), -float(len(bad) > c)))
            targets += [(token, bos_id) for token in good[c + 1 :]]
            weights += [(1.0, 0.0)] * len(good[c + 1 :])
            targets += [(token, bos_id) for token in bad[c + 1 :]]
            weights += [(-1.0, 0.0)] * len(bad[c + 1 :])
        self.targets = torch.tensor(targets)
        self.weights = np.array(weights)
        self.pair_of = np.repeat(np.arange(len(pairs)), 1 + good_rest + bad_rest)


def _check_finite(values: np.ndarray, lengths: Sequence[int], what: str) -> None:
    """Raise when a value is infinite or NaN, naming the ``what`` (text, pair) it belongs to.

    Args:
        values: flat values, ``lengths[i]`` of them for item ``i`` in turn.
    """
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        item = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
        raise FloatingPointError(
            f"the model gave {what} {item} a non-finite log-probability ({values[bad[0]]})"
        )
