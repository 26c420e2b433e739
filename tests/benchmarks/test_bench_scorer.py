"""Benchmark: minimal-pair scoring, lm_gym's Scorer against minicons' IncrementalLMScorer.

Both sides score the same 512 English minimal pairs from the built-in generator (BLiMP format,
nine agreement phenomena) with the same tiny GPT-2 (2 layers, 128 dims, a SentencePiece
vocabulary of about 2,400 pieces trained on English and Italian parentese; the sentences are
4-19 tokens, 9 on average) on the CPU, in batches of 64 texts, and return the accuracy
``mean(log p(good) > log p(bad))``. minicons scores every text whole (``bos_token=True``, so
both sides condition on ``<s>``); lm_gym scores each pair as a difference and runs the pair's
common prefix once.

Run with ``make bench`` (or ``pytest tests/benchmarks/test_bench_scorer.py --benchmark-enable``);
without ``--benchmark-enable`` each side runs once, as a plain test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from lm_gym.corpora.minimal_pairs import generate_minimal_pairs
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.evaluation.scoring import Scorer, minimal_pair_accuracy
from lm_gym.models.clm import train_clm
from lm_gym.models.tokenization import train_sentencepiece_tokenizer

N_PAIRS = 512
BATCH_SIZE = 64


@pytest.fixture(scope="module")
def bench_pairs() -> list[dict]:
    """512 English pairs spread over the generator's nine phenomena (57 each, one dropped)."""
    return generate_minimal_pairs("en", 57, seed=1)[:N_PAIRS]


@pytest.fixture(scope="module")
def bench_lm_dir(tmp_path_factory):
    """A 2-layer, 128-dim GPT-2 briefly trained on bilingual parentese, saved for both sides."""
    texts = generate_parentese("en", 10_000, seed=2) + generate_parentese("it", 10_000, seed=2)
    tokenizer = train_sentencepiece_tokenizer(texts, vocab_size=4000)
    config = GPT2Config(
        n_layer=2,
        n_embd=128,
        n_head=2,
        n_positions=64,
        vocab_size=len(tokenizer),
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config)
        train_clm(model, tokenizer, texts, steps=30, batch_size=32, warmup=5, progress=False)
    folder = tmp_path_factory.mktemp("bench_lm")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def lm_gym_side(folder, pairs: list[dict]):
    """lm_gym: one Scorer, minimal-pair accuracy through its pair method."""
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return lambda: minimal_pair_accuracy(Scorer(model, tokenizer, batch_size=BATCH_SIZE), pairs)[
        "accuracy"
    ]


def reference_scores(folder, texts: list[str]):
    """minicons: a function giving the log-likelihood of each text, in batches of BATCH_SIZE."""
    minicons_scorer = pytest.importorskip(
        "minicons.scorer", reason="minicons is not installed (pip install minicons)"
    )
    reference = minicons_scorer.IncrementalLMScorer(str(folder), "cpu")

    def run() -> np.ndarray:
        scores = []
        for start in range(0, len(texts), BATCH_SIZE):
            scores += reference.sequence_score(
                texts[start : start + BATCH_SIZE],
                reduction=lambda x: x.sum(0).item(),
                bos_token=True,
            )
        return np.array(scores)

    return run


def reference_side(folder, pairs: list[dict]):
    """minicons: every good and bad text scored whole, then compared pair by pair."""
    score = reference_scores(
        folder, [r["sentence_good"] for r in pairs] + [r["sentence_bad"] for r in pairs]
    )

    def run() -> float:
        good, bad = np.split(score(), 2)
        return float(np.mean(good > bad))

    return run


@pytest.mark.benchmark(group="scorer")
@pytest.mark.parametrize("side", ["lm_gym", "reference"], ids=["lm_gym", "reference"])
def test_minimal_pair_scoring(benchmark, side, bench_lm_dir, bench_pairs):
    make = lm_gym_side if side == "lm_gym" else reference_side
    accuracy = benchmark(make(bench_lm_dir, bench_pairs))
    assert 0.0 <= accuracy <= 1.0


def test_both_sides_agree(bench_lm_dir, bench_pairs):
    good = [r["sentence_good"] for r in bench_pairs]
    bad = [r["sentence_bad"] for r in bench_pairs]
    their_good, their_bad = np.split(reference_scores(bench_lm_dir, good + bad)(), 2)
    model = AutoModelForCausalLM.from_pretrained(bench_lm_dir).eval()
    scorer = Scorer(model, AutoTokenizer.from_pretrained(bench_lm_dir), batch_size=BATCH_SIZE)
    np.testing.assert_allclose(
        scorer.log_likelihood_difference(good, bad), their_good - their_bad, atol=1e-4
    )
    ours = lm_gym_side(bench_lm_dir, bench_pairs)()
    assert ours == reference_side(bench_lm_dir, bench_pairs)()
    assert ours > 0.5  # even 30 training steps make the model prefer the good sentences
