"""Evaluating language models: batched scoring, minimal pairs, zero-shot tasks, text metrics.

``evaluate_model(spec)`` / ``evaluate_lm(model, tokenizer)`` run the whole suite (held-out
perplexity, minimal pairs per phenomenon, zero-shot sentence types, diversity of samples) in
English and Italian; ``Scorer`` scores any texts under any model.
"""

from lm_gym.utils.lazy import lazy_exports

_EXPORTS = {
    "evaluate_lm": "lm_gym.evaluation.evaluate",
    "evaluate_model": "lm_gym.evaluation.evaluate",
    "sample_continuations": "lm_gym.evaluation.evaluate",
    "Scorer": "lm_gym.evaluation.scoring",
    "minimal_pair_accuracy": "lm_gym.evaluation.scoring",
    "read_minimal_pairs": "lm_gym.evaluation.scoring",
    "Verbalizers": "lm_gym.evaluation.zero_shot",
    "read_items": "lm_gym.evaluation.zero_shot",
    "read_verbalizers": "lm_gym.evaluation.zero_shot",
    "zero_shot_accuracy": "lm_gym.evaluation.zero_shot",
    "distinct_n": "lm_gym.evaluation.diversity",
    "repetition_rate": "lm_gym.evaluation.diversity",
    "text_metrics": "lm_gym.evaluation.diversity",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
