"""The teacher agents: oracle and worst case follow the pool labels, the learning teacher runs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import lm_gym.registration  # noqa: F401  (registers the teacher ids)
from lm_gym.agents import OracleTeacher, ReinforceTeacher, WorstCaseTeacher, make_agent

FAST = {"embedding": "bag", "student_steps": 2, "num_students": 1}


@pytest.mark.parametrize(("name", "label"), [("oracle-teacher", 1), ("worst-teacher", 0)])
def test_fixed_teachers_pick_by_label(name, label):
    env = gym.make("TeacherDomains-v0", **FAST)
    teacher = make_agent(name, env, seed=0, verbose=0)
    obs, _ = env.reset(seed=0)
    action = teacher.predict(obs)
    labels = env.unwrapped.pool_labels
    assert action.sum() == 10 and (labels[action == 1] == label).all()
    _, _, _, _, info = env.step(action)
    assert info["exam_type_fraction"] == float(label)


def test_fixed_teachers_fill_up_when_the_pool_runs_short():
    """Task 2 pools hold 20 S1 sentences: an oracle with budget 30 adds 10 others, the fewest."""
    env = gym.make("TeacherStructures-v0", budget=30, **FAST)
    obs, _ = env.reset(seed=1)
    action = OracleTeacher(env, seed=0, verbose=0).predict(obs)
    assert action.sum() == 30 and env.unwrapped.pool_labels[action == 1].sum() == 20


def test_fixed_teachers_on_a_vector_env_and_their_learn_loop():
    env = gym.make_vec("TeacherStructures-v0", num_envs=3, **FAST)
    teacher = WorstCaseTeacher(env, seed=0, verbose=0)
    obs, _ = env.reset(seed=0)
    actions = teacher.predict(obs)
    assert actions.shape == (3, 100)
    assert (env.unwrapped.pool_labels[actions == 1] == 0).all()
    teacher.learn(env, total_timesteps=6, progress_bar=False)
    assert teacher.num_timesteps >= 6 and len(teacher.episode_returns) >= 6


def test_fixed_teacher_is_seeded():
    env = gym.make("TeacherDomains-v0", **FAST)
    obs, _ = env.reset(seed=0)
    first = OracleTeacher(env, seed=4, verbose=0).predict(obs)
    assert np.array_equal(first, OracleTeacher(env, seed=4, verbose=0).predict(obs))
    assert not np.array_equal(first, OracleTeacher(env, seed=5, verbose=0).predict(obs))


def test_reinforce_teacher_updates_its_subset_policy():
    env = gym.make_vec("TeacherDomains-v0", num_envs=4, **FAST)
    teacher = make_agent("reinforce-teacher", env, seed=0, verbose=0, batch_size=4)
    assert isinstance(teacher, ReinforceTeacher)
    before = teacher.model.subset.scorer.weight.detach().clone()
    teacher.learn(env, total_timesteps=8, progress_bar=False)
    assert teacher.num_timesteps == 8 and teacher.iteration == 2
    assert not np.allclose(before.numpy(), teacher.model.subset.scorer.weight.detach().numpy())
    obs, _ = env.reset(seed=9)
    action = teacher.predict(obs, deterministic=True)
    assert action.shape == (4, 100) and (action.sum(1) == 10).all()


def test_fixed_teacher_needs_a_subset_env():
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match="MultiBinary"):
        OracleTeacher(env, verbose=0)


def test_reinforce_teacher_with_its_encoder_saves_and_loads(tmp_path):
    env = gym.make_vec("TeacherStructures-v0", num_envs=2, **FAST)
    teacher = ReinforceTeacher(env, seed=0, verbose=0, batch_size=2)
    teacher.learn(env, total_timesteps=4, progress_bar=False)
    loaded = ReinforceTeacher.load(teacher.save(tmp_path / "teacher.pt"), env=env)
    assert loaded.policy.encoder is not None
    trained, fresh = (
        teacher.policy.state_dict(),
        ReinforceTeacher(env, seed=0, verbose=0).policy.state_dict(),
    )
    key = "encoder.embedding.weight"
    assert not np.array_equal(trained[key].numpy(), fresh[key].numpy())  # training moved it
    for name, value in trained.items():
        assert np.array_equal(loaded.policy.state_dict()[name].numpy(), value.numpy())
    obs, _ = env.reset(seed=3)
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True), teacher.predict(obs, deterministic=True)
    )
