"""One entry point from a model spec to a ``(model, tokenizer)`` pair on the right device.

A spec is any of:

* the name of an offline recipe (``"baby-en"``, ``"parent-it"``, ...: see
  :mod:`lm_gym.models.recipes`), built at first use and cached;
* a local folder written by ``save_pretrained`` (model and tokenizer);
* a Hugging Face model id (``"babylm/opt-125m-strict-small"``), loaded with
  ``AutoModelForCausalLM`` when the hub is reachable or the model is in the local HF cache;
* an in-memory model (with ``tokenizer=``, unless its ``name_or_path`` folder has one), an
  ``LM`` or a ``(model, tokenizer)`` tuple.

Device and dtype are decided here once (:mod:`lm_gym.utils.device`); callers never move models.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from lm_gym.models.building import build_recipe
from lm_gym.models.recipes import RECIPES
from lm_gym.utils.device import resolve_device


class LM(NamedTuple):
    """A causal language model and its tokenizer (unpacks as ``model, tokenizer``)."""

    model: PreTrainedModel
    tokenizer: Any


class ModelLoadError(ValueError):
    """A model spec could not be turned into a model; the message says what was tried."""


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` tells Hugging Face libraries not to ask the hub."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def _looks_like_path(spec: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else that does not exist is a bad path."""
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec


def _from_pretrained(source: str, **kwargs) -> LM:
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    return LM(model, tokenizer)


def _load_folder(folder: Path) -> LM:
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"{folder} is a folder but has no config.json: expected a model saved with "
            "save_pretrained (model and tokenizer)"
        )
    try:
        return _from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelLoadError(f"could not load the model folder {folder}: {error}") from error


def _load_name(spec: str) -> LM:
    if spec in RECIPES:
        return _load_folder(build_recipe(spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_folder(path)
    if path.exists():
        raise ModelLoadError(f"{path} is a file, not a model folder written by save_pretrained")
    tried = [f"an offline recipe (known: {', '.join(sorted(RECIPES))})", f"a local folder {path}"]
    if _looks_like_path(spec):
        raise ModelLoadError(f"cannot load model {spec!r}: it is not " + ", nor ".join(tried))
    try:  # a Hugging Face id: the local HF cache first, the hub only when online
        return _from_pretrained(spec, local_files_only=True)
    except (OSError, ValueError):
        tried.append("the local Hugging Face cache")
    if hub_offline():
        raise ModelLoadError(
            f"cannot load model {spec!r}: it is not "
            + ", nor ".join(tried)
            + "; HF_HUB_OFFLINE is set, so the hub was not asked"
        )
    try:
        return _from_pretrained(spec)
    except (OSError, ValueError) as error:
        tried.append("the Hugging Face hub")
        raise ModelLoadError(
            f"cannot load model {spec!r}: tried " + ", ".join(tried) + f". Last error: {error}"
        ) from error


def load_model(
    spec: str | os.PathLike | PreTrainedModel | LM | tuple,
    *,
    tokenizer: Any = None,
    device: str | torch.device | None = None,
) -> LM:
    """Turn ``spec`` into an :class:`LM` in eval mode on ``device`` (default: CUDA if present).

    Args:
        spec: a recipe name, local folder, Hugging Face id, in-memory model, ``LM`` or
            ``(model, tokenizer)`` tuple.
        tokenizer: the tokenizer for an in-memory model (overrides any other).
        device: where to put the model; ``None`` picks :func:`lm_gym.device.default_device`.

    Raises:
        ModelLoadError: naming what was tried when nothing matched.
    """
    target = resolve_device(device)
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ModelLoadError("a tuple spec must be (model, tokenizer)")
        spec, tokenizer = spec[0], tokenizer or spec[1]
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, str):
        if not spec:
            raise ModelLoadError("empty model spec")
        loaded = _load_name(spec)
        model, tokenizer = loaded.model, tokenizer or loaded.tokenizer
    elif isinstance(spec, torch.nn.Module):
        model = spec
        if tokenizer is None:
            source = getattr(getattr(model, "config", None), "name_or_path", "")
            if source and Path(source).is_dir():
                tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            else:
                raise ModelLoadError(
                    "an in-memory model needs its tokenizer: load_model(model, tokenizer=tok)"
                )
    else:
        raise ModelLoadError(f"unsupported model spec of type {type(spec).__name__}")
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2-style tokenizers have no pad token
    return LM(model.to(target).eval(), tokenizer)


_SHARED: dict[tuple[str, str, str], LM] = {}
"""Frozen models loaded by name or folder in this process (see :func:`load_shared_model`)."""


def load_shared_model(
    spec: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    loader: Callable[[str, torch.device], LM] | None = None,
) -> LM:
    """A frozen model (no gradients) loaded once per process, name and device, then shared.

    Scorers that never train (BAMBINO-LM's parent, BabyStories' reward model) are loaded by
    many envs of one process (a vector env and its evaluation env, every leaderboard run of a
    worker); they share one copy. Models that train (babies, storytellers) never come from here.

    Args:
        spec: a recipe name, folder or Hugging Face id.
        device: where the model lives (``None``: lm_gym's default device).
        loader: ``loader(spec, device) -> LM`` for other kinds of models (reward models);
            default :func:`load_model`.
    """
    target = resolve_device(device)
    name = os.fspath(spec)
    load = loader or (lambda source, where: load_model(source, device=where))
    key = (getattr(loader, "__qualname__", "load_model"), name, str(target))
    if key not in _SHARED:
        lm = load(name, target)
        lm.model.requires_grad_(False)
        _SHARED[key] = lm
    return _SHARED[key]


@functools.cache
def _cache_argument(model_class: type) -> str:
    """What ``model_class.forward`` calls its KV cache: ``cache`` in the transformers releases
    that renamed it (``past_key_values`` is deprecated there, to be removed in 5.40), else
    ``past_key_values`` (older releases and other Hugging Face-style models)."""
    parameters = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def forward_with_cache(model: torch.nn.Module, input_ids: torch.Tensor, cache: Any, **kwargs):
    """One forward pass that reads and extends a KV cache, under either transformers name.

    Args:
        cache: the cache from the previous call, ``None`` at the start.
        kwargs: other ``forward`` arguments (``output_hidden_states=True``, ...).

    Returns:
        ``(output, cache)``: the model's output and the extended cache for the next call.
    """
    name = _cache_argument(type(model))
    output = model(input_ids=input_ids, use_cache=True, **{name: cache}, **kwargs)
    return output, getattr(output, name)
