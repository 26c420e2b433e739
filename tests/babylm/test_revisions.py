"""``lm-gym eval RUN --revisions``: every milestone scored (built-in and the user's own BLiMP
pairs), plotted against words exposed; an existing result is resumed or refused."""

from __future__ import annotations

import json

import pytest

from lm_gym.babylm import evaluate_revisions
from lm_gym.babylm.revisions import curves
from lm_gym.cli import main

SMALL = {"n_heldout": 20, "n_pairs": 3, "n_sentence_types": 4, "n_samples": 4}


@pytest.fixture
def blimp_file(tmp_path):
    """A user's minimal pairs in BLiMP's format (two phenomena)."""
    pairs = [
        {"sentence_good": "il cane corre", "sentence_bad": "il cane corrono", "UID": "agreement"},
        {"sentence_good": "la casa blu", "sentence_bad": "casa la blu", "UID": "word_order"},
        {"sentence_good": "una mela", "sentence_bad": "una mela mela mela", "UID": "word_order"},
    ]
    path = tmp_path / "blimp.jsonl"
    path.write_text("".join(json.dumps(pair) + "\n" for pair in pairs))
    return path


def test_every_revision_is_scored_and_plotted_against_words(milestone_run, blimp_file, tmp_path):
    out = tmp_path / "eval"
    report = evaluate_revisions(milestone_run, out, pairs=blimp_file, **SMALL)
    rows = report["revisions"]
    assert [r["revision"] for r in rows] == ["chck_500", "chck_1k", "chck_1500", "chck_2k"]
    words = [r["words_exposed"] for r in rows]
    assert words == sorted(words) and words[0] >= 500
    for row in rows:
        results = row["results"]
        assert results["words_seen"] == row["words_exposed"]
        assert set(results["pairs_file"]["by_phenomenon"]) == {"agreement", "word_order"}
        for lang in ("en", "it"):
            assert 0 <= results[lang]["minimal_pairs"] <= 1 and results[lang]["by_phenomenon"]
            assert results[lang]["perplexity_per_word"] > 1
    assert json.loads((out / "revisions.json").read_text()) == report
    assert (out / "revisions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    panels = curves(report)
    assert panels["words"]["x"] == words
    assert set(panels["minimal pairs"]) == {"en", "it", "pairs file"}
    assert set(panels["minimal pairs by phenomenon (pairs file)"]) == {"agreement", "word_order"}
    ppl = panels["perplexity per word"]["it"]
    assert ppl == [r["results"]["it"]["perplexity_per_word"] for r in rows]


def test_an_existing_result_is_resumed_with_its_settings_and_refused_otherwise(
    milestone_run, tmp_path, capsys
):
    out = tmp_path / "eval"
    first = evaluate_revisions(milestone_run, out, **SMALL)
    capsys.readouterr()
    again = evaluate_revisions(milestone_run, out, **SMALL)
    assert again == first and "evaluating" not in capsys.readouterr().out  # nothing re-scored
    saved = (out / "revisions.json").read_bytes()
    with pytest.raises(ValueError, match="other settings; it is never overwritten"):
        evaluate_revisions(milestone_run, out, **{**SMALL, "n_pairs": 4})
    assert (out / "revisions.json").read_bytes() == saved


def test_the_command_line_evaluates_revisions(milestone_run, blimp_file, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["--n-heldout", "20", "--n-pairs", "3", "--n-sentence-types", "4", "--n-samples", "0"]
    args += ["--lang", "it"]
    code = main(
        [
            "eval",
            str(milestone_run),
            "--revisions",
            "--pairs",
            str(blimp_file),
            "--out",
            str(out),
            *args,
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "chck_2k" in printed and "revisions.png" in printed
    report = json.loads((out / "revisions.json").read_text())
    assert report["settings"]["languages"] == ["it"] and report["settings"]["pairs"]["sha256"]
