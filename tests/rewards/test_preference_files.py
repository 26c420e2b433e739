"""Preference files: the JSONL round trip and clear errors on malformed users' files."""

from __future__ import annotations

import json

import pytest

from lm_gym.corpora.loaders import CorpusError
from lm_gym.corpora.stories import generate_stories
from lm_gym.rewards.preference_files import load_preferences, read_preference_file, save_preferences
from lm_gym.rewards.preferences import (
    CORRUPTIONS,
    PreferencePair,
    bws_to_pairs,
    make_bws_tuples,
    make_preference_pairs,
    pairs_by_corruption,
)


@pytest.fixture(scope="module")
def stories():
    return generate_stories(120, seed=11)


def test_jsonl_round_trip_of_pairs_and_bws_tuples(stories, tmp_path):
    pairs = make_preference_pairs(stories[:10], seed=0)
    tuples = make_bws_tuples(stories[:10], seed=0)
    path = save_preferences([*pairs, *tuples], tmp_path / "prefs.jsonl")
    assert read_preference_file(path) == [*pairs, *tuples]
    assert load_preferences(path) == pairs + bws_to_pairs(tuples)
    grouped = pairs_by_corruption(load_preferences(path))
    assert set(CORRUPTIONS) <= set(grouped)


GOOD = {"prompt": "Once.", "chosen": "good end", "rejected": "bad end"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"prompt": "p", "chosen": "a"}), "missing key 'rejected'"),
        (json.dumps({**GOOD, "chosen": 3}), "'chosen' must be a string, got int"),
        (json.dumps({**GOOD, "rejected": "  "}), "'rejected' is empty"),
        (json.dumps({**GOOD, "rejected": "good end"}), "are the same text"),
        (json.dumps({**GOOD, "corruption": 5}), "corruption must be a string or null"),
        (json.dumps({"text": "x"}), "expected either a pair"),
        (json.dumps({**GOOD, "items": ["a", "b"]}), "expected either a pair"),
        (json.dumps({"prompt": "p", "items": ["a"], "best": 0, "worst": 0}), "at least 2"),
        (json.dumps({"prompt": "p", "items": ["a", "b"], "best": 2, "worst": 0}), "out of range"),
        (json.dumps({"prompt": "p", "items": ["a", "b"], "best": 1, "worst": 1}), "same item"),
        (json.dumps({"prompt": "p", "items": ["a", "a"], "best": 0, "worst": 1}), "same text"),
        (json.dumps({"prompt": "p", "items": ["a", "b"], "best": True, "worst": 1}), "integer"),
        (json.dumps({"prompt": "p", "items": ["a", "b"], "worst": 1}), "missing key 'best'"),
        (
            json.dumps(
                {"prompt": "p", "items": ["a", "b"], "best": 0, "worst": 1, "corruptions": [None]}
            ),
            "one per item",
        ),
    ],
)
def test_malformed_line_names_file_line_and_problem(tmp_path, line, message):
    path = tmp_path / "user.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n" + json.dumps(GOOD) + "\n")
    with pytest.raises(CorpusError) as error:
        load_preferences(path)
    assert f"{path}, line 3" in str(error.value)
    assert message in str(error.value)


def test_empty_missing_and_binary_files_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(CorpusError, match="no preference records"):
        load_preferences(empty)
    with pytest.raises(CorpusError, match="cannot read"):
        load_preferences(tmp_path / "missing.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"prompt": "\xff"}\n')
    with pytest.raises(CorpusError, match="line 1: not UTF-8"):
        load_preferences(binary)
    with pytest.raises(TypeError, match="path"):
        load_preferences(3)


def test_user_file_with_extra_keys_and_empty_prompt_loads(tmp_path):
    path = tmp_path / "user.jsonl"
    records = [
        {"id": 7, "prompt": "", "chosen": "a", "rejected": "b"},
        {"prompt": "q", "items": ["x", "y", "z"], "best": 1, "worst": 2, "annotator": "ann"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert load_preferences(path) == [
        PreferencePair("", "a", "b"),
        PreferencePair("q", "y", "x"),
        PreferencePair("q", "y", "z"),
        PreferencePair("q", "x", "z"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        '{"prompt": "p", "chosen": "bad \\ud800", "rejected": "b"}',
        '{"prompt": "p", "items": ["a", "\\udc00 b"], "best": 0, "worst": 1}',
        '{"prompt": "\\ud800", "chosen": "a", "rejected": "b"}',
    ],
)
def test_a_lone_surrogate_is_refused_with_file_and_line_before_training(tmp_path, line):
    # It would pass every type check and then crash the tokenizer in the middle of training.
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(CorpusError, match=rf"{path.name}, line 2: .*not valid Unicode text"):
        load_preferences(path)


def test_in_memory_pairs_with_a_lone_surrogate_are_refused():
    from lm_gym.rewards.reward_scores import check_pairs

    with pytest.raises(ValueError, match="pair 1 chosen is not valid Unicode text"):
        check_pairs([PreferencePair("p", "a", "b"), PreferencePair("p", "x\ud800", "b")])


def test_a_bom_and_every_line_ending_are_accepted(tmp_path):
    path = tmp_path / "prefs.jsonl"
    line = json.dumps(GOOD).encode()
    path.write_bytes(b"\xef\xbb\xbf" + line + b"\r" + line + b"\r\n" + line + b"\n")
    assert len(load_preferences(path)) == 3


def test_deeply_nested_json_is_a_clear_error(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    with pytest.raises(CorpusError, match="line 1: JSON nested deeper than 64 levels"):
        load_preferences(path)
