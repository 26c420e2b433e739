"""Lazy package faces: ``from lm_gym.models import load_model`` imports only what it names.

Every public package of lm_gym (``lm_gym``, ``lm_gym.models``, ``lm_gym.envs``, ...) lists its
public names once, as a table of name -> defining module, and imports a module the first time
one of its names is asked for (PEP 562). ``import lm_gym`` therefore stays fast (it only
registers the environments), ``lm-gym list`` does not pay for torch models it never builds, and
the package faces add no edges to the import graph.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package that re-exports ``exports`` lazily.

    Args:
        package: the package's ``__name__`` (for error messages).
        exports: public name -> the module that defines it.

    Usage, in a package's ``__init__.py``::

        _EXPORTS = {"load_model": "lm_gym.models.loading", ...}
        __all__ = sorted(_EXPORTS)
        __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
