"""Milestone revisions: BabyLM's schedule, folders that plain transformers loads (no lm_gym)
with the scores the in-memory student had when it was saved, and train_agent's integration."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lm_gym.agents import PPO, Callback, train_agent
from lm_gym.babylm import (
    MilestoneCallback,
    WordBudget,
    list_revisions,
    official_milestones,
    parse_milestones,
    read_revision,
    revision_name,
)
from lm_gym.cli import main
from lm_gym.evaluation.scoring import Scorer
from lm_gym.wrappers import CLMAlternation, WordCounter

PROBES = ["il cane corre molto", "una mela rossa", "la casa blu va bene"]
CLM = {"r_clm": 2, "r_rl": 1, "batch_size": 8}

NO_LM_GYM = r"""
import importlib.abc, json, sys

class NoLmGym(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "lm_gym":
            raise ModuleNotFoundError(f"{name} is blocked in this process")
        return None

sys.meta_path.insert(0, NoLmGym())
try:
    import lm_gym  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    sys.exit("lm_gym is importable")
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

folders, probes = json.loads(sys.argv[1]), json.loads(sys.argv[2])
scores = {}
for folder in folders:
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    start = tokenizer.bos_token_id
    if start is None:
        start = tokenizer.eos_token_id
    rows = []
    for text in probes:
        ids = torch.tensor([[start] + tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
        rows.append(float(logp.gather(1, ids[0, 1:, None]).sum()))
    scores[folder] = rows
assert not [m for m in sys.modules if m.split(".")[0] == "lm_gym"], "lm_gym was imported"
print(json.dumps(scores))
"""


def plain_transformers_scores(folders) -> dict[str, list[float]]:
    """Log-likelihoods of the probes under each folder, computed in a fresh Python process
    where lm_gym cannot be imported (``-I``: no PYTHONPATH, no current folder)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", NO_LM_GYM, json.dumps(folders), json.dumps(PROBES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_babylm_schedule_and_scaled_schedules():
    strict = official_milestones("strict")
    assert len(strict) == 28 and strict[:2] == [1_000_000, 2_000_000]
    assert [revision_name(w) for w in strict[8:11]] == ["chck_9M", "chck_10M", "chck_20M"]
    assert revision_name(strict[-1]) == "chck_1000M"
    small = official_milestones("strict-small")
    assert len(small) == 19 and revision_name(small[-1]) == "chck_100M"
    scaled = parse_milestones("official/1000", WordBudget.parse("strict-small/1000"))
    assert scaled == [w // 1000 for w in small] and revision_name(scaled[0]) == "chck_1k"
    assert parse_milestones("official") == strict
    assert parse_milestones("20k, 10k,10k") == [10_000, 20_000]
    assert parse_milestones([3, 1]) == [1, 3]
    for bad in ("", "official/7", "10k,,20k", "weekly"):
        with pytest.raises(ValueError):
            parse_milestones(bad)


class ScoreRecorder(Callback):
    """The in-memory student's probe log-likelihoods wherever a milestone may be saved."""

    def __init__(self) -> None:
        super().__init__()
        self.scores: dict[int, list[float]] = {}

    def _record(self) -> None:
        policy = self.agent.policy
        scores = Scorer(policy.model, policy.tokenizer).log_likelihood(PROBES)
        self.scores[self.agent.num_timesteps] = scores.tolist()

    _on_iteration_end = _record
    _on_training_end = _record


def test_every_milestone_loads_without_lm_gym_and_scores_as_the_model_did(toys, tmp_path):
    env = toys.toy_token_env(4)
    agent = PPO(env, num_envs=4, num_minibatches=1, verbose=0)
    env = CLMAlternation(WordCounter(env, budget={"exposed": 2_000}), agent.model, **CLM)
    folder = tmp_path / "revisions"
    milestones = MilestoneCallback(folder, "500,1k,1500,2k,5k")
    recorder = ScoreRecorder()
    agent.learn(env, 20_000, callback=[milestones, recorder], progress_bar=False)

    revisions = list_revisions(folder)
    names = [record["revision"] for _, record in revisions]
    assert names == ["chck_500", "chck_1k", "chck_1500", "chck_2k"]  # 5k is past the budget
    assert milestones.saved == [*names, "main"]
    for _, record in revisions[:-1]:  # reached at an iteration end, at or past the milestone
        assert record["words_exposed"] >= record["milestone"]
    last = revisions[-1][1]  # reached because the run spent its exposure budget
    assert last["words_exposed"] <= 2_000 and last["ledger"]["stopped_by_budget"]

    folders = [str(path) for path, _ in revisions] + [str(folder / "main")]
    loaded = plain_transformers_scores(folders)
    for path in folders:
        expected = recorder.scores[read_revision(path)["num_timesteps"]]
        np.testing.assert_allclose(loaded[path], expected, rtol=1e-5, atol=1e-4)
    assert loaded[folders[0]] != loaded[folders[-1]]  # the student did change between them


def _toy_run(toys, out, timesteps, **kwargs):
    return train_agent(
        toys.register_toy_env(),
        "ppo",
        timesteps,
        seed=0,
        out_dir=out,
        env_kwargs={"clm_alternation": CLM},
        agent_kwargs={"num_envs": 4, "num_minibatches": 1, "verbose": 0},
        progress_bar=False,
        checkpoint_every=48,
        **kwargs,
    )


def test_train_agent_logs_saves_and_resumes_the_ledger_and_its_milestones(toys, tmp_path):
    kwargs = {"budget": "strict-small/1000", "milestones": "official/1000"}  # 1k ... 10k
    full = _toy_run(toys, tmp_path / "full", 192, **kwargs)
    half = _toy_run(toys, tmp_path / "split", 96, **kwargs)
    resumed = _toy_run(toys, tmp_path / "split", 192, resume=True, **kwargs)

    summary = json.loads((full.run_dir / "run.json").read_text())
    assert summary["words"] == full.words and summary["words"]["budget"]["exposed"] == 10_000
    assert 0 < half.words["exposed"] < resumed.words["exposed"] == full.words["exposed"]
    assert resumed.words == full.words  # the resumed run continued the counts
    with (full.run_dir / "progress.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[-1]["words/exposed"]) == full.words["exposed"]
    assert float(rows[-1]["words/generated"]) == full.words["generated"]

    reached = [w for w in range(1_000, 11_000, 1_000) if w <= full.words["exposed"]]
    expected = [revision_name(w) for w in reached]
    assert (
        expected
        and [r["revision"] for _, r in list_revisions(full.run_dir / "revisions")] == expected
    )
    split = [r for _, r in list_revisions(resumed.run_dir / "revisions")]
    assert [r["revision"] for r in split] == expected
    for record in split:
        twin = read_revision(full.run_dir / "revisions" / record["revision"])
        assert record["words_exposed"] == twin["words_exposed"]


def test_milestones_need_a_word_ledger(toys, tmp_path):
    env = toys.toy_token_env(2)
    agent = PPO(env, num_envs=2, verbose=0)
    with pytest.raises(ValueError, match="wrap the env in lm_gym.wrappers.WordCounter"):
        agent.learn(env, 10, callback=MilestoneCallback(tmp_path, "1k"), progress_bar=False)


def test_the_command_line_takes_a_budget_and_milestones(toys, tmp_path, capsys):
    base = ["run", toys.register_toy_env(), "--agent", "ppo", "--timesteps", "5000"]
    base += ["--out", str(tmp_path), "--agent-kwargs", '{"num_envs": 4, "verbose": 0}']
    base += ["--env-kwargs", json.dumps({"clm_alternation": CLM})]
    code = main([*base, "--budget", '{"exposed": "600"}', "--milestones", "200,400,800"])
    assert code == 0
    run_dir = next(tmp_path.iterdir())
    words = json.loads((run_dir / "run.json").read_text())["words"]
    assert words["exposed"] <= 600 and "word budget reached" in words["stopped_by_budget"]
    assert [r["revision"] for _, r in list_revisions(run_dir / "revisions")] == [
        "chck_200",
        "chck_400",
    ]
    assert main([*base, "--budget", "strict-tiny", "--overwrite"]) == 2
    assert "unknown budget 'strict-tiny'" in capsys.readouterr().err


def test_milestones_need_a_student_language_model(tmp_path):
    with pytest.raises(ValueError, match="milestones save the student language model"):
        train_agent(
            "TeacherDomains-v0",
            "oracle-teacher",
            4,
            out_dir=tmp_path,
            env_kwargs={"embedding": "bag", "num_students": 1, "device": "cpu"},
            progress_bar=False,
            milestones="1k",
        )
    assert not list(tmp_path.iterdir())  # refused before the run folder was made
