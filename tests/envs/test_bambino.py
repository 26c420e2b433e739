"""Bambino-v0 / BambinoSeq-v0: registration, checkers, defaults, overrides, real-model folders,
keyword errors and the declared ``generating_model``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from support import MICRO_MODELS
from transformers import OPTConfig, OPTForCausalLM

from lm_gym import check_env  # importing lm_gym registers Bambino-v0
from lm_gym.corpora import CorpusError
from lm_gym.envs import (
    BambinoConfig,
    BambinoEnv,
    BambinoVectorEnv,
    audit_corpus,
    calibrate_tau,
    default_corpus,
    sample_parent_perplexities,
)
from lm_gym.evaluation.evaluate import evaluation_texts
from lm_gym.models import LM, RECIPES, ModelLoadError, build_recipe, load_model, recipe_corpus
from lm_gym.utils.env_attributes import get_env_attr


@pytest.mark.parametrize("env_id", ["Bambino-v0", "BambinoSeq-v0"])
def test_registered_ids_pass_the_checkers(env_id):
    env = gym.make(env_id, **MICRO_MODELS)
    check_env(env, steps=40 if env_id == "Bambino-v0" else 8)  # Gymnasium's too
    if env_id == "Bambino-v0":
        sb3_check_env(env, warn=False)


def test_defaults():
    defaults = BambinoConfig()
    assert (defaults.baby_model, defaults.parent_model) == ("baby-en", "parent-it")
    assert (defaults.reward_form, defaults.prompt_words) == ("slor", 3)
    assert defaults.prompt_tokens is None
    assert (defaults.alpha, defaults.beta) == (5.0, 0.001)  # the paper forms' parameters
    env = gym.make("Bambino-v0", **MICRO_MODELS).unwrapped
    baby_tokenizer = load_model("baby-en-micro", device="cpu").tokenizer
    assert isinstance(env, BambinoEnv)
    assert env.config == BambinoConfig(mode="token", **MICRO_MODELS)
    assert env.action_space.n == len(baby_tokenizer)
    assert env.task.max_new_tokens == 32
    width = env.task.prompt_width
    assert env.observation_space["input_ids"].shape == (width + 32,)
    assert all(len(prompt.split()) == 3 for prompt in env.task.prompt_texts)
    assert env.task.texts == default_corpus()
    reward = env.task.reward_fn
    assert reward.form == "slor" and reward.reward_range == (-1.0, 1.0)
    assert gym.make("BambinoSeq-v0", **MICRO_MODELS).action_space.shape == (32,)


def test_the_l2_stream_shares_no_sentence_with_the_evaluation_sets():
    corpus = set(default_corpus())
    assert len(corpus) > 4_000
    assert not corpus & evaluation_texts("it")
    held_out = set(audit_corpus(500))
    assert held_out and not held_out & (corpus | evaluation_texts("it"))
    assert not held_out & set(recipe_corpus(RECIPES["parent-it"]))


def test_module_prefixed_id_imports_lm_gym():
    env = gym.make("lm_gym:Bambino-v0", **MICRO_MODELS)
    assert isinstance(env.unwrapped, BambinoEnv)


def test_an_episode_ends_with_the_parent_reward(tmp_path):
    env = gym.make("Bambino-v0", **MICRO_MODELS)
    obs, info = env.reset(seed=0)
    tokenizer = env.unwrapped.tokenizer
    prompt = obs["input_ids"][obs["attention_mask"] == 1]
    assert tokenizer.decode(prompt) == info["prompt"]
    continuation = tokenizer(" la mamma", add_special_tokens=False)["input_ids"]
    for token in continuation:
        _, reward, *_ = env.step(token)
        assert reward == 0.0
    _, reward, terminated, _, info = env.step(tokenizer.eos_token_id)
    assert terminated and info["completion"].strip() == "la mamma"
    assert reward == pytest.approx(np.tanh(info["slor"] / 40.0))
    assert np.isfinite(info["ppl"]) and np.isfinite(info["ppl_word"])


def test_make_vec_builds_the_native_vector_env():
    env = gym.make_vec("Bambino-v0", num_envs=8, **MICRO_MODELS)
    assert isinstance(env, BambinoVectorEnv) and env.num_envs == 8
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    check_env(env, steps=20)
    sequences = gym.make_vec("BambinoSeq-v0", num_envs=4, autoreset_mode="SameStep", **MICRO_MODELS)
    check_env(sequences, steps=3)


def test_same_seed_same_prompts_and_rewards_bit_for_bit():
    def run() -> list:
        env = gym.make_vec("Bambino-v0", num_envs=16, **MICRO_MODELS)
        actions = np.random.default_rng(1).integers(env.single_action_space.n, size=(40, 16))
        obs, info = env.reset(seed=7)
        trace = [obs["input_ids"], info["prompt"]]
        for action in actions:
            obs, rewards, terminated, truncated, info = env.step(action)
            trace += [obs["input_ids"], rewards, terminated, truncated, info.get("ppl")]
        return trace

    first, second = run(), run()
    assert any(r.any() for r in first[3::5])  # episodes did end and were scored
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_every_part_can_be_overridden(tmp_path):
    corpus = tmp_path / "italiano.train"
    corpus.write_text("\n".join(default_corpus()[:200]) + "\n", encoding="utf-8")
    env = gym.make(
        "Bambino-v0",
        corpus=corpus,
        prompt_tokens=3,
        max_new_tokens=4,
        reward_form="inverse",
        alpha=2.0,
        beta=0.5,
        tau=10.0,
        **MICRO_MODELS,
    ).unwrapped
    assert env.task.texts == default_corpus()[:200] and env.task.prompt_width == 3
    assert env.observation_space["input_ids"].shape == (7,)
    reward = env.task.reward_fn
    assert (reward.form, reward.alpha, reward.beta, reward.tau) == ("inverse", 2.0, 0.5, 10.0)
    listed = gym.make("Bambino-v0", corpus=["la mamma mangia la mela rossa"], **MICRO_MODELS)
    assert listed.unwrapped.task.texts == ("la mamma mangia la mela rossa",)
    # tau=None: calibrated on the untrained baby's own samples, for the models at hand
    default_inverse = gym.make("Bambino-v0", reward_form="inverse", **MICRO_MODELS).unwrapped
    samples = sample_parent_perplexities(256, seed=0, **MICRO_MODELS)
    assert default_inverse.task.reward_fn.tau == calibrate_tau(samples, "inverse")
    sigmoid = gym.make("Bambino-v0", reward_form="sigmoid", **MICRO_MODELS).unwrapped
    assert sigmoid.task.reward_fn.tau == calibrate_tau(samples, "sigmoid")


def test_local_save_pretrained_folders_load_like_the_paper_models():
    """The paper's models load by folder exactly as these recipe folders do (OPT baby,
    GPT-2 parent, each a save_pretrained folder with its own tokenizer)."""
    baby, parent = build_recipe("baby-en-micro"), build_recipe("parent-it-micro")
    env = gym.make("Bambino-v0", baby_model=str(baby), parent_model=str(parent), device="cpu")
    env.reset(seed=0)
    *_, info = env.step(env.unwrapped.tokenizer.eos_token_id)
    assert np.isfinite(info["ppl"])


def test_a_model_vocabulary_larger_than_its_tokenizer_sets_the_action_space():
    tokenizer = load_model("baby-en-micro", device="cpu").tokenizer
    extra = len(tokenizer) + 7  # like OPT-125m: 50272 logits for 50265 tokens
    config = OPTConfig(
        vocab_size=extra,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        word_embed_proj_dim=16,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    baby = (OPTForCausalLM(config), tokenizer)
    env = gym.make("Bambino-v0", **{**MICRO_MODELS, "baby_model": baby})
    assert env.action_space.n == extra
    env.reset(seed=0)
    env.step(extra - 1)  # no text for this id: it decodes to nothing
    with pytest.raises(ValueError, match="outside the vocabulary"):
        env.step(extra)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"reward_form": "exp"}, ValueError),
        ({"corpus": []}, ValueError),
        ({"corpus": 5}, TypeError),
        ({"corpus": "/no/such/corpus.txt"}, CorpusError),
        ({"baby_model": "/no/such/model"}, ModelLoadError),
        ({"prompt_tokens": 0}, ValueError),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, error):
    with pytest.raises(error):
        gym.make("Bambino-v0", **{**MICRO_MODELS, **kwargs})


@pytest.mark.parametrize("env_class", [BambinoEnv, BambinoVectorEnv])
def test_an_unknown_keyword_is_one_type_error_before_any_model_loads(env_class):
    # A baby that cannot load shows the keyword check comes first.
    arguments = {**MICRO_MODELS, "baby_model": "/no/such/model", "tua": 70.0}
    with pytest.raises(TypeError, match=r"unknown keyword 'tua' \(did you mean 'tau'\?\)") as error:
        env_class(**arguments)
    assert "valid keywords: alpha, " in str(error.value) and "render_mode" in str(error.value)
    with pytest.raises(TypeError, match=r"did you mean 'tensor_device'"):
        BambinoVectorEnv(2, tensor_devise="cpu", **MICRO_MODELS)


def test_the_generating_model_is_a_declared_attribute_through_wrappers():
    env = gym.make("Bambino-v0", **MICRO_MODELS)  # behind Gymnasium's wrappers
    baby = env.get_wrapper_attr("generating_model")
    assert isinstance(baby, LM) and baby.tokenizer is env.unwrapped.tokenizer
    assert env.action_space.n == len(baby.tokenizer)
    vector = gym.wrappers.vector.RecordEpisodeStatistics(
        gym.make_vec("BambinoSeq-v0", num_envs=2, **MICRO_MODELS)
    )
    assert isinstance(get_env_attr(vector, "generating_model"), LM)
    assert not hasattr(env.unwrapped, "baby")


def test_tau_calibration_from_the_baby_samples():
    perplexities = sample_parent_perplexities(16, seed=0, **MICRO_MODELS)
    assert perplexities.shape == (16,) and np.all(np.isfinite(perplexities))
    assert np.all(perplexities >= 1.0)
    assert calibrate_tau(perplexities) == np.median(perplexities)
    assert calibrate_tau(perplexities, "inverse") == np.percentile(perplexities, 5)
    again = sample_parent_perplexities(16, seed=0, **MICRO_MODELS)
    np.testing.assert_array_equal(perplexities, again)
    with pytest.raises(ValueError):
        calibrate_tau(np.array([np.nan]))
    with pytest.raises(ValueError):
        calibrate_tau(perplexities, "exp")


def test_max_new_tokens_is_bounded_before_models_load_and_by_the_babys_context():
    with pytest.raises(ValueError, match="max_new_tokens=100000000 is above its limit"):
        gym.make("Bambino-v0", baby_model="no-such-model", max_new_tokens=10**8)
    too_long = r"needs \d+ positions .* max_new_tokens 150\) .* at most 64"
    with pytest.raises(ValueError, match=too_long):
        gym.make("Bambino-v0", max_new_tokens=150, **MICRO_MODELS)
