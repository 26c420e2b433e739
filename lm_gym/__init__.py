"""lm_gym: Gymnasium environments for language acquisition with small language models.

Importing the package registers its environments with Gymnasium, so both
``gym.make("Bambino-v0")`` after ``import lm_gym`` and ``gym.make("lm_gym:Bambino-v0")``
work.
"""

from lm_gym import registration as registration  # importing it registers the environments
from lm_gym.checks import check_env as check_env

__version__ = "0.1.0"
