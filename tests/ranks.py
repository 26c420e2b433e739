"""Run a data-parallel scenario on several CPU processes (gloo), as torchrun would.

``run_ranks("name", 2, folder)`` starts two Python processes with torchrun's variables
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); each joins the
process group with :func:`lm_gym.utils.distributed.init_distributed`, calls
``parallel_scenarios.<name>(folder)`` on one torch thread and saves what it returns to
``folder/rank<r>.pt``; the results come back in rank order. Starting the processes directly
skips torchrun's own start-up (a second or two per launch), and a failing rank's stderr is
shown in the error.

``serve_ranks("name", 2, folder)`` keeps the ranks running for a benchmark:
``parallel_scenarios.<name>(folder)`` returns a step function, and every ``step()`` of the
returned :class:`ServingRanks` has each rank call it once (the ranks' collectives keep them
together) and waits for all of them, so its time is one step of the whole group.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
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


def _start(
    mode: str, scenario: str, world_size: int, folder: Path, independent: bool = False
) -> list[subprocess.Popen]:
    """Start the ranks; their stderr goes to ``folder/rank<r>.log``. ``independent`` starts
    ``world_size`` processes that are each a group of one (no collective joins them)."""
    port = _free_port()
    processes = []
    for rank in range(world_size):
        group_rank, group_size = (0, 1) if independent else (rank, world_size)
        env = {
            **os.environ,
            "RANK": str(group_rank),
            "LOCAL_RANK": str(group_rank),
            "WORLD_SIZE": str(group_size),
            "LOCAL_WORLD_SIZE": str(group_size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port() if independent else port),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        }
        with open(folder / f"rank{rank}.log", "w") as log:
            command = [sys.executable, str(Path(__file__)), mode, scenario, str(folder)]
            pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
            processes.append(
                subprocess.Popen(
                    command, env=env, stderr=log, **(pipes if mode == "serve" else {"stdout": log})
                )
            )
    return processes


def _failure(scenario: str, processes: list[subprocess.Popen], folder: Path) -> RuntimeError:
    for process in processes:
        process.kill()
    logs = "\n".join(
        f"--- rank {r} ---\n" + (folder / f"rank{r}.log").read_text()[-3000:]
        for r in range(len(processes))
    )
    return RuntimeError(f"scenario {scenario!r} failed on {len(processes)} ranks:\n{logs}")


def run_ranks(scenario: str, world_size: int, folder: Path, timeout: float = TIMEOUT) -> list[Any]:
    """Run ``parallel_scenarios.<scenario>(folder)`` on ``world_size`` ranks; their results.

    ``scenario`` may also name a function of another module of ``tests/`` as
    ``"module:function"``; ``timeout`` (seconds) bounds the launch, so a hang fails fast.

    Raises:
        RuntimeError: when a rank fails or the launch times out, with the ranks' stderr.
    """
    processes = _start("run", scenario, world_size, folder)
    failed, deadline = False, time.monotonic() + timeout
    for process in processes:
        try:
            failed |= process.wait(timeout=max(0.0, deadline - time.monotonic())) != 0
        except subprocess.TimeoutExpired:
            failed = True
    if failed:
        raise _failure(scenario, processes, folder)
    return [
        torch.load(folder / f"rank{r}.pt", weights_only=False)  # the test's own files
        for r in range(world_size)
    ]


class ServingRanks:
    """Ranks that each run one step whenever :meth:`step` asks (see the module docstring)."""

    def __init__(
        self, scenario: str, world_size: int, folder: Path, independent: bool = False
    ) -> None:
        self.scenario, self.folder = scenario, folder
        self.processes = _start("serve", scenario, world_size, folder, independent)

    def step(self) -> list[Any]:
        """One step on every rank; each rank's (JSON) result."""
        for process in self.processes:
            process.stdin.write("step\n")
            process.stdin.flush()
        results = []
        for process in self.processes:
            line = process.stdout.readline()
            if not line.startswith("@@ "):
                raise _failure(self.scenario, self.processes, self.folder)
            results.append(json.loads(line[3:]))
        return results

    def close(self) -> None:
        """Let the ranks finish."""
        for process in self.processes:
            process.stdin.close()
        for process in self.processes:
            process.wait(timeout=TIMEOUT)

    def __enter__(self) -> ServingRanks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_ranks(
    scenario: str, world_size: int, folder: Path, independent: bool = False
) -> ServingRanks:
    """Start ``world_size`` ranks serving the step function ``parallel_scenarios.<scenario>``
    returns (use as a context manager); with ``independent`` they are that many separate
    one-process groups stepped together (a machine's ceiling for data parallelism)."""
    return ServingRanks(scenario, world_size, folder, independent)


def _main(mode: str, scenario: str, folder: str) -> None:
    import importlib

    from lm_gym.utils.distributed import init_distributed, rank, shutdown_distributed

    torch.set_num_threads(1)
    init_distributed("cpu")
    module, _, name = scenario.rpartition(":")
    function = getattr(importlib.import_module(module or "parallel_scenarios"), name)
    result = function(Path(folder))
    if mode == "serve":
        for _ in sys.stdin:  # one line a step; the loop ends when the test closes stdin
            print("@@", json.dumps(result()), flush=True)
    else:
        torch.save(result, Path(folder) / f"rank{rank()}.pt")
    shutdown_distributed()
    # The rank's work is done and saved: skip the interpreter's teardown, where libtorch
    # sometimes aborts a gloo rank after everything succeeded ("terminate called without an
    # active exception", no Python frame). Launches of parallel_stops:everything that failed
    # so: 4 of 20 destroying the group without a barrier, 2 of 70 with it, 0 of 60 since.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    _main(*sys.argv[1:4])
