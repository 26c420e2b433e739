"""The experiment pipeline: tracks of envs x agents (or arms) x seeds, run serially, in a
pool or on Ray.

``lm-gym leaderboard --track quick`` (or :func:`run_track`) writes one JSON result per run
(``results/``), each run's logs and saved agent (``runs/``), the normalisation anchors
(``normalisation/``), ``LEADERBOARD.md`` (with 95% intervals, normalised scores, IQM and the
probability of improvement) and PNG figures (``curves/``, ``figures/``) into the output
folder. See :mod:`lm_gym.baselines.catalogue` for the built-in tracks: the leaderboard's and
the README's experiments.
"""

from lm_gym.baselines.catalogue import TRACKS, get_track
from lm_gym.baselines.driver import TrackOutcome, plan_runs, run_track
from lm_gym.baselines.results import load_results
from lm_gym.baselines.tracks import (
    Arm,
    EnvSetting,
    RunOptions,
    RunSpec,
    Track,
    lm_gym_env_ids,
)

__all__ = [
    "TRACKS",
    "Arm",
    "EnvSetting",
    "RunOptions",
    "RunSpec",
    "Track",
    "TrackOutcome",
    "get_track",
    "lm_gym_env_ids",
    "load_results",
    "plan_runs",
    "run_track",
]
