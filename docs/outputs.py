"""Where the docs scripts write: a scratch folder by default, the committed ``docs/`` files only
when asked with ``--update-docs``, so trying a script never overwrites the figures and numbers
the README quotes."""

from __future__ import annotations

import argparse
from pathlib import Path

DOCS = Path(__file__).resolve().parent
"""The committed figures and numbers."""

SCRATCH = Path("runs") / "docs"
"""Default output folder (relative to the working directory)."""


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--out-dir`` and ``--update-docs`` to a docs script's parser."""
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=SCRATCH,
        help=f"folder for the figures and JSON (default: {SCRATCH}; ignored with --update-docs)",
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"write into {DOCS.name}/ itself, replacing the committed files the README quotes",
    )


def output_dir(args: argparse.Namespace) -> Path:
    """The folder this run writes to (created if missing)."""
    folder = DOCS if args.update_docs else Path(args.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
