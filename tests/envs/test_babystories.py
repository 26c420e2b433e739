"""BabyStories-v0 / BabyStoriesSeq-v0: registration, checkers, whole-sentence prompts from
stories no recipe trains on, reward-model rewards, overrides, determinism."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from support import MICRO_STORIES

from lm_gym import check_env  # importing lm_gym registers BabyStories-v0
from lm_gym.corpora import generate_stories
from lm_gym.envs import (
    BabyStoriesConfig,
    BabyStoriesEnv,
    BabyStoriesVectorEnv,
    default_prompts,
    default_stories,
)
from lm_gym.models import LM, RECIPES, load_model
from lm_gym.rewards import RewardModelReward, load_reward_model

MICRO = {**MICRO_STORIES, "max_new_tokens": 8}


@pytest.mark.parametrize("env_id", ["BabyStories-v0", "BabyStoriesSeq-v0"])
def test_registered_ids_pass_the_checkers(env_id):
    check_env(gym.make(env_id, **MICRO), steps=24 if env_id == "BabyStories-v0" else 4)


@pytest.mark.parametrize("env_id", ["BabyStories-v0", "BabyStoriesSeq-v0"])
def test_native_vector_envs_pass_the_checker(env_id):
    envs = gym.make_vec(env_id, num_envs=3, **MICRO)
    assert isinstance(envs, BabyStoriesVectorEnv)
    assert isinstance(envs.generating_model, LM)
    check_env(envs, steps=12 if env_id == "BabyStories-v0" else 3)


def test_prompts_are_whole_story_beginnings_of_every_length():
    env = gym.make("BabyStories-v0", **MICRO).unwrapped
    assert isinstance(env, BabyStoriesEnv)
    assert env.config == BabyStoriesConfig(mode="token", **MICRO)
    task = env.task
    assert task.prompt_texts == default_prompts() and len(task.prompt_texts) >= 1_000
    assert all(text.endswith((".", "!", '"')) for text in task.prompt_texts)
    stories = default_stories()
    assert task.prompts.continuations == tuple(" " + s.continuation for s in stories)
    widths = {int(row.sum()) for row in task.prompts.mask}
    assert len(widths) > 1 and max(widths) == task.prompt_width  # every length is kept
    assert env.generating_model.tokenizer is env.tokenizer
    assert env.action_space.n >= len(env.generating_model.tokenizer)
    assert not hasattr(env, "baby") and not hasattr(env, "storyteller")


def test_no_prompt_is_a_beginning_any_storyteller_or_reward_model_trained_on():
    story_recipes = [r for r in RECIPES.values() if r.corpus == "stories"]
    assert {r.name for r in story_recipes} >= {"storyteller-small", "reward-stories"}
    trained = {
        beginning
        for recipe in story_recipes
        for story in generate_stories(recipe.corpus_size, recipe.seed)
        for beginning in (story.sentences[0], " ".join(story.sentences[:2]))
    }
    prompts = set(default_prompts())
    assert prompts and not prompts & trained
    audit = set(BabyStoriesEnv.audit_arguments()["stories"])
    assert audit and not {text.split(". ")[0] + "." for text in audit} & (trained | prompts)


def test_the_reward_is_the_reward_model_score_of_prompt_and_continuation():
    env = gym.make("BabyStoriesSeq-v0", **MICRO)
    obs, info = env.reset(seed=0)
    tokenizer = env.unwrapped.tokenizer
    continuation = tokenizer(" Tom wanted to find his red ball.", add_special_tokens=False)[
        "input_ids"
    ][:8]
    action = np.full(8, tokenizer.eos_token_id, dtype=np.int64)
    action[: len(continuation)] = continuation
    _, reward, terminated, _, info = env.step(action)
    assert terminated
    expected = RewardModelReward("reward-stories-micro", device="cpu")(
        [info["prompt"]], [info["completion"]]
    )
    assert reward == pytest.approx(expected[0])
    assert np.isfinite(reward)


def test_same_seed_same_prompts_and_rewards():
    def rollout(seed: int) -> list:
        envs = gym.make_vec("BabyStories-v0", num_envs=4, autoreset_mode="SameStep", **MICRO)
        obs, _ = envs.reset(seed=seed)
        actions = np.random.default_rng(seed).integers(0, envs.single_action_space.n, (10, 4))
        records = [obs["input_ids"].copy()]
        for step_actions in actions:
            obs, rewards, _, _, _ = envs.step(step_actions)
            records += [obs["input_ids"].copy(), rewards.copy()]
        return records

    first, again, other = rollout(5), rollout(5), rollout(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert any(np.any(r != 0) for r in first[2::2])  # episodes ended with rewards


def test_every_part_can_be_overridden():
    teller = load_model("storyteller-micro", device="cpu")
    reward_lm = load_reward_model("reward-stories-micro", device="cpu")
    prompts = ["Tom was a brave fox.", "Mia was a kind owl who lived in the old barn.", "Hi."]
    env = gym.make(
        "BabyStories-v0",
        storyteller=teller,
        reward_model=reward_lm,
        prompts=prompts,
        max_new_tokens=4,
        device="cpu",
    ).unwrapped
    assert env.generating_model.model is teller.model
    assert env.task.reward_fn.model is reward_lm.model
    assert env.task.prompt_texts == tuple(prompts)  # every user prompt, of any length
    assert env.observation_space["input_ids"].shape == (env.task.prompt_width + 4,)


def test_user_stories_are_cut_after_whole_sentences():
    stories = ["Tom ran. He fell down. Then he laughed.", "One sentence only."]
    env = BabyStoriesEnv(stories=stories, prompt_sentences=2, **MICRO)
    assert env.task.prompt_texts == ("Tom ran. He fell down.",)
    assert env.task.prompts.continuations == (" Then he laughed.",)
    env.reset(seed=0)
    assert " Then he laughed.".startswith(env.reference_continuation())


def test_bad_arguments_are_clear_errors_before_any_work():
    with pytest.raises(ValueError, match="prompt_sentences must be"):
        gym.make("BabyStories-v0", **MICRO, prompt_sentences=0)
    with pytest.raises(ValueError, match="not both"):
        gym.make("BabyStories-v0", **MICRO, prompts=["A."], stories=["A. B."])
    with pytest.raises(ValueError, match="mode must be one of"):
        gym.make("BabyStories-v0", **{**MICRO, "mode": "word"})
    with pytest.raises(ValueError, match="max_new_tokens must be"):
        gym.make_vec("BabyStories-v0", num_envs=2, **{**MICRO, "max_new_tokens": 0})
    with pytest.raises(TypeError, match="prompts must be"):
        gym.make("BabyStories-v0", **MICRO, prompts=3)
    # An unknown keyword is refused before the (unloadable) storyteller is tried.
    broken = {**MICRO, "storyteller": "/no/such/model"}
    for env_class in (BabyStoriesEnv, BabyStoriesVectorEnv):
        with pytest.raises(TypeError, match=r"'story_teller' \(did you mean 'storyteller'\?\)"):
            env_class(story_teller="storyteller-micro", **broken)


def test_render_shows_the_story_so_far():
    env = gym.make("BabyStories-v0", render_mode="ansi", **MICRO)
    _, info = env.reset(seed=1)
    env.step(env.unwrapped.tokenizer.convert_tokens_to_ids("▁Tom"))
    assert info["prompt"] in env.render()
