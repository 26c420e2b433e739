"""The anchors of each env's normalised score: 0 = the ``random`` agent, 1 = a reference.

Like Atari's human-normalised scores, a score on one env means little beside another env's
until both are put on a common scale. Per env setting of a track:

* **0**: the mean return of the ``random`` agent (uniform tokens, a uniformly random subset)
  over ``eval_episodes`` episodes, played as a run's evaluation is (``predict`` on a fresh
  env), on other reset seeds than any run's;
* **1**: a reference that does the task well: on text envs (they offer the true continuation
  of each prompt) the mean reward of those true continuations in the reward audit
  (:func:`lm_gym.rewards.audit.audit_registered`, held-out prompts); on subset-selection envs
  the ``oracle-teacher`` (only exam-type sentences), played as the random agent is. Envs with
  neither have no normalised score.

An env whose reference does not beat random (a reward that cannot tell real text from noise)
gets no normalised score either; the report says why. The anchors are computed once per env
setting and cached in ``<out>/normalisation/<env>.json`` with the setting they were computed
for: a rerun reads them, a changed setting recomputes them, a failure is reported and tried
again next time. The file records the git revision that computed them; anchors made by other
code are kept (with a warning), since recomputing costs minutes and most changes do not touch
the reward.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from lm_gym.agents.registry import get_agent_spec
from lm_gym.baselines.results import git_revision
from lm_gym.baselines.runner import evaluate_agent, gym_make_kwargs, seed_everything
from lm_gym.baselines.tracks import Track, env_file_stem
from lm_gym.corpora.loaders import CorpusError, read_json
from lm_gym.utils.files import atomic_write_text

ANCHORS_DIR = "normalisation"
ANCHOR_FORMAT = "lm_gym.baselines.anchors/1"
ANCHOR_SEED = 2_000_003
"""Reset seed of the anchors' episodes (runs evaluate on seed + 1000003 for seeds 0, 1, ...)."""


def anchor_setting(track: Track, key: str) -> dict[str, Any]:
    """What the anchors of env ``key`` of ``track`` depend on (JSON-ready; the cache key)."""
    setting = track.envs[key]
    return {
        "env_id": setting.env_id or key,
        "env_kwargs": json.loads(json.dumps(gym_make_kwargs(setting.kwargs))),
        "episodes": setting.eval_episodes,
        "seed": ANCHOR_SEED,
    }


def _play(agent_name: str, setting: dict[str, Any]) -> float:
    """Mean return of the fixed agent ``agent_name`` over the setting's episodes."""
    seed_everything(setting["seed"])
    env = gym.make(setting["env_id"], **setting["env_kwargs"])
    try:
        agent = get_agent_spec(agent_name).load()(env, seed=setting["seed"], verbose=0)
        metrics = evaluate_agent(agent, env, setting["episodes"], setting["seed"])
        return metrics["eval/mean_return"]
    finally:
        env.close()


def _reference(setting: dict[str, Any]) -> tuple[str | None, Callable[[], float] | None]:
    """The reference of an env and how to measure it, or ``(None, None)``."""
    env = gym.make(setting["env_id"], **setting["env_kwargs"])
    try:
        text = callable(getattr(env.unwrapped, "reference_continuation", None))
        subset = isinstance(env.action_space, gym.spaces.MultiBinary)
    finally:
        env.close()
    if text:
        from lm_gym.rewards.audit import audit_registered

        def audit() -> float:
            report = audit_registered(
                setting["env_id"],
                episodes=setting["episodes"],
                seed=setting["seed"],
                env_kwargs=setting["env_kwargs"],
                policies={},  # the anchor is the reference's mean: no degenerate policy
            )
            return report.mean("reference")

        return "true continuations (reward audit)", audit
    if subset:
        return "oracle-teacher", lambda: _play("oracle-teacher", setting)
    return None, None


def compute_anchors(setting: dict[str, Any]) -> dict[str, Any]:
    """``random``, ``reference`` (``None`` when the env has none) and ``reference_kind``."""
    kind, measure = _reference(setting)
    return {
        "random": _play("random", setting),
        "reference": measure() if measure is not None else None,
        "reference_kind": kind,
    }


def anchors_path(out_dir: str | Path, key: str) -> Path:
    """Where the anchors of env ``key`` are cached."""
    return Path(out_dir) / ANCHORS_DIR / f"{env_file_stem(key)}.json"


def _cached(path: Path, setting: dict[str, Any]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record = read_json(path, argument="anchors file")
    except (CorpusError, OSError):
        return None  # an unreadable cache is recomputed
    if not isinstance(record, dict) or record.get("format") != ANCHOR_FORMAT:
        return None
    return record if record.get("setting") == setting else None


def track_anchors(
    track: Track, out_dir: str | Path, log: Callable[[str], Any] = print
) -> dict[str, dict[str, Any]]:
    """Env key -> its anchors (module docstring), read from the cache or computed now.

    An env whose anchors cannot be computed is logged and left out (tried again next call).
    """
    anchors = {}
    for key in track.envs:
        setting = anchor_setting(track, key)
        path = anchors_path(out_dir, key)
        record = _cached(path, setting)
        if record is None:
            log(f"normalisation anchors of {key}: computing ({setting['episodes']} episodes)")
            try:
                record = {
                    "format": ANCHOR_FORMAT,
                    "setting": setting,
                    "git_revision": git_revision(),
                    **compute_anchors(setting),
                }
            except Exception as error:  # no anchors: the env is reported unnormalised
                log(f"normalisation anchors of {key}: FAILED {type(error).__name__}: {error}")
                continue
            atomic_write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
        elif record.get("git_revision") != git_revision():
            log(
                f"warning: the normalisation anchors of {key} in {path} were computed by other "
                f"code (revision {record.get('git_revision')}; now {git_revision()}); they are "
                "kept: delete the file to recompute them on this code"
            )
        anchors[key] = record
    return anchors
