"""The BAMBINO-LM ablation as a track of the leaderboard driver, on micro models: its budget,
its arms' training counters, resumption, a 2-worker pool, the CLI shorthand."""

from __future__ import annotations

import json

import pytest
import torch

from lm_gym.baselines.ablation import (
    ARMS,
    bambino_ablation_track,
    block_epoch_slots,
    planned_rl_batches,
)
from lm_gym.baselines.driver import plan_runs, run_track
from lm_gym.baselines.results import load_results, result_path
from lm_gym.baselines.tracks import RunOptions
from lm_gym.cli import main
from lm_gym.corpora.parentese import generate_parentese

MICRO_ENV = {
    "baby_model": "baby-en-micro",
    "parent_model": "parent-it-micro",
    "max_new_tokens": 4,
    # 60 utterances in CLM batches of 4: 15 CLM slots per epoch, and a block epoch of 18
    # slots, so block (15 CLM, then RL) and alternate (10 CLM, 2 RL) differ within one epoch.
    "corpus": generate_parentese("it", 60, seed=11),
}
MICRO_EVAL = {"n_heldout": 20, "n_pairs": 2, "n_sentence_types": 4, "n_samples": 8}


def micro_ablation(seeds: int = 1):
    return bambino_ablation_track(
        epochs=1,
        num_envs=4,
        env_kwargs=MICRO_ENV,
        eval_kwargs=MICRO_EVAL,
        eval_episodes=3,
        seeds=seeds,
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


@pytest.fixture(scope="module")
def serial_ablation(tmp_path_factory):
    """The micro ablation run serially: ``(out_dir, outcome, metrics by arm)``."""
    out_dir = tmp_path_factory.mktemp("ablation")
    threads = torch.get_num_threads()
    outcome = run_track(micro_ablation(), out_dir, log=lambda line: None)
    torch.set_num_threads(threads)
    metrics = {r["spec"].get("arm") or r["spec"]["agent"]: r for r in load_results(out_dir)}
    return out_dir, outcome, metrics


def test_every_arm_runs_with_the_budget_its_schedule_gives(serial_ablation):
    out_dir, outcome, records = serial_ablation
    assert not outcome.failed and set(records) == set(ARMS)
    counters = {
        arm: {k: r["metrics"].get(k) for k in ("train/iterations", "train/clm_steps")}
        for arm, r in records.items()
    }
    assert counters["baseline"] == {"train/iterations": 0, "train/clm_steps": None}
    # alternate 10:2 over 18 slots: 10 CLM batches, then 1 RL batch (the second RL slot would
    # be followed by CLM); block: 15 CLM batches, then 2 of its 3 RL batches.
    assert counters["full"] == {"train/iterations": 1, "train/clm_steps": 10}
    assert counters["wo_alternating"] == {"train/iterations": 2, "train/clm_steps": 15}
    # RL only: full's RL batches and no CLM; CLM matched: full's CLM batches and RL batches.
    assert counters["rl_only"] == {"train/iterations": 1, "train/clm_steps": 0}
    assert counters["clm_matched"] == counters["full"]
    assert (
        records["clm_matched"]["metrics"]["train/words_seen"]
        == (records["full"]["metrics"]["train/words_seen"])
    )
    # w/o PPO: its RL slots are CLM batches too.
    assert counters["wo_ppo"]["train/clm_steps"] > counters["full"]["train/clm_steps"]
    for record in records.values():
        assert record["metrics"]["lm/it/perplexity"] > 1
        assert 0 <= record["metrics"]["lm/en/minimal_pairs"] <= 1
    # The reward curve has the word ledger's words exposed (CLM batches and prompts) as a
    # second x-axis; its CLM share is what the CLM wrapper counted.
    for arm in ("full", "rl_only"):
        words = records[arm]["words"]
        curve = records[arm]["curves"]["rollout/batch_rew_mean"]
        assert curve["words"] == [words["exposed"]]
        assert words["exposed_by_source"]["prompts"] > 0
    full_words = records["full"]["words"]["exposed_by_source"]["clm"]
    assert full_words == records["full"]["metrics"]["train/words_seen"]
    assert records["rl_only"]["words"]["exposed_by_source"]["clm"] == 0
    text = outcome.leaderboard.read_text()
    assert "`clm_matched`" in text and "lm/it/minimal_pairs" in text
    assert (out_dir / "figures" / "Bambino-v0.png").read_bytes()[:4] == b"\x89PNG"


def test_a_lost_result_is_rerun_to_the_same_numbers(serial_ablation, tmp_path, compared_numbers):
    out_dir, _, _ = serial_ablation
    track = micro_ablation().select(agents=["full", "clm_matched"])
    run_track(track, tmp_path, log=lambda line: None)  # a fresh folder: the same numbers
    expected = {k: v for k, v in compared_numbers(out_dir).items() if "full" in k or "matched" in k}
    assert compared_numbers(tmp_path) == expected
    [spec] = [s for s in track.expand() if s.arm == "full"]
    result_path(tmp_path, spec).unlink()
    logs: list[str] = []
    outcome = run_track(track, tmp_path, log=logs.append)
    assert [s.arm for s in outcome.ran] == ["full"] and len(outcome.skipped) == 1
    assert compared_numbers(tmp_path) == expected


def test_a_two_worker_pool_gives_the_serial_numbers(serial_ablation, tmp_path, compared_numbers):
    out_dir, _, _ = serial_ablation
    track = micro_ablation().select(agents=["baseline", "full", "wo_ppo", "rl_only"])
    outcome = run_track(track, tmp_path, workers=2, log=lambda line: None)
    assert not outcome.failed and len(outcome.ran) == 4
    serial = compared_numbers(out_dir)
    assert compared_numbers(tmp_path) == {k: serial[k] for k in compared_numbers(tmp_path)}


def test_cli_shorthand_runs_chosen_arms(tmp_path, capsys):
    common = ["--seeds", "1", "--epochs", "1", "--num-envs", "4", "--out", str(tmp_path)]
    common += ["--env-kwargs", json.dumps(MICRO_ENV), "--eval-kwargs", json.dumps(MICRO_EVAL)]
    assert main(["ablation", *common, "--arms", "baseline"]) == 0
    out = capsys.readouterr().out
    assert "track `bambino-ablation`" in out and "| `baseline` |" in out
    assert main(["ablation", *common, "--arms", "no-such-arm"]) == 2
    assert "no-such-arm" in capsys.readouterr().err


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="epochs"):
        bambino_ablation_track(epochs=-1)
    track = micro_ablation()
    track.options = {**track.options, "epoch": 2}
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        plan_runs(track)
    with pytest.raises(ValueError, match="rl_batches_as needs an epochs budget"):
        RunOptions.from_dict({"rl_batches_as": "alternate"})
