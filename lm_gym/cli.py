"""The ``lm-gym`` command line: prepare models, list what is registered, inspect corpora,
evaluate models, train agents, run leaderboard tracks (``make run``: the quick track) and the
offline demo."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from lm_gym.cli_parser import build_parser
from lm_gym.utils.locks import LockTimeout
from lm_gym.utils.validation import check_positive_int


def _cmd_prepare(args: argparse.Namespace) -> int:
    from lm_gym.prepare import prepare

    report = prepare(args.recipes or None, jobs=args.jobs, log=print)
    for name, folder in report.folders.items():
        print(f"{name}: {folder}")
    return 0


def _print_section(title: str, lines: list[str]) -> None:
    print(f"{title}:")
    for line in lines or ["(none)"]:
        print(f"  {line}")


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{name:<{width}}  {text}".rstrip() for name, text in rows]


def _cmd_list(args: argparse.Namespace) -> int:
    from lm_gym.agents.registry import get_agent_spec, list_agents
    from lm_gym.baselines.tracks import lm_gym_env_ids
    from lm_gym.models.recipes import RECIPES
    from lm_gym.registration import ACTION_KINDS, env_metadata

    envs = lm_gym_env_ids()
    kinds = {env_id: env_metadata(env_id).get("actions") for env_id in envs}
    _print_section("environments", _aligned([(e, ACTION_KINDS.get(kinds[e], "")) for e in envs]))
    rows = []
    for name in list_agents():
        try:
            declared = getattr(get_agent_spec(name).load(), "action_kinds", None)
        except ImportError as error:
            rows.append((name, f"cannot be imported: {error}"))
            continue
        if not declared:
            rows.append((name, "acts in: not declared (its factory decides when it is built)"))
            continue
        acts_in = [e for e in envs if kinds[e] in declared]
        rows.append((name, f"acts in: {', '.join(acts_in) or 'none of these'}"))
    _print_section("agents", _aligned(rows))
    _print_section("model recipes", _aligned([(r.name, r.description) for r in RECIPES.values()]))
    return 0


def corpus_sample(name: str, n: int, seed: int) -> list[str]:
    """``n`` lines of a built-in corpus, as ``lm-gym corpus`` prints them.

    Minimal pairs come one per phenomenon in turn (the first ``n`` of a round-robin over as
    many pairs per phenomenon as needed), so no pair repeats; the artificial-language tasks
    draw a pool of ``n`` sentences (at least the paper's 100).

    Raises:
        ValueError: ``n`` is not a positive integer, or a task has fewer distinct sentences.
    """
    from lm_gym.corpora import artificial, minimal_pairs, parentese

    check_positive_int("-n", n)
    if name in ("parentese-en", "parentese-it"):
        return parentese.generate_parentese(name[-2:], n, seed=seed)
    if name == "parentese-parallel":
        return [f"{en}\t{it}" for en, it in parentese.generate_parallel(n, seed=seed)]
    if name.startswith("minimal-pairs-"):
        lang = name[-2:]
        per_phenomenon = -(-n // len(minimal_pairs.PHENOMENA[lang]))
        pairs = minimal_pairs.generate_minimal_pairs(lang, per_phenomenon, seed=seed)
        pairs.sort(key=lambda pair: pair["pair_id"])  # stable: phenomena in turn
        return [json.dumps(p, ensure_ascii=False) for p in pairs[:n]]
    task = artificial.domains_task if name == "domains" else artificial.structures_task
    try:
        built = task(pool_size=max(n, 100), seed=seed)
    except ValueError as error:
        raise ValueError(f"{name} cannot give -n {n} distinct sentences: {error}") from error
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
    print(f"lm-gym eval: loading {args.model}", file=sys.stderr)
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
        progress=True,
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
        env_kwargs=args.env_kwargs,
        eval_kwargs=args.eval_kwargs,
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


def _without_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` (torchrun would take it for its own
    ``--nproc-per-node`` and stop, ambiguous; its ranks learn their number from it).

    Raises:
        ValueError: for an abbreviated ``--nproc``, which cannot be told from torchrun's.
    """
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--nproc":
            skip = True
        elif not token.startswith("--nproc="):
            kept.append(token)
    if any(token.startswith("--np") for token in kept):
        raise ValueError("spell --nproc in full: torchrun takes an abbreviation for its own")
    return kept


def _cmd_run(args: argparse.Namespace) -> int:
    from lm_gym.agents.run import train_agent
    from lm_gym.cli_options import merge, typed_values
    from lm_gym.utils import distributed

    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
    launched = distributed.launched_world_size()
    if args.nproc > 1 and launched == 1:  # start the ranks, which run this command
        return distributed.launch(args.nproc, "lm_gym.cli", _without_nproc(args.argv))
    if args.nproc > 1 and launched != args.nproc:
        raise ValueError(f"--nproc {args.nproc} but torchrun started {launched} processes")
    env_kwargs = merge(args.env_kwargs, typed_values(args, "env"), "--env-kwargs")
    agent_kwargs = merge(args.agent_kwargs, typed_values(args, "agent"), "--agent-kwargs")

    train_agent(
        args.env_id,
        args.agent,
        args.timesteps,
        seed=args.seed,
        device=args.device,
        out_dir=args.out,
        env_kwargs=env_kwargs,
        agent_kwargs=agent_kwargs,
        resume=args.resume,
        overwrite=args.overwrite,
        checkpoint_every=args.checkpoint_every,
        log_interval=args.log_interval,
        budget=args.budget,
        milestones=args.milestones,
    )
    distributed.shutdown_distributed()  # after an error the ranks exit without meeting
    return 0


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
        env_kwargs=args.env_kwargs,
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "prepare": _cmd_prepare,
    "list": _cmd_list,
    "corpus": _cmd_corpus,
    "eval": _cmd_eval,
    "ablation": _cmd_ablation,
    "demo": _cmd_demo,
    "run": _cmd_run,
    "export": _cmd_export,
    "train-reward-model": _cmd_train_reward_model,
    "audit-reward": _cmd_audit_reward,
    "leaderboard": _cmd_leaderboard,
}
"""Subcommand -> the function that runs it (the parser is :mod:`lm_gym.cli_parser`)."""


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
    ``ModelLoadError``, ``LocationError`` ...), a folder another process holds locked
    (``LockTimeout``), unknown names (a ``KeyError`` that carries a
    sentence; a bare ``KeyError('metrics')`` is a bug), a missing file, and a file or folder
    the system refuses (an ``OSError`` naming it: permission denied, not a folder ...).
    """
    if isinstance(error, LockTimeout):
        message = str(error)
    elif isinstance(error, KeyError):
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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    args.argv = argv  # what --nproc relaunches
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-file "Loading weights" bars drown lm_gym's output
    try:
        return COMMANDS[args.command](args)
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
