"""Finding the language model an LM agent should act with, and who else trains it.

An LM agent's policy must speak the env's action vocabulary, i.e. use the tokenizer the env
tokenizes prompts with. Text-generation envs built by lm_gym keep the model they were built
for as ``env.baby`` (an :class:`~lm_gym.models.LM`), so by default agents take that one; a
spec passed explicitly (recipe name, folder, HF id, in-memory model, ``LM``) wins.

A wrapper may also train the agent's model between episodes (BAMBINO-LM's CLM alternation,
:class:`lm_gym.wrappers.CLMAlternation`). Such a wrapper announces it with two attributes,
``trained_model`` (the module it updates) and ``model_updates`` (how many updates it made so
far); :func:`env_model_updates` sums them for one model, so an agent can tell that its weights
changed outside its own updates without knowing what changed them.
"""

from __future__ import annotations

from typing import Any

import torch

from lm_gym.models.loading import LM, load_model

ENV_MODEL_ATTRIBUTE = "generating_model"
"""Attribute under which lm_gym's text-generation envs keep their generating model."""


def _env_layers(env: Any) -> list[Any]:
    """The env, each wrapped env below it, and the first sub-env of a ``SyncVectorEnv``."""
    layers, current = [], env
    while current is not None and current not in layers:
        layers.append(current)
        if hasattr(current, "env"):
            current = current.env
        elif getattr(current, "envs", None):
            current = current.envs[0]
        else:
            current = None
    return layers


def env_model(env: Any) -> LM | None:
    """The env's own generating model (``env.baby`` somewhere in the stack), if any."""
    for layer in _env_layers(env):
        found = layer.__dict__.get(ENV_MODEL_ATTRIBUTE) if hasattr(layer, "__dict__") else None
        if isinstance(found, LM):
            return found
    return None


def resolve_policy_lm(env: Any, spec: Any, device: torch.device) -> LM:
    """The policy LM on ``device``: ``spec`` when given, else the env's own model.

    The env's model is used as the same object (not a copy), so the env, a CLM wrapper and the
    agent all see one baby.

    Raises:
        ValueError: when there is neither a spec nor an env model.
    """
    if spec is None:
        spec = env_model(env)
    if spec is None:
        raise ValueError(
            "no policy model: pass model=<recipe name, folder or LM> (config field 'model'), "
            f"or use an env that keeps its generating model as env.{ENV_MODEL_ATTRIBUTE}"
        )
    return load_model(spec, device=device)


def env_model_updates(env: Any, model: torch.nn.Module) -> int:
    """How many updates the wrappers in ``env``'s stack have made to ``model`` themselves.

    Counts only layers whose ``trained_model`` is ``model`` itself (a wrapper training another
    model is no concern of this agent's); 0 when no layer announces any.
    """
    return sum(
        int(layer.model_updates)
        for layer in _env_layers(env)
        if getattr(layer, "trained_model", None) is model
    )
