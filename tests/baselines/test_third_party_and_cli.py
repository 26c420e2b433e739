"""A third-party agent found through its entry point appears in the leaderboard by name; the
``lm-gym leaderboard`` command prints the table."""

from __future__ import annotations

import textwrap

import pytest

from lm_gym.agents import registry
from lm_gym.baselines.driver import run_track
from lm_gym.baselines.results import load_results
from lm_gym.cli import main as cli_main

OUTSIDE_AGENT = '''
"""Written against the agent protocol only: it always ends the continuation at once."""


class StopAtOnce:
    def __init__(self, env, seed=0):
        self.stop = env.unwrapped.tokenizer.eos_token_id  # text envs only
        self.num_timesteps = 0

    def predict(self, obs, deterministic=False):
        return self.stop

    def learn(self, env, total_timesteps, callback=None):
        env.reset(seed=0)
        while self.num_timesteps < total_timesteps:
            *_, terminated, truncated, _ = env.step(self.stop)
            self.num_timesteps += 1
            if terminated or truncated:
                env.reset()
        return self

    def save(self, path):
        open(path, "w").write(str(self.stop))
        return path

    @classmethod
    def load(cls, path, env=None):
        return cls(env)
'''


@pytest.fixture
def outside_package(tmp_path, monkeypatch):
    """A package that registers ``stop-at-once`` only through the lm_gym.agents entry point."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    site = tmp_path / "site"
    (site / "outside_agents").mkdir(parents=True)
    (site / "outside_agents" / "__init__.py").write_text(OUTSIDE_AGENT)
    info = site / "outside_agents-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-agents\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [lm_gym.agents]
            stop-at-once = outside_agents:StopAtOnce
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_an_entry_point_agent_joins_the_leaderboard_by_name(outside_package, tiny_track, tmp_path):
    track = tiny_track.select(agents=["random", "stop-at-once"], num_seeds=1)
    outcome = run_track(track, tmp_path, log=lambda line: None)
    # The teacher env has no tokenizer: the outside agent's factory fails there with an
    # AttributeError (not a TypeError refusal), so that pair is reported as failed, with its
    # message, instead of breaking the track or passing for "not applicable".
    assert ("TeacherDomains-v0", "stop-at-once") not in outcome.unsupported
    assert "AttributeError" in outcome.failed["TeacherDomains-v0__stop-at-once__seed0"]
    (record,) = [r for r in load_results(tmp_path) if r["spec"]["agent"] == "stop-at-once"]
    assert record["metrics"]["eval/mean_length"] == 1.0  # every episode ended at the first step
    empty = {"timesteps": [], "value": []}
    assert record["curves"] == {"rollout/ep_rew_mean": empty}  # it logs nothing
    assert "| `stop-at-once` | 1 |" in outcome.leaderboard.read_text()


def test_the_leaderboard_command_prints_the_table(tmp_path, capsys):
    out = tmp_path / "board"
    arguments = ["leaderboard", "--track", "quick", "--envs", "Bambino-v0", "--agents", "random"]
    assert cli_main([*arguments, "--seeds", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "# lm_gym leaderboard: track `quick`" in printed and "| `random` | 1 |" in printed
    assert (out / "LEADERBOARD.md").read_text() in printed
    assert cli_main([*arguments, "--seeds", "0", "--out", str(out)]) == 2
    assert "seeds" in capsys.readouterr().err
