"""``lm_gym.check_env``: Gymnasium's API checker plus the guarantees lm_gym promises.

Anyone can run it on their own environment (single or vector). On top of
:func:`gymnasium.utils.env_checker.check_env` (single envs) it checks:

* determinism: two rollouts that reset with the same seed and take the same actions give
  identical observations, rewards and episode ends, bit for bit;
* bad actions: an out-of-range id, a wrong shape and a wrong dtype each raise an exception,
  and leave the env exactly as it was: its state (the RNG and every array, tensor and number
  reachable from it) is compared before and after, and the episode, continued with the valid
  actions, must match the uninterrupted rollout.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from gymnasium.vector import AutoresetMode, VectorEnv

ACTION_ERRORS = (ValueError, TypeError, IndexError, AssertionError, gym.error.Error)
"""Exceptions that count as rejecting a bad action."""


class EnvCheckError(AssertionError):
    """An environment broke one of the checked guarantees; the message says which."""


def check_env(
    env: gym.Env | VectorEnv,
    *,
    seed: int = 0,
    steps: int = 40,
    bad_actions: bool = True,
    skip_render_check: bool = True,
) -> None:
    """Check ``env`` and raise :class:`EnvCheckError` at the first broken guarantee.

    Args:
        env: a Gymnasium env (wrapped or not) or a ``VectorEnv``.
        seed: the seed of the rollouts (and of the sampled actions).
        steps: length of each rollout; episodes that end are reset (vector envs autoreset).
        bad_actions: also run the bad-action checks (integer action spaces: ``Discrete``,
            ``MultiDiscrete``, ``MultiBinary`` and integer ``Box``; float ``Box`` spaces get
            the wrong-shape check only).
        skip_render_check: passed to Gymnasium's checker.
    """
    vector = isinstance(env, VectorEnv)
    reference = _rollout(env, seed, steps, vector)
    again = _rollout(env, seed, steps, vector, actions=reference.actions)
    _compare(reference, again, "two rollouts with the same seed and actions")
    if bad_actions:
        interrupted = _rollout(env, seed, steps, vector, actions=reference.actions, probe=True)
        _compare(reference, interrupted, "the rollout with rejected bad actions interleaved")
    if not vector:
        gymnasium_check_env(env.unwrapped, skip_render_check=skip_render_check)


class _Trajectory:
    def __init__(self) -> None:
        self.actions: list[Any] = []
        self.records: list[tuple[str, Any]] = []


def _rollout(
    env: Any,
    seed: int,
    steps: int,
    vector: bool,
    actions: list[Any] | None = None,
    probe: bool = False,
) -> _Trajectory:
    """Reset with ``seed`` and take ``steps`` actions (sampled unless given), recording all."""
    trajectory = _Trajectory()
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trajectory.records.append(("reset", obs))
    probes = {0, 1, steps // 2} if probe else set()
    for index in range(steps):
        action = actions[index] if actions is not None else env.action_space.sample()
        trajectory.actions.append(action)
        if index in probes:
            _try_bad_actions(env, index)
        obs, reward, terminated, truncated, _ = env.step(action)
        trajectory.records.append(("step", (obs, reward, terminated, truncated)))
        if not vector and (terminated or truncated):
            obs, _ = env.reset()
            trajectory.records.append(("reset", obs))
        elif vector and _autoreset_disabled(env):
            done = np.logical_or(terminated, truncated)
            if done.any():
                obs, _ = env.reset(options={"reset_mask": np.asarray(done, dtype=bool)})
                trajectory.records.append(("reset", obs))
    return trajectory


def _autoreset_disabled(env: VectorEnv) -> bool:
    return env.metadata.get("autoreset_mode") == AutoresetMode.DISABLED


def _try_bad_actions(env: Any, step: int) -> None:
    for label, action in bad_actions_for(env.action_space):
        before = state_snapshot(env.unwrapped)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                env.step(action)
        except ACTION_ERRORS:
            pass
        else:
            raise EnvCheckError(f"step {step}: the {label} action {action!r} was accepted")
        if not _equal(before, state_snapshot(env.unwrapped)):
            raise EnvCheckError(f"step {step}: the rejected {label} action changed the env")


def bad_actions_for(space: spaces.Space) -> list[tuple[str, Any]]:
    """Invalid actions for ``space``, labelled: out of range, wrong shape, wrong dtype."""
    sample = space.sample()
    wrong_shape = ("wrong-shape", np.repeat(np.asarray(sample)[None], 2, axis=0))
    if isinstance(space, spaces.Discrete):
        start = int(space.start)
        return [
            ("out-of-range", np.int64(start + int(space.n))),
            ("below-range", np.int64(start - 1)),
            ("wrong-shape", np.array([start, start], dtype=np.int64)),
            ("wrong-dtype", float(start) + 0.5),
        ]
    if isinstance(space, spaces.MultiDiscrete):
        high = (space.start + space.nvec).astype(np.int64)
        return [
            ("out-of-range", high),
            wrong_shape,
            ("wrong-dtype", sample.astype(np.float64) + 0.5),
        ]
    if isinstance(space, spaces.MultiBinary):
        return [
            ("out-of-range", np.full(space.shape, 2, dtype=np.int8)),
            wrong_shape,
            ("wrong-dtype", np.full(space.shape, 0.5)),
        ]
    if isinstance(space, spaces.Box):
        if np.issubdtype(space.dtype, np.integer):
            above = np.asarray(space.high, dtype=np.int64) + 1
            return [
                ("out-of-range", np.broadcast_to(above, space.shape).astype(space.dtype)),
                wrong_shape,
                ("wrong-dtype", np.asarray(sample, dtype=np.float64) + 0.5),
            ]
        return [wrong_shape]
    return []


def state_snapshot(obj: Any, depth: int = 4, _seen: set[int] | None = None) -> Any:
    """A deep copy of the plain state reachable from ``obj``: arrays, tensors, numbers,
    strings, NumPy generators, and the attributes of objects defined in ``obj``'s own package.

    Library objects (models, tokenizers) are not descended into: they are not episode state.
    """
    seen = _seen if _seen is not None else set()
    package = type(obj).__module__.split(".")[0]

    def snap(value: Any, level: int) -> Any:
        if isinstance(value, np.ndarray):
            return value.copy()
        if isinstance(value, torch.Tensor):
            return value.detach().clone()
        if isinstance(value, np.random.Generator):
            return copy.deepcopy(value.bit_generator.state)
        if value is None or isinstance(value, int | float | str | bool | np.generic):
            return value
        if level >= depth or id(value) in seen:
            return "<not compared>"
        seen.add(id(value))
        if isinstance(value, dict):
            return {key: snap(item, level + 1) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [snap(item, level + 1) for item in value]
        if type(value).__module__.split(".")[0] == package and hasattr(value, "__dict__"):
            return {key: snap(item, level + 1) for key, item in vars(value).items()}
        return "<not compared>"

    return snap(obj, 0)


def _equal(first: Any, second: Any) -> bool:
    """Exact equality through dicts, sequences, arrays and tensors (NaN is never equal)."""
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(_equal(first[k], second[k]) for k in first)
    if isinstance(first, torch.Tensor) or isinstance(second, torch.Tensor):
        return (
            isinstance(first, torch.Tensor)
            and isinstance(second, torch.Tensor)
            and first.shape == second.shape
            and first.dtype == second.dtype
            and bool(torch.equal(first.cpu(), second.cpu()))
        )
    if isinstance(first, list | tuple) and isinstance(second, list | tuple):
        return len(first) == len(second) and all(map(_equal, first, second))
    if isinstance(first, np.ndarray | np.generic) or isinstance(second, np.ndarray | np.generic):
        a, b = np.asarray(first), np.asarray(second)
        if a.dtype == object or b.dtype == object:
            return a.shape == b.shape and all(map(_equal, a.ravel(), b.ravel()))
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    return type(first) is type(second) and first == second


def _compare(reference: _Trajectory, other: _Trajectory, what: str) -> None:
    for index, (expected, found) in enumerate(zip(reference.records, other.records)):
        if expected[0] != found[0] or not _equal(expected[1], found[1]):
            raise EnvCheckError(
                f"{what} differ at record {index} ({expected[0]}): "
                f"expected {expected[1]!r}, got {found[1]!r}"
            )
    if len(reference.records) != len(other.records):
        raise EnvCheckError(f"{what} have different lengths")
