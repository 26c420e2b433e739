"""Reading users' own corpora, and JSONL files in and out.

A corpus is a list of utterances. :func:`load_texts` accepts the formats researchers keep them
in: a plain text file (one utterance a line), a BabyLM ``.train`` file (the same layout), a JSONL
file (one object a line, the text under a chosen key), or a folder of such files. Problems are
reported as :class:`CorpusError` naming the file and, where it applies, the line, before any
model sees the data, so a typo in a path or a stray binary file fails fast and clearly.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

FOLDER_SUFFIXES = (".txt", ".train", ".jsonl")
"""File suffixes :func:`load_texts` reads when given a folder."""


class CorpusError(ValueError):
    """A corpus file is missing, empty, not UTF-8, or has a malformed line."""


def _as_path(path: object, argument: str = "path") -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{argument} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` for a UTF-8 file, without line endings or a leading BOM.

    Lines are decoded one at a time so a large file is streamed and a decoding error can name
    its line.
    """
    try:
        handle = path.open("rb")
    except OSError as error:
        raise CorpusError(f"cannot read {path}: {error.strerror or error}") from error
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CorpusError(
                    f"{path}, line {number}: not UTF-8 ({error.reason} at byte {error.start})"
                ) from error
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\r\n")


def jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for every non-blank line of a JSONL file."""
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{path}, line {number}: invalid JSON ({error.msg})") from error
        if not isinstance(record, dict):
            raise CorpusError(
                f"{path}, line {number}: expected a JSON object, got {type(record).__name__}"
            )
        yield number, record


def _texts_from_file(path: Path, field: str) -> list[str]:
    if path.suffix == ".jsonl":
        texts = []
        for number, record in jsonl_records(path):
            if field not in record:
                raise CorpusError(f"{path}, line {number}: no {field!r} key (has {list(record)})")
            value = record[field]
            if not isinstance(value, str):
                raise CorpusError(
                    f"{path}, line {number}: {field!r} must be a string, got {type(value).__name__}"
                )
            texts.append(value.strip())
        return [t for t in texts if t]
    stripped = (line.strip() for _, line in _lines(path))
    return [line for line in stripped if line]


def corpus_files(folder: str | os.PathLike[str]) -> list[Path]:
    """List the corpus files under ``folder``: ``*.txt``, ``*.train`` and ``*.jsonl``.

    The search is recursive, skips hidden files and folders (names starting with ``.``, such as
    ``.git`` or editor back-ups) and is sorted by path relative to ``folder``, so the order, and
    with it every seeded split of the corpus, is the same on every machine.
    """
    root = _as_path(folder, "folder")
    if not root.is_dir():
        raise CorpusError(f"not a folder: {root}")
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix in FOLDER_SUFFIXES and path.is_file():
            found.append(relative)
    return [root / relative for relative in sorted(found, key=lambda p: p.as_posix())]


def load_texts(path: str | os.PathLike[str], *, field: str = "text") -> list[str]:
    """Load a corpus as a list of utterances.

    Args:
        path: a file or a folder. A ``.jsonl`` file yields the ``field`` value of every line's
            object; any other file (``.txt``, BabyLM ``.train``, ``.dev`` ...) yields its lines.
            A folder yields the utterances of every ``*.txt``, ``*.train`` and ``*.jsonl``
            file in it (see :func:`corpus_files`), file after file.
        field: the key holding the text in JSONL objects.

    Returns:
        The utterances, stripped of surrounding whitespace, blank ones dropped, in file order.

    Raises:
        CorpusError: the path does not exist, a folder holds no corpus file, a file is not
            UTF-8, a JSONL line is not an object with a string under ``field``, or the whole
            corpus has no utterance. The message names the file (and line).
        TypeError: ``path`` is not a path or ``field`` is not a string.
    """
    root = _as_path(path)
    if not isinstance(field, str) or not field:
        raise TypeError(f"field must be a non-empty string, got {field!r}")
    if not root.exists():
        raise CorpusError(f"corpus path does not exist: {root}")
    if root.is_dir():
        files = corpus_files(root)
        if not files:
            raise CorpusError(f"no {', '.join('*' + s for s in FOLDER_SUFFIXES)} files in {root}")
    else:
        files = [root]
    texts = [text for file in files for text in _texts_from_file(file, field)]
    if not texts:
        raise CorpusError(f"empty corpus: no non-blank utterance in {root}")
    return texts


def resolve_texts(
    texts: str | os.PathLike | Sequence[str] | None,
    default: Callable[[], Sequence[str]],
    *,
    name: str,
    item: str,
) -> list[str]:
    """An env's text argument as a list: ``None`` -> ``default()``; a path -> its texts
    (:func:`load_texts`); a non-empty list of strings as is.

    Args:
        name: the argument's name, for errors (``"corpus"``, ``"prompts"``).
        item: what one text is, for errors (``"utterance"``, ``"story beginning"``).
    """
    if texts is None:
        return list(default())
    if isinstance(texts, str | os.PathLike):
        return load_texts(texts)
    if isinstance(texts, Sequence) and all(isinstance(t, str) for t in texts):
        if not texts:
            raise ValueError(f"{name} is an empty list: give at least one {item}")
        return list(texts)
    raise TypeError(f"{name} must be None, a path, or a list of strings")


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file: one JSON object per non-blank line.

    Raises:
        CorpusError: the file is missing, not UTF-8, or a line is not a JSON object; the message
            names the file and line.
    """
    file = _as_path(path)
    if not file.is_file():
        raise CorpusError(f"JSONL file does not exist: {file}")
    return [record for _, record in jsonl_records(file)]


def write_jsonl(records: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``records`` as JSONL, atomically.

    Every record is serialised before the file is touched, then the lines go to a temporary file
    in the target folder which is renamed over ``path``: a reader (or a crash) never sees a half
    written file, and an unserialisable record leaves any existing file as it was.

    Args:
        records: mappings with JSON-serialisable values.
        path: destination; missing parent folders are created.

    Returns:
        The path written, as a :class:`~pathlib.Path`.

    Raises:
        TypeError: a record is not a mapping or holds a value JSON cannot encode.
        ValueError: a record holds NaN or infinity, which JSON has no spelling for.
    """
    target = _as_path(path)
    lines = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"record {index} must be a mapping, got {type(record).__name__}")
        try:
            lines.append(json.dumps(dict(record), ensure_ascii=False, allow_nan=False) + "\n")
        except (TypeError, ValueError) as error:
            raise type(error)(f"record {index} cannot be written as JSON: {error}") from error
    target.parent.mkdir(parents=True, exist_ok=True)
    # A hidden, unique name next to the target: the rename stays on one file system, and the
    # file gets the usual permissions (tempfile.mkstemp would make it private to the owner).
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("x", encoding="utf-8", newline="\n") as out:
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
