"""The reward audit: reference continuations against degenerate policies, through the env."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import MICRO_MODELS, english_sentences

from lm_gym.cli import main
from lm_gym.envs import TextGenerationEnv
from lm_gym.rewards import audit, audit_env
from lm_gym.rewards.audit import AuditReport, audit_registered
from lm_gym.rewards.audit_policies import (
    NON_FLUENT,
    TEXT_POLICIES,
    AuditContext,
    choose_fixed_sentence,
    choose_fixed_word,
    mean_rewards,
    word_token_ids,
)


class WordCount:
    """Reward: the number of words of the completion, in [0, 20]."""

    __name__ = "word_count"
    reward_range = (0.0, 20.0)

    def __call__(self, prompts, completions, **kwargs):
        return [float(min(len(c.split()), 20)) for c in completions]


class Constant:
    """A reward that cannot tell anything apart."""

    __name__ = "constant"

    def __call__(self, prompts, completions, **kwargs):
        return [1.0] * len(completions)


def make_env(tiny_lm, reward):
    _, tokenizer = tiny_lm
    texts = english_sentences(60, seed=1)
    return TextGenerationEnv(tokenizer, texts, reward, prompt_words=2, max_new_tokens=24)


def test_policies_are_what_their_names_say():
    context = AuditContext(["the cat"], [" sees the big ball ."], ["dog", "milk"])
    assert TEXT_POLICIES["empty"](context, 0) == ""
    assert TEXT_POLICIES["copied_prompt"](context, 0) == " the cat"
    assert TEXT_POLICIES["repetition"](context, 0) == " sees sees sees sees sees"
    shuffled = TEXT_POLICIES["shuffled_words"](context, 0)
    assert sorted(shuffled.split()) == sorted(context.references[0].split())
    assert set(TEXT_POLICIES["random_words"](context, 0).split()) <= {"dog", "milk"}
    assert set(NON_FLUENT) <= set(TEXT_POLICIES)
    with pytest.raises(ValueError, match="random_tokens needs"):
        TEXT_POLICIES["random_tokens"](context, 0)
    with pytest.raises(ValueError, match="word_salad needs"):
        TEXT_POLICIES["word_salad"](context, 0)
    with pytest.raises(ValueError, match="fixed_word needs"):
        TEXT_POLICIES["fixed_word"](context, 0)
    context.fixed["fixed_word"] = " s."
    assert TEXT_POLICIES["fixed_word"](context, 0) == " s."


def test_random_tokens_are_uniform_ordinary_ids_as_long_as_the_reference(tiny_lm):
    _, tokenizer = tiny_lm
    special = set(tokenizer.all_special_ids)
    ordinary = [i for i in range(len(tokenizer)) if i not in special]
    context = AuditContext(
        ["the cat", "a dog"],
        [" sees the big ball .", " runs ."],
        ["dog"],
        token_ids=ordinary,
        token_counts=[7, 7],
        decode=lambda ids: tokenizer.decode(list(ids)),
    )
    texts = [TEXT_POLICIES["random_tokens"](context, 0) for _ in range(2)]
    assert texts[0] == texts[1] and texts[0].startswith(" ")  # seeded by the episode
    assert texts[0] != TEXT_POLICIES["random_tokens"](context, 1)
    assert not special & set(tokenizer(texts[0], add_special_tokens=False)["input_ids"])


def test_word_salad_fills_the_episode_with_whole_words_of_the_tokenizer(tiny_lm):
    _, tokenizer = tiny_lm
    words = word_token_ids(tokenizer, range(len(tokenizer)))
    tokens = tokenizer.convert_ids_to_tokens(words)
    assert words and all(t[0] in "Ġ▁" and len(t) > 3 and t[1:].isalpha() for t in tokens)
    assert len(words) < len(tokenizer)  # pieces, punctuation and specials are left out
    context = AuditContext(
        ["the cat", "a dog"],
        [" runs .", " sits ."],
        ["dog"],
        decode=lambda ids: tokenizer.decode(list(ids)),
        word_token_ids=words,
        max_tokens=12,
    )
    salad = TEXT_POLICIES["word_salad"]
    text = salad(context, 0)
    assert text == salad(context, 0) != salad(context, 1)  # seeded by the episode
    assert len(text.split()) == 12 and all(word.isalpha() for word in text.split())


def test_the_audit_plays_through_the_env_and_ranks_real_text(tiny_lm):
    env = make_env(tiny_lm, WordCount())
    report = audit_env(env, episodes=12, seed=0)
    assert report.episodes == 12 and set(report.rewards) == {"reference", *TEXT_POLICIES}
    # The rewards are what the env paid for each continuation, episode by episode.
    for reward, example in zip(report.rewards["reference"], report.examples):
        assert reward == len(example["reference"].split())
    assert report.mean("empty") == 0.0 and report.win_rate("empty") == 1.0
    assert report.mean("fixed_word") == 1.0  # any one word is worth one
    assert report.fixed["fixed_word"].endswith(".") and len(report.fixed["fixed_word"].split()) == 1
    assert report.reward_max == 20.0 and report.at_max_share == 0.0
    summary = report.to_dict()
    assert json.loads(json.dumps(summary))["episodes"] == 12
    assert "| empty |" in report.table()


def test_no_policies_plays_the_reference_alone(tiny_lm):
    env = make_env(tiny_lm, WordCount())
    alone = audit_env(env, episodes=6, seed=0, policies={})
    assert set(alone.rewards) == {"reference"} and not alone.fixed
    assert alone.rewards["reference"] == audit_env(env, episodes=6, seed=0).rewards["reference"]


def test_a_reward_that_cannot_rank_fails_with_reasons(tiny_lm):
    report = audit_env(make_env(tiny_lm, Constant()), episodes=5, seed=0)
    assert not report.passed
    failures = report.failures()
    assert any("empty earns" in line for line in failures)
    assert any("beats empty on only 0%" in line for line in failures)
    assert any("saturates" in line for line in failures)  # every reward is the maximum seen


def test_report_statistics_by_hand():
    rewards = {"reference": [2.0, 1.0, 3.0, 5.0], "empty": [1.0, 1.0, 4.0, 0.0]}
    report = AuditReport(episodes=4, reward_max=5.0, rewards=rewards)
    assert report.win_rate("empty") == 0.5  # a tie counts as a loss
    assert report.at_max_share == 0.25
    assert report.mean("reference") == pytest.approx(2.75)
    assert any("only 50%" in line for line in report.failures())


def test_the_fixed_sentence_is_the_rewards_favourite():
    chosen = choose_fixed_sentence(WordCount(), ["a", "b"], [" one two", " one", " one two three"])
    assert chosen == " one two three"


class PromptTimesLength:
    """Reward: the prompt's length times the completion's (a reward that reads both)."""

    def __call__(self, prompts, completions, **kwargs):
        return [float(len(p) * len(c)) for p, c in zip(prompts, completions, strict=True)]


def test_mean_rewards_pairs_each_candidate_with_every_prompt():
    prompts, candidates = ["a", "abc"], [" x.", " xyz.", " xy."]
    for per_call in (1, 4, 256):  # one candidate a call, two, all of them
        means = mean_rewards(PromptTimesLength(), prompts, candidates, texts_per_call=per_call)
        assert means == [2.0 * 3, 2.0 * 5, 2.0 * 4]  # mean prompt length 2


def test_the_fixed_word_is_the_rewards_favourite_word_and_a_full_stop(tiny_lm):
    words = ["cat", "zebra", " ox ", "", "cat"]
    assert choose_fixed_word(PromptTimesLength(), ["a", "b"], words) == " zebra."
    # screened on one prompt only, then the finalists on both
    assert choose_fixed_word(PromptTimesLength(), ["a", "b"], words, screening_prompts=1) == (
        " zebra."
    )
    with pytest.raises(ValueError, match="no word"):
        choose_fixed_word(PromptTimesLength(), ["a"], ["", " "])
    _, tokenizer = tiny_lm
    everything = range(len(tokenizer))
    short = set(word_token_ids(tokenizer, everything, min_letters=1))
    assert set(word_token_ids(tokenizer, everything)) < short  # one- and two-letter words too


def test_fixed_word_without_word_tokens_is_a_clear_error(tiny_lm, monkeypatch):
    monkeypatch.setattr(audit, "word_token_ids", lambda *args, **kwargs: [])
    with pytest.raises(ValueError, match="needs word tokens"):
        audit_env(make_env(tiny_lm, WordCount()), episodes=2, seed=0)


def test_the_registered_bambino_env_is_audited_on_held_out_text(tmp_path):
    report = audit_registered("Bambino-v0", episodes=4, env_kwargs=MICRO_MODELS)
    assert report.episodes == 4 and np.isfinite(report.mean("reference"))
    assert report.reward_max == 1.0  # the slor form's bound, declared by the reward
    out = tmp_path / "audit.json"
    arguments = ["audit-reward", "Bambino-v0", "--episodes", "3", "--json", str(out)]
    kwargs = ["--env-kwargs", json.dumps(MICRO_MODELS)]
    assert main([*arguments, *kwargs]) in (0, 1)
    assert json.loads(out.read_text())["episodes"] == 3
    assert main([*arguments, *kwargs]) == 2  # an existing report is never overwritten
