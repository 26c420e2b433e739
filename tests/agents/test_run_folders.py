"""``lm-gym run`` / ``train_agent`` never overwrite a run: refuse, resume or overwrite.

A resumed run (from the final ``agent.pt``, or from the periodic ``checkpoint.pt`` of a run
killed with SIGKILL) ends with the same weights and the same ``progress.csv`` rows as a run
that was never interrupted.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from lm_gym.agents import train_agent
from lm_gym.agents.checkpoint import load_checkpoint
from lm_gym.cli import main

AGENT_KWARGS = {"num_envs": 4, "num_minibatches": 1, "verbose": 0}
ENV_KWARGS = {"clm_alternation": {"r_clm": 1, "r_rl": 1, "batch_size": 4}}


def _train(toys, out: Path, timesteps: int, **kwargs):
    return train_agent(
        toys.register_toy_env(),
        "ppo",
        timesteps,
        seed=0,
        out_dir=out,
        env_kwargs=ENV_KWARGS,
        agent_kwargs=AGENT_KWARGS,
        progress_bar=False,
        **kwargs,
    )


def _policy(agent_file: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(agent_file)["state"]["policy"]


def _assert_same_weights(first: Path, second: Path) -> None:
    expected, actual = _policy(first), _policy(second)
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), name


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "progress.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_an_existing_run_folder_is_refused_then_resumed_or_overwritten(toys, tmp_path):
    full = _train(toys, tmp_path / "full", 96)
    half = _train(toys, tmp_path / "split", 48)
    before = (half.run_dir / "agent.pt").read_bytes()
    with pytest.raises(ValueError, match=r"run folder .*split.* already exists.*--resume.*--over"):
        _train(toys, tmp_path / "split", 24)
    assert (half.run_dir / "agent.pt").read_bytes() == before  # nothing was touched

    resumed = _train(toys, tmp_path / "split", 96, resume=True)
    assert resumed.agent.num_timesteps == full.agent.num_timesteps
    _assert_same_weights(full.agent_file, resumed.agent_file)
    assert _rows(resumed.run_dir) == _rows(full.run_dir)  # appended, no duplicates
    assert json.loads((resumed.run_dir / "run.json").read_text())["finished"] is True
    assert not (resumed.run_dir / "checkpoint.pt").exists()

    with pytest.raises(ValueError, match="other settings: agent_kwargs="):
        train_agent(
            toys.register_toy_env(),
            "ppo",
            96,
            seed=0,
            out_dir=tmp_path / "split",
            env_kwargs=ENV_KWARGS,
            agent_kwargs={**AGENT_KWARGS, "learning_rate": 1.0},
            resume=True,
        )
    again = _train(toys, tmp_path / "split", 24, overwrite=True)
    assert again.agent.num_timesteps < 48
    assert len(_rows(again.run_dir)) == len(again.history)


def test_the_cli_names_the_folder_and_both_flags(toys, tmp_path, capsys):
    args = ["run", toys.register_toy_env(), "--agent", "random", "--timesteps", "12"]
    args += ["--out", str(tmp_path)]
    assert main(args) == 0
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "already exists" in error and "--resume" in error and "--overwrite" in error
    assert main([*args, "--overwrite"]) == 0
    with pytest.raises(SystemExit):  # argparse: not allowed together
        main([*args, "--overwrite", "--resume"])


def test_resuming_needs_an_agent_that_can_restore_bit_identically(toys, tmp_path):
    pytest.importorskip("stable_baselines3")
    kwargs = {
        "agent_kwargs": {"n_steps": 16, "batch_size": 16, "n_epochs": 1, "verbose": 0},
        "progress_bar": False,
    }
    train_agent(toys.register_toy_env(), "sb3-ppo", 16, out_dir=tmp_path, **kwargs)
    with pytest.raises(ValueError, match="'sb3-ppo' cannot resume.*--overwrite"):
        train_agent(toys.register_toy_env(), "sb3-ppo", 32, out_dir=tmp_path, resume=True, **kwargs)


KILLED_RUN = """
import sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
import toys
from lm_gym.cli import main
sys.exit(main(["run", toys.register_toy_env(), *sys.argv[1:]]))
"""


@pytest.mark.slow
def test_a_run_killed_mid_way_and_resumed_ends_like_an_uninterrupted_one(toys, tmp_path):
    script = textwrap.dedent(KILLED_RUN.format(tests=str(Path(toys.__file__).parent)))
    args = ["--agent", "ppo", "--timesteps", "720", "--checkpoint-every", "144"]
    args += ["--agent-kwargs", json.dumps(AGENT_KWARGS), "--env-kwargs", json.dumps(ENV_KWARGS)]

    def run(out: Path, *extra: str) -> subprocess.Popen:
        command = [sys.executable, "-c", script, *args, "--out", str(out), *extra]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    killed = run(tmp_path / "killed")
    run_dir = tmp_path / "killed" / "lm_gym_tests_ToyTokens-v0__ppo__seed0"
    deadline = time.monotonic() + 300
    # Kill once a row was logged after the first checkpoint: the resumed run must drop it.
    while killed.poll() is None and not _logged_after_checkpoint(run_dir):
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(60) == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (run_dir / "agent.pt").exists()
    resumed_at = load_checkpoint(run_dir / "checkpoint.pt")["num_timesteps"]
    assert max(float(row["time/total_timesteps"]) for row in _rows(run_dir)) > resumed_at

    resumed = run(tmp_path / "killed", "--resume")
    uninterrupted = run(tmp_path / "whole")
    for process in (resumed, uninterrupted):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr.decode()[-2000:]
    whole_dir = tmp_path / "whole" / run_dir.name
    _assert_same_weights(whole_dir / "agent.pt", run_dir / "agent.pt")
    rows = _rows(run_dir)
    steps = [float(row["time/total_timesteps"]) for row in rows]
    assert steps == sorted(set(steps)) and resumed_at in steps  # appended, no duplicates
    assert rows == _rows(whole_dir)
    assert _tensorboard_steps(run_dir) == _tensorboard_steps(whole_dir)


def _logged_after_checkpoint(run_dir: Path) -> bool:
    """True once ``progress.csv`` has a row after the step of ``checkpoint.pt``."""
    if not (run_dir / "checkpoint.pt").exists():
        return False
    saved_at = load_checkpoint(run_dir / "checkpoint.pt")["num_timesteps"]
    try:
        return any(float(row["time/total_timesteps"]) > saved_at for row in _rows(run_dir))
    except (TypeError, ValueError, KeyError):  # caught while the logger rewrites the header
        return False


def _tensorboard_steps(run_dir: Path) -> list[int]:
    """The steps of one logged scalar as TensorBoard shows them (purged events hidden)."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = accumulator.EventAccumulator(str(run_dir / "tensorboard")).Reload()
    return [event.step for event in events.Scalars("rollout/ep_rew_mean")]
