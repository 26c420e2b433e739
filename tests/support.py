"""What the tests share (importable as ``support``: ``pytest`` puts ``tests/`` on the path).

* the micro settings of the envs (the ``-micro`` recipes build in seconds);
* one tiny-LM builder, :func:`train_tiny_lm`, behind every tiny model of the tests (the
  ``tiny_lm`` fixture's GPT-2 and the agent toys' OPT), built with lm_gym's own configurations;
* short English sentences with agreement, the tiny models' training text.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import torch

from lm_gym.models import LM, gpt2_config, opt_config, train_clm, train_sentencepiece_tokenizer

MICRO_MODELS = {"baby_model": "baby-en-micro", "parent_model": "parent-it-micro", "device": "cpu"}
"""Bambino on the micro recipes, on the CPU (tests never use a GPU by default)."""

MICRO_STORIES = {
    "storyteller": "storyteller-micro",
    "reward_model": "reward-stories-micro",
    "device": "cpu",
}
"""BabyStories on the micro recipes."""

MICRO_TEACHER = {"teacher_model": "baby-en-micro", "num_students": 2, "device": "cpu"}
"""Teacher envs with the micro teacher LM and two students."""

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


def train_tiny_lm(
    texts: Sequence[str],
    *,
    architecture: str = "gpt2",
    tokenizer=None,
    vocab_size: int = 380,
    n_layer: int = 2,
    n_embd: int = 32,
    steps: int = 40,
    lr: float = 3e-3,
    seed: int = 0,
) -> LM:
    """A tiny causal LM (2 heads) trained for ``steps`` CLM updates on ``texts``.

    Enough that its next-token distributions are far from uniform, so scores, rewards and
    policies computed with it mean something, yet it trains in a second or two. The global
    torch RNG of the caller is left untouched.

    Args:
        architecture: ``"gpt2"`` (untied output layer) or ``"opt"``.
        tokenizer: reuse a tokenizer; default: a SentencePiece tokenizer of ``vocab_size``
            trained on ``texts``.
    """
    if tokenizer is None:
        tokenizer = train_sentencepiece_tokenizer(list(texts), vocab_size=vocab_size)
    ids = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if architecture == "gpt2":
            from transformers import GPT2LMHeadModel

            config = gpt2_config(
                n_embd=n_embd,
                n_layer=n_layer,
                n_head=2,
                n_positions=64,
                tie_word_embeddings=False,
                **ids,
            )
            model = GPT2LMHeadModel(config)
        else:
            from transformers import OPTForCausalLM

            config = opt_config(
                hidden_size=n_embd, num_layers=n_layer, num_heads=2, max_positions=64, **ids
            )
            config.ffn_dim = 2 * n_embd
            model = OPTForCausalLM(config)
        if steps:
            train_clm(
                model,
                tokenizer,
                list(texts),
                steps=steps,
                batch_size=32,
                lr=lr,
                seed=seed,
                warmup=5,
                progress=False,
            )
    return LM(model.eval(), tokenizer)
