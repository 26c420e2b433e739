"""Issue 19 item 8: ``lm-gym prepare`` plans, estimates and builds in parallel processes that
report their steps; ``lm-gym eval`` says what it is doing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lm_gym.cli import main
from lm_gym.models.recipes import RECIPES
from lm_gym.prepare import PlannedBuild, estimate_seconds, plan_builds, prepare

PINNED = json.loads((Path(__file__).parent / "models" / "micro_weights.json").read_text())


def test_prepare_prints_its_plan_and_builds_in_two_processes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LM_GYM_CACHE", str(tmp_path / "cache"))
    report = prepare(["reward-stories-micro", "baby-en-micro"], jobs=2, progress=False)
    out = capsys.readouterr().out
    assert "3 recipe(s) to build, 0 cached already; 2 at a time" in out
    assert "reward-stories-micro ~5 s, after storyteller-micro" in out
    assert "estimated wall time: ~10 s with 2 job(s)" in out
    # The child processes reported every training step; the weights are the pinned ones.
    assert report.steps == {name: RECIPES[name].train_steps for name in report.steps}
    assert set(report.folders) == {"storyteller-micro", "reward-stories-micro", "baby-en-micro"}
    for name, folder in report.folders.items():
        digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
        assert digest == PINNED["sha256"][name], name

    again = prepare(["reward-stories-micro"], jobs=2, progress=False)
    assert "0 recipe(s) to build, 2 cached already" in capsys.readouterr().out
    assert again.folders["reward-stories-micro"] == report.folders["reward-stories-micro"]


def test_the_bar_estimates_from_the_rate_since_the_start(tmp_path, monkeypatch):
    """Builds report steps in bursts; tqdm's default moving average made "~N left" jump by
    minutes between two refreshes, so the bar averages over the whole build."""
    import lm_gym.prepare as prepare_module

    bars = []

    class RecordingBar(prepare_module.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append((kwargs.get("smoothing"), self))

    monkeypatch.setattr(prepare_module, "tqdm", RecordingBar)
    monkeypatch.setenv("LM_GYM_CACHE", str(tmp_path / "cache"))
    prepare(["baby-en-micro"], jobs=1, progress=True, log=lambda line: None)
    [(smoothing, bar)] = bars
    assert smoothing == 0 and bar.n == bar.total


def test_the_estimate_runs_the_longest_chain_first():
    builds = [
        PlannedBuild("base", (), False, 10.0),
        PlannedBuild("on-base", ("base",), False, 5.0),
        PlannedBuild("long", (), False, 12.0),
        PlannedBuild("short", (), False, 3.0),
        PlannedBuild("cached", (), True, 100.0),
    ]
    assert estimate_seconds(builds, jobs=2) == 15.0  # base+on-base beside long+short
    assert estimate_seconds(builds, jobs=1) == 30.0


def test_an_unknown_recipe_is_named_before_anything_is_built():
    with pytest.raises(KeyError, match="unknown recipe 'baby-em' \\(did you mean 'baby-en'\\?\\)"):
        plan_builds(["baby-em"])


def test_prepare_help_lists_the_recipes_and_warns_of_the_time(capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in RECIPES)
    assert "min" in text and "--jobs" in text


def test_eval_says_what_it_is_doing(capsys):
    args = ["eval", "parent-it-micro", "--lang", "it", "--n-heldout", "20", "--n-pairs", "2"]
    assert main([*args, "--n-samples", "4"]) == 0
    err = capsys.readouterr().err
    assert "loading parent-it-micro" in err
    assert "evaluating it: 2 minimal pairs per phenomenon" in err
