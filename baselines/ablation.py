"""The BAMBINO-LM ablation (Tables 2 and 3 of Shen et al. 2024) on the offline defaults.

Four arms, each trained from a fresh untrained baby (``baby-en``) on ``Bambino-v0`` and
evaluated with :func:`lm_gym.evaluation.evaluate_lm` (L2 = Italian, L1 = English):

* ``baseline``: the untrained baby (the "before" of every other arm);
* ``full``: PPO with :class:`~lm_gym.wrappers.CLMAlternation` ``alternate`` 10:2;
* ``wo_ppo``: CLM only (``clm_only``), the RL batches played by a non-learning sampler;
* ``wo_alternating``: PPO with the ``block`` schedule (CLM for the first 85% of each epoch,
  then PPO for the rest).

**Budget.** As in the paper, every arm gets the same number of *epochs* over the L2 corpus
(the env's prompt corpus, one CLM batch = ``num_envs`` utterances): ``epochs`` times the slots
of one ``block`` epoch (its CLM pass plus the RL batches after it). Each arm runs the RL
batches its schedule puts in those slots, and stops after the last one that is not followed
by a CLM phase within the budget: a CLM phase that starts would run at the next reset, so
stopping there leaves no CLM update unaccounted for (``block`` thus skips the last RL batch
of its final epoch, ``alternate`` the second RL batch of its final cycle). The CLM steps,
words seen and RL batches each arm actually ran are recorded and reported.

**Files.** One JSON per (arm, seed) under ``<out>/runs/``, written atomically; a rerun skips
the runs whose file holds the same spec, so a killed ablation resumes where it stopped. Then
``bambino_ablation.json`` (means and standard deviations over seeds, with the paper's
numbers), ``bambino_ablation.md`` (the table) and ``bambino_ablation.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from lm_gym.agents.callbacks import Callback
from lm_gym.agents.logger import Logger
from lm_gym.agents.ppo import PPO
from lm_gym.agents.untrained import LMSampleAgent
from lm_gym.baselines.driver import LOCK_FILE
from lm_gym.baselines.results import git_revision
from lm_gym.evaluation.evaluate import evaluate_lm
from lm_gym.models.loading import load_model
from lm_gym.utils.files import atomic_write_text, naming_setting
from lm_gym.utils.locks import exclusive_lock
from lm_gym.utils.validation import check_positive_int
from lm_gym.version import __version__
from lm_gym.wrappers.clm_alternation import CLMAlternation

RUN_FORMAT = "lm_gym.ablation.run/1"

ARMS = {
    "baseline": "untrained baby-en",
    "full": "PPO + CLM, alternate 10:2",
    "wo_ppo": "w/o PPO (CLM only)",
    "wo_alternating": "w/o alternating (block 85/15)",
}
"""Arm names and their labels in tables and plots."""

SCHEDULES = {"full": "alternate", "wo_ppo": "clm_only", "wo_alternating": "block"}

PAPER = {
    "baseline": {"uinauil": 0.3416, "blimp": 0.6255},
    "full": {"uinauil": 0.4613, "blimp": 0.5503},
    "wo_ppo": {"uinauil": 0.4000, "blimp": None},
    "wo_alternating": {"uinauil": 0.3513, "blimp": None},
}
"""Shen et al. (2024): Italian UINAUIL average (Table 2) and English BLiMP (Table 3), OPT-125M."""

METRICS = {
    "it_minimal_pairs": ("it", "minimal_pairs"),
    "en_minimal_pairs": ("en", "minimal_pairs"),
    "it_sentence_type": ("it", "sentence_type"),
    "en_sentence_type": ("en", "sentence_type"),
    "it_perplexity": ("it", "perplexity"),
    "en_perplexity": ("en", "perplexity"),
    "it_distinct_2": ("it", "distinct_2"),
}
"""Summary metric -> where it sits in an evaluation result."""


@dataclass(frozen=True)
class AblationConfig:
    """What every run of the ablation shares (part of each run's spec: change it, rerun it)."""

    epochs: int = 4
    """Passes over the L2 corpus per arm (see the module docstring)."""
    num_envs: int = 32
    """Episodes per RL batch, and utterances per CLM batch."""
    env_kwargs: dict = field(
        default_factory=lambda: {"baby_model": "baby-en", "parent_model": "parent-it"}
    )
    """Keyword arguments of ``gym.make_vec("Bambino-v0", ...)`` (models, corpus, lengths)."""
    eval_kwargs: dict = field(default_factory=dict)
    """Keyword arguments of :func:`lm_gym.evaluation.evaluate_lm` (sizes of the evaluation)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "num_envs"):
            value = getattr(self, name)
            check_positive_int(name, value)


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


def _bambino(config: AblationConfig) -> Any:
    return gym.make_vec("Bambino-v0", num_envs=config.num_envs, device="cpu", **config.env_kwargs)


def _schedule(
    env: Any, model: torch.nn.Module, name: str, config: AblationConfig, seed: int, *, twin: bool
):
    """The CLM wrapper of an arm; ``twin``: keep the CLM-only twin that PPO's KL penalty is
    measured against (:mod:`lm_gym.wrappers.clm_alternation`), needless where no PPO runs."""
    return CLMAlternation(
        env, model, schedule=name, batch_size=config.num_envs, seed=seed, keep_reference=twin
    )


def train_arm(arm: str, seed: int, config: AblationConfig) -> dict:
    """Train one arm from a fresh baby and evaluate it; returns the run's record (no spec).

    Raises:
        ValueError: for an unknown arm.
    """
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; arms: {list(ARMS)}")
    torch.manual_seed(seed)  # whatever draws from the global RNG is seeded too
    started = (time.perf_counter(), time.process_time())
    if arm == "baseline":
        model, tokenizer = load_model(config.env_kwargs.get("baby_model", "baby-en"), device="cpu")
        metrics = evaluate_lm(model, tokenizer, words_seen=0, seed=seed, **config.eval_kwargs)
        training = {"rl_batches": 0, "clm_steps": 0, "words_seen": 0, "timesteps": 0}
        return _record(metrics, training, started)

    env = _bambino(config)
    # The epoch length comes from a block schedule over the same corpus (never stepped).
    probe = _schedule(
        env, env.unwrapped.generating_model.model, "block", config, seed, twin=False
    ).schedule
    total_slots = config.epochs * block_epoch_slots(probe.kind)
    logger = Logger(formats=())
    if arm == "wo_ppo":
        agent = LMSampleAgent(env, seed=seed, device="cpu", logger=logger, verbose=0)
    else:
        agent = PPO(env, seed=seed, device="cpu", logger=logger, verbose=0)
    wrapped = _schedule(env, agent.policy.model, SCHEDULES[arm], config, seed, twin=arm != "wo_ppo")
    batches = planned_rl_batches(wrapped.schedule.kind, total_slots)
    episode_bound = env.single_observation_space["input_ids"].shape[0]
    agent.learn(
        wrapped,
        batches * config.num_envs * episode_bound + 1,  # never reached: the callback stops
        callback=StopAfterIterations(batches),
        progress_bar=False,
    )
    rewards = [row["rollout/batch_rew_mean"] for row in logger.history]
    tenth = max(1, len(rewards) // 10)
    training = {
        "rl_batches": agent.iteration,
        "clm_steps": wrapped.schedule.clm_steps,
        "words_seen": wrapped.schedule.words_seen,
        "timesteps": agent.num_timesteps,
        "slots_budget": total_slots,
        "reward_first_10pct": float(np.mean(rewards[:tenth])),
        "reward_last_10pct": float(np.mean(rewards[-tenth:])),
    }
    metrics = evaluate_lm(
        agent.policy.model,
        agent.policy.tokenizer,
        words_seen=wrapped.schedule.words_seen,
        seed=seed,
        **config.eval_kwargs,
    )
    return _record(metrics, training, started)


def _record(metrics: dict, training: dict, started: tuple[float, float]) -> dict:
    return {
        "metrics": metrics,
        "training": training,
        "wall_time_s": time.perf_counter() - started[0],
        "cpu_time_s": time.process_time() - started[1],
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "lm_gym_version": __version__,
        "git_revision": git_revision(),
    }


def run_path(out_dir: str | Path, arm: str, seed: int) -> Path:
    """Where the record of one run is kept."""
    return Path(out_dir) / "runs" / f"{arm}__seed{seed}.json"


def run_ablation(
    out_dir: str | Path,
    seeds: Sequence[int] = (0, 1, 2),
    config: AblationConfig | None = None,
    arms: Sequence[str] = tuple(ARMS),
    log: Callable[[str], None] = print,
) -> dict:
    """Run (or resume) every arm on every seed, then write the summary, table and plot.

    Returns:
        The summary (also written to ``<out>/bambino_ablation.json``).

    One process at a time works in ``out_dir``: a second one waits for the lock file
    ``out_dir/.lm_gym.lock`` (``log`` says for which process), then skips what the first one
    finished.

    Raises:
        ValueError: for an unknown arm or no seeds, before anything runs; ``LocationError``
            (a ``ValueError``) when ``out_dir`` cannot be created or written.
    """
    config = config or AblationConfig()
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown or not seeds:
        raise ValueError(f"unknown arms {unknown} (known: {list(ARMS)}) or no seeds {seeds!r}")
    out = Path(out_dir)
    with contextlib.ExitStack() as stack:
        with naming_setting("--out (out_dir)", out, "the ablation's output folder"):
            out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(
                exclusive_lock(out / LOCK_FILE, what=f"the ablation folder {out}", on_wait=log)
            )
        return _run_arms(out, seeds, config, arms, log)


def _run_arms(
    out: Path,
    seeds: Sequence[int],
    config: AblationConfig,
    arms: Sequence[str],
    log: Callable[[str], None],
) -> dict:
    """The body of :func:`run_ablation`, run while it holds the output folder's lock."""
    records: dict[str, list[dict]] = {arm: [] for arm in arms}
    for seed in seeds:
        for arm in arms:
            spec = {"arm": arm, "seed": int(seed), "config": dataclasses.asdict(config)}
            spec = json.loads(json.dumps(spec))
            path = run_path(out, arm, seed)
            record = _read(path)
            if record is not None and record.get("spec") == spec:
                log(f"{arm} seed {seed}: done before, {path}")
            else:
                log(f"{arm} seed {seed}: running")
                record = {"format": RUN_FORMAT, "spec": spec, **train_arm(arm, seed, config)}
                atomic_write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
                log(f"{arm} seed {seed}: {_brief(record)}")
            records[arm].append(record)
    summary = summarise(records, config)
    atomic_write_text(out / "bambino_ablation.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "bambino_ablation.md", markdown_table(summary) + "\n")
    plot(summary, out / "bambino_ablation.png")
    return summary


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == RUN_FORMAT else None


def _brief(record: dict) -> str:
    metrics = record["metrics"]
    return (
        f"{record['wall_time_s']:.0f} s wall, {record['cpu_time_s']:.0f} s CPU; "
        f"pairs it {metrics['it']['minimal_pairs']:.3f} en {metrics['en']['minimal_pairs']:.3f}, "
        f"ppl it {metrics['it']['perplexity']:.1f}"
    )


def summarise(records: dict[str, list[dict]], config: AblationConfig) -> dict:
    """Mean, std (ddof=0) and per-seed values of each metric and training counter per arm."""
    arms = {}
    for arm, runs in records.items():
        values = {
            name: [run["metrics"][lang][key] for run in runs]
            for name, (lang, key) in METRICS.items()
        }
        values.update(
            {
                key: [run["training"][key] for run in runs]
                for key in ("rl_batches", "clm_steps", "words_seen")
            }
        )
        values["wall_time_s"] = [run["wall_time_s"] for run in runs]
        values["cpu_time_s"] = [run["cpu_time_s"] for run in runs]
        arms[arm] = {
            "label": ARMS[arm],
            "seeds": [run["spec"]["seed"] for run in runs],
            "mean": {k: float(np.mean(v)) for k, v in values.items()},
            "std": {k: float(np.std(v)) for k, v in values.items()},
            "values": values,
            "paper": PAPER[arm],
        }
    return {"config": dataclasses.asdict(config), "arms": arms}


def _cell(arm: dict, key: str, digits: int = 3) -> str:
    return f"{arm['mean'][key]:.{digits}f} ± {arm['std'][key]:.{digits}f}"


def markdown_table(summary: dict) -> str:
    """The ablation as a markdown table: ours (mean ± std over seeds) beside the paper's."""
    lines = [
        "| arm | L2 (it) minimal pairs | L1 (en) minimal pairs | it sentence type (zero-shot) "
        "| ppl it (per token) | ppl en (per token) | PPO batches | CLM batches "
        "| paper UINAUIL (L2) | paper BLiMP (L1) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, arm in summary["arms"].items():
        paper = arm["paper"]
        blimp = f"{paper['blimp']:.4f}" if paper["blimp"] is not None else "–"
        ppo = "0" if name == "wo_ppo" else f"{arm['mean']['rl_batches']:.0f}"
        cells = [
            arm["label"],
            _cell(arm, "it_minimal_pairs"),
            _cell(arm, "en_minimal_pairs"),
            _cell(arm, "it_sentence_type"),
            _cell(arm, "it_perplexity", 1),
            _cell(arm, "en_perplexity", 2),
            ppo,
            f"{arm['mean']['clm_steps']:.0f}",
            f"{paper['uinauil']:.4f}",
            blimp,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict, path: str | Path) -> None:
    """Bars (mean ± std, seeds as dots) of L2 and L1 minimal pairs and L2 perplexity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary["arms"].values())
    x = np.arange(len(arms))
    panels = (
        ("it_minimal_pairs", "L2 (Italian) minimal pairs", "uinauil", "paper: UINAUIL avg"),
        ("en_minimal_pairs", "L1 (English) minimal pairs", "blimp", "paper: BLiMP"),
        ("it_perplexity", "Italian held-out perplexity", None, None),
    )
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    for axis, (key, title, paper_key, paper_label) in zip(axes, panels):
        means = [a["mean"][key] for a in arms]
        axis.bar(x, means, yerr=[a["std"][key] for a in arms], color="C0", alpha=0.6, capsize=4)
        for i, arm in enumerate(arms):
            axis.plot([i] * len(arm["values"][key]), arm["values"][key], "k.", ms=5)
        if paper_key:
            points = [
                (i, a["paper"][paper_key]) for i, a in enumerate(arms) if a["paper"][paper_key]
            ]
            axis.plot(*zip(*points), "D", color="C3", mfc="none", label=paper_label)
            axis.axhline(0.5, color="grey", lw=0.8, ls=":")
            axis.set_ylim(0, 1.15)
            axis.legend(loc="upper left", fontsize=7, frameon=False)
        else:
            axis.set_yscale("log")
        axis.set_title(title, fontsize=10)
        axis.set_xticks(x, [a["label"].split(" (")[0] for a in arms], rotation=20, fontsize=8)
    config = summary["config"]
    figure.suptitle(
        f"BAMBINO-LM ablation on the offline defaults: {config['epochs']} pass(es) over the L2 "
        f"corpus, seeds {arms[0]['seeds']} (bars: mean ± std, dots: seeds)",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
