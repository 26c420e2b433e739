"""Evaluate every milestone revision of a run and plot each measure against words exposed.

BabyLM's learning-curve and age-of-acquisition analyses put a run's checkpoints on one axis,
the words the model had been exposed to. :func:`evaluate_revisions` loads each revision folder
a run saved (``revisions/chck_*``, and ``main`` when it is further along than the last one)
with :func:`lm_gym.models.load_model`, i.e. exactly as ``from_pretrained`` reads it, runs
:func:`lm_gym.evaluation.evaluate_lm` (minimal pairs per phenomenon, perplexity per token and
per word, zero-shot sentence types, diversity of samples) plus the user's own BLiMP-format
pairs (``pairs``), text (``text``) and zero-shot task (``zero_shot``), and writes
``revisions.json`` and ``revisions.png`` (one panel per measure, words exposed on a log axis).

An existing ``revisions.json`` is resumed when it was made with the same settings (revisions
already scored are kept; new ones, from a run that went on, are added) and refused otherwise:
nothing of the user's is overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lm_gym.babylm.milestones import (
    FINAL,
    METADATA,
    list_revisions,
    read_revision,
    revisions_folder,
)
from lm_gym.corpora.loaders import load_texts
from lm_gym.evaluation.evaluate import evaluate_lm
from lm_gym.evaluation.scoring import Scorer, minimal_pair_accuracy, read_minimal_pairs
from lm_gym.evaluation.zero_shot import read_items, read_verbalizers
from lm_gym.models.loading import load_model
from lm_gym.utils.files import atomic_write_text

RESULTS_FILE = "revisions.json"
FIGURE_FILE = "revisions.png"
FORMAT = "lm_gym.revisions/1"


def _fingerprint(path: str | os.PathLike | None) -> dict[str, str] | None:
    if path is None:
        return None
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"path": str(path), "sha256": digest}


def revisions_to_evaluate(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The milestone revisions by words exposed, then ``main`` if it saw more words."""
    revisions = list_revisions(folder)
    final = folder / FINAL
    if (final / METADATA).is_file():
        record = read_revision(final)
        if not revisions or record["words_exposed"] > revisions[-1][1]["words_exposed"]:
            revisions.append((final, record))
    return revisions


def evaluate_revisions(
    source: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    languages: Sequence[str] = ("en", "it"),
    pairs: str | os.PathLike | None = None,
    text: str | os.PathLike | None = None,
    zero_shot: tuple[str | os.PathLike, str | os.PathLike] | None = None,
    n_heldout: int = 500,
    n_pairs: int = 200,
    n_sentence_types: int = 100,
    n_samples: int = 200,
    seed: int = 0,
    device: Any = None,
) -> dict[str, Any]:
    """Evaluate every revision of a run (module docstring); write and return the results.

    Args:
        source: a run folder (or its ``revisions/`` folder).
        out: where ``revisions.json`` and ``revisions.png`` go (default
            ``<source>/revisions_eval``).
        pairs: a BLiMP-format JSONL file of the user's (e.g. real BLiMP).
        text: a text file, folder or JSONL scored for perplexity.
        zero_shot: ``(items JSONL, verbalizers JSON)`` of a user's zero-shot task.
        languages, n_heldout, n_pairs, n_sentence_types, n_samples, seed: as in
            :func:`lm_gym.evaluation.evaluate_lm`.
        device: where the revisions are loaded.

    Returns:
        ``{"format", "settings", "revisions": [{"revision", "milestone", "words_exposed",
        "words_generated", "results"}...]}``.

    Raises:
        ValueError: for a bad input file (checked before any model loads), a run without
            revisions, or an existing ``revisions.json`` made with other settings.
    """
    folder = revisions_folder(source)
    user_pairs = read_minimal_pairs(pairs) if pairs is not None else None
    user_text = load_texts(text, argument="text") if text is not None else None
    task = None
    if zero_shot is not None:
        verbalizers = read_verbalizers(zero_shot[1])
        task = (read_items(zero_shot[0], verbalizers.mapping), verbalizers)
    settings = {
        "languages": list(languages),
        "n_heldout": n_heldout,
        "n_pairs": n_pairs,
        "n_sentence_types": n_sentence_types,
        "n_samples": n_samples,
        "seed": seed,
        "pairs": _fingerprint(pairs),
        "text": _fingerprint(text),
        "zero_shot": None if zero_shot is None else [_fingerprint(p) for p in zero_shot],
    }
    out = Path(out) if out is not None else Path(source) / "revisions_eval"
    done = _resume(out / RESULTS_FILE, settings)
    results: list[dict[str, Any]] = []
    for path, record in revisions_to_evaluate(folder):
        key = (record["revision"], record["words_exposed"])
        if key in done:
            results.append(done[key])
            continue
        print(f"evaluating {record['revision']} ({record['words_exposed']:,} words exposed)")
        model, tokenizer = load_model(str(path), device=device)
        scores = evaluate_lm(
            model,
            tokenizer,
            languages=languages,
            n_heldout=n_heldout,
            n_pairs=n_pairs,
            n_sentence_types=n_sentence_types,
            n_samples=n_samples,
            zero_shot=task,
            words_seen=record["words_exposed"],
            seed=seed,
        )
        scorer = Scorer(model, tokenizer)
        if user_pairs is not None:
            scores["pairs_file"] = minimal_pair_accuracy(scorer, user_pairs)
        if user_text is not None:
            scores["text_file"] = scorer.corpus_perplexities(user_text)
        results.append(
            {
                "revision": record["revision"],
                "milestone": record["milestone"],
                "words_exposed": record["words_exposed"],
                "words_generated": record["words_generated"],
                "results": scores,
            }
        )
        report = {"format": FORMAT, "settings": settings, "revisions": results}
        atomic_write_text(out / RESULTS_FILE, json.dumps(report, indent=2) + "\n")
    report = {"format": FORMAT, "settings": settings, "revisions": results}
    atomic_write_text(out / RESULTS_FILE, json.dumps(report, indent=2) + "\n")
    plot_revisions(report, out / FIGURE_FILE)
    return report


def _resume(path: Path, settings: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """The revisions already scored in ``path`` with the same ``settings`` (none if absent).

    Raises:
        ValueError: when ``path`` holds results of other settings (or is not ours).
    """
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} exists and is not an lm_gym revisions file: {error}") from error
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"{path} exists and is not an lm_gym revisions file; pass another --out")
    if saved.get("settings") != settings:
        raise ValueError(
            f"{path} holds an evaluation with other settings; it is never overwritten: pass "
            "another --out, or the settings it was made with"
        )
    return {(r["revision"], r["words_exposed"]): r for r in saved["revisions"]}


def curves(report: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Each measure's values over the revisions, by series: ``{panel: {series: values}}``,
    with ``report``'s words exposed as the x values (``"words"``)."""
    revisions = report["revisions"]
    panels: dict[str, dict[str, list[float]]] = {
        "minimal pairs": {},
        "perplexity per word": {},
        "zero-shot": {},
    }

    def add(panel: str, series: str, values: list[Any]) -> None:
        if all(isinstance(v, int | float) for v in values):
            panels.setdefault(panel, {})[series] = [float(v) for v in values]

    for lang in report["settings"]["languages"]:
        rows = [r["results"][lang] for r in revisions]
        add("minimal pairs", lang, [row["minimal_pairs"] for row in rows])
        add("perplexity per word", lang, [row["perplexity_per_word"] for row in rows])
        add("zero-shot", f"{lang} sentence type", [row.get("sentence_type") for row in rows])
        for phenomenon in rows[0]["by_phenomenon"] if rows else ():
            values = [row["by_phenomenon"].get(phenomenon) for row in rows]
            add(f"minimal pairs by phenomenon ({lang})", phenomenon, values)
    results = [r["results"] for r in revisions]
    if results and "pairs_file" in results[0]:
        add("minimal pairs", "pairs file", [r["pairs_file"]["accuracy"] for r in results])
        for phenomenon in results[0]["pairs_file"]["by_phenomenon"]:
            values = [r["pairs_file"]["by_phenomenon"].get(phenomenon) for r in results]
            add("minimal pairs by phenomenon (pairs file)", phenomenon, values)
    if results and "text_file" in results[0]:
        values = [r["text_file"]["perplexity_per_word"] for r in results]
        add("perplexity per word", "text file", values)
    if results and "zero_shot" in results[0]:
        add("zero-shot", "zero-shot file", [r["zero_shot"]["accuracy"] for r in results])
    return {"words": {"x": [float(r["words_exposed"]) for r in revisions]}, **panels}


def plot_revisions(report: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """Each measure against words exposed (log axis); ``None`` without matplotlib.

    The summary measures share the first row; each per-phenomenon panel gets a row of its
    own, with its legend beside it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "lm-gym eval: matplotlib is not installed, so no revisions.png (pip install "
            "matplotlib)",
            file=sys.stderr,
        )
        return None
    data = curves(report)
    words = data.pop("words")["x"]
    summary = {name: series for name, series in data.items() if series and "phenom" not in name}
    phenomena = {name: series for name, series in data.items() if series and "phenom" in name}
    figure = plt.figure(figsize=(15, 3.6 * (1 + len(phenomena))))
    grid = figure.add_gridspec(1 + len(phenomena), 3)
    axes = [figure.add_subplot(grid[0, column]) for column in range(len(summary))]
    axes += [figure.add_subplot(grid[row + 1, :2]) for row in range(len(phenomena))]
    for axis, (name, series) in zip(axes, {**summary, **phenomena}.items()):
        detailed = name in phenomena
        for label, values in series.items():
            axis.plot(words, values, marker="." if detailed else "o", label=label)
        axis.set_xscale("log")
        if name == "perplexity per word":
            axis.set_yscale("log")
        axis.set_title(name)
        axis.set_xlabel("words exposed")
        axis.grid(alpha=0.3)
        if detailed:
            axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            axis.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
