"""The README's experiments as tracks: each runs through the leaderboard driver like the
leaderboard itself (one result file per run, resume, workers or Ray, the same report, 95%
intervals over 5 seeds by default).

* ``ppo-bambino`` (:func:`ppo_bambino_track`): PPO on the default ``Bambino-v0`` with and
  without :class:`~lm_gym.wrappers.CLMAlternation`, its KL reference (the CLM-only twin or the
  initial baby) and its learning rate (1e-4, the default of the time, against the paper's
  1.41e-5, today's default); curves of
  the parent's reward and of the KL penalty per batch, and every arm's final KL to the initial
  baby on fresh samples (``final/kl_to_initial``).
* ``teachers`` (:func:`teachers_track`): the fixed teachers (oracle, random, worst case) and
  the learning teacher on Task 1 (``TeacherDomains-v0``) and Task 2 (``TeacherStructures-v0``)
  of ter Hoeve et al. (2022), with the learning curve of the exam-type share of the teacher's
  sampled selections.
* ``babystories-ppo`` (:func:`babystories_ppo_track`): PPO on ``BabyStories-v0`` with the
  small and the larger storyteller (Zhao et al.'s size axis): the samples' reward-model score,
  length, distinct-n and repetition after training (the ``ppo`` rows) and before (the
  ``lm-sample`` rows: the untrained storyteller on the same evaluation prompts);
  ``babystories-ppo-fast-value`` is the same with a value head that learns 100 times faster
  than the LM (:func:`babystories_fast_value_track`).

The BAMBINO-LM ablation is in :mod:`lm_gym.baselines.ablation`.
"""

from __future__ import annotations

from typing import Any

from lm_gym.agents.run import CLM_KEY
from lm_gym.baselines.tracks import Arm, EnvSetting, Track
from lm_gym.utils.validation import check_positive_int


def _seeds(seeds: int) -> tuple[int, ...]:
    check_positive_int("seeds", seeds)
    return tuple(range(seeds))


def ppo_bambino_track(
    *,
    timesteps: int = 30_720,
    num_envs: int = 32,
    env_kwargs: dict[str, Any] | None = None,
    eval_episodes: int = 64,
    kl_batches: int = 8,
    seeds: int = 5,
) -> Track:
    """PPO on ``Bambino-v0`` with and without CLM (``lm-gym leaderboard --track ppo-bambino``).

    Args:
        timesteps: generated tokens per arm.
        num_envs: episodes per batch (and utterances per CLM batch).
        env_kwargs: ``Bambino-v0`` arguments (default: the offline defaults).
        eval_episodes: evaluation episodes of the trained baby.
        kl_batches: batches of fresh samples for ``final/kl_to_initial``.
        seeds: seeds ``0 .. seeds-1``.
    """
    kwargs = {"baby_model": "baby-en", "parent_model": "parent-it", **(env_kwargs or {})}
    sampler = {"num_envs": num_envs, "verbose": 0}
    ppo = {**sampler, "learning_rate": 1e-4}  # PPO's default when the committed run was made

    def clm(schedule: str, **extra: Any) -> dict[str, Any]:
        return {CLM_KEY: {"schedule": schedule, "batch_size": num_envs, **extra}}

    arms = {
        "ppo+clm": Arm("ppo", ppo, clm("alternate")),
        "ppo+clm.initial-ref": Arm(
            "ppo", {**ppo, "reference_follows_env": False}, clm("alternate")
        ),
        "clm": Arm("lm-sample", sampler, clm("clm_only", keep_reference=False)),
        "ppo": Arm("ppo", ppo),
        "ppo.lr=1.41e-5": Arm("ppo", {**ppo, "learning_rate": 1.41e-5}),
    }
    return Track(
        "ppo-bambino",
        {"Bambino-v0": EnvSetting(kwargs, timesteps=timesteps, eval_episodes=eval_episodes)},
        {},
        _seeds(seeds),
        "PPO on the default Bambino-v0 with CLM alternation (KL reference: the CLM-only twin, "
        "or the initial baby), CLM alone, PPO alone at 1e-4 (PPO's default when the committed "
        "run was made) and at the paper's 1.41e-5 (the default now); reward and KL per batch, "
        "final KL to the initial baby",
        arms=arms,
        options={
            "curves": [
                "rollout/batch_rew_mean",
                "rollout/ppl_median",
                "charts/kl",
                "charts/kl_initial",
            ],
            "kl_to_initial": kl_batches,
        },
        figure_metrics=("eval/mean_return", "final/kl_to_initial", "eval/distinct_2"),
    )


TEACHER_ENVS = ("TeacherDomains-v0", "TeacherStructures-v0")


def teachers_track(
    *,
    updates: int = 40,
    batch_size: int = 8,
    env_kwargs: dict[str, Any] | None = None,
    eval_episodes: int = 32,
    seeds: int = 5,
) -> Track:
    """The teacher experiments (``lm-gym leaderboard --track teachers``).

    Args:
        updates: policy updates of the learning teacher (``updates * batch_size`` episodes).
        batch_size: episodes per update.
        env_kwargs: arguments of both envs (default: the bag-of-words embedding, which only
            skips loading ``baby-en``: the learning teacher reads its own encoder, and 2
            students per episode).
        eval_episodes: evaluation episodes (fresh pools and exams) per run.
        seeds: seeds ``0 .. seeds-1``.
    """
    check_positive_int("updates", updates)
    check_positive_int("batch_size", batch_size)
    kwargs = {"embedding": "bag", "num_students": 2, **(env_kwargs or {})}
    fixed = {"num_envs": batch_size, "verbose": 0}
    arms = {
        name: Arm(name, fixed, timesteps=batch_size)  # they do not learn: one batch
        for name in ("random", "oracle-teacher", "worst-teacher")
    }
    arms["reinforce-teacher"] = Arm(
        "reinforce-teacher", {"num_envs": batch_size, "batch_size": batch_size, "verbose": 0}
    )
    setting = EnvSetting(kwargs, timesteps=updates * batch_size, eval_episodes=eval_episodes)
    return Track(
        "teachers",
        {env_id: setting for env_id in TEACHER_ENVS},
        {},
        _seeds(seeds),
        "ter Hoeve et al. (2022): the fixed teachers and the learning teacher on Task 1 "
        "(domains) and Task 2 (structures); the fixed teachers play one batch in training",
        arms=arms,
        options={"curves": ["rollout/exam_type_fraction_mean", "rollout/exam_log_perplexity_mean"]},
        figure_metrics=("eval/exam_type_fraction", "eval/exam_log_perplexity"),
    )


def babystories_ppo_track(
    *,
    timesteps: int = 153_600,
    num_envs: int = 32,
    reward_model: str = "reward-stories",
    eval_episodes: int = 128,
    ppo_config: dict[str, Any] | None = None,
    seeds: int = 5,
) -> Track:
    """PPO with the small and the larger storyteller
    (``lm-gym leaderboard --track babystories-ppo``).

    Args:
        timesteps: generated tokens per PPO run.
        num_envs: episodes per batch.
        reward_model: any reward-model spec.
        eval_episodes: continuations sampled after training (the same prompts for every row
            of a seed).
        ppo_config: overrides of the PPO settings of the README's run (learning rate 1.41e-5,
            adaptive KL aiming at 3 nats per episode over a horizon of 500 episodes).
        seeds: seeds ``0 .. seeds-1``.
    """
    ppo = {
        "num_envs": num_envs,
        "learning_rate": 1.41e-5,
        "kl_coef": 0.2,
        "kl_target": 3.0,
        "kl_horizon": 500,
        "verbose": 0,
        **(ppo_config or {}),
    }
    envs = {
        f"BabyStories-v0/{size}": EnvSetting(
            {"storyteller": f"storyteller-{size}", "reward_model": reward_model},
            timesteps=timesteps,
            eval_episodes=eval_episodes,
            env_id="BabyStories-v0",
        )
        for size in ("small", "large")
    }
    arms = {
        "lm-sample": Arm("lm-sample", {"num_envs": num_envs, "verbose": 0}, timesteps=num_envs),
        "ppo": Arm("ppo", ppo),
    }
    return Track(
        "babystories-ppo",
        envs,
        {},
        _seeds(seeds),
        "Zhao et al. (2023): PPO on BabyStories-v0 with the small and the larger storyteller; "
        "lm-sample is the untrained storyteller (one batch), the 'before' of each ppo row",
        arms=arms,
        options={"curves": ["rollout/batch_rew_mean", "charts/kl"]},
        figure_metrics=("eval/mean_return", "eval/distinct_2", "eval/words_mean"),
    )


def babystories_fast_value_track() -> Track:
    """``babystories-ppo`` with PPO's value head at 1.41e-3, 100 times the LM's rate."""
    track = babystories_ppo_track(ppo_config={"value_learning_rate": 1.41e-3})
    track.name = "babystories-ppo-fast-value"
    track.description += "; value head learning rate 1.41e-3 (100 times the LM's)"
    return track
