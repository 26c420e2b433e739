"""Corpus loading from text, BabyLM and JSONL files and folders; JSONL round trips; the
shared line and JSON readers (line endings, BOM, depth, lone surrogates); empty paths."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lm_gym.corpora.loaders import (
    CorpusError,
    corpus_files,
    jsonl_records,
    load_texts,
    parse_json,
    read_jsonl,
    read_lines,
    resolve_texts,
    write_jsonl,
)


def test_plain_text_file_strips_and_drops_blank_lines(tmp_path):
    file = tmp_path / "corpus.txt"
    file.write_text("  the dog runs \n\n   \nil gatto dorme\r\n", encoding="utf-8")
    assert load_texts(file) == ["the dog runs", "il gatto dorme"]
    assert load_texts(str(file)) == ["the dog runs", "il gatto dorme"]


def test_babylm_train_file_and_leading_bom(tmp_path):
    file = tmp_path / "childes.train"
    file.write_bytes("\ufeff*MOT: look at that .\n*CHI: ball !\n".encode())
    assert load_texts(file) == ["*MOT: look at that .", "*CHI: ball !"]


def test_jsonl_uses_the_field(tmp_path):
    file = tmp_path / "data.jsonl"
    rows = [{"text": "uno", "id": 1}, {"text": "  due ", "id": 2}, {"sentence": "tre", "text": ""}]
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert load_texts(file) == ["uno", "due"]
    file2 = tmp_path / "pairs.jsonl"
    file2.write_text(json.dumps({"sentence_good": "a cat sleeps"}) + "\n", encoding="utf-8")
    assert load_texts(file2, field="sentence_good") == ["a cat sleeps"]


def test_folder_is_read_recursively_in_sorted_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.train").write_text("from b/z\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("from a\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text('{"text": "from c"}\n', encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored\n", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("ignored too\n", encoding="utf-8")
    assert load_texts(tmp_path) == ["from a", "from b/z", "from c"]
    assert [p.relative_to(tmp_path).as_posix() for p in corpus_files(tmp_path)] == [
        "a.txt",
        "b/z.train",
        "c.jsonl",
    ]


def test_missing_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(CorpusError, match="nope.txt"):
        load_texts(missing)
    with pytest.raises(CorpusError, match="nope.txt"):
        read_jsonl(missing)


def test_corpus_error_is_a_value_error():
    assert issubclass(CorpusError, ValueError)


def test_empty_corpus_is_an_error(tmp_path):
    file = tmp_path / "blank.txt"
    file.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty corpus.*blank.txt"):
        load_texts(file)
    folder = tmp_path / "no_corpus"
    folder.mkdir()
    (folder / "readme.md").write_text("not a corpus file\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no .* files in .*no_corpus"):
        load_texts(folder)
    (folder / "blank.train").write_text("\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty corpus.*no_corpus"):
        load_texts(folder)


def test_non_utf8_file_names_file_and_line(tmp_path):
    file = tmp_path / "latin1.txt"
    file.write_bytes(b"fine\n" + "città\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt, line 2: not UTF-8"):
        load_texts(file)
    (tmp_path / "ok.txt").write_text("ok\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="latin1.txt"):
        load_texts(tmp_path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"text": "ok"}\n{"text": oops}\n', "line 2: invalid JSON"),
        ('["a list"]\n', "line 1: expected a JSON object"),
        ('{"text": "ok"}\n\n{"other": "x"}\n', "line 3: no 'text' key"),
        ('{"text": 5}\n', "line 1: 'text' must be a string"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path, content, match):
    file = tmp_path / "bad.jsonl"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=match) as caught:
        load_texts(file)
    assert "bad.jsonl" in str(caught.value)


def test_bad_argument_types(tmp_path):
    with pytest.raises(TypeError, match="path"):
        load_texts(3)  # type: ignore[arg-type]
    (tmp_path / "a.txt").write_text("x\n", encoding="utf-8")
    with pytest.raises(TypeError, match="field"):
        load_texts(tmp_path / "a.txt", field="")


def test_write_then_read_jsonl_round_trip(tmp_path):
    records = [{"sentence_good": "la gatta è bianca", "n": 1}, {"nested": {"x": [1, 2.5]}}]
    target = tmp_path / "sub" / "out.jsonl"
    written = write_jsonl(records, target)
    assert written == target and isinstance(written, Path)
    assert read_jsonl(target) == records
    # Non-ASCII stays readable in the file; one object per line.
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "è" in lines[0]
    assert os.listdir(target.parent) == ["out.jsonl"]


def test_write_jsonl_accepts_a_generator_and_overwrites(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl([{"a": 1}], target)
    write_jsonl(({"i": i} for i in range(3)), target)
    assert read_jsonl(target) == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_read_jsonl_of_empty_file_is_empty(tmp_path):
    target = tmp_path / "none.jsonl"
    write_jsonl([], target)
    assert read_jsonl(target) == []


@pytest.mark.parametrize(
    ("records", "error"),
    [
        ([{"a": 1}, "not a mapping"], TypeError),
        ([{"a": object()}], TypeError),
        ([{"a": float("nan")}], ValueError),
    ],
)
def test_write_jsonl_failure_leaves_existing_file_untouched(tmp_path, records, error):
    target = tmp_path / "keep.jsonl"
    write_jsonl([{"old": True}], target)
    with pytest.raises(error, match="record"):
        write_jsonl(records, target)
    assert read_jsonl(target) == [{"old": True}]
    assert os.listdir(tmp_path) == ["keep.jsonl"]


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_path_is_an_error_naming_the_argument(tmp_path, monkeypatch, empty):
    # Path("") is the current folder: an empty corpus argument would read every text file here.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "private_notes.txt").write_text("not a corpus\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="corpus is an empty path"):
        resolve_texts(empty, lambda: ["default"], name="corpus", item="utterance")
    with pytest.raises(CorpusError, match="prompts is an empty path"):
        resolve_texts(empty, lambda: ["default"], name="prompts", item="story beginning")
    with pytest.raises(CorpusError, match="path is an empty path"):
        load_texts(empty)
    with pytest.raises(CorpusError, match="empty path"):
        read_jsonl(empty)
    assert resolve_texts(".", lambda: [], name="corpus", item="utterance") == ["not a corpus"]


@pytest.mark.parametrize(
    "content",
    [
        b"one\ntwo\nthree\n",
        b"one\r\ntwo\r\nthree\r\n",
        b"one\rtwo\rthree\r",  # classic Mac line endings: three lines, not one
        b"\xef\xbb\xbfone\rtwo\r\nthree",  # a BOM, mixed endings, no final newline
    ],
)
def test_every_line_ending_and_a_bom_read_the_same_lines(tmp_path, content):
    file = tmp_path / "corpus.txt"
    file.write_bytes(content)
    assert load_texts(file) == ["one", "two", "three"]
    assert [line for _, line in read_lines(file)] == ["one", "two", "three"]
    jsonl = tmp_path / "corpus.jsonl"
    for word in (b"one", b"two", b"three"):
        content = content.replace(word, b'{"text": "' + word + b'"}')
    jsonl.write_bytes(content)
    assert load_texts(jsonl) == ["one", "two", "three"]
    assert [n for n, _ in jsonl_records(jsonl)] == [1, 2, 3]


def test_a_lone_surrogate_is_refused_with_file_and_line(tmp_path):
    file = tmp_path / "corpus.jsonl"
    file.write_text('{"text": "fine"}\n{"text": "bad \\ud800 escape"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"corpus\.jsonl, line 2: not valid Unicode text"):
        load_texts(file)
    pair = tmp_path / "emoji.jsonl"
    pair.write_text('{"text": "a surrogate pair is fine: \\ud83d\\ude00"}\n', encoding="utf-8")
    assert load_texts(pair) == ["a surrogate pair is fine: \U0001f600"]
    with pytest.raises(ValueError, match=r"corpus\[1\] is not valid Unicode text"):
        resolve_texts(["ok", "bad \ud800"], lambda: [], name="corpus", item="utterance")


def test_deeply_nested_json_is_a_clear_error_not_a_recursion_error(tmp_path):
    file = tmp_path / "deep.jsonl"
    file.write_text('{"text": "ok"}\n{"x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(CorpusError, match=r"deep\.jsonl, line 2: JSON nested deeper than 64"):
        load_texts(file)
    brackets_in_a_string = tmp_path / "flat.jsonl"
    brackets_in_a_string.write_text(json.dumps({"text": "[" * 500}) + "\n")
    assert load_texts(brackets_in_a_string) == ["[" * 500]
    with pytest.raises(CorpusError, match="nested deeper"):
        parse_json("[" * 65 + "]" * 65, "here")
    assert parse_json("[" * 64 + "]" * 64, "here") is not None
