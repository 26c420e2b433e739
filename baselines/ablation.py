"""The BAMBINO-LM ablation (Tables 2 and 3 of Shen et al. 2024) as a track of arms.

Six arms, each trained from a fresh untrained baby (``baby-en``) on ``Bambino-v0`` and scored
with :func:`lm_gym.evaluation.evaluate_lm` (L2 = Italian, L1 = English) beside the standard
evaluation episodes (the parent's reward of the trained baby's samples):

* ``baseline``: the untrained baby (the "before" of every other arm);
* ``full``: PPO with :class:`~lm_gym.wrappers.CLMAlternation` ``alternate`` 10:2;
* ``wo_ppo``: CLM only (``clm_only``), the RL batches played by a non-learning sampler and
  trained on by CLM too (the paper's "w/o PPO": it sees more CLM batches than ``full``);
* ``wo_alternating``: PPO with the ``block`` schedule (CLM for the first 85% of each epoch,
  then PPO for the rest);
* ``rl_only``: PPO alone, no CLM, for as many RL batches as ``full`` runs (does the parent's
  reward alone teach any Italian?);
* ``clm_matched``: the non-learning sampler under ``alternate``: exactly ``full``'s CLM
  batches, in the same order, and its RL batches played without learning, so ``full`` against
  it is PPO's effect with the data held equal.

**Budget.** As in the paper, every arm gets the same number of *epochs* over the L2 corpus
(the env's prompt corpus, one CLM batch = ``num_envs`` utterances): ``epochs`` times the slots
of one ``block`` epoch (its CLM pass plus the RL batches after it). Each arm runs the RL
batches its schedule puts in those slots (``rl_only`` those of ``alternate``), and stops after
the last one that is not followed by a CLM phase within the budget: a CLM phase that starts
would run at the next reset, so stopping there leaves no CLM update unaccounted for (``block``
thus skips the last RL batch of its final epoch, ``alternate`` the second RL batch of its final
cycle). The RL batches, CLM steps and words seen each arm actually ran are in its metrics
(``train/iterations``, ``train/clm_steps``, ``train/words_seen``).

``lm-gym ablation`` (or ``lm-gym leaderboard --track bambino-ablation``) runs it through the
leaderboard driver: one result file per (arm, seed), resumable, serial, in a pool or on Ray.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import torch

from lm_gym.agents.callbacks import Callback
from lm_gym.agents.run import CLM_KEY
from lm_gym.baselines.tracks import Arm, EnvSetting, RunOptions, RunSpec, Track
from lm_gym.utils.validation import check_int, check_positive_int
from lm_gym.wrappers.clm_alternation import CLMAlternation

ARMS = {
    "baseline": "untrained baby-en",
    "full": "PPO + CLM, alternate 10:2",
    "wo_ppo": "w/o PPO (CLM only)",
    "wo_alternating": "w/o alternating (block 85/15)",
    "rl_only": "RL only (PPO, no CLM; full's RL batches)",
    "clm_matched": "CLM only, full's CLM batches (alternate, sampler does not learn)",
}
"""Arm names and what they are."""

PAPER = {
    "baseline": {"uinauil": 0.3416, "blimp": 0.6255},
    "full": {"uinauil": 0.4613, "blimp": 0.5503},
    "wo_ppo": {"uinauil": 0.4000, "blimp": None},
    "wo_alternating": {"uinauil": 0.3513, "blimp": None},
}
"""Shen et al. (2024): Italian UINAUIL average (Table 2) and English BLiMP (Table 3), OPT-125M."""

FIGURE_METRICS = ("lm/it/minimal_pairs", "lm/en/minimal_pairs", "lm/it/perplexity")
"""The ablation's figure: L2 and L1 minimal pairs and L2 perplexity per arm."""

SCHEDULE_KEYS = ("r_clm", "r_rl", "block_fraction", "batch_size", "corpus")
"""The ``clm_alternation`` arguments that decide which slots are CLM and which RL."""


class StopAfterIterations(Callback):
    """Stops training at the first step after the agent finished ``iterations`` batches."""

    def __init__(self, iterations: int) -> None:
        super().__init__()
        self.iterations = iterations

    def _on_step(self) -> bool:
        return self.agent.iteration < self.iterations


def planned_rl_batches(kind: Callable[[int], str], total_slots: int) -> int:
    """RL batches to run within ``total_slots`` slots of a schedule (``CLMSchedule.kind``).

    Counts the slots that are not pure CLM and drops trailing ones that are followed by a CLM
    slot, so no CLM phase falls due after the last batch.
    """
    rl = [slot for slot in range(total_slots) if kind(slot) != "clm"]
    while rl and kind(rl[-1] + 1) == "clm":
        rl.pop()
    return len(rl)


def block_epoch_slots(kind: Callable[[int], str]) -> int:
    """Slots in one epoch of a ``block`` schedule: its CLM pass plus the RL batches after it."""
    slot = 1
    while not (kind(slot) == "clm" and kind(slot - 1) != "clm"):
        slot += 1
    return slot


def planned_batches(spec: RunSpec, options: RunOptions) -> int:
    """The RL batches run ``spec`` gets under its ``epochs`` budget (module docstring).

    0 when the budget is 0 epochs or the run has no CLM wrapper (nothing to count slots
    with). The slots come from the run's ``clm_alternation`` arguments, on the env's corpus
    (the env is built once for it, its models never run).
    """
    clm = spec.env_kwargs.get(CLM_KEY)
    if not options.epochs or not clm:
        return 0
    clm = clm if isinstance(clm, dict) else {}
    shape = {key: clm[key] for key in SCHEDULE_KEYS if key in clm}
    schedule = options.rl_batches_as or clm.get("schedule", "alternate")
    env = gym.make(spec.env_id, **{k: v for k, v in spec.env_kwargs.items() if k != CLM_KEY})
    try:
        probe = torch.nn.Linear(1, 1)  # the schedules only count slots; nothing is trained

        def kind(name: str) -> Callable[[int], str]:
            wrapper = CLMAlternation(env, probe, schedule=name, keep_reference=False, **shape)
            return wrapper.schedule.kind

        total_slots = options.epochs * block_epoch_slots(kind("block"))
        return planned_rl_batches(kind(schedule), total_slots)
    finally:
        env.close()


def bambino_ablation_track(
    *,
    epochs: int = 4,
    num_envs: int = 32,
    env_kwargs: dict[str, Any] | None = None,
    eval_kwargs: dict[str, Any] | None = None,
    eval_episodes: int = 64,
    seeds: int = 5,
) -> Track:
    """The ablation as a track (``lm-gym leaderboard --track bambino-ablation``).

    Args:
        epochs: passes over the L2 corpus per arm (module docstring).
        num_envs: episodes per RL batch, and utterances per CLM batch.
        env_kwargs: ``Bambino-v0`` arguments (default: the offline defaults, ``baby-en`` and
            ``parent-it``).
        eval_kwargs: :func:`lm_gym.evaluation.evaluate_lm` arguments (sizes).
        eval_episodes: evaluation episodes of the trained baby on ``Bambino-v0``.
        seeds: seeds ``0 .. seeds-1``.

    Raises:
        ValueError: for a non-positive count.
    """
    check_int("epochs", epochs, minimum=0)
    for name, value in (("num_envs", num_envs), ("eval_episodes", eval_episodes)):
        check_positive_int(name, value)
    check_positive_int("seeds", seeds)
    kwargs = {"baby_model": "baby-en", "parent_model": "parent-it", **(env_kwargs or {})}
    sampler = {"num_envs": num_envs, "verbose": 0}
    ppo = {"num_envs": num_envs, "verbose": 0}

    def clm(schedule: str, **extra: Any) -> dict[str, Any]:
        return {CLM_KEY: {"schedule": schedule, "batch_size": num_envs, **extra}}

    arms = {
        "baseline": Arm("lm-sample", sampler, options={"epochs": 0}),
        "full": Arm("ppo", ppo, clm("alternate")),
        "wo_ppo": Arm("lm-sample", sampler, clm("clm_only", keep_reference=False)),
        "wo_alternating": Arm("ppo", ppo, clm("block")),
        "rl_only": Arm("ppo", ppo, clm("rl_only"), options={"rl_batches_as": "alternate"}),
        "clm_matched": Arm("lm-sample", sampler, clm("alternate", keep_reference=False)),
    }
    return Track(
        "bambino-ablation",
        {"Bambino-v0": EnvSetting(kwargs, timesteps=1, eval_episodes=eval_episodes)},
        {},
        tuple(range(seeds)),
        "BAMBINO-LM's ablation (Shen et al. 2024, Tables 2 and 3) plus RL only and CLM only "
        "with full's CLM batches; the budget is passes over the L2 corpus (the training-step "
        "count is unused)",
        arms=copy.deepcopy(arms),
        options={
            "epochs": epochs,
            "evaluate_lm": dict(eval_kwargs or {}),
            "curves": ["rollout/batch_rew_mean", "rollout/ppl_median"],
        },
        figure_metrics=FIGURE_METRICS,
    )
