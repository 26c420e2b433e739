"""CLMAlternation: schedules, CLM updates between episodes, info counters, checkpoint/resume."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from lm_gym.envs import TextGenerationEnv, TextGenerationVectorEnv
from lm_gym.models.clm import clm_loss, encode_sentences
from lm_gym.wrappers.clm_alternation import CLMAlternation, CLMSchedule, VectorCLMAlternation

TEXTS = [
    f"{s} {v} {o} ."
    for s in ("the cat", "my friends", "a child", "the dogs")
    for v in ("sees", "wants", "likes")
    for o in ("the ball", "some milk", "the little boat", "a red apple")
]  # 48 sentences: 6 batches of 8 per epoch


def constant_reward(prompts, completions, **kwargs):
    return [1.0] * len(prompts)


@pytest.fixture
def model(tiny_lm_dir):
    """A fresh trainable copy (CLM updates change it)."""
    return AutoModelForCausalLM.from_pretrained(tiny_lm_dir)


def env_for(tokenizer, num_envs: int | None = None, max_new_tokens: int = 2):
    kwargs = {"prompt_tokens": 3, "max_new_tokens": max_new_tokens}
    if num_envs is None:
        return TextGenerationEnv(tokenizer, TEXTS, constant_reward, **kwargs)
    return TextGenerationVectorEnv(tokenizer, TEXTS, constant_reward, num_envs=num_envs, **kwargs)


def kinds(schedule: CLMSchedule, n: int) -> str:
    return "".join(schedule.kind(i)[0] for i in range(n))


def test_schedules_slot_patterns(model, tiny_lm):
    tokenizer = tiny_lm[1]

    def schedule(**kwargs):
        return CLMSchedule(model, tokenizer, TEXTS, batch_size=8, **kwargs)

    assert kinds(schedule(r_clm=3, r_rl=2), 10) == "cccrrcccrr"
    assert kinds(schedule(schedule="clm_only", r_clm=3, r_rl=2), 10) == "cccbbcccbb"
    assert kinds(schedule(schedule="rl_only"), 4) == "rrrr"
    # block: one full CLM pass over the corpus (6 batches), then RL for 15% of the epoch.
    block = schedule(schedule="block", block_fraction=0.75)
    assert kinds(block, 16) == "ccccccrr" * 2


def test_alternate_runs_r_clm_updates_per_r_rl_episodes(model, tiny_lm):
    env = CLMAlternation(env_for(tiny_lm[1]), model, r_clm=3, r_rl=2, batch_size=8)
    eos = tiny_lm[1].eos_token_id
    _, info = env.reset(seed=0)
    assert info["clm_steps"] == 3 and info["words_seen"] > 0 and info["clm_loss"] > 0
    at_end, at_reset = [], []
    for _ in range(6):  # six one-step episodes
        _, _, terminated, _, info = env.step(eos)
        assert terminated
        at_end.append(info["clm_steps"])
        at_reset.append(env.reset()[1]["clm_steps"])
    # The CLM slots after a full RL slot run at the next reset, not in the step that filled it.
    assert at_end == [3, 3, 6, 6, 9, 9]
    assert at_reset == [3, 6, 6, 9, 9, 12]


def test_words_seen_and_loss_come_from_the_corpus_batches(model, tiny_lm):
    tokenizer = tiny_lm[1]
    for module in model.modules():  # no dropout: the train-mode loss is then the eval loss
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    env = CLMAlternation(env_for(tokenizer), model, r_clm=1, r_rl=1, batch_size=8, lr=0.0)
    probe = CLMSchedule(model, tokenizer, TEXTS, batch_size=8)  # same seed: same first batch
    batch = probe.stream.next_batch()
    ids, mask = encode_sentences(tokenizer, batch, 64)
    with torch.no_grad():
        expected = clm_loss(model.eval(), ids, mask).item()
    _, info = env.reset(seed=0)
    assert info["words_seen"] == sum(len(t.split()) for t in batch)
    assert info["clm_loss"] == pytest.approx(expected, rel=1e-5)


def test_clm_updates_train_the_model_and_restore_its_mode(model, tiny_lm):
    before = [p.detach().clone() for p in model.parameters()]
    model.eval()
    env = CLMAlternation(env_for(tiny_lm[1]), model, r_clm=2, r_rl=1, batch_size=8)
    env.reset(seed=0)
    assert not model.training
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_rl_only_never_touches_the_model(model, tiny_lm):
    before = [p.detach().clone() for p in model.parameters()]
    env = CLMAlternation(env_for(tiny_lm[1]), model, schedule="rl_only", batch_size=8)
    _, info = env.reset(seed=0)
    env.step(tiny_lm[1].eos_token_id)
    assert info["clm_steps"] == 0 and "clm_loss" not in info
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_shared_optimizer_is_used(model, tiny_lm):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    env = CLMAlternation(env_for(tiny_lm[1]), model, optimizer, r_clm=1, batch_size=8)
    assert env.schedule.optimizer is optimizer
    env.reset(seed=0)


def test_vector_env_counts_a_batch_of_episodes_per_rl_slot(model, tiny_lm):
    env = CLMAlternation(env_for(tiny_lm[1], num_envs=4), model, r_clm=2, r_rl=1, batch_size=8)
    assert isinstance(env, VectorCLMAlternation) and env.schedule.rl_batch_size == 4
    _, info = env.reset(seed=0)
    assert info["clm_steps"].tolist() == [2] * 4 and info["_clm_steps"].all()
    cat = tiny_lm[1]("cat", add_special_tokens=False)["input_ids"][0]
    eos = tiny_lm[1].eos_token_id
    _, _, terminated, _, info = env.step(np.array([eos, eos, cat, cat]))  # 2 of 4 episodes
    assert terminated.sum() == 2 and info["clm_steps"][0] == 2
    _, _, _, truncated, info = env.step(np.full(4, cat))  # rows 2, 3 end: the slot is full
    assert truncated.sum() == 2 and info["clm_steps"][0] == 2  # CLM waits for the next call
    _, _, _, _, info = env.step(np.full(4, cat))  # autoreset step: new episodes start after CLM
    assert info["clm_steps"][0] == 4


def weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_clm_runs_after_the_batch_is_handed_back_and_before_the_next_episodes(model, tiny_lm):
    """Algorithm 1's order: sample a batch, (the agent updates on it), then CLM, then the next."""
    eos = tiny_lm[1].eos_token_id
    env = CLMAlternation(env_for(tiny_lm[1], num_envs=2), model, r_clm=1, r_rl=1, batch_size=8)
    env.reset(seed=0)
    sampled_with = weights(model)
    env.step(np.full(2, eos))  # the batch ends: the next CLM slot falls due but does not run
    assert same(weights(model), sampled_with) and env.schedule.due
    assert env.model_updates == 1 and env.trained_model is model
    _, info = env.reset()  # the next batch starts: the CLM slot runs first
    assert info["clm_steps"].tolist() == [2, 2] and not same(weights(model), sampled_with)
    assert env.model_updates == 2 and not env.schedule.due
    assert env.words_seen == env.schedule.words_seen > 0


def play(env, episodes: list[list[int]], seed: int | None = None) -> list[tuple]:
    """Reset, then step each episode's actions; record rewards and CLM counters."""
    trace = []
    for index, actions in enumerate(episodes):
        env.reset(seed=seed if index == 0 else None)
        for action in actions:
            _, reward, terminated, truncated, info = env.step(action)
            trace.append((reward, terminated, truncated, info["clm_steps"], info["clm_loss"]))
    return trace


@pytest.mark.parametrize("reset_before_saving", [False, True])
def test_checkpoint_and_resume_give_the_same_result(tiny_lm_dir, tiny_lm, reset_before_saving):
    """Saved with CLM slots due (right after a full RL slot) or after they ran (a reset)."""
    tokenizer = tiny_lm[1]
    cat, eos = tokenizer("cat", add_special_tokens=False)["input_ids"][0], tokenizer.eos_token_id
    episodes = [[eos], [cat, cat], [cat, eos], [eos], [cat, cat], [eos]]

    def fresh():
        model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
        env = CLMAlternation(env_for(tokenizer), model, r_clm=2, r_rl=1, batch_size=8)
        return model, env

    model, env = fresh()
    play(env, episodes[:3], seed=0)
    if reset_before_saving:
        env.reset()
    assert env.state_dict()["due"] is not reset_before_saving
    checkpoint = copy.deepcopy(
        {"model": model.state_dict(), "clm": env.state_dict(), "rng": env.unwrapped.np_random}
    )
    expected = play(env, episodes[3:])

    resumed_model, resumed = fresh()
    resumed_model.load_state_dict(checkpoint["model"])
    resumed.load_state_dict(checkpoint["clm"])
    resumed.unwrapped.np_random = checkpoint["rng"]
    assert play(resumed, episodes[3:]) == expected
    assert same(weights(model), weights(resumed_model))
    assert same(weights(env.reference_model), weights(resumed.reference_model))
    without_twin = CLMAlternation(env_for(tokenizer), model, batch_size=8, keep_reference=False)
    with pytest.raises(ValueError, match="keep_reference=True"):
        without_twin.load_state_dict(checkpoint["clm"])
    older = {k: v for k, v in checkpoint["clm"].items() if not k.startswith("reference")}
    with pytest.raises(ValueError, match="predates"):
        resumed.load_state_dict(older)


DROPOUT = {"resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1}
"""The tiny model with dropout, as many real models have: the twin must draw the same masks."""


def clm_only_replay(tiny_lm_dir, tokenizer, steps: int) -> torch.nn.Module:
    """A fresh model given ``steps`` CLM updates by a wrapper (seed 0, batches of 8) alone."""
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, **DROPOUT)
    schedule = CLMAlternation(env_for(tokenizer), model, batch_size=8).schedule
    for _ in range(steps):
        schedule.clm_step()
    return model


def test_the_twin_receives_exactly_the_clm_updates(tiny_lm_dir, tiny_lm):
    tokenizer = tiny_lm[1]
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, **DROPOUT)
    initial = weights(model)
    assert any(m.p > 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    env = CLMAlternation(env_for(tokenizer), model, r_clm=2, r_rl=1, batch_size=8)
    twin = env.reference_model
    assert twin is not model and not twin.training and same(weights(twin), initial)
    eos = tokenizer.eos_token_id
    play(env, [[eos], [eos]], seed=0)
    # Nothing but the wrapper trained the model: the twin is the model, bit for bit.
    assert env.model_updates == 4 and same(weights(twin), weights(model))
    assert not same(weights(twin), initial) and not twin.training
    with torch.no_grad():  # an agent's update of the model
        next(model.parameters()).add_(0.01)
    play(env, [[eos], [eos]])
    assert env.model_updates == 8 and not same(weights(twin), weights(model))
    # The twin is what the CLM updates alone make of the initial model.
    assert same(weights(twin), weights(clm_only_replay(tiny_lm_dir, tokenizer, 8)))


def test_the_twin_optimizer_copies_the_shared_optimizer_settings(model, tiny_lm):
    head = torch.nn.Linear(2, 1)  # an agent's parameter the wrapper does not train
    optimizer = torch.optim.SGD(
        [{"params": model.parameters()}, {"params": head.parameters(), "lr": 0.5}],
        lr=0.1,
        momentum=0.9,
    )
    env = CLMAlternation(env_for(tiny_lm[1]), model, optimizer, batch_size=8)
    twin_optimizer = env.schedule.reference_optimizer
    assert type(twin_optimizer) is torch.optim.SGD and len(twin_optimizer.param_groups) == 1
    group = twin_optimizer.param_groups[0]
    assert group["lr"] == 0.1 and group["momentum"] == 0.9
    twin_params = {id(p) for p in env.reference_model.parameters()}
    assert {id(p) for p in group["params"]} == twin_params
    assert not twin_params & {id(p) for p in model.parameters()}


def test_the_twin_can_be_left_out(model, tiny_lm):
    env = CLMAlternation(env_for(tiny_lm[1]), model, batch_size=8, keep_reference=False)
    env.reset(seed=0)
    assert env.reference_model is None and env.state_dict()["reference"] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": "sometimes"}, "schedule"),
        ({"r_clm": 0}, "r_clm"),
        ({"r_rl": 1.5}, "r_rl"),
        ({"block_fraction": 1.0}, "block_fraction"),
        ({"corpus": []}, "corpus"),
    ],
)
def test_bad_arguments(model, tiny_lm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CLMAlternation(env_for(tiny_lm[1]), model, **kwargs)


def test_an_env_without_tokenizer_needs_one(model):
    import gymnasium as gym

    with pytest.raises(ValueError, match="tokenizer"):
        CLMAlternation(gym.make("CartPole-v1"), model)
