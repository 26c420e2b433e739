"""The teacher env as a native vector env: every sub-env's students train in one batch.

``gym.make_vec("TeacherDomains-v0", num_envs=8)`` builds :class:`TeacherSelectionVectorEnv`.
Each sub-env is a :class:`~lm_gym.envs.teacher.TeacherSelectionEnv` with its own generator
and episode, sharing the task source and the teacher LM; a vector step trains the students of
all sub-envs as one :class:`~lm_gym.envs.students.BatchedStudents` group (``num_envs *
num_students`` students, each on its own env's selection), which is what makes a learning
teacher's batch of episodes affordable. The class also serves other teacher envs as their
vector env: a subclass names its sub-env class and how a step advances the running sub-envs
(:class:`~lm_gym.envs.teacher_curriculum.TeacherCurriculumVectorEnv` steps them in turn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from lm_gym.corpora.artificial import SelectionTask
from lm_gym.envs.students import BatchedStudents
from lm_gym.envs.teacher import TeacherSelectionEnv, exam_scores, selected_indices
from lm_gym.utils.validation import check_keywords, check_positive_int


class TeacherSelectionVectorEnv(VectorEnv):
    """``num_envs`` teacher episodes stepped together, their students trained as one group.

    ## Description
    ``num_envs`` copies of :class:`~lm_gym.envs.teacher.TeacherSelectionEnv`, each with its
    own generator, pool and exam, sharing the task source and the teacher LM. A step trains the
    students of every running sub-env as one batched group, each student on its own sub-env's
    selection, and gives every sub-env the scores a single env would give.

    ## Action Space
    :class:`~lm_gym.envs.teacher.KSubset` of shape ``(num_envs, pool_size)``: exactly
    ``budget`` ones per row. Every row is checked before any sub-env changes.

    ## Observation Space
    The single env's ``Dict`` (``input_ids``, ``attention_mask``, ``embeddings``), batched
    along a first axis of size ``num_envs``.

    ## Rewards
    Per sub-env, as :class:`~lm_gym.envs.teacher.TeacherSelectionEnv`: minus the students'
    mean exam log-perplexity (or perplexity, with ``reward="perplexity"``).

    ## Starting State
    ``reset(seed=s)`` seeds sub-env ``i`` with ``s + i`` (or takes a list of seeds), as
    Gymnasium's ``SyncVectorEnv`` does; each sub-env then draws as the single env.

    ## Episode End
    Per sub-env, as the single env. Autoreset is Gymnasium's default ``NEXT_STEP``: the step
    after a finished episode resets that sub-env (its action is ignored) and returns reward 0;
    calling ``reset()`` before every step, as one-step agents do, avoids those steps. ``info``
    holds the single env's entries as arrays with ``_key`` masks.

    ## Arguments
    ``num_envs`` and every keyword of :class:`~lm_gym.envs.teacher.TeacherSelectionEnv`
    (``task`` first). ``budget`` and ``pool_labels`` (``(num_envs, pool_size)``) are declared
    attributes, as on the single env.

    ## Version History
    * v0: initial release.
    """

    env_class: ClassVar[type[TeacherSelectionEnv]] = TeacherSelectionEnv
    """The sub-env class."""

    metadata = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        task: str | Callable[[int], SelectionTask] = "domains",
        **kwargs: Any,
    ) -> None:
        valid = ["num_envs", *self.env_class.keywords(task)]
        check_keywords(type(self).__name__, kwargs, valid)
        check_positive_int("num_envs", num_envs)
        first = self.env_class(task, **kwargs)
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
        """Advance every running sub-env; a sub-env that finished last step is reset instead."""
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
        results = self._advance(running, actions, selections)

        observations, infos = [], {}
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for index, env in enumerate(self.envs):
            if index in results:
                obs, rewards[index], terminated[index], truncated[index], info = results[index]
            else:
                obs, info = env.reset()
            observations.append(obs)
            infos = self._add_info(infos, info, index)
        self._needs_reset = terminated | truncated
        return self._stack(observations), rewards, terminated, truncated, infos

    def _advance(
        self, running: list[int], actions: np.ndarray, selections: list[np.ndarray]
    ) -> dict[int, tuple]:
        """Step the ``running`` sub-envs on their checked ``actions`` (``selections``: the
        chosen indices); returns each one's ``(obs, reward, terminated, truncated, info)``.

        Here: one student group for all of them; each sub-env gets its own scores.
        """
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
