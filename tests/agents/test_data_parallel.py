"""Data-parallel training on 2 gloo processes: lock step, equivalence with one process, resume.

One launch of 2 ranks (``tests/ranks.py``) runs every scenario of ``tests/parallel_scenarios.py``;
the tests below read its results. The one-process side of each comparison runs here.

**Tolerance.** The update on a batch split 16/16 over 2 ranks matches the one-process update of
the same 32 episodes within 1e-5 of each parameter's norm, and within 1e-4 of the update itself,
for every parameter but the attention key biases: their exact gradient is zero (adding a
constant to every key shifts a query's scores alike, and softmax ignores shifts), so what they
receive is float rounding, which Adam scales up to steps of a sizeable part of the learning
rate. They differ as much between two one-process updates whose only difference is one masked
padding column; the test checks that too, so the exclusion hides nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
import warnings

import gymnasium as gym
import parallel_scenarios as scenarios
import pytest
import torch
import torch.nn.functional as F
from ranks import run_ranks
from support import MICRO_MODELS

from lm_gym.cli import main
from lm_gym.models.clm import SentenceBatches
from lm_gym.utils import distributed

ZERO_GRADIENT = "self_attn.k_proj.bias"
"""Parameters whose exact gradient is zero (see the module docstring)."""


@pytest.fixture(scope="module")
def launch(tmp_path_factory):
    """The fixed batch collected here, then every scenario on 2 ranks: ``(results, folder)``."""
    folder = tmp_path_factory.mktemp("two_ranks")
    scenarios.save_fixed_batch(folder)
    return run_ranks("everything", 2, folder), folder


def relative_differences(
    got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], start: dict[str, torch.Tensor]
) -> dict[str, tuple[float, float]]:
    """Per parameter: the difference over the weights' norm, and over the update's norm."""
    out = {}
    for name, target in want.items():
        difference = (got[name] - target).norm()
        update = (target - start[name]).norm()
        out[name] = (float(difference / target.norm()), float(difference / update))
    return out


def test_helpers_are_identities_in_one_process():
    tensor = torch.tensor([1.0, 2.0])
    assert distributed.world_size() == 1 and distributed.rank() == 0
    assert distributed.all_reduce_sum(tensor) is tensor and tensor.tolist() == [1.0, 2.0]
    assert distributed.all_gather_objects({"a": 1}) == [{"a": 1}]
    rows = {"returns": torch.zeros(3).numpy()}
    gathered, own = distributed.gather_rows(rows)
    assert gathered is rows and own == slice(0, 3)
    assert distributed.run_on_main_process(lambda x: x + 1, 1) == 2


def test_shutdown_destroys_only_a_group_init_distributed_made(tmp_path):
    store = f"file://{tmp_path / 'store'}"
    torch.distributed.init_process_group("gloo", init_method=store, rank=0, world_size=1)
    try:
        assert distributed.init_distributed("cpu") == 1  # the caller's group: joined as it is
        distributed.shutdown_distributed()
        assert torch.distributed.is_initialized()
    finally:
        torch.distributed.destroy_process_group()


def test_parameters_are_identical_on_both_ranks_after_every_update(launch):
    (first, second), _ = launch
    one, two = first["lockstep"], second["lockstep"]
    assert len(one["ppo"]) == 4 and len(one["reinforce"]) == 3
    assert one["ppo"] == two["ppo"]  # policy and CLM twin, after each of 4 iterations
    assert one["reinforce"] == two["reinforce"]
    assert len({digests for digests in one["ppo"]}) == 4  # and they did change every time
    for key in ("num_timesteps", "clm_steps", "words_seen", "kl_coef", "baseline"):
        assert one[key] == two[key], key


def test_teacher_envs_split_their_students_across_ranks_in_lock_step(launch):
    (first, second), _ = launch
    one, two = first["teacher"], second["teacher"]
    assert len(one["digests"]) == 3 and one["digests"] == two["digests"]
    assert len(set(one["digests"])) == 3  # the teacher learnt on every update
    assert one["steps"] == two["steps"] == 3 * 2 * 2  # episodes of both ranks, counted once
    for mine, theirs in zip(one["students"], two["students"]):
        assert len(mine) == len(theirs) == 2 * scenarios.TEACHER["num_students"]
        assert not set(mine) & set(theirs)  # each rank trained other students


def test_timesteps_count_the_tokens_of_both_ranks(launch):
    (first, _), _ = launch
    run = first["lockstep"]
    per_iteration = 2 * scenarios.LOCKSTEP["num_envs"] * scenarios.LOCKSTEP["max_new_tokens"]
    assert run["iteration"] == 4
    assert run["num_timesteps"] == 4 * per_iteration  # a budget of N tokens is N in all
    assert run["reinforce_timesteps"] == 3 * 2 * 4


def test_ppo_update_on_a_batch_split_over_two_ranks_matches_one_process(launch):
    (first, second), folder = launch
    rollout = torch.load(folder / "fixed_batch.pt", weights_only=False)  # written by the test
    halves = [scenarios.rollout_rows(rollout, list(range(i, i + 16))) for i in (0, 16)]
    assert halves[0].prompt_mask.shape[1] != halves[1].prompt_mask.shape[1]  # padding is
    assert halves[0].mask.shape[1] != halves[1].mask.shape[1]  # exercised both ways
    agent = scenarios.fixed_batch_ppo(32)
    start = scenarios.weights(agent.policy)
    one = scenarios.update_on(agent, rollout)
    assert scenarios.digest_of(first["ppo"]["policy"]) == scenarios.digest_of(
        second["ppo"]["policy"]
    )
    errors = relative_differences(first["ppo"]["policy"], one["policy"], start)
    for name, (of_weights, of_update) in errors.items():
        if ZERO_GRADIENT not in name:
            assert of_weights < 1e-5 and of_update < 1e-4, (name, of_weights, of_update)
    assert first["ppo"]["kl_coef"] == pytest.approx(one["kl_coef"], rel=1e-6)
    assert one["kl_coef"] != 0.2  # the controller moved
    for key, value in one["row"].items():
        assert first["ppo"]["row"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key

    # The excluded biases move as much between two one-process updates that differ by one
    # masked padding column only.
    padded = dataclasses.replace(
        rollout,
        prompt_ids=F.pad(rollout.prompt_ids, (1, 0), value=1),
        prompt_mask=F.pad(rollout.prompt_mask, (1, 0), value=0),
    )
    again = scenarios.update_on(scenarios.fixed_batch_ppo(32), padded)
    noise = relative_differences(again["policy"], one["policy"], start)
    for name, (_, of_update) in errors.items():
        if ZERO_GRADIENT in name:
            assert of_update < 10 * noise[name][1] + 1e-4, (name, of_update, noise[name])


def test_clm_step_on_a_batch_split_over_two_ranks_matches_one_process(launch):
    (first, second), _ = launch
    schedule = scenarios.clm_schedule(32)
    start = scenarios.weights(schedule.model)
    one = scenarios.clm_step_result(schedule)
    for side in ("model", "twin"):
        assert scenarios.digest_of(first["clm"][side]) == scenarios.digest_of(second["clm"][side])
        errors = relative_differences(first["clm"][side], one[side], start)
        for name, (of_weights, of_update) in errors.items():
            if ZERO_GRADIENT not in name:
                assert of_weights < 1e-5 and of_update < 1e-4, (side, name, of_weights)
    assert first["clm"]["loss"] == pytest.approx(one["loss"], rel=1e-5)  # the global loss
    assert first["clm"]["loss"] == second["clm"]["loss"]
    assert first["clm"]["words_seen"] == one["words_seen"]  # words of the global batch
    assert first["clm"]["clm_steps"] == one["clm_steps"] == 1


def test_a_resumed_run_continues_bit_identically_and_only_rank_0_writes(launch):
    (first, second), folder = launch
    assert first["lockstep"]["resumed"] == first["lockstep"]["ppo"][2:]
    assert second["lockstep"]["resumed"] == second["lockstep"]["ppo"][2:]
    checkpoint = torch.load(folder / "lockstep.pt", weights_only=True)
    assert checkpoint["world_size"] == 2 and len(checkpoint["ranks"]) == 2
    ranks = checkpoint["ranks"]
    assert not torch.equal(ranks[0]["state"]["generator"], ranks[1]["state"]["generator"])
    assert ranks[1]["env"]["layers"] == {}  # the CLM schedule is kept once, from rank 0
    assert sorted(p.name for p in folder.glob("lockstep*")) == ["lockstep.pt"]


def test_words_seen_are_summed_over_ranks_and_a_budget_stops_both_at_the_same_update(launch):
    (first, second), folder = launch
    one, two = first["word_budget"], second["word_budget"]
    iterations = scenarios.BUDGET_ITERATIONS
    # After every update both ranks see the same run ledger: the sum of their own ledgers.
    assert one["run"] == two["run"] and len(one["run"]) == iterations
    for own_0, own_1, run in zip(one["own"], two["own"], one["run"]):
        assert run == (own_0[0] + own_1[0], own_0[1] + own_1[1])
    prompts = scenarios.LOCKSTEP["num_envs"] * 2  # prompts of 2 words, one per row
    assert [own[0] for own in one["own"]] == [prompts * i for i in (1, 2)]
    assert one["own"] != two["own"]  # the ranks generated different words
    # Rank 1's share ran out first: it refused the first step of a third iteration, rank 0's
    # share admitted that iteration; both stopped before its update, at the same count.
    assert one["own_limit"] == two["own_limit"] + 1 == prompts * (iterations + 1)
    assert one["own_refusal"] is None
    assert "words exposed" in two["own_refusal"] and "rank 1's share" in two["own_refusal"]
    assert one["iteration"] == two["iteration"] == iterations
    assert one["num_timesteps"] == two["num_timesteps"]
    assert one["weights"] == two["weights"]
    final_0, final_1 = one["run_final"], two["run_final"]
    assert final_0 == final_1 and final_0["stopped_by_budget"] == two["own_refusal"]
    assert final_0["exposed"] == one["own_final"]["exposed/prompts"] + prompts * iterations
    assert final_0["exposed"] <= final_0["budget"]["exposed"] == scenarios.BUDGET_EXPOSED
    # Rank 0 alone saves the milestones, at the run's exposure (16, 32, then 40 at the stop).
    assert one["saved"] == ["chck_8", "chck_16", "chck_40", "main"] and two["saved"] == []
    exposed = [
        json.loads((folder / "revisions" / name / "lm_gym_revision.json").read_text())[
            "words_exposed"
        ]
        for name in one["saved"]
    ]
    assert exposed == [one["run"][0][0], one["run"][0][0], final_0["exposed"], final_0["exposed"]]


def test_a_clm_batch_one_ranks_share_refuses_is_refused_on_every_rank(launch):
    (first, second), _ = launch
    one, two = first["clm_budget"], second["clm_budget"]
    larger = int(one["parts"][1] > one["parts"][0])
    assert one["parts"][0] != one["parts"][1]  # the parts differ, so one rank alone refuses
    assert [one["own_refused"], two["own_refused"]] == [larger == 0, larger == 1]
    assert one["error"] == two["error"] and f"rank {larger}'s share" in one["error"]
    for result in (one, two):
        assert result["exposed"] == result["clm_steps"] == 0
        assert result["unchanged"] and result["stream_kept"]


def test_an_error_on_rank_0_is_raised_on_every_rank(launch):
    (first, second), _ = launch
    assert first["error"] == second["error"] == "refused on rank 0"


def test_resuming_on_another_number_of_processes_is_refused(launch):
    _, folder = launch
    agent, wrapped = scenarios.lockstep_ppo()
    before = scenarios.digest(agent.policy)
    with pytest.raises(ValueError, match=r"saved by a run on 2 process\(es\).*--nproc 2"):
        agent.restore(folder / "lockstep.pt", wrapped)
    assert scenarios.digest(agent.policy) == before  # unchanged
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = type(agent).load(folder / "lockstep.pt", scenarios.lockstep_ppo()[1])
    assert any("does not continue the saved run" in str(w.message) for w in caught)
    assert loaded.num_timesteps == 2 * 2 * 4 * 5  # loading to use the agent works


def test_lm_gym_run_on_two_processes_trains_n_tokens_in_all_and_writes_once(tmp_path):
    env = gym.make_vec("Bambino-v0", num_envs=1, max_new_tokens=4, **MICRO_MODELS)
    corpus = env.unwrapped.task.texts  # (making it also builds the micro recipes, once)
    env_kwargs = {**MICRO_MODELS, "max_new_tokens": 4, "clm_alternation": {"batch_size": 4}}
    agent_kwargs = {"num_envs": 4, "min_new_tokens": 4}  # every episode is 4 tokens
    command = [sys.executable, "-m", "lm_gym.cli", "run", "Bambino-v0", "--agent", "ppo"]
    command += ["--timesteps", "80", "--nproc", "2", "--out", str(tmp_path), "--log-interval", "1"]
    command += ["--env-kwargs", json.dumps(env_kwargs), "--agent-kwargs", json.dumps(agent_kwargs)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    run_dir = tmp_path / "Bambino-v0__ppo__seed0"
    files = sorted(p.relative_to(run_dir).parts[0] for p in run_dir.rglob("*") if p.is_file())
    assert files == ["agent.pt", "progress.csv", "run.json", "tensorboard"]  # one of each
    with (run_dir / "progress.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    steps = [float(row["time/total_timesteps"]) for row in rows]
    assert steps == [32.0, 64.0, 96.0]  # 2 ranks x 4 rows x 4 tokens an iteration, 80 in all
    assert done.stdout.count("time/iterations") == 3  # rank 0 alone prints
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["num_timesteps"] == 96 and summary["processes"] == 2
    clm_steps = int(float(rows[-1]["rollout/clm_steps_mean"]))
    stream = SentenceBatches(corpus, 2 * 4, seed=0)  # one stream of global batches
    words = sum(len(text.split()) for _ in range(clm_steps) for text in stream.next_batch())
    assert float(rows[-1]["rollout/words_seen_mean"]) == words
    # run.json's one word ledger: each rank charged its half of every CLM batch, summed.
    assert summary["words"]["exposed_by_source"]["clm"] == words
    assert summary["words"]["exposed"] == float(rows[-1]["words/exposed"]) > words


def test_nproc_must_be_spelled_in_full_and_positive(capsys, tmp_path):
    base = ["run", "Bambino-v0", "--agent", "ppo", "--timesteps", "8", "--out", str(tmp_path)]
    assert main([*base, "--npr", "2"]) == 2
    assert "spell --nproc in full" in capsys.readouterr().err
    assert main([*base, "--nproc", "0"]) == 2
    assert "--nproc must be >= 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
