"""Known-answer leaderboard, part three: reading a finished table -- acceptance, recommendations, the record.

Its one job is to turn ``leaderboard.csv`` (written by :func:`fer_explain.analysis.known_answer.known_answer_leaderboard`)
into what a reader acts on:

* :func:`acceptance_checks`: the issue's acceptance criteria, one row per check;
* :func:`recommendations`: per model and variant, the explainer (and the layer it reads) with the highest
  pointing game, relevance mass breaking ties -- the README's per-model advice;
* :func:`record_leaderboard`: the finished table as the recorded result :data:`RECORD_NAME` (CSV + JSON
  provenance in ``fer_explain/results/``), which notebook 05 shows without rerunning hours of training.

Usage::

    from fer_explain.analysis.known_answer_report import acceptance_checks, recommendations
    from fer_explain.analysis.recorded import recorded_result
    table = recorded_result("known_answer_leaderboard").table
    recommendations(table)
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fer_explain.analysis.known_answer_scores import REFERENCES

__all__ = ["ACCEPTANCE_VARIANTS", "ACCURACY_MIN", "POINTING_MIN", "RECORD_NAME", "acceptance_checks",
           "recommendations", "record_leaderboard"]

RECORD_NAME = "known_answer_leaderboard"
"""The recorded result's name (``fer_explain/results/known_answer_leaderboard.csv``)."""

EXPLAINER_KINDS: tuple[str, ...] = ("explainer", "region")
"""Row kinds a recommendation may name (the reference maps are not explainers)."""

ACCURACY_MIN = 0.93
"""Every model's test accuracy on the mouth-only and upper-face variants must reach this."""

POINTING_MIN = 0.9
"""Occlusion and region masking must reach this pointing game on those variants."""

ACCEPTANCE_VARIANTS: tuple[str, ...] = ("mouth_only", "upper_face")


def acceptance_checks(table: pd.DataFrame, accuracy_min: float = ACCURACY_MIN,
                      pointing_min: float = POINTING_MIN) -> pd.DataFrame:
    """The issue's acceptance criteria on a leaderboard, one row per check: ``check``, ``model``,
    ``variant``, ``value``, ``required`` (text) and ``passed``.

    * test accuracy >= ``accuracy_min`` for every model on mouth-only and upper-face;
    * pointing game >= ``pointing_min`` for every occlusion row and region masking there;
    * the random map's pointing game inside the binomial 95 % interval around the explained faces' mean
      mask share (:func:`~fer_explain.explain.metrics.binomial_interval`), every model and variant;
    * the ideal map's pointing game, relevance mass and rank accuracy equal 1.0, every model and variant.
    """
    from fer_explain.explain.metrics import binomial_interval

    rows: list[dict[str, Any]] = []

    def add(check: str, r: pd.Series, value: float, required: str, passed: bool) -> None:
        rows.append({"check": check, "model": r["model"], "variant": r["variant"], "value": float(value),
                     "required": required, "passed": bool(passed)})

    key = table[["model", "variant"]].drop_duplicates()
    for _, mv in key.iterrows():
        sub = table[(table["model"] == mv["model"]) & (table["variant"] == mv["variant"])].set_index("method")
        first = sub.iloc[0].copy()
        first["model"], first["variant"] = mv["model"], mv["variant"]
        if mv["variant"] in ACCEPTANCE_VARIANTS:
            acc = float(first["model_accuracy"])
            add("test accuracy", first, acc, f">= {accuracy_min:g}", acc >= accuracy_min)
            for method in [m for m in sub.index if str(m).startswith("occlusion_w")] + ["region_masking"]:
                if method in sub.index:
                    pg = float(sub.loc[method, "pointing_game"])
                    add(f"{method} pointing game", first, pg, f">= {pointing_min:g}", pg >= pointing_min)
        if "random" in sub.index:
            r = sub.loc["random"]
            lo, hi = binomial_interval(float(r["mask_share"]), int(r["n"]))
            pg = float(r["pointing_game"])
            add("random pointing game", first, pg, f"in [{lo:.3f}, {hi:.3f}] (mask share {float(r['mask_share']):.3f})",
                lo <= pg <= hi)
        if "ideal" in sub.index:
            ideal = sub.loc["ideal", ["pointing_game", "relevance_mass", "rank_accuracy"]].astype(float)
            add("ideal map scores 1.0", first, float(ideal.min()), "pointing, mass and rank == 1", bool((ideal == 1).all()))
    return pd.DataFrame(rows, columns=["check", "model", "variant", "value", "required", "passed"])


def recommendations(table: pd.DataFrame, metric: str = "pointing_game",
                    tiebreak: str = "relevance_mass") -> pd.DataFrame:
    """Per model and variant, the explainer row with the highest ``metric`` (``tiebreak`` decides equal ones).

    Reference rows (random, Gaussian, ideal) are never named: only rows whose ``kind`` is an explainer or
    region masking (every row when the table has no ``kind`` column and no reference names).

    Returns:
        one row per (model, variant), in the table's order: ``model``, ``variant``, ``method``, ``layer``
        (empty for input-level methods), ``metric`` and its value, its ``_lo``/``_hi`` interval when the
        table has one, and the ``tiebreak`` value.

    Raises:
        KeyError: ``metric`` or ``tiebreak`` is not a column of ``table``.
    """
    for col in (metric, tiebreak):
        if col not in table.columns:
            raise KeyError(f"leaderboard table has no column {col!r}; columns: {list(table.columns)}")
    if "kind" in table.columns:
        rows = table[table["kind"].isin(EXPLAINER_KINDS)]
    else:
        rows = table[~table["method"].isin(REFERENCES)]
    out = []
    for (model, variant), sub in rows.groupby(["model", "variant"], sort=False):
        best = sub.sort_values([metric, tiebreak], ascending=False, kind="stable").iloc[0]
        rec: dict[str, Any] = {"model": model, "variant": variant, "method": best["method"],
                               "layer": "" if pd.isna(best.get("layer", None)) else str(best.get("layer", "")),
                               metric: float(best[metric])}
        for end in ("lo", "hi"):
            if f"{metric}_{end}" in best.index:
                rec[f"{metric}_{end}"] = float(best[f"{metric}_{end}"])
        rec[tiebreak] = float(best[tiebreak])
        out.append(rec)
    return pd.DataFrame(out)


def record_leaderboard(out_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], settings: Any,
                       command: str, folder: str | os.PathLike[str] | None = None, measured: str | None = None,
                       name: str = RECORD_NAME) -> Path:
    """Write a finished run's ``leaderboard.csv`` as the recorded result ``name`` (default :data:`RECORD_NAME`).

    Args:
        out_dir: the run's folder (``leaderboard.csv`` and ``models.json``), or several folders of one setting
            (runs split over processes): their tables are joined, a (model, variant, method) row given twice
            is refused.
        settings: the run's :class:`~fer_explain.analysis.known_answer.KnownAnswerSettings` (copied into the
            provenance).
        command: the command that remakes the table.
        folder: where to write (default :data:`fer_explain.analysis.recorded.RESULTS_DIR`).
        measured: where and when it was measured (default: the processor, one thread per process, today).
        name: the recorded result's name (another one for a side experiment, e.g. ``known_answer_keep``).

    Returns:
        the written CSV's path.

    Raises:
        FileNotFoundError: a folder has no ``leaderboard.csv``.
        ValueError: two folders hold the same row.
    """
    from fer_explain.analysis.known_answer import LEADERBOARD_FILE, MODELS_FILE
    from fer_explain.analysis.recorded import RESULTS_DIR, write_recorded

    dirs = [Path(out_dir)] if isinstance(out_dir, (str, os.PathLike)) else [Path(d) for d in out_dir]
    tables, models = [], {}
    for out in dirs:
        csv = out / LEADERBOARD_FILE
        if not csv.is_file():
            raise FileNotFoundError(f"{csv}: no leaderboard to record (run the known-answer benchmark first)")
        tables.append(pd.read_csv(csv))
        models_path = out / MODELS_FILE
        models |= json.loads(models_path.read_text()) if models_path.is_file() else {}
    table = pd.concat(tables, ignore_index=True)
    twice = table.duplicated(["model", "variant", "method"], keep=False)
    if twice.any():
        first = table[twice].iloc[0]
        raise ValueError(f"the row ({first['model']}, {first['variant']}, {first['method']}) is in more than one of "
                         f"{[str(d) for d in dirs]}")
    info = {
        "table": "known-answer leaderboard: every explainer scored against the synthetic faces' evidence masks "
                 "(dilated by 2 px), per model and variant, beside random, centred-Gaussian and ideal maps",
        "data": "synthetic FACS faces, 48 px grey, variants " + ", ".join(sorted(table["variant"].unique())),
        "model": ", ".join(sorted(table["model"].unique())),
        "training": "Adam, cosine schedule, best validation epoch kept; per model and variant in 'models'",
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(settings).items()},
        "models": models,
        "measured": measured or (f"{os.cpu_count()}-core {platform.processor() or platform.machine()} CPU, one thread "
                                 f"per process, {datetime.date.today().isoformat()}"),
        "command": command,
    }
    return write_recorded(table, name, info, folder=RESULTS_DIR if folder is None else folder)
