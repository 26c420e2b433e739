"""Environment classes of lm_gym, one module per family (imported as ``lm_gym.envs``).

Every registered id has a class here and a native vector class (see
:mod:`lm_gym.registration`); the base classes serve new text-generation setups. The names below
are imported on first use, so ``import lm_gym.envs`` loads no model code.
"""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    # BAMBINO-LM
    "BambinoEnv": "lm_gym.envs.bambino",
    "BambinoVectorEnv": "lm_gym.envs.bambino",
    "BambinoConfig": "lm_gym.envs.bambino",
    "default_corpus": "lm_gym.envs.bambino",
    "audit_corpus": "lm_gym.envs.bambino",
    "baby_sample_scores": "lm_gym.envs.bambino",
    "sample_parent_perplexities": "lm_gym.envs.bambino",
    "calibrate_tau": "lm_gym.envs.bambino",
    # BabyStories
    "BabyStoriesEnv": "lm_gym.envs.babystories",
    "BabyStoriesVectorEnv": "lm_gym.envs.babystories",
    "BabyStoriesConfig": "lm_gym.envs.babystories",
    "default_prompts": "lm_gym.envs.babystories",
    "default_stories": "lm_gym.envs.babystories",
    "trained_beginnings": "lm_gym.envs.babystories",
    # Teacher data selection
    "TeacherSelectionEnv": "lm_gym.envs.teacher",
    "TeacherSelectionVectorEnv": "lm_gym.envs.teacher_vector",
    "TeacherCurriculumEnv": "lm_gym.envs.teacher_curriculum",
    "TeacherCurriculumVectorEnv": "lm_gym.envs.teacher_curriculum",
    "KSubset": "lm_gym.envs.teacher",
    "StudentConfig": "lm_gym.envs.students",
    "BatchedStudents": "lm_gym.envs.students",
    # The text-generation bases
    "TextGenerationEnv": "lm_gym.envs.text_generation",
    "TextGenerationVectorEnv": "lm_gym.envs.text_generation_vector",
    "PromptSet": "lm_gym.envs.text_prompts",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
