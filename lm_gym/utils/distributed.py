"""Data-parallel training: torchrun's process group and the collectives lm_gym uses.

``torchrun --nproc_per_node N`` (``python -m torch.distributed.run``) starts N processes with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set;
:func:`init_distributed` joins the group they describe, with gloo on the CPU and NCCL on CUDA
(each process then uses GPU ``LOCAL_RANK``). Several machines are torchrun's own business
(``--nnodes``, ``--rdzv-endpoint``): nothing here depends on where the ranks run.

Every other function works in any process. Without a process group (one plain process) the rank
is 0, the world size 1, a reduction returns its input untouched and a gather a list of one, so
the training code calls them unconditionally and one process computes exactly what it computed
before data parallelism existed. The agents use them to keep the ranks in lock step: gradients
are summed in one flat all-reduce (as CleanRL's ``ppo_atari_multigpu.py`` does, rather than
wrapping the model in DDP, whose hooks would also fire on the CLM updates and reference passes),
and every statistic that steers training is computed from what all ranks collected.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from lm_gym.utils.device import resolve_device

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""What torchrun sets in every process it starts."""

T = TypeVar("T")


def launched_world_size() -> int:
    """The number of processes torchrun started for this run (``WORLD_SIZE``; 1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: str | torch.device | None = None) -> int:
    """Join the process group torchrun describes; returns the world size.

    Nothing happens in a process that torchrun did not start with several ranks, or when a
    process group exists already (the caller made its own).

    Args:
        device: the device training will use (``None``: lm_gym's default). CUDA selects NCCL
            and makes GPU ``LOCAL_RANK`` this process's current device, so ``"cuda"`` means
            a different GPU on every rank; anything else selects gloo.

    Raises:
        ValueError: when torchrun's variables are incomplete, or a rank has no GPU of its own.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    size = launched_world_size()
    if size <= 1:
        return 1
    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={size} but {missing} are not set: start data-parallel runs with "
            "torchrun (or lm-gym run --nproc N), which sets them all"
        )
    if resolve_device(device).type == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise ValueError(
                f"local rank {local} has no GPU of its own ({torch.cuda.device_count()} "
                "visible): start at most one process per GPU on each machine"
            )
        torch.cuda.set_device(local)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    else:
        dist.init_process_group("gloo")
    return size


def world_size() -> int:
    """Processes in the process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """True on rank 0, the one process that prints, logs and writes files."""
    return rank() == 0


def _collective_device() -> torch.device:
    """Where tensors must be for the group's collectives: the current GPU under NCCL."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Replace ``tensor`` by its sum over all ranks (in place); returns it."""
    if world_size() == 1:
        return tensor
    work = tensor.to(_collective_device())
    dist.all_reduce(work)
    if work is not tensor:
        tensor.copy_(work)
    return tensor


def all_reduce_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Sum the gradients of ``parameters`` over all ranks, in one flat all-reduce.

    Callers scale their losses so that the sum is the gradient of the whole batch. A parameter
    without a gradient on some rank (that rank had no rows in this minibatch) counts as zeros
    there; one without a gradient on every rank keeps ``None``, so the optimizer skips it as
    it would in one process.
    """
    if world_size() == 1:
        return
    params = [p for p in parameters if p.requires_grad]
    if not params:
        return
    device = _collective_device()
    pieces = [
        (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float().to(device)
        for p in params
    ]
    flags = torch.tensor([float(p.grad is not None) for p in params], device=device)
    flat = torch.cat([*pieces, flags])
    dist.all_reduce(flat)
    sums = flat[-len(params) :].tolist()
    offset = 0
    for param, present in zip(params, sums):
        chunk = flat[offset : offset + param.numel()].view_as(param)
        offset += param.numel()
        if not present:
            param.grad = None
        elif param.grad is None:
            param.grad = chunk.to(param.device, param.dtype).clone()
        else:
            param.grad.copy_(chunk)


def all_gather_objects(obj: T) -> list[T]:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process).

    For small data (statistics, generator states): objects travel pickled between the ranks
    of one run, and CUDA tensors must be moved to the CPU first.
    """
    if world_size() == 1:
        return [obj]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def gather_rows(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], slice]:
    """Concatenate per-episode arrays over ranks; also this rank's rows in the result.

    Every array of one rank has one row per episode of that rank. A key that some ranks lack
    (an episode-end info no episode of theirs reported) is filled with NaN there.

    Returns:
        ``(arrays of all ranks in rank order, the slice of this rank's rows)``; in one process
        ``arrays`` itself and ``slice(0, rows)``.
    """
    rows = len(next(iter(arrays.values()))) if arrays else 0
    if world_size() == 1:
        return arrays, slice(0, rows)
    parts = all_gather_objects((rows, arrays))
    keys = list(dict.fromkeys(key for _, part in parts for key in part))
    merged = {
        key: np.concatenate(
            [part[key] if key in part else np.full(count, np.nan) for count, part in parts]
        )
        for key in keys
    }
    start = sum(count for count, _ in parts[: rank()])
    return merged, slice(start, start + rows)


def broadcast_module(module: nn.Module) -> None:
    """Give every rank rank 0's parameters and buffers (a no-op in one process)."""
    if world_size() == 1:
        return
    device = _collective_device()
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        work = tensor.detach().to(device)
        dist.broadcast(work, src=0)
        if work is not tensor:
            with torch.no_grad():
                tensor.copy_(work)


def run_on_main_process(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function`` on rank 0 only; every rank returns its result or raises its error.

    For the work one process must do for all (preparing the output folder), with the outcome
    shared, so no rank goes on after rank 0 failed.
    """
    if world_size() == 1:
        return function(*args, **kwargs)
    outcome: list[Any] = [None]
    if is_main_process():
        try:
            outcome = [(True, function(*args, **kwargs))]
        except Exception as error:
            dist.broadcast_object_list([(False, error)], src=0)
            raise
    dist.broadcast_object_list(outcome, src=0)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def agree(flag: bool) -> bool:
    """True when ``flag`` is true on every rank."""
    if world_size() == 1:
        return flag
    votes = all_reduce_sum(torch.tensor([0.0 if flag else 1.0]))
    return votes.item() == 0


def launch(nproc: int, module: str, arguments: Sequence[str]) -> int:
    """Run ``python -m module *arguments`` in ``nproc`` processes on this machine (torchrun);
    returns its exit code (0 when every rank succeeded)."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        module,
        *arguments,
    ]
    return subprocess.call(command)
