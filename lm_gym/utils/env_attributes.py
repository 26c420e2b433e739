"""Reading a declared attribute through a stack of wrappers, single or vector.

Agents read a few things from the env they train on: the generating model of a text env
(``generating_model``), the subset size of a teacher env (``budget``), what a wrapper trains
(``trained_model``, ``model_updates``, ``reference_model``, ``words_seen``). Gymnasium's
``Env.get_wrapper_attr`` finds such an attribute in the outermost layer that has it; Gymnasium
1.x vector wrappers have no such method, so :func:`get_env_attr` walks their ``env`` chain the
same way.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def get_env_attr(env: Any, name: str, default: Any = _MISSING) -> Any:
    """The attribute ``name`` of the outermost layer of ``env``'s stack that has it.

    Args:
        env: an env, a vector env, or a (vector) wrapper of one.
        default: returned when no layer has ``name``; without it an ``AttributeError`` is raised.
    """
    current, seen = env, set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        getter = getattr(type(current), "get_wrapper_attr", None)
        try:
            if getter is not None:
                return current.get_wrapper_attr(name)
            if hasattr(current, name):
                return getattr(current, name)
        except AttributeError:
            break
        current = getattr(current, "env", None)
    if default is _MISSING:
        raise AttributeError(f"no layer of {type(env).__name__} has the attribute {name!r}")
    return default
