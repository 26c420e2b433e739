"""WordBudget and WordLedger: BabyLM's presets, word amounts, refusals before anything is
charged, saved counts, and the data-parallel design (shares and an all-reduce of counts)."""

from __future__ import annotations

import pytest

from lm_gym.babylm import BudgetExhausted, WordBudget, WordLedger, format_words, parse_words


def test_word_amounts_parse_and_format_as_babylm_names_them():
    assert parse_words("10k") == 10_000
    assert parse_words("1M") == 1_000_000
    assert parse_words("2.5M") == 2_500_000
    assert parse_words(" 100 ") == 100
    assert [format_words(w) for w in (1_000_000, 20_000_000, 10_000, 1500)] == [
        "1M",
        "20M",
        "10k",
        "1500",
    ]
    for bad in ("ten", "1.5", "0", "-3k", "1x"):
        with pytest.raises(ValueError, match="words"):
            parse_words(bad)


def test_presets_divided_and_explicit_budgets():
    strict = WordBudget.parse("strict")
    assert (strict.exposed, strict.generated, strict.epochs) == (100_000_000, 100_000_000, 10)
    small = WordBudget.parse("strict-small/1000")
    assert (small.exposed, small.generated, small.epochs, small.name) == (
        10_000,
        100_000,
        10,
        "strict-small/1000",
    )
    explicit = WordBudget.parse({"exposed": "50k", "epochs": 2})
    assert (explicit.exposed, explicit.generated, explicit.epochs) == (50_000, None, 2)
    assert WordBudget.parse(None) is None
    with pytest.raises(ValueError, match="unknown budget 'strikt'"):
        WordBudget.parse("strikt")
    with pytest.raises(ValueError, match="does not divide"):
        WordBudget.parse("strict/3")
    with pytest.raises(ValueError, match=r"unknown budget field\(s\) \['exposd'\]"):
        WordBudget.parse({"exposd": 10})
    with pytest.raises(ValueError, match="budget epochs"):
        WordBudget.parse({"epochs": 0})


def test_a_refused_charge_changes_nothing_and_says_what_and_why():
    ledger = WordLedger({"exposed": 10, "epochs": 1.5})
    ledger.register_corpus("clm", ["a b c d"])  # 4 words: 1.5 epochs = 6 words
    assert ledger.expose("clm", ["a b c", "d"], corpus="clm") == 4
    before = dict(ledger.counts)
    with pytest.raises(
        BudgetExhausted, match=r"epochs over clm from 1\.0000 to 1\.7500, past its limit of 1\.5000"
    ) as err:
        ledger.expose("clm", ["a b c"], corpus="clm", what="CLM batch 2")
    assert "CLM batch 2" in str(err.value) and ledger.counts == before
    assert ledger.refusal is err.value
    assert ledger.expose("prompts", ["x y"]) == 2  # no corpus: no epoch limit
    with pytest.raises(BudgetExhausted, match="words exposed from 6 to 11, past its limit of 10"):
        ledger.expose("teacher", ["one two three four five"])
    ledger.expose("teacher", ["one two three four"])
    assert ledger.exposed == 10  # exactly at the limit is allowed
    assert ledger.summary()["exposed_by_source"] == {"clm": 4, "prompts": 2, "teacher": 4}
    assert ledger.summary()["stopped_by_budget"] == str(ledger.refusal)


def test_episodes_are_charged_and_counted_like_babylm():
    ledger = WordLedger()
    ledger.register_corpus("prompts", ["la bambina", "il cane"])
    ledger.charge(prompts=["la bambina"], completions=["  mangia la   mela. ", ""])
    assert ledger.counts["exposed/prompts"] == 2
    assert ledger.generated == 3  # whitespace words, punctuation attached, blanks ignored
    assert ledger.epochs("prompts") == 0.5
    assert ledger.metrics()["words/epochs_prompts"] == 0.5
    with pytest.raises(ValueError, match="source must be one of"):
        ledger.expose("parent", ["x"])


def test_saved_counts_continue_and_a_changed_corpus_is_refused():
    ledger = WordLedger("strict-small")
    ledger.register_corpus("clm", ["a b", "c"])
    ledger.expose("clm", ["a b"], corpus="clm")
    ledger.charge(completions=["x y z"])
    state = ledger.state_dict()

    resumed = WordLedger("strict")  # a resumed run may change its budget
    resumed.register_corpus("clm", ["a b", "c"])
    resumed.load_state_dict(state)
    assert resumed.counts == ledger.counts and resumed.budget.name == "strict"
    other = WordLedger()
    other.register_corpus("clm", ["a b c d"])
    with pytest.raises(ValueError, match="resume with the same corpus"):
        other.load_state_dict(state)


def test_rank_shares_add_up_to_the_budget_and_reduced_counts_are_global():
    budget = WordBudget(exposed=1001, generated=10, epochs=4)
    shares = [budget.share(rank, 3) for rank in range(3)]
    assert sum(s.exposed for s in shares) == 1001
    assert sum(s.generated for s in shares) == 10
    assert sum(s.epochs for s in shares) == pytest.approx(4)

    ranks = [WordLedger(share) for share in shares]
    for ledger in ranks:
        ledger.register_corpus("clm", ["w"] * 10_000)
        while True:  # each rank trains until its share refuses
            try:
                ledger.expose("clm", ["w " * 7], corpus="clm")
            except BudgetExhausted:
                break
    vectors = [ledger.count_vector()[1] for ledger in ranks]

    def all_reduce(values):  # what torch.distributed.all_reduce(SUM) returns on every rank
        assert values in vectors
        return [sum(column) for column in zip(*vectors)]

    total = ranks[0].reduced(all_reduce)
    assert total.exposed == sum(ledger.exposed for ledger in ranks) <= budget.exposed
    assert total.epochs("clm") <= budget.epochs
    assert total.exposed > budget.exposed - 3 * 7  # each rank stopped within one batch
