"""The README's experiments as tracks through the driver, on micro models and tiny budgets:
what each run measures, resumption, and the same numbers in a 2-worker pool."""

from __future__ import annotations

import pytest
import torch

from lm_gym.baselines import TRACKS, get_track
from lm_gym.baselines.driver import run_track
from lm_gym.baselines.experiments import ppo_bambino_track, teachers_track
from lm_gym.baselines.results import load_results, result_path
from lm_gym.baselines.tracks import MICRO_BAMBINO


def micro_ppo_bambino():
    """PPO + CLM against CLM alone, 2 seeds, one batch of 4 episodes of 4 tokens each."""
    track = ppo_bambino_track(
        timesteps=16,
        num_envs=4,
        env_kwargs={**MICRO_BAMBINO, "max_new_tokens": 4},
        eval_episodes=3,
        kl_batches=1,
        seeds=2,
    )
    return track.select(agents=["ppo+clm", "clm"])


@pytest.fixture(scope="module")
def serial_ppo_bambino(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ppo_bambino")
    threads = torch.get_num_threads()
    outcome = run_track(micro_ppo_bambino(), out_dir, log=lambda line: None)
    torch.set_num_threads(threads)
    return out_dir, outcome


def test_ppo_bambino_measures_kl_to_the_initial_baby_and_keeps_its_curves(serial_ppo_bambino):
    out_dir, outcome = serial_ppo_bambino
    assert not outcome.failed and len(outcome.ran) == 4
    records = {(r["spec"]["arm"], r["spec"]["seed"]): r for r in load_results(out_dir)}
    for (arm, _), record in records.items():
        metrics, curves = record["metrics"], record["curves"]
        # CLM changed the baby in both arms; an unchanged one would estimate exactly 0 (the
        # Monte-Carlo estimate on 4 episodes may come out negative).
        assert metrics["final/kl_to_initial"] != 0.0
        assert metrics["train/clm_steps"] >= 10 and metrics["train/words_seen"] > 0
        reward = curves["rollout/batch_rew_mean"]
        assert len(reward["timesteps"]) == len(reward["value"]) == len(reward["words"]) > 0
        assert ("charts/kl" in curves) == (arm == "ppo+clm")
    assert records[("ppo+clm", 0)]["curves"]["charts/kl"]["value"]
    text = outcome.leaderboard.read_text()
    assert "final/kl_to_initial" in text and "| `ppo+clm` |" in text
    assert (out_dir / "curves" / "Bambino-v0.png").read_bytes()[:4] == b"\x89PNG"


def test_ppo_bambino_resumes_and_a_pool_gives_the_serial_numbers(
    serial_ppo_bambino, tmp_path, compared_numbers
):
    out_dir, _ = serial_ppo_bambino
    track = micro_ppo_bambino()
    outcome = run_track(track, tmp_path, workers=2, log=lambda line: None)
    assert not outcome.failed
    assert compared_numbers(tmp_path) == compared_numbers(out_dir)
    lost = track.expand()[1]
    result_path(tmp_path, lost).unlink()
    again = run_track(track, tmp_path, log=lambda line: None)
    assert again.ran == [lost] and len(again.skipped) == 3
    assert compared_numbers(tmp_path) == compared_numbers(out_dir)


def test_the_learning_teacher_logs_the_exam_type_share_of_its_selections(tmp_path):
    micro = {"teacher_model": "baby-en-micro", "student_steps": 5, "pool_size": 20}
    micro.update(exam_size=4, budget=4)
    track = teachers_track(updates=2, batch_size=2, env_kwargs=micro, eval_episodes=2, seeds=1)
    track = track.select(envs=["TeacherDomains-v0"], agents=["oracle-teacher", "reinforce-teacher"])
    outcome = run_track(track, tmp_path, log=lambda line: None)
    assert not outcome.failed
    records = {r["spec"]["agent"]: r for r in load_results(tmp_path)}
    share = records["reinforce-teacher"]["curves"]["rollout/exam_type_fraction_mean"]
    assert len(share["value"]) == 2 and all(0 <= v <= 1 for v in share["value"])
    assert records["oracle-teacher"]["metrics"]["eval/exam_type_fraction"] == 1.0
    assert records["oracle-teacher"]["metrics"]["train/num_timesteps"] == 2  # one batch


def test_every_built_in_track_plans_its_runs():
    assert {"quick", "standard", "cpu", "bambino-ablation", "ppo-bambino", "teachers"} <= set(
        TRACKS
    )
    for name in TRACKS:
        track = get_track(name)
        specs = track.expand()
        assert len({s.name for s in specs}) == len(specs)  # one result file per run
        if name not in ("quick", "standard"):
            assert len(track.seeds) == 5
    stories = get_track("babystories-ppo").expand()
    assert {s.env_key for s in stories} == {"BabyStories-v0/small", "BabyStories-v0/large"}
    assert {s.env_kwargs["storyteller"] for s in stories} == {
        "storyteller-small",
        "storyteller-large",
    }
