"""Data-parallel scenarios where one rank ends its collection while the other goes on, possibly
into a collective (run on each rank through ``tests/ranks.py`` as ``parallel_stops:<name>``).

Every rank trains on its own toy env wrapped as ``lm-gym run`` wraps it: a :class:`WordCounter`
inside a :class:`CLMAlternation` with ``r_clm=1, r_rl=1`` (one CLM step, a collective, after
every RL slot) on a corpus of 4-word sentences, prompts of exactly 2 words: every rank is
exposed to the same words, step by step, so the budgets below are exact. An odd exposure budget
gives rank 1 a share one word smaller than rank 0's: rank 1 refuses an env step that rank 0
still admits. A callback (:class:`StopOnRank`) stops one rank alone instead.

* :func:`reinforce_refused`, :func:`reinforce_stopped`: REINFORCE, whose iteration is 2
  rounds of one-step episodes: after rank 1 ends its collection in round 3, rank 0 reaches
  round 4's CLM step, in the same collection;
* :func:`fixed_refused`, :func:`fixed_stopped`: the non-learning agents (``lm-sample`` and
  ``random``), which reset the env as soon as every row ended, so rank 0 reaches the next CLM
  step right after the step rank 1 refused; a callback stop on one rank still makes a batch
  there, after whose update every rank must stop;
* :func:`ppo_single_refused`: PPO on a single env, whose batch is several episodes one after
  the other (every episode an RL slot);
* :func:`ppo_refused`: PPO on a vector env, whose CLM steps all fall at the start of a
  collection: at the end, rank 0 finishes a rollout that rank 1 refused (different numbers of
  env steps) and the CLM step due after it must never run;
* :func:`out_of_step`: the meeting points themselves, when the ranks cannot meet again.

Each returns what the test compares between ranks: iterations, timesteps, CLM steps, weights,
ledgers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import toys
from parallel_scenarios import digest, variable_prompt_env

from lm_gym.agents import PPO, LMSampleAgent, RandomAgent, Reinforce
from lm_gym.agents.callbacks import Callback
from lm_gym.babylm.ledger import ledger_of
from lm_gym.envs import TextGenerationEnv, TextGenerationVectorEnv
from lm_gym.utils import distributed
from lm_gym.utils.distributed import rank
from lm_gym.wrappers import CLMAlternation, WordCounter

NUM_ENVS = 2
"""Rows of each rank's vector env, episodes of a single env's batch (PPO)."""
CLM_WORDS = 2 * 4
"""Words of one rank's part of every CLM batch (2 sentences of 4 words)."""
PROMPT_WORDS = 2
"""Words of every prompt."""
ROUND = CLM_WORDS + NUM_ENVS * PROMPT_WORDS
"""Words one rank is exposed to per RL slot of a 2-row env: a CLM step and 2 prompts."""


def toy_env(mode: str = "sequence", vector: bool = True) -> Any:
    """The toy env with prompts of 2 words: 2 rows in sequence mode, or one row in token mode
    with episodes of at most 3 tokens."""
    lm = toys.tiny_lm()
    target = lm.tokenizer.convert_tokens_to_ids(toys.TARGET_PIECE)
    common = {"prompt_words": PROMPT_WORDS, "max_new_tokens": 3, "mode": mode}
    args = (lm.tokenizer, toys.toy_texts(), toys.CountTarget(target))
    if vector:
        return TextGenerationVectorEnv(*args, num_envs=NUM_ENVS, generating_model=lm, **common)
    return TextGenerationEnv(*args, generating_model=lm, **common)


def clm_corpus() -> list[str]:
    """16 sentences of exactly 4 toy words."""
    rng = np.random.default_rng(11)
    return [" ".join(rng.choice(toys.WORDS, size=4)) for _ in range(16)]


def wrapped(env: Any, model: Any, budget: int | None, twin: bool = False) -> CLMAlternation:
    """``env`` with a word ledger of an exposure ``budget`` inside one CLM step per RL slot
    (``twin``: keep the CLM-only twin PPO measures its KL penalty against)."""
    counted = WordCounter(env, budget=None if budget is None else {"exposed": budget})
    return CLMAlternation(
        counted, model, corpus=clm_corpus(), batch_size=2, r_clm=1, r_rl=1, keep_reference=twin
    )


class StopOnRank(Callback):
    """Asks to stop on rank 1 only, at its ``after``-th env step of training."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.steps = after, 0

    def _on_step(self) -> bool:
        self.steps += 1
        return not (rank() == 1 and self.steps >= self.after)


def train(agent: Any, env: CLMAlternation, callback: Any = None) -> dict[str, Any]:
    """Train until the budget or the callback stops; what both ranks must agree on after the
    stop, and this rank's own ledger."""
    agent.learn(env, 10_000, callback, progress_bar=False)
    ledger, run = ledger_of(env), agent.run_ledger
    return {
        "iteration": agent.iteration,
        "num_timesteps": agent.num_timesteps,
        "clm_steps": env.schedule.clm_steps,
        "weights": digest(env.trained_model),
        "own_exposed": ledger.exposed,
        "own_refused": ledger.refusal is not None,
        "stopped_by_budget": run.summary()["stopped_by_budget"],
        "run_exposed": run.exposed,
    }


REINFORCE_BUDGET = 2 * 3 * ROUND - 1
"""Shares of 36 and 35 words: rank 1 refuses the step of round 3 (the first of the second
iteration, after its CLM step), rank 0 admits it and goes on to round 4's CLM step."""


def reinforce_agent(env: Any) -> Reinforce:
    """REINFORCE with 2 rounds of the 2-row env an iteration."""
    return Reinforce(env, seed=0, verbose=0, batch_size=2 * NUM_ENVS)


def reinforce_refused(folder: Path) -> dict[str, Any]:
    """REINFORCE until rank 1's share refuses a step."""
    env = toy_env()
    agent = reinforce_agent(env)
    return train(agent, wrapped(env, agent.model, REINFORCE_BUDGET))


def reinforce_stopped(folder: Path) -> dict[str, Any]:
    """REINFORCE whose callback stops rank 1 alone at its third step (round 3)."""
    env = toy_env()
    agent = reinforce_agent(env)
    return train(agent, wrapped(env, agent.model, None), StopOnRank(3))


FIXED_BUDGET = 2 * 2 * ROUND - 1
"""Shares of 24 and 23 words: rank 1 refuses the step of the second iteration, rank 0 admits
it and, every row having ended, resets the env, where the next CLM step is due."""


def fixed_agent(name: str, env: Any) -> LMSampleAgent | RandomAgent:
    """``lm-sample`` or ``random``; the model CLM trains is the policy LM or the env's own."""
    if name == "lm-sample":
        return LMSampleAgent(env, seed=0, verbose=0)
    return RandomAgent(env, seed=0, verbose=0)


def trained_model(agent: LMSampleAgent | RandomAgent, env: Any) -> Any:
    """What CLM trains: lm-sample's policy LM (BAMBINO-LM's "w/o PPO"), else the env's LM."""
    return agent.model if isinstance(agent, LMSampleAgent) else env.generating_model.model


def fixed_refused(folder: Path) -> dict[str, Any]:
    """Each non-learning agent until rank 1's share refuses a step."""
    runs = {}
    for name in ("lm-sample", "random"):
        env = toy_env()
        agent = fixed_agent(name, env)
        runs[name] = train(agent, wrapped(env, trained_model(agent, env), FIXED_BUDGET))
    return runs


def fixed_stopped(folder: Path) -> dict[str, Any]:
    """Each non-learning agent, its callback stopping rank 1 alone at its third step."""
    runs = {}
    for name in ("lm-sample", "random"):
        env = toy_env()
        agent = fixed_agent(name, env)
        runs[name] = train(agent, wrapped(env, trained_model(agent, env), None), StopOnRank(3))
    return runs


PPO_SINGLE_BUDGET = 2 * 3 * (CLM_WORDS + PROMPT_WORDS) - 1
"""Shares of 30 and 29 words (10 an episode): rank 1 refuses the first step of episode 3 (the
first of the second batch), rank 0 plays it and goes on to episode 4's CLM step."""


def ppo_single_refused(folder: Path) -> dict[str, Any]:
    """PPO on a single env (batches of 2 episodes) until rank 1's share refuses a step."""
    env = toy_env("token", vector=False)
    agent = PPO(env, seed=0, verbose=0, num_envs=NUM_ENVS, num_minibatches=1)
    return train(agent, wrapped(env, agent.model, PPO_SINGLE_BUDGET, twin=True))


PPO_ROWS, PPO_TOKENS = 4, 5
"""The vector env of :func:`ppo_refused`: 4 rows, episodes of exactly 5 tokens."""
PPO_BUDGET = 2 * 3 * (CLM_WORDS + PPO_ROWS * PROMPT_WORDS) - 1
"""Shares of 48 and 47 words (16 an iteration): rank 1 refuses the first step of the third
rollout, rank 0 admits all 5 of its steps."""


def ppo_refused(folder: Path) -> dict[str, Any]:
    """PPO on a 4-row env until rank 1's share refuses the first step of a rollout."""
    env = variable_prompt_env(PPO_ROWS, PPO_TOKENS)
    agent = PPO(env, seed=0, verbose=0, num_minibatches=2, min_new_tokens=PPO_TOKENS)
    return train(agent, wrapped(env, agent.model, PPO_BUDGET, twin=True))


def out_of_step(folder: Path) -> dict[str, str]:
    """The errors of meetings that can never complete: rank 0 at a joint step while rank 1
    ended its collection with a batch, then the ranks at different joint steps."""
    errors = {}
    meetings = {
        "collected": (
            lambda: distributed.meet_before_joint_step(5),
            lambda: distributed.meet_after_collection(3, True, True),
        ),
        "joint_steps": (
            lambda: distributed.meet_before_joint_step(5),
            lambda: distributed.meet_before_joint_step(6),
        ),
    }
    for name, by_rank in meetings.items():
        try:
            by_rank[rank()]()
            errors[name] = "no error"
        except RuntimeError as error:
            errors[name] = str(error)
    return errors


SCENARIOS = (
    reinforce_refused,
    reinforce_stopped,
    fixed_refused,
    fixed_stopped,
    ppo_single_refused,
    ppo_refused,
    out_of_step,
)


def everything(folder: Path) -> dict[str, Any]:
    """Every scenario above, in one launch (each launch costs seconds of imports)."""
    return {scenario.__name__: scenario(folder) for scenario in SCENARIOS}
