"""Recorded results: small tables the package ships, measured by a benchmark, with how they were made.

Some results take longer to compute than a notebook's default budget allows (one model per face region
trained for 30 epochs takes about 23 CPU-minutes); training a few epochs instead gives numbers that
contradict the story they illustrate. Such results are recorded once by the benchmark that measures
them (its ``--record`` flag writes ``<name>.csv`` plus ``<name>.json`` into ``fer_explain/results/``)
and the notebooks load them by default, retraining at full scale with ``FER_EXPLAIN_FULL=1``.

The JSON beside each table says what data, model and training produced it, the command that remakes
it and the machine it was measured on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["RESULTS_DIR", "RecordedResult", "list_recorded", "recorded_result", "write_recorded"]

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
"""Where recorded tables live (inside the package, so an installed copy has them)."""


@dataclass(frozen=True)
class RecordedResult:
    """A recorded table and its provenance (``command``, ``data``, ``model``, ``measured``, ...)."""

    name: str
    table: pd.DataFrame
    info: dict[str, Any]

    @property
    def command(self) -> str:
        """The command that remakes the table."""
        return str(self.info.get("command", ""))

    def describe(self) -> str:
        """One paragraph: what the table is, how it was made and how to remake it."""
        keys = ("table", "data", "model", "training", "measured", "provenance")
        lines = [f"{k}: {self.info[k]}" for k in keys if k in self.info]
        return "\n".join([*lines, f"remake: {self.command}"])


def list_recorded() -> list[str]:
    """Names of the recorded tables."""
    return sorted(p.stem for p in RESULTS_DIR.glob("*.csv"))


def recorded_result(name: str) -> RecordedResult:
    """Load a recorded table (first column is the index) and its JSON provenance."""
    csv = RESULTS_DIR / f"{name}.csv"
    if not csv.is_file():
        raise KeyError(f"no recorded result {name!r}; recorded: {list_recorded()}")
    meta = RESULTS_DIR / f"{name}.json"
    info = json.loads(meta.read_text()) if meta.is_file() else {}
    return RecordedResult(name, pd.read_csv(csv, index_col=0), info)


def write_recorded(table: pd.DataFrame, name: str, info: dict[str, Any], folder: str | Path = RESULTS_DIR) -> Path:
    """Write ``<folder>/<name>.csv`` and ``<name>.json`` (what a benchmark's ``--record`` calls)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    table.to_csv(path)
    (folder / f"{name}.json").write_text(json.dumps(info, indent=1) + "\n")
    return path
