"""Milestone checkpoints: the student saved as a Hugging Face folder each time its exposure
passes a milestone, as BabyLM asks for its learning-curve and age-of-acquisition analyses.

BabyLM wants intermediate checkpoints as revisions ``chck_1M`` ... ``chck_10M`` (every 1M
words exposed), ``chck_20M`` ... ``chck_100M`` (every 10M) and, outside Strict-Small,
``chck_200M`` ... ``chck_1000M`` (every 100M) (:func:`official_milestones`). Small runs use a
scaled schedule: the same one divided (``"strict-small/1000"``: 1k, 2k, ... 100k words) or
explicit words (``"10k,20k,30k"``); a revision is named after its words (``chck_10k``), so a
scaled run never passes for a real one.

:class:`MilestoneCallback` saves, under ``<folder>/<revision>/``, the student's model and
tokenizer with ``save_pretrained`` (loadable by ``AutoModelForCausalLM`` and ``AutoTokenizer``
alone, no lm_gym needed) and ``lm_gym_revision.json`` (the milestone, the words actually
exposed and generated, timesteps, the ledger). It saves at the end of the first training
iteration whose exposure reaches a milestone (the agent's state is whole there; the file
records how far past the milestone that was, at most one iteration's words), and, when
training ends, the final model as ``main``. A run stopped by its exposure budget has spent it:
the milestones up to the budget's limit that no iteration reached are saved then too, with the
words actually exposed. Folders are written atomically and a milestone already on disk (a
resumed run) is kept.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lm_gym.agents.callbacks import Callback
from lm_gym.babylm.ledger import (
    MILLION,
    WordBudget,
    WordLedger,
    format_words,
    ledger_of,
    parse_words,
)
from lm_gym.utils.env_attributes import get_env_attr
from lm_gym.utils.files import atomic_write_text, temporary_sibling
from lm_gym.version import __version__

PREFIX = "chck_"
"""BabyLM's revision prefix (``chck_1M``)."""
FINAL = "main"
"""The revision of the final model (a model hub's default branch)."""
METADATA = "lm_gym_revision.json"
"""The file beside the weights that says what the revision is."""
TRACKS = ("strict", "strict-small")


def official_milestones(track: str = "strict", divisor: int = 1) -> list[int]:
    """BabyLM's checkpoint words for ``track``, divided by ``divisor`` for a scaled run.

    Raises:
        ValueError: for an unknown track or a divisor that leaves a milestone fractional.
    """
    if track not in TRACKS:
        raise ValueError(f"track must be one of {TRACKS}, got {track!r}")
    words = [i * MILLION for i in range(1, 10)] + [i * 10 * MILLION for i in range(1, 11)]
    if track == "strict":
        words += [i * 100 * MILLION for i in range(2, 11)]
    if any(w % divisor for w in words):
        raise ValueError(f"{divisor} does not divide BabyLM's milestones into whole words")
    return [w // divisor for w in words]


def parse_milestones(spec: Any, budget: WordBudget | None = None) -> list[int]:
    """Milestone words from a schedule name or explicit words, sorted, without repeats.

    Args:
        spec: ``"official"`` (the track of ``budget``'s preset, Strict when it has none),
            ``"strict"`` / ``"strict-small"``, any of those divided (``"official/1000"``),
            words separated by commas (``"10k,20k,30k"``) or a sequence of word counts.
        budget: the run's budget (its preset names the official track).

    Raises:
        ValueError: for an empty or malformed schedule.
    """
    if isinstance(spec, str) and "," not in spec:
        name, _, divisor_text = spec.strip().partition("/")
        if name in ("official", *TRACKS):
            track = name
            if name == "official":
                preset = (budget.name or "") if budget is not None else ""
                track = preset.partition("/")[0] if preset.startswith("strict") else "strict"
            divisor = parse_words(divisor_text, "milestone divisor") if divisor_text else 1
            return official_milestones(track, divisor)
    items = spec.split(",") if isinstance(spec, str) else spec
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise ValueError(
            f"milestones must be 'official', 'strict', 'strict-small' (optionally '/N'), or "
            f"words such as '10k,20k,30k'; got {spec!r}"
        )
    return sorted({parse_words(item, "a milestone") for item in items})


def revision_name(words: int) -> str:
    """``chck_`` and the milestone's words: ``chck_1M``, ``chck_20M``, ``chck_10k``."""
    return f"{PREFIX}{format_words(words)}"


def read_revision(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``lm_gym_revision.json`` of a revision folder.

    Raises:
        FileNotFoundError: when the folder has none.
        ValueError: when it is not a JSON object.
    """
    path = Path(folder) / METADATA
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an lm_gym revision folder (no {METADATA})")
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or "revision" not in record:
        raise ValueError(f"{path} is not an lm_gym revision record")
    return record


def list_revisions(folder: str | os.PathLike) -> list[tuple[Path, dict[str, Any]]]:
    """The milestone revisions under ``folder`` (``main`` excluded), by words exposed."""
    found = []
    for child in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        if child.name.startswith(PREFIX) and (child / METADATA).is_file():
            found.append((child, read_revision(child)))
    return sorted(found, key=lambda item: (item[1]["words_exposed"], item[1]["milestone"]))


def revisions_folder(source: str | os.PathLike) -> Path:
    """The folder of revision folders for a run folder (its ``revisions/``) or that folder.

    Raises:
        FileNotFoundError: for a missing folder.
        ValueError: when ``source`` holds no milestone revision.
    """
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"no run folder at {source}")
    for candidate in (source / "revisions", source):
        if list_revisions(candidate):
            return candidate
    raise ValueError(
        f"{source} holds no milestone revisions (chck_* folders with {METADATA}): train with "
        "milestones (lm-gym run ... --milestones official, or a scaled schedule such as "
        "--milestones 10k,20k) first"
    )


def save_revision(
    folder: Path, model: Any, tokenizer: Any, record: dict[str, Any], *, replace: bool = False
) -> Path:
    """Write ``model``, ``tokenizer`` and ``record`` into ``folder`` atomically.

    A half-written folder never appears under its name; an existing one is kept unless
    ``replace`` (then it is swapped for the new one).
    """
    if folder.exists() and not replace:
        return folder
    work = temporary_sibling(folder)
    try:
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        atomic_write_text(work / METADATA, json.dumps(record, indent=2) + "\n")
        if folder.exists():
            old = temporary_sibling(folder)
            os.replace(folder, old)
            os.replace(work, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def student_of(agent: Any, env: Any) -> tuple[Any, Any]:
    """The student's ``(model, tokenizer)``: the LM agent's policy model, else the model a
    wrapper of ``env`` trains, with the policy's or the env's tokenizer.

    Raises:
        ValueError: when neither is a Hugging Face model with ``save_pretrained``.
    """
    policy = getattr(agent, "policy", None)
    model = getattr(policy, "model", None)
    tokenizer = getattr(policy, "tokenizer", None)
    if not hasattr(model, "save_pretrained"):
        model = get_env_attr(env, "trained_model", None)
        tokenizer = getattr(getattr(env, "unwrapped", None), "tokenizer", None)
    if not hasattr(model, "save_pretrained") or not hasattr(tokenizer, "save_pretrained"):
        raise ValueError(
            f"milestones save the student language model, but {type(agent).__name__} has no "
            "Hugging Face policy model and no wrapper of the env trains one"
        )
    return model, tokenizer


class MilestoneCallback(Callback):
    """Save the student at each milestone of exposure, and at the end as ``main``.

    Args:
        folder: where the revision folders go (created when needed).
        milestones: anything :func:`parse_milestones` takes.
        model, tokenizer: the student; default :func:`student_of` the agent and its env.

    Attributes:
        saved: the revision names written by this callback, in order.

    Raises:
        ValueError: for a bad schedule; at training start, for an env without a word ledger
            (wrap it in :class:`~lm_gym.wrappers.WordCounter`) or an agent without a student.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        milestones: Any = "official",
        *,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.spec = milestones
        self.milestones: list[int] = []
        self.student = (model, tokenizer)
        self.saved: list[str] = []
        self._ledger: WordLedger | None = None

    def _on_training_start(self) -> None:
        env = self.agent.env
        self._ledger = ledger_of(env)
        if self._ledger is None:
            raise ValueError(
                "milestones count words exposed: wrap the env in lm_gym.wrappers.WordCounter "
                "(train_agent does) before training with a MilestoneCallback"
            )
        self.milestones = parse_milestones(self.spec, self._ledger.budget)
        if self.student[0] is None or self.student[1] is None:
            self.student = student_of(self.agent, env)

    def _pending(self) -> list[int]:
        return [m for m in self.milestones if not (self.folder / revision_name(m)).exists()]

    def _on_iteration_end(self) -> None:
        exposed = self._ledger.exposed
        for words in self._pending():
            if words <= exposed:
                self._save(revision_name(words), words)

    def _on_training_end(self) -> None:
        ledger = self._ledger
        if ledger is None:
            return
        self._on_iteration_end()
        refusal, budget = ledger.refusal, ledger.budget
        if refusal is not None and refusal.counter == "words exposed" and budget is not None:
            for words in self._pending():  # the exposure budget is spent: these are reached
                if words <= budget.exposed:
                    self._save(revision_name(words), words)
        self._save(FINAL, None, replace=True)

    def _save(self, name: str, milestone: int | None, replace: bool = False) -> None:
        ledger = self._ledger
        record = {
            "revision": name,
            "milestone": milestone,
            "words_exposed": ledger.exposed,
            "words_generated": ledger.generated,
            "num_timesteps": int(self.agent.num_timesteps),
            "iteration": int(getattr(self.agent, "iteration", 0)),
            "ledger": ledger.summary(),
            "lm_gym_version": __version__,
        }
        model, tokenizer = self.student
        self.folder.mkdir(parents=True, exist_ok=True)
        save_revision(self.folder / name, model, tokenizer, record, replace=replace)
        self.saved.append(name)
