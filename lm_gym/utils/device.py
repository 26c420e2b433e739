"""Device and precision choices, made in one place.

Everything in lm_gym that places a model or a tensor asks this module, so a machine with CUDA
runs on the GPU (with bfloat16 autocast) and every other machine on the CPU in float32,
without any call site deciding for itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from lm_gym.utils.validation import did_you_mean

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
"""The usual device names (``auto``: CUDA when present, else the CPU)."""


def default_device() -> torch.device:
    """The device lm_gym uses when none is given: ``$LM_GYM_DEVICE``, else CUDA when present."""
    requested = os.environ.get("LM_GYM_DEVICE")
    if requested:
        return resolve_device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``None``, ``"auto"``, ``"cpu"``, ``"cuda:1"`` or a device into a ``torch.device``.

    Raises:
        ValueError: for a string torch does not read as a device (``"gpu"``), listing the
            valid ones, and for a CUDA device on a machine without CUDA, so the error comes
            before any model is loaded rather than deep inside the first forward pass.
    """
    if device is None or device == "auto":
        return default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        gpu = str(device).lower().startswith("gpu")
        hint = " (did you mean 'cuda'?)" if gpu else did_you_mean(device, DEVICE_NAMES)
        raise ValueError(
            f"device must be one of {', '.join(DEVICE_NAMES)} (or cuda:<index>), got "
            f"{device!r}{hint}"
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available here")
    return resolved


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA, a no-op elsewhere (CPU runs stay in exact float32)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, then restore the previous number.

    Float32 sums are split across threads, so the same training run gives different weights
    with 1 and 2 threads; builds that must give the same weights on every machine pin it.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
