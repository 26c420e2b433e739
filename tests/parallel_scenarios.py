"""What the data-parallel tests run on each rank (through ``tests/ranks.py``) and in one process.

* :func:`fixed_batch_ppo` and :func:`clm_schedule` build the same agent / CLM schedule in
  every process; :func:`save_fixed_batch` collects the fixed batch of 32 episodes once (in the
  test's process), and each rank updates on its half of it (:func:`ppo_fixed_batch`,
  :func:`clm_fixed_batch`), to be compared with the one-process update of the whole batch.
* :func:`lockstep` trains PPO inside CLM alternation and REINFORCE for a few iterations,
  recording a digest of the parameters after every update, saves a checkpoint half way and
  resumes it in a fresh agent.
* :func:`word_budget` trains PPO under a word budget whose share runs out on rank 1 one
  iteration before rank 0's, with milestones, recording the ranks' own and summed ledgers;
  :func:`clm_budget` offers one CLM batch whose part only one rank's share refuses.
* :func:`teacher` trains the learning teacher on teacher envs: each rank's envs train their own
  students (the students of the global batch are split across ranks with their envs).
* :func:`ppo_throughput` serves one PPO iteration at a time to the throughput benchmark
  (``tests/benchmarks/test_bench_data_parallel.py``), timing its phases.

Prompts of the toy env vary in length (some start with words the toy tokenizer spells in
bytes), so the ranks' prompt blocks and horizons differ and the gathered batch is padded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import toys

import lm_gym.agents.ppo as ppo_module
from lm_gym.agents import PPO, Reinforce, ReinforceTeacher, collect_token_rollout
from lm_gym.agents.base import torch_generator
from lm_gym.agents.callbacks import Callback
from lm_gym.agents.rollout import TokenRollout
from lm_gym.babylm import BudgetExhausted, MilestoneCallback, WordLedger
from lm_gym.corpora.words import count_words
from lm_gym.envs import TextGenerationVectorEnv
from lm_gym.utils import distributed
from lm_gym.utils.distributed import rank, world_size
from lm_gym.wrappers import CLMAlternation, CLMSchedule, WordCounter

FIXED_EPISODES = 32
"""Episodes (and CLM sentences) of the fixed batch; each of 2 ranks updates on 16."""
FIXED_NEW_TOKENS = 12
"""Long enough that the episodes' lengths spread (from 1 to 12 tokens)."""
LOCKSTEP = {"num_envs": 4, "max_new_tokens": 5}
"""The lock-step runs: 4 rows a rank, episodes of exactly 5 tokens (``min_new_tokens``)."""


def variable_prompt_env(num_envs: int, max_new_tokens: int = 6) -> TextGenerationVectorEnv:
    """The toy token env with prompts of 2 words, 2 to 6 tokens long."""
    lm = toys.tiny_lm()
    rng = np.random.default_rng(3)
    texts = [
        f"{rng.choice(['zq', 'kxw', 'il'])} {text}" if rng.random() < 0.5 else text
        for text in toys.toy_texts()
    ]
    target = lm.tokenizer.convert_tokens_to_ids(toys.TARGET_PIECE)
    return TextGenerationVectorEnv(
        lm.tokenizer,
        texts,
        toys.CountTarget(target),
        num_envs=num_envs,
        prompt_words=2,
        max_new_tokens=max_new_tokens,
        generating_model=lm,
    )


def digest_of(state: dict[str, torch.Tensor]) -> str:
    """A hash of a state dict's tensors (equal digests: bit-identical weights)."""
    hasher = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()


def digest(module: torch.nn.Module) -> str:
    """A hash of every parameter and buffer of ``module``."""
    return digest_of(module.state_dict())


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of ``module``'s state."""
    return {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}


# ---------------------------------------------------------------------- one update, fixed batch
def fixed_batch_ppo(num_envs: int) -> PPO:
    """PPO on the toy env, its policy nudged away from its (initial) reference so the KL
    penalty and the KL controller have something to work on."""
    agent = PPO(
        variable_prompt_env(num_envs, FIXED_NEW_TOKENS),
        seed=0,
        verbose=0,
        num_epochs=4,
        num_minibatches=4,
        learning_rate=1e-3,
        kl_horizon=64,
    )
    noise = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for parameter in agent.policy.model.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=noise))
    return agent


def save_fixed_batch(folder: Path) -> TokenRollout:
    """Collect the fixed batch of :data:`FIXED_EPISODES` episodes once, into ``folder``.

    The episodes are ordered by prompt length (then longest first), so the halves' prompt
    blocks (2 and 5 tokens) and horizons (12 and 11 tokens) differ.
    """
    agent = fixed_batch_ppo(FIXED_EPISODES)
    env = variable_prompt_env(FIXED_EPISODES, FIXED_NEW_TOKENS)
    rollout = collect_token_rollout(env, agent.policy, torch_generator(1, agent.device), seed=0)
    prompts = rollout.prompt_mask.sum(1).tolist()
    order = sorted(range(FIXED_EPISODES), key=lambda row: (prompts[row], -rollout.lengths[row]))
    rollout = rollout_rows(rollout, order)
    torch.save(rollout, folder / "fixed_batch.pt")
    return rollout


def rollout_rows(rollout: TokenRollout, rows: list[int]) -> TokenRollout:
    """The episodes ``rows`` of ``rollout``, as one rank would have collected them: the prompt
    block and the horizon cut to what these episodes use."""
    prompt_mask, mask = rollout.prompt_mask[rows], rollout.mask[rows]
    first = int(prompt_mask.any(0).nonzero().min())
    steps = int(mask.any(0).nonzero().max()) + 1
    return TokenRollout(
        prompt_ids=rollout.prompt_ids[rows, first:],
        prompt_mask=prompt_mask[:, first:],
        actions=rollout.actions[rows, :steps],
        mask=mask[:, :steps],
        rewards=rollout.rewards[rows, :steps],
        logprobs=rollout.logprobs[rows, :steps],
        values=rollout.values[rows, :steps],
        returns=rollout.returns[rows],
        lengths=rollout.lengths[rows],
        end_info={key: value[rows] for key, value in rollout.end_info.items()},
        completions=[rollout.completions[row] for row in rows],
    )


def update_on(agent: PPO, rollout: TokenRollout) -> dict[str, Any]:
    """One PPO update; the weights, the KL coefficient and the logged row after it."""
    agent._update(rollout)
    return {
        "policy": weights(agent.policy),
        "kl_coef": agent.kl_controller.value,
        "row": agent.logger.dump(0),
    }


def ppo_fixed_batch(folder: Path) -> dict[str, Any]:
    """This rank's update on its share of the fixed batch."""
    rollout = torch.load(folder / "fixed_batch.pt", weights_only=False)  # the test's own file
    share = FIXED_EPISODES // world_size()
    half = rollout_rows(rollout, list(range(rank() * share, (rank() + 1) * share)))
    return update_on(fixed_batch_ppo(share), half)


def clm_schedule(batch_size: int) -> CLMSchedule:
    """A CLM schedule over exactly :data:`FIXED_EPISODES` toy sentences (one global batch)."""
    lm = toys.tiny_lm()
    texts = toys.toy_texts(FIXED_EPISODES, seed=5)
    return CLMSchedule(lm.model, lm.tokenizer, texts, batch_size=batch_size, lr=1e-2, seed=0)


def clm_step_result(schedule: CLMSchedule) -> dict[str, Any]:
    """One CLM step; the model, its twin and the counters after it."""
    loss = schedule.clm_step()
    return {
        "model": weights(schedule.model),
        "twin": weights(schedule.reference),
        "loss": loss,
        "words_seen": schedule.words_seen,
        "clm_steps": schedule.clm_steps,
    }


def clm_fixed_batch(folder: Path) -> dict[str, Any]:
    """This rank's CLM step on its share of the fixed sentences."""
    return clm_step_result(clm_schedule(FIXED_EPISODES // world_size()))


# ---------------------------------------------------------------------- lock step and resume
class Digests(Callback):
    """Records the digests of some modules after every update."""

    def __init__(self, *modules: torch.nn.Module) -> None:
        super().__init__()
        self.modules = modules
        self.values: list[tuple[str, ...]] = []

    def _on_iteration_end(self) -> None:
        self.values.append(tuple(digest(module) for module in self.modules))


def lockstep_ppo() -> tuple[PPO, CLMAlternation]:
    """PPO inside CLM alternation (one CLM step after each batch) on the toy env."""
    env = variable_prompt_env(LOCKSTEP["num_envs"], LOCKSTEP["max_new_tokens"])
    agent = PPO(
        env, seed=0, verbose=0, num_minibatches=2, min_new_tokens=LOCKSTEP["max_new_tokens"]
    )
    return agent, CLMAlternation(env, agent.model, batch_size=4, r_clm=1, r_rl=1)


def lockstep(folder: Path) -> dict[str, Any]:
    """Train PPO (+ CLM) for 4 iterations, saving after 2, then resume the save in a fresh
    agent for the last 2; and REINFORCE for 3 iterations. Digests after every update."""
    batch_tokens = world_size() * LOCKSTEP["num_envs"] * LOCKSTEP["max_new_tokens"]
    agent, wrapped = lockstep_ppo()
    trained = Digests(agent.policy, wrapped.reference_model)
    agent.learn(wrapped, 2 * batch_tokens, trained, progress_bar=False)
    agent.save(folder / "lockstep.pt")
    agent.learn(wrapped, 4 * batch_tokens, trained, progress_bar=False, reset_num_timesteps=False)

    fresh, fresh_wrapped = lockstep_ppo()
    fresh.restore(folder / "lockstep.pt", fresh_wrapped)
    resumed = Digests(fresh.policy, fresh_wrapped.reference_model)
    fresh.learn(
        fresh_wrapped, 4 * batch_tokens, resumed, progress_bar=False, reset_num_timesteps=False
    )

    sequence_env = toys.toy_single_env(mode="sequence")
    reinforce = Reinforce(sequence_env, seed=0, verbose=0, batch_size=4)
    reinforce_digests = Digests(reinforce.policy)
    reinforce.learn(sequence_env, 3 * 4 * world_size(), reinforce_digests, progress_bar=False)
    return {
        "ppo": trained.values,
        "resumed": resumed.values,
        "num_timesteps": agent.num_timesteps,
        "iteration": agent.iteration,
        "clm_steps": wrapped.schedule.clm_steps,
        "words_seen": wrapped.words_seen,
        "kl_coef": agent.kl_controller.value,
        "reinforce": reinforce_digests.values,
        "reinforce_timesteps": reinforce.num_timesteps,
        "baseline": reinforce.baseline,
    }


# ---------------------------------------------------------------------- word budgets
BUDGET_ITERATIONS = 2
"""Updates before the budget stops the run: each rank exposes ``num_envs`` prompts of 2 words
an iteration, and the budget leaves rank 1 (the smaller share of an odd limit) one word short
of a third iteration while rank 0's share still admits it."""
BUDGET_EXPOSED = 2 * LOCKSTEP["num_envs"] * 2 * (BUDGET_ITERATIONS + 1) - 1
"""Shares: ``num_envs * 2 * 3`` words for rank 0, one fewer for rank 1."""
MILESTONES = [8, 16, 40]
"""Words exposed in all: 16 after the first update, 32 after the second, 40 at the stop."""


class Ledgers(Callback):
    """Records this rank's own word counts and the run's summed ones after every update."""

    def __init__(self) -> None:
        super().__init__()
        self.own: list[tuple[int, int]] = []
        self.run: list[tuple[int, int]] = []

    def _on_iteration_end(self) -> None:
        own, run = self.agent.env.word_ledger, self.agent.run_ledger
        self.own.append((own.exposed, own.generated))
        self.run.append((run.exposed, run.generated))


def word_budget(folder: Path) -> dict[str, Any]:
    """PPO on the toy env inside a :class:`WordCounter` with an exposure budget of
    :data:`BUDGET_EXPOSED` words and :data:`MILESTONES` saved under ``folder/revisions``."""
    env = variable_prompt_env(LOCKSTEP["num_envs"], LOCKSTEP["max_new_tokens"])
    agent = PPO(
        env, seed=0, verbose=0, num_minibatches=2, min_new_tokens=LOCKSTEP["max_new_tokens"]
    )
    counted = WordCounter(env, budget={"exposed": BUDGET_EXPOSED})
    ledgers = Ledgers()
    milestones = MilestoneCallback(folder / "revisions", MILESTONES)
    agent.learn(counted, 10_000, [ledgers, milestones], progress_bar=False)
    own = counted.word_ledger
    return {
        "iteration": agent.iteration,
        "num_timesteps": agent.num_timesteps,
        "own": ledgers.own,
        "run": ledgers.run,
        "own_final": own.state_dict()["counts"],
        "own_limit": own.limits.exposed,
        "own_refusal": None if own.refusal is None else str(own.refusal),
        "run_final": agent.run_ledger.summary(),
        "saved": milestones.saved,
        "weights": digest(agent.policy),
    }


def clm_budget(folder: Path) -> dict[str, Any]:
    """A CLM step whose global batch of 32 sentences splits into parts of different word
    counts, under an exposure budget whose share (the same on both ranks) admits the smaller
    part only: the rank with the larger part refuses, and so must the other."""
    schedule = clm_schedule(FIXED_EPISODES // world_size())
    position = schedule.stream.state_dict()
    batch = schedule.stream.next_batch()  # a look at the batch the step will draw
    schedule.stream.load_state_dict(position)
    half = len(batch) // 2
    parts = [sum(count_words(text) for text in part) for part in (batch[:half], batch[half:])]
    ledger = WordLedger({"exposed": 2 * min(parts)})
    schedule.attach_ledger(ledger)
    before = digest(schedule.model)
    try:
        schedule.clm_step()
        error = None
    except BudgetExhausted as refusal:
        error = str(refusal)
    return {
        "parts": parts,
        "error": error,
        "own_refused": ledger.refusal is not None,
        "exposed": ledger.exposed,
        "clm_steps": schedule.clm_steps,
        "unchanged": digest(schedule.model) == before,
        "stream_kept": schedule.stream.next_batch() == batch,
    }


def main_process_error(folder: Path) -> str:
    """The error every rank raises when work done on rank 0 alone fails there."""

    def refuse() -> None:
        raise ValueError(f"refused on rank {rank()}")

    try:
        distributed.run_on_main_process(refuse)
    except ValueError as error:
        return str(error)
    return "no error"


# ---------------------------------------------------------------------- teacher envs
TEACHER = {"embedding": "bag", "student_steps": 2, "num_students": 2}
"""A fast teacher env: bag-of-embeddings pool features, 2 students of 2 steps an episode."""


class StudentSeeds(Callback):
    """Records the seeds of the students this rank's sub-envs trained, after every update."""

    def __init__(self, env: Any) -> None:
        super().__init__()
        self.env = env
        self.values: list[list[int]] = []

    def _on_iteration_end(self) -> None:
        self.values.append([seed for sub in self.env.unwrapped.envs for seed in sub.student_seeds])


def teacher(folder: Path) -> dict[str, Any]:
    """The learning teacher on 2 teacher envs a rank for 3 updates: its digests after every
    update, and the seeds of the students each rank trained (its own envs' students)."""
    env = gym.make_vec("TeacherDomains-v0", num_envs=2, **TEACHER)
    agent = ReinforceTeacher(env, seed=0, verbose=0, batch_size=2)
    digests, students = Digests(agent.policy), StudentSeeds(env)
    agent.learn(env, 3 * 2 * world_size(), [digests, students], progress_bar=False)
    return {"digests": digests.values, "students": students.values, "steps": agent.num_timesteps}


def everything(folder: Path) -> dict[str, Any]:
    """Every scenario above, in one launch (each launch costs seconds of imports)."""
    return {
        "ppo": ppo_fixed_batch(folder),
        "clm": clm_fixed_batch(folder),
        "lockstep": lockstep(folder),
        "error": main_process_error(folder),
        "word_budget": word_budget(folder),
        "clm_budget": clm_budget(folder),
        "teacher": teacher(folder),
    }


# ---------------------------------------------------------------------- throughput
class PhaseTimes:
    """Wall-clock and CPU seconds spent in named phases (CPU time excludes waiting)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def timed(self, name: str, function: Callable) -> Callable:
        """``function``, adding its time to phase ``name`` at every call."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

        return wrapper

    def take(self) -> dict[str, dict[str, float]]:
        """The times so far, then start again."""
        times = {"wall": self.wall, "cpu": self.cpu}
        self.wall, self.cpu = {}, {}
        return times


def ppo_throughput(folder: Path) -> Callable[[], dict[str, Any]]:
    """One PPO iteration on Bambino-v0 per call (settings in ``folder/bench.json``: the
    models, ``num_envs`` per rank and ``new_tokens`` per episode, every episode that long).

    Each call returns the tokens of the iteration (all ranks) and the seconds of its phases on
    this rank: collection, waiting for the other ranks after it, scoring, gathering the scored
    batch, the gradient all-reduces, and the whole iteration.
    """
    settings = json.loads((folder / "bench.json").read_text())
    tokens = settings["new_tokens"]
    env = gym.make_vec(
        "Bambino-v0", num_envs=settings["num_envs"], max_new_tokens=tokens, **settings["models"]
    )
    agent = PPO(env, seed=0, verbose=0, device="cpu", min_new_tokens=tokens)
    times = PhaseTimes()
    agent._collect = times.timed("collect", agent._collect)
    agent._all_ranks_collected = times.timed("wait_for_ranks", agent._all_ranks_collected)
    agent._score_rollout = times.timed("score", agent._score_rollout)
    ppo_module.gather_token_batch = times.timed("gather", ppo_module.gather_token_batch)
    distributed.all_reduce_gradients = times.timed(
        "all_reduce_gradients", distributed.all_reduce_gradients
    )
    learn = times.timed("iteration", agent.learn)
    budget = world_size() * settings["num_envs"] * tokens

    def iteration() -> dict[str, Any]:
        times.take()
        learn(env, budget, progress_bar=False)
        return {"tokens": agent.num_timesteps, **times.take()}

    return iteration
