"""lm_gym: Gymnasium environments for language acquisition with small language models.

Importing the package registers its environments with Gymnasium, so both
``gym.make("Bambino-v0")`` after ``import lm_gym`` and ``gym.make("lm_gym:Bambino-v0")``
work. The names below are imported on first use; the rest of the public API lives in the
package faces ``lm_gym.envs``, ``lm_gym.agents``, ``lm_gym.rewards``, ``lm_gym.wrappers``,
``lm_gym.models``, ``lm_gym.evaluation``, ``lm_gym.corpora`` and ``lm_gym.baselines``.
"""

from lm_gym import registration as registration  # importing it registers the environments
from lm_gym.utils.lazy import lazy_exports
from lm_gym.version import __version__ as __version__

_EXPORTS = {
    "check_env": "lm_gym.checks",
    "EnvCheckError": "lm_gym.checks",
    "LM": "lm_gym.models.loading",
    "ModelLoadError": "lm_gym.models.loading",
    "load_model": "lm_gym.models.loading",
    "Scorer": "lm_gym.evaluation.scoring",
    "evaluate_lm": "lm_gym.evaluation.evaluate",
    "evaluate_model": "lm_gym.evaluation.evaluate",
    "make_agent": "lm_gym.agents.registry",
    "register_agent": "lm_gym.agents.registry",
    "list_agents": "lm_gym.agents.registry",
}

__all__ = ["__version__", "registration", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
