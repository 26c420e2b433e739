"""Run a data-parallel scenario on several CPU processes (gloo), as torchrun would.

``run_ranks("name", 2, folder)`` starts two Python processes with torchrun's variables
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); each joins the
process group with :func:`lm_gym.utils.distributed.init_distributed`, calls
``parallel_scenarios.<name>(folder)`` on one torch thread and saves what it returns to
``folder/rank<r>.pt``; the results come back in rank order. Starting the processes directly
skips torchrun's own start-up (a second or two per launch), and a failing rank's stderr is
shown in the error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

TESTS = Path(__file__).resolve().parent
TIMEOUT = 600
"""Seconds a launch may take before its ranks are killed (a hang is a failure, not a wait)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_ranks(scenario: str, world_size: int, folder: Path) -> list[Any]:
    """Run ``parallel_scenarios.<scenario>(folder)`` on ``world_size`` ranks; their results.

    Raises:
        RuntimeError: when a rank fails or the launch times out, with the ranks' stderr.
    """
    port = _free_port()
    processes = []
    for rank in range(world_size):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "LOCAL_WORLD_SIZE": str(world_size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        }
        log = open(folder / f"rank{rank}.log", "w")  # noqa: SIM115  (closed below)
        command = [sys.executable, str(Path(__file__)), scenario, str(folder)]
        processes.append((subprocess.Popen(command, env=env, stderr=log, stdout=log), log))
    failed = False
    for process, log in processes:
        try:
            failed |= process.wait(timeout=TIMEOUT) != 0
        except subprocess.TimeoutExpired:
            failed = True
        log.close()
    if failed:
        for process, _ in processes:
            process.kill()
        logs = "\n".join(
            f"--- rank {r} ---\n" + (folder / f"rank{r}.log").read_text()[-3000:]
            for r in range(world_size)
        )
        raise RuntimeError(f"scenario {scenario!r} failed on {world_size} ranks:\n{logs}")
    return [
        torch.load(folder / f"rank{r}.pt", weights_only=False)  # the test's own files
        for r in range(world_size)
    ]


def _main(scenario: str, folder: str) -> None:
    import parallel_scenarios
    import torch.distributed as dist

    from lm_gym.utils.distributed import init_distributed, rank

    torch.set_num_threads(1)
    init_distributed("cpu")
    result = getattr(parallel_scenarios, scenario)(Path(folder))
    torch.save(result, Path(folder) / f"rank{rank()}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    _main(*sys.argv[1:3])
