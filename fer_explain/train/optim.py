"""The recipe's optimizer, learning-rate scheduler and training loss (cross-entropy + seed 004's FC L2 term).

These are the pieces of a :class:`~fer_explain.train.recipes.Recipe` that
:func:`~fer_explain.train.loop.fit` turns into objects::

    optimizer = build_optimizer(params, recipe)       # sgd / adam / adamw
    scheduler = build_scheduler(optimizer, recipe)    # plateau / step / cosine, stepped once per epoch
    loss = training_loss(model, logits, y, recipe)    # (weighted, smoothed) CE + fc_l2 * ||W||^2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fer_explain.train.distributed import unwrap_model
from fer_explain.train.recipes import Recipe

__all__ = ["build_optimizer", "build_scheduler", "fc_l2_penalty", "training_loss"]


def build_optimizer(params: Any, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over ``params``."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")  # pragma: no cover - Recipe validates


def build_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe) -> Any:
    """The recipe's LR scheduler (stepped once per epoch), or None."""
    params = dict(recipe.scheduler_params)
    if recipe.scheduler is None:
        return None
    try:
        if recipe.scheduler == "plateau":
            params.setdefault("mode", "max" if recipe.monitor.endswith("acc") else "min")
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **params)
        if recipe.scheduler == "step":
            params.setdefault("step_size", max(1, recipe.epochs // 3))
            params.setdefault("gamma", 0.1)
            return torch.optim.lr_scheduler.StepLR(optimizer, **params)
        if recipe.scheduler == "cosine":
            params.setdefault("T_max", recipe.epochs)
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, **params)
    except TypeError as exc:
        raise TypeError(f"recipe {recipe.name!r}: bad scheduler_params for {recipe.scheduler!r}: {exc}") from None
    raise ValueError(f"unknown scheduler {recipe.scheduler!r}")  # pragma: no cover - Recipe validates


def _fc_modules(model: nn.Module, names: Sequence[str] | None) -> list[nn.Module]:
    inner = unwrap_model(model)
    if names is None:
        head = getattr(inner, "classifier", None)
        if isinstance(head, nn.Module):
            return [head]
        linears = [m for m in inner.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(f"fc_l2: {type(inner).__name__} has no classifier and no nn.Linear")
        return [linears[-1]]
    modules = []
    for name in names:
        try:
            modules.append(inner.get_submodule(name))
        except AttributeError:
            top = [n for n, _ in inner.named_children()]
            raise ValueError(
                f"fc_l2_modules names {name!r}, which {type(inner).__name__} does not have; its top-level "
                f"modules are {top} (set fc_l2_modules=None for the classifier alone)"
            ) from None
    return modules


def fc_l2_penalty(model: nn.Module, modules: Sequence[str] | None = None) -> torch.Tensor:
    """``sum ||W||_2^2`` over the weight matrices (not biases) of the named modules (seed 004, Eq. 1).

    ``modules=None`` means the model's ``classifier`` (or its last ``nn.Linear``).
    """
    total: torch.Tensor | None = None
    for m in _fc_modules(model, modules):
        w = getattr(m, "weight", None)
        if not isinstance(w, torch.Tensor):
            raise TypeError(f"fc_l2: module {type(m).__name__} has no weight tensor")
        term = w.pow(2).sum()
        total = term if total is None else total + term
    assert total is not None
    return total


def training_loss(
    model: nn.Module,
    logits: torch.Tensor,
    targets: torch.Tensor,
    recipe: Recipe,
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The recipe's training loss: (weighted, smoothed) cross-entropy ``+ fc_l2 * fc_l2_penalty``."""
    loss = F.cross_entropy(logits, targets, weight=class_weight, label_smoothing=recipe.label_smoothing)
    if recipe.fc_l2 > 0:
        loss = loss + recipe.fc_l2 * fc_l2_penalty(model, recipe.fc_l2_modules)
    return loss
