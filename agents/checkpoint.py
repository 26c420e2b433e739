"""Checkpoint files: atomic writes, random-number-generator states and environment state.

A resumed run must continue exactly where the first one stopped, so a checkpoint holds more
than the weights: every random-number generator the agent draws from (torch, NumPy, Python and
the agent's own seeded generators), the optimizer, the KL controller, and the state of the
environment stack (the CLM alternation schedule of :class:`lm_gym.wrappers.CLMAlternation` and
the environment's own data position). Files are written to a temporary sibling and renamed into
place, so a run killed while saving never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lm_gym.utils.files import atomic_write


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file and an atomic rename.

    Returns:
        The path written.
    """
    return atomic_write(path, lambda file: torch.save(obj, file))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`atomic_torch_save` onto the CPU.

    Checkpoints hold NumPy and Python generator states next to tensors, so they are unpickled
    in full (``weights_only=False``): only load files you wrote yourself.

    Raises:
        FileNotFoundError: naming the missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    return torch.load(path, map_location="cpu", weights_only=False)


def global_rng_state() -> dict:
    """The process-wide generators: torch (CPU and CUDA), NumPy's legacy global, Python's."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict) -> None:
    """Restore generators saved by :func:`global_rng_state`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _wrapper_stack(env: Any) -> list[Any]:
    """Every layer of ``env``'s wrapper stack, from the outermost wrapper to the base env.

    Checkpoints walk the stack by hand, unlike the agents, which read one declared attribute
    with :func:`lm_gym.utils.env_attributes.get_env_attr`: an env's state is not one attribute
    but the ``state_dict`` of *every* layer that has one, plus the base env's generator, and a
    layer's state must be restored into the layer at the same depth.
    """
    layers = [env]
    while hasattr(layers[-1], "env") and layers[-1].env is not layers[-1]:
        layers.append(layers[-1].env)
    return layers


def _has_state(layer: Any) -> bool:
    return (
        callable(getattr(type(layer), "state_dict", None))
        and callable(getattr(type(layer), "load_state_dict", None))
        and not isinstance(layer, torch.nn.Module)
    )


def env_state(env: Any) -> dict:
    """Everything needed to resume ``env`` at the same point of its data stream.

    Collects ``state_dict()`` from every layer of the wrapper stack that defines one (the CLM
    alternation wrapper, environments that track a data position) and the NumPy generator of
    the innermost environment (and of each sub-environment of a ``SyncVectorEnv``), which is
    where Gymnasium environments draw their prompts from.
    """
    layers = _wrapper_stack(env)
    state: dict[str, Any] = {
        "layers": {i: layer.state_dict() for i, layer in enumerate(layers) if _has_state(layer)}
    }
    base = layers[-1]
    if getattr(base, "_np_random", None) is not None:
        state["np_random"] = base.np_random.bit_generator.state
    if hasattr(base, "envs"):
        state["sub_envs"] = [env_state(sub) for sub in base.envs]
    return state


def load_env_state(env: Any, state: dict) -> None:
    """Restore a state saved by :func:`env_state` into an identically built ``env``.

    Raises:
        ValueError: when the wrapper stack differs from the one that was saved.
    """
    layers = _wrapper_stack(env)
    for index, layer_state in state["layers"].items():
        if index >= len(layers) or not _has_state(layers[index]):
            raise ValueError(
                f"checkpoint has state for wrapper layer {index}, but this environment stack "
                f"({' -> '.join(type(x).__name__ for x in layers)}) has no such stateful layer"
            )
        layers[index].load_state_dict(layer_state)
    base = layers[-1]
    if "np_random" in state:
        base.np_random.bit_generator.state = state["np_random"]
    for sub, sub_state in zip(getattr(base, "envs", []), state.get("sub_envs", [])):
        load_env_state(sub, sub_state)
