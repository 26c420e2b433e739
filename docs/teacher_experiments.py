"""The teacher experiments of ter Hoeve et al. (2022) on lm_gym's teacher envs (docs figures).

Four parts, at the paper's sizes (pool 100, exam 10, budget 10; 400 student updates on Task 1,
300 on Task 2), every one on one torch thread per process:

* ``baselines``: the fixed teachers (oracle, random, worst case) over ``--seeds`` seeds on
  ``TeacherDomains-v0`` and ``TeacherStructures-v0``: the students' exam perplexity and
  log-perplexity (mean, sample std, 95% t-interval) beside the paper's Table 2 (best seed);
  writes ``teacher_baselines.json``.
* ``probe``: can the teacher's pool features separate the exam type from the other at all? A
  logistic-regression probe on each kind of features (the env's ``bag``, ``mean_embedding``
  and ``mean_hidden`` of ``baby-en``, and the learning teacher's own :class:`PoolEncoder` at
  initialisation), trained on the pools of 40 task seeds and tested on 20 others; writes
  ``teacher_feature_probe.json``.
* ``signal``: how much of the reward is about the exam type? On one fixed pool and exam per
  task: the students' exam log-perplexity for selections holding ``m`` exam-type sentences
  (mean, and std over 8 different such selections vs over 8 student groups trained on one
  selection), and over 32 uniformly random selections the share of reward variance explained
  by ``m`` (R^2) with its slope; writes ``teacher_signal.json``.
* ``learn``: the learning teacher (``reinforce-teacher`` with its defaults) on both tasks,
  ``--seeds`` seeds each; after every policy update the exam-type share and the students'
  exam log-perplexity of its sampled selections, and at the start and the end its greedy
  (top-k) selections on 8 held-out pools beside the fixed teachers'. Writes
  ``teacher_learning.json`` (every seed's curve, the mean and 95% t-band per update) and
  ``teacher_learning.png``. Finished (task, seed) runs found in the JSON are kept, so an
  interrupted run resumes; ``--fresh NAME`` writes elsewhere instead.
* ``plot``: redraws the figure from the JSON.

Files go to ``runs/docs`` (``--update-docs``: into ``docs/``, replacing the committed ones).
What the README reports (the learning runs took 21 minutes on 2 busy cores)::

    python docs/teacher_experiments.py baselines --update-docs
    python docs/teacher_experiments.py probe --update-docs
    python docs/teacher_experiments.py signal --update-docs \
        --env-kwargs '{"embedding": "bag", "num_students": 2}'
    python docs/teacher_experiments.py learn --jobs 2 --update-docs \
        --env-kwargs '{"embedding": "bag", "num_students": 2}'
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from outputs import add_output_options, output_dir  # same folder

import lm_gym.registration  # noqa: F401  (registers the teacher envs)
from lm_gym.agents import (
    Logger,
    OracleTeacher,
    PoolEncoder,
    RandomAgent,
    ReinforceTeacher,
    WorstCaseTeacher,
)
from lm_gym.envs.teacher_embeddings import SentenceEmbedder
from lm_gym.envs.teacher_tasks import build_task_source, draw_task

ENV_IDS = {"domains": "TeacherDomains-v0", "structures": "TeacherStructures-v0"}
PAPER = {
    "domains": {"oracle": 14.99, "random": 160.9, "worst": 4.78e4},
    "structures": {"oracle": 6.82, "random": 119.0, "worst": 299.6},
}
"""Table 2 of the paper: exam perplexity of the best seed."""
TEACHERS = {"oracle": OracleTeacher, "random": RandomAgent, "worst": WorstCaseTeacher}
HELD_OUT_SEED = 10_000
"""Reset seed of the held-out pools the greedy selections are scored on."""
HELD_OUT_POOLS = 8
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
"""Two-sided 95% quantiles of Student's t by degrees of freedom."""


def mean_interval(values: Any) -> dict[str, float]:
    """Mean, sample std (ddof=1) and the 95% t-interval of the mean over the first axis."""
    array = np.asarray(values, dtype=np.float64)
    n = array.shape[0]
    if n - 1 not in T_975:
        raise ValueError(f"the t-interval here needs 2 to {max(T_975) + 1} seeds, got {n}")
    mean, std = array.mean(0), array.std(0, ddof=1)
    half = T_975[n - 1] * std / np.sqrt(n)
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half}


def _listed(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: np.asarray(value).tolist() for key, value in stats.items()}


# ------------------------------------------------------------------------------ baselines
def baselines(seeds: int) -> dict:
    """The fixed teachers' exam scores, one episode per seed and task."""
    results: dict = {}
    for task, env_id in ENV_IDS.items():
        env = gym.make(env_id, embedding="bag")
        for name, teacher_class in TEACHERS.items():
            perplexity, log_perplexity = [], []
            for seed in range(seeds):
                teacher = teacher_class(env, seed=seed, verbose=0)
                obs, _ = env.reset(seed=seed)
                *_, info = env.step(teacher.predict(obs))
                perplexity.append(info["exam_perplexity"])
                log_perplexity.append(info["exam_log_perplexity"])
            results.setdefault(task, {})[name] = {
                "exam_perplexity": _listed(mean_interval(perplexity)),
                "exam_log_perplexity": _listed(mean_interval(log_perplexity)),
                "per_seed_perplexity": perplexity,
                "paper_best_seed": PAPER[task][name],
            }
            stats = mean_interval(perplexity)
            print(
                f"{task:10s} {name:6s} {stats['mean']:8.2f} +- {stats['std']:6.2f} "
                f"(95% CI {stats['low']:.2f}..{stats['high']:.2f}; paper {PAPER[task][name]})",
                flush=True,
            )
    return results


# ---------------------------------------------------------------------------------- probe
def _probe_accuracy(train: tuple, test: tuple, steps: int = 200) -> tuple[float, float]:
    """Train and test accuracy of an L2-regularised logistic regression (LBFGS) on
    standardised features."""
    x, y = (torch.as_tensor(a, dtype=torch.float32) for a in train)
    tx, ty = (torch.as_tensor(a, dtype=torch.float32) for a in test)
    centre, scale = x.mean(0), x.std(0) + 1e-6
    x, tx = (x - centre) / scale, (tx - centre) / scale
    weight = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = x @ weight + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
        loss = loss + 1e-3 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return tuple(
            float(((features @ weight + bias > 0).float() == labels).float().mean())
            for features, labels in ((x, y), (tx, ty))
        )


def probe(train_seeds: int = 40, test_seeds: int = 20) -> dict:
    """Linear-probe accuracy of each kind of pool features, per task (majority: 0.5 / 0.8)."""
    results: dict = {}
    for task in ENV_IDS:
        source = build_task_source(task, 100, 10)
        tasks = [draw_task(source, seed) for seed in range(train_seeds + test_seeds)]
        labels = np.concatenate([t.pool_labels for t in tasks]).astype(np.float32)
        torch.manual_seed(0)
        encoder = PoolEncoder(len(source.vocabulary))
        kinds = {
            "bag": SentenceEmbedder("bag", source.vocabulary),
            "mean_embedding": SentenceEmbedder("mean_embedding", source.vocabulary, "baby-en"),
            "mean_hidden": SentenceEmbedder("mean_hidden", source.vocabulary, "baby-en"),
        }
        features = {
            name: np.concatenate([embed(t.pool) for t in tasks]) for name, embed in kinds.items()
        }
        with torch.no_grad():
            rows = [source.vocabulary.encode(t.pool, source.max_length) for t in tasks]
            features["encoder_at_init"] = np.concatenate([encoder(*row).numpy() for row in rows])
        split = train_seeds * 100
        results[task] = {"majority": float(max(labels.mean(), 1 - labels.mean()))}
        for name, values in features.items():
            train, test = _probe_accuracy(
                (values[:split], labels[:split]), (values[split:], labels[split:])
            )
            results[task][name] = {"dim": int(values.shape[1]), "train": train, "test": test}
            print(f"{task:10s} {name:16s} train {train:.3f} test {test:.3f}", flush=True)
    return results


# --------------------------------------------------------------------------------- signal
def _with_exam_type(labels: np.ndarray, m: int, rng: np.random.Generator, k: int = 10):
    """A selection of ``k`` pool items, ``m`` of them of the exam's type, uniformly at random."""
    action = np.zeros(labels.shape, dtype=np.int8)
    action[rng.choice(np.flatnonzero(labels == 1), m, replace=False)] = 1
    action[rng.choice(np.flatnonzero(labels == 0), k - m, replace=False)] = 1
    return action


def signal(env_kwargs: dict, counts: tuple[int, ...] = (0, 2, 5, 10)) -> dict:
    """Reward (exam log-perplexity) against the number of exam-type sentences selected."""
    results: dict = {}
    rng = np.random.default_rng(0)
    for task, env_id in ENV_IDS.items():
        env = gym.make_vec(env_id, num_envs=8, resample="fixed", **env_kwargs)
        env.reset(seed=0)
        labels = env.unwrapped.pool_labels[0]
        rows: dict = {}
        for m in counts:
            varied = np.stack([_with_exam_type(labels, m, rng) for _ in range(8)])
            env.reset(seed=1 + m)
            *_, info = env.step(varied)
            env.reset(seed=100 + m)
            *_, same = env.step(np.repeat(varied[:1], 8, axis=0))
            rows[m] = {
                "mean": float(np.mean(info["exam_log_perplexity"])),
                "std_over_selections": float(np.std(info["exam_log_perplexity"], ddof=1)),
                "std_over_students": float(np.std(same["exam_log_perplexity"], ddof=1)),
            }
            print(task, m, rows[m], flush=True)
        shares, scores = [], []
        for draw in range(4):
            env.reset(seed=1_000 + draw)
            *_, info = env.step(env.action_space.sample())
            shares += list(info["exam_type_fraction"])
            scores += list(info["exam_log_perplexity"])
        slope, _ = np.polyfit(np.asarray(shares) * 10, scores, 1)
        explained = float(np.corrcoef(shares, scores)[0, 1] ** 2)
        results[task] = {
            "by_exam_type_count": rows,
            "random_selections": {"r_squared": explained, "slope_per_sentence": float(slope)},
        }
        print(task, results[task]["random_selections"], flush=True)
    return results


# ---------------------------------------------------------------------------------- learn
class _InfoTracker(gym.vector.VectorWrapper):
    """Keeps the per-episode ``info`` of every step, so the sampled selections can be summarised."""

    KEYS = ("exam_type_fraction", "exam_perplexity", "exam_log_perplexity")

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self.infos: list[dict] = []

    def step(self, actions):
        out = self.env.step(actions)
        info = out[-1]
        for index in np.flatnonzero(info.get("_exam_perplexity", [])):
            self.infos.append({key: float(info[key][index]) for key in self.KEYS})
        return out


def _held_out(env: gym.vector.VectorEnv, act) -> dict[str, float]:
    """Mean exam-type share and exam log-perplexity of ``act(obs)`` on the held-out pools."""
    obs, _ = env.reset(seed=HELD_OUT_SEED)
    *_, info = env.step(act(obs))
    return {
        "exam_type_fraction": float(np.mean(info["exam_type_fraction"])),
        "exam_log_perplexity": float(np.mean(info["exam_log_perplexity"])),
    }


def learn_run(task: str, seed: int, updates: int, env_kwargs: dict, agent_kwargs: dict) -> dict:
    """One learning teacher, ``updates`` policy updates; its curve and held-out scores."""
    torch.set_num_threads(1)
    started = time.perf_counter()
    batch = agent_kwargs.get("batch_size", ReinforceTeacher.config_class.batch_size)
    env = gym.make_vec(ENV_IDS[task], num_envs=batch, **env_kwargs)
    held_out = gym.make_vec(ENV_IDS[task], num_envs=HELD_OUT_POOLS, **env_kwargs)
    teacher = ReinforceTeacher(env, seed=seed, verbose=0, **agent_kwargs)
    teacher.set_logger(Logger(formats=()))
    tracker = _InfoTracker(env)

    def greedy(obs):
        return teacher.predict(obs, deterministic=True)

    result = {"task": task, "seed": seed, "greedy_start": _held_out(held_out, greedy)}
    curve = []
    for update in range(1, updates + 1):
        steps = teacher.num_timesteps + batch
        teacher.learn(tracker, steps, reset_num_timesteps=False, progress_bar=False)
        rows, tracker.infos = tracker.infos, []
        curve.append(
            {
                "update": update,
                "episodes": teacher.num_timesteps,
                **{key: float(np.mean([r[key] for r in rows])) for key in _InfoTracker.KEYS},
            }
        )
    result["curve"] = curve
    result["greedy_end"] = _held_out(held_out, greedy)
    result["fixed_teachers"] = {
        name: _held_out(held_out, teacher_class(held_out, seed=0, verbose=0).predict)
        for name, teacher_class in TEACHERS.items()
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"{task} seed {seed}: share {curve[0]['exam_type_fraction']:.2f} -> "
        f"{curve[-1]['exam_type_fraction']:.2f}, {result['seconds']} s",
        flush=True,
    )
    return result


def summarise(runs: list[dict]) -> dict:
    """Per update: mean and 95% t-band over seeds of the sampled selections' scores."""
    summary = {"episodes": [row["episodes"] for row in runs[0]["curve"]]}
    for key in ("exam_type_fraction", "exam_log_perplexity"):
        values = [[row[key] for row in run["curve"]] for run in runs]
        summary[key] = _listed(mean_interval(values))
    for part in ("greedy_start", "greedy_end"):
        values = [
            [run[part]["exam_type_fraction"], run[part]["exam_log_perplexity"]] for run in runs
        ]
        stats = mean_interval(values)
        summary[part] = {
            key: _listed({name: value[i] for name, value in stats.items()})
            for i, key in enumerate(("exam_type_fraction", "exam_log_perplexity"))
        }
    return summary


def learn(
    path: Path,
    tasks: list[str],
    seeds: int,
    updates: int,
    jobs: int,
    env_kwargs: dict,
    agent_kwargs: dict,
) -> dict:
    """Run every missing (task, seed), keeping the finished ones in ``path``; summarise."""
    result = json.loads(path.read_text()) if path.exists() else {}
    settings = {"seeds": seeds, "updates": updates, "env": env_kwargs, "agent": agent_kwargs}
    if result and result.get("settings") != settings:
        raise SystemExit(f"{path} holds runs with other settings; pass --fresh NAME")
    result["settings"] = settings
    runs = result.setdefault("runs", {})
    missing = [(t, s) for t in tasks for s in range(seeds) if str(s) not in runs.get(t, {})]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [
            pool.submit(learn_run, task, seed, updates, env_kwargs, agent_kwargs)
            for task, seed in missing
        ]
        for future in futures:
            run = future.result()
            runs.setdefault(run["task"], {})[str(run["seed"])] = run
            path.write_text(json.dumps(result, indent=1))
    result["summary"] = {
        task: summarise([runs[task][str(s)] for s in range(seeds)])
        for task in tasks
        if len(runs.get(task, {})) >= seeds
    }
    path.write_text(json.dumps(result, indent=1))
    return result


# ----------------------------------------------------------------------------------- plot
def plot(result: dict, path: Path) -> None:
    """Per task: the exam-type share and exam log-perplexity of the sampled selections against
    episodes, every seed thin, the mean with its 95% t-band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(result["summary"])
    fig, axes = plt.subplots(2, len(tasks), figsize=(5.2 * len(tasks), 7), squeeze=False)
    for column, task in enumerate(tasks):
        summary, runs = result["summary"][task], result["runs"][task]
        episodes = summary["episodes"]
        reference = next(iter(runs.values()))["fixed_teachers"]
        for row, key in enumerate(("exam_type_fraction", "exam_log_perplexity")):
            axis = axes[row][column]
            for run in runs.values():
                axis.plot(episodes, [r[key] for r in run["curve"]], color="C0", alpha=0.2, lw=0.8)
            stats = summary[key]
            axis.plot(episodes, stats["mean"], color="C0", label=f"mean of {len(runs)} seeds")
            axis.fill_between(
                episodes,
                stats["low"],
                stats["high"],
                color="C0",
                alpha=0.25,
                label="95% t-interval",
            )
            for name, style in (("oracle", "--"), ("random", ":")):
                axis.axhline(
                    reference[name][key],
                    color="grey",
                    linestyle=style,
                    label=f"{name} teacher (held-out pools)",
                )
            axis.set(xlabel="episodes (selections)", title=ENV_IDS[task])
            if row == 0:
                axis.set_ylim(-0.02, 1.05)
            axis.set_ylabel(
                "exam-type share of selections" if row == 0 else "students' exam log-perplexity"
            )
            axis.grid(alpha=0.3)
            axis.legend(fontsize=7)
    fig.suptitle(
        "reinforce-teacher: own PoolEncoder features, Plackett-Luce log-probability,\n"
        "whitened advantages, log-perplexity reward (sampled selections per update)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["baselines", "probe", "signal", "learn", "plot"])
    parser.add_argument("--task", choices=[*ENV_IDS, "both"], default="both")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--fresh", default=None, help="write <FRESH>.json/.png instead")
    parser.add_argument(
        "--env-kwargs",
        type=json.loads,
        default={"embedding": "bag"},
        help="env keywords (JSON); the default bag embedding only skips loading baby-en, "
        "which the teacher's own encoder does not read",
    )
    parser.add_argument("--agent-kwargs", type=json.loads, default={}, help="teacher config")
    add_output_options(parser)
    args = parser.parse_args()
    folder = output_dir(args)
    torch.set_num_threads(1)
    if args.part == "baselines":
        (folder / "teacher_baselines.json").write_text(json.dumps(baselines(args.seeds), indent=1))
    elif args.part == "probe":
        (folder / "teacher_feature_probe.json").write_text(json.dumps(probe(), indent=1))
    elif args.part == "signal":
        result = signal(args.env_kwargs)
        (folder / "teacher_signal.json").write_text(json.dumps(result, indent=1))
    else:
        name = args.fresh or "teacher_learning"
        tasks = list(ENV_IDS) if args.task == "both" else [args.task]
        path = folder / f"{name}.json"
        if args.part == "learn":
            result = learn(
                path, tasks, args.seeds, args.updates, args.jobs, args.env_kwargs, args.agent_kwargs
            )
        else:
            result = json.loads(path.read_text())
        if result.get("summary"):
            plot(result, folder / f"{name}.png")


if __name__ == "__main__":
    main()
