"""``lm-gym prepare``: build offline recipes ahead of time, in parallel, with a plan and one bar.

Each build trains on one torch thread (:data:`lm_gym.models.building.BUILD_THREADS`, so the
weights do not depend on the machine), so a machine with several cores builds independent
recipes at once, one spawned process per core. A reward-model recipe waits for the storyteller
it starts from (``reward-stories`` after ``storyteller-small``).

Before building, :func:`plan_builds` says what will be built, what is cached already, what
waits for what, and an estimate of the wall time from :data:`BUILD_SECONDS` (build times
measured on a quiet 2-core machine) scheduled onto the jobs, longest chain first. While
building, the child processes report every training step to the parent, which shows one
overall bar weighted by those estimates.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from lm_gym.models.building import build_recipe, recipe_entry
from lm_gym.models.recipes import RECIPES, RewardRecipe, cache_key, recipe_corpus
from lm_gym.utils.cache import CACHE_VARIABLE, is_valid_entry
from lm_gym.utils.files import naming_setting
from lm_gym.utils.validation import check_positive_int, did_you_mean

BUILD_SECONDS: dict[str, float] = {
    "baby-en": 49.0,
    "parent-it": 58.0,
    "storyteller-small": 254.0,
    "storyteller-large": 453.0,
    "reward-stories": 531.0,
}
"""Wall seconds of each default build on one torch thread, two builds at a time on an
otherwise quiet 2-core machine (the build times ``lm-gym prepare`` stored in the cache
manifests, 2026-12-07). Only for the estimate: other work on the cores slows builds down
(two to three times on the shared machine of issue 19)."""

MICRO_SECONDS = 5.0
"""Estimate for a recipe not in :data:`BUILD_SECONDS` (the micro ones)."""


@dataclass
class PlannedBuild:
    """One recipe in the plan."""

    name: str
    after: tuple[str, ...]
    """Recipes that must be built first (a reward model's base)."""
    cached: bool
    """Its cache entry exists and is valid: nothing to do."""
    seconds: float
    """Estimated wall seconds of its build (:data:`BUILD_SECONDS`)."""


@dataclass
class PrepareReport:
    """What :func:`prepare` did."""

    folders: dict[str, Path] = field(default_factory=dict)
    """Recipe -> its cache folder."""
    steps: dict[str, int] = field(default_factory=dict)
    """Recipe -> training steps its build reported (0 for cached recipes)."""


def default_jobs() -> int:
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_recipes() -> list[str]:
    """Every recipe that is not a ``-micro`` one (what ``lm-gym prepare`` builds by default)."""
    return [name for name in RECIPES if not name.endswith("-micro")]


def _entry(name: str) -> Path:
    """The cache folder recipe ``name`` has (or will have), as its builder computes it."""
    recipe, base = RECIPES[name], _base(name)
    depends_on = [_entry(base).name] if base is not None else []
    return recipe_entry(name, cache_key(recipe, recipe_corpus(recipe), depends_on))


def _base(name: str) -> str | None:
    recipe = RECIPES[name]
    return recipe.base if isinstance(recipe, RewardRecipe) else None


def nominal_builds(names: Iterable[str]) -> list[PlannedBuild]:
    """The builds ``names`` need, each recipe's base first, as if nothing were cached (no
    look at the cache: what ``lm-gym prepare --help`` estimates).

    Raises:
        KeyError: for an unknown recipe, naming the closest and the known ones.
    """
    ordered: list[str] = []
    for name in names:
        if name not in RECIPES:
            raise KeyError(
                f"unknown recipe {name!r}{did_you_mean(name, RECIPES)}; known recipes: "
                f"{', '.join(RECIPES)}"
            )
        chain = [name]
        while _base(chain[-1]) is not None:
            chain.append(_base(chain[-1]))
        ordered += [n for n in reversed(chain) if n not in ordered]
    return [
        PlannedBuild(
            name,
            tuple(b for b in [_base(name)] if b is not None),
            False,
            BUILD_SECONDS.get(name, MICRO_SECONDS),
        )
        for name in ordered
    ]


def plan_builds(names: Iterable[str]) -> list[PlannedBuild]:
    """:func:`nominal_builds`, with the recipes whose cache entry is valid marked cached."""
    builds = nominal_builds(names)
    for build in builds:
        build.cached = is_valid_entry(_entry(build.name))
    return builds


def _chain_seconds(build: PlannedBuild, todo: dict[str, PlannedBuild]) -> float:
    """Seconds of ``build`` plus its longest chain of waiting builds (its scheduling priority)."""
    after = [b for b in todo.values() if build.name in b.after]
    return build.seconds + max((_chain_seconds(b, todo) for b in after), default=0.0)


def _schedule_order(todo: dict[str, PlannedBuild]) -> list[str]:
    return sorted(todo, key=lambda name: -_chain_seconds(todo[name], todo))


def estimate_seconds(builds: list[PlannedBuild], jobs: int) -> float:
    """Wall seconds of the builds on ``jobs`` parallel jobs, scheduled as :func:`prepare` does."""
    todo = {b.name: b for b in builds if not b.cached}
    done: dict[str, float] = {b.name: 0.0 for b in builds if b.cached}
    free = [0.0] * jobs
    pending = _schedule_order(todo)  # longest chain first
    while pending:
        ready = [n for n in pending if all(a in done for a in todo[n].after)]
        name = ready[0]
        pending.remove(name)
        job = min(range(jobs), key=free.__getitem__)
        start = max([free[job], *(done[a] for a in todo[name].after)])
        free[job] = done[name] = start + todo[name].seconds
    return max(done.values(), default=0.0)


def describe_plan(builds: list[PlannedBuild], jobs: int) -> list[str]:
    """The lines ``lm-gym prepare`` prints before it starts."""
    todo = [b for b in builds if not b.cached]
    cached = [b.name for b in builds if b.cached]
    lines = [
        f"{len(todo)} recipe(s) to build, {len(cached)} cached already"
        + (f" ({', '.join(cached)})" if cached else "")
    ]
    if todo:
        lines[0] += f"; {min(jobs, len(todo))} at a time, one process and one torch thread each"
    for build in todo:
        after = f", after {', '.join(build.after)}" if build.after else ""
        lines.append(f"  {build.name:<20} ~{_minutes(build.seconds)}{after}")
    if todo:
        lines.append(
            f"estimated wall time: ~{_minutes(estimate_seconds(builds, jobs))} with {jobs} "
            f"job(s) (from build times measured on a quiet 2-core machine; longer when other "
            "work shares the cores)"
        )
    return lines


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


_STEPS: Any = None
"""In a build process: the queue its training steps go to (set by :func:`_init_worker`)."""


def _init_worker(steps: Any) -> None:
    """Start-up of a build process: remember the queue, quieten transformers' bars."""
    global _STEPS
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _STEPS = steps


def build_one(name: str, on_step: Callable[[int], object] | bool = True) -> Path:
    """Build (or find) recipe ``name``: a language model or a reward model."""
    if isinstance(RECIPES[name], RewardRecipe):
        from lm_gym.rewards.training import build_reward_recipe

        return build_reward_recipe(name, progress=on_step)
    return build_recipe(name, progress=on_step)


def _build_in_worker(name: str) -> Path:
    return build_one(name, lambda steps: _STEPS.put((name, steps)))


def prepare(
    names: Iterable[str] | None = None,
    *,
    jobs: int | None = None,
    log: Callable[[str], object] = print,
    progress: bool = True,
) -> PrepareReport:
    """Build ``names`` (default: every non-micro recipe) and their bases, ``jobs`` at a time.

    Args:
        names: recipe names.
        jobs: parallel build processes (default: the cores available, :func:`default_jobs`);
            1 builds in this process.
        log: gets the plan's lines (a line per finished recipe goes above the bar).
        progress: show the overall bar (on stderr).

    Raises:
        KeyError: for an unknown recipe, before anything is built.
    """
    jobs = default_jobs() if jobs is None else check_positive_int("jobs", jobs)
    builds = plan_builds(default_recipes() if names is None else names)
    for line in describe_plan(builds, jobs):
        log(line)
    report = PrepareReport()
    todo = {b.name: b for b in builds if not b.cached}
    for build in builds:
        report.steps[build.name] = 0
        if build.cached:
            report.folders[build.name] = build_one(build.name, False)
    if not todo:
        return report
    models = _entry(next(iter(todo))).parent
    with naming_setting(CACHE_VARIABLE, models.parent, "the model cache"):
        models.mkdir(parents=True, exist_ok=True)  # a cache that cannot be written: say so now
    share = {name: todo[name].seconds / max(1, RECIPES[name].train_steps) for name in todo}
    started = time.perf_counter()
    bar = tqdm(
        total=sum(b.seconds for b in todo.values()),
        desc="lm-gym prepare",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, ~{remaining} left",
        smoothing=0,  # the rate since the start: builds report steps in bursts, and tqdm's
        # default moving average made the estimate jump by minutes between two refreshes
        disable=not progress,
    )

    def move(amount: float) -> None:
        bar.update(min(amount, bar.total - bar.n))  # the bar never runs past its total

    def advance(name: str, steps: int) -> None:
        report.steps[name] += steps
        move(share[name] * steps)

    def finished(name: str, folder: Path) -> None:
        report.folders[name] = folder
        # What the steps did not cover: corpus, tokenizer, evaluation of a reward model.
        move(max(0.0, todo[name].seconds - share[name] * report.steps[name]))
        bar.write(f"{name}: built ({_minutes(time.perf_counter() - started)} since the start)")

    order = _schedule_order(todo)
    if jobs == 1 or len(todo) == 1:
        for name in order:
            finished(name, build_one(name, lambda steps, n=name: advance(n, steps)))
    else:
        _build_in_processes(order, todo, jobs, advance, finished)
    bar.close()
    return report


def _build_in_processes(
    order: list[str],
    todo: dict[str, PlannedBuild],
    jobs: int,
    advance: Callable[[str, int], None],
    finished: Callable[[str, Path], None],
) -> None:
    """Run the builds in ``jobs`` spawned processes, each as soon as its base is built."""
    context = multiprocessing.get_context("spawn")
    steps = context.Queue()
    pending, done = list(order), set()
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(order)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(steps,),
    ) as pool:
        running: dict[concurrent.futures.Future, str] = {}
        try:
            while pending or running:
                ready_names = [
                    n for n in pending if all(a in done or a not in todo for a in todo[n].after)
                ]
                for name in ready_names[: max(0, jobs - len(running))]:
                    pending.remove(name)
                    running[pool.submit(_build_in_worker, name)] = name
                ready, _ = concurrent.futures.wait(
                    running, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED
                )
                _drain(steps, advance)
                for future in ready:
                    name = running.pop(future)
                    folder = future.result()  # a failed build raises here
                    _drain(steps, advance)
                    done.add(name)
                    finished(name, folder)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _drain(steps: Any, advance: Callable[[str, int], None]) -> None:
    """Pass every step report waiting in the queue to ``advance``."""
    while True:
        try:
            name, count = steps.get_nowait()
        except queue.Empty:
            return
        advance(name, count)
