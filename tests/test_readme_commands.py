"""Issue 19 item 3, for the shell: every ``lm-gym`` command in a ```bash block of README.md
names a subcommand and options the parser has (the typed ``--agent.<field>`` /
``--env.<field>`` options are checked by the CLI tests, as they depend on the agent and env)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from lm_gym.cli_parser import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
BASH_BLOCK = re.compile(r"^```bash[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
TYPED_PREFIXES = ("--agent.", "--env.")
SEPARATORS = {";", "&&", "||", "|"}


def readme_commands() -> list[list[str]]:
    """The words of every ``lm-gym ...`` command line of the README's bash blocks (lines
    continued with ``\\`` joined, comments dropped)."""
    commands = []
    for block in BASH_BLOCK.finditer(README.read_text(encoding="utf-8")):
        for line in block.group(1).replace("\\\n", " ").splitlines():
            command: list[str] = []
            for word in shlex.split(line, comments=True) + [";"]:
                ends = word in SEPARATORS or word.endswith(";")
                word = word.rstrip(";")
                if word and word not in SEPARATORS:
                    command.append(word)
                if ends:
                    if command[:1] == ["lm-gym"]:
                        commands.append(command[1:])
                    command = []
    return commands


def subcommand_options() -> dict[str, set[str]]:
    """Subcommand -> its option strings."""
    parser = build_parser([])
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(sub._option_string_actions) for name, sub in subparsers.choices.items()}


def test_every_readme_lm_gym_command_uses_existing_subcommands_and_options():
    commands = readme_commands()
    assert len(commands) >= 5, "few lm-gym commands found: did the fence style change?"
    known = subcommand_options()
    top_level = {"--help", "-h", "--version", "--debug"}
    wrong = []
    for words in commands:
        if not words or words[0] in top_level:
            continue
        name, options = words[0], known.get(words[0])
        if options is None:
            wrong.append(f"lm-gym {name}: no such subcommand")
            continue
        for word in words[1:]:
            option = word.split("=", 1)[0]
            typed = option.startswith(TYPED_PREFIXES)
            if option.startswith("--") and not typed and option not in options:
                wrong.append(f"lm-gym {name}: no option {option}")
    assert not wrong, "\n".join(wrong)
