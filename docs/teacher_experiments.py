"""The teacher experiments of ter Hoeve et al. (2022) on lm_gym's teacher envs (docs figures).

Two parts, both at the paper's sizes (pool 100, exam 10, budget 10; 400 student updates on
Task 1, 300 on Task 2):

* ``baselines``: the fixed teachers (oracle, random, worst case) over several seeds on
  ``TeacherDomains-v0`` and ``TeacherStructures-v0``; prints mean and standard deviation of
  the students' exam perplexity next to the paper's Table 2 (best seed).
* ``learn``: the learning teacher (``reinforce-teacher``) on each task; records after every
  policy update the exam-type fraction and exam perplexity of its sampled selections, and of
  its greedy (top-k) selection on four fixed held-out pools, and writes
  ``teacher_<task>.png`` (with the fixed teachers' perplexity on those pools);
* ``plot``: redraws a saved curve.

Files go to ``runs/docs`` (``--update-docs``: into ``docs/``, replacing the committed ones).
Examples::

    python docs/teacher_experiments.py baselines --seeds 5 --update-docs
    python docs/teacher_experiments.py learn --task domains --updates 40 --update-docs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from outputs import add_output_options, output_dir  # same folder

import lm_gym.registration  # noqa: F401  (registers the teacher envs)
from lm_gym.agents import (
    Logger,
    OracleTeacher,
    RandomAgent,
    ReinforceTeacher,
    WorstCaseTeacher,
)

ENV_IDS = {"domains": "TeacherDomains-v0", "structures": "TeacherStructures-v0"}
PAPER = {
    "domains": {"oracle": 14.99, "random": 160.9, "worst": 4.78e4},
    "structures": {"oracle": 6.82, "random": 119.0, "worst": 299.6},
}
"""Table 2 of the paper: exam perplexity of the best seed."""
TEACHERS = {"oracle": OracleTeacher, "random": RandomAgent, "worst": WorstCaseTeacher}


def baselines(seeds: int, env_kwargs: dict) -> dict:
    """Mean/std exam perplexity of each fixed teacher, one episode per seed and task."""
    results: dict = {}
    for task, env_id in ENV_IDS.items():
        env = gym.make(env_id, **env_kwargs)
        for name, teacher_class in TEACHERS.items():
            scores = []
            for seed in range(seeds):
                teacher = teacher_class(env, seed=seed, verbose=0)
                obs, _ = env.reset(seed=seed)
                _, reward, *_ = env.step(teacher.predict(obs))
                scores.append(-reward)
            results.setdefault(task, {})[name] = {
                "mean": float(np.mean(scores)),
                "std": float(np.std(scores)),
                "per_seed": scores,
                "paper_best_seed": PAPER[task][name],
            }
            print(f"{task:10s} {name:6s} {np.mean(scores):10.2f} +- {np.std(scores):8.2f}", end="")
            print(f"   (paper, best seed: {PAPER[task][name]})", flush=True)
    return results


def fixed_teacher_perplexities(task: str, env_kwargs: dict) -> dict[str, float]:
    """Mean exam perplexity of each fixed teacher on the held-out pools the greedy curve uses."""
    env = gym.make_vec(ENV_IDS[task], num_envs=4, **env_kwargs)
    out = {}
    for name, teacher_class in TEACHERS.items():
        obs, _ = env.reset(seed=10_000)
        _, reward, *_ = env.step(teacher_class(env, seed=0, verbose=0).predict(obs))
        out[name] = float(np.mean(-reward))
    return out


def greedy_selection(env: gym.vector.VectorEnv, teacher: ReinforceTeacher) -> tuple[float, float]:
    """Mean exam-type fraction and exam perplexity of the policy's top-k picks on the same
    held-out pools every time (one per sub-env)."""
    obs, _ = env.reset(seed=10_000)
    _, reward, *_, info = env.step(teacher.predict(obs, deterministic=True))
    return float(np.mean(info["exam_type_fraction"])), float(np.mean(-reward))


def learn(task: str, updates: int, seed: int, env_kwargs: dict, agent_kwargs: dict) -> dict:
    """Train the learning teacher; record the sampled and greedy selections per update."""
    batch_size = agent_kwargs.get("batch_size", ReinforceTeacher.config_class.batch_size)
    env = gym.make_vec(ENV_IDS[task], num_envs=batch_size, **env_kwargs)
    eval_env = gym.make_vec(ENV_IDS[task], num_envs=4, **env_kwargs)
    teacher = ReinforceTeacher(env, seed=seed, verbose=0, **agent_kwargs)
    teacher.set_logger(Logger(formats=()))
    curve: list[dict] = []
    batch: list[dict] = []
    started = time.perf_counter()

    def record(update: int) -> None:
        greedy_fraction, greedy_ppl = greedy_selection(eval_env, teacher)
        row = {
            "update": update,
            "episodes": teacher.num_timesteps,
            "sampled_exam_type_fraction": float(np.mean([i["exam_type_fraction"] for i in batch]))
            if batch
            else None,
            "sampled_exam_perplexity": float(np.mean([i["exam_perplexity"] for i in batch]))
            if batch
            else None,
            "greedy_exam_type_fraction": greedy_fraction,
            "greedy_exam_perplexity": greedy_ppl,
            "seconds": round(time.perf_counter() - started, 1),
        }
        curve.append(row)
        batch.clear()
        print(json.dumps(row), flush=True)

    record(0)
    for update in range(1, updates + 1):
        steps = teacher.num_timesteps + teacher.config.batch_size
        tracker = _InfoTracker(env)
        teacher.learn(tracker, steps, reset_num_timesteps=False, progress_bar=False)
        batch.extend(tracker.infos)
        record(update)
    references = fixed_teacher_perplexities(task, env_kwargs)
    return {"task": task, "seed": seed, "curve": curve, "fixed_teachers": references}


class _InfoTracker(gym.vector.VectorWrapper):
    """Keeps the per-episode ``info`` of every step, so the sampled selections can be summarised."""

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self.infos: list[dict] = []

    def step(self, actions):
        out = self.env.step(actions)
        info = out[-1]
        for index in np.flatnonzero(info.get("_exam_perplexity", [])):
            self.infos.append(
                {key: info[key][index] for key in ("exam_type_fraction", "exam_perplexity")}
            )
        return out


def plot(result: dict, path: Path, fraction_goal: float = 0.9) -> None:
    """Exam-type fraction and exam perplexity against episodes, sampled and greedy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    episodes = [row["episodes"] for row in curve]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (("sampled", "sampled selections"), ("greedy", "greedy top-k")):
        rows = [
            (e, r) for e, r in zip(episodes, curve) if r[f"{key}_exam_type_fraction"] is not None
        ]
        left.plot(
            [e for e, _ in rows], [r[f"{key}_exam_type_fraction"] for _, r in rows], label=label
        )
        right.plot(
            [e for e, _ in rows], [r[f"{key}_exam_perplexity"] for _, r in rows], label=label
        )
    left.axhline(fraction_goal, color="grey", linestyle=":", label=f"{fraction_goal}")
    for name, style in (("oracle", "--"), ("random", ":")):
        value = result["fixed_teachers"][name]
        right.axhline(value, color="grey", linestyle=style, label=f"{name} teacher (greedy pools)")
    left.set(
        xlabel="episodes (selections)", ylabel="fraction of exam-type sentences", ylim=(0, 1.02)
    )
    right.set(xlabel="episodes (selections)", ylabel="students' exam perplexity")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(f"reinforce-teacher on {ENV_IDS[result['task']]} (seed {result['seed']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["baselines", "learn", "plot"])
    parser.add_argument("--task", choices=sorted(ENV_IDS), default="domains")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--env-kwargs", type=json.loads, default={})
    parser.add_argument("--agent-kwargs", type=json.loads, default={})
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--name", default=None, help="output name (default teacher_<task>)")
    add_output_options(parser)
    args = parser.parse_args()
    folder = output_dir(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part == "baselines":
        result = baselines(args.seeds, args.env_kwargs)
        (folder / "teacher_baselines.json").write_text(json.dumps(result, indent=2))
    name = args.name or f"teacher_{args.task}"
    if args.part == "plot":  # redraw a saved curve (adding the fixed teachers' lines)
        path = folder / f"{name}.json"
        result = json.loads(path.read_text())
        if "fixed_teachers" not in result:
            result["fixed_teachers"] = fixed_teacher_perplexities(args.task, args.env_kwargs)
            path.write_text(json.dumps(result, indent=2))
        plot(result, folder / f"{name}.png")
    elif args.part == "learn":
        result = learn(args.task, args.updates, args.seed, args.env_kwargs, args.agent_kwargs)
        (folder / f"{name}.json").write_text(json.dumps(result, indent=2))
        plot(result, folder / f"{name}.png")


if __name__ == "__main__":
    main()
