"""The teacher env as a native vector env: every sub-env's students train in one batch.

``gym.make_vec("TeacherDomains-v0", num_envs=8)`` builds :class:`TeacherSelectionVectorEnv`.
Each sub-env is a :class:`~lm_gym.envs.teacher.TeacherSelectionEnv` with its own generator
and episode, sharing the task source and the teacher LM; a vector step trains the students of
all sub-envs as one :class:`~lm_gym.students.BatchedStudents` group (``num_envs *
num_students`` students, each on its own env's selection), which is what makes a learning
teacher's batch of episodes affordable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from lm_gym.corpora.artificial import SelectionTask
from lm_gym.envs.students import BatchedStudents
from lm_gym.envs.teacher import TeacherSelectionEnv, exam_scores, selected_indices
from lm_gym.utils.validation import check_positive_int


class TeacherSelectionVectorEnv(VectorEnv):
    """``num_envs`` teacher episodes stepped together (same spaces and keywords as the env).

    Autoreset follows Gymnasium's default ``NEXT_STEP`` mode: every episode lasts one step, so
    the step after a finished episode resets that sub-env (its action is ignored) and returns
    reward 0. Calling ``reset()`` before every step, as one-step agents do, avoids those
    steps. A step validates every row of the action before any sub-env changes.

    Args:
        num_envs: number of sub-envs.
        task: as for :class:`~lm_gym.envs.teacher.TeacherSelectionEnv`.
        **kwargs: every other keyword of :class:`~lm_gym.envs.teacher.TeacherSelectionEnv`.
    """

    metadata = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        task: str | Callable[[int], SelectionTask] = "domains",
        **kwargs: Any,
    ) -> None:
        check_positive_int("num_envs", num_envs)
        first = TeacherSelectionEnv(task, **kwargs)
        self.envs = [first, *(first.sibling() for _ in range(num_envs - 1))]
        self.num_envs = num_envs
        self.budget = first.budget
        self.render_mode = first.render_mode
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    @property
    def pool_labels(self) -> np.ndarray:
        """``(num_envs, pool_size)`` labels of the current pools (1 = the exam's type)."""
        return np.stack([env.pool_labels for env in self.envs])

    def get_attr(self, name: str) -> tuple:
        """``getattr`` of every sub-env, as ``SyncVectorEnv.get_attr`` returns it."""
        return tuple(getattr(env, name) for env in self.envs)

    def _stack(self, observations: Sequence[dict]) -> dict:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, observations, out)

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[dict, dict]:
        """Reset every sub-env; an int ``seed`` seeds sub-env ``i`` with ``seed + i``."""
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset needs {self.num_envs} seeds, got {len(seeds)}")
        if seed is not None:
            super().reset(seed=seeds[0])
        observations, infos = [], {}
        for index, (env, env_seed) in enumerate(zip(self.envs, seeds)):
            obs, info = env.reset(seed=env_seed)
            observations.append(obs)
            infos = self._add_info(infos, info, index)
        self._needs_reset[:] = False
        return self._stack(observations), infos

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Train the students of every running sub-env in one group and score them."""
        if isinstance(actions, torch.Tensor):
            actions = actions.detach().cpu().numpy()
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, pool_size), got {actions.shape}"
            )
        selections = [
            selected_indices(row, env.source.pool_size, env.budget)
            for row, env in zip(actions, self.envs)
        ]
        running = [i for i in range(self.num_envs) if not self._needs_reset[i]]
        if any(self.envs[i].episode_over for i in running):
            raise RuntimeError("call reset() before the first step")
        results = self._train_and_score(running, selections)

        observations, infos = [], {}
        rewards = np.zeros(self.num_envs)
        done = np.zeros(self.num_envs, dtype=bool)
        for index, env in enumerate(self.envs):
            if index in results:
                obs, rewards[index], done[index], _, info = results[index]
            else:
                obs, info = env.reset()
            observations.append(obs)
            infos = self._add_info(infos, info, index)
        self._needs_reset = done.copy()
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self._stack(observations), rewards, done, truncated, infos

    def _train_and_score(self, running: list[int], selections: list[np.ndarray]) -> dict:
        """One student group for all ``running`` sub-envs; each env gets its own scores."""
        if not running:
            return {}
        first = self.envs[0]
        seeds, train_ids, train_mask, exam_ids, exam_mask = [], [], [], [], []
        for index in running:
            env = self.envs[index]
            ids, mask = env._pool_rows
            chosen = torch.as_tensor(selections[index])
            count = len(env.student_seeds)
            seeds.extend(env.student_seeds)
            train_ids.append(ids[chosen].expand(count, -1, -1))
            train_mask.append(mask[chosen].expand(count, -1, -1))
            exam_ids.append(env._exam[0].expand(count, -1, -1))
            exam_mask.append(env._exam[1].expand(count, -1, -1))
        students = BatchedStudents(
            len(first.source.vocabulary), seeds, first.student_config, first.device
        )
        students.train_on(torch.cat(train_ids), torch.cat(train_mask), first.student_steps)
        nll, counts = students.log_likelihoods(torch.cat(exam_ids), torch.cat(exam_mask))
        results, start = {}, 0
        for index in running:
            env = self.envs[index]
            part = slice(start, start + len(env.student_seeds))
            start = part.stop
            results[index] = env.finish(selections[index], exam_scores(nll[part], counts[part]))
        return results

    def render(self) -> tuple | None:
        """The sub-envs' ``ansi`` renderings."""
        if self.render_mode != "ansi":
            return None
        return tuple(env.render() for env in self.envs)
