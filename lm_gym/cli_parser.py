"""The argument parser of ``lm-gym``: every subcommand with a description, every option with
its help and default (what ``lm-gym <command> --help`` shows)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from lm_gym.version import __version__

CORPUS_NAMES = (
    "parentese-en",
    "parentese-it",
    "parentese-parallel",
    "minimal-pairs-en",
    "minimal-pairs-it",
    "domains",
    "structures",
)
TRACK_NAMES = (
    "quick",
    "standard",
    "cpu",
    "bambino-ablation",
    "ppo-bambino",
    "teachers",
    "babystories-ppo",
    "babystories-ppo-fast-value",
)
"""The built-in tracks: the leaderboard's and the README experiments'
(``lm_gym.baselines.catalogue.TRACKS``; a test checks)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and ``(default: ...)`` after every option whose default says
    something (not ``None``, not a flag's ``False``, not already in its help; a default of 0
    is shown, although ``0 == False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        silent = default is None or default is False or default == argparse.SUPPRESS
        if "(default" not in text and not silent and action.option_strings:
            shown = " ".join(default) if isinstance(default, list) else default
            text += f" (default: {json.dumps(shown) if isinstance(shown, dict) else shown})"
        return text


def json_object(text: str) -> dict:
    """An option's JSON object (``--env-kwargs '{"tau": 70}'``); argparse names the option.

    Raises:
        argparse.ArgumentTypeError: saying where the JSON is broken, or that it is no object.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno} "
            f"(character {error.pos}) of {text!r}"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"must be a JSON object such as '{{\"key\": 1}}', got a JSON "
            f"{type(value).__name__}: {text!r}"
        )
    return value


def budget_option(text: str) -> str | dict:
    """``--budget``: a preset name as given (``strict-small/1000``; the run checks it) or, when
    it starts with ``{``, a JSON object of explicit limits.

    Raises:
        argparse.ArgumentTypeError: for malformed JSON (argparse names the option).
    """
    return json_object(text) if text.lstrip().startswith("{") else text


def _prepare_description() -> str:
    from lm_gym.models.recipes import RECIPES
    from lm_gym.prepare import default_recipes, estimate_seconds, nominal_builds

    width = max(len(name) for name in RECIPES)
    lines = [
        "Train the offline model recipes now, so the envs need not build them at first use.",
        "Independent recipes build in parallel (one process per core, one torch thread each);",
        "a reward model waits for its base. It prints its plan and an estimate, then one bar.",
        "",
        "recipes (build time on one thread, measured on a quiet 2-core machine):",
    ]
    for build in nominal_builds(RECIPES):
        took = (
            f"~{build.seconds / 60:.0f} min" if build.seconds >= 60 else f"~{build.seconds:.0f} s"
        )
        lines.append(f"  {build.name:<{width}}  {took:>7}  {RECIPES[build.name].description}")
    defaults = nominal_builds(default_recipes())
    lines += [
        "",
        f"All defaults: about {estimate_seconds(defaults, 2) / 60:.0f} min of wall time on 2 "
        f"cores ({sum(b.seconds for b in defaults) / 60:.0f} min one after the other); "
        "longer when",
        "other work shares the cores. Built models are cached under $LM_GYM_CACHE.",
    ]
    return "\n".join(lines)


def _add_prepare(commands) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="build the offline model recipes ahead of time (minutes; see --help)",
        description=_prepare_description(),
        formatter_class=HelpFormatter,
    )
    prepare.add_argument(
        "recipes", nargs="*", help="recipe names (default: every recipe but the -micro ones)"
    )
    prepare.add_argument(
        "--jobs", type=int, metavar="N", help="parallel builds (default: the cores available)"
    )


def _add_listing_and_corpus(commands) -> None:
    commands.add_parser(
        "list",
        help="registered environments, agents (and where they act) and recipes",
        description="List the registered environments with their kind of action, the agents "
        "with the kinds of env they act in (from their declared action kinds, without building "
        "any env), and the offline model recipes.",
        formatter_class=HelpFormatter,
    )
    corpus = commands.add_parser(
        "corpus",
        help="print lines of a built-in corpus",
        description="Print lines of a built-in, project-written corpus: parentese utterances, "
        "English-Italian pairs, BLiMP-style minimal pairs (JSON, spread over the phenomena), "
        "or pool sentences of the artificial-language tasks (label TAB sentence).",
        formatter_class=HelpFormatter,
    )
    corpus.add_argument("name", choices=CORPUS_NAMES, help="which corpus")
    corpus.add_argument("-n", type=int, default=10, help="number of lines")
    corpus.add_argument("--seed", type=int, default=0, help="generator seed")


def _add_eval(commands) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="perplexity, minimal pairs, zero-shot tasks, diversity of samples",
        description="Evaluate a model in English and Italian: held-out perplexity, minimal-pair "
        "accuracy per phenomenon, zero-shot sentence types and distinct-n of sampled "
        "continuations; optionally your own minimal pairs, text and zero-shot task. Prints JSON "
        "on stdout; progress goes to stderr. With --revisions, MODEL is a run folder trained "
        "with --milestones: every saved revision is evaluated and plotted against words exposed.",
        formatter_class=HelpFormatter,
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
        "--out", help="with --revisions: output folder (default: MODEL/revisions_eval)"
    )
    evaluate.add_argument(
        "--lang", nargs="+", default=["en", "it"], choices=["en", "it"], help="languages"
    )
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
    evaluate.add_argument("--device", help=DEVICE_HELP)


DEVICE_HELP = "auto, cpu, cuda, cuda:<index> or mps (default: CUDA when present, else the CPU)"


def _add_ablation_and_demo(commands) -> None:
    ablation = commands.add_parser(
        "ablation",
        help="the BAMBINO-LM ablation on Bambino-v0 (= leaderboard --track bambino-ablation)",
        description="Run the bambino-ablation track: train every arm of the BAMBINO-LM ablation "
        "from a fresh baby on each seed, evaluate it, and write one result JSON per run, "
        "LEADERBOARD.md and plots into --out. A killed ablation resumes where it stopped; a "
        "second one into the same --out waits for the first.",
        formatter_class=HelpFormatter,
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
    ablation.add_argument(
        "--env-kwargs", type=json_object, default={}, help="JSON object for Bambino-v0"
    )
    ablation.add_argument(
        "--eval-kwargs", type=json_object, default={}, help="JSON object for evaluate_lm"
    )
    ablation.add_argument("--workers", type=int, default=1, help="local worker processes")
    demo = commands.add_parser(
        "demo",
        help="build the defaults, generate and score",
        description="Build the default baby and parent (if needed), let the baby continue a few "
        "Italian prompts and show the parent's perplexity and reward for each.",
        formatter_class=HelpFormatter,
    )
    demo.add_argument("--samples", type=int, default=8, help="prompts to continue")
    demo.add_argument("--seed", type=int, default=0, help="seed of the prompts and sampling")


def _add_run(commands, argv: Sequence[str]) -> None:
    from lm_gym.agents.callbacks import DEFAULT_CHECKPOINT_EVERY

    run = commands.add_parser(
        "run",
        help="train an agent on an environment",
        description="Train a registered agent on an environment, with logs (stdout, "
        "progress.csv, TensorBoard), periodic checkpoints and the saved agent in the run folder "
        "<out>/<env>__<agent>__seed<seed>/. An existing run folder is refused unless --resume "
        "or --overwrite.\n\nAgent and env settings: --agent.<field> and --env.<field> typed "
        "options (listed when the env and agent are given: lm-gym run Bambino-v0 --agent ppo "
        "--help), or the JSON objects --agent-kwargs and --env-kwargs.",
        formatter_class=HelpFormatter,
    )
    run.add_argument("env_id", help="a registered env id (lm-gym list)")
    run.add_argument("--agent", required=True, help="a registered agent name (lm-gym list)")
    run.add_argument("--timesteps", type=int, required=True, help="training budget in env steps")
    run.add_argument("--seed", type=int, default=0, help="seeds the agent and the env")
    run.add_argument("--device", help=DEVICE_HELP)
    run.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="train on N processes of this machine, data parallel (launches torchrun; gloo on "
        "CPU, NCCL on CUDA; several machines: run torchrun yourself, see the README)",
    )
    run.add_argument(
        "--out",
        default="runs",
        help="parent folder of the run folder (the run writes <out>/<env>__<agent>__seed<seed>/)",
    )
    run.add_argument(
        "--env-kwargs", type=json_object, default={}, help="JSON object of env keyword arguments"
    )
    run.add_argument(
        "--agent-kwargs", type=json_object, default={}, help="JSON object of agent config"
    )
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
        help="save checkpoint.pt every N timesteps (0: never)",
    )
    run.add_argument(
        "--log-interval",
        type=int,
        metavar="N",
        help="print the metrics table every N iterations (default: the agent's, 10 for the "
        "built-in agents, 1 for sb3-ppo); progress.csv gets every iteration",
    )
    run.add_argument(
        "--budget",
        type=budget_option,
        metavar="BUDGET",
        help="BabyLM word budget, the run stops at it: strict, strict-small, either divided "
        '(strict-small/1000), or JSON such as \'{"exposed": "100k", "generated": "1M", '
        '"epochs": 10}\' (default: words counted, never refused)',
    )
    run.add_argument(
        "--milestones",
        metavar="SCHEDULE",
        help="save the student at these words exposed under <run folder>/revisions: official, "
        "a divided schedule (official/1000) or words (10k,20k,30k) (default: none)",
    )
    _add_typed_options(run, argv)


def _add_export(commands) -> None:
    export = commands.add_parser(
        "export",
        help="write a run's milestone revisions as a git repository (BabyLM layout)",
        description="Write the revisions a run saved with --milestones as a new git repository "
        "in the BabyLM layout: one branch per milestone (chck_1M, ...) and main = the final "
        "model, ready to push to a model hub.",
        formatter_class=HelpFormatter,
    )
    export.add_argument("run_dir", help="a run folder trained with --milestones")
    export.add_argument("out", help="the repository to create (must not exist)")
    export.add_argument(
        "--babylm",
        action="store_true",
        help="one branch per milestone (chck_1M, ...) and main = the final model (required: "
        "the only format so far)",
    )


def _add_typed_options(run: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Add the ``--agent.<field>`` / ``--env.<field>`` options of the env and agent named in
    ``argv`` (nothing when they are missing or unknown: the run reports those itself)."""
    from lm_gym.cli_options import add_typed_options, agent_fields, env_fields

    words = list(argv)
    if "run" not in words:
        return
    after = words[words.index("run") + 1 :]
    scan = argparse.ArgumentParser(add_help=False)
    scan.add_argument("env_id", nargs="?")
    scan.add_argument("--agent")
    known, _ = scan.parse_known_args([w for w in after if w not in ("-h", "--help")])
    for prefix, name, fields_of in (
        ("agent", known.agent, agent_fields),
        ("env", known.env_id, env_fields),
    ):
        if not name:
            continue
        try:
            source, fields = fields_of(name)
        except Exception:  # an unknown name: train_agent says so in one line
            continue
        add_typed_options(run, prefix, source, fields)


def _add_audit(commands) -> None:
    audit = commands.add_parser(
        "audit-reward",
        help="does a text env's reward prefer real text to degenerate policies?",
        description="Play the true continuations of held-out prompts against degenerate "
        "policies (empty, punctuation, one fixed sentence, the prompt copied, repetition, "
        "shuffled words, ...) through the env's own API; print each policy's mean reward and "
        "the reference's win rate. Exit code 1 when the reward fails the audit.",
        formatter_class=HelpFormatter,
    )
    audit.add_argument("env_id", help="a registered text env, e.g. Bambino-v0")
    audit.add_argument("--episodes", type=int, default=200, help="prompts audited")
    audit.add_argument("--seed", type=int, default=0, help="first reset seed")
    audit.add_argument(
        "--json", help="also write the full report (per-prompt rewards) here (a new file)"
    )
    audit.add_argument(
        "--env-kwargs", type=json_object, default={}, help="JSON object of env keyword arguments"
    )


def _add_reward_and_leaderboard(commands) -> None:
    reward = commands.add_parser(
        "train-reward-model",
        help="train a reward model on a JSONL file of preferences",
        description="Train a reward model (scalar head, Bradley-Terry loss) on preference pairs "
        "and/or Best-Worst-Scaling tuples, hold out a tenth to report pairwise accuracy, and "
        "save it with save_pretrained into --out.",
        formatter_class=HelpFormatter,
    )
    reward.add_argument("--data", required=True, help="JSONL of pairs and/or BWS tuples")
    reward.add_argument("--out", required=True, help="folder to save the model into")
    reward.add_argument(
        "--base", help="recipe name, folder or id to start from (default: a new small GPT-2)"
    )
    reward.add_argument("--steps", type=int, help="optimiser steps (default: 600)")
    reward.add_argument("--seed", type=int, default=0, help="seeds the split, weights, batches")

    board = commands.add_parser(
        "leaderboard",
        help="run a leaderboard track, print its table",
        description="Run every env x agent x seed of a track (skipping runs whose result file "
        "exists), then write LEADERBOARD.md and learning curves into --out and print the table. "
        "Agents that refuse an env are marked n/a, runs that fail **failed**.",
        formatter_class=HelpFormatter,
    )
    board.add_argument("--track", default="quick", choices=TRACK_NAMES, help="which track")
    board.add_argument("--agents", nargs="+", help="agent names (default: the track's)")
    board.add_argument("--envs", nargs="+", help="env ids (default: the track's)")
    board.add_argument("--seeds", type=int, help="run seeds 0..N-1 (default: the track's)")
    board.add_argument("--out", help="output folder (default: runs/leaderboard-<track>)")
    board.add_argument("--workers", type=int, default=1, help="local worker processes")
    board.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run as Ray tasks: 'auto' (the cluster this machine is in), 'local' (start a "
        "private one here) or a cluster address host:port (needs pip install 'lm_gym[ray]')",
    )


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser of ``lm-gym``; ``argv`` adds the typed options of ``run``."""
    parser = argparse.ArgumentParser(
        prog="lm-gym",
        description="Gymnasium environments for language acquisition with small LMs: prepare "
        "models, list what is registered, inspect corpora, evaluate models, train agents under "
        "BabyLM word budgets, export their milestones, audit rewards, run leaderboard tracks "
        "and the BAMBINO-LM ablation. An error you can fix is one line with exit code 2.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lm-gym {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_prepare(commands)
    _add_listing_and_corpus(commands)
    _add_eval(commands)
    _add_ablation_and_demo(commands)
    _add_run(commands, argv)
    _add_export(commands)
    _add_audit(commands)
    _add_reward_and_leaderboard(commands)
    return parser
