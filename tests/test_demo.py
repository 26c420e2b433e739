"""The offline demo (``make run``): generations, parent scores and the evaluation table."""

from __future__ import annotations

from lm_gym.demo import run_demo


def test_demo_compares_baby_and_parent_per_token_and_per_word(capsys):
    small = {"n_heldout": 40, "n_pairs": 2, "n_sentence_types": 0, "n_samples": 0}
    results = run_demo(samples=4, baby="baby-en-micro", parent="parent-it-micro", **small)
    table = capsys.readouterr().out.split("| model |", 1)[1]
    header, _, *rows = table.strip().splitlines()
    assert "ppl/word it" in header and "tokens/word it" in header
    assert [row.split(" | ")[0].strip("| ") for row in rows] == ["baby-en-micro", "parent-it-micro"]
    baby, parent = results["baby-en-micro"]["it"], results["parent-it-micro"]["it"]
    # The baby's English tokenizer cuts Italian into more pieces a word than the parent's.
    assert baby["tokens_per_word"] > parent["tokens_per_word"]
    assert f"{baby['perplexity_per_word']:,.2f}" in rows[0]
