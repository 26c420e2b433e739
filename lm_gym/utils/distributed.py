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

**Meeting points.** Each rank collects its episodes on its own, yet steps that every rank takes
together can fall within a collection (the CLM updates of ``CLMAlternation``, whose gradients
are summed over ranks), and a rank can end its collection early on its own (its share of a
word budget refused an env step, its callback asked to stop). Both places therefore meet the
other ranks with the same collective, which tells every rank where the others are:
:func:`meet_before_joint_step` returns only when every rank is at that step, and raises
:class:`PeerStopped` when a rank has ended its collection instead (no rank then takes the
step); :func:`meet_after_collection` waits out such ranks and sums the steps. So no rank ever
enters a collective that another rank does not (a hang, or two different reductions summed
into each other).
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
    global _OWN_GROUP
    _OWN_GROUP = True
    return size


_OWN_GROUP = False
"""Whether :func:`init_distributed` created the process group (so :func:`shutdown_distributed`
may destroy it)."""


def shutdown_distributed() -> None:
    """Leave the process group :func:`init_distributed` created, once every rank is done.

    The ranks meet at a barrier (so none tears down while another is still in a collective),
    then the group is destroyed. A rank that exits with the group alive can be aborted by the
    C++ runtime while gloo's threads still run ("terminate called without an active
    exception", exit code -6: twice in 13 runs of the test of ``lm-gym run --nproc 2``). A
    group the caller made itself is left alone.
    """
    global _OWN_GROUP
    if not (_OWN_GROUP and dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    _OWN_GROUP = False


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


class PeerStopped(Exception):
    """Raised instead of a joint step (:func:`meet_before_joint_step`) when another rank has
    already ended its collection without it: no rank takes the step, and this rank ends its
    collection too, as if it had stopped itself (``BaseAgent.learn`` treats it so)."""


_AT_COLLECTION_END, _AT_JOINT_STEP = 0, 1
"""Where a rank is when it meets the others (the first column of :func:`_meet`'s table)."""


def _meet(place: int, steps: int, collected: bool, go_on: bool, joint_step: int) -> torch.Tensor:
    """Every rank's ``(place, steps, collected, go_on, joint_step)``, one row a rank, in rank
    order: one all-gather of a few integers, the same collective at every meeting point."""
    own = torch.tensor(
        [place, steps, int(collected), int(go_on), joint_step],
        dtype=torch.int64,
        device=_collective_device(),
    )
    rows = [torch.empty_like(own) for _ in range(world_size())]
    dist.all_gather(rows, own)
    return torch.stack(rows).cpu()


def _check_in_step(table: torch.Tensor) -> None:
    """Raise, on every rank alike (all read the same table), when the ranks cannot meet again:
    they are at different joint steps, or one is at a joint step while another ended its
    collection with a whole batch."""
    joint = table[:, 0] == _AT_JOINT_STEP
    finished = ~joint & (table[:, 2] == 1)
    if len(set(table[joint, 4].tolist())) > 1 or (joint.any() and finished.any()):
        where = [
            f"rank {r}: "
            + (f"joint step {int(row[4])}" if joint[r] else f"collected {bool(row[2])}")
            for r, row in enumerate(table)
        ]
        raise RuntimeError(
            f"the ranks' collections are out of step ({'; '.join(where)}): every rank must "
            "reach the same joint steps (CLM updates of CLMAlternation) in the same collection, "
            "which needs collections that end where the CLM schedule's RL slots do"
        )


def meet_after_collection(steps: int, collected: bool, go_on: bool) -> tuple[int, bool, bool]:
    """Where every rank's collection ends: the env steps of all ranks, whether every rank
    collected a batch and whether every rank's callbacks let training go on (in one process,
    the arguments).

    Collections run apart, but the steps every rank takes together (CLM updates) happen during
    them, so a rank that ended its collection early (its word budget refused an env step, its
    callback stopped it) may meet ranks that are still collecting and about to take a joint
    step (:func:`meet_before_joint_step`): these stop before it and come here, and this rank
    meets them again.

    Raises:
        RuntimeError: on every rank, when the ranks' collections are out of step.
    """
    if world_size() == 1:
        return steps, collected, go_on
    while True:
        table = _meet(_AT_COLLECTION_END, steps, collected, go_on, 0)
        _check_in_step(table)
        if not (table[:, 0] == _AT_JOINT_STEP).any():
            return int(table[:, 1].sum()), bool(table[:, 2].all()), bool(table[:, 3].all())


def meet_before_joint_step(index: int) -> None:
    """Before the ``index``-th joint step, a step whose collectives every rank enters (a CLM
    update): return once every rank is at that same step, so no rank enters them alone.

    Raises:
        PeerStopped: when another rank has ended its collection (:func:`meet_after_collection`);
            no rank takes the step.
        RuntimeError: on every rank, when the ranks' collections are out of step.
    """
    if world_size() == 1:
        return
    table = _meet(_AT_JOINT_STEP, 0, False, True, index)
    _check_in_step(table)
    stopped = [r for r, row in enumerate(table) if row[0] == _AT_COLLECTION_END]
    if stopped:
        raise PeerStopped(
            f"rank(s) {stopped} ended their collection before joint step {index}: "
            f"rank {rank()} stops too, without it"
        )


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
