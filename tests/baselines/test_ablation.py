"""The BAMBINO-LM ablation runner on a micro budget: files, table, plot, resumption, budget."""

from __future__ import annotations

import json
import threading
import time

import pytest

from lm_gym.baselines.ablation import (
    ARMS,
    AblationConfig,
    block_epoch_slots,
    planned_rl_batches,
    run_ablation,
    run_path,
)
from lm_gym.cli import main
from lm_gym.corpora.parentese import generate_parentese
from lm_gym.utils.locks import exclusive_lock

MICRO = AblationConfig(
    epochs=1,
    num_envs=4,
    env_kwargs={
        "baby_model": "baby-en-micro",
        "parent_model": "parent-it-micro",
        "max_new_tokens": 4,
        "corpus": generate_parentese("it", 40, seed=11),
    },
    eval_kwargs={"n_heldout": 20, "n_pairs": 2, "n_sentence_types": 4, "n_samples": 8},
)


def _alternate(slot: int) -> str:
    return "clm" if slot % 12 < 10 else "rl"


def _block(slot: int) -> str:  # a 10-batch corpus: 10 CLM slots, then 3 RL slots
    return "clm" if slot % 13 < 10 else "rl"


def test_budget_stops_before_a_clm_phase_falls_due():
    assert block_epoch_slots(_block) == 13
    assert planned_rl_batches(_block, 26) == 5  # the last RL slot of the last epoch is skipped
    # Slots 10 and 11 are RL; stopping after 11 would make the next cycle's CLM due.
    assert planned_rl_batches(_alternate, 12) == 1
    assert planned_rl_batches(_alternate, 24) == 3
    # clm_only: RL slots are "both"; a "both" slot starts with its CLM step, so it counts too.
    assert planned_rl_batches(lambda s: "clm" if s % 12 < 10 else "both", 12) == 1


def test_micro_ablation_writes_runs_table_plot_and_resumes(tmp_path):
    logs: list[str] = []
    summary = run_ablation(tmp_path, seeds=(0,), config=MICRO, log=logs.append)
    for arm in ARMS:
        record = json.loads(run_path(tmp_path, arm, 0).read_text())
        assert record["spec"]["arm"] == arm and record["metrics"]["it"]["perplexity"] > 1
    arms = summary["arms"]
    assert set(arms) == set(ARMS)
    assert arms["baseline"]["mean"]["clm_steps"] == 0
    # 40 utterances in batches of 4: one block epoch is 10 CLM + 2 RL slots.
    assert arms["wo_alternating"]["values"]["clm_steps"] == [10]
    assert arms["full"]["values"]["clm_steps"] == [10]
    assert arms["wo_ppo"]["values"]["clm_steps"] == [12]  # its RL batch trains by CLM too
    assert all(arms[a]["values"]["rl_batches"] == [1] for a in ("full", "wo_ppo", "wo_alternating"))
    table = (tmp_path / "bambino_ablation.md").read_text()
    assert "0.4613" in table and ARMS["wo_alternating"] in table
    assert (tmp_path / "bambino_ablation.png").stat().st_size > 0

    # Resume: finished runs are skipped; a lost run is redone with the same numbers.
    full = run_path(tmp_path, "full", 0)
    before = json.loads(full.read_text())
    full.unlink()
    logs.clear()
    again = run_ablation(tmp_path, seeds=(0,), config=MICRO, log=logs.append)
    assert sum("done before" in line for line in logs) == 3
    assert json.loads(full.read_text())["metrics"] == before["metrics"]
    assert again["arms"]["full"]["values"] == summary["arms"]["full"]["values"] | {
        key: again["arms"]["full"]["values"][key] for key in ("wall_time_s", "cpu_time_s")
    }


def test_cli_runs_chosen_arms_and_rejects_unknown_ones(tmp_path, capsys):
    env_kwargs = json.dumps(MICRO.env_kwargs)
    eval_kwargs = json.dumps(MICRO.eval_kwargs)
    common = ["--seeds", "1", "--epochs", "1", "--num-envs", "4", "--out", str(tmp_path)]
    common += ["--env-kwargs", env_kwargs, "--eval-kwargs", eval_kwargs]
    assert main(["ablation", *common, "--arms", "baseline"]) == 0
    assert "untrained baby-en" in capsys.readouterr().out
    assert main(["ablation", *common, "--arms", "nope"]) == 2
    assert "unknown arms" in capsys.readouterr().err


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="epochs"):
        AblationConfig(epochs=0)


def test_a_second_ablation_waits_for_the_first(tmp_path):
    """Issue 16 leftover: two ablations into one --out ran every arm twice."""
    lines: list[str] = []
    with exclusive_lock(tmp_path / ".lm_gym.lock", what="a test"):
        worker = threading.Thread(
            target=run_ablation,
            args=(tmp_path,),
            kwargs={"seeds": (0,), "config": MICRO, "arms": ("baseline",), "log": lines.append},
        )
        worker.start()
        deadline = time.monotonic() + 60
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lines and lines[0].startswith("waiting for process")
        assert not run_path(tmp_path, "baseline", 0).exists()
    worker.join(timeout=300)
    assert run_path(tmp_path, "baseline", 0).is_file()
