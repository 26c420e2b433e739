"""Where the runs of a track execute: in this process, in a local process pool, or on Ray.

Each backend takes the pending :class:`~lm_gym.baselines.tracks.RunSpec` list and yields
``(spec, outcome, error)`` as runs finish (``error`` is ``None`` on success), in completion
order. All of them call :func:`~lm_gym.baselines.runner.execute_run`, which seeds the
generators and pins torch to one thread itself, so a run's numbers do not depend on the
backend; only the driver writes result files.

Pool workers die with their driver: each watches its parent process and exits as soon as the
driver is gone (killed, even with ``SIGKILL``), and a driver that stops early (an error, an
interrupt) kills its workers instead of waiting for their runs. A worker left running would go
on writing logs into a folder that the next driver hands to a new attempt of the same run.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time
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


PARENT_POLL_SECONDS = 0.5
"""How often a pool worker checks that its driver is still alive."""


def _exit_when_orphaned(driver_pid: int) -> None:
    """Exit this process at once when its parent is no longer ``driver_pid`` (it died)."""
    while os.getppid() == driver_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)  # no clean-up: the run is abandoned, and its next attempt starts afresh


def _init_worker(driver_pid: int) -> None:
    """Pool worker start-up: one torch thread (the workers share the machine's cores), and a
    watcher thread that ends the worker when the driver dies."""
    torch.set_num_threads(1)
    if os.getppid() != driver_pid:  # the driver died while this worker was starting
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(driver_pid,), daemon=True).start()


def _kill_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop the pool's workers now, abandoning their runs (shutdown would wait for them)."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14+
    if kill is not None:
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def run_pool(pending: list[RunSpec], artifacts_dir: Path, workers: int) -> Iterator[Finished]:
    """The runs in ``workers`` spawned processes (spawn: no forked torch or CUDA state).

    Closing the iterator before every run has finished (the driver failed or was interrupted)
    kills the workers.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(os.getpid(),),
    ) as pool:
        futures = {pool.submit(execute_run, spec, artifacts_dir): spec for spec in pending}
        finished = False
        try:
            for future in concurrent.futures.as_completed(futures):
                error = future.exception()
                yield futures[future], None if error else future.result(), error
            finished = True
        finally:
            if not finished:
                _kill_workers(pool)


def run_ray(pending: list[RunSpec], address: str) -> Iterator[Finished]:
    """The runs as Ray tasks (one CPU each) on the cluster at ``address``.

    Workers keep their logs and saved agents in temporary folders (they may be other
    machines); the outcome, curve included, comes back to the driver. No cluster at
    ``address`` is a ``ValueError`` naming ``--ray`` (``"local"`` starts a private one). The
    cluster's Python environments need lm_gym installed. An existing ``ray.init`` connection of
    this process is reused (and left open); otherwise this connects and disconnects at the end.
    Ray is an optional extra (``pip install 'lm_gym[ray]'``), imported here only.
    """
    import ray

    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as error:
            raise ValueError(
                f"--ray {address}: no running Ray cluster found there; start one "
                "(ray start --head), give the address of a running one, or pass --ray local "
                "to start a private one on this machine"
            ) from error
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
