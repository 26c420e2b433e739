"""Run a whole track: plan, skip what is done, execute the rest, write results and the table.

The driver checks the agent names, asks each agent once per env whether it can act there
(see :func:`~lm_gym.baselines.runner.unsupported_reason`: a refusal makes the pair not
applicable, any other error while building the agent makes it failed, with its message),
saying which env it is planning, skips every run whose result file
already exists for the same spec (so a killed track resumes where it stopped; a file of
another spec under a run's name stops it before any run, as it is never overwritten), hands the
remaining runs to a backend (serial, local process pool or Ray) and writes each result as it
arrives. At the end it computes (or reads from its cache) each env's normalisation anchors
(:mod:`lm_gym.baselines.normalisation`) and regenerates ``LEADERBOARD.md`` and the figures
from all result files of the track.

One driver at a time writes an output folder: it holds a lock on ``<out>/.lm_gym.lock``
(:func:`lm_gym.utils.locks.exclusive_lock`) from choosing the pending runs to writing the table,
so a second ``lm-gym leaderboard`` into the same folder waits (saying which process it waits
for) and then skips what the first one finished, instead of running every run a second time.
The lock of a driver that was killed is taken over by the next one.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym

from lm_gym.agents.registry import get_agent_spec
from lm_gym.baselines.backends import run_pool, run_ray, run_serial
from lm_gym.baselines.normalisation import track_anchors
from lm_gym.baselines.report import write_leaderboard
from lm_gym.baselines.results import (
    ResultFileError,
    finished_result,
    git_revision,
    load_results,
    write_result,
)
from lm_gym.baselines.runner import gym_make_kwargs, unsupported_reason
from lm_gym.baselines.tracks import RunSpec, Track
from lm_gym.utils.files import naming_setting
from lm_gym.utils.locks import exclusive_lock
from lm_gym.utils.validation import check_positive_int

ARTIFACTS_DIR = "runs"
"""Subfolder of the output folder with each run's logs and saved agent (serial and pool)."""

LOCK_FILE = ".lm_gym.lock"
"""The lock file a driver holds in the output folder while it works there."""


@dataclass
class TrackOutcome:
    """What :func:`run_track` did."""

    leaderboard: Path
    """The generated ``LEADERBOARD.md``."""
    ran: list[RunSpec] = field(default_factory=list)
    """Runs executed now."""
    skipped: list[RunSpec] = field(default_factory=list)
    """Runs whose result file already existed for the same spec."""
    unsupported: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(env, agent) -> reason`` for pairs the agent refused (not applicable)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Run name -> error, for runs that raised, and for every run of a pair whose agent failed
    when it was built on the env (no result file; retried on the next call)."""


def _check_options(workers: Any, ray_address: Any) -> None:
    check_positive_int("workers", workers)
    if ray_address is not None and workers > 1:
        raise ValueError("choose either workers > 1 (local pool) or a Ray address, not both")
    if ray_address is not None:
        if not isinstance(ray_address, str) or not ray_address:
            raise ValueError(f"the Ray address must be a non-empty string, got {ray_address!r}")
        if importlib.util.find_spec("ray") is None:
            raise ValueError(
                "--ray needs the ray package: pip install 'lm_gym[ray]' (or pip install ray)"
            )


class RunPlan(NamedTuple):
    """What :func:`plan_runs` decided."""

    runs: list[RunSpec]
    """The runs to execute (or skip, when their result exists)."""
    refused: dict[tuple[str, str], str]
    """``(env, agent) -> reason`` for pairs the agent refused or the track excludes."""
    broken: dict[tuple[str, str], str]
    """``(env, agent) -> error`` for pairs whose agent failed (not refused) when it was built
    on the env: a bug in the agent or a config it rejects. Their runs are not executed."""


def plan_runs(track: Track, log: Callable[[str], None] | None = None) -> RunPlan:
    """The runs of ``track`` whose agent accepts the env, the refused pairs with their reasons
    (the track's exclusions and the agents' own refusals) and the pairs whose agent failed.
    Pairs are ``(env key, row)``: a track's rows are its agents, or its arms.

    Args:
        track: the track.
        log: called with a line per step (building each env, asking the agents).

    Raises:
        KeyError: for an unknown agent name (before any env is built).
        ValueError: naming an env that cannot be built with the track's arguments, or bad run
            options.
    """
    say = log or (lambda line: None)
    rows = track.rows()
    if not track.seeds or not track.envs or not rows:
        raise ValueError(f"track {track.name!r} needs at least one env, one agent and one seed")
    for arm in rows.values():
        get_agent_spec(arm.agent)
    specs = track.expand()  # checks the run options
    refused: dict[tuple[str, str], str] = {}
    broken: dict[tuple[str, str], str] = {}
    for number, (key, setting) in enumerate(track.envs.items(), start=1):
        say(
            f"planning [{number}/{len(track.envs)}] {key}: building it and asking "
            f"{len(rows)} agent(s) whether they act in it"
        )
        try:
            gym.make(setting.env_id or key, **gym_make_kwargs(setting.kwargs)).close()
        except Exception as error:
            raise ValueError(
                f"track {track.name!r}: env {key} with kwargs {setting.kwargs} cannot be "
                f"built: {type(error).__name__}: {error}"
            ) from error
        for spec in specs:
            if spec.env_key != key or spec.seed != track.seeds[0]:
                continue
            pair = (spec.env_key, spec.row)
            excluded = setting.excluded.get(spec.agent)
            try:
                reason = excluded if excluded is not None else unsupported_reason(spec)
            except Exception as error:
                broken[pair] = f"{type(error).__name__}: {error}"
                continue
            if reason is not None:
                refused[pair] = reason
    skip = refused.keys() | broken.keys()
    runs = [s for s in specs if (s.env_key, s.row) not in skip]
    return RunPlan(runs, refused, broken)


def run_track(
    track: Track,
    out_dir: str | Path,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    log: Any = print,
) -> TrackOutcome:
    """Run every pending run of ``track`` and write its results and leaderboard to ``out_dir``.

    Args:
        track: the track (see :mod:`lm_gym.baselines.tracks`).
        out_dir: results go to ``out_dir/results``, logs and agents to ``out_dir/runs``,
            the table to ``out_dir/LEADERBOARD.md``, curves to ``out_dir/curves``.
        workers: more than 1 runs a local process pool of that size.
        ray_address: submit the runs as tasks to the Ray cluster at this address instead.
        log: called with one line per finished run.

    Another driver working in ``out_dir`` is waited for (``log`` says which process it is).

    Raises:
        ValueError: for bad options (``ray_address`` without Ray installed) or an env that
            cannot be built; KeyError for an unknown agent; all before any run.
        LocationError: ``out_dir`` cannot be created or written (a ``ValueError`` naming
            ``--out``).
        ResultFileError: a file under ``out_dir/results`` is not a complete result record.
    """
    _check_options(workers, ray_address)
    out_dir = Path(out_dir)
    plan = plan_runs(track, log)
    with contextlib.ExitStack() as stack:
        with naming_setting("--out (out_dir)", out_dir, "the leaderboard output folder"):
            out_dir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(
                exclusive_lock(
                    out_dir / LOCK_FILE, what=f"the leaderboard folder {out_dir}", on_wait=log
                )
            )
        load_results(out_dir)  # a broken result file stops the track now, not after the runs
        return _run_pending(track, out_dir, plan, workers, ray_address, log)


def _run_pending(
    track: Track,
    out_dir: Path,
    plan: RunPlan,
    workers: int,
    ray_address: str | None,
    log: Any,
) -> TrackOutcome:
    """The body of :func:`run_track`, run while it holds the output folder's lock."""
    refused = plan.refused
    outcome = TrackOutcome(leaderboard=out_dir / "LEADERBOARD.md", unsupported=refused)
    for spec in track.expand():
        error = plan.broken.get((spec.env_key, spec.row))
        if error is not None:
            outcome.failed[spec.name] = f"building the agent failed: {error}"
    pending, other_code, unusable = [], set(), []
    for spec in plan.runs:
        try:
            record = finished_result(out_dir, spec)
        except ResultFileError as error:  # every such file is named before any run
            unusable.append((spec, error))
            continue
        (outcome.skipped if record else pending).append(spec)
        if record and record.get("git_revision") != git_revision():
            other_code.add(str(record.get("git_revision")))
    if len(unusable) == 1:
        raise unusable[0][1]
    if unusable:
        others = ", ".join(f"{spec.name}.json" for spec, _ in unusable[1:])
        raise ResultFileError(
            f"{len(unusable)} result files stop the track: {unusable[0][1]}; also {others}"
        )
    log(
        f"track {track.name}: {len(plan.runs)} runs ({len(outcome.skipped)} already done, "
        f"{len(pending)} to run), {len(refused)} env x agent pairs not applicable, "
        f"{len(plan.broken)} failed when the agent was built"
    )
    if other_code:
        log(
            f"warning: runs already done in {out_dir} were made by other code (revisions "
            f"{', '.join(sorted(other_code))}; now {git_revision()}): they are kept and "
            "LEADERBOARD.md says so; to compare on one code, run into a fresh --out"
        )
    for (env_key, row), error in plan.broken.items():
        log(f"agent {row} FAILED on {env_key} when it was built: {error}")
    for agent in track.rows():
        if all((env_id, agent) in refused for env_id in track.envs):
            first = next(iter(track.envs))
            log(f"agent {agent} runs on none of these envs; on {first}: {refused[(first, agent)]}")
    failures = {pair: f"building the agent failed: {error}" for pair, error in plan.broken.items()}
    if pending:
        if ray_address is not None:
            finished = run_ray(pending, ray_address)
        elif workers > 1:
            finished = run_pool(pending, out_dir / ARTIFACTS_DIR, workers)
        else:
            finished = run_serial(pending, out_dir / ARTIFACTS_DIR)
        with contextlib.closing(finished):  # a failing driver stops (and kills) its workers
            for count, (spec, result, error) in enumerate(finished, start=1):
                prefix = f"[{count}/{len(pending)}] {spec.name}"
                if error is not None:
                    outcome.failed[spec.name] = f"{type(error).__name__}: {error}"
                    log(f"{prefix}: FAILED {outcome.failed[spec.name]}")
                    pair = (spec.env_key, spec.row)
                    failures.setdefault(pair, f"seed {spec.seed}: {outcome.failed[spec.name]}")
                    continue
                write_result(out_dir, spec, result)
                outcome.ran.append(spec)
                score = result["metrics"]["eval/mean_return"]
                log(f"{prefix}: eval/mean_return {score:.4g} ({result['wall_seconds']:.1f} s)")
    anchors = track_anchors(track, out_dir, log)
    write_leaderboard(out_dir, track, load_results(out_dir), refused, failures, anchors)
    return outcome
