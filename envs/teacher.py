"""The teacher's data-selection environment of ter Hoeve et al. (2022).

A teacher picks ``budget`` sentences from a pool; a group of fresh students trains on them and
sits an exam; the reward is minus the students' mean exam log-perplexity (or, as in the paper,
minus their mean exam perplexity). See
:class:`TeacherSelectionEnv`; the multi-lesson variant is in :mod:`lm_gym.envs.teacher_curriculum`.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from lm_gym.corpora.artificial import SelectionTask
from lm_gym.envs.students import MAX_LOG_PERPLEXITY, BatchedStudents, StudentConfig
from lm_gym.envs.teacher_embeddings import SentenceEmbedder
from lm_gym.envs.teacher_metrics import selection_metrics
from lm_gym.envs.teacher_tasks import (
    build_task_source,
    check_teacher_sizes,
    draw_task,
    task_keywords,
)
from lm_gym.utils.device import resolve_device
from lm_gym.utils.validation import check_choice, check_int, check_keywords, check_positive_int

REWARDS = ("log_perplexity", "perplexity")
"""Reward scales: minus the students' mean exam log-perplexity (default) or perplexity."""
RESAMPLING = ("episode", "fixed")
"""A new pool and exam every episode, or the one pool and exam of ``task_seed`` (the paper's)."""


class KSubset(spaces.MultiBinary):
    """``MultiBinary`` whose valid elements have exactly ``k`` ones in every row (last axis).

    It *is* a ``MultiBinary`` (agents and Gymnasium utilities treat it as one); ``sample``
    draws uniform ``k``-subsets and ``contains`` checks the counts, so Gymnasium's checkers
    and random agents produce valid actions. A vector env's batched space is a ``KSubset`` of
    shape ``(num_envs, n)``.
    """

    def __init__(
        self, n: int | Sequence[int], k: int, seed: int | np.random.Generator | None = None
    ) -> None:
        super().__init__(n, seed=seed)
        self.k = check_int("k", k, minimum=1, maximum=self.shape[-1])

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """Uniformly random ``k``-subsets as an int8 indicator array."""
        if mask is not None or probability is not None:
            raise ValueError("KSubset.sample takes no mask or probability")
        action = np.zeros(self.shape, dtype=self.dtype)
        rows = action.reshape(-1, self.shape[-1])
        for row in rows:
            row[self.np_random.choice(row.size, self.k, replace=False)] = 1
        return action

    def contains(self, x: Any) -> bool:
        return bool(super().contains(x) and (np.asarray(x).sum(axis=-1) == self.k).all())

    def __repr__(self) -> str:
        n = self.shape[0] if len(self.shape) == 1 else self.shape
        return f"KSubset({n}, k={self.k})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KSubset) and self.shape == other.shape and self.k == other.k


@batch_space.register(KSubset)
def _batch_k_subset(space: KSubset, n: int = 1) -> KSubset:
    return KSubset((n, *space.shape), space.k, seed=copy.deepcopy(space.np_random))


def selected_indices(action: Any, num_items: int, k: int) -> np.ndarray:
    """The indices of the ones of a ``MultiBinary(num_items)`` action with exactly ``k`` ones.

    Raises:
        TypeError: for a non-integer, non-boolean action.
        ValueError: for a wrong shape, a value other than 0/1 or a count other than ``k``.
    """
    if isinstance(action, torch.Tensor):
        action = action.detach().cpu().numpy()
    array = np.asarray(action)
    if array.dtype.kind not in "biu":
        raise TypeError(
            f"the action must hold integers or booleans (0/1 per pool sentence), got dtype "
            f"{array.dtype}"
        )
    if array.shape != (num_items,):
        raise ValueError(f"the action must have shape ({num_items},), got {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError("the action must be binary: 1 selects a pool sentence, 0 leaves it")
    count = int(array.sum())
    if count != k:
        raise ValueError(f"the action must select exactly {k} sentences, it selects {count}")
    return np.flatnonzero(array)


class TeacherSelectionEnv(gym.Env):
    """Choose ``budget`` training sentences for a group of students; be scored on their exam.

    ## Description
    The interactive language-modelling setup of ter Hoeve et al. (2022). Each episode draws a
    pool of candidate sentences and an exam from a seeded task (Task 1 "domains", Task 2
    "structures", a mixed English/Italian "parentese" pool, or a user callable), or, with
    ``resample="fixed"``, keeps the one pool and exam of ``task_seed`` as the paper does. The
    teacher
    selects ``budget`` pool sentences; ``num_students`` freshly initialised causal Transformer
    LMs (:class:`lm_gym.envs.BatchedStudents`, trained together with stacked weights)
    train on the selection for ``student_steps`` Adam updates and are scored on the exam.

    ## Action Space
    :class:`KSubset` (a ``MultiBinary(pool_size)``): 1 for each selected sentence, exactly
    ``budget`` ones. Integer or boolean arrays (or tensors) are accepted; anything else raises
    before the env changes.

    ## Observation Space
    ``Dict`` with
    - ``input_ids``: ``Box(int64, (pool_size, max_length))``, each pool sentence as
      ``<s> words </s>`` in the students' word ids, right-padded with 0;
    - ``attention_mask``: ``MultiBinary((pool_size, max_length))``, 1 on real tokens;
    - ``embeddings``: ``Box(float32, (pool_size, D))``, the teacher's view of each sentence
      (``embedding``: mean word embedding or mean last hidden state of ``teacher_model``, or
      a model-free bag of words).

    ## Rewards
    ``reward="log_perplexity"`` (default): minus the mean over students of each student's exam
    log-perplexity, its mean next-token negative log-likelihood in nats over all exam tokens
    (``</s>`` included), clipped at 700. ``reward="perplexity"`` (the paper's): minus the mean
    over students of each student's exam perplexity, the ``exp`` of that clipped value; it
    spans many orders of magnitude (up to about 1e304 for a student that never saw the exam's
    words), which a policy gradient then has to cope with. Both are always finite.

    ## Starting State
    ``reset`` draws the task seed and the students' seeds from ``self.np_random`` (with
    ``resample="fixed"`` the task seed drawn is unused: the pool and exam stay those of
    ``task_seed``, the students are new every episode).

    ## Episode End
    After one step (``terminated=True``). ``info`` then holds ``exam_perplexity`` and
    ``exam_log_perplexity`` (the means over students; one of them is minus the reward),
    ``student_perplexity`` and ``student_log_perplexity`` (``(num_students,)``),
    ``exam_item_perplexity`` (``(num_students, exam_size)``), ``exam_item_log_perplexity``
    (``(exam_size,)``, mean over students), ``selected`` (indices), ``exam_type_fraction`` and
    ``unigram_overlap`` / ``bigram_overlap`` / ``trigram_overlap`` with the exam. ``reset``'s
    ``info`` holds the pool and exam texts.

    ## Arguments
    - ``task``: ``"domains"``, ``"structures"``, ``"parentese"`` or ``seed -> SelectionTask``.
    - ``pool_size``, ``exam_size``, ``budget``: paper defaults 100, 10, 10.
    - ``num_students``: students per selection (default 4).
    - ``student_steps``: updates per student (default 400 for domains, 300 otherwise).
    - ``student_config``: :class:`~lm_gym.envs.StudentConfig` or a dict of its fields.
    - ``reward``: ``"log_perplexity"`` (default) or ``"perplexity"`` (the paper's scale).
    - ``resample``: ``"episode"`` (default: a new pool and exam every episode) or ``"fixed"``
      (the paper's single pool and exam, those of ``task_seed``).
    - ``task_seed``: the task seed of the fixed pool and exam (default 0).
    - ``embedding``: ``"mean_embedding"`` (default), ``"mean_hidden"`` or ``"bag"``.
    - ``teacher_model``: model spec of the teacher LM (default the ``baby-en`` recipe).
    - ``max_length``: row width (default: the task's longest sentence + 2).
    - ``device``: where students and teacher LM run (default CUDA when present).
    - ``render_mode``: ``None`` or ``"ansi"``.
    - further keywords go to the task builder (``v1_fraction``, ``s1_fraction``, ``length``,
      ``min_len``, ``max_len``, ``italian_fraction``, ``distinct``).

    Any other keyword is a ``TypeError`` naming the valid ones (:meth:`keywords`) before
    anything loads. ``budget`` and ``pool_labels`` are declared attributes (what the fixed
    teachers and the subset policies read).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    replaced_keywords: ClassVar[tuple[str, ...]] = ()
    """Keywords of this class's constructor that a subclass sets itself (and refuses)."""

    def __init__(
        self,
        task: str | Callable[[int], SelectionTask] = "domains",
        *,
        pool_size: int = 100,
        exam_size: int = 10,
        budget: int = 10,
        num_students: int = 4,
        student_steps: int | None = None,
        student_config: StudentConfig | dict | None = None,
        reward: str = "log_perplexity",
        resample: str = "episode",
        task_seed: int = 0,
        embedding: str = "mean_embedding",
        teacher_model: Any = "baby-en",
        max_length: int | None = None,
        device: str | torch.device | None = None,
        render_mode: str | None = None,
        **task_kwargs: Any,
    ) -> None:
        check_keywords(type(self).__name__, task_kwargs, self.keywords(task))
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        for name, value in (("budget", budget), ("num_students", num_students)):
            check_positive_int(name, value)
        self.reward_kind = check_choice("reward", reward, REWARDS)
        self.resample = check_choice("resample", resample, RESAMPLING)
        check_int("task_seed", task_seed, minimum=0)
        self.source = build_task_source(task, pool_size, exam_size, max_length, **task_kwargs)
        if budget > self.source.pool_size:
            raise ValueError(f"budget {budget} exceeds the pool size {self.source.pool_size}")
        steps = self.source.default_student_steps if student_steps is None else student_steps
        check_teacher_sizes(student_steps=steps)
        self.student_config = _student_config(student_config, self.source.max_length)
        self.budget = budget
        self.num_students = num_students
        self.student_steps = steps
        self.render_mode = render_mode
        self.device = resolve_device(device)
        self.embedder = SentenceEmbedder(
            embedding, self.source.vocabulary, teacher_model, self.device
        )

        n, width, vocab = self.source.pool_size, self.source.max_length, len(self.source.vocabulary)
        self.action_space = KSubset(n, budget)
        self.observation_space = spaces.Dict(self._observation_spaces(n, width, vocab))
        self.task: SelectionTask | None = None
        self.student_seeds: list[int] = []
        self.episode_over = True
        self.last_info: dict[str, Any] = {}
        self._episode: dict[str, Any] = {}
        self._fixed = (
            self._encode(draw_task(self.source, task_seed)) if resample == "fixed" else None
        )

    @classmethod
    def keywords(cls, task: Any = "domains") -> list[str]:
        """Every keyword the class takes with ``task``: its constructors' own and the task's."""
        own: set[str] = set()
        for klass in cls.__mro__[: cls.__mro__.index(TeacherSelectionEnv) + 1]:
            parameters = inspect.signature(klass.__init__).parameters.values()
            own |= {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
        return sorted(own - set(cls.replaced_keywords)) + ["task", *task_keywords(task)]

    # ---------------------------------------------------------------------------- helpers
    def _observation_spaces(self, n: int, width: int, vocab: int) -> dict[str, spaces.Space]:
        return {
            "input_ids": spaces.Box(0, vocab - 1, (n, width), dtype=np.int64),
            "attention_mask": spaces.MultiBinary((n, width)),
            "embeddings": spaces.Box(-np.inf, np.inf, (n, self.embedder.dim), dtype=np.float32),
        }

    @property
    def pool_labels(self) -> np.ndarray:
        """Labels of the current pool (1 = the exam's type): what an oracle teacher knows."""
        if self.task is None:
            raise RuntimeError("call reset() first: there is no pool yet")
        return np.asarray(self.task.pool_labels, dtype=np.int64)

    def _encode(self, task: SelectionTask) -> dict[str, Any]:
        """A task with its pool and exam rows and the pool's observation."""
        vocab, width = self.source.vocabulary, self.source.max_length
        ids, mask = vocab.encode(task.pool, width)
        observation = {
            "input_ids": ids.numpy(),
            "attention_mask": mask.numpy().astype(np.int8),
            "embeddings": self.embedder(task.pool),
        }
        return {
            "task": task,
            "pool_rows": (ids, mask),
            "exam": vocab.encode(task.exam, width),
            "observation": observation,
        }

    def _draw_episode(self, seed: int | None) -> None:
        """Seed, draw the task (or take the fixed one) and the students' seeds."""
        super().reset(seed=seed)
        draws = self.np_random.integers(0, 2**31 - 1, size=1 + self.num_students)
        self._episode = self._fixed or self._encode(draw_task(self.source, int(draws[0])))
        self.task = self._episode["task"]
        self.student_seeds = [int(s) for s in draws[1:]]

    @property
    def _pool_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` of the current pool, as the students read them."""
        return self._episode["pool_rows"]

    @property
    def _exam(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` of the current exam."""
        return self._episode["exam"]

    def _observation(self) -> dict[str, np.ndarray]:
        return {key: value.copy() for key, value in self._episode["observation"].items()}

    def _new_students(self) -> BatchedStudents:
        return BatchedStudents(
            len(self.source.vocabulary), self.student_seeds, self.student_config, self.device
        )

    def _train(self, students: BatchedStudents, indices: np.ndarray, steps: int) -> None:
        ids, mask = self._pool_rows
        chosen = torch.as_tensor(indices)
        students.train_on(ids[chosen], mask[chosen], steps)

    def _score(self, students: BatchedStudents) -> dict[str, Any]:
        return exam_scores(*students.log_likelihoods(*self._exam))

    def _selection_info(self, indices: np.ndarray) -> dict[str, Any]:
        task = self.task
        return {
            "selected": indices,
            **selection_metrics(indices, task.pool, task.pool_labels, task.exam),
        }

    # ------------------------------------------------------------------------- Gym API
    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Draw a new pool and exam (and the students' seeds)."""
        self._draw_episode(seed)
        self.episode_over = False
        self.last_info = {}
        return self._observation(), {"pool": self.task.pool, "exam": self.task.exam}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Train fresh students on the selection and return minus their exam perplexity."""
        indices = selected_indices(action, self.source.pool_size, self.budget)
        if self.episode_over:
            raise RuntimeError("the episode is over (one step per episode): call reset()")
        students = self._new_students()
        self._train(students, indices, self.student_steps)
        return self.finish(indices, self._score(students))

    def finish(
        self, indices: np.ndarray, scores: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """End the episode with the students' ``scores`` (:func:`exam_scores`) for ``indices``."""
        info = {**scores, **self._selection_info(indices)}
        self.episode_over = True
        self.last_info = info
        return self._observation(), self.reward_of(scores), True, False, info

    def reward_of(self, scores: dict[str, Any]) -> float:
        """The reward for the students' ``scores`` (:func:`exam_scores`): minus their mean
        exam log-perplexity or perplexity, as ``reward`` says."""
        return -float(scores[f"exam_{self.reward_kind}"])

    def sibling(self) -> TeacherSelectionEnv:
        """A copy sharing this env's task source, teacher LM and spaces, with its own (not yet
        seeded) generator and no episode: the sub-envs of the vector env."""
        other = copy.copy(self)
        other._np_random, other._np_random_seed = None, None
        other.task, other.student_seeds, other.episode_over = None, [], True
        other.last_info, other._episode = {}, {}
        return other

    def render(self) -> str | None:
        """With ``render_mode="ansi"``: the selected sentences and the students' score."""
        if self.render_mode != "ansi" or self.task is None:
            return None
        lines = [f"task {self.source.name}: pool of {len(self.task.pool)}, budget {self.budget}"]
        if "selected" in self.last_info:
            labels = self.task.pool_labels
            for i in self.last_info["selected"]:
                lines.append(f"  [{'exam type' if labels[i] else 'other':9}] {self.task.pool[i]}")
            lines.append(f"exam perplexity {self.last_info['exam_perplexity']:.4g}")
        return "\n".join(lines) + "\n"


def exam_scores(nll: torch.Tensor, counts: torch.Tensor) -> dict[str, Any]:
    """Exam scores from :meth:`BatchedStudents.log_likelihoods` (all finite).

    Returns:
        ``exam_perplexity`` and ``exam_log_perplexity`` (means over students of each student's
        perplexity and log-perplexity on the whole exam), ``student_perplexity`` and
        ``student_log_perplexity`` ``(S,)``, ``exam_item_perplexity`` ``(S, E)`` and
        ``exam_item_log_perplexity`` ``(E,)`` (mean over students). Log-perplexities are mean
        next-token negative log-likelihoods in nats, clipped at :data:`MAX_LOG_PERPLEXITY`.
    """
    item_nll = (nll / counts).clamp(max=MAX_LOG_PERPLEXITY)
    student_nll = (nll.sum(1) / counts.sum(-1)).clamp(max=MAX_LOG_PERPLEXITY)
    student_ppl = torch.exp(student_nll)
    return {
        "exam_perplexity": float(student_ppl.mean()),
        "exam_log_perplexity": float(student_nll.mean()),
        "student_perplexity": student_ppl.numpy(),
        "student_log_perplexity": student_nll.numpy(),
        "exam_item_perplexity": torch.exp(item_nll).numpy(),
        "exam_item_log_perplexity": item_nll.mean(0).numpy(),
    }


def _student_config(config: StudentConfig | dict | None, max_length: int) -> StudentConfig:
    """A :class:`StudentConfig` from a config, a dict or ``None``, with room for ``max_length``.

    Raises:
        TypeError: for another type or unknown fields.
        ValueError: when the students' ``max_positions`` is shorter than the rows.
    """
    if config is None:
        config = StudentConfig(max_positions=max(max_length, StudentConfig.max_positions))
    elif isinstance(config, dict):
        names = {f.name for f in dataclasses.fields(StudentConfig)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise TypeError(f"student_config has unknown fields {unknown}; valid: {sorted(names)}")
        values = {"max_positions": max(max_length, StudentConfig.max_positions), **config}
        config = StudentConfig(**values)
    elif not isinstance(config, StudentConfig):
        raise TypeError(f"student_config must be a StudentConfig or dict, got {type(config)}")
    if config.max_positions < max_length:
        raise ValueError(
            f"student_config.max_positions={config.max_positions} is shorter than the rows "
            f"(max_length={max_length})"
        )
    return config
