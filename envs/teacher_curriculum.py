"""The curriculum variant of the teacher env: lessons in batches, guided by per-item feedback.

ter Hoeve et al. (2022) end their road map with a teacher that teaches over time: it sends a
lesson, looks at how the students do on each exam item, and picks the next lesson. Here the
same students persist through an episode of ``num_lessons`` steps
(:class:`TeacherCurriculumEnv`); :class:`TeacherCurriculumVectorEnv` runs ``num_envs`` courses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

from lm_gym.corpora.artificial import SelectionTask
from lm_gym.envs.students import MAX_LOG_PERPLEXITY, BatchedStudents
from lm_gym.envs.teacher import TeacherSelectionEnv, selected_indices
from lm_gym.envs.teacher_vector import TeacherSelectionVectorEnv
from lm_gym.utils.validation import check_positive_int


class TeacherCurriculumEnv(TeacherSelectionEnv):
    """Teach the same students lesson after lesson, seeing their per-item exam scores.

    ## Description
    Like :class:`~lm_gym.envs.teacher.TeacherSelectionEnv`, but an episode is a course:
    ``reset`` draws a pool, an exam and ``num_students`` fresh students; each step the teacher
    sends a lesson of ``lesson_size`` pool sentences, the students train on it for
    ``steps_per_lesson`` updates (keeping their weights and optimizer state from earlier
    lessons) and are examined. A sentence may be taught again in a later lesson.

    ## Action Space
    :class:`~lm_gym.envs.teacher.KSubset`: ``MultiBinary(pool_size)`` with exactly
    ``lesson_size`` ones.

    ## Observation Space
    The pool (``input_ids``, ``attention_mask``, ``embeddings``, as in the one-step env) plus
    - ``exam_log_perplexity``: ``Box(float32, (exam_size,))``, per exam item the students'
      mean log-perplexity (mean next-token NLL in nats, at most 700) after the last lesson
      (before the first lesson: of the untrained students);
    - ``taught``: ``Box(int64, (pool_size,))``, how many lessons each sentence was in so far.

    ## Rewards
    After each lesson, minus the students' mean exam log-perplexity (or perplexity, with
    ``reward="perplexity"``), as in the one-step env, so the return is minus the area under
    the learning curve: teaching well early pays.

    ## Starting State
    ``reset`` draws the task and the students' seeds from ``self.np_random``.

    ## Episode End
    Terminated after ``num_lessons`` lessons. ``info`` carries the same scores and selection
    metrics as the one-step env, for the lesson just taught, and ``lesson`` (1-based).

    ## Arguments
    ``lesson_size`` (default 10), ``num_lessons`` (default 10) and ``steps_per_lesson``
    (default 40: 400 updates over the course, Task 1's budget); every other keyword as in
    :class:`~lm_gym.envs.teacher.TeacherSelectionEnv` (``task``, sizes, ``num_students``,
    ``student_config``, ``reward``, ``resample``, ``task_seed``, ``embedding``,
    ``teacher_model``, ``device``, task keywords).

    ## Version History
    - v0: initial version.
    """

    replaced_keywords = ("budget", "student_steps")
    """Set from ``lesson_size`` and ``steps_per_lesson``."""

    def __init__(
        self,
        task: str | Callable[[int], SelectionTask] = "domains",
        *,
        lesson_size: int = 10,
        num_lessons: int = 10,
        steps_per_lesson: int = 40,
        **kwargs: Any,
    ) -> None:
        for name in self.replaced_keywords:
            if name in kwargs:
                raise TypeError(
                    f"TeacherCurriculumEnv takes lesson_size / steps_per_lesson, not {name}"
                )
        check_positive_int("num_lessons", num_lessons)
        self.num_lessons = num_lessons
        super().__init__(task, budget=lesson_size, student_steps=steps_per_lesson, **kwargs)
        self.students: BatchedStudents | None = None
        self.lesson = 0
        self._scores: dict[str, Any] = {}
        self._taught = np.zeros(self.source.pool_size, dtype=np.int64)

    def _observation_spaces(self, n: int, width: int, vocab: int) -> dict[str, spaces.Space]:
        return {
            **super()._observation_spaces(n, width, vocab),
            "exam_log_perplexity": spaces.Box(
                0.0, MAX_LOG_PERPLEXITY, (self.source.exam_size,), dtype=np.float32
            ),
            "taught": spaces.Box(0, self.num_lessons, (n,), dtype=np.int64),
        }

    def _observation(self) -> dict[str, np.ndarray]:
        return {
            **super()._observation(),
            "exam_log_perplexity": self._scores["exam_item_log_perplexity"].astype(np.float32),
            "taught": self._taught.copy(),
        }

    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Draw a new pool, exam and students; examine the untrained students."""
        self._draw_episode(seed)
        self.students = self._new_students()
        self._scores = self._score(self.students)
        self._taught = np.zeros(self.source.pool_size, dtype=np.int64)
        self.lesson = 0
        self.episode_over = False
        self.last_info = {}
        info = {"pool": self.task.pool, "exam": self.task.exam}
        info["exam_perplexity"] = self._scores["exam_perplexity"]
        return self._observation(), info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Teach one lesson, examine the students, return minus their exam perplexity."""
        indices = self._check_lesson(action)
        self._train(self.students, indices, self.student_steps)
        self._scores = self._score(self.students)
        self._taught[indices] += 1
        self.lesson += 1
        self.episode_over = self.lesson >= self.num_lessons
        info = {**self._scores, **self._selection_info(indices), "lesson": self.lesson}
        self.last_info = info
        return self._observation(), self.reward_of(self._scores), self.episode_over, False, info

    def sibling(self) -> TeacherCurriculumEnv:
        """A copy sharing the task source and teacher LM, with no course under way."""
        other = super().sibling()
        other.students, other.lesson, other._scores = None, 0, {}
        other._taught = np.zeros_like(self._taught)
        return other

    def _check_lesson(self, action: Any) -> np.ndarray:
        indices = selected_indices(action, self.source.pool_size, self.budget)
        if self.episode_over or self.students is None:
            raise RuntimeError("the course is over (or not started): call reset()")
        return indices

    def render(self) -> str | None:
        """With ``render_mode="ansi"``: the last lesson and the students' exam score."""
        text = super().render()
        if text is None:
            return None
        return f"lesson {self.lesson}/{self.num_lessons}\n{text}"


class TeacherCurriculumVectorEnv(TeacherSelectionVectorEnv):
    """``num_envs`` courses side by side; each step teaches every running course one lesson.

    ## Description
    ``num_envs`` copies of :class:`TeacherCurriculumEnv`, sharing the task source and the
    teacher LM, each with its own generator and its own students. Their students persist through
    a course, so they cannot train as one fresh group: a step teaches the sub-envs in turn,
    each exactly as the single env would.

    ## Action Space
    :class:`~lm_gym.envs.teacher.KSubset` of shape ``(num_envs, pool_size)``: exactly
    ``lesson_size`` ones per row. Every row is checked before any sub-env changes.

    ## Observation Space
    The single env's ``Dict`` (the pool, ``exam_log_perplexity``, ``taught``), batched along a
    first axis of size ``num_envs``.

    ## Rewards
    Per sub-env, as :class:`TeacherCurriculumEnv`: after each lesson, minus the students'
    mean exam log-perplexity (or perplexity).

    ## Starting State
    ``reset(seed=s)`` seeds sub-env ``i`` with ``s + i``; each draws its pool, exam and
    students as the single env.

    ## Episode End
    Per sub-env, after ``num_lessons`` lessons, with ``NEXT_STEP`` autoreset and ``info``
    arrays as :class:`~lm_gym.envs.teacher_vector.TeacherSelectionVectorEnv`.

    ## Arguments
    ``num_envs`` and every keyword of :class:`TeacherCurriculumEnv` (``task`` first).
    ``budget`` (the lesson size) and ``pool_labels`` are declared attributes.

    ## Version History
    * v0: initial release.
    """

    env_class = TeacherCurriculumEnv

    def _advance(
        self, running: list[int], actions: np.ndarray, selections: list[np.ndarray]
    ) -> dict[int, tuple]:
        """Each running sub-env teaches its lesson to its own students, one after another."""
        return {index: self.envs[index].step(actions[index]) for index in running}
