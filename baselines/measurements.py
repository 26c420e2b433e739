"""What a run measures after training besides its evaluation episodes (its ``RunOptions``).

* always: how much training the agent did (``train/iterations``) and, when it trained under
  :class:`~lm_gym.wrappers.CLMAlternation`, how many CLM updates it made and on how many words
  (``train/clm_steps``, ``train/words_seen``);
* ``evaluate_lm``: the trained LM on :func:`lm_gym.evaluation.evaluate_lm`'s benchmarks, as
  ``lm/<lang>/<name>`` (perplexity, minimal pairs, sentence types, distinct-n of its samples);
* ``kl_to_initial``: the trained policy's KL to the model it started from, on fresh samples of
  its own (``final/kl_to_initial``, nats per episode), measured the same way for every agent,
  so the drift that CLM updates alone cause is measured too (PPO's ``charts/kl_initial`` only
  exists where PPO trains).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from lm_gym.agents.policies import LMPolicy, resolve_policy_lm
from lm_gym.agents.rollout import collect_token_rollout
from lm_gym.agents.run import CLM_KEY
from lm_gym.baselines.tracks import RunOptions, RunSpec
from lm_gym.evaluation.evaluate import evaluate_lm
from lm_gym.utils.env_attributes import get_env_attr


def policy_lm(agent: Any, what: str) -> LMPolicy:
    """The :class:`~lm_gym.agents.policies.LMPolicy` of an LM agent (PPO, lm-sample, REINFORCE
    in sequence mode).

    Raises:
        ValueError: for an agent without one, naming ``what`` needed it.
    """
    policy = getattr(agent, "policy", None)
    policy = getattr(policy, "lm", policy)  # REINFORCE's SequenceLMPolicy wraps one
    if not isinstance(policy, LMPolicy):
        raise ValueError(f"{what} needs an agent with a language-model policy, not {agent!r}")
    return policy


def training_counters(agent: Any) -> dict[str, float]:
    """Iterations, and the CLM updates and words of the env's CLM wrapper (if any)."""
    counters = {"train/iterations": float(getattr(agent, "iteration", 0))}
    env = getattr(agent, "env", None)
    words = None if env is None else get_env_attr(env, "words_seen", None)
    if words is not None:
        counters["train/words_seen"] = float(words)
        counters["train/clm_steps"] = float(get_env_attr(env, "model_updates", 0))
    return counters


def lm_metrics(agent: Any, kwargs: dict[str, Any], seed: int) -> dict[str, float]:
    """:func:`~lm_gym.evaluation.evaluate_lm` of the agent's LM, flattened to
    ``lm/<lang>/<name>`` (the per-phenomenon breakdown is left out)."""
    policy = policy_lm(agent, "evaluate_lm")
    env = getattr(agent, "env", None)
    words = None if env is None else get_env_attr(env, "words_seen", None)
    kwargs = {"seed": seed, **kwargs}
    results = evaluate_lm(policy.model, policy.tokenizer, words_seen=words, **kwargs)
    return {
        f"lm/{lang}/{name}": float(value)
        for lang, scores in results.items()
        if isinstance(scores, dict)
        for name, value in scores.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def kl_to_initial(agent: Any, spec: RunSpec, batches: int, seed: int) -> float:
    """Mean KL (nats per episode) of the trained policy to its initial model, on
    ``batches`` lock-step batches of its own fresh samples (token-mode envs).

    The same Monte-Carlo estimate as PPO's ``charts/kl`` (the sum over each episode's tokens
    of log pi - log pi_initial), on a fresh vector env of the run's env without CLM; the
    initial model is loaded afresh as the agent loaded it (its config's ``model``, else the
    env's ``generating_model``).
    """
    policy = policy_lm(agent, "kl_to_initial")
    kwargs = {k: v for k, v in spec.env_kwargs.items() if k != CLM_KEY}
    num_envs = int(spec.agent_kwargs.get("num_envs", 32))
    env = gym.make_vec(spec.env_id, num_envs=num_envs, **kwargs)
    try:
        if not isinstance(env.single_action_space, gym.spaces.Discrete):
            raise ValueError(f"kl_to_initial needs a token-mode env, not {spec.env_id}")
        initial = resolve_policy_lm(env, spec.agent_kwargs.get("model"), policy.device).model
        initial.eval().requires_grad_(False)
        generator = torch.Generator(device=policy.device).manual_seed(seed)
        kls = []
        with torch.no_grad():
            for batch in range(batches):
                rollout = collect_token_rollout(
                    env, policy, generator, seed=seed if batch == 0 else None
                )
                initial_logprobs = policy.logprobs_under(
                    initial, rollout.sequences, rollout.prompt_mask
                )
                kls.append(((rollout.logprobs - initial_logprobs) * rollout.mask).sum(1))
        return float(torch.cat(kls).mean())
    finally:
        env.close()


def measure(spec: RunSpec, options: RunOptions, agent: Any, seed: int) -> dict[str, float]:
    """Every measurement ``options`` asks for on the trained ``agent`` (module docstring);
    ``seed`` seeds their sampling (the run's evaluation seed)."""
    metrics = training_counters(agent)
    if options.evaluate_lm is not None:
        metrics.update(lm_metrics(agent, options.evaluate_lm, seed))
    if options.kl_to_initial:
        metrics["final/kl_to_initial"] = kl_to_initial(agent, spec, options.kl_to_initial, seed)
    return metrics
