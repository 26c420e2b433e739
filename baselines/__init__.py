"""The leaderboard: tracks of envs x agents x seeds, run serially, in a pool or on Ray.

``lm-gym leaderboard --track quick`` (or :func:`run_track`) writes one JSON result per run
(``results/``), each run's logs and saved agent (``runs/``), ``LEADERBOARD.md`` and PNG
learning curves (``curves/``) into the output folder. See :mod:`lm_gym.baselines.tracks`
for the built-in tracks.
"""

from lm_gym.baselines.driver import TrackOutcome, plan_runs, run_track
from lm_gym.baselines.results import load_results
from lm_gym.baselines.tracks import (
    TRACKS,
    EnvSetting,
    RunSpec,
    Track,
    get_track,
    lm_gym_env_ids,
)

__all__ = [
    "TRACKS",
    "EnvSetting",
    "RunSpec",
    "Track",
    "TrackOutcome",
    "get_track",
    "lm_gym_env_ids",
    "load_results",
    "plan_runs",
    "run_track",
]
