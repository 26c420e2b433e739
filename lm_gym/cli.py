"""The ``lm-gym`` command line: prepare models, list what is registered, inspect corpora,
evaluate models, train agents, run leaderboard tracks (``make run``: the quick track) and the
offline demo."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

CORPUS_NAMES = (
    "parentese-en",
    "parentese-it",
    "parentese-parallel",
    "minimal-pairs-en",
    "minimal-pairs-it",
    "domains",
    "structures",
)


def _cmd_prepare(args: argparse.Namespace) -> int:
    from lm_gym.models.building import build_recipe
    from lm_gym.models.recipes import RECIPES, RewardRecipe
    from lm_gym.rewards.training import build_reward_recipe

    names = args.recipes or [n for n in RECIPES if not n.endswith("-micro")]
    for name in names:
        build = build_reward_recipe if isinstance(RECIPES.get(name), RewardRecipe) else build_recipe
        print(f"{name}: {build(name)}")
    return 0


def _print_section(title: str, lines: list[str]) -> None:
    print(f"{title}:")
    for line in lines or ["(none)"]:
        print(f"  {line}")


def _cmd_list(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import lm_gym  # noqa: F401  (registers the environments)
    from lm_gym.models.recipes import RECIPES

    envs = sorted(
        env_id
        for env_id, spec in gym.registry.items()
        if str(spec.entry_point).startswith("lm_gym")
    )
    _print_section("environments", envs)
    try:
        from lm_gym.agents.registry import list_agents
    except ImportError:
        agents: list[str] = []
    else:
        agents = sorted(list_agents())
    _print_section("agents", agents)
    _print_section("model recipes", [f"{r.name:16s} {r.description}" for r in RECIPES.values()])
    return 0


def corpus_sample(name: str, n: int, seed: int) -> list[str]:
    """``n`` lines of a built-in corpus, as ``lm-gym corpus`` prints them."""
    from lm_gym.corpora import artificial, minimal_pairs, parentese

    if name in ("parentese-en", "parentese-it"):
        return parentese.generate_parentese(name[-2:], n, seed=seed)
    if name == "parentese-parallel":
        return [f"{en}\t{it}" for en, it in parentese.generate_parallel(n, seed=seed)]
    if name.startswith("minimal-pairs-"):
        pairs = minimal_pairs.generate_minimal_pairs(name[-2:], n_per_phenomenon=1, seed=seed)
        pairs = (pairs * n)[:n] if n > len(pairs) else pairs[:n]
        return [json.dumps(p, ensure_ascii=False) for p in pairs]
    task = artificial.domains_task if name == "domains" else artificial.structures_task
    built = task(seed=seed)
    return [f"{label}\t{text}" for text, label in zip(built.pool, built.pool_labels)][:n]


def _cmd_corpus(args: argparse.Namespace) -> int:
    print("\n".join(corpus_sample(args.name, args.n, args.seed)))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.revisions:
        return _cmd_eval_revisions(args)
    from lm_gym.evaluation.evaluate import evaluate_lm
    from lm_gym.evaluation.scoring import Scorer, minimal_pair_accuracy, read_minimal_pairs
    from lm_gym.evaluation.zero_shot import read_items, read_verbalizers
    from lm_gym.models.loading import load_model

    if (args.zero_shot is None) != (args.verbalizers is None):
        raise ValueError("--zero-shot and --verbalizers go together: give both or neither")
    zero_shot = None
    if args.zero_shot is not None:  # every input file is checked before the model is loaded
        verbalizers = read_verbalizers(args.verbalizers)
        zero_shot = (read_items(args.zero_shot, verbalizers.mapping), verbalizers)
    pairs = read_minimal_pairs(args.pairs) if args.pairs is not None else None
    if args.text is not None:
        from lm_gym.corpora.loaders import load_texts

        texts = load_texts(args.text, argument="--text")
    model, tokenizer = load_model(args.model, device=args.device)
    results = evaluate_lm(
        model,
        tokenizer,
        languages=tuple(args.lang),
        n_heldout=args.n_heldout,
        n_pairs=args.n_pairs,
        n_sentence_types=args.n_sentence_types,
        n_samples=args.n_samples,
        zero_shot=zero_shot,
        seed=args.seed,
    )
    scorer = Scorer(model, tokenizer)
    if pairs is not None:
        results["pairs_file"] = minimal_pair_accuracy(scorer, pairs)
    if args.text is not None:
        results["text_file"] = scorer.corpus_perplexities(texts)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


def _cmd_eval_revisions(args: argparse.Namespace) -> int:
    """``lm-gym eval RUN_DIR --revisions``: every milestone of a run, plotted against words."""
    from lm_gym.babylm.revisions import FIGURE_FILE, RESULTS_FILE, evaluate_revisions

    if (args.zero_shot is None) != (args.verbalizers is None):
        raise ValueError("--zero-shot and --verbalizers go together: give both or neither")
    out = Path(args.out) if args.out else Path(args.model) / "revisions_eval"
    report = evaluate_revisions(
        args.model,
        out,
        languages=tuple(args.lang),
        pairs=args.pairs,
        text=args.text,
        zero_shot=None if args.zero_shot is None else (args.zero_shot, args.verbalizers),
        n_heldout=args.n_heldout,
        n_pairs=args.n_pairs,
        n_sentence_types=args.n_sentence_types,
        n_samples=args.n_samples,
        seed=args.seed,
        device=args.device,
    )
    for row in report["revisions"]:
        scores = ", ".join(
            f"{lang} pairs {row['results'][lang]['minimal_pairs']:.3f} "
            f"ppl/word {row['results'][lang]['perplexity_per_word']:.4g}"
            for lang in args.lang
        )
        print(f"{row['revision']:>12} {row['words_exposed']:>12,} words: {scores}")
    print(f"results in {out / RESULTS_FILE}, curves in {out / FIGURE_FILE}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    """``lm-gym export RUN_DIR OUT --babylm``: the run's revisions as a git repository."""
    from lm_gym.babylm.export import export_babylm, export_summary

    if not args.babylm:
        raise ValueError("choose the export format: --babylm (the only one so far)")
    summary = export_summary(export_babylm(args.run_dir, args.out))
    for branch, words in summary["branches"].items():
        print(f"{branch:>12} {words:>12,} words exposed")
    print(f"git repository written to {args.out} (push it with: git push --all <remote>)")
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    from lm_gym.baselines.ablation import bambino_ablation_track
    from lm_gym.baselines.driver import run_track

    track = bambino_ablation_track(
        epochs=args.epochs,
        num_envs=args.num_envs,
        env_kwargs=json.loads(args.env_kwargs),
        eval_kwargs=json.loads(args.eval_kwargs),
        seeds=args.seeds,
    ).select(agents=args.arms)
    outcome = run_track(track, args.out, workers=args.workers)
    print(outcome.leaderboard.read_text())
    for name, error in outcome.failed.items():
        print(f"lm-gym ablation: run {name} failed: {error}", file=sys.stderr)
    return 1 if outcome.failed else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lm_gym.demo import run_demo

    run_demo(samples=args.samples, seed=args.seed)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from lm_gym.agents.run import train_agent

    train_agent(
        args.env_id,
        args.agent,
        args.timesteps,
        seed=args.seed,
        device=args.device,
        out_dir=args.out,
        env_kwargs=json.loads(args.env_kwargs),
        agent_kwargs=json.loads(args.agent_kwargs),
        resume=args.resume,
        overwrite=args.overwrite,
        checkpoint_every=args.checkpoint_every,
        budget=_budget_option(args.budget),
        milestones=args.milestones,
    )
    return 0


def _budget_option(text: str | None) -> object:
    """``--budget``: a preset (``strict-small/1000``) or a JSON object of explicit limits."""
    if text is not None and text.lstrip().startswith("{"):
        return json.loads(text)
    return text


def _cmd_train_reward_model(args: argparse.Namespace) -> int:
    from lm_gym.rewards.training import train_reward_model_cli

    report = train_reward_model_cli(
        args.data, args.out, base=args.base, steps=args.steps, seed=args.seed
    )
    print(json.dumps(report, indent=2))
    return 0


def _cmd_audit_reward(args: argparse.Namespace) -> int:
    from lm_gym.rewards.audit import audit_registered
    from lm_gym.utils.files import atomic_write_text

    if args.json and Path(args.json).exists():
        raise ValueError(f"--json {args.json} exists: give a new path (never overwritten)")
    report = audit_registered(
        args.env_id,
        episodes=args.episodes,
        seed=args.seed,
        env_kwargs=json.loads(args.env_kwargs),
    )
    print(report.table())
    if args.json:
        atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"audit written to {args.json}")
    return 0 if report.passed else 1


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from lm_gym.baselines import get_track, run_track

    track = get_track(args.track).select(agents=args.agents, envs=args.envs, num_seeds=args.seeds)
    out = args.out or f"runs/leaderboard-{args.track}"
    outcome = run_track(track, out, workers=args.workers, ray_address=args.ray)
    print()
    print(outcome.leaderboard.read_text())
    print(f"results, logs and curves in {out}")
    for name, error in outcome.failed.items():
        print(f"lm-gym leaderboard: run {name} failed: {error}", file=sys.stderr)
    return 1 if outcome.failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lm-gym`` (exposed for tests and docs)."""
    from lm_gym.agents.callbacks import DEFAULT_CHECKPOINT_EVERY

    parser = argparse.ArgumentParser(prog="lm-gym", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser("prepare", help="build the offline default models now")
    prepare.add_argument("recipes", nargs="*", help="recipe names (default: all non-micro)")
    prepare.set_defaults(func=_cmd_prepare)

    listing = commands.add_parser("list", help="registered environments, agents and recipes")
    listing.set_defaults(func=_cmd_list)

    corpus = commands.add_parser("corpus", help="print samples of a built-in corpus")
    corpus.add_argument("name", choices=CORPUS_NAMES)
    corpus.add_argument("-n", type=int, default=10, help="number of lines")
    corpus.add_argument("--seed", type=int, default=0)
    corpus.set_defaults(func=_cmd_corpus)

    evaluate = commands.add_parser(
        "eval", help="perplexity, minimal pairs, zero-shot tasks, diversity of samples"
    )
    evaluate.add_argument(
        "model",
        help="recipe name, local folder or Hugging Face id (with --revisions: a run folder)",
    )
    evaluate.add_argument(
        "--revisions",
        action="store_true",
        help="evaluate every milestone revision of the run folder MODEL and plot the measures "
        "against words exposed (revisions.json and revisions.png in --out)",
    )
    evaluate.add_argument(
        "--out", help="with --revisions: output folder (default MODEL/revisions_eval)"
    )
    evaluate.add_argument("--lang", nargs="+", default=["en", "it"], choices=["en", "it"])
    evaluate.add_argument("--pairs", help="a BLiMP-format JSONL file of minimal pairs")
    evaluate.add_argument("--text", help="a text file, folder or JSONL for perplexity")
    evaluate.add_argument("--n-heldout", type=int, default=500, help="held-out utterances")
    evaluate.add_argument("--n-pairs", type=int, default=200, help="pairs per phenomenon")
    evaluate.add_argument(
        "--n-sentence-types", type=int, default=100, help="zero-shot items per sentence type"
    )
    evaluate.add_argument(
        "--n-samples", type=int, default=200, help="sampled continuations for distinct-n"
    )
    evaluate.add_argument("--zero-shot", help='a JSONL file of {"text": ..., "label": ...}')
    evaluate.add_argument(
        "--verbalizers", help='a JSON file {label: text} or {"template": ..., "verbalizers": ...}'
    )
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the sampled continuations")
    evaluate.add_argument("--device", default=None)
    evaluate.set_defaults(func=_cmd_eval)

    ablation = commands.add_parser(
        "ablation",
        help="the BAMBINO-LM ablation on Bambino-v0 (= leaderboard --track bambino-ablation)",
    )
    ablation.add_argument("--seeds", type=int, default=5, help="run seeds 0..N-1")
    ablation.add_argument("--epochs", type=int, default=4, help="passes over the L2 corpus")
    ablation.add_argument("--num-envs", type=int, default=32, help="episodes / utterances a batch")
    ablation.add_argument("--out", default="runs/bambino_ablation", help="output folder")
    ablation.add_argument(
        "--arms",
        nargs="+",
        help="which arms to run (default: all six: baseline full wo_ppo wo_alternating "
        "rl_only clm_matched)",
    )
    ablation.add_argument("--env-kwargs", default="{}", help="JSON object for Bambino-v0")
    ablation.add_argument("--eval-kwargs", default="{}", help="JSON object for evaluate_lm")
    ablation.add_argument("--workers", type=int, default=1, help="local worker processes")
    ablation.set_defaults(func=_cmd_ablation)

    demo = commands.add_parser("demo", help="build the defaults, generate and score")
    demo.add_argument("--samples", type=int, default=8)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)

    run = commands.add_parser("run", help="train an agent on an environment")
    run.add_argument("env_id")
    run.add_argument("--agent", required=True)
    run.add_argument("--timesteps", type=int, required=True)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default=None)
    run.add_argument("--out", default="runs", help="folder for logs and the saved agent")
    run.add_argument("--env-kwargs", default="{}", help="JSON object of env keyword arguments")
    run.add_argument("--agent-kwargs", default="{}", help="JSON object of agent config")
    existing = run.add_mutually_exclusive_group()
    existing.add_argument(
        "--resume",
        action="store_true",
        help="continue the existing run folder from its last checkpoint (same settings)",
    )
    existing.add_argument(
        "--overwrite", action="store_true", help="delete the existing run folder and start again"
    )
    run.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULT_CHECKPOINT_EVERY,
        metavar="N",
        help=f"save checkpoint.pt every N timesteps (default {DEFAULT_CHECKPOINT_EVERY}; 0: never)",
    )
    run.add_argument(
        "--budget",
        help="BabyLM word budget: strict, strict-small, either divided (strict-small/1000), or "
        'JSON such as \'{"exposed": "100k", "generated": "1M", "epochs": 10}\'',
    )
    run.add_argument(
        "--milestones",
        help="save the student at these words exposed under RUN/revisions: official, a "
        "divided schedule (official/1000) or words (10k,20k,30k)",
    )
    run.set_defaults(func=_cmd_run)

    export = commands.add_parser(
        "export", help="write a run's milestone revisions as a git repository (BabyLM layout)"
    )
    export.add_argument("run_dir", help="a run folder trained with --milestones")
    export.add_argument("out", help="the repository to create (must not exist)")
    export.add_argument(
        "--babylm",
        action="store_true",
        help="one branch per milestone (chck_1M, ...) and main = the final model",
    )
    export.set_defaults(func=_cmd_export)

    reward = commands.add_parser(
        "train-reward-model", help="train a reward model on a JSONL file of preferences"
    )
    reward.add_argument("--data", required=True, help="JSONL of pairs and/or BWS tuples")
    reward.add_argument("--out", required=True, help="folder to save the model into")
    reward.add_argument("--base", help="recipe name, folder or id to start from (default: new)")
    reward.add_argument("--steps", type=int, help="optimiser steps (default: 600)")
    reward.add_argument("--seed", type=int, default=0)
    reward.set_defaults(func=_cmd_train_reward_model)

    audit = commands.add_parser(
        "audit-reward",
        help="does a text env's reward prefer real text to degenerate policies?",
        description=(
            "Play the true continuations of held-out prompts against degenerate policies "
            "(empty, punctuation, one fixed sentence, the prompt copied, repetition, shuffled "
            "words, ...) through the env's own API; print each policy's mean reward and the "
            "reference's win rate. Exit code 1 when the reward fails the audit."
        ),
    )
    audit.add_argument("env_id", help="a registered text env, e.g. Bambino-v0")
    audit.add_argument("--episodes", type=int, default=200, help="prompts audited (default 200)")
    audit.add_argument("--seed", type=int, default=0, help="first reset seed (default 0)")
    audit.add_argument("--json", help="also write the full report (per-prompt rewards) here")
    audit.add_argument("--env-kwargs", default="{}", help="JSON object of env keyword arguments")
    audit.set_defaults(func=_cmd_audit_reward)

    board = commands.add_parser("leaderboard", help="run a leaderboard track, print its table")
    board.add_argument(
        "--track",
        default="quick",
        help="quick, standard, cpu, or an experiment: bambino-ablation, ppo-bambino, teachers, "
        "babystories-ppo",
    )
    board.add_argument("--agents", nargs="+", help="agent names (default: the track's)")
    board.add_argument("--envs", nargs="+", help="env ids (default: the track's)")
    board.add_argument("--seeds", type=int, help="run seeds 0..N-1 (default: the track's)")
    board.add_argument("--out", help="output folder (default: runs/leaderboard-<track>)")
    board.add_argument("--workers", type=int, default=1, help="local worker processes")
    board.add_argument("--ray", metavar="ADDRESS", help="run on the Ray cluster at ADDRESS")
    board.set_defaults(func=_cmd_leaderboard)
    return parser


def _setting_of(path: str | None, args: argparse.Namespace) -> str:
    """`` (check <setting>)`` for a file under the cache or the ``--out`` folder, else ``""``."""
    if not path:
        return ""
    from lm_gym.utils.cache import CACHE_VARIABLE, cache_root

    target = Path(path).absolute()
    places = [(cache_root(), CACHE_VARIABLE)]
    if getattr(args, "out", None):
        places.append((Path(args.out), "--out"))
    for folder, setting in places:
        if target.is_relative_to(folder.absolute()):
            return f" (check {setting})"
    return ""


def user_error_message(error: BaseException, args: argparse.Namespace) -> str | None:
    """The one-line message for an error the user caused, or ``None`` for a bug.

    User errors are lm_gym's own (all ``ValueError`` subclasses: ``CorpusError``,
    ``ModelLoadError``, ``LocationError`` ...), unknown names (a ``KeyError`` that carries a
    sentence; a bare ``KeyError('metrics')`` is a bug), a missing file, and a file or folder
    the system refuses (an ``OSError`` naming it: permission denied, not a folder ...).
    """
    if isinstance(error, KeyError):
        message = error.args[0] if len(error.args) == 1 else None
        if not isinstance(message, str) or " " not in message:
            return None
    elif isinstance(error, ValueError | FileNotFoundError):
        message = str(error)
    elif isinstance(error, OSError) and error.filename is not None:
        reason = error.strerror or type(error).__name__
        message = f"{reason}: {error.filename}{_setting_of(str(error.filename), args)}"
    else:
        return None
    return " ".join(message.split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lm-gym`` console script.

    An error the user caused (see :func:`user_error_message`) is printed as one line,
    ``lm-gym <command>: error: ...``, with exit code 2; ``--debug`` prints its traceback too.
    Anything else is a bug and ends with its traceback.
    """
    args = build_parser().parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-file "Loading weights" bars drown lm_gym's output
    try:
        return args.func(args)
    except Exception as error:
        message = user_error_message(error, args)
        if message is None:
            raise
        if args.debug:
            traceback.print_exc()
        print(f"lm-gym {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
