"""Leaderboard tracks: which envs, agents, seeds and budgets a leaderboard run covers.

A :class:`Track` fixes envs (ids and keyword arguments, each with a training budget and a
number of evaluation episodes), agents (registry names and config overrides) and seeds.
:func:`expand` turns it into the flat list of :class:`RunSpec` the runner executes; which of
those pairs actually run is decided later by the agents themselves (see
:func:`lm_gym.baselines.runner.unsupported_reason`).

Two tracks are built in:

* ``quick`` runs every registered lm_gym env on the *micro* model recipes with small budgets,
  so a fresh machine (no cached models) finishes it in minutes: its numbers check that every
  agent runs everywhere and rank the agents roughly, they are not research results.
* ``standard`` runs the same envs on the default recipes and env settings with budgets sized
  for a real experiment (hours on a CPU, or a GPU).

The env list comes from Gymnasium's registry at the time the track is built, so envs
registered later join both tracks automatically (with their own default arguments and the
track's default budget unless :data:`QUICK_ENVS` / :data:`STANDARD_ENVS` say otherwise).
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym

import lm_gym  # noqa: F401  (registers the lm_gym envs)
from lm_gym.utils.files import safe_file_name
from lm_gym.utils.validation import check_positive_int


def env_file_stem(env_id: str) -> str:
    """An env id as a file name: ``:`` and ``/`` (namespaces) become ``_``, as
    ``train_agent`` writes them; anything else unsafe is sanitised."""
    return safe_file_name(env_id.replace(":", "_").replace("/", "_"))


@dataclass(frozen=True)
class EnvSetting:
    """How a track runs one env."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``gym.make`` (plus ``train_agent``'s ``clm_alternation``)."""
    timesteps: int = 1_000
    """Training budget in env steps."""
    eval_episodes: int = 16
    """Episodes the trained agent plays on a separately seeded env for the final scores."""
    excluded: dict[str, str] = field(default_factory=dict)
    """Agent name -> why it does not run here, for agents that accept the env when built but
    cannot finish an episode of it (their factories cannot tell from the spaces)."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's numbers (and nothing that does not)."""

    env_id: str
    env_kwargs: dict[str, Any]
    agent: str
    agent_kwargs: dict[str, Any]
    seed: int
    timesteps: int
    eval_episodes: int

    @property
    def name(self) -> str:
        """``<env>__<agent>__seed<seed>`` as one safe file name (the stem of the result file).

        For the usual names this is also the name of ``train_agent``' run folder. Agent names
        and env ids come from registries and may hold ``/`` or ``..``: such a name is
        sanitised (:func:`~lm_gym.utils.files.safe_file_name`), so a result file never lands
        outside ``<out>/results``.
        """
        return safe_file_name(f"{env_file_stem(self.env_id)}__{self.agent}__seed{self.seed}")

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data (what a result file records and resuming compares)."""
        return asdict(self)


@dataclass
class Track:
    """A set of runs: envs x agents x seeds, with budgets."""

    name: str
    envs: dict[str, EnvSetting]
    """Env id -> setting."""
    agents: dict[str, dict[str, Any]]
    """Agent registry name -> config overrides."""
    seeds: tuple[int, ...]
    description: str = ""

    def select(
        self,
        agents: list[str] | None = None,
        envs: list[str] | None = None,
        num_seeds: int | None = None,
    ) -> Track:
        """A copy restricted to (or extended by) ``agents``, restricted to ``envs``, with
        seeds ``0 .. num_seeds-1``.

        Agents not in the track (a third-party agent, say) join with an empty config.

        Raises:
            ValueError: for an env not in the track or a non-positive ``num_seeds``.
        """
        chosen = copy.deepcopy(self)
        if envs is not None:
            unknown = sorted(set(envs) - set(self.envs))
            if unknown:
                raise ValueError(
                    f"env(s) {unknown} are not in track {self.name!r}; its envs: "
                    f"{sorted(self.envs)}"
                )
            chosen.envs = {e: s for e, s in chosen.envs.items() if e in envs}
        if agents is not None:
            chosen.agents = {a: chosen.agents.get(a, {}) for a in dict.fromkeys(agents)}
        if num_seeds is not None:
            check_positive_int("the number of seeds", num_seeds)
            chosen.seeds = tuple(range(num_seeds))
        return chosen

    def expand(self) -> list[RunSpec]:
        """Every (env, agent, seed) run of the track, env-major, in a stable order."""
        return [
            RunSpec(
                env_id,
                copy.deepcopy(setting.kwargs),
                agent,
                copy.deepcopy(config),
                seed,
                setting.timesteps,
                setting.eval_episodes,
            )
            for env_id, setting in self.envs.items()
            for agent, config in self.agents.items()
            for seed in self.seeds
        ]

    def protocol(self) -> list[str]:
        """Human-readable lines describing the track (the header of ``LEADERBOARD.md``)."""
        lines = [f"track `{self.name}`: {self.description}", f"seeds: {list(self.seeds)}"]
        for env_id, setting in self.envs.items():
            lines.append(
                f"`{env_id}` kwargs `{json.dumps(setting.kwargs)}`: {setting.timesteps} "
                f"training steps, {setting.eval_episodes} evaluation episodes"
            )
        for agent, config in self.agents.items():
            lines.append(f"agent `{agent}` config `{json.dumps(config)}`")
        return lines


def lm_gym_env_ids() -> list[str]:
    """Every env id in Gymnasium's registry whose entry point is in lm_gym, sorted."""
    return sorted(
        env_id
        for env_id, spec in gym.registry.items()
        if str(spec.entry_point).startswith("lm_gym")
    )


MICRO_BAMBINO = {"baby_model": "baby-en-micro", "parent_model": "parent-it-micro"}
"""Bambino on the micro recipes (its default reward, per-word SLOR, needs no recentring)."""

MICRO_STORIES = {"storyteller": "storyteller-micro", "reward_model": "reward-stories-micro"}
"""BabyStories on the micro recipes, with shorter continuations."""

MICRO_TEACHER = {"teacher_model": "baby-en-micro", "num_students": 2}
"""Teacher envs with the micro teacher LM and two students."""

CURRICULUM_EXCLUDED = {
    name: "REINFORCE learns from one-step episodes; a curriculum episode has several lessons"
    for name in ("reinforce", "reinforce-teacher")
}
"""Both build on ``TeacherCurriculum-v0`` (subset actions, pool embeddings) but stop with an
error at the first multi-step episode."""

QUICK_ENVS: dict[str, EnvSetting] = {
    "Bambino-v0": EnvSetting(MICRO_BAMBINO, timesteps=1_024, eval_episodes=16),
    "BambinoSeq-v0": EnvSetting(MICRO_BAMBINO, timesteps=128, eval_episodes=16),
    "BabyStories-v0": EnvSetting(
        {**MICRO_STORIES, "max_new_tokens": 16}, timesteps=1_024, eval_episodes=16
    ),
    "BabyStoriesSeq-v0": EnvSetting(
        {**MICRO_STORIES, "max_new_tokens": 16}, timesteps=128, eval_episodes=16
    ),
    "TeacherDomains-v0": EnvSetting(
        {**MICRO_TEACHER, "student_steps": 100}, timesteps=32, eval_episodes=8
    ),
    "TeacherStructures-v0": EnvSetting(
        {**MICRO_TEACHER, "student_steps": 100}, timesteps=32, eval_episodes=8
    ),
    "TeacherParentese-v0": EnvSetting(
        {**MICRO_TEACHER, "student_steps": 50}, timesteps=16, eval_episodes=4
    ),
    "TeacherCurriculum-v0": EnvSetting(
        {**MICRO_TEACHER, "num_lessons": 4, "steps_per_lesson": 25},
        timesteps=32,
        eval_episodes=4,
        excluded=CURRICULUM_EXCLUDED,
    ),
}
"""Per-env settings of the quick track; other registered envs run with their defaults.
TeacherParentese gets half the student updates and episodes of the other teacher envs: its
students have a 2,554-word vocabulary and were 5x slower per episode here."""

QUICK_DEFAULT = EnvSetting(timesteps=256, eval_episodes=8)

QUICK_AGENTS: dict[str, dict[str, Any]] = {
    "random": {"num_envs": 8, "verbose": 0},
    "lm-sample": {"num_envs": 8, "verbose": 0},
    "oracle-teacher": {"num_envs": 4, "verbose": 0},
    "worst-teacher": {"num_envs": 4, "verbose": 0},
    "ppo": {"num_envs": 8, "num_minibatches": 2, "verbose": 0},
    "reinforce": {"num_envs": 8, "batch_size": 8, "verbose": 0},
    "reinforce-teacher": {"num_envs": 4, "batch_size": 4, "verbose": 0},
}
"""The fixed agents and the learning agents, with small batches for small budgets.
``sb3-ppo`` is left out: its unconstrained ``MultiBinary`` samples are invalid teacher actions
and on token envs it treats token ids as continuous features (add it with ``--agents``)."""

STANDARD_ENVS: dict[str, EnvSetting] = {
    "Bambino-v0": EnvSetting(timesteps=200_000, eval_episodes=256),
    "BambinoSeq-v0": EnvSetting(timesteps=12_800, eval_episodes=256),
    "BabyStories-v0": EnvSetting(timesteps=200_000, eval_episodes=256),
    "BabyStoriesSeq-v0": EnvSetting(timesteps=6_400, eval_episodes=256),
    "TeacherDomains-v0": EnvSetting(timesteps=320, eval_episodes=32),
    "TeacherStructures-v0": EnvSetting(timesteps=320, eval_episodes=32),
    "TeacherParentese-v0": EnvSetting(timesteps=320, eval_episodes=32),
    "TeacherCurriculum-v0": EnvSetting(
        timesteps=320, eval_episodes=16, excluded=CURRICULUM_EXCLUDED
    ),
}
"""Per-env settings of the standard track (default models and env arguments)."""

STANDARD_DEFAULT = EnvSetting(timesteps=20_000, eval_episodes=64)

STANDARD_AGENTS: dict[str, dict[str, Any]] = {
    name: {"verbose": 0}
    for name in (
        "random",
        "lm-sample",
        "oracle-teacher",
        "worst-teacher",
        "ppo",
        "reinforce",
        "reinforce-teacher",
    )
}
"""The same agents with their default (paper-sized) configs."""


def _registered(settings: dict[str, EnvSetting], default: EnvSetting) -> dict[str, EnvSetting]:
    return {env_id: settings.get(env_id, default) for env_id in lm_gym_env_ids()}


def quick_track() -> Track:
    """Every registered lm_gym env x the fixed and learning agents, micro models, 2 seeds."""
    return Track(
        "quick",
        _registered(QUICK_ENVS, QUICK_DEFAULT),
        copy.deepcopy(QUICK_AGENTS),
        (0, 1),
        "micro model recipes and small budgets: a smoke test and a rough ranking in minutes",
    )


def standard_track() -> Track:
    """Every registered lm_gym env x the same agents, default models and configs, 3 seeds."""
    return Track(
        "standard",
        _registered(STANDARD_ENVS, STANDARD_DEFAULT),
        copy.deepcopy(STANDARD_AGENTS),
        (0, 1, 2),
        "default model recipes and paper-sized agent configs: a real experiment (GPU or hours)",
    )


TRACKS = {"quick": quick_track, "standard": standard_track}


def get_track(name: str) -> Track:
    """The built-in track ``name``.

    Raises:
        ValueError: naming the known tracks.
    """
    if name not in TRACKS:
        raise ValueError(f"unknown track {name!r}; tracks: {sorted(TRACKS)}")
    return TRACKS[name]()
