"""Issue 19 item 6 (and issue 16's leftovers): what used to end in a traceback, a foreign
message or a write outside ``--out`` is now one line naming the option, with exit code 2."""

from __future__ import annotations

import json

import pytest
from support import MICRO_MODELS, MICRO_TEACHER

from lm_gym.agents import registry
from lm_gym.cli import main
from lm_gym.utils.locks import exclusive_lock

MICRO = json.dumps(MICRO_MODELS)


def _error_line(capsys, command: str) -> str:
    """The only stderr line of ``lm-gym <command>``, which must be its one-line error."""
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if "WARN" not in line and line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"lm-gym {command}: error: "), lines[0]
    return lines[0]


def _run(tmp_path, *extra: str, env: str = "Bambino-v0", agent: str = "random") -> list[str]:
    return ["run", env, "--agent", agent, "--timesteps", "4", "--out", str(tmp_path), *extra]


def test_unknown_agent_names_and_keywords_suggest_the_closest(tmp_path, capsys):
    assert main(_run(tmp_path, agent="ppo2")) == 2
    line = _error_line(capsys, "run")
    assert "unknown agent 'ppo2' (did you mean 'ppo'?)" in line and "reinforce" in line
    bad = _run(tmp_path, "--env-kwargs", MICRO, "--agent-kwargs", '{"learning_rat": 1e-4}')
    bad[3] = "ppo"
    assert main(bad) == 2
    line = _error_line(capsys, "run")
    assert "'learning_rat' (did you mean 'learning_rate'?)" in line and "kl_coef" in line
    assert not any(tmp_path.iterdir()), "refused before anything was built or written"


def test_unknown_env_keywords_are_one_line(tmp_path, capsys):
    assert main(_run(tmp_path, "--env-kwargs", '{"tua": 70}')) == 2
    assert "unknown keyword 'tua' (did you mean 'tau'?)" in _error_line(capsys, "run")


def test_an_agent_on_an_env_it_cannot_act_in(tmp_path, capsys):
    teacher = json.dumps({**MICRO_TEACHER, "pool_size": 20, "budget": 4})
    assert main(_run(tmp_path, "--env-kwargs", teacher, env="TeacherDomains-v0", agent="ppo")) == 2
    line = _error_line(capsys, "run")
    assert "agent 'ppo' cannot act in TeacherDomains-v0: PPO acts token by token" in line


def test_a_device_torch_does_not_know_lists_the_valid_ones(tmp_path, capsys):
    assert main(_run(tmp_path, "--device", "gpu", "--env-kwargs", MICRO)) == 2
    line = _error_line(capsys, "run")
    assert "device must be one of auto, cpu, cuda, mps" in line and "'cuda'?" in line


@pytest.mark.parametrize("option", ["--env-kwargs", "--agent-kwargs"])
def test_malformed_json_names_the_option_and_the_place(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exit_:
        main(_run(tmp_path, option, '{"tau": 70,}'))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: not valid JSON" in err and "column 12 (character 11)" in err
    with pytest.raises(SystemExit):
        main(_run(tmp_path, option, "[1, 2]"))
    assert "must be a JSON object" in capsys.readouterr().err


def test_ray_auto_without_a_cluster_speaks_of_lm_gyms_option(tmp_path, capsys, monkeypatch):
    ray = pytest.importorskip("ray")

    def no_cluster(*args, **kwargs):  # what ray.init(address="auto") raises with no cluster
        raise ConnectionError("Could not find any running Ray instance. ... `--address` flag")

    monkeypatch.setattr(ray, "init", no_cluster)
    args = ["leaderboard", "--agents", "random", "--envs", "Bambino-v0", "--seeds", "1"]
    assert main([*args, "--out", str(tmp_path), "--ray", "auto"]) == 2
    line = _error_line(capsys, "leaderboard")
    assert "--ray auto: no running Ray cluster" in line and "--ray local" in line
    assert "--address" not in line


def test_a_base_that_is_no_recipe_or_folder_with_the_hub_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "prefs.jsonl"
    data.write_text(json.dumps({"prompt": "a", "chosen": "b c", "rejected": "c b"}) + "\n")
    args = ["train-reward-model", "--data", str(data), "--out", str(tmp_path / "rm")]
    assert main([*args, "--base", "nope"]) == 2
    line = _error_line(capsys, "train-reward-model")
    assert "--base 'nope' is not an offline recipe" in line and "storyteller-small" in line
    assert "not a local folder" in line and "HF_HUB_OFFLINE is set" in line
    assert "huggingface.co" not in line


def test_an_agent_name_with_dots_stays_inside_out(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register_agent("x/../../ESCAPED", "lm_gym.agents.untrained:RandomAgent")
    out = tmp_path / "a" / "out"
    agent_kwargs = json.dumps({"num_envs": 2, "verbose": 0})
    args = _run(out, "--env-kwargs", MICRO, "--agent-kwargs", agent_kwargs, agent="x/../../ESCAPED")
    assert main(args) == 0, capsys.readouterr().err
    written = [p for p in tmp_path.rglob("*") if "ESCAPED" in p.name]
    assert written and all(p.is_relative_to(out) for p in written)
    [folder] = [p for p in out.iterdir() if p.is_dir()]
    summary = json.loads((folder / "run.json").read_text())
    assert summary["agent"] == "x/../../ESCAPED" and summary["finished"]


def test_a_run_folder_in_use_is_refused_at_once(tmp_path, capsys):
    with exclusive_lock(tmp_path / ".Bambino-v0__random__seed0.lock", what="a test"):
        assert main(_run(tmp_path, "--env-kwargs", MICRO)) == 2
    line = _error_line(capsys, "run")
    assert "the run folder" in line and "is locked by process" in line
    assert not (tmp_path / "Bambino-v0__random__seed0").exists()
