"""Shared fixtures: one tiny trained GPT-2-style LM with its SentencePiece tokenizer.

The model is trained for a few dozen steps on a few hundred short template sentences, enough
that its next-token distributions are far from uniform (it prefers grammatical agreement), so
scores and rewards computed with it are meaningful, yet it builds in a couple of seconds.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from lm_gym.models.clm import train_clm
from lm_gym.models.tokenization import train_sentencepiece_tokenizer

# One intra-op thread: the models under test are tiny, and two threads contending with any
# other load on a 2-core machine stall each other (measured 10x slower here). Benchmarks then
# compare both sides on the same single thread.
torch.set_num_threads(1)

_SINGULAR = ["the cat", "the dog", "a bird", "my mother", "the baby", "the teacher", "a child"]
_PLURAL = ["the cats", "the dogs", "two birds", "the babies", "the teachers", "my friends"]
_VERBS = [("sees", "see"), ("likes", "like"), ("finds", "find"), ("wants", "want")]
_OBJECTS = ["the ball", "a red apple", "the big house", "some milk", "the little boat"]
_ENDINGS = ["", " today", " in the garden", " at home", " every morning"]


def english_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` short English sentences with subject-verb agreement, drawn with ``seed``."""
    rng = random.Random(seed)
    grammar = [
        f"{subject} {verb} {obj}{ending} ."
        for subjects, form in ((_SINGULAR, 0), (_PLURAL, 1))
        for subject, verbs, obj, ending in itertools.product(subjects, _VERBS, _OBJECTS, _ENDINGS)
        for verb in [verbs[form]]
    ]
    return [rng.choice(grammar) for _ in range(n)]


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """Folder of a tiny trained GPT-2 (2 layers, 32 dims) and its tokenizer (save_pretrained)."""
    texts = english_sentences(400)
    tokenizer = train_sentencepiece_tokenizer(texts, vocab_size=380)  # 256 are byte pieces
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        n_positions=64,
        vocab_size=len(tokenizer),
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():  # keep the global RNG of other tests untouched
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config)
        train_clm(model, tokenizer, texts, steps=40, batch_size=32, warmup=5, progress=False)
    folder = tmp_path_factory.mktemp("tiny_lm")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_lm(tiny_lm_dir: Path):
    """``(model, tokenizer)`` loaded from :func:`tiny_lm_dir`, model in eval mode on CPU."""
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    return model, AutoTokenizer.from_pretrained(tiny_lm_dir)
