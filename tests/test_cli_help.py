"""Issue 19 items 10 and "typed options": help pages, listings, corpus sizes, docs outputs,
and ``--agent.<field>`` / ``--env.<field>`` options that give the same config as the JSON."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lm_gym.agents.ppo import PPOConfig
from lm_gym.baselines.catalogue import TRACKS
from lm_gym.cli import build_parser, main
from lm_gym.cli_parser import TRACK_NAMES
from lm_gym.envs import BambinoConfig
from lm_gym.models.recipes import RECIPES
from lm_gym.version import __version__

ROOT = Path(__file__).resolve().parents[1]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_has_a_description_and_every_option_help_and_default():
    for name, sub in _subparsers(build_parser()).items():
        assert sub.description and len(sub.description) > 40, name
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}"
            if action.option_strings and action.default is not None and action.default is not False:
                assert f"(default: {action.default}" in " ".join(text.split()) or (
                    isinstance(action.default, list | dict)
                ), f"{name} {action.option_strings}"


def test_run_out_track_ray_and_version_say_what_they_take(capsys):
    commands = _subparsers(build_parser())
    run_help = " ".join(commands["run"].format_help().split())
    assert "parent folder of the run folder (the run writes <out>/<env>__<agent>__seed<seed>/)" in (
        run_help
    )
    assert set(TRACK_NAMES) == set(TRACKS)
    board_help = " ".join(commands["leaderboard"].format_help().split())
    assert "{quick,standard,cpu," in board_help
    assert "'auto'" in board_help and "'local'" in board_help
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", "--track", "quik"])
    assert exit_.value.code == 2 and "invalid choice: 'quik'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"lm-gym {__version__}"


def test_list_aligns_names_and_says_where_each_agent_acts(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    agents = out.split("agents:\n")[1].split("model recipes:")[0].splitlines()
    by_name = {line.split()[0]: line for line in agents}
    assert "Bambino-v0" in by_name["ppo"] and "TeacherDomains-v0" not in by_name["ppo"]
    assert (
        "TeacherDomains-v0" in by_name["oracle-teacher"]
        and "Bambino" not in by_name["oracle-teacher"]
    )
    assert "TeacherCurriculum-v0" not in by_name["reinforce"]  # one-step episodes only
    assert len({line.index("acts in:") for line in agents}) == 1  # one column
    recipes = out.split("model recipes:\n")[1].splitlines()
    columns = {line.index(RECIPES[line.split()[0]].description) for line in recipes}
    assert len(columns) == 1  # reward-stories-micro no longer pushes its description right


def test_corpus_gives_n_distinct_lines_or_says_why_not(capsys):
    assert main(["corpus", "minimal-pairs-it", "-n", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(set(lines)) == 30
    assert len({json.loads(line)["UID"] for line in lines}) > 1
    assert main(["corpus", "domains", "-n", "1500"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1500
    assert main(["corpus", "structures", "-n", "100000"]) == 2
    err = capsys.readouterr().err
    assert "cannot give -n 100000 distinct sentences" in err
    assert re.search(r"only \d+ exist", err)  # the task's own reason, kept
    assert err.count("\n") == 1


def _load_docs_outputs():
    spec = importlib.util.spec_from_file_location("docs_outputs", ROOT / "docs" / "outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


READ_ONLY_DOCS_SCRIPTS = {"babystories_ppo_summary.py"}
"""Docs scripts that only read results and print (no ``--update-docs``: nothing to protect)."""
WRITING_CALLS = ("write_text", "write_bytes", "savefig", "json.dump(", '"w"', "'w'", "mkdir")


def test_docs_scripts_write_elsewhere_unless_asked(tmp_path, monkeypatch):
    outputs = _load_docs_outputs()
    parser = argparse.ArgumentParser()
    outputs.add_output_options(parser)
    monkeypatch.chdir(tmp_path)
    assert outputs.output_dir(parser.parse_args([])).resolve() == tmp_path / "runs" / "docs"
    assert outputs.output_dir(parser.parse_args(["--update-docs"])) == ROOT / "docs"
    for script in sorted((ROOT / "docs").glob("*.py")):
        if script.name == "outputs.py":
            continue
        if script.name in READ_ONLY_DOCS_SCRIPTS:  # prints only: make sure it writes nothing
            source = script.read_text()
            assert not any(call in source for call in WRITING_CALLS), script.name
            continue
        shown = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert "--update-docs" in shown and "runs/docs" in shown, script.name


TYPED = [
    "--agent.learning-rate",
    "3e-4",
    "--agent.num-envs",
    "4",
    "--agent.adaptive-kl",
    "false",
    "--agent.value-learning-rate",
    "none",
    "--env.max-new-tokens",
    "8",
    "--env.tau",
    "70",
    "--env.baby-model",
    "baby-en-micro",
]
AS_JSON = [
    "--agent-kwargs",
    '{"learning_rate": 0.0003, "num_envs": 4, "adaptive_kl": false, "value_learning_rate": null}',
    "--env-kwargs",
    '{"max_new_tokens": 8, "tau": 70.0, "baby_model": "baby-en-micro"}',
]


@pytest.fixture
def captured(monkeypatch):
    """Calls of ``train_agent`` made by ``lm-gym run`` (nothing is trained)."""
    calls = []
    monkeypatch.setattr("lm_gym.agents.run.train_agent", lambda *a, **k: calls.append((a, k)))
    return calls


def test_typed_options_give_the_same_config_as_the_json(captured):
    start = ["run", "Bambino-v0", "--agent", "ppo", "--timesteps", "64"]
    assert main([*start, *TYPED]) == 0 and main([*start, *AS_JSON]) == 0
    (_, typed), (_, as_json) = captured
    assert typed["agent_kwargs"] == as_json["agent_kwargs"]
    assert typed["env_kwargs"] == as_json["env_kwargs"]
    assert PPOConfig(**typed["agent_kwargs"]) == PPOConfig(**as_json["agent_kwargs"])
    assert BambinoConfig(**typed["env_kwargs"]) == BambinoConfig(**as_json["env_kwargs"])
    assert PPOConfig(**typed["agent_kwargs"]).adaptive_kl is False


def test_typed_options_are_listed_with_their_docstrings_and_checked(captured, capsys):
    start = ["run", "Bambino-v0", "--agent", "ppo"]
    with pytest.raises(SystemExit):
        main([*start, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--agent.learning-rate FLOAT Adam learning rate" in text
    assert "--env.max-new-tokens INT Longest continuation in baby tokens" in text
    assert "fit the true continuation of 97% of the default" in text  # a docstring's % shown
    assert "--env.mode" not in text  # Bambino-v0's registration fixes it
    with pytest.raises(SystemExit) as exit_:
        main([*start, "--timesteps", "8", "--agent.num-envs", "four"])
    assert exit_.value.code == 2
    assert "--agent.num-envs takes an int, got 'four'" in capsys.readouterr().err
    both = [
        *start,
        "--timesteps",
        "8",
        "--agent.num-envs",
        "4",
        "--agent-kwargs",
        '{"num_envs": 2}',
    ]
    assert main(both) == 2 and not captured
    assert "num_envs given both in --agent-kwargs and as typed" in capsys.readouterr().err
    teacher = ["run", "TeacherDomains-v0", "--agent", "random", "--timesteps", "8"]
    assert main([*teacher, "--env.pool-size", "20", "--env.budget", "4"]) == 0
    assert captured[-1][1]["env_kwargs"] == {"pool_size": 20, "budget": 4}
