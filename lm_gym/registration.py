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
    },
    "BambinoSeq-v0": {
        "entry_point": f"{ENVS}.bambino:BambinoEnv",
        "vector_entry_point": f"{ENVS}.bambino:BambinoVectorEnv",
        "kwargs": {"mode": "sequence"},
    },
    # BabyStories (Zhao et al. 2023): a storyteller continues stories, a reward model scores them.
    "BabyStories-v0": {
        "entry_point": f"{ENVS}.babystories:BabyStoriesEnv",
        "vector_entry_point": f"{ENVS}.babystories:BabyStoriesVectorEnv",
        "kwargs": {"mode": "token"},
    },
    "BabyStoriesSeq-v0": {
        "entry_point": f"{ENVS}.babystories:BabyStoriesEnv",
        "vector_entry_point": f"{ENVS}.babystories:BabyStoriesVectorEnv",
        "kwargs": {"mode": "sequence"},
    },
    # Interactive language modelling (ter Hoeve et al. 2022): a teacher selects training data.
    "TeacherDomains-v0": {
        "entry_point": f"{ENVS}.teacher:TeacherSelectionEnv",
        "vector_entry_point": f"{ENVS}.teacher_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "domains"},
    },
    "TeacherStructures-v0": {
        "entry_point": f"{ENVS}.teacher:TeacherSelectionEnv",
        "vector_entry_point": f"{ENVS}.teacher_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "structures"},
    },
    "TeacherParentese-v0": {
        "entry_point": f"{ENVS}.teacher:TeacherSelectionEnv",
        "vector_entry_point": f"{ENVS}.teacher_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "parentese"},
    },
    "TeacherCurriculum-v0": {
        "entry_point": f"{ENVS}.teacher_curriculum:TeacherCurriculumEnv",
        "vector_entry_point": f"{ENVS}.teacher_curriculum:TeacherCurriculumVectorEnv",
        "kwargs": {"task": "domains"},
    },
}
"""Registered id -> registration arguments (every other keyword has its default in the class)."""


def register_envs() -> None:
    """Register every lm_gym id that is not registered yet (safe to call twice)."""
    for env_id, arguments in ENVIRONMENTS.items():
        if env_id not in registry:
            register(id=env_id, **arguments)


register_envs()
