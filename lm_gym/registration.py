"""Every Gymnasium registration of lm_gym, in one place.

Importing :mod:`lm_gym` imports this module, which registers the environments; entry points
are strings, so nothing heavy is imported until an environment is made. Each id has a
``vector_entry_point``: ``gym.make_vec(id, num_envs=n)`` builds the native batched vector
env, not ``n`` copies of the single env.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

BAMBINO = "lm_gym.envs.bambino"

ENVIRONMENTS = {
    "Bambino-v0": {
        "entry_point": f"{BAMBINO}:make_bambino_env",
        "vector_entry_point": f"{BAMBINO}:make_bambino_vector_env",
        "kwargs": {"mode": "token"},
    },
    "BambinoSeq-v0": {
        "entry_point": f"{BAMBINO}:make_bambino_env",
        "vector_entry_point": f"{BAMBINO}:make_bambino_vector_env",
        "kwargs": {"mode": "sequence"},
    },
}
"""Registered ids and their registration arguments (defaults live in the factories)."""


def register_envs() -> None:
    """Register every lm_gym id that is not registered yet (safe to call twice)."""
    for env_id, arguments in ENVIRONMENTS.items():
        if env_id not in registry:
            register(id=env_id, **arguments)


register_envs()


# --------------------------------------------------------------------------------------------
# Teacher data-selection envs (ter Hoeve et al. 2022): paper defaults live in the env classes.
# --------------------------------------------------------------------------------------------
TEACHER = "lm_gym.envs.teacher"

TEACHER_ENVIRONMENTS = {
    "TeacherDomains-v0": {
        "entry_point": f"{TEACHER}:TeacherSelectionEnv",
        "vector_entry_point": f"{TEACHER}_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "domains"},
    },
    "TeacherStructures-v0": {
        "entry_point": f"{TEACHER}:TeacherSelectionEnv",
        "vector_entry_point": f"{TEACHER}_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "structures"},
    },
    "TeacherParentese-v0": {
        "entry_point": f"{TEACHER}:TeacherSelectionEnv",
        "vector_entry_point": f"{TEACHER}_vector:TeacherSelectionVectorEnv",
        "kwargs": {"task": "parentese"},
    },
    "TeacherCurriculum-v0": {
        "entry_point": f"{TEACHER}_curriculum:TeacherCurriculumEnv",
        "kwargs": {"task": "domains"},
    },
}
"""The teacher ids; each accepts every keyword of its env class (sizes, students, embedding).
The one-step ids have a native vector env that trains all sub-envs' students as one group."""

for _env_id, _arguments in TEACHER_ENVIRONMENTS.items():
    if _env_id not in registry:
        register(id=_env_id, **_arguments)


# --------------------------------------------------------------------------------------------
# BabyStories (Zhao et al. 2023): a storyteller continues story beginnings, a reward model
# scores prompt + continuation. Defaults (storyteller, reward model, prompts) live in the
# factories of lm_gym.envs.babystories.
# --------------------------------------------------------------------------------------------
BABYSTORIES = "lm_gym.envs.babystories"

BABYSTORIES_ENVIRONMENTS = {
    "BabyStories-v0": {
        "entry_point": f"{BABYSTORIES}:make_babystories_env",
        "vector_entry_point": f"{BABYSTORIES}:make_babystories_vector_env",
        "kwargs": {"mode": "token"},
    },
    "BabyStoriesSeq-v0": {
        "entry_point": f"{BABYSTORIES}:make_babystories_env",
        "vector_entry_point": f"{BABYSTORIES}:make_babystories_vector_env",
        "kwargs": {"mode": "sequence"},
    },
}
"""The BabyStories ids (token mode and sequence mode)."""

for _env_id, _arguments in BABYSTORIES_ENVIRONMENTS.items():
    if _env_id not in registry:
        register(id=_env_id, **_arguments)
