"""The agent registry, entry-point discovery, and ``train_agent`` / ``lm-gym run``."""

from __future__ import annotations

import importlib.util
import json
import textwrap

import pytest

from lm_gym.agents import RandomAgent, registry, train_agent
from lm_gym.cli import main as cli_main

THIRD_PARTY_AGENT = '''
"""An agent that knows nothing of lm_gym: it always emits the same token."""
import json


class AlwaysSameToken:
    def __init__(self, env, seed=0, token=None):
        self.token = token if token is not None else env.unwrapped.tokenizer.eos_token_id
        self.num_timesteps = 0
        self.returns = []

    def predict(self, obs, deterministic=False):
        return self.token

    def learn(self, env, total_timesteps, callback=None):
        env.reset(seed=0)
        episode = 0.0
        while self.num_timesteps < total_timesteps:
            _, reward, terminated, truncated, _ = env.step(self.token)
            self.num_timesteps += 1
            episode += reward
            if terminated or truncated:
                self.returns.append(episode)
                episode = 0.0
                env.reset()
        return self

    def save(self, path):
        with open(path, "w") as handle:
            json.dump({"token": self.token, "returns": self.returns}, handle)
        return path

    @classmethod
    def load(cls, path, env=None):
        with open(path) as handle:
            state = json.load(handle)
        agent = cls(env, token=state["token"])
        agent.returns = state["returns"]
        return agent
'''


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made by a test disappear after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return registry


@pytest.fixture
def third_party_package(tmp_path, monkeypatch, isolated_registry):
    """A package outside lm_gym whose agent is registered only through its entry point."""
    site = tmp_path / "site"
    (site / "thirdparty_agents").mkdir(parents=True)
    (site / "thirdparty_agents" / "__init__.py").write_text(THIRD_PARTY_AGENT)
    info = site / "thirdparty_agents-0.1.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-agents\nVersion: 0.1\n"
    )
    info.joinpath("entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [lm_gym.agents]
            same-token = thirdparty_agents:AlwaysSameToken
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_builtin_agents_are_listed():
    assert {"ppo", "reinforce", "random", "lm-sample", "sb3-ppo"} <= set(registry.list_agents())


def test_register_and_make_an_agent_in_code(isolated_registry, toys):
    isolated_registry.register_agent("my-random", RandomAgent)
    env = toys.toy_token_env(num_envs=2)
    agent = isolated_registry.make_agent("my-random", env, seed=3, verbose=0)
    assert isinstance(agent, RandomAgent) and agent.config.seed == 3
    with pytest.raises(ValueError, match="already registered"):
        isolated_registry.register_agent("my-random", RandomAgent)
    isolated_registry.register_agent(
        "my-random", "lm_gym.agents.untrained:RandomAgent", overwrite=True
    )
    assert isolated_registry.get_agent_spec("my-random").load() is RandomAgent


@pytest.mark.parametrize(
    ("name", "factory", "error"),
    [
        ("", RandomAgent, ValueError),
        ("two words", RandomAgent, ValueError),
        ("x", "no_colon_path", ValueError),
        ("x", 42, TypeError),
    ],
)
def test_bad_registrations_are_refused(isolated_registry, name, factory, error):
    with pytest.raises(error):
        isolated_registry.register_agent(name, factory)


def test_unknown_agent_names_the_known_ones(isolated_registry):
    with pytest.raises(KeyError, match="ppo"):
        isolated_registry.make_agent("no-such-agent", env=None)


def test_an_entry_point_agent_is_found_and_cannot_shadow_a_builtin(
    third_party_package, isolated_registry
):
    assert "same-token" in isolated_registry.list_agents()
    spec = isolated_registry.get_agent_spec("same-token")
    assert spec.source == "entry point of thirdparty-agents"
    assert spec.load().__name__ == "AlwaysSameToken"
    info = third_party_package / "thirdparty_agents-0.1.dist-info" / "entry_points.txt"
    info.write_text("[lm_gym.agents]\nppo = thirdparty_agents:AlwaysSameToken\n")
    with pytest.warns(UserWarning, match="already registered"):
        isolated_registry.load_entry_points()
    assert isolated_registry.get_agent_spec("ppo").source == "lm_gym"


def test_a_third_party_agent_runs_through_lm_gym_run(third_party_package, tmp_path, toys):
    env_id = toys.register_toy_env()
    out = tmp_path / "runs"
    code = cli_main(
        [
            "run",
            env_id,
            "--agent",
            "same-token",
            "--timesteps",
            "30",
            "--seed",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["agent"] == "same-token" and summary["num_timesteps"] == 30
    saved = json.loads((run_dir / "agent.pt").read_text())
    assert saved["returns"], "the third-party agent played whole episodes"
    restored = registry.get_agent_spec("same-token").load().load(run_dir / "agent.pt")
    assert restored.token == saved["token"] and restored.returns == saved["returns"]


def test_train_agent_trains_logs_and_saves_ppo(tmp_path, toys):
    env_id = toys.register_toy_env()
    result = train_agent(
        env_id,
        "ppo",
        60,
        seed=0,
        out_dir=tmp_path,
        env_kwargs={"clm_alternation": {"r_clm": 1, "r_rl": 1, "batch_size": 4}},
        agent_kwargs={"num_envs": 4, "num_minibatches": 1, "verbose": 0},
        progress_bar=False,
    )
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"progress.csv", "agent.pt", "run.json"} <= files
    # TensorBoard logs are written whenever tensorboard is installed (the dev extra has it).
    assert ("tensorboard" in files) == (importlib.util.find_spec("tensorboard") is not None)
    header = (result.run_dir / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"rollout/ep_rew_mean", "losses/policy_loss", "charts/kl", "charts/kl_coef"} <= set(
        header
    )
    summary = json.loads((result.run_dir / "run.json").read_text())
    assert summary["num_timesteps"] >= 60 and summary["final_metrics"]
    assert result.agent.env.schedule.clm_steps > 0  # the CLM wrapper was in the loop


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"timesteps": 0}, ValueError, "timesteps"),
        ({"env_id": "NoSuchEnv-v0"}, ValueError, "unknown env"),
        ({"agent": "no-such-agent"}, KeyError, "unknown agent"),
        ({"env_kwargs": [1]}, ValueError, "env_kwargs"),
    ],
)
def test_train_agent_rejects_bad_input_before_work(tmp_path, toys, kwargs, error, match):
    arguments = {"env_id": toys.register_toy_env(), "agent": "random", "timesteps": 10}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        train_agent(**arguments, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())
