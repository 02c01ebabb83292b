"""Exact resume: the training loop's position and every random state, saved beside the checkpoint and restored.

:func:`~fer_explain.train.loop.fit` with ``checkpoint_path`` calls :func:`save_training_state` at
every epoch end and every ``checkpoint_every_steps`` optimizer steps. It stores, through
:func:`fer_explain.train.checkpoint.save_resume_state` (``<name>.resume.safetensors`` +
``<name>.resume.json``, both atomic):

* tensors: the model's weights, the best epoch's weights, the optimizer's tensors, torch's CPU (and
  CUDA) RNG states, the sample-order generator's state, and the current epoch's sample order;
* JSON: the recipe, the training-set size and number of processes (a resume with other ones is
  refused), the position (epoch, batch, step), the running sums of the epoch, the early-stopping
  state, the optimizer/scheduler scalars, numpy's and Python's RNG states, and the history.

``fit(..., resume=True)`` restores all of it with :func:`load_training_state`; with
``num_workers=0`` the resumed run ends with weights bit-identical to an uninterrupted one. (With
worker processes, augmentation randomness comes from per-worker seeds that a mid-epoch resume
re-draws, so the resumed run is reproducible but not identical. Under DDP only rank 0 saves, so a
resumed multi-process run restores rank 0's random state on every rank: also reproducible rather
than identical.)
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from fer_explain.train import checkpoint as ckpt
from fer_explain.train.distributed import unwrap_model
from fer_explain.train.recipes import Recipe

__all__ = ["TrainState", "load_training_state", "save_training_state"]


@dataclass
class TrainState:
    """Where the training loop is: position, running sums of the epoch, early stopping, history."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches finished in the current epoch
    step: int = 0  # optimizer steps in total
    order: torch.Tensor | None = None  # the current epoch's sample order
    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0
    epoch_seconds: float = 0.0
    total_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    finished: bool = False


def save_training_state(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    best_state: dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    shuffle_gen: torch.Generator,
    state: TrainState,
    recipe: Recipe,
    n_train: int,
    world_size: int,
) -> None:
    """Write everything an exact resume needs beside the checkpoint named by ``path``."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in unwrap_model(model).state_dict().items()}
    if best_state is not None:
        tensors.update({f"best.{k}": v for k, v in best_state.items()})
    opt_tensors, opt_structure = ckpt.flatten_optimizer_state(optimizer.state_dict())
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = shuffle_gen.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    if state.order is not None:
        tensors["order"] = state.order
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"]).tolist()
    py_state = random.getstate()
    payload = {
        "recipe": recipe.to_dict(),
        "n_train": n_train,
        "world_size": world_size,
        "position": {"epoch": state.epoch, "batch": state.batch, "step": state.step},
        "running": {
            "loss_sum": state.loss_sum,
            "correct": state.correct,
            "count": state.count,
            "epoch_seconds": state.epoch_seconds,
            "total_seconds": state.total_seconds,
        },
        "early_stopping": {
            "best_value": state.best_value,
            "best_epoch": state.best_epoch,
            "bad_epochs": state.bad_epochs,
            "stopped_early": state.stopped_early,
        },
        "finished": state.finished,
        "has_best": best_state is not None,
        "optimizer": opt_structure,
        "scheduler": ckpt.to_jsonable(scheduler.state_dict(), "scheduler state") if scheduler is not None else None,
        "rng": {"numpy": np_state, "python": [py_state[0], list(py_state[1]), py_state[2]]},
        "history": state.history,
    }
    ckpt.save_resume_state(path, tensors, payload)


def load_training_state(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    shuffle_gen: torch.Generator,
    recipe: Recipe,
    n_train: int,
    world_size: int,
) -> tuple[TrainState, dict[str, torch.Tensor] | None] | None:
    """Restore the state saved by :func:`save_training_state` -> ``(state, best_state)``; ``None`` when there is none.

    ``model``, ``optimizer``, ``scheduler``, ``shuffle_gen`` and the global torch / numpy / Python
    generators are set in place. Raises :class:`~fer_explain.train.checkpoint.CheckpointError` when
    the state was saved with another recipe (``sources`` and ``notes`` aside), another training-set
    size or another number of processes, or for weights that do not fit ``model``.
    """
    loaded = ckpt.load_resume_state(path)
    if loaded is None:
        return None
    tensors, payload = loaded
    where = ckpt.resume_paths(path)[1]
    saved_recipe = payload["recipe"]
    current = recipe.to_dict()
    differ = sorted(k for k in current if k not in ("sources", "notes") and saved_recipe.get(k) != current[k])
    if differ:
        raise ckpt.CheckpointError(
            f"{where}: cannot resume with a different recipe; fields {differ} differ "
            f"(saved {[saved_recipe.get(k) for k in differ]}, now {[current[k] for k in differ]})"
        )
    if payload["n_train"] != n_train:
        raise ckpt.CheckpointError(f"{where}: saved for a training set of {payload['n_train']} rows, this one has {n_train}")
    if payload["world_size"] != world_size:
        raise ckpt.CheckpointError(f"{where}: saved with {payload['world_size']} processes, now {world_size}")
    inner = unwrap_model(model)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        inner.load_state_dict(model_state, strict=True)
    except RuntimeError as exc:
        raise ckpt.CheckpointError(f"{where}: the saved weights do not fit this model: {exc}") from None
    best_state = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")} if payload["has_best"] else None
    optimizer.load_state_dict(ckpt.unflatten_optimizer_state(tensors, payload["optimizer"]))
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    shuffle_gen.set_state(tensors["rng.shuffle"])
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    np_state = payload["rng"]["numpy"]
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_state)
    v, internal, gauss = payload["rng"]["python"]
    random.setstate((v, tuple(internal), gauss))
    pos, run, es = payload["position"], payload["running"], payload["early_stopping"]
    state = TrainState(
        epoch=pos["epoch"],
        batch=pos["batch"],
        step=pos["step"],
        order=tensors.get("order"),
        loss_sum=run["loss_sum"],
        correct=run["correct"],
        count=run["count"],
        epoch_seconds=run["epoch_seconds"],
        total_seconds=run["total_seconds"],
        history=list(payload["history"]),
        best_value=es["best_value"],
        best_epoch=es["best_epoch"],
        bad_epochs=es["bad_epochs"],
        stopped_early=es["stopped_early"],
        finished=payload["finished"],
    )
    return state, best_state
