"""Reading users' own corpora, and JSONL files in and out.

A corpus is a list of utterances. :func:`load_texts` accepts the formats researchers keep them
in: a plain text file (one utterance a line), a BabyLM ``.train`` file (the same layout), a JSONL
file (one object a line, the text under a chosen key), or a folder of such files. Problems are
reported as :class:`CorpusError` naming the file and, where it applies, the line, before any
model sees the data, so a typo in a path or a stray binary file fails fast and clearly.

Every file lm_gym reads from a user goes through the two readers here, so all of them accept
the same files: :func:`read_lines` (UTF-8, an optional byte-order mark, ``\\n``, ``\\r\\n`` or
lone ``\\r`` line endings) and :func:`parse_json` (depth-limited, and refusing strings that are
not valid Unicode text). Corpora, minimal pairs, zero-shot items and verbalisers, preference
files and leaderboard results all use them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lm_gym.utils.files import atomic_write_text
from lm_gym.utils.validation import check_text

FOLDER_SUFFIXES = (".txt", ".train", ".jsonl")
"""File suffixes :func:`load_texts` reads when given a folder."""


class CorpusError(ValueError):
    """A corpus file is missing, empty, not UTF-8, or has a malformed line."""


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a JSON input (lm_gym's formats use 2):
deeper input is refused with its file and line instead of exhausting Python's recursion."""


def _as_path(path: object, argument: str = "path") -> Path:
    """``path`` as a ``Path``; an empty string is refused (``Path("")`` is the current folder,
    and reading it would silently take every text file under it)."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{argument} must be a str or os.PathLike, got {type(path).__name__}")
    if isinstance(path, str) and not path.strip():
        raise CorpusError(
            f"{argument} is an empty path; give a file or folder (use '.' for the current folder)"
        )
    return Path(path)


def read_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` of a UTF-8 text file: the one line reader of every loader.

    A leading UTF-8 byte-order mark is dropped, and ``\\n``, ``\\r\\n`` and a lone ``\\r`` (old
    Mac files) all end a line; the lines are yielded without their endings. Lines are decoded
    one at a time, so a large file is streamed and a decoding error names its line.

    Raises:
        CorpusError: the file cannot be opened, or a line is not UTF-8 (naming file and line).
    """
    path = _as_path(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise CorpusError(f"cannot read {path}: {error.strerror or error}") from error
    number = 0
    with handle:
        for raw in handle:  # split after every b"\n"; lone b"\r" are split below
            if raw.endswith(b"\r\n"):
                raw = raw[:-2]
            elif raw.endswith((b"\n", b"\r")):
                raw = raw[:-1]
            for piece in raw.split(b"\r"):  # 0x0D never occurs inside a UTF-8 sequence
                number += 1
                try:
                    line = piece.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise CorpusError(
                        f"{path}, line {number}: not UTF-8 ({error.reason} at byte {error.start})"
                    ) from error
                yield number, line.removeprefix("\ufeff") if number == 1 else line


def _json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets in strings not counted)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unencodable(value: Any, where: str) -> str | None:
    """Where in a parsed JSON value a string is not encodable text (a lone surrogate)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            return f"{where} holds {value[error.start]!r} at character {error.start}"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _unencodable(key, f"{where} key") or _unencodable(item, f"{where}[{key!r}]")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unencodable(item, f"{where}[{index}]")
            if found:
                return found
    return None


def parse_json(text: str, where: str) -> Any:
    """Parse one JSON document, refusing what would break later instead of here.

    Refused, with ``where`` (file and line) in the message: invalid JSON, nesting deeper than
    :data:`MAX_JSON_DEPTH`, and strings that are not valid Unicode text (a ``\\ud800`` escape
    decodes to a lone surrogate, which no tokenizer can encode).

    Raises:
        CorpusError: naming ``where`` and what is wrong.
    """
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _json_depth(text) > MAX_JSON_DEPTH:
        raise CorpusError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorpusError(f"{where}: invalid JSON ({error.msg} at column {error.colno})") from None
    except (ValueError, RecursionError) as error:  # e.g. an integer of 5,000 digits
        raise CorpusError(f"{where}: invalid JSON ({error})") from None
    if "\\u" in text:  # surrogates only come from escapes: UTF-8 input cannot hold them
        found = _unencodable(value, "the value")
        if found:
            raise CorpusError(
                f"{where}: not valid Unicode text: {found} (a lone surrogate; fix the escape)"
            )
    return value


def read_json(path: str | os.PathLike[str], *, argument: str = "path") -> Any:
    """Parse a whole UTF-8 JSON file (a leading byte-order mark allowed); see :func:`parse_json`.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorpusError: the file is not UTF-8 or not valid JSON (naming the file and line).
    """
    file = _as_path(path, argument)
    if not file.is_file():
        raise FileNotFoundError(f"{argument}: no file at {file}")
    text = "\n".join(line for _, line in read_lines(file))
    return parse_json(text, str(file))


def jsonl_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for every non-blank line of a JSONL file.

    Raises:
        CorpusError: a line is not UTF-8, not JSON (see :func:`parse_json`) or not an object.
    """
    path = _as_path(path)
    for number, line in read_lines(path):
        if not line.strip():
            continue
        record = parse_json(line, f"{path}, line {number}")
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
    stripped = (line.strip() for _, line in read_lines(path))
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


def load_texts(
    path: str | os.PathLike[str], *, field: str = "text", argument: str = "path"
) -> list[str]:
    """Load a corpus as a list of utterances.

    Args:
        path: a file or a folder. A ``.jsonl`` file yields the ``field`` value of every line's
            object; any other file (``.txt``, BabyLM ``.train``, ``.dev`` ...) yields its lines.
            A folder yields the utterances of every ``*.txt``, ``*.train`` and ``*.jsonl``
            file in it (see :func:`corpus_files`), file after file.
        field: the key holding the text in JSONL objects.
        argument: the name the caller knows ``path`` by, for errors (``"corpus"``).

    Returns:
        The utterances, stripped of surrounding whitespace, blank ones dropped, in file order.

    Raises:
        CorpusError: the path does not exist, a folder holds no corpus file, a file is not
            UTF-8, a JSONL line is not an object with a string under ``field``, or the whole
            corpus has no utterance, or ``path`` is an empty string (which would mean the
            current folder). The message names the file (and line).
        TypeError: ``path`` is not a path or ``field`` is not a string.
    """
    root = _as_path(path, argument)
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
    (:func:`load_texts`); a non-empty list of strings (each valid Unicode text) as is.

    Args:
        name: the argument's name, for errors (``"corpus"``, ``"prompts"``).
        item: what one text is, for errors (``"utterance"``, ``"story beginning"``).

    Raises:
        CorpusError: an empty path string (``""`` would mean the current folder) or a bad file.
        ValueError: an empty list, or a string holding a lone surrogate.
        TypeError: anything else.
    """
    if texts is None:
        return list(default())
    if isinstance(texts, str | os.PathLike):
        return load_texts(texts, argument=name)
    if isinstance(texts, Sequence) and all(isinstance(t, str) for t in texts):
        if not texts:
            raise ValueError(f"{name} is an empty list: give at least one {item}")
        return [check_text(f"{name}[{index}]", text) for index, text in enumerate(texts)]
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
    atomic_write_text(target, "".join(lines))
    return target
