"""Evaluate a model spec on the built-in bilingual benchmarks.

Held-out perplexity on English and Italian parentese and minimal-pair accuracy in both
languages: the measurements that show L2 gains and L1 forgetting in the BAMBINO-LM setup.
Held-out sentences come from a generator seed that no recipe trains on, minus any sentence that
also occurs in the default training corpora.
"""

from __future__ import annotations

from functools import lru_cache

from lm_gym.corpora.minimal_pairs import generate_minimal_pairs
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.models import load_model
from lm_gym.recipes import RECIPES, recipe_corpus
from lm_gym.scoring import Scorer, minimal_pair_accuracy

HELDOUT_SEED = 9_001
PAIRS_SEED = 4_242


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


def evaluate_model(
    spec,
    *,
    languages: tuple[str, ...] = ("en", "it"),
    n_heldout: int = 500,
    n_pairs: int = 200,
    device=None,
) -> dict:
    """Perplexity and minimal-pair accuracy of ``spec`` in each language.

    Returns:
        ``{lang: {"perplexity": float, "minimal_pairs": float, "by_phenomenon": {...}}}``.
    """
    model, tokenizer = load_model(spec, device=device)
    scorer = Scorer(model, tokenizer)
    results = {}
    for lang in languages:
        pairs = minimal_pair_accuracy(scorer, builtin_minimal_pairs(lang, n_pairs))
        results[lang] = {
            "perplexity": scorer.corpus_perplexity(list(heldout_parentese(lang, n_heldout))),
            "minimal_pairs": pairs["accuracy"],
            "by_phenomenon": pairs["by_phenomenon"],
        }
    return results
