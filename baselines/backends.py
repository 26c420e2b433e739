"""Where the runs of a track execute: in this process, in a local process pool, or on Ray.

Each backend takes the pending :class:`~lm_gym.baselines.tracks.RunSpec` list and yields
``(spec, outcome, error)`` as runs finish (``error`` is ``None`` on success), in completion
order. All of them call :func:`~lm_gym.baselines.runner.execute_run`, which seeds the
generators and pins torch to one thread itself, so a run's numbers do not depend on the
backend; only the driver writes result files.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lm_gym.baselines.runner import execute_run
from lm_gym.baselines.tracks import RunSpec

Finished = tuple[RunSpec, dict[str, Any] | None, BaseException | None]


def run_serial(pending: list[RunSpec], artifacts_dir: Path) -> Iterator[Finished]:
    """One run after the other in this process."""
    for spec in pending:
        try:
            yield spec, execute_run(spec, artifacts_dir), None
        except Exception as error:  # one failed run must not lose the others
            yield spec, None, error


def _init_worker() -> None:
    """Pool worker start-up: one torch thread (the workers share the machine's cores)."""
    torch.set_num_threads(1)


def run_pool(pending: list[RunSpec], artifacts_dir: Path, workers: int) -> Iterator[Finished]:
    """The runs in ``workers`` spawned processes (spawn: no forked torch or CUDA state)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker
    ) as pool:
        futures = {pool.submit(execute_run, spec, artifacts_dir): spec for spec in pending}
        try:
            for future in concurrent.futures.as_completed(futures):
                error = future.exception()
                yield futures[future], None if error else future.result(), error
        finally:
            for future in futures:
                future.cancel()


def run_ray(pending: list[RunSpec], address: str) -> Iterator[Finished]:
    """The runs as Ray tasks (one CPU each) on the cluster at ``address``.

    Workers keep their logs and saved agents in temporary folders (they may be other
    machines); the outcome, curve included, comes back to the driver. The cluster's Python
    environments need lm_gym installed. An existing ``ray.init`` connection of this process is
    reused (and left open); otherwise this connects and disconnects at the end. Ray is an
    optional extra (``pip install 'lm_gym[ray]'``), imported here only.
    """
    import ray

    connected_here = not ray.is_initialized()
    if connected_here:
        ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(execute_run)
        refs = {task.remote(spec, None): spec for spec in pending}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            spec = refs.pop(done[0])
            try:
                yield spec, ray.get(done[0]), None
            except ray.exceptions.RayError as error:
                yield spec, None, error
    finally:
        if connected_here:
            ray.shutdown()
