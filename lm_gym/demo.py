"""The offline demo behind ``make run``: build the default models, generate and score.

It shows the BAMBINO-LM starting point with the built-in defaults: the English baby continues
Italian prompts (the first 5 of its own tokens of an utterance), the Italian parent scores the
continuations by perplexity, and both models are evaluated on held-out text and minimal pairs
in both languages.
"""

from __future__ import annotations

import numpy as np
import torch

from lm_gym.clm import bos_id
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.evaluation import HELDOUT_SEED, evaluate_model
from lm_gym.models import load_model
from lm_gym.scoring import Scorer


def _table(results: dict[str, dict]) -> str:
    lines = [
        "| model | ppl en | ppl it | minimal pairs en | minimal pairs it |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} | {result['en']['perplexity']:.2f} | {result['it']['perplexity']:.2f} | "
            f"{result['en']['minimal_pairs']:.3f} | {result['it']['minimal_pairs']:.3f} |"
        )
    return "\n".join(lines)


def run_demo(samples: int = 8, seed: int = 0, baby: str = "baby-en", parent: str = "parent-it"):
    """Print generations of ``baby`` on Italian prompts, their parent scores, and evaluations."""
    baby_model, baby_tokenizer = load_model(baby)
    parent_model, parent_tokenizer = load_model(parent)
    texts = generate_parentese("it", samples, seed=HELDOUT_SEED + seed)
    ids = [baby_tokenizer(t, add_special_tokens=False)["input_ids"][:5] for t in texts]
    device = baby_model.device
    prompts = torch.tensor([[bos_id(baby_tokenizer), *row] for row in ids if len(row) == 5])
    torch.manual_seed(seed)
    with torch.inference_mode():
        output = baby_model.generate(
            prompts.to(device),
            attention_mask=torch.ones_like(prompts).to(device),
            do_sample=True,
            top_k=0,
            top_p=1.0,
            max_new_tokens=16,
            pad_token_id=baby_tokenizer.pad_token_id,
        )
    # Decode prompt and continuation together: tokenizers that mark word starts (SentencePiece)
    # lose the boundary space when the continuation is decoded on its own.
    prompt_texts = baby_tokenizer.batch_decode(prompts[:, 1:], skip_special_tokens=True)
    full = baby_tokenizer.batch_decode(output[:, 1:], skip_special_tokens=True)
    continuations = [text[len(prompt) :] for prompt, text in zip(prompt_texts, full)]
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
    results = {name: evaluate_model(name) for name in (baby, parent)}
    print(_table(results))
    return results
