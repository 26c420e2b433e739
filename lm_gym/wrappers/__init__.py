"""Environment wrappers: ``CLMAlternation`` interleaves causal-LM training with RL episodes
(BAMBINO-LM's Algorithm 1) for any agent."""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "CLMAlternation": "lm_gym.wrappers.clm_alternation",
    "VectorCLMAlternation": "lm_gym.wrappers.clm_alternation",
    "CLMSchedule": "lm_gym.wrappers.clm_alternation",
    "SCHEDULES": "lm_gym.wrappers.clm_alternation",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
