"""Loaded at start-up by every Python process of ``tests/test_readme_snippets.py`` (the test
puts this folder on ``PYTHONPATH``, and spawned worker processes inherit it), so the README's
snippets run as written, on the micro recipes and with small budgets:

* every default recipe name (``baby-en``, ``storyteller-large``, ...) resolves to its micro
  counterpart (:func:`micro_counterpart`): the snippet's code path is the real one, its models
  are the ones that build in seconds;
* ``BaseAgent.learn`` trains at most ``LM_GYM_SNIPPET_TIMESTEPS`` timesteps.

Nothing happens unless ``LM_GYM_SNIPPET_TIMESTEPS`` is set; the snippets never read it.
"""

from __future__ import annotations

import functools
import os


def micro_counterpart(name: str) -> str:
    """The micro recipe standing in for recipe ``name``: ``<name>-micro`` when it exists, else
    the one micro recipe of the same corpus and kind (``storyteller-large`` ->
    ``storyteller-micro``).

    Raises:
        LookupError: when there is no such recipe or more than one.
    """
    from lm_gym.models.recipes import RECIPES

    if f"{name}-micro" in RECIPES:
        return f"{name}-micro"
    recipe = RECIPES[name]
    found = [
        other
        for other, candidate in RECIPES.items()
        if other.endswith("-micro")
        and candidate.corpus == recipe.corpus
        and type(candidate) is type(recipe)
    ]
    if len(found) != 1:
        raise LookupError(f"recipe {name!r}: micro counterparts {found}, expected one")
    return found[0]


def _install(max_timesteps: int) -> None:
    from lm_gym.agents.base import BaseAgent
    from lm_gym.models.recipes import RECIPES
    from lm_gym.prepare import default_recipes

    for name in default_recipes():
        RECIPES[name] = RECIPES[micro_counterpart(name)]

    learn = BaseAgent.learn

    @functools.wraps(learn)
    def capped(self, env, total_timesteps, *args, **kwargs):
        return learn(self, env, min(total_timesteps, max_timesteps), *args, **kwargs)

    BaseAgent.learn = capped


if os.environ.get("LM_GYM_SNIPPET_TIMESTEPS"):
    _install(int(os.environ["LM_GYM_SNIPPET_TIMESTEPS"]))
