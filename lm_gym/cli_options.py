"""Typed command-line options generated from config dataclasses (``lm-gym run --agent.<field>``).

In the spirit of ``tyro`` and ``HfArgumentParser``: every field of the chosen agent's config
dataclass (``PPOConfig`` for ``--agent ppo``) becomes ``--agent.<field-with-dashes>``, and every
keyword of the chosen env (the fields of its config dataclass, e.g. ``BambinoConfig``, or its
constructor's keywords) becomes ``--env.<field>``, typed from the annotations, with the field's
docstring as help. Fields whose type has no plain command-line form (a dict, a callable, a
model object) are left to the JSON options ``--agent-kwargs`` / ``--env-kwargs``.

``lm-gym run Bambino-v0 --agent ppo --help`` lists the options of that agent and env.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

NONE_WORDS = ("none", "null")
"""Values that give ``None`` to an optional field."""


@dataclass(frozen=True)
class Field:
    """One typed option."""

    name: str
    """The keyword (``learning_rate``)."""
    kind: type
    """``int``, ``float``, ``bool`` or ``str``."""
    optional: bool
    """``None`` is a valid value."""
    default: Any
    help: str


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a class body (the string after each annotated field),
    from this class and its bases, the nearest first."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _plain_kind(annotation: Any) -> tuple[type, bool] | None:
    """``(kind, optional)`` of an annotation with a command-line form, else ``None``."""
    if annotation in (int, float, bool, str):
        return annotation, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        optional = type(None) in members
        plain = [m for m in members if m in (int, float, bool, str)]
        if len(plain) == 1 and (optional or len(members) == 1):
            return plain[0], optional
        if str in plain:  # str | PathLike | Sequence[str] | None: a path or a name
            return str, optional
    if annotation is Any:
        return str, True
    return None


def _hints(owner: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(owner)
    except Exception:  # an annotation that cannot be resolved: no typed option for it
        return {}


def dataclass_fields(config_class: type, skip: typing.Collection[str] = ()) -> list[Field]:
    """The typed options of a config dataclass (fields without a plain form are skipped)."""
    hints, docs = _hints(config_class), field_docs(config_class)
    fields = []
    for field in dataclasses.fields(config_class):
        plain = _plain_kind(hints.get(field.name))
        if plain is None or field.name in skip:
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        fields.append(Field(field.name, *plain, default, docs.get(field.name, "")))
    return fields


def signature_fields(factory: Any, skip: typing.Collection[str] = ()) -> list[Field]:
    """The typed options of a constructor's keyword parameters that have defaults."""
    hints = _hints(factory.__init__ if inspect.isclass(factory) else factory)
    fields = []
    for name, parameter in inspect.signature(factory).parameters.items():
        if parameter.default is inspect.Parameter.empty or name in skip:
            continue
        plain = _plain_kind(hints.get(name))
        if plain is not None:
            fields.append(Field(name, *plain, parameter.default, f"{factory.__name__} keyword"))
    return fields


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def env_fields(env_id: str) -> tuple[str, list[Field]]:
    """``(source, fields)`` of an env id's keywords: its config dataclass when the registration
    names one, else its entry point's constructor. The keywords its registration fixes (the
    ``mode`` of ``BambinoSeq-v0``) are left out."""
    import gymnasium as gym

    from lm_gym.registration import env_metadata

    spec = gym.spec(env_id)
    fixed = {*spec.kwargs, "render_mode"}
    config = env_metadata(env_id).get("config")
    if config is not None:
        config_class = _load(config)
        return config_class.__name__, dataclass_fields(config_class, fixed)
    entry = _load(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    return getattr(entry, "__name__", env_id), signature_fields(entry, fixed)


def agent_fields(agent: str) -> tuple[str, list[Field]]:
    """``(source, fields)`` of a registered agent's config dataclass (none without one)."""
    from lm_gym.agents.registry import get_agent_spec

    config_class = getattr(get_agent_spec(agent).load(), "config_class", None)
    if not dataclasses.is_dataclass(config_class):
        return agent, []
    return config_class.__name__, dataclass_fields(config_class)


def _converter(field: Field, option: str) -> Any:
    def convert(text: str) -> Any:
        if field.optional and text.lower() in NONE_WORDS:
            return None
        if field.kind is bool:
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
            raise argparse.ArgumentTypeError(f"{option} takes true or false, got {text!r}")
        try:
            return field.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} takes {'an' if field.kind is int else 'a'} {field.kind.__name__}"
                + (" or none" if field.optional else "")
                + f", got {text!r}"
            ) from None

    return convert


def add_typed_options(parser: argparse.ArgumentParser, prefix: str, source: str, fields) -> None:
    """Add ``--<prefix>.<field>`` options (dest ``<prefix>.<name>``, absent unless given)."""
    group = parser.add_argument_group(
        f"{prefix} options ({source}; beside --{prefix}-kwargs, not the same field twice)"
    )
    for field in fields:
        option = f"--{prefix}.{field.name.replace('_', '-')}"
        kind = field.kind.__name__ + (" or none" if field.optional else "")
        group.add_argument(
            option,
            dest=f"{prefix}.{field.name}",
            type=_converter(field, option),
            default=argparse.SUPPRESS,
            metavar=kind.upper().replace(" OR ", "|"),
            help=f"{field.help} (default: {field.default!r})".strip().replace("%", "%%"),
        )


def typed_values(namespace: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """The ``--<prefix>.<field>`` values given on the command line, by field name."""
    start = f"{prefix}."
    return {k[len(start) :]: v for k, v in vars(namespace).items() if k.startswith(start)}


def merge(kwargs: dict, typed: dict, option: str) -> dict:
    """``kwargs`` (from the JSON option) with the typed values added.

    Raises:
        ValueError: when both give the same field (say it once).
    """
    both = sorted(set(kwargs) & set(typed))
    if both:
        raise ValueError(
            f"{', '.join(both)} given both in {option} and as typed option(s): give each once"
        )
    return {**kwargs, **typed}
