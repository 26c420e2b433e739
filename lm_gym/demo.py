"""The offline demo behind ``make run``: build the default models, generate and score.

It shows the BAMBINO-LM starting point with the built-in defaults: the English baby continues
Italian prompts (the first 3 words of an utterance, as Bambino-v0's), the Italian parent scores
the continuations by perplexity, and both models are evaluated on held-out text and minimal pairs
in both languages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lm_gym.corpora.parentese import generate_parentese
from lm_gym.corpora.words import split_after_words
from lm_gym.evaluation.evaluate import (
    HELDOUT_SEED,
    PROMPT_WORDS,
    evaluate_model,
    sample_continuations,
)
from lm_gym.evaluation.scoring import Scorer
from lm_gym.models.loading import load_model


def _table(results: dict[str, dict]) -> str:
    """Held-out perplexity per token and per word (the one that compares models with different
    tokenizers), tokens per word, and minimal-pair accuracy, per model and language."""
    lines = [
        "| model | ppl/token en | ppl/word en | tokens/word en | ppl/token it | ppl/word it "
        "| tokens/word it | minimal pairs en | minimal pairs it |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        cells = [name]
        for lang in ("en", "it"):
            metrics = result[lang]
            cells += [
                f"{metrics['perplexity']:,.2f}",
                f"{metrics['perplexity_per_word']:,.2f}",
                f"{metrics['tokens_per_word']:.2f}",
            ]
        cells += [f"{result[lang]['minimal_pairs']:.3f}" for lang in ("en", "it")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_demo(
    samples: int = 8,
    seed: int = 0,
    baby: str = "baby-en",
    parent: str = "parent-it",
    **eval_kwargs: Any,
) -> dict[str, dict]:
    """Print generations of ``baby`` on Italian prompts, their parent scores, and evaluations.

    ``eval_kwargs`` go to :func:`lm_gym.evaluation.evaluate.evaluate_lm` (sizes of the
    evaluation). Returns the evaluation of each model by name.
    """
    baby_model, baby_tokenizer = load_model(baby)
    parent_model, parent_tokenizer = load_model(parent)
    texts = generate_parentese("it", samples, seed=HELDOUT_SEED + seed)
    texts = [text for text in texts if split_after_words(text, PROMPT_WORDS)]
    prompt_texts = [split_after_words(text, PROMPT_WORDS)[0] for text in texts]
    continuations = sample_continuations(baby_model, baby_tokenizer, texts, seed=seed)
    full = [prompt + continuation for prompt, continuation in zip(prompt_texts, continuations)]
    parent_scorer = Scorer(parent_model, parent_tokenizer)
    perplexities = parent_scorer.perplexity(full)
    print(f"{baby} continues Italian prompts; {parent} scores them (perplexity):\n")
    for prompt, continuation, ppl in zip(prompt_texts, continuations, perplexities):
        print(f"  [{prompt}]{continuation!s:60.60}  ppl={ppl:8.1f}")
    references = parent_scorer.perplexity(texts)
    print(
        f"\n  median parent perplexity: baby samples {np.median(perplexities):.1f}, "
        f"real Italian {np.median(references):.1f}\n"
    )
    results = {name: evaluate_model(name, **eval_kwargs) for name in (baby, parent)}
    print(_table(results))
    return results
