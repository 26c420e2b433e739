"""Zero-shot classification: known answers on a tiny LM, per-label counts, malformed inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lm_gym.evaluation.scoring import Scorer
from lm_gym.evaluation.zero_shot import (
    SENTENCE_TYPES,
    Verbalizers,
    read_items,
    read_verbalizers,
    sentence_type_task,
    zero_shot_accuracy,
)

# The tiny LM of conftest.py was trained on "<subject> <verb> <object> ." sentences, so it
# finds an object it knows far likelier than letters it never saw together.
FITS = Verbalizers({"fits": "the ball .", "garbled": "zq xv jk qq"})


@pytest.fixture
def scorer(tiny_lm) -> Scorer:
    return Scorer(*tiny_lm)


def test_the_likeliest_verbalised_text_wins_with_exact_counts(scorer):
    items = [
        ("the cat sees", "fits"),
        ("two birds like", "fits"),
        ("the dogs want", "fits"),
        ("my mother finds", "garbled"),
        ("a child sees", "garbled"),
    ]
    result = zero_shot_accuracy(scorer, items, FITS)
    # Every item is classified "fits", so exactly the three "fits" items are right.
    assert result["accuracy"] == pytest.approx(0.6)
    assert result["n"] == 5 and result["chance"] == 0.5 and result["majority"] == 0.6
    assert result["by_label"] == {
        "fits": {"n": 3, "correct": 3, "predicted": 5, "accuracy": 1.0},
        "garbled": {"n": 2, "correct": 0, "predicted": 0, "accuracy": 0.0},
    }


@pytest.mark.parametrize("normalize", ["sum", "mean"])
def test_predictions_match_scoring_each_candidate_alone(scorer, normalize):
    verbalizers = Verbalizers(
        {"sg": "sees the ball .", "pl": "see the ball ."}, "{text} {verbalizer}"
    )
    subjects = ["the cat", "the cats", "a bird", "two birds", "the teacher", "my friends"]
    items = [(s, "pl" if s in ("the cats", "two birds", "my friends") else "sg") for s in subjects]
    result = zero_shot_accuracy(scorer, items, verbalizers, normalize=normalize)
    expected = []
    for text, gold in items:
        scores = {}
        for label, verbalizer in verbalizers.mapping.items():
            ll, n = scorer.score([f"{text} {verbalizer}"])
            scores[label] = ll[0] / n[0] if normalize == "mean" else ll[0]
        expected.append(max(scores, key=scores.get) == gold)
    assert result["accuracy"] == pytest.approx(np.mean(expected))


def test_template_puts_the_verbaliser_anywhere():
    verbalizers = read_verbalizers(
        {"template": "{verbalizer}: {text}", "verbalizers": {"a": "yes", "b": "no"}}
    )
    assert verbalizers.render("it rains", "yes") == "yes: it rains"


def test_files_round_trip(tmp_path):
    (tmp_path / "v.json").write_text(json.dumps({"0": "bad", "1": "good"}))
    (tmp_path / "items.jsonl").write_text(
        '{"text": "a", "label": 1}\n\n{"text": "b", "label": "0"}\n', encoding="utf-8"
    )
    verbalizers = read_verbalizers(tmp_path / "v.json")
    assert verbalizers.template == "{text} {verbalizer}"
    assert read_items(tmp_path / "items.jsonl", verbalizers.mapping) == [("a", "1"), ("b", "0")]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"text": "a", "label": "x"}', "{not json"], "line 2"),
        (['{"text": "a", "label": "x"}', '["a", "x"]'], "line 2"),
        (['{"text": "a", "label": "x"}', "", '{"label": "x"}'], "line 3: 'text'"),
        (['{"text": "a"}'], "line 1: 'label'"),
        (['{"text": "a", "label": true}'], "line 1: 'label'"),
        (['{"text": "a", "label": "x"}', '{"text": "b", "label": "z"}'], "line 2: label 'z'"),
        ([""], "no items"),
    ],
)
def test_malformed_item_files_name_the_line(tmp_path, lines, message):
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_items(path, ["x", "y"])


def test_non_utf8_items_name_the_line(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"text": "a", "label": "x"}\n{"text": "\xff", "label": "x"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_items(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('["a", "b"]', "expected a JSON object"),
        ('{"a": "yes"}', "two labels or more"),
        ('{"a": "yes", "b": 3}', "must be a string"),
        ('{"a": "same", "b": "same"}', "same text"),
        ('{"template": "{text}", "verbalizers": {"a": "x", "b": "y"}}', "{verbalizer}"),
        ('{"template": "{text} {label}", "verbalizers": {"a": "x", "b": "y"}}', "no other"),
        ('{"verbalizers": {"a": "x", "b": "y"}, "extra": 1}', "unknown keys"),
    ],
)
def test_malformed_verbalizers_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "v.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_verbalizers(path)


def test_unknown_labels_and_normalisation_are_rejected(scorer):
    with pytest.raises(ValueError, match="item 0"):
        zero_shot_accuracy(scorer, [("the cat", "other")], FITS)
    with pytest.raises(ValueError, match="normalize"):
        zero_shot_accuracy(scorer, [("the cat", "fits")], FITS, normalize="max")


def test_builtin_sentence_type_task_is_balanced_and_deterministic():
    items, verbalizers = sentence_type_task("it", n_per_label=20)
    assert items == sentence_type_task("it", n_per_label=20)[0]
    assert verbalizers.mapping == SENTENCE_TYPES and verbalizers.template == "{text}{verbalizer}"
    labels = [label for _, label in items]
    assert {label: labels.count(label) for label in SENTENCE_TYPES} == dict.fromkeys(
        SENTENCE_TYPES, 20
    )
    assert not any(text[-1:] in ".?!" for text, _ in items)


def test_verbaliser_and_item_files_accept_a_bom_and_every_line_ending(tmp_path):
    verbalizers = tmp_path / "v.json"
    verbalizers.write_bytes(b'\xef\xbb\xbf{\r"x": "yes",\r\n"y": "no"\r}')
    assert read_verbalizers(verbalizers).mapping == {"x": "yes", "y": "no"}
    items = tmp_path / "items.jsonl"
    items.write_bytes(b'\xef\xbb\xbf{"text": "a", "label": "x"}\r{"text": "b", "label": "y"}\r')
    assert read_items(items, ["x", "y"]) == [("a", "x"), ("b", "y")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"x": "yes", "y": "\\udfff"}', "not valid Unicode text"),
        ('{"x": ' + "[" * 100 + "]" * 100 + ', "y": "no"}', "JSON nested deeper"),
    ],
)
def test_bad_text_and_deep_nesting_in_a_verbaliser_file(tmp_path, content, message):
    path = tmp_path / "v.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as caught:
        read_verbalizers(path)
    assert str(path) in str(caught.value)


def test_a_lone_surrogate_in_an_items_file_names_its_line(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "\\ud800", "label": "x"}\n')
    with pytest.raises(ValueError, match=r"items\.jsonl, line 2: not valid Unicode text"):
        read_items(path)
