"""The lm-gym command line, run in-process on the micro recipes."""

from __future__ import annotations

import json

import pytest

from lm_gym.cli import CORPUS_NAMES, main


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
