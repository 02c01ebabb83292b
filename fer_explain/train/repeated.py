"""Repeated runs: train ``recipe.runs`` independently seeded models, report them all, keep the best (seed 002).

::

    rep = fit_repeated(lambda i: make_model(seed=i), train_ds, val_ds, recipe=get_recipe("seed002"))
    rep.summary()   # 'val_acc over 5 runs: 0.6412 ± 0.0071 (best run 3: 0.6503)'

Run ``i`` trains with seed ``recipe.seed + i``; with ``checkpoint_path`` it is saved as
``<path>.run<i>`` and the best run's model again as ``<path>``, whose metadata ``extra`` records
every run's score (``scores``), their ``mean`` and sample ``std``, and the ``best_run``.
:func:`~fer_explain.train.pipeline.train_from_manifest` uses it when ``recipe.runs > 1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import nn
from torch.utils.data import Dataset

from fer_explain.train import checkpoint as ckpt
from fer_explain.train.loop import FitResult, fit
from fer_explain.train.recipes import Recipe, get_recipe

__all__ = ["RepeatedFitResult", "fit_repeated"]


@dataclass
class RepeatedFitResult:
    """What :func:`fit_repeated` returns.

    ``scores`` holds each run's best ``recipe.monitor`` value; ``mean``/``std`` summarise them
    (``std`` is the sample standard deviation, 0 for one run); ``best_index`` is the run with the
    best score and ``best`` its :class:`FitResult`.
    """

    results: list[FitResult]
    scores: np.ndarray
    mean: float
    std: float
    best_index: int
    monitor: str = "val_acc"

    @property
    def best(self) -> FitResult:
        return self.results[self.best_index]

    @property
    def histories(self) -> list[pd.DataFrame]:
        return [r.history for r in self.results]

    def summary(self) -> str:
        return f"{self.monitor} over {len(self.results)} runs: {self.mean:.4f} ± {self.std:.4f} (best run {self.best_index}: {self.scores[self.best_index]:.4f})"


def fit_repeated(
    model_fn: Callable[[int], nn.Module],
    train_ds: Dataset,
    val_ds: Dataset | None = None,
    recipe: Recipe | str = "quick",
    runs: int | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    *,
    checkpoint_meta: Mapping[str, Any] | None = None,
    **fit_kwargs: Any,
) -> RepeatedFitResult:
    """Train ``runs`` (default ``recipe.runs``) independent models and keep the best (seed 002).

    Run ``i`` builds its model with ``model_fn(i)`` and trains with seed ``recipe.seed + i``. Its
    score is the best ``recipe.monitor`` value of its run. With ``checkpoint_path`` run ``i`` is
    saved as ``<path>.run<i>`` and the best run's model again as ``<path>``.

    ``checkpoint_meta`` (``manifest_hash``, ``input``, ``notes``, ``extra``...) goes to every run's
    checkpoint, as in :func:`fit`, and to the best-run checkpoint too: its ``notes`` are prefixed to
    ``"best of N runs (monitor)"`` and its ``extra`` is merged under the runs' summary. Other
    ``fit_kwargs`` go to every :func:`fit`.
    """
    recipe = get_recipe(recipe)
    runs = recipe.runs if runs is None else runs
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if checkpoint_meta is not None:
        fit_kwargs["checkpoint_meta"] = checkpoint_meta
    results = []
    for i in range(runs):
        run_recipe = get_recipe(recipe, seed=recipe.seed + i)
        run_path = None if checkpoint_path is None else f"{ckpt.checkpoint_stem(checkpoint_path)}.run{i}"
        results.append(fit(model_fn(i), train_ds, val_ds, recipe=run_recipe, checkpoint_path=run_path, **fit_kwargs))
    scores = np.array([np.nan if r.best_value is None else r.best_value for r in results], dtype=np.float64)
    if np.all(np.isnan(scores)):
        raise ValueError("fit_repeated: no run finished an epoch")
    best = int(np.nanargmax(scores) if recipe.monitor.endswith("acc") else np.nanargmin(scores))
    mean = float(np.nanmean(scores))
    std = float(np.nanstd(scores, ddof=1)) if np.sum(~np.isnan(scores)) > 1 else 0.0
    if checkpoint_path is not None:
        meta = ckpt.read_metadata(f"{ckpt.checkpoint_stem(checkpoint_path)}.run{best}")
        more = dict(checkpoint_meta or {})
        extra = {**dict(more.pop("extra", None) or {}),
                 "runs": runs, "best_run": best, "scores": scores.tolist(), "mean": mean, "std": std}
        notes = f"best of {runs} runs ({recipe.monitor})"
        if more.get("notes"):
            notes = f"{more['notes']}; {notes}"
        more.pop("notes", None)
        ckpt.save_checkpoint(checkpoint_path, results[best].model, classes=meta.get("classes"), recipe=recipe,
                             history=results[best].history, training_seconds=sum(r.seconds for r in results),
                             notes=notes, extra=extra, **more)
    return RepeatedFitResult(results=results, scores=scores, mean=mean, std=std, best_index=best, monitor=recipe.monitor)
