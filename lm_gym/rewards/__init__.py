"""Reward callables ``f(prompts, completions, **kwargs) -> list[float]`` (TRL's shape), reward
models and their training on preferences.

* ``ParentReward``: BAMBINO-LM's parent reward (per-word SLOR by default, and both published
  perplexity forms);
* ``audit_env``: the reward audit (real text against degenerate policies);
* ``RewardModelReward``: a scalar-head reward model's score (BabyStories);
* ``train_reward_model`` / ``load_reward_model``: Bradley-Terry training and loading;
* preferences: built-in story preference pairs and Best-Worst-Scaling tuples, and their files.
"""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "ParentReward": "lm_gym.rewards.parent",
    "UnigramWords": "lm_gym.rewards.parent",
    "perplexity_reward": "lm_gym.rewards.parent",
    "REWARD_FORMS": "lm_gym.rewards.parent",
    "audit_env": "lm_gym.rewards.audit",
    "AuditReport": "lm_gym.rewards.audit",
    "RewardModelReward": "lm_gym.rewards.reward_model",
    "load_reward_model": "lm_gym.rewards.reward_model",
    "pairwise_accuracy": "lm_gym.rewards.reward_scores",
    "score_texts": "lm_gym.rewards.reward_scores",
    "RewardModelConfig": "lm_gym.rewards.training",
    "train_reward_model": "lm_gym.rewards.training",
    "build_reward_recipe": "lm_gym.rewards.training",
    "PreferencePair": "lm_gym.rewards.preferences",
    "BWSTuple": "lm_gym.rewards.preferences",
    "bws_to_pairs": "lm_gym.rewards.preferences",
    "split_by_prompt": "lm_gym.rewards.preferences",
    "builtin_preferences": "lm_gym.rewards.preferences",
    "make_preference_pairs": "lm_gym.rewards.preferences",
    "make_bws_tuples": "lm_gym.rewards.preferences",
    "load_preferences": "lm_gym.rewards.preference_files",
    "save_preferences": "lm_gym.rewards.preference_files",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
