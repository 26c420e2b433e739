"""Evaluate a model spec on the built-in bilingual benchmarks (and on the user's own tasks).

Per language (English, Italian):

* held-out perplexity on parentese utterances that no recipe trains on, per token and per
  word (only the latter compares models with different tokenizers; see
  :mod:`lm_gym.evaluation.scoring`), and the tokens per word of the model's tokenizer;
* minimal-pair accuracy, overall and per phenomenon (BLiMP-style, built-in pairs);
* zero-shot sentence-type accuracy (statement / question / exclamation, see
  :func:`lm_gym.zero_shot.sentence_type_task`), scored the way GLUE / UINAUIL are scored zero-shot;
* distinct-1/2 and the repetition rate (:mod:`lm_gym.evaluation.diversity`) of the model's
  own sampled continuations of held-out prompts (their first 3 words, as Bambino-v0's prompts;
  16 new tokens, plain sampling with top_k=0 and top_p=1 as in the BAMBINO-LM authors' code).

Together they show L2 gains and L1 forgetting in the BAMBINO-LM setup, and whether a policy
collapsed into repeating itself. ``words_seen`` (from :class:`lm_gym.wrappers.CLMAlternation`'s
info, when the caller knows it) is reported alongside, and a user's zero-shot task (a JSONL of
texts and labels plus verbalisers, :mod:`lm_gym.evaluation.zero_shot`) is scored when given.

Nothing here touches the global random state: sampling runs under a forked, seeded RNG, so an
evaluation during training (:class:`lm_gym.agents.eval_callback.EvalCallback`) leaves the
training run bit-for-bit as it would have been without it. The model's train/eval mode is
restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from lm_gym.corpora.minimal_pairs import generate_minimal_pairs
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.corpora.words import split_after_words
from lm_gym.evaluation.diversity import text_metrics
from lm_gym.evaluation.scoring import Scorer, minimal_pair_accuracy
from lm_gym.evaluation.zero_shot import Verbalizers, sentence_type_task, zero_shot_accuracy
from lm_gym.models.clm import bos_id
from lm_gym.models.loading import LM, load_model
from lm_gym.models.recipes import RECIPES, recipe_corpus
from lm_gym.models.sampling import generate
from lm_gym.utils.validation import check_int

HELDOUT_SEED = 9_001
PAIRS_SEED = 4_242
PROMPT_WORDS = 3
"""Prompt length, in words, of the sampled continuations (as Bambino-v0's prompts)."""
NEW_TOKENS = 16
"""New tokens per sampled continuation (the BAMBINO-LM authors' code)."""


@lru_cache(maxsize=4)
def heldout_parentese(lang: str, n: int = 500) -> tuple[str, ...]:
    """``n`` parentese utterances in ``lang`` that the default recipes never trained on."""
    trained = {
        text
        for recipe in RECIPES.values()
        if recipe.corpus == f"parentese-{lang}"
        for text in recipe_corpus(recipe)
    }
    unseen = [t for t in generate_parentese(lang, 4 * n, seed=HELDOUT_SEED) if t not in trained]
    if len(unseen) < n:
        raise RuntimeError(f"only {len(unseen)} held-out {lang} utterances; asked for {n}")
    return tuple(unseen[:n])


@lru_cache(maxsize=4)
def builtin_minimal_pairs(lang: str, n_per_phenomenon: int = 200) -> tuple[dict, ...]:
    """The built-in minimal pairs used for evaluation (a fixed seed)."""
    return tuple(generate_minimal_pairs(lang, n_per_phenomenon, seed=PAIRS_SEED))


@lru_cache(maxsize=2)
def evaluation_texts(lang: str) -> frozenset[str]:
    """Every sentence :func:`evaluate_lm` reads in ``lang`` at its default sizes (held-out
    text, both sides of the minimal pairs, the sentence-type items): what training corpora
    must not contain (the Bambino env's L2 stream leaves them out)."""
    pairs = builtin_minimal_pairs(lang)
    items, _ = _sentence_types(lang, 100)
    return frozenset(
        [
            *heldout_parentese(lang),
            *(pair["sentence_good"] for pair in pairs),
            *(pair["sentence_bad"] for pair in pairs),
            *(text for text, _ in items),
        ]
    )


@lru_cache(maxsize=4)
def _sentence_types(lang: str, n_per_label: int) -> tuple[tuple[tuple[str, str], ...], Verbalizers]:
    items, verbalizers = sentence_type_task(lang, n_per_label)
    return tuple(items), verbalizers


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the duration (no dropout), the previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def sample_continuations(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    prompt_words: int = PROMPT_WORDS,
    max_new_tokens: int = NEW_TOKENS,
    seed: int = 0,
) -> list[str]:
    """The model's sampled continuations of the first ``prompt_words`` words of each text.

    Texts with no more than ``prompt_words`` words are skipped. Sampling is plain (top_k=0,
    top_p=1, :func:`lm_gym.models.sampling.generate`) with a generator seeded with ``seed``:
    the same call gives the same texts and no global random state is touched.

    Returns:
        The continuations alone (prompt removed), decoded without special tokens.
    """
    heads = [pair[0] for text in texts if (pair := split_after_words(text, prompt_words))]
    if not heads:
        return []
    device = next(model.parameters()).device
    rows = tokenizer(heads, add_special_tokens=False)["input_ids"]
    width = max(len(row) for row in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows], device=device)
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows])
    generator = torch.Generator(device=device).manual_seed(seed)
    with _eval_mode(model), torch.inference_mode():
        tokens, keep = generate(
            model,
            ids,
            mask.to(device),
            max_new_tokens,
            generator,
            eos_id=tokenizer.eos_token_id,
            pad_id=pad,
            bos_id=bos_id(tokenizer),
        )
    # Decode prompt and continuation together: SentencePiece marks word starts, so a
    # continuation decoded on its own would lose the space at the boundary.
    continuations = []
    for row, new, kept in zip(rows, tokens.tolist(), keep.tolist()):
        prompt = tokenizer.decode(row, skip_special_tokens=True)
        generated = [token for token, flag in zip(new, kept) if flag]
        full = tokenizer.decode(row + generated, skip_special_tokens=True)
        continuations.append(full[len(prompt) :])
    return continuations


def evaluate_lm(
    model: nn.Module,
    tokenizer: Any,
    *,
    languages: Sequence[str] = ("en", "it"),
    n_heldout: int = 500,
    n_pairs: int = 200,
    n_sentence_types: int = 100,
    n_samples: int = 200,
    zero_shot: tuple[Sequence[tuple[str, str]], Verbalizers] | None = None,
    words_seen: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Every measurement of the module docstring for an in-memory causal LM.

    Args:
        model, tokenizer: the LM under test (left in the mode it was in).
        languages: any of ``"en"``, ``"it"``.
        n_heldout: held-out utterances for perplexity.
        n_pairs: built-in minimal pairs per phenomenon.
        n_sentence_types: built-in zero-shot items per sentence type (0 skips the task).
        n_samples: held-out prompts to sample continuations of (0 skips distinct-n).
        zero_shot: a user task, ``(items, verbalizers)`` as read by
            :mod:`lm_gym.evaluation.zero_shot`.
        words_seen: words of L2 text the model was trained on, when the caller knows.
        seed: seeds the sampled continuations.
        progress: show on stderr which step runs (``lm-gym eval``: generating the held-out
            text and pairs and scoring them takes tens of seconds).

    Returns:
        ``{lang: {"perplexity", "perplexity_per_word", "tokens_per_word", "minimal_pairs",
        "by_phenomenon", "sentence_type", "distinct_1", "distinct_2", "repetition_rate"},
        "words_seen": int | None}``, plus
        ``"zero_shot"`` (see :func:`lm_gym.zero_shot.zero_shot_accuracy`) for a user task.

    Raises:
        ValueError: for an unknown language or a negative count.
    """
    for lang in languages:
        if lang not in ("en", "it"):
            raise ValueError(f"languages must be 'en' or 'it', got {lang!r}")
    for name, value in (
        ("n_heldout", n_heldout),
        ("n_pairs", n_pairs),
        ("n_sentence_types", n_sentence_types),
        ("n_samples", n_samples),
    ):
        check_int(name, value, minimum=0)
    if n_heldout < 1 or n_pairs < 1:
        raise ValueError("n_heldout and n_pairs must be at least 1")
    scorer = Scorer(model, tokenizer)
    results: dict[str, Any] = {}
    per_language = 3 + bool(n_sentence_types) + bool(n_samples)
    stages = tqdm(
        total=per_language * len(languages) + (zero_shot is not None),
        disable=not progress,
        leave=False,
        bar_format="evaluating {desc} ({n_fmt}/{total_fmt} steps, {elapsed})",
    )

    started: list[str] = []

    def stage(label: str) -> None:
        if started:
            stages.update(1)  # the previous step is done
        started.append(label)
        stages.set_description_str(label)

    with stages:
        for lang in languages:
            stage(f"{lang}: generating held-out text")
            heldout = heldout_parentese(lang, max(n_heldout, n_samples))
            stage(f"{lang}: {n_pairs} minimal pairs per phenomenon")
            pairs = minimal_pair_accuracy(scorer, builtin_minimal_pairs(lang, n_pairs))
            stage(f"{lang}: perplexity of {n_heldout} held-out utterances")
            result = {
                **scorer.corpus_perplexities(list(heldout[:n_heldout])),
                "minimal_pairs": pairs["accuracy"],
                "by_phenomenon": pairs["by_phenomenon"],
            }
            if n_sentence_types:
                stage(f"{lang}: zero-shot sentence types")
                items, verbalizers = _sentence_types(lang, n_sentence_types)
                result["sentence_type"] = zero_shot_accuracy(scorer, items, verbalizers)["accuracy"]
            if n_samples:
                stage(f"{lang}: sampling {n_samples} continuations")
                samples = sample_continuations(model, tokenizer, heldout[:n_samples], seed=seed)
                result.update(text_metrics(samples))
            results[lang] = result
        results["words_seen"] = words_seen
        if zero_shot is not None:
            stage("the zero-shot task")
            results["zero_shot"] = zero_shot_accuracy(scorer, *zero_shot)
        stages.update(1)
    return results


def evaluate_model(spec: Any, *, device: Any = None, **kwargs: Any) -> dict:
    """:func:`evaluate_lm` of any :func:`lm_gym.models.load_model` spec (recipe, folder, id).

    An in-memory model, ``LM`` or ``(model, tokenizer)`` is evaluated where it is, in its own
    mode; a name or path is loaded onto ``device``.
    """
    if isinstance(spec, LM | tuple) and device is None:
        model, tokenizer = spec
    else:
        model, tokenizer = load_model(spec, device=device)
    return evaluate_lm(model, tokenizer, **kwargs)
