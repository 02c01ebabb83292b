"""ResEmoteNet component ablation (seed 003, Table IV).

:func:`resemotenet_ablation` trains one ResEmoteNet per Table IV configuration (``"C1"`` .. ``"C6"``,
see :data:`fer_explain.models.resemotenet.ABLATION_CONFIGS` for how each maps onto the constructor)
with the same recipe and seed, evaluates each on the test set and returns one row per configuration
next to the paper's RAF-DB numbers. ``width`` shrinks every layer (the paper's model has 80 M
parameters; ``width=0.125`` trains on a CPU).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from fer_explain.train.recipes import Recipe

__all__ = ["ABLATION_DESCRIPTIONS", "PAPER_TABLE_IV", "resemotenet_ablation"]

ABLATION_DESCRIPTIONS: dict[str, str] = {
    "C1": "full model (CNN 64-128-256, SE 256, RB 256-512-1024)",
    "C2": "without SE (256)",
    "C3": "without CNN (64)",
    "C4": "without CNN (64, 128)",
    "C5": "without RB (256)",
    "C6": "without RB (256, 512)",
}
"""What each configuration removes, in Table IV's words (RB named by input width)."""

PAPER_TABLE_IV: dict[str, tuple[float, float]] = {
    "C1": (94.76, 3.73),
    "C2": (94.18, 16.83),
    "C3": (83.51, 7.19),
    "C4": (88.27, 5.32),
    "C5": (75.39, 10.2),
    "C6": (82.77, 8.8),
}
"""Seed 003 Table IV on RAF-DB: config -> (accuracy %, loss %) as printed."""


def _num_classes(ds: Dataset) -> int | None:
    for attr in ("classes", "label_space"):
        v = getattr(ds, attr, None)
        if v is not None and not callable(v):
            try:
                return len(v)
            except TypeError:
                continue
    return None


def resemotenet_ablation(
    train_ds: Dataset,
    test_ds: Dataset,
    configs: Sequence[str] = ("C1", "C2", "C3", "C4", "C5", "C6"),
    width: float = 1.0,
    recipe: Recipe | str = "seed003_code",
    *,
    val_ds: Dataset | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    input_size: int | None = None,
    model_args: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    classes: Sequence[str] | None = None,
    progress: bool = True,
    **recipe_overrides: Any,
) -> pd.DataFrame:
    """Train and test one ResEmoteNet per Table IV configuration.

    Args:
        train_ds, test_ds: map-style datasets of ``(x, label)`` items (e.g.
            :class:`~fer_explain.data.dataset.FaceDataset` at the model's input size); ``val_ds``
            optional (early stopping / best epoch per the recipe).
        configs: configuration names, ``"C1"`` .. ``"C6"``.
        width: channel multiplier of every layer (1.0 = the paper's 80 M-parameter model).
        recipe: a recipe or its name (default ``"seed003_code"``, the authors' script);
            ``recipe_overrides`` change fields (``epochs=1``...). Every configuration starts from
            weights drawn with ``recipe.seed``.
        num_classes, in_chans, input_size: default to the number of classes of ``train_ds``
            (``classes``/``label_space``; else ``classes`` or 7), the channels and side of its first
            item.
        model_args: more ``create_model("resemotenet", ...)`` arguments.

    Returns:
        DataFrame indexed by ``config`` with ``description``, ``params`` (parameter count),
        ``accuracy`` and ``loss`` (mean NLL) on ``test_ds``, ``best_epoch``,
        ``train_seconds`` and the paper's ``paper_accuracy`` / ``paper_loss`` (RAF-DB, percent).
    """
    from fer_explain.models import count_parameters, create_model
    from fer_explain.models.resemotenet import ABLATION_CONFIGS
    from fer_explain.train import evaluate, fit, get_recipe

    unknown = [c for c in configs if c.upper() not in ABLATION_CONFIGS]
    if unknown:
        raise KeyError(f"unknown ablation config(s) {unknown}; valid: {list(ABLATION_CONFIGS)}")
    if len(train_ds) == 0 or len(test_ds) == 0:  # type: ignore[arg-type]
        raise ValueError("train_ds and test_ds must not be empty")
    rec = get_recipe(recipe, **recipe_overrides)
    x0 = torch.as_tensor(train_ds[0][0])
    if x0.dim() != 3:
        raise ValueError(f"items must be (C, H, W) images, got shape {tuple(x0.shape)} (five-crop inputs are not "
                         "supported here)")
    in_chans = int(x0.shape[0]) if in_chans is None else int(in_chans)
    input_size = int(x0.shape[-1]) if input_size is None else int(input_size)
    if num_classes is None:
        num_classes = _num_classes(train_ds) or (len(classes) if classes is not None else 7)
    rows = []
    bar = tqdm(list(configs), desc="ResEmoteNet ablation", disable=not progress)
    for cfg in bar:
        cfg = cfg.upper()
        bar.set_postfix_str(cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rec.seed)
            model = create_model("resemotenet", num_classes=num_classes, in_chans=in_chans, width=width,
                                 input_size=input_size, ablation=cfg, **dict(model_args or {}))
        model.to(device)
        params = count_parameters(model)
        result = fit(model, train_ds, val_ds, recipe=rec, device=device, progress=False,
                     classes=classes)
        ev = evaluate(result.model, test_ds, device=device)
        paper_acc, paper_loss = PAPER_TABLE_IV[cfg]
        rows.append({"config": cfg, "description": ABLATION_DESCRIPTIONS[cfg], "params": int(params),
                     "accuracy": ev.accuracy, "loss": ev.loss, "best_epoch": result.best_epoch,
                     "train_seconds": float(result.seconds), "paper_accuracy": paper_acc,
                     "paper_loss": paper_loss})
        bar.set_postfix_str(f"{cfg}: {ev.accuracy:.3f}")
    return pd.DataFrame(rows).set_index("config")
