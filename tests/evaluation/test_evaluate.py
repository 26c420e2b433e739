"""evaluate_lm / evaluate_model on the micro recipes: keys, ranges, determinism, no side effects."""

from __future__ import annotations

import pytest
import torch

from lm_gym.evaluation.evaluate import evaluate_lm, evaluate_model, sample_continuations
from lm_gym.evaluation.zero_shot import Verbalizers
from lm_gym.models.loading import load_model

SMALL = {"n_heldout": 40, "n_pairs": 4, "n_sentence_types": 8, "n_samples": 12}
PER_LANGUAGE = {
    "perplexity",
    "perplexity_per_word",
    "tokens_per_word",
    "minimal_pairs",
    "by_phenomenon",
    "sentence_type",
    "distinct_1",
    "distinct_2",
    "repetition_rate",
}


@pytest.fixture(scope="module")
def micro():
    return load_model("parent-it-micro", device="cpu")


def test_every_measurement_is_reported_in_both_languages(micro):
    task = ([("il cane", "a"), ("la gatta", "b")], Verbalizers({"a": "corre .", "b": "zzz"}))
    results = evaluate_lm(*micro, zero_shot=task, words_seen=1234, **SMALL)
    assert set(results) == {"en", "it", "words_seen", "zero_shot"}
    assert results["words_seen"] == 1234
    for lang in ("en", "it"):
        metrics = results[lang]
        assert set(metrics) == PER_LANGUAGE
        assert metrics["perplexity"] > 1 and metrics["tokens_per_word"] > 1
        assert metrics["perplexity_per_word"] == pytest.approx(
            metrics["perplexity"] ** metrics["tokens_per_word"]
        )
        for key in ("minimal_pairs", "sentence_type", "distinct_1", "distinct_2"):
            assert 0 <= metrics[key] <= 1, key
        assert 0 <= metrics["repetition_rate"] < 1
        assert len(metrics["by_phenomenon"]) >= 5
    assert results["zero_shot"]["n"] == 2


def test_same_seed_same_numbers_and_no_side_effects(micro):
    model, tokenizer = micro
    model.train()
    rng = torch.get_rng_state()
    first = evaluate_lm(model, tokenizer, languages=("it",), seed=3, **SMALL)
    assert model.training  # its mode is restored
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is untouched
    assert evaluate_lm(model, tokenizer, languages=("it",), seed=3, **SMALL) == first
    model.eval()


def test_samples_are_continuations_of_prompts(micro):
    texts = ["Il cane guarda la palla rossa nel giardino.", "Ciao."]
    first = sample_continuations(*micro, texts, seed=0)
    assert len(first) == 1  # "Ciao." is too short to prompt with five tokens
    assert first == sample_continuations(*micro, texts, seed=0)


def test_a_model_spec_by_name_and_bad_arguments():
    results = evaluate_model("baby-en-micro", device="cpu", languages=("en",), **SMALL)
    assert set(results) == {"en", "words_seen"} and results["words_seen"] is None
    with pytest.raises(ValueError, match="languages"):
        evaluate_model("baby-en-micro", languages=("fr",))
    with pytest.raises(ValueError, match="n_samples"):
        evaluate_model("baby-en-micro", n_samples=-1)
