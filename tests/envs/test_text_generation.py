"""The single text-generation env: spaces, episodes in both modes, bad actions, checkers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from lm_gym import check_env
from lm_gym.envs import TextGenerationEnv, TextGenerationVectorEnv
from lm_gym.models import LM

K, NEW = 4, 6


@pytest.fixture
def tokenizer(tiny_lm):
    return tiny_lm[1]


def make(tokenizer, sentences, reward, **kwargs) -> TextGenerationEnv:
    return TextGenerationEnv(
        tokenizer, sentences, reward, prompt_tokens=K, max_new_tokens=NEW, **kwargs
    )


def word_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_spaces_and_prompts(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward)
    vocab = len(tokenizer)
    assert env.action_space.n == vocab
    assert env.observation_space["input_ids"].shape == (K + NEW,)
    assert env.observation_space["input_ids"].high.max() == vocab - 1
    assert env.observation_space["attention_mask"].n == K + NEW
    # Texts with no more than K tokens are skipped; every prompt is a text's first K ids, and
    # its true continuation the rest of the text.
    usable = [s for s in sentences if len(word_ids(tokenizer, s)) > K]
    assert len(env.task.prompt_texts) == len(usable) < len(sentences)
    expected = np.array([word_ids(tokenizer, s)[:K] for s in usable])
    np.testing.assert_array_equal(env.task.prompts.ids, expected)
    assert env.task.prompts.mask.all() and env.task.prompt_width == K
    for prompt, rest, text in zip(env.task.prompt_texts, env.task.prompts.continuations, usable):
        assert prompt + rest == text


def test_token_episode_is_left_aligned_and_rewarded_at_the_end(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward)
    obs, info = env.reset(seed=3)
    prompt = obs["input_ids"][:K].tolist()
    assert info["prompt"] == tokenizer.decode(prompt, skip_special_tokens=True)
    assert obs["attention_mask"].tolist() == [1] * K + [0] * NEW
    assert obs["input_ids"][K:].tolist() == [tokenizer.pad_token_id] * NEW
    new = word_ids(tokenizer, " the ball sees some milk today")[:NEW]
    for step, token in enumerate(new):
        assert env.observation_space.contains(obs)
        obs, reward, terminated, truncated, info = env.step(token)
        assert obs["input_ids"][: K + step + 1].tolist() == prompt + new[: step + 1]
        assert obs["attention_mask"].sum() == K + step + 1
        assert not terminated
        if step < NEW - 1:
            assert reward == 0.0 and not truncated and info == {}
    assert truncated
    full = tokenizer.decode(prompt + new, skip_special_tokens=True)
    assert info["prompt"] + info["completion"] == full
    assert reward == len(info["completion"]) > 0
    assert info["prompt_chars"] == len(info["prompt"])
    (call,) = length_reward.calls
    assert call[2]["completion_ids"] == [new]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(new[0])


def test_eos_terminates_and_an_empty_completion_is_scored(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(tokenizer.eos_token_id)
    assert terminated and not truncated
    assert info["completion"] == "" and reward == 0.0
    assert obs["input_ids"][K] == tokenizer.eos_token_id and obs["attention_mask"][K] == 1
    assert length_reward.calls[0][2]["completion_ids"] == [[]]


def test_sequence_mode_cuts_at_the_first_eos(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, mode="sequence")
    assert env.action_space.shape == (NEW,) and env.action_space.dtype == np.int64
    obs, _ = env.reset(seed=1)
    prompt = obs["input_ids"][:K].tolist()
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    words = word_ids(tokenizer, " the cat")[:2]
    action = np.array([*words, eos, 7, 9, pad], dtype=np.int64)  # ids after EOS are ignored
    obs, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    assert obs["input_ids"].tolist() == prompt + [*words, eos] + [pad] * (NEW - 3)
    assert obs["attention_mask"].tolist() == [1] * (K + 3) + [0] * (NEW - 3)
    assert (
        info["completion"]
        == tokenizer.decode(prompt + words, skip_special_tokens=True)[len(info["prompt"]) :]
    )
    assert reward == len(info["completion"])
    # Without EOS the whole continuation counts.
    env.reset(seed=1)
    obs, *_ = env.step(np.full(NEW, words[0]))
    assert obs["attention_mask"].sum() == K + NEW


def test_same_seed_same_prompts_and_rewards(tokenizer, sentences, length_reward):
    def run(seed):
        env = make(tokenizer, sentences, length_reward)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        out = [obs["input_ids"].tolist()]
        for _ in range(3 * NEW):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            out.append((obs["input_ids"].tolist(), reward))
            if terminated or truncated:
                out.append(env.reset()[0]["input_ids"].tolist())
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_bad_actions_interleaved_leave_the_episode_unchanged(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, render_mode="ansi")
    actions = word_ids(tokenizer, " my friends want the big house")[:NEW]

    def episode(bad: list) -> list:
        obs, _ = env.reset(seed=11)
        trace = [obs]
        for index, token in enumerate(actions):
            if index % 2 == 0:
                for action, error in bad:
                    before = (env.render(), env.np_random.bit_generator.state)
                    with pytest.raises(error):
                        env.step(action)
                    assert (env.render(), env.np_random.bit_generator.state) == before
            trace.append(env.step(token))
        return trace

    bad = [
        (len(tokenizer), ValueError),
        (-1, ValueError),
        (np.array([1, 2]), ValueError),
        (np.array([5]), ValueError),
        (2.5, TypeError),
        (np.float32(3), TypeError),
        (True, TypeError),
        ("cat", TypeError),
        (None, TypeError),
    ]
    clean, interrupted = episode([]), episode(bad)
    assert repr(clean) == repr(interrupted)


def test_shaping_adds_a_reward_every_step(tokenizer, sentences, length_reward):
    def per_token_cost(input_ids, attention_mask):
        return -0.5 * torch.ones(len(input_ids))

    env = make(tokenizer, sentences, length_reward, shaping=per_token_cost)
    env.reset(seed=0)
    token = word_ids(tokenizer, " cat")[0]
    rewards = [env.step(token)[1] for _ in range(NEW)]
    assert rewards[:-1] == [-0.5] * (NEW - 1)
    assert rewards[-1] == pytest.approx(-0.5 + len(length_reward.calls[0][1][0]))


def test_render_ansi_shows_prompt_and_text_so_far(tokenizer, sentences, length_reward):
    env = make(tokenizer, sentences, length_reward, render_mode="ansi")
    _, info = env.reset(seed=2)
    assert env.render() == f"{info['prompt']}[]"
    env.step(word_ids(tokenizer, "cat")[0])
    assert env.render().startswith(info["prompt"]) and env.render() != f"{info['prompt']}[]"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "words"}, ValueError, "mode"),
        ({"prompt_tokens": 0}, ValueError, "prompt_tokens"),
        ({"max_new_tokens": 2.5}, ValueError, "max_new_tokens"),
        ({"prompt_tokens": 50}, ValueError, "no prompt"),
        ({"prompt_tokens": 3, "prompt_words": 2}, ValueError, "exactly one"),
        ({"vocab_size": 2}, ValueError, "vocab_size"),
        ({"render_mode": "human"}, ValueError, "render_mode"),
        ({"shaping": 3}, TypeError, "shaping"),
    ],
)
def test_bad_arguments_fail_before_any_work(
    tokenizer, sentences, length_reward, kwargs, error, match
):
    arguments = {"prompt_tokens": K, "max_new_tokens": NEW, **kwargs}
    with pytest.raises(error, match=match):
        TextGenerationEnv(tokenizer, sentences, length_reward, **arguments)


def test_the_generating_model_is_declared(tiny_lm, sentences, length_reward):
    model, tokenizer = tiny_lm
    assert make(tokenizer, sentences, length_reward).generating_model is None
    lm = LM(model, tokenizer)
    assert make(tokenizer, sentences, length_reward, generating_model=lm).generating_model is lm
    with pytest.raises(TypeError, match="generating_model"):
        make(tokenizer, sentences, length_reward, generating_model=model)


def test_bad_corpus_and_reward(tokenizer, sentences, length_reward):
    with pytest.raises(TypeError, match="texts"):
        make(tokenizer, "one string", length_reward)
    with pytest.raises(ValueError, match="texts"):
        make(tokenizer, [], length_reward)
    with pytest.raises(TypeError, match="reward_fn"):
        make(tokenizer, sentences, "reward")


@pytest.mark.parametrize("values", [[float("nan")], [float("inf")], [1.0, 2.0]])
def test_a_reward_callable_returning_nan_inf_or_too_many_values_is_refused(
    tokenizer, sentences, values
):
    env = make(tokenizer, sentences, lambda prompts, completions, **kw: values)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="reward function"):
        env.step(tokenizer.eos_token_id)


@pytest.mark.parametrize("mode", ["token", "sequence"])
def test_checkers_pass(tokenizer, sentences, length_reward, mode):
    env = make(tokenizer, sentences, length_reward, mode=mode, render_mode="ansi")
    check_env(env)
    gymnasium_check_env(env, skip_render_check=False)
    if mode == "token":
        sb3_check_env(env, warn=False)


def test_word_prompts_are_right_aligned_and_end_at_a_word_boundary(tokenizer, length_reward):
    texts = ["the cat sees the ball .", "my friends want some milk at home .", "a b"]
    env = TextGenerationEnv(tokenizer, texts, length_reward, prompt_words=3, max_new_tokens=4)
    prompts = env.task.prompts
    assert prompts.texts == ("the cat sees", "my friends want")
    assert prompts.continuations == (" the ball .", " some milk at home .")
    rows = [word_ids(tokenizer, text) for text in prompts.texts]
    width = max(len(row) for row in rows)
    assert env.task.prompt_width == width
    assert env.observation_space["input_ids"].shape == (width + 4,)
    for index in range(2):
        obs, info = env.reset(seed=index)
        row = rows[prompts.texts.index(info["prompt"])]
        pad = width - len(row)
        assert obs["attention_mask"].tolist() == [0] * pad + [1] * len(row) + [0] * 4
        assert obs["input_ids"][pad:width].tolist() == row
        obs, *_ = env.step(word_ids(tokenizer, "dog")[0])
        assert obs["attention_mask"][width] == 1  # generation starts in column P for every row
        rest = prompts.continuations[prompts.texts.index(info["prompt"])]
        assert rest.startswith(env.reference_continuation())  # cut to what fits


def test_the_reference_continuation_is_cut_to_whole_words_that_fit(tokenizer, length_reward):
    texts = ["the cat sees the ball in the garden every morning ."]
    env = TextGenerationEnv(tokenizer, texts, length_reward, prompt_words=2, max_new_tokens=4)
    with pytest.raises(RuntimeError, match="reset"):
        env.reference_continuation()
    env.reset(seed=0)
    reference = env.reference_continuation()
    assert " sees the ball in the garden".startswith(reference) and reference
    assert len(word_ids(tokenizer, reference)) <= 3  # room for EOS
    assert reference.endswith(tuple(texts[0].split()))  # a whole word


@pytest.mark.parametrize("env_class", [TextGenerationEnv, TextGenerationVectorEnv])
def test_episode_length_is_bounded_by_memory_and_the_generating_models_context(
    tiny_lm, sentences, length_reward, env_class
):
    model, tokenizer = tiny_lm  # 64 positions
    lm = LM(model, tokenizer)
    with pytest.raises(ValueError, match=r"max_new_tokens=100000000 is above its limit of 131,068"):
        env_class(tokenizer, sentences, length_reward, prompt_tokens=K, max_new_tokens=10**8)
    too_long = (
        r"needs 65 positions \(the agents' BOS 1 \+ the longest prompt 4 \+ "
        r"max_new_tokens 60\)"
    )
    with pytest.raises(ValueError, match=too_long + ".* at most 64 .* max_new_tokens <= 59"):
        env_class(
            tokenizer,
            sentences,
            length_reward,
            prompt_tokens=K,
            max_new_tokens=60,
            generating_model=lm,
        )
    fits = env_class(
        tokenizer, sentences, length_reward, prompt_tokens=K, max_new_tokens=59, generating_model=lm
    )
    assert fits.task.length == 63
