"""Evaluate the policy's language model during training, every N timesteps.

:class:`EvalCallback` runs :func:`lm_gym.evaluation.evaluate_lm` on the agent's model (held-out
perplexity, minimal pairs and zero-shot sentence types in English and Italian, distinct-n of
sampled continuations, and the words of CLM text seen, which a
:class:`~lm_gym.wrappers.CLMAlternation` around the env declares as ``words_seen``) whenever
the agent's timestep counter has moved on by ``eval_freq`` since the last evaluation, and sends
the numbers to the agent's logger under ``eval/<lang>/<metric>`` (written with the agent's next
row). Evaluation leaves the model's mode and every random state as it found them, so a run
with the callback trains exactly as the same run without it.
"""

from __future__ import annotations

from typing import Any

from lm_gym.agents.callbacks import Callback
from lm_gym.evaluation.evaluate import evaluate_lm
from lm_gym.utils.env_attributes import get_env_attr
from lm_gym.utils.validation import check_positive_int

SCALAR_METRICS = (
    "perplexity",
    "perplexity_per_word",
    "minimal_pairs",
    "sentence_type",
    "distinct_1",
    "distinct_2",
    "repetition_rate",
)
"""Per-language results that are logged (the per-phenomenon breakdown stays in ``history``)."""


class EvalCallback(Callback):
    """Evaluates the agent's LM every ``eval_freq`` timesteps and logs the results.

    Args:
        eval_freq: timesteps between evaluations (the first one comes after ``eval_freq``).
        model: the causal LM to evaluate; default ``agent.policy.model`` (the LM agents').
        tokenizer: its tokenizer; default ``agent.policy.tokenizer``.
        eval_at_start: also evaluate once before the first step (the "before" numbers).
        **eval_kwargs: passed to :func:`lm_gym.evaluation.evaluate_lm` (``languages``,
            ``n_heldout``, ``n_pairs``, ``n_samples``, ``zero_shot``, ``seed``, ...); the
            defaults here are smaller than a final evaluation's, to keep training fast.

    Attributes:
        history: ``(num_timesteps, results)`` of every evaluation so far.

    Raises:
        ValueError: for a non-positive ``eval_freq``.
    """

    def __init__(
        self,
        eval_freq: int,
        *,
        model: Any = None,
        tokenizer: Any = None,
        eval_at_start: bool = False,
        **eval_kwargs: Any,
    ) -> None:
        super().__init__()
        check_positive_int("eval_freq", eval_freq)
        self.eval_freq = eval_freq
        self.model, self.tokenizer = model, tokenizer
        self.eval_at_start = eval_at_start
        self.eval_kwargs = {
            "n_heldout": 100,
            "n_pairs": 20,
            "n_sentence_types": 30,
            "n_samples": 32,
        }
        self.eval_kwargs.update(eval_kwargs)
        self.history: list[tuple[int, dict]] = []
        self._next = eval_freq

    def _on_training_start(self) -> None:
        self._next = self.agent.num_timesteps + self.eval_freq
        if self.eval_at_start:
            self.evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.evaluate()
            # Skip the marks already passed: one vector step may cross several.
            passed = (self.num_timesteps - self._next) // self.eval_freq + 1
            self._next += passed * self.eval_freq
        return True

    def evaluate(self) -> dict:
        """Evaluate now, log the scalars and append to :attr:`history`; returns the results."""
        policy = getattr(self.agent, "policy", None)
        model = self.model if self.model is not None else getattr(policy, "model", None)
        tokenizer = (
            self.tokenizer if self.tokenizer is not None else getattr(policy, "tokenizer", None)
        )
        if model is None or tokenizer is None:
            raise ValueError(
                f"{type(self.agent).__name__} has no policy LM: pass model= and tokenizer="
            )
        words_seen = get_env_attr(self.agent.env, "words_seen", None)
        results = evaluate_lm(model, tokenizer, words_seen=words_seen, **self.eval_kwargs)
        for lang, metrics in results.items():
            if isinstance(metrics, dict) and lang != "zero_shot":
                for name in SCALAR_METRICS:
                    if name in metrics:
                        self.agent.logger.record(f"eval/{lang}/{name}", metrics[name])
        if "zero_shot" in results:
            self.agent.logger.record("eval/zero_shot", results["zero_shot"]["accuracy"])
        if results["words_seen"] is not None:
            self.agent.logger.record("eval/words_seen", results["words_seen"])
        self.history.append((self.agent.num_timesteps, results))
        return results
