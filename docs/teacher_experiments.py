"""Analyses behind the teacher experiments of ter Hoeve et al. (2022) (docs figures).

The experiments themselves (the fixed teachers and the learning teacher on Task 1 and Task 2,
5 seeds, learning curves of the exam-type share with 95% bands) are the ``teachers`` track:
``lm-gym leaderboard --track teachers --out docs/teachers --workers 2``. Two analyses stay
here, at the paper's sizes (pool 100, exam 10, budget 10), on one torch thread:

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

Files go to ``runs/docs`` (``--update-docs``: into ``docs/``, replacing the committed ones).
What the README reports::

    python docs/teacher_experiments.py probe --update-docs
    python docs/teacher_experiments.py signal --update-docs \
        --env-kwargs '{"embedding": "bag", "num_students": 2}'
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch
from outputs import add_output_options, output_dir  # same folder

import lm_gym.registration  # noqa: F401  (registers the teacher envs)
from lm_gym.agents import PoolEncoder
from lm_gym.envs.teacher_embeddings import SentenceEmbedder
from lm_gym.envs.teacher_tasks import build_task_source, draw_task

ENV_IDS = {"domains": "TeacherDomains-v0", "structures": "TeacherStructures-v0"}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["probe", "signal"])
    parser.add_argument(
        "--env-kwargs",
        type=json.loads,
        default={"embedding": "bag"},
        help="env keywords (JSON) of the signal part",
    )
    add_output_options(parser)
    args = parser.parse_args()
    folder = output_dir(args)
    torch.set_num_threads(1)
    if args.part == "probe":
        (folder / "teacher_feature_probe.json").write_text(json.dumps(probe(), indent=1))
    else:
        result = signal(args.env_kwargs)
        (folder / "teacher_signal.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
