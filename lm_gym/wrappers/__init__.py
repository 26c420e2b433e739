"""Environment wrappers: ``CLMAlternation`` interleaves causal-LM training with RL episodes
(BAMBINO-LM's Algorithm 1) for any agent; ``WordCounter`` keeps the run's word ledger and stops
it at its BabyLM budget."""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "CLMAlternation": "lm_gym.wrappers.clm_alternation",
    "VectorCLMAlternation": "lm_gym.wrappers.clm_alternation",
    "CLMSchedule": "lm_gym.wrappers.clm_alternation",
    "SCHEDULES": "lm_gym.wrappers.clm_alternation",
    "WordCounter": "lm_gym.wrappers.word_counter",
    "VectorWordCounter": "lm_gym.wrappers.word_counter",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
