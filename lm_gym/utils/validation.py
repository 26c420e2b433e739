"""Argument checks with errors that name the argument, what it must be, and what it got.

Every public constructor and function of lm_gym checks its arguments before doing any work, and
every one of those checks goes through these helpers, so the messages read the same everywhere:
``"budget must be a positive integer, got 0"``, ``"reward_form must be one of ('sigmoid',
'slor'), got 'sigmiod' (did you mean 'sigmoid'?)"``.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Collection, Iterable
from typing import Any


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type. It is both a ``TypeError`` (what it is) and a
    ``ValueError`` (what most callers, the CLI included, catch for a bad argument)."""


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, False for bools (``True`` is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an ``int``, or a ``ValueError`` naming ``name`` and the allowed range.

    Args:
        name: the argument's name, as the user wrote it.
        minimum, maximum: inclusive bounds (``None``: unbounded).
    """
    if not is_int(value):
        raise ArgumentTypeError(
            f"{name} must be {_int_range(minimum, maximum)}, got {value!r} ({type(value).__name__})"
        )
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {_int_range(minimum, maximum)}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any, *, maximum: int | None = None) -> int:
    """``value`` as an ``int`` >= 1 (and <= ``maximum``), or a ``ValueError`` naming ``name``."""
    return check_int(name, value, minimum=1, maximum=maximum)


def check_optional_int(name: str, value: Any, *, minimum: int | None = None) -> int | None:
    """``None``, or ``value`` checked by :func:`check_int`."""
    return None if value is None else check_int(name, value, minimum=minimum)


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum == 1 and maximum is None:
        return "a positive integer"
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """``value`` as a finite ``float`` within the bounds, or a ``ValueError`` naming ``name``.

    Args:
        exclusive_minimum: ``value`` must be strictly greater than ``minimum``.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be a number, got {type(value).__name__}")
    ok = math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if exclusive_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        rule = " ".join(["a finite number", " and ".join(bounds)]).rstrip()
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return float(value)


def did_you_mean(value: Any, choices: Iterable[Any]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice to ``value``, or ``""``."""
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` when it is one of ``choices``, else a ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {tuple(choices)}, got {value!r}{did_you_mean(value, choices)}"
        )
    return value


def check_keywords(what: str, given: Iterable[str], valid: Collection[str]) -> None:
    """Refuse keywords ``what`` does not take, suggesting the closest valid ones.

    Raises:
        ArgumentTypeError: ``"<what> got unknown keyword 'tua' (did you mean 'tau'?); valid
            keywords: ..."`` (a ``TypeError``, as Python's own for an unknown keyword, and a
            ``ValueError``, so the CLI reports it in one line).
    """
    unknown = [key for key in given if key not in valid]
    if unknown:
        hints = "".join(did_you_mean(key, valid) for key in unknown[:1])
        names = ", ".join(repr(k) for k in unknown)
        raise ArgumentTypeError(
            f"{what} got unknown keyword{'s' if len(unknown) > 1 else ''} {names}{hints}; "
            f"valid keywords: {', '.join(sorted(valid))}"
        )


def check_text(name: str, value: Any) -> str:
    """``value`` when it is a string that can be encoded as UTF-8, else a ``ValueError``.

    A string holding a lone surrogate (``"\\ud800"``, from a bad JSON escape or a file decoded
    with ``errors="surrogateescape"``) passes every ``isinstance`` check and then crashes the
    tokenizer in the middle of training; this refuses it where it enters, naming it.
    """
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{name} is not valid Unicode text: it holds the lone surrogate "
            f"{value[error.start]!r} at character {error.start}"
        ) from None
    return value
