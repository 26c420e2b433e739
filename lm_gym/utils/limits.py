"""Upper bounds on sizes, checked when an env or agent is built.

A size that allocates memory or work in proportion (tokens per episode, pool sentences, student
updates) gets an upper bound, and a token sequence must fit the context of the model that reads
it. Both are checked before anything is built, with an error that names the argument, the limit
and why: ``max_new_tokens=10**8`` would otherwise allocate gigabytes in ``gym.make``, and 150
new tokens on a 64-position model would fail deep inside a forward pass during training.

* :func:`check_at_most`: a size against a fixed limit (memory, time).
* :func:`context_length` and :func:`check_fits_context`: a sequence against a model's context.
"""

from __future__ import annotations

from typing import Any

CONTEXT_ATTRIBUTES = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length")
"""Config attributes that hold a Hugging Face model's number of positions (GPT-2: n_positions;
OPT, Llama and most others: max_position_embeddings)."""


def check_at_most(name: str, value: int, limit: int, why: str) -> int:
    """``value`` when it is at most ``limit``.

    Raises:
        ValueError: ``"<name>=<value> is above its limit of <limit>: <why>"``.
    """
    if value > limit:
        raise ValueError(f"{name}={value} is above its limit of {limit:,}: {why}")
    return value


def context_length(model: Any) -> int | None:
    """How many positions ``model`` (a Hugging Face causal LM) can read; ``None`` if unknown."""
    config = getattr(model, "config", None)
    for attribute in CONTEXT_ATTRIBUTES:
        value = getattr(config, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def check_fits_context(
    what: str, parts: dict[str, int], context: int | None, model: str, fix: str
) -> None:
    """Check that a sequence made of ``parts`` fits a model's ``context``.

    Args:
        what: the sequence (``"an episode"``).
        parts: its pieces and their lengths in tokens (``{"prompt_tokens": 5, ...}``).
        context: the model's positions (:func:`context_length`); ``None`` skips the check.
        model: which model (``"the generating model"``).
        fix: what to change.

    Raises:
        ValueError: naming the pieces, the total and the model's context.
    """
    total = sum(parts.values())
    if context is None or total <= context:
        return
    pieces = " + ".join(f"{name} {length}" for name, length in parts.items())
    raise ValueError(
        f"{what} needs {total} positions ({pieces}) but {model} reads at most {context} "
        f"(its context): {fix}"
    )
