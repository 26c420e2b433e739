"""The parent's rewards: per-word SLOR (the default) and both published perplexity forms,
conditional scoring, never NaN or inf."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import english_sentences

from lm_gym.evaluation import Scorer
from lm_gym.rewards import ParentReward, UnigramWords, perplexity_reward
from lm_gym.rewards.parent import load_parent


@pytest.fixture(scope="module")
def reward(tiny_lm):
    """The authors' sigmoid form (tau 150)."""
    return ParentReward(tiny_lm, "sigmoid", device="cpu")


@pytest.fixture(scope="module")
def slor(tiny_lm):
    """The default form, with a unigram model of the tiny LM's own language."""
    return ParentReward(tiny_lm, unigram_corpus=english_sentences(400), device="cpu")


def test_sigmoid_form_is_the_authors_formula():
    ppl = np.array([1.0, 60.0, 150.0, 400.0, 3000.0])
    expected = 5.0 / (1.0 + np.exp(0.001 * (ppl - 150.0)))
    np.testing.assert_allclose(perplexity_reward(ppl), expected, rtol=1e-12)
    assert perplexity_reward([150.0], alpha=2.0)[0] == pytest.approx(1.0)
    assert np.all(np.diff(perplexity_reward(ppl)) < 0)


def test_inverse_form_is_eq_1_above_the_guard_and_clamped_below():
    alpha, beta, tau, gap = 5.0, 0.01, 100.0, 2.0
    above = np.array([103.0, 150.0, 1000.0])
    np.testing.assert_allclose(
        perplexity_reward(above, "inverse", alpha, beta, tau, gap), alpha / (beta * (above - tau))
    )
    guarded = perplexity_reward([1.0, 99.0, 100.0, 101.0, 102.0], "inverse", alpha, beta, tau, gap)
    np.testing.assert_allclose(guarded, alpha / (beta * gap))


@pytest.mark.parametrize("form", ["sigmoid", "inverse"])
def test_forms_stay_finite_at_the_extremes(form):
    values = perplexity_reward([1.0, 150.0, 1e12, 1e300, np.finfo(float).max], form)
    assert np.all(np.isfinite(values)) and np.all(values >= 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"form": "exp"},
        {"beta": 0.0},
        {"alpha": float("nan")},
        {"tau": float("inf")},
        {"min_gap": 0.0},
        {"alpha": True},
    ],
)
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        perplexity_reward([10.0], **kwargs)


def test_nan_perplexity_is_refused():
    with pytest.raises(ValueError, match="finite"):
        perplexity_reward([float("nan")])


def test_perplexity_is_of_the_completion_given_the_prompt(reward, tiny_lm):
    model, tokenizer = tiny_lm
    prompt, completion = "the cat sees", " the ball today ."
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    plain = Scorer(model, tokenizer)
    tail = plain.token_logprobs([prompt + completion])[0][n_prompt:]
    (ppl,) = reward.perplexities([prompt], [completion])
    assert ppl == pytest.approx(math.exp(-tail.mean()), rel=1e-9)
    with_eos = Scorer(model, tokenizer, add_eos=True).token_logprobs([prompt + completion])[0]
    scored_eos = ParentReward(tiny_lm, "sigmoid", score_eos=True, device="cpu")
    assert scored_eos.perplexities([prompt], [completion])[0] == pytest.approx(
        math.exp(-with_eos[n_prompt:].mean()), rel=1e-9
    )


def test_an_empty_completion_is_scored_as_ending_at_once(reward, tiny_lm):
    model, tokenizer = tiny_lm
    prompt = "my friends want"
    eos_logprob = Scorer(model, tokenizer, add_eos=True).token_logprobs([prompt])[0][-1]
    ppl = reward.perplexities([prompt, prompt], ["", "   "])
    np.testing.assert_allclose(ppl, math.exp(-eos_logprob), rtol=1e-6)


def test_fluent_text_earns_more_than_noise(reward):
    prompts = ["the dogs like", "the dogs like"]
    rewards, info = reward.with_info(prompts, [" the big house .", " sees dogs the . . cat"])
    assert rewards[0] > rewards[1]
    assert info["ppl"][0] < info["ppl"][1]
    assert rewards == perplexity_reward(info["ppl"], tau=reward.tau).tolist()


def test_no_nan_or_inf_for_any_text(reward):
    completions = [
        "",
        " ",
        "\n\t",
        " é ñ ü 漢字 🙂",
        "\x00",
        " the" * 200,  # far beyond the parent's 64 positions: cut on the left
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ]
    prompts = ["a child wants"] * len(completions)
    values = reward(prompts, completions)
    assert len(values) == len(completions)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert reward([], []) == []
    inverse = ParentReward(reward.scorer.model, "inverse", tau=0.0, device="cpu")
    assert all(math.isfinite(v) for v in inverse(prompts, completions))
    slor = ParentReward(reward.scorer.model, unigram_corpus=["a child"], device="cpu")
    assert all(-1.0 <= v <= 1.0 for v in slor(prompts, completions))


def test_trl_reward_function_shape(reward):
    values = reward(
        prompts=["the cat"], completions=[" sees the ball ."], completion_ids=[[5, 6]], extra=1
    )
    assert isinstance(values, list) and isinstance(values[0], float)
    assert reward.__name__ == "parent_reward"


@pytest.mark.parametrize(
    ("prompts", "completions", "error"),
    [
        (["a"], ["b", "c"], ValueError),
        ("a", ["b"], TypeError),
        ([[{"role": "user", "content": "a"}]], ["b"], TypeError),
        (["a"], [None], TypeError),
    ],
)
def test_bad_inputs_are_refused(reward, prompts, completions, error):
    with pytest.raises(error):
        reward(prompts, completions)


def test_the_parent_is_loaded_once_and_frozen(tiny_lm_dir):
    first = ParentReward(str(tiny_lm_dir), "sigmoid", device="cpu")
    second = ParentReward(str(tiny_lm_dir), "inverse", device="cpu")
    assert first.scorer.model is second.scorer.model
    assert load_parent(str(tiny_lm_dir), "cpu").model is first.scorer.model
    assert not any(p.requires_grad for p in first.scorer.model.parameters())


# --- the default: per-word SLOR -----------------------------------------------------------


def test_slor_is_the_parent_log_probability_over_a_unigram_per_word(tiny_lm):
    model, tokenizer = tiny_lm
    prompt, completion = "the cat sees", " the ball today ."
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    with_eos = Scorer(model, tokenizer, add_eos=True).token_logprobs([prompt + completion])[0]
    logprob = with_eos[n_prompt:].sum()  # the continuation and its EOS
    unigram = UnigramWords(english_sentences(400)).logprob(completion)
    reward = ParentReward(tiny_lm, unigram_corpus=english_sentences(400), device="cpu")
    rewards, info = reward.with_info([prompt], [completion])
    expected = (logprob - unigram) / 3  # three words: the, ball, today
    assert rewards[0] == pytest.approx(math.tanh(expected / 40.0), rel=1e-6)
    assert info["slor"][0] == pytest.approx(expected, rel=1e-6)
    assert info["ppl_word"][0] == pytest.approx(math.exp(-logprob / 4), rel=1e-6)


def test_slor_gives_a_text_without_words_the_floor_and_stays_bounded(slor, tiny_lm):
    model, tokenizer = tiny_lm
    prompt = "my friends want"
    eos = Scorer(model, tokenizer, add_eos=True).token_logprobs([prompt])[0][-1]
    rewards, info = slor.with_info([prompt] * 2, ["", " ."])
    assert info["slor"][0] == pytest.approx(eos, rel=1e-6)  # log P(EOS | prompt), reported
    assert rewards == [-1.0, -1.0]  # but saying nothing earns the floor
    assert slor.reward_range == (-1.0, 1.0)
    first, second = slor([prompt] * 2, [" dogs dogs dogs dogs dogs", " the ball ."])
    assert min(first, second) > -1.0 and max(first, second) < 1.0 and first != second


def test_slor_needs_a_unigram_corpus_unless_the_parent_is_a_recipe(tiny_lm):
    with pytest.raises(ValueError, match="unigram_corpus"):
        ParentReward(tiny_lm, device="cpu")
    with pytest.raises(ValueError, match="form must be one of"):
        ParentReward(tiny_lm, "perplexity", device="cpu")
