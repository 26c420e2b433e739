"""Every built-in track by name: the leaderboard's (``quick``, ``standard``, ``cpu``) and the
README's experiments (``bambino-ablation``, ``ppo-bambino``, ``teachers``,
``babystories-ppo``, ``babystories-ppo-fast-value``). ``lm-gym leaderboard --track NAME``
runs any of them."""

from __future__ import annotations

from collections.abc import Callable

from lm_gym.baselines.ablation import bambino_ablation_track
from lm_gym.baselines.experiments import (
    babystories_fast_value_track,
    babystories_ppo_track,
    ppo_bambino_track,
    teachers_track,
)
from lm_gym.baselines.tracks import Track, cpu_track, quick_track, standard_track

TRACKS: dict[str, Callable[[], Track]] = {
    "quick": quick_track,
    "standard": standard_track,
    "cpu": cpu_track,
    "bambino-ablation": bambino_ablation_track,
    "ppo-bambino": ppo_bambino_track,
    "teachers": teachers_track,
    "babystories-ppo": babystories_ppo_track,
    "babystories-ppo-fast-value": babystories_fast_value_track,
}


def get_track(name: str) -> Track:
    """The built-in track ``name``.

    Raises:
        ValueError: naming the known tracks.
    """
    if name not in TRACKS:
        raise ValueError(f"unknown track {name!r}; tracks: {sorted(TRACKS)}")
    return TRACKS[name]()
