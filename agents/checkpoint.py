"""Checkpoint files: safe to read, atomic to write, complete enough to resume bit-identically.

**Safe to read.** A checkpoint holds only tensors and plain data (dicts, lists, tuples, strings,
numbers, booleans, ``None``) and is read with ``torch.load(..., weights_only=True)``, which
refuses every other Python object instead of running its pickled constructor: a crafted file
cannot run code. :func:`load_checkpoint` checks that the file is a complete torch archive
before unpickling anything, and names the file in every error (empty, truncated, not a torch
archive, holding objects, another kind of checkpoint). :func:`plain_data` is applied on save,
so nothing is ever written that loading would refuse.

**Complete.** A resumed run must continue exactly where the first one stopped, so a checkpoint
holds more than the weights: every random-number generator the agent draws from (torch, NumPy,
Python and the agent's own seeded generators, all as plain data), the optimizer, the KL
controller, and the state of the environment stack (the CLM alternation schedule of
:class:`lm_gym.wrappers.CLMAlternation` and the environment's own data position), together with
what the env was (class and number of sub-envs), so loading into a different env is an error
that says what was saved and what was given.

**Atomic.** Files are written to a temporary sibling and renamed into place, so a run killed
while saving never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lm_gym.utils.files import atomic_write

PLAIN_SCALARS = (str, int, float, bool, type(None))


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint (empty, truncated, foreign or unsafe)."""


def plain_data(value: Any, where: str = "checkpoint") -> Any:
    """``value`` with NumPy scalars and paths made plain; refuse anything else not plain.

    Plain data is what ``torch.load(weights_only=True)`` reads back: tensors, dicts with string
    or integer keys, lists, tuples, strings, numbers, booleans and ``None``. NumPy scalars
    become Python numbers and paths strings.

    Raises:
        TypeError: naming the place (``where``) of a value of any other type.
    """
    if type(value) in PLAIN_SCALARS or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        for key in value:
            if type(key) not in (str, int):
                raise TypeError(f"{where} has a key of type {type(key).__name__}: {key!r}")
        return {key: plain_data(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain_data(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(
        f"{where} is a {type(value).__name__}; checkpoints hold only tensors and plain data"
    )


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(plain_data(obj), path)`` through a temporary file and an atomic rename.

    Returns:
        The path written.

    Raises:
        TypeError: when ``obj`` holds anything but tensors and plain data (nothing is written).
    """
    obj = plain_data(obj)
    return atomic_write(path, lambda file: torch.save(obj, file))


def load_checkpoint(path: str | os.PathLike, expected_format: str | None = None) -> dict:
    """Read a checkpoint written by :func:`atomic_torch_save` onto the CPU, safely.

    The checks run in this order, each before anything of the file is unpickled: the file
    exists, is not empty, and is a complete torch zip archive; then it is unpickled with
    ``weights_only=True`` (tensors and plain data only, so no code in it can run), and its
    ``format`` field is compared with ``expected_format``.

    Raises:
        FileNotFoundError: naming the missing file.
        CheckpointError: naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    what = f"{path} is not a usable lm_gym checkpoint"
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what}: the file is empty")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(
            f"{what}: it is not a complete torch archive ({error}); it may be truncated or "
            "another kind of file"
        ) from error
    if not any(name.endswith("/data.pkl") for name in names):
        raise CheckpointError(f"{what}: the zip archive has no torch data (data.pkl)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise CheckpointError(
            f"{what}: it holds Python objects besides tensors and plain data, and lm_gym never "
            f"unpickles those (they could run code; agent checkpoints written before format "
            f"lm_gym.agent/2 held NumPy objects): {reason}"
        ) from error
    except (RuntimeError, EOFError, ValueError, KeyError) as error:
        raise CheckpointError(f"{what}: it is damaged ({type(error).__name__}: {error})") from error
    if expected_format is not None:
        found = data.get("format") if isinstance(data, dict) else None
        if found != expected_format:
            found_text = f"format {found!r}" if found else "no lm_gym format field"
            raise CheckpointError(
                f"{what}: expected format {expected_format!r}, found {found_text}"
            )
    return data


# ---------------------------------------------------------------------- generators
def global_rng_state() -> dict:
    """The process-wide generators as plain data: torch (CPU and CUDA), NumPy's legacy
    global, Python's."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"] = dict(numpy_state["state"], key=numpy_state["state"]["key"].tolist())
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict) -> None:
    """Restore generators saved by :func:`global_rng_state`."""
    torch.set_rng_state(state["torch"])
    numpy_state = dict(state["numpy"])
    key = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    numpy_state["state"] = dict(numpy_state["state"], key=key)
    np.random.set_state(numpy_state)
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------- environment state
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


def _shape(layers: list[Any]) -> dict[str, Any]:
    """What an env stack is, for comparing a checkpoint with the env it is loaded into."""
    base = layers[-1]
    name = type(base).__name__
    if getattr(base, "envs", None):  # SyncVectorEnv / AsyncVectorEnv: name what they hold
        name += f"[{type(base.envs[0]).__name__}]"
    return {
        "env_class": name,
        "num_envs": int(getattr(base, "num_envs", 1)),
        "vector": hasattr(base, "num_envs") and hasattr(base, "single_action_space"),
    }


def _describe(shape: dict[str, Any]) -> str:
    if not shape["vector"]:
        return f"a single {shape['env_class']}"
    hint = " (agents run a single env as a vector env of one)" if shape["num_envs"] == 1 else ""
    return f"a vector env {shape['env_class']} of num_envs={shape['num_envs']}{hint}"


def env_state(env: Any, *, rank_only: bool = False) -> dict:
    """Everything needed to resume ``env`` at the same point of its data stream.

    Collects ``state_dict()`` from every layer of the wrapper stack that defines one (the CLM
    alternation wrapper, environments that track a data position), the NumPy generator of
    the innermost environment (and of each sub-environment of a ``SyncVectorEnv``), which is
    where Gymnasium environments draw their prompts from, and the env's shape (base class,
    vector or not, number of envs).

    Args:
        rank_only: leave out the layers whose state is the same on every rank of a
            data-parallel run (they declare ``state_same_on_all_ranks = True``, as the CLM
            alternation wrappers do): a checkpoint keeps those once, and this rank's own
            part (generators, other layers) beside them (:func:`merge_env_states`).
    """
    layers = _wrapper_stack(env)
    state: dict[str, Any] = {
        "shape": _shape(layers),
        "layers": {
            i: layer.state_dict()
            for i, layer in enumerate(layers)
            if _has_state(layer)
            and not (rank_only and getattr(layer, "state_same_on_all_ranks", False))
        },
    }
    base = layers[-1]
    if isinstance(getattr(base, "_np_random", None), np.random.Generator):
        state["np_random"] = base.np_random.bit_generator.state
    if hasattr(base, "envs"):
        state["sub_envs"] = [env_state(sub, rank_only=rank_only) for sub in base.envs]
    return state


def merge_env_states(shared: dict, own: dict) -> dict:
    """One rank's full env state: ``own`` (:func:`env_state` with ``rank_only``) completed
    with the layers it left out, taken from ``shared`` (rank 0's full state)."""
    merged = {**shared, **own, "layers": {**shared["layers"], **own["layers"]}}
    if "sub_envs" in own:
        merged["sub_envs"] = [
            merge_env_states(a, b) for a, b in zip(shared.get("sub_envs", []), own["sub_envs"])
        ]
    return merged


def load_env_state(env: Any, state: dict) -> None:
    """Restore a state saved by :func:`env_state` into an identically built ``env``.

    Raises:
        ValueError: when the env differs from the saved one (another class, single instead of
            vector, another number of envs, another wrapper stack), saying what was saved and
            what was given; ``env`` is left unchanged then.
    """
    _check_matches(env, state)
    layers = _wrapper_stack(env)
    for index, layer_state in state["layers"].items():
        layers[index].load_state_dict(layer_state)
    if "np_random" in state:
        layers[-1].np_random.bit_generator.state = state["np_random"]
    for sub, sub_state in zip(getattr(layers[-1], "envs", []), state.get("sub_envs", [])):
        load_env_state(sub, sub_state)


def _check_matches(env: Any, state: dict) -> None:
    """Raise the error of :func:`load_env_state` for ``env`` and its sub-envs, changing nothing."""
    layers = _wrapper_stack(env)
    saved, given = state.get("shape"), _shape(layers)
    if saved != given:
        raise ValueError(
            f"the checkpoint was saved from {_describe(saved)}, but it is being loaded into "
            f"{_describe(given)}: build the env as it was saved"
        )
    for index in state["layers"]:
        if index >= len(layers) or not _has_state(layers[index]):
            raise ValueError(
                f"checkpoint has state for wrapper layer {index}, but this environment stack "
                f"({' -> '.join(type(x).__name__ for x in layers)}) has no such stateful layer"
            )
    for sub, sub_state in zip(getattr(layers[-1], "envs", []), state.get("sub_envs", [])):
        _check_matches(sub, sub_state)
