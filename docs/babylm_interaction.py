"""A BabyLM-interaction run end to end: Bambino-v0 under a scaled Strict-Small budget.

The English baby (``baby-en``) learns Italian on ``Bambino-v0`` with its offline defaults: PPO
on the parent's (``parent-it``) reward for its continuations of Italian prompts, with CLM
alternation on the Italian corpus (10 CLM batches : 2 RL batches). The run is one
``train_agent`` call with BabyLM's rules scaled down by ``--scale`` (default 100):

* budget ``strict-small/100``: 100,000 words exposed (CLM text and prompts, repeats counted),
  1,000,000 words generated, 10 epochs; the run stops at the budget, not at a timestep count;
* milestones ``official/100``: BabyLM's Strict-Small schedule divided by 100 (``chck_10k``,
  ``chck_20k``, ... every 10,000 words exposed; 200k and up are past the budget);

then ``export_babylm`` writes the revisions as a git repository (one branch per milestone,
``main`` = the final model) and ``evaluate_revisions`` scores every revision (minimal pairs per
phenomenon, perplexity per word, zero-shot sentence types, in English and Italian) and plots
each measure against words exposed. The untrained baby is scored the same way ("before").

Writes ``docs/babylm_interaction.png`` and ``docs/babylm_interaction.json``; the run folder,
the repository and the evaluation files stay under ``--work`` (not committed). A second call
reuses what the first one finished (the run, the repository, the scored revisions). Runs torch
on one thread::

    python docs/babylm_interaction.py
    python docs/babylm_interaction.py --seed 1 --work runs/babylm_s1 --json s1.json --out s1.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging as hf_logging

from lm_gym.agents import train_agent
from lm_gym.babylm import evaluate_revisions, export_babylm, list_revisions, plot_revisions
from lm_gym.babylm.export import export_summary
from lm_gym.babylm.revisions import curves
from lm_gym.evaluation import evaluate_lm
from lm_gym.models import load_model

HERE = Path(__file__).resolve().parent
EVAL_SIZES = {"n_heldout": 300, "n_pairs": 100, "n_sentence_types": 50, "n_samples": 100}
"""Evaluation sizes per revision (smaller than ``lm-gym eval``'s defaults, to stay quick)."""
SCALARS = ("minimal_pairs", "perplexity_per_word", "sentence_type", "distinct_2")


def scalars(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The headline numbers of one evaluation, per language."""
    return {lang: {key: results[lang][key] for key in SCALARS} for lang in ("en", "it")}


def finished_run(work: Path, seed: int) -> Path | None:
    """The finished run of this example and ``seed`` under ``work``, if there is one."""
    for summary in sorted(work.glob("*/run.json")):
        run = json.loads(summary.read_text())
        if run.get("env_id") == "Bambino-v0" and run.get("seed") == seed and run.get("finished"):
            return summary.parent
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=100, help="divide BabyLM's numbers by this")
    parser.add_argument("--work", default="runs/babylm_interaction", help="run, repo, eval files")
    parser.add_argument("--out", default=str(HERE / "babylm_interaction.png"))
    parser.add_argument("--json", default=str(HERE / "babylm_interaction.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()
    work = Path(args.work)
    budget, milestones = f"strict-small/{args.scale}", f"official/{args.scale}"

    run_dir = finished_run(work, args.seed)
    if run_dir is None:
        run_dir = train_agent(
            "Bambino-v0",
            "ppo",
            10**9,  # the word budget ends the run
            seed=args.seed,
            device="cpu",
            out_dir=work,
            env_kwargs={"clm_alternation": True, "device": "cpu"},
            agent_kwargs={"verbose": 0},
            progress_bar=False,
            resume=True,  # a killed run continues from its last checkpoint
            budget=budget,
            milestones=milestones,
        ).run_dir
    run = json.loads((run_dir / "run.json").read_text())

    repo = work / "babylm-repo"
    if not repo.exists():
        export_babylm(run_dir, repo)
    branches = export_summary(repo)["branches"]

    started = time.perf_counter()
    report = evaluate_revisions(run_dir, work / "revisions_eval", seed=args.seed, **EVAL_SIZES)
    baby = load_model("baby-en", device="cpu")
    before = evaluate_lm(*baby, seed=args.seed, **EVAL_SIZES)
    eval_seconds = time.perf_counter() - started
    plot_revisions(report, args.out)

    revisions = [
        {key: record[key] for key in ("revision", "words_exposed", "words_generated")}
        | {"num_timesteps": record["num_timesteps"]}
        for _, record in list_revisions(run_dir / "revisions")
    ]
    summary = {
        "command": "python docs/babylm_interaction.py",
        "seed": args.seed,
        "budget": budget,
        "milestones": milestones,
        "eval_sizes": EVAL_SIZES,
        "ledger": run["words"],
        "num_timesteps": run["num_timesteps"],
        "revisions": revisions,
        "exported_branches": branches,
        "before_training": scalars(before),
        "scores": {row["revision"]: scalars(row["results"]) for row in report["revisions"]},
        "curves": curves(report),
        "seconds": {"train": run["seconds"], "evaluate": round(eval_seconds, 1)},
    }
    text = json.dumps(summary, indent=2)
    Path(args.json).write_text(text + "\n")
    print(text)
    print(f"wrote {args.out} and {args.json}")


if __name__ == "__main__":
    main()
