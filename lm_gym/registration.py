"""Every Gymnasium registration of lm_gym, in one table.

Importing :mod:`lm_gym` imports this module, which registers the environments. Each id has a
class as ``entry_point`` and a class as ``vector_entry_point`` (``gym.make_vec(id,
num_envs=n)`` builds the native batched vector env, not ``n`` copies of the single env); ids
of one family share their classes and differ by their registration ``kwargs``. Entry points
are strings, so nothing heavy is imported until an environment is made; the defaults live in
the env classes (and their config dataclasses).
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

ENVS = "lm_gym.envs"

ENVIRONMENTS: dict[str, dict[str, Any]] = {
    # BAMBINO-LM (Shen, Joshi, Chen 2024): a baby LM continues L2 prompts, a parent scores them.
    "Bambino-v0": {
        "entry_point": f"{ENVS}.bambino:BambinoEnv",
        "vector_entry_point": f"{ENVS}.bambino:BambinoVectorEnv",
        "kwargs": {"mode": "token"},
        "actions": "token",
        "config": f"{ENVS}.bambino:BambinoConfig",
    },
    "BambinoSeq-v0": {
        "entry_point": f"{ENVS}.bambino:BambinoEnv",
        "vector_entry_point": f"{ENVS}.bambino:BambinoVectorEnv",
        "kwargs": {"mode": "sequence"},
        "actions": "sequence",
        "config": f"{ENVS}.bambino:BambinoConfig",
    },
    # BabyStories (Zhao et al. 2023): a storyteller continues stories, a reward model scores them.
    "BabyStories-v0": {
        "entry_point": f"{ENVS}.babystories:BabyStoriesEnv",
        "vector_entry_point": f"{ENVS}.babystories:BabyStoriesVectorEnv",
        "kwargs": {"mode": "token"},
        "actions": "token",
        "config": f"{ENVS}.babystories:BabyStoriesConfig",
    },
    "BabyStoriesSeq-v0": {
        "entry_point": f"{ENVS}.babystories:BabyStoriesEnv",
        "vector_entry_point": f"{ENVS}.babystories:BabyStoriesVectorEnv",
        "kwargs": {"mode": "sequence"},
        "actions": "sequence",
        "config": f"{ENVS}.babystories:BabyStoriesConfig",
    },
    # Interactive language modelling (ter Hoeve et al. 2022): a teacher selects training data.
    "TeacherDomains-v0": {
        "entry_point": f"{ENVS}.teacher:TeacherSelectionEnv",
        "vector_entry_point": f"{ENVS}.teacher_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "domains"},
        "actions": "subset",
    },
    "TeacherStructures-v0": {
        "entry_point": f"{ENVS}.teacher:TeacherSelectionEnv",
        "vector_entry_point": f"{ENVS}.teacher_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "structures"},
        "actions": "subset",
    },
    "TeacherParentese-v0": {
        "entry_point": f"{ENVS}.teacher:TeacherSelectionEnv",
        "vector_entry_point": f"{ENVS}.teacher_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "parentese"},
        "actions": "subset",
    },
    "TeacherCurriculum-v0": {
        "entry_point": f"{ENVS}.teacher_curriculum:TeacherCurriculumEnv",
        "vector_entry_point": f"{ENVS}.teacher_curriculum:TeacherCurriculumVectorEnv",
        "kwargs": {"task": "domains"},
        "actions": "lessons",
    },
}
"""Registered id -> registration arguments (every other keyword has its default in the class),
plus two entries that are not Gymnasium's: ``actions``, the kind of action space (see
:data:`ACTION_KINDS`), and ``config``, the dataclass whose fields are the env's keywords (for
``lm-gym run --env.<field>``; envs without one take their constructor's keywords)."""

ACTION_KINDS = {
    "token": "one token per step (Discrete)",
    "sequence": "a whole continuation per step (integer Box)",
    "subset": "k of N pool items, one-step episodes (MultiBinary)",
    "lessons": "k of N pool items per lesson, several lessons per episode (MultiBinary)",
}
"""The kinds of action an lm_gym env takes; agents declare the kinds they act in
(``action_kinds``), so ``lm-gym list`` can say where each acts without building an env."""

LM_GYM_ONLY = ("actions", "config")
"""Keys of :data:`ENVIRONMENTS` entries that are not passed to ``gymnasium.register``."""


def env_metadata(env_id: str) -> dict[str, Any]:
    """``{"actions": kind, "config": "module:Class"}`` of an lm_gym id (empty for others)."""
    arguments = ENVIRONMENTS.get(env_id, {})
    return {key: arguments[key] for key in LM_GYM_ONLY if key in arguments}


def register_envs() -> None:
    """Register every lm_gym id that is not registered yet (safe to call twice)."""
    for env_id, arguments in ENVIRONMENTS.items():
        if env_id not in registry:
            gym_arguments = {k: v for k, v in arguments.items() if k not in LM_GYM_ONLY}
            register(id=env_id, **gym_arguments)


register_envs()
