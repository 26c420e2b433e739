"""The lm-gym command line, run in-process on the micro recipes; errors a user can cause are
one line (exit code 2), ``--debug`` shows their traceback, bugs are not hidden."""

from __future__ import annotations

import json

import pytest

from lm_gym.cli import build_parser, main, user_error_message
from lm_gym.cli_parser import CORPUS_NAMES


def test_list_shows_recipes_and_environments(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "model recipes:" in out and "baby-en-micro" in out
    assert "environments:" in out and "agents:" in out


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_corpus_prints_the_requested_number_of_lines(capsys, name):
    assert main(["corpus", name, "-n", "4", "--seed", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(line.strip() for line in lines)
    if name.startswith("minimal-pairs"):
        assert {"sentence_good", "sentence_bad", "UID"} <= json.loads(lines[0]).keys()


def test_eval_reports_both_languages_and_a_pairs_file(capsys, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps({"sentence_good": "The dog runs.", "sentence_bad": "The dog run.", "UID": "x"})
        + "\n"
    )
    items = tmp_path / "items.jsonl"
    items.write_text('{"text": "Il cane", "label": "yes"}\n{"text": "Il gatto", "label": "no"}\n')
    verbalizers = tmp_path / "verbalizers.json"
    verbalizers.write_text(json.dumps({"yes": "corre.", "no": "zzz"}))
    code = main(
        ["eval", "parent-it-micro", "--n-heldout", "50", "--n-pairs", "5", "--pairs", str(pairs)]
        + ["--n-samples", "8", "--zero-shot", str(items), "--verbalizers", str(verbalizers)]
    )
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"en", "it", "pairs_file", "words_seen", "zero_shot"}
    assert results["zero_shot"]["n"] == 2 and set(results["zero_shot"]["by_label"]) == {"yes", "no"}
    assert 0.0 <= results["it"]["distinct_2"] <= 1.0
    assert 0.0 <= results["it"]["minimal_pairs"] <= 1.0
    assert results["it"]["perplexity"] > 1.0
    assert results["pairs_file"]["n"] == 1


def test_a_malformed_zero_shot_file_fails_before_the_model_loads(capsys, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text('{"text": "a", "label": "yes"}\n{"text": "b"}\n')
    verbalizers = tmp_path / "verbalizers.json"
    verbalizers.write_text(json.dumps({"yes": "ok", "no": "ko"}))
    missing_model = str(tmp_path / "no" / "such" / "model")
    args = ["eval", missing_model, "--zero-shot", str(items), "--verbalizers", str(verbalizers)]
    assert main(args) == 2
    assert "line 2: 'label'" in capsys.readouterr().err
    assert main(["eval", missing_model, "--zero-shot", str(items)]) == 2
    assert "go together" in capsys.readouterr().err


def test_bad_input_is_a_clear_error(capsys, tmp_path):
    assert main(["eval", str(tmp_path / "missing" / "x" / "y")]) == 2
    assert "local folder" in capsys.readouterr().err


def _one_line_error(err: str, command: str) -> str:
    """The error line of ``lm-gym <command>``, checking it is the only line and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"lm-gym {command}: error: ")
    return lines[0]


def test_an_empty_pairs_file_fails_before_the_model_loads(capsys, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    missing_model = str(tmp_path / "no" / "such" / "model")  # loading it would fail too
    assert main(["eval", missing_model, "--pairs", str(empty)]) == 2
    line = _one_line_error(capsys.readouterr().err, "eval")
    assert f"{empty}: no minimal pairs" in line
    assert main(["eval", missing_model, "--pairs", "", "--text", str(empty)]) == 2
    assert "minimal-pair file is an empty path" in capsys.readouterr().err
    assert main(["eval", missing_model, "--text", ""]) == 2  # not every text file under "."
    assert "--text is an empty path" in capsys.readouterr().err


def test_debug_shows_the_traceback_of_a_user_error(capsys, tmp_path):
    assert main(["--debug", "eval", str(tmp_path / "missing" / "x" / "y")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ModelLoadError" in err
    assert err.strip().splitlines()[-1].startswith("lm-gym eval: error: ")


def test_a_bug_is_not_passed_off_as_a_user_error(monkeypatch):
    def broken(name, n, seed):
        return {}["metrics"]  # a bare KeyError: a bug, whose traceback must show

    monkeypatch.setattr("lm_gym.cli.corpus_sample", broken)
    with pytest.raises(KeyError, match="metrics"):
        main(["corpus", "domains"])


def test_a_cache_that_is_a_file_names_lm_gym_cache(capsys, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")
    monkeypatch.setenv("LM_GYM_CACHE", str(not_a_folder))
    assert main(["prepare", "baby-en-micro"]) == 2
    line = _one_line_error(capsys.readouterr().err, "prepare")
    assert "LM_GYM_CACHE" in line and str(not_a_folder) in line


def test_a_read_only_cache_is_a_one_line_error_naming_lm_gym_cache(
    capsys, monkeypatch, tmp_path, make_read_only
):
    read_only_folder = make_read_only(tmp_path / "read-only")
    monkeypatch.setenv("LM_GYM_CACHE", str(read_only_folder))
    assert main(["prepare", "baby-en-micro"]) == 2
    line = _one_line_error(capsys.readouterr().err, "prepare")
    assert f"cannot use {read_only_folder} as the model cache" in line
    assert "set LM_GYM_CACHE to a folder you can write to" in line


def test_an_out_folder_that_is_a_file_names_out(capsys, tmp_path):
    out = tmp_path / "out"
    out.write_text("")
    args = ["leaderboard", "--agents", "random", "--envs", "Bambino-v0", "--seeds", "1"]
    assert main([*args, "--out", str(out)]) == 2
    line = _one_line_error(capsys.readouterr().err, "leaderboard")
    assert "--out" in line and str(out) in line


def test_a_result_file_without_metrics_is_named(capsys, tmp_path):
    from lm_gym.baselines import get_track
    from lm_gym.baselines.results import RESULT_FORMAT, result_path

    [spec] = get_track("quick").select(agents=["random"], envs=["Bambino-v0"], num_seeds=1).expand()
    broken = result_path(tmp_path, spec)
    broken.parent.mkdir(parents=True)
    broken.write_text(json.dumps({"format": RESULT_FORMAT, "spec": spec.to_dict(), "curves": {}}))
    args = ["leaderboard", "--agents", "random", "--envs", "Bambino-v0", "--seeds", "1"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    line = _one_line_error(capsys.readouterr().err, "leaderboard")
    assert str(broken) in line and "no 'metrics' object" in line and "move it out of" in line


def test_a_file_system_error_names_the_setting_its_file_falls_under(tmp_path, monkeypatch):
    monkeypatch.setenv("LM_GYM_CACHE", str(tmp_path / "cache"))
    args = build_parser().parse_args(["run", "Bambino-v0", "--agent", "ppo", "--timesteps", "8"])
    args.out = str(tmp_path / "out")
    refused = PermissionError(13, "Permission denied", str(tmp_path / "out" / "run" / "agent.pt"))
    assert (
        user_error_message(refused, args) == f"Permission denied: {refused.filename} (check --out)"
    )
    in_cache = NotADirectoryError(20, "Not a directory", str(tmp_path / "cache" / "models"))
    assert user_error_message(in_cache, args).endswith("(check LM_GYM_CACHE)")
    elsewhere = IsADirectoryError(21, "Is a directory", "/some/where")
    assert user_error_message(elsewhere, args) == "Is a directory: /some/where"
    assert user_error_message(OSError("no file involved"), args) is None  # a bug: traceback
    assert user_error_message(KeyError("unknown agent 'x'; registered: ppo"), args) == (
        "unknown agent 'x'; registered: ppo"
    )
