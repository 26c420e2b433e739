"""A small metrics logger writing to stdout, CSV and TensorBoard, with SB3/CleanRL names.

Agents ``record`` scalar metrics during an iteration and ``dump`` them once per iteration with
the timestep as the x axis. Names follow Stable-Baselines3 and CleanRL (``rollout/ep_rew_mean``,
``losses/policy_loss``, ``losses/value_loss``, ``losses/approx_kl``, ``losses/entropy``,
``charts/kl``, ``charts/kl_coef``), so existing dashboards read our runs unchanged. Every dumped
row is also kept in :attr:`Logger.history` for plots and tests.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from lm_gym.utils.files import atomic_write_text

FORMATS = ("stdout", "csv", "tensorboard")


def tensorboard_available() -> bool:
    """True when the ``tensorboard`` package (needed by ``torch.utils.tensorboard``) exists."""
    return importlib.util.find_spec("tensorboard") is not None


class Logger:
    """Collects scalars per iteration and writes them to the configured outputs.

    Args:
        folder: where ``progress.csv`` and the TensorBoard event files go; ``None`` allows
            only ``stdout``.
        formats: any of ``"stdout"``, ``"csv"``, ``"tensorboard"``. TensorBoard is skipped
            (with a note on stderr) when the package is not installed.
        stream: where the stdout table is printed.
        resume: append to an existing ``progress.csv`` (a resumed run) instead of starting a
            new one.
        resume_step: with ``resume``, the timestep the run resumes from (its checkpoint's):
            rows a killed run logged after it are dropped from ``progress.csv`` and hidden in
            TensorBoard (``purge_step``), so the resumed run's rows follow without duplicates.
    """

    def __init__(
        self,
        folder: str | Path | None = None,
        formats: Sequence[str] = ("stdout",),
        stream: TextIO | None = None,
        resume: bool = False,
        resume_step: int | None = None,
    ) -> None:
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown logger formats {unknown}; choose from {list(FORMATS)}")
        if folder is None and set(formats) - {"stdout"}:
            raise ValueError("the csv and tensorboard formats need a folder to write to")
        self.folder = Path(folder) if folder is not None else None
        self.formats = tuple(formats)
        self.stream = stream if stream is not None else sys.stdout
        self.history: list[dict[str, float]] = []
        self._values: dict[str, float] = {}
        self._csv_keys: list[str] = []
        self._writer = None
        self._printed = False
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        if resume and self.csv_path is not None and self.csv_path.is_file():
            self._read_existing_csv(resume_step)
        if "tensorboard" in self.formats:
            if tensorboard_available():
                from torch.utils.tensorboard import SummaryWriter

                purge = resume_step + 1 if resume and resume_step is not None else None
                self._writer = SummaryWriter(
                    log_dir=str(self.folder / "tensorboard"), purge_step=purge
                )
            else:
                print("lm_gym logger: tensorboard is not installed, skipping it", file=sys.stderr)

    @property
    def csv_path(self) -> Path | None:
        """The CSV file, when the ``csv`` format is on."""
        return self.folder / "progress.csv" if "csv" in self.formats and self.folder else None

    def record(self, key: str, value: Any) -> None:
        """Set metric ``key`` for the current iteration (later calls overwrite earlier ones)."""
        self._values[key] = float(value)

    def dump(self, step: int, *, stdout: bool = True) -> dict[str, float]:
        """Write the recorded metrics at timestep ``step``, then start a new row.

        Args:
            step: the row's x axis.
            stdout: print the row's table too (when the ``stdout`` format is on); the agents'
                ``log_interval`` prints only every n-th row, while the CSV, TensorBoard and
                :attr:`history` get every row.

        Returns:
            The row written (also appended to :attr:`history`).
        """
        row = {"time/total_timesteps": float(step), **self._values}
        self._values = {}
        self.history.append(row)
        self._printed = False
        if stdout:
            self.print_last()
        if self.csv_path is not None:
            self._write_csv(row)
        if self._writer is not None:
            for key, value in row.items():
                if key != "time/total_timesteps" and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()
        return row

    def print_last(self) -> None:
        """Print the table of the latest row (once) when the ``stdout`` format is on."""
        if "stdout" in self.formats and self.history and not self._printed:
            self._write_stdout(self.history[-1])
            self._printed = True

    def _read_existing_csv(self, resume_step: int | None) -> None:
        """A resumed run appends to the CSV of the run it continues (cut after
        ``resume_step``, rewritten atomically when rows are dropped)."""
        with self.csv_path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            self._csv_keys = list(reader.fieldnames or [])
            rows = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in reader]
        self.history = [
            row
            for row in rows
            if resume_step is None or row.get("time/total_timesteps", 0.0) <= resume_step
        ]
        if len(self.history) < len(rows):
            text = io.StringIO(newline="")
            writer = csv.DictWriter(text, fieldnames=self._csv_keys)
            writer.writeheader()
            writer.writerows(self.history)
            atomic_write_text(self.csv_path, text.getvalue())

    def _write_stdout(self, row: dict[str, float]) -> None:
        width = max(len(k) for k in row)
        lines = [f"| {key:<{width}} | {value:>12.6g} |" for key, value in sorted(row.items())]
        rule = "-" * len(lines[0])
        print("\n".join([rule, *lines, rule]), file=self.stream)

    def _write_csv(self, row: dict[str, float]) -> None:
        path = self.csv_path
        new_keys = [k for k in row if k not in self._csv_keys]
        if new_keys:
            # A metric appeared for the first time: rewrite the file with the wider header.
            self._csv_keys.extend(new_keys)
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self._csv_keys)
                writer.writeheader()
                writer.writerows(self.history[:-1])
        with path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self._csv_keys).writerow(row)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
