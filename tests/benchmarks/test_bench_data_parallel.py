"""PPO training throughput on 2 data-parallel ranks against 1, one torch thread each.

Each side is a set of rank processes (``tests/ranks.py``, gloo on the CPU) kept running for the
whole measurement; one benchmark round is one PPO iteration of all of them on Bambino-v0:
``NUM_ENVS`` episodes of exactly ``NEW_TOKENS`` tokens per rank (so 2 ranks train on twice
the tokens per iteration, as data parallelism with ``num_envs`` per rank does), PPO's defaults
(4 epochs of 4 minibatches, adaptive KL), the default baby and parent. Throughput is tokens per
iteration over the median iteration time, put in each side's ``extra_info``
(``tokens_per_second``), with the median seconds of every phase on rank 0 (collection, waiting
for the other rank after it, scoring, gathering, gradient all-reduces), wall-clock and CPU.

Run with ``make bench`` (or ``pytest tests/benchmarks/test_bench_data_parallel.py
--benchmark-enable``); the group is ``data_parallel_ppo`` with params ``1`` and ``2``; the
claim is the ratio of the two sides' ``tokens_per_second``, reported in the README with the
machine's load. A third side, ``2-alone``, runs two independent one-process trainings at once
(no collective between them): its ratio to ``1`` is what the machine itself allows two
processes, the ceiling the data-parallel ratio can reach there. Without
``--benchmark-enable`` each side runs one small iteration on the micro recipes, as a plain
test.
"""

from __future__ import annotations

import json
import statistics

import gymnasium as gym
import pytest
from ranks import serve_ranks
from support import MICRO_MODELS

import lm_gym.registration  # noqa: F401  (registers Bambino-v0)

NUM_ENVS, NEW_TOKENS, ROUNDS = 32, 32, 8
DEFAULT_MODELS = {"baby_model": "baby-en", "parent_model": "parent-it", "device": "cpu"}


@pytest.mark.benchmark(group="data_parallel_ppo")
@pytest.mark.parametrize(
    ("processes", "independent"), [(1, False), (2, False), (2, True)], ids=["1", "2", "2-alone"]
)
def test_ppo_throughput(benchmark, processes, independent, tmp_path):
    full = not benchmark.disabled
    models = DEFAULT_MODELS if full else MICRO_MODELS
    num_envs, new_tokens = (NUM_ENVS, NEW_TOKENS) if full else (4, 4)
    gym.make_vec("Bambino-v0", num_envs=1, **models)  # build the recipes here, not per rank
    settings = {"models": models, "num_envs": num_envs, "new_tokens": new_tokens}
    (tmp_path / "bench.json").write_text(json.dumps(settings))
    results = []
    with serve_ranks("ppo_throughput", processes, tmp_path, independent) as ranks:
        ranks.step()  # warm-up outside the timing (first-call allocations)
        benchmark.pedantic(lambda: results.append(ranks.step()), rounds=ROUNDS, iterations=1)
    tokens = processes * num_envs * new_tokens
    per_group = tokens // processes if independent else tokens
    assert all(result["tokens"] == per_group for step in results for result in step)
    if full:
        benchmark.extra_info["tokens_per_iteration"] = tokens
        benchmark.extra_info["tokens_per_second"] = tokens / benchmark.stats["median"]
        for clock in ("wall", "cpu"):
            phases = results[0][0][clock]
            benchmark.extra_info[f"rank0_{clock}_seconds"] = {
                phase: statistics.median(step[0][clock].get(phase, 0.0) for step in results)
                for phase in phases
            }
