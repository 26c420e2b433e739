"""lm_gym.check_env on third-party-style envs: it passes good ones and names what is broken."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from lm_gym.checks import EnvCheckError, bad_actions_for, check_env, state_snapshot


class CountingEnv(gym.Env):
    """Adds the action to a running total; episodes last five steps. Validates actions."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0, 1000, (1,), np.int64)
        self.action_space = spaces.Discrete(4)
        self.total = 0
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.total = int(self.np_random.integers(10))
        self.steps = 0
        return np.array([self.total]), {}

    def validate(self, action) -> int:
        if not isinstance(action, int | np.integer) or isinstance(action, bool):
            raise TypeError(f"bad action {action!r}")
        if not 0 <= action < 4:
            raise ValueError(f"action {action} out of range")
        return int(action)

    def step(self, action):
        self.total += self.validate(action)
        self.steps += 1
        return np.array([self.total]), float(self.total), False, self.steps >= 5, {}


class UnseededEnv(CountingEnv):
    """Draws its reward from the global NumPy RNG: not reproducible from the seed."""

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, float(np.random.random()), terminated, truncated, info


class ClippingEnv(CountingEnv):
    """Silently clips out-of-range actions instead of refusing them."""

    def validate(self, action) -> int:
        return int(np.clip(action, 0, 3))


class LeakyEnv(CountingEnv):
    """Counts the step before validating, so a rejected action still changes the state."""

    def step(self, action):
        self.steps += 1
        self.total += self.validate(action)
        return np.array([self.total]), float(self.total), False, self.steps >= 5, {}


def test_a_correct_env_passes():
    check_env(CountingEnv())
    check_env(gym.make("CartPole-v1"))  # asserts its actions are valid: that counts


def test_a_seed_that_does_not_fix_the_rewards_fails():
    with pytest.raises(EnvCheckError, match="same seed"):
        check_env(UnseededEnv())


def test_an_env_accepting_out_of_range_actions_fails():
    with pytest.raises(EnvCheckError, match="out-of-range action .* was accepted"):
        check_env(ClippingEnv())
    check_env(ClippingEnv(), bad_actions=False)


def test_an_env_changed_by_a_rejected_action_fails():
    with pytest.raises(EnvCheckError, match="changed the env"):
        check_env(LeakyEnv())


@pytest.mark.parametrize(
    ("space", "labels"),
    [
        (
            spaces.Discrete(5, start=2),
            ["out-of-range", "below-range", "wrong-shape", "wrong-dtype"],
        ),
        (spaces.MultiDiscrete([3, 4]), ["out-of-range", "wrong-shape", "wrong-dtype"]),
        (spaces.MultiBinary(3), ["out-of-range", "wrong-shape", "wrong-dtype"]),
        (spaces.Box(0, 9, (2,), np.int64), ["out-of-range", "wrong-shape", "wrong-dtype"]),
        (spaces.Box(-1.0, 1.0, (2,), np.float32), ["wrong-shape"]),
        (spaces.Text(5), []),
    ],
)
def test_bad_actions_are_outside_their_space(space, labels):
    space.seed(0)
    found = bad_actions_for(space)
    assert [label for label, _ in found] == labels
    for _, action in found:
        assert not space.contains(action) or np.asarray(action).dtype != space.dtype


def test_state_snapshot_sees_arrays_numbers_and_the_rng():
    env = CountingEnv()
    env.reset(seed=1)
    before = state_snapshot(env)
    assert before["total"] == env.total and "bit_generator" in before["_np_random"]
    env.np_random.random()
    assert state_snapshot(env)["_np_random"] != before["_np_random"]
