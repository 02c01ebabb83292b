"""The training engine: ``fit`` / ``evaluate``, exact resume, transfer, repeated runs, DDP.

``fit`` trains any ``nn.Module`` on any map-style dataset whose items are ``(x, y)`` (or
``(x, y, index)``, or dicts with ``image``/``label``), following a
:class:`~fer_explain.train.recipes.Recipe`::

    from fer_explain.train import fit, evaluate, get_recipe
    result = fit(model, train_ds, val_ds, recipe=get_recipe("quick", epochs=5), checkpoint_path="ckpt/run")
    result.history            # one row per epoch: train_loss, train_acc, val_loss, val_acc, lr, seconds
    evaluate(result.model, test_ds).accuracy

Reproducibility
---------------
Every run is seeded from ``recipe.seed``: torch's, numpy's and Python's global generators are
seeded inside a scope that restores their previous states when ``fit`` returns (``fit`` leaves the
caller's random streams as it found them), and the sample order of each epoch is drawn from a
dedicated ``torch.Generator``. On CPU with ``num_workers=0`` two runs with the same seed give
bit-identical weights; ``deterministic=True`` additionally calls
``torch.use_deterministic_algorithms(True)`` for the run (restored afterwards).

Exact resume
------------
With ``checkpoint_path`` the resume state (model, optimizer, scheduler, early-stopping state, RNG
states, the epoch's sample order and the position in it, the history) is saved at every epoch end
and every ``checkpoint_every_steps`` optimizer steps (see :mod:`fer_explain.train.checkpoint`).
``fit(..., resume=True)`` continues from it; with ``num_workers=0`` the resumed run ends with
weights bit-identical to an uninterrupted one. (With worker processes, augmentation randomness
comes from per-worker seeds that a mid-epoch resume re-draws, so the resumed run is reproducible
but not identical. Under DDP only rank 0 saves, so a resumed multi-process run restores rank 0's
random state on every rank: also reproducible rather than identical.) ``stop_after_steps``
simulates a crash: it saves the state and returns.

Distributed data parallel
-------------------------
Under ``torchrun --nproc_per_node N`` (the ``RANK``/``WORLD_SIZE`` environment variables are set)
``fit`` joins the process group (``gloo`` on CPU, ``nccl`` on CUDA) unless one is already
initialised (a group ``fit`` creates stays up for later calls, e.g. the runs of ``fit_repeated``,
and is destroyed at interpreter exit), wraps the model in ``DistributedDataParallel``, and shards each epoch's sample order
with a ``DistributedSampler``: every rank draws the same order and takes every ``N``-th sample, so
with a per-rank batch of ``batch_size / N`` the ``N`` local batches of a step together form the
global batch a single process would use. Training metrics are summed over ranks; every rank
evaluates the full validation set (so early stopping agrees); only rank 0 shows progress bars and
writes checkpoints.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from fer_explain.labels import LabelSpace, get_label_space, project_probabilities
from fer_explain.train import checkpoint as ckpt
from fer_explain.train.recipes import Recipe, get_recipe

__all__ = [
    "HISTORY_COLUMNS",
    "EvalResult",
    "FitResult",
    "RepeatedFitResult",
    "build_optimizer",
    "build_scheduler",
    "evaluate",
    "fc_l2_penalty",
    "fit",
    "fit_repeated",
    "prepare_transfer",
    "train_from_manifest",
    "training_loss",
]

HISTORY_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "eval_seconds",
                                     "steps")


# --- results ----------------------------------------------------------------------------------------


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (the object passed in, unwrapped from DDP); with
            ``recipe.keep_best`` it holds the best epoch's weights.
        history: one row per finished epoch, columns :data:`HISTORY_COLUMNS` (``epoch`` counts
            from 1; ``val_*`` are NaN without a validation set; ``steps`` is the cumulative number
            of optimizer steps).
        best_epoch: the epoch (1-based) with the best ``recipe.monitor`` value, or None.
        best_state: a CPU copy of that epoch's ``state_dict`` (None when no epoch finished).
        best_value: the monitored value at ``best_epoch``.
        stopped_early: early stopping ended the run.
        interrupted: ``stop_after_steps`` ended the run before it finished (resume it).
        steps: optimizer steps taken in total.
        seconds: wall-clock training time, summed over resumed sessions.
    """

    model: nn.Module
    history: pd.DataFrame
    best_epoch: int | None
    best_state: dict[str, torch.Tensor] | None
    best_value: float | None = None
    stopped_early: bool = False
    interrupted: bool = False
    steps: int = 0
    seconds: float = 0.0


@dataclass
class EvalResult:
    """What :func:`evaluate` returns (everything in the evaluated label space).

    Attributes:
        accuracy: fraction of correct predictions.
        per_class_accuracy: recall of each class (``C``), NaN for a class with no samples.
        confusion: ``C x C`` counts, rows = true class, columns = predicted class.
        probs: ``N x C`` class probabilities (projected into the data's label space when it
            differs from the model's).
        preds: ``N`` predicted class indices.
        labels: ``N`` true class indices.
        loss: mean negative log-likelihood of the true class.
        classes: class names of the evaluated space, when known.
    """

    accuracy: float
    per_class_accuracy: np.ndarray
    confusion: np.ndarray
    probs: np.ndarray
    preds: np.ndarray
    labels: np.ndarray
    loss: float
    classes: tuple[str, ...] | None = None

    def normalized_confusion(self) -> np.ndarray:
        """Row-normalised confusion matrix (each true class sums to 1; NaN rows for absent classes)."""
        rows = self.confusion.sum(axis=1, keepdims=True).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(rows > 0, self.confusion / np.where(rows > 0, rows, 1), np.nan)

    def per_class_table(self) -> pd.DataFrame:
        """A table of per-class support and accuracy."""
        names = self.classes or tuple(str(i) for i in range(len(self.per_class_accuracy)))
        return pd.DataFrame(
            {"class": names, "support": self.confusion.sum(axis=1), "accuracy": self.per_class_accuracy}
        )


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


# --- small helpers ----------------------------------------------------------------------------------


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", model) if isinstance(model, nn.parallel.DistributedDataParallel) else model
    return getattr(inner, "_orig_mod", inner)


def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a collated batch: a tuple/list ``(x, y[, ...])`` or a dict with image/label."""
    if isinstance(batch, Mapping):
        for xk, yk in (("image", "label"), ("x", "y"), ("input", "target")):
            if xk in batch and yk in batch:
                return batch[xk], torch.as_tensor(batch[yk])
        raise TypeError(f"dict batches need keys image/label (or x/y); got {sorted(batch)}")
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], torch.as_tensor(batch[1])
    raise TypeError(f"dataset items must be (x, y), (x, y, index) or dicts; got a batch of type {type(batch).__name__}")


def _flatten_crops(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``N x K x C x H x W`` (K crops per sample, seed 001) -> ``NK x C x H x W`` with labels repeated."""
    if x.dim() == 5:
        n, k = x.shape[:2]
        return x.reshape(n * k, *x.shape[2:]), y.repeat_interleave(k)
    return x, y


def _num_outputs(model: nn.Module) -> int | None:
    inner = _unwrap(model)
    head = getattr(inner, "classifier", None)
    if isinstance(head, nn.Linear):
        return head.out_features
    linears = [m for m in inner.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def _dataset_labels(ds: Dataset, progress: bool = False) -> np.ndarray:
    """Integer labels of every item (read from ``labels``/``targets``/TensorDataset, else by iterating)."""
    if isinstance(ds, Subset):
        return _dataset_labels(ds.dataset, progress)[np.asarray(ds.indices, dtype=np.int64)]
    for attr in ("labels", "targets"):
        labels = getattr(ds, attr, None)
        if labels is not None and not callable(labels):
            return np.asarray(labels, dtype=np.int64).reshape(-1)
    if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
        return ds.tensors[1].detach().cpu().numpy().astype(np.int64).reshape(-1)
    out = []
    for i in tqdm(range(len(ds)), desc="reading labels", disable=not progress, leave=False):
        item = ds[i]
        out.append(int(item["label"] if isinstance(item, Mapping) else item[1]))
    return np.asarray(out, dtype=np.int64)


def _resolve_recipe(recipe: Recipe | str) -> Recipe:
    return recipe if isinstance(recipe, Recipe) else get_recipe(recipe)


def _class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    from fer_explain.data.dataset import class_weights

    return class_weights(labels, num_classes)


@contextlib.contextmanager
def _rng_scope(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch/numpy/random for the block; restore the caller's generator states afterwards."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextlib.contextmanager
def _deterministic(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


# --- optimisation pieces ----------------------------------------------------------------------------


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
    inner = _unwrap(model)
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


# --- distributed ------------------------------------------------------------------------------------


@dataclass
class _Dist:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    created_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: torch.device) -> _Dist:
    """Join the torchrun process group when the environment asks for one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return _Dist(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or "RANK" not in os.environ:
        return _Dist()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available in this build")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    # The group stays up for later fit() calls in this process (re-initialising a torchrun group after
    # destroying it hangs), and is torn down when the interpreter exits.
    atexit.register(_destroy_group)
    return _Dist(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), created_group=True)


def _destroy_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _all_reduce_sum(values: list[float], dist_info: _Dist, device: torch.device) -> list[float]:
    if not dist_info.enabled:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


class _Positions(Dataset):
    """A length-only dataset, so a DistributedSampler can shard positions of an epoch's order."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:  # pragma: no cover - never read
        return i


# --- fit --------------------------------------------------------------------------------------------


@dataclass
class _State:
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


def _budget_spent(history: Sequence[Mapping[str, Any]], minutes: float) -> bool:
    """True when another epoch as long as the last one would overrun the time budget.

    Time is training plus validation seconds summed over the history, so it survives a resume.
    """
    spent = [float(h.get("seconds", 0.0)) + float(h.get("eval_seconds", 0.0)) for h in history]
    return bool(spent) and sum(spent) + spent[-1] > minutes * 60.0


def _improved(value: float, best: float | None, monitor: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if monitor.endswith("acc") else value < best


def _save_resume(
    path: str | os.PathLike[str],
    model: nn.Module,
    best_state: dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    shuffle_gen: torch.Generator,
    state: _State,
    recipe: Recipe,
    n_train: int,
    world_size: int,
) -> None:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in _unwrap(model).state_dict().items()}
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
        "scheduler": ckpt._jsonable(scheduler.state_dict(), "scheduler state") if scheduler is not None else None,
        "rng": {"numpy": np_state, "python": [py_state[0], list(py_state[1]), py_state[2]]},
        "history": state.history,
    }
    ckpt.save_resume_state(path, tensors, payload)


def _load_resume(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    shuffle_gen: torch.Generator,
    recipe: Recipe,
    n_train: int,
    world_size: int,
) -> tuple[_State, dict[str, torch.Tensor] | None] | None:
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
    inner = _unwrap(model)
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
    state = _State(
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


def _epoch_order(n: int, recipe: Recipe, gen: torch.Generator, sample_weights: torch.Tensor | None) -> torch.Tensor:
    if sample_weights is not None:
        return torch.multinomial(sample_weights, n, replacement=True, generator=gen)
    if recipe.shuffle:
        return torch.randperm(n, generator=gen)
    return torch.arange(n)


def fit(
    model: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset | None = None,
    recipe: Recipe | str = "quick",
    device: str | torch.device = "cpu",
    checkpoint_path: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    num_workers: int = 0,
    max_steps: int | None = None,
    stop_after_steps: int | None = None,
    checkpoint_every_steps: int | None = None,
    *,
    classes: LabelSpace | Sequence[str] | str | None = None,
    checkpoint_meta: Mapping[str, Any] | None = None,
    deterministic: bool = False,
    eval_batch_size: int = 256,
) -> FitResult:
    """Train ``model`` on ``train_ds`` following ``recipe``; see the module docstring.

    Args:
        model: any module mapping a batch to logits; trained in place and returned in ``result.model``.
        train_ds, val_ds: map-style datasets of ``(x, y)`` items. ``x`` may hold ``K`` crops
            (``K x C x H x W``, seed 001's five crops): training then sees every crop as a sample
            and evaluation averages the crops' probabilities.
        recipe: a :class:`Recipe` or a recipe name. ``recipe.init_std`` is *not* applied here
            (``fit`` never re-initialises what it is given; :func:`train_from_manifest` does).
        device: where to train.
        checkpoint_path: name of the final checkpoint (``<path>.safetensors`` + ``.json``) and of
            the resume state beside it (``<path>.resume.*``).
        resume: continue from the resume state at ``checkpoint_path`` (a fresh start, with a
            warning, when there is none; an error when it was saved with another recipe).
        progress: tqdm bars for epochs and batches (rank 0 only).
        num_workers: DataLoader worker processes.
        max_steps: stop after this many optimizer steps in total (the partial epoch is evaluated
            and recorded; the run counts as finished).
        stop_after_steps: simulate an interruption: save the resume state (with
            ``checkpoint_path``) after this many steps in total and return with ``interrupted=True``.
        checkpoint_every_steps: also save the resume state every this many steps.
        classes: the label order of the outputs, stored in the checkpoint (default: the
            training dataset's ``classes``/``label_space`` when it has one).
        checkpoint_meta: more keyword arguments of :func:`~fer_explain.train.checkpoint.save_checkpoint`
            (``manifest_hash``, ``notes``, ``normalization``, ``extra``).
        deterministic: run under ``torch.use_deterministic_algorithms(True)``.
        eval_batch_size: batch size of the per-epoch validation.
    """
    recipe = _resolve_recipe(recipe)
    device = torch.device(device)
    if checkpoint_every_steps is not None and checkpoint_every_steps < 1:
        raise ValueError(f"checkpoint_every_steps must be >= 1, got {checkpoint_every_steps}")
    if checkpoint_path is None and (resume or checkpoint_every_steps):
        raise ValueError("resume=True and checkpoint_every_steps need checkpoint_path")
    dist_info = _setup_distributed(device)
    if dist_info.enabled and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", dist_info.local_rank)
    if recipe.batch_size % dist_info.world_size:
        raise ValueError(
            f"batch_size {recipe.batch_size} is not divisible by the {dist_info.world_size} processes "
            "(each takes an equal share of the global batch)"
        )
    local_bs = recipe.batch_size // dist_info.world_size
    n_train = len(train_ds)
    if n_train == 0:
        raise ValueError("train_ds is empty")
    if classes is None:
        classes = _dataset_space(train_ds)
    with _rng_scope(recipe.seed + dist_info.rank, device), _deterministic(deterministic):
        return _fit(
            model, train_ds, val_ds, recipe, device, checkpoint_path, resume, progress, num_workers,
            max_steps, stop_after_steps, checkpoint_every_steps, classes, checkpoint_meta or {},
            eval_batch_size, dist_info, local_bs, n_train,
        )


def _fit(
    model: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset | None,
    recipe: Recipe,
    device: torch.device,
    checkpoint_path: str | os.PathLike[str] | None,
    resume: bool,
    progress: bool,
    num_workers: int,
    max_steps: int | None,
    stop_after_steps: int | None,
    checkpoint_every_steps: int | None,
    classes: Any,
    checkpoint_meta: Mapping[str, Any],
    eval_batch_size: int,
    dist_info: _Dist,
    local_bs: int,
    n_train: int,
) -> FitResult:
    model.to(device)
    num_classes = _num_outputs(model)
    labels = None
    if recipe.class_weighted_loss or recipe.oversample:
        labels = _dataset_labels(train_ds, progress=progress and dist_info.is_main)
        if num_classes is None:
            num_classes = int(labels.max()) + 1
    class_weight = _class_weights(labels, num_classes).to(device) if recipe.class_weighted_loss else None
    sample_weights = None
    if recipe.oversample:
        counts = np.bincount(labels, minlength=num_classes)
        sample_weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (all requires_grad=False)")
    optimizer = build_optimizer(params, recipe)
    scheduler = build_scheduler(optimizer, recipe)
    shuffle_gen = torch.Generator().manual_seed(recipe.seed)

    state = _State()
    best_state: dict[str, torch.Tensor] | None = None
    if resume:
        loaded = _load_resume(checkpoint_path, model, optimizer, scheduler, shuffle_gen, recipe, n_train, dist_info.world_size)
        if loaded is None:
            warnings.warn(f"resume=True but no resume state at {checkpoint_path}: starting from scratch", stacklevel=3)
        else:
            state, best_state = loaded

    train_model: nn.Module = model
    if dist_info.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    main = dist_info.is_main
    save = checkpoint_path is not None and main

    def save_state() -> None:
        if save:
            _save_resume(checkpoint_path, model, best_state, optimizer, scheduler, shuffle_gen, state, recipe,
                         n_train, dist_info.world_size)

    epoch_bar = tqdm(total=recipe.epochs, initial=state.epoch, desc="epochs", unit="epoch",
                     disable=not (progress and main), leave=True)
    interrupted = False
    try:
        while not state.finished and state.epoch < recipe.epochs:
            if state.order is None:
                state.order = _epoch_order(n_train, recipe, shuffle_gen, sample_weights)
            positions = list(DistributedSampler(_Positions(n_train), num_replicas=dist_info.world_size,
                                                rank=dist_info.rank, shuffle=False, drop_last=False))
            local = state.order[torch.as_tensor(positions, dtype=torch.long)].tolist()
            batches = [local[i:i + local_bs] for i in range(0, len(local), local_bs)]
            remaining = batches[state.batch:]
            loader = DataLoader(
                train_ds,
                batch_sampler=remaining,
                num_workers=num_workers,
                # a dedicated generator: creating the loader's iterator must not draw from torch's
                # global RNG (that would break exact resume) and workers get reproducible seeds
                generator=torch.Generator().manual_seed(recipe.seed * 1_000_003 + state.epoch * 10_007 + state.batch),
                pin_memory=device.type == "cuda",
            )
            train_model.train()
            t0 = time.perf_counter()
            batch_bar = tqdm(loader, total=len(remaining), desc=f"epoch {state.epoch + 1}", unit="batch",
                             disable=not (progress and main), leave=False)
            for batch in batch_bar:
                x, y = _unpack(batch)
                x, y = _flatten_crops(x.to(device, non_blocking=True), y.to(device, non_blocking=True).long())
                optimizer.zero_grad(set_to_none=True)
                logits = train_model(x)
                loss = training_loss(model, logits, y, recipe, class_weight)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss.item()} at epoch {state.epoch + 1}, batch {state.batch + 1} "
                        f"(lr {optimizer.param_groups[0]['lr']}); lower the learning rate"
                    )
                loss.backward()
                optimizer.step()
                state.batch += 1
                state.step += 1
                n = y.numel()
                state.loss_sum += float(loss.detach()) * n
                state.correct += float((logits.detach().argmax(1) == y).sum())
                state.count += n
                if main and progress:
                    batch_bar.set_postfix(loss=f"{state.loss_sum / state.count:.4f}",
                                          acc=f"{state.correct / state.count:.3f}")
                stop_now = stop_after_steps is not None and state.step == stop_after_steps
                at_max = max_steps is not None and state.step >= max_steps
                if checkpoint_every_steps and state.step % checkpoint_every_steps == 0 or stop_now:
                    state.epoch_seconds += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    save_state()
                if stop_now:
                    interrupted = True
                    break
                if at_max:
                    break
            batch_bar.close()
            if interrupted:
                break
            state.epoch_seconds += time.perf_counter() - t0
            _finish_epoch(state, model, val_ds, recipe, optimizer, scheduler, device, eval_batch_size,
                          dist_info, max_steps)
            if state.best_epoch == state.epoch:
                best_state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
            epoch_bar.update(1)
            last = state.history[-1]
            epoch_bar.set_postfix(train_loss=f"{last['train_loss']:.4f}", val_acc=f"{last['val_acc']:.3f}",
                                  lr=f"{last['lr']:.2g}")
            save_state()
    finally:
        epoch_bar.close()

    history = pd.DataFrame(state.history, columns=list(HISTORY_COLUMNS))
    if not interrupted:
        state.finished = True
        if recipe.keep_best and best_state is not None:
            model.load_state_dict(best_state)
        if save:
            save_state()
            ckpt.save_checkpoint(checkpoint_path, model, classes=classes, recipe=recipe, history=history,
                                 training_seconds=state.total_seconds, **dict(checkpoint_meta))
    return FitResult(
        model=model,
        history=history,
        best_epoch=state.best_epoch,
        best_state=best_state,
        best_value=state.best_value,
        stopped_early=state.stopped_early,
        interrupted=interrupted,
        steps=state.step,
        seconds=state.total_seconds + (state.epoch_seconds if interrupted else 0.0),
    )


def _finish_epoch(
    state: _State,
    model: nn.Module,
    val_ds: Dataset | None,
    recipe: Recipe,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    device: torch.device,
    eval_batch_size: int,
    dist_info: _Dist,
    max_steps: int | None,
) -> None:
    """Validation, history row, scheduler and early stopping at the end of an epoch."""
    loss_sum, correct, count = _all_reduce_sum([state.loss_sum, state.correct, state.count], dist_info, device)
    train_loss = loss_sum / max(count, 1)
    train_acc = correct / max(count, 1)
    val_loss = val_acc = float("nan")
    eval_start = time.perf_counter()
    if val_ds is not None:
        ev = evaluate(model, val_ds, batch_size=eval_batch_size, device=device)
        val_loss, val_acc = ev.loss, ev.accuracy
    eval_seconds = time.perf_counter() - eval_start
    lr = float(optimizer.param_groups[0]["lr"])
    state.total_seconds += state.epoch_seconds
    state.epoch += 1
    state.history.append({
        "epoch": state.epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
        "val_acc": val_acc, "lr": lr, "seconds": state.epoch_seconds, "eval_seconds": eval_seconds,
        "steps": state.step,
    })
    metric = recipe.monitor if val_ds is not None else recipe.monitor.replace("val_", "train_")
    value = {"val_acc": val_acc, "val_loss": val_loss, "train_acc": train_acc, "train_loss": train_loss}[metric]
    if scheduler is not None:
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(value)
        else:
            scheduler.step()
    if _improved(value, state.best_value, recipe.monitor):
        state.best_value, state.best_epoch, state.bad_epochs = value, state.epoch, 0
    else:
        state.bad_epochs += 1
        if recipe.early_stopping_patience is not None and state.bad_epochs >= recipe.early_stopping_patience:
            state.stopped_early = True
            state.finished = True
    if max_steps is not None and state.step >= max_steps:
        state.finished = True
    if recipe.time_budget_minutes is not None and _budget_spent(state.history, recipe.time_budget_minutes):
        state.finished = True
    state.order = None
    state.batch = 0
    state.loss_sum = state.correct = state.count = 0.0
    state.epoch_seconds = 0.0


# --- evaluate ---------------------------------------------------------------------------------------


def _dataset_space(ds: Dataset) -> LabelSpace | None:
    """The label space a dataset declares (``label_space``, or emotion names in ``classes``), if any."""
    for attr in ("label_space", "classes"):
        value = getattr(ds, attr, None)
        if value is None or callable(value):
            continue
        try:
            return get_label_space(value)
        except (KeyError, ValueError, TypeError):
            continue  # e.g. an ImageFolder's folder names: not emotion names
    return None


def _model_space(model: nn.Module, label_space: Any) -> LabelSpace | None:
    if label_space is not None:
        return get_label_space(label_space)
    space = getattr(_unwrap(model), "label_space", None)
    if space is not None:
        return get_label_space(space)
    return {7: get_label_space("basic7"), 8: get_label_space("basic8")}.get(_num_outputs(model) or 0)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    ds: Dataset,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    label_space: LabelSpace | Sequence[str] | str | None = None,
    target_space: LabelSpace | Sequence[str] | str | None = None,
    num_workers: int = 0,
    progress: bool = False,
) -> EvalResult:
    """Accuracy, per-class accuracy, confusion matrix, probabilities and loss of ``model`` on ``ds``.

    Cross-dataset evaluation: ``label_space`` is the model's output space and ``target_space`` the
    dataset's (``ds``'s labels are indices in it). They default to ``model.label_space`` / the
    dataset's ``label_space`` (or basic7/basic8 by the number of outputs). When they differ, the
    model's probabilities go through :func:`fer_explain.labels.project_probabilities`: a class the
    dataset lacks (e.g. "neutral") gets probability zero and the rest are renormalised, so the
    prediction is the most probable class the dataset has; everything returned is in the
    dataset's space.

    The model is put in eval mode for the pass and its previous mode is restored afterwards; the
    global random generators are not touched.
    """
    device = torch.device(device)
    source = _model_space(model, label_space)
    target = get_label_space(target_space) if target_space is not None else (_dataset_space(ds) or source)
    project = source is not None and target is not None and source.classes != target.classes
    if (label_space is not None or target_space is not None) and source is None:
        raise ValueError("evaluate: pass label_space= (the model's output classes) to map between label spaces")

    was_training = model.training
    model.eval()
    probs_list, label_list = [], []
    try:
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                            generator=torch.Generator().manual_seed(0))
        for batch in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, leave=False):
            x, y = _unpack(batch)
            x = x.to(device)
            if x.dim() == 5:  # K crops per sample: average their probabilities
                n, k = x.shape[:2]
                p = model(x.reshape(n * k, *x.shape[2:])).float().softmax(-1).reshape(n, k, -1).mean(1)
            else:
                p = model(x).float().softmax(-1)
            probs_list.append(p.cpu())
            label_list.append(y.long().reshape(-1).cpu())
    finally:
        model.train(was_training)
    probs = torch.cat(probs_list) if probs_list else torch.zeros(0, _num_outputs(model) or 0)
    labels = torch.cat(label_list) if label_list else torch.zeros(0, dtype=torch.long)
    if project:
        probs = project_probabilities(probs, source, target)
    num_classes = len(target) if target is not None else probs.shape[1]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"evaluate: labels range {int(labels.min())}..{int(labels.max())} outside 0..{num_classes - 1}")
    preds = probs.argmax(1)
    picked = probs.gather(1, labels[:, None]).squeeze(1) if labels.numel() else probs.new_zeros(0)
    loss = float(-picked.clamp_min(1e-12).log().mean()) if labels.numel() else float("nan")
    confusion = torch.bincount(labels * num_classes + preds, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    confusion_np = confusion.numpy().astype(np.int64)
    support = confusion_np.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion_np) / np.maximum(support, 1), np.nan)
    return EvalResult(
        accuracy=float((preds == labels).float().mean()) if labels.numel() else float("nan"),
        per_class_accuracy=per_class,
        confusion=confusion_np,
        probs=probs.numpy(),
        preds=preds.numpy(),
        labels=labels.numpy(),
        loss=loss,
        classes=target.classes if target is not None else None,
    )


# --- repeated runs ----------------------------------------------------------------------------------


def fit_repeated(
    model_fn: Callable[[int], nn.Module],
    train_ds: Dataset,
    val_ds: Dataset | None = None,
    recipe: Recipe | str = "quick",
    runs: int | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    **fit_kwargs: Any,
) -> RepeatedFitResult:
    """Train ``runs`` (default ``recipe.runs``) independent models and keep the best (seed 002).

    Run ``i`` builds its model with ``model_fn(i)`` and trains with seed ``recipe.seed + i``. Its
    score is the best ``recipe.monitor`` value of its run. With ``checkpoint_path`` run ``i`` is
    saved as ``<path>.run<i>`` and the best run's model again as ``<path>``.
    """
    recipe = _resolve_recipe(recipe)
    runs = recipe.runs if runs is None else runs
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    results = []
    for i in range(runs):
        run_recipe = get_recipe(recipe, seed=recipe.seed + i)
        run_path = None if checkpoint_path is None else f"{ckpt._stem(checkpoint_path)}.run{i}"
        results.append(fit(model_fn(i), train_ds, val_ds, recipe=run_recipe, checkpoint_path=run_path, **fit_kwargs))
    scores = np.array([np.nan if r.best_value is None else r.best_value for r in results], dtype=np.float64)
    if np.all(np.isnan(scores)):
        raise ValueError("fit_repeated: no run finished an epoch")
    best = int(np.nanargmax(scores) if recipe.monitor.endswith("acc") else np.nanargmin(scores))
    mean = float(np.nanmean(scores))
    std = float(np.nanstd(scores, ddof=1)) if np.sum(~np.isnan(scores)) > 1 else 0.0
    if checkpoint_path is not None:
        meta = ckpt.read_metadata(f"{ckpt._stem(checkpoint_path)}.run{best}")
        extra = {"runs": runs, "best_run": best, "scores": scores.tolist(), "mean": mean, "std": std}
        ckpt.save_checkpoint(checkpoint_path, results[best].model, classes=meta.get("classes"), recipe=recipe,
                             history=results[best].history, training_seconds=sum(r.seconds for r in results),
                             notes=f"best of {runs} runs ({recipe.monitor})", extra=extra)
    return RepeatedFitResult(results=results, scores=scores, mean=mean, std=std, best_index=best, monitor=recipe.monitor)


# --- transfer ---------------------------------------------------------------------------------------


def prepare_transfer(
    model_or_checkpoint: nn.Module | str | os.PathLike[str],
    num_classes: int | None = None,
    replace_head: bool = True,
    trainable: str | Sequence[str] = "all",
    head_name: str = "classifier",
) -> nn.Module:
    """Prepare a trained model for fine-tuning on another dataset (seed 001's transfer learning).

    Args:
        model_or_checkpoint: a model, or a checkpoint path (loaded with :func:`load_checkpoint`).
        num_classes: output classes of the new head (default: the current head's).
        replace_head: put a freshly initialised ``nn.Linear(in_features, num_classes)`` in place of
            the head; otherwise keep it (``num_classes`` must then match it).
        trainable: ``"all"``, ``"head"`` (only the head learns), or a list of module-name prefixes
            (``["layer4", "classifier"]``) whose parameters learn; all others get
            ``requires_grad=False``. The new head is always trainable when replaced.
        head_name: attribute name of the final linear layer.

    Returns:
        the model (modified in place when a model was given), in train mode.
    """
    if isinstance(model_or_checkpoint, nn.Module):
        model = model_or_checkpoint
    else:
        model, _ = ckpt.load_checkpoint(model_or_checkpoint)
    head = getattr(model, head_name, None)
    if not isinstance(head, nn.Linear):
        raise TypeError(
            f"prepare_transfer: {type(model).__name__}.{head_name} is not an nn.Linear (got {type(head).__name__}); "
            "pass head_name= naming the final linear layer"
        )
    n_out = head.out_features if num_classes is None else int(num_classes)
    if n_out < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if replace_head:
        new_head = nn.Linear(head.in_features, n_out, bias=head.bias is not None).to(
            device=head.weight.device, dtype=head.weight.dtype)
        setattr(model, head_name, new_head)
        config = getattr(model, "_config", None)
        if isinstance(config, dict) and "num_classes" in config:
            config["num_classes"] = n_out  # keep model.config able to rebuild the new shape
    elif n_out != head.out_features:
        raise ValueError(
            f"prepare_transfer: the kept head has {head.out_features} outputs but num_classes={n_out}; "
            "use replace_head=True"
        )
    names = [n for n, _ in model.named_parameters()]
    if trainable == "all":
        prefixes: list[str] | None = None
    elif trainable == "head":
        prefixes = [head_name]
    elif isinstance(trainable, str):
        raise ValueError(f"trainable must be 'all', 'head' or a list of module-name prefixes, got {trainable!r}")
    else:
        prefixes = list(trainable)
        for p in prefixes:
            if not any(n == p or n.startswith(p + ".") for n in names):
                top = sorted({n.split(".")[0] for n in names})
                raise ValueError(f"trainable prefix {p!r} matches no parameter; top-level modules: {top}")
    for name, param in model.named_parameters():
        param.requires_grad_(prefixes is None or any(name == p or name.startswith(p + ".") for p in prefixes))
    if replace_head:
        for param in getattr(model, head_name).parameters():
            param.requires_grad_(True)
    model.train()
    return model


# --- from a manifest --------------------------------------------------------------------------------


def train_from_manifest(
    manifest_path: str | os.PathLike[str],
    model_name: str,
    recipe_name: str | Recipe = "quick",
    out_checkpoint: str | os.PathLike[str] | None = None,
    size: int | None = None,
    channels: int | None = None,
    train_split: str = "train",
    val_split: str | None = "val",
    *,
    model_args: Mapping[str, Any] | None = None,
    init_from: str | os.PathLike[str] | None = None,
    trainable: str | Sequence[str] = "all",
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    resume: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None | bool = None,
    checkpoint_every_steps: int | None = None,
    notes: str = "",
    command: str | None = None,
    **overrides: Any,
) -> FitResult:
    """Train a registered model on a manifest's splits and save the checkpoint (the CLI's ``train``).

    Builds the model (``create_model(model_name, num_classes=len(label space), in_chans=channels,
    **model_args)``, Gaussian-initialised when ``recipe.init_std`` is set), or starts from the
    checkpoint ``init_from`` (transfer: the head is replaced when the label space differs and
    ``trainable`` chooses what learns). Datasets are :class:`~fer_explain.data.dataset.FaceDataset`
    at the model's input size and channels (``size``/``channels`` override), with the recipe's
    transform (``train=True`` for the training split, ``False`` for validation) and normalisation.
    ``overrides`` are recipe fields (``epochs=2``...).
    """
    from fer_explain.data.dataset import FaceDataset
    from fer_explain.data.manifest import Manifest
    from fer_explain.data.transforms import get_transform
    from fer_explain.models import create_model, init_gaussian_

    recipe = get_recipe(recipe_name, **overrides)
    manifest = Manifest.load(manifest_path)
    space = manifest.label_space
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        if init_from is not None:
            model, meta = ckpt.load_checkpoint(init_from)
            same = tuple(meta.get("classes") or ()) == space.classes
            model = prepare_transfer(model, num_classes=len(space), replace_head=not same, trainable=trainable)
        else:
            model = create_model(model_name, num_classes=len(space), in_chans=channels, **dict(model_args or {}))
            if recipe.init_std is not None:
                init_gaussian_(model, std=recipe.init_std)
    spec = model.input_spec
    size = spec.size if size is None else int(size)
    channels = spec.channels if channels is None else int(channels)

    train_m = manifest.select(split=train_split)
    if len(train_m) == 0:
        raise ValueError(f"{manifest_path}: no rows in split {train_split!r}; splits: {sorted(manifest.df['split'].unique())}")
    val_m = manifest.select(split=val_split) if val_split else None
    if val_m is not None and len(val_m) == 0:
        warnings.warn(f"{manifest_path}: no rows in split {val_split!r}: training without validation", stacklevel=2)
        val_m = None

    if recipe.normalization == "model":
        normalize: tuple[Any, Any] | None = (list(spec.mean), list(spec.std))
    elif recipe.normalization == "dataset":
        stats_ds = FaceDataset(train_m, size=size, channels=channels, cache_dir=cache_dir, progress=progress)
        normalize = stats_ds.channel_stats()
    else:
        normalize = None
    opts = dict(recipe.transform_options)
    train_ds = FaceDataset(train_m, size=size, channels=channels, cache_dir=cache_dir, normalize=normalize,
                           transform=get_transform(recipe.transform, size, train=True, **opts), progress=progress)
    val_ds = None if val_m is None else FaceDataset(
        val_m, size=size, channels=channels, cache_dir=cache_dir, normalize=normalize,
        transform=get_transform(recipe.transform, size, train=False, **opts), progress=progress)
    if cache_dir is not False:  # decode every image once; later epochs read the memory-mapped cache
        for ds in (train_ds, val_ds):
            if ds is not None:
                ds.build_cache(progress=progress)
    mean, std = normalize if normalize is not None else ([0.0] * channels, [1.0] * channels)
    meta = {
        "manifest_hash": manifest.content_hash(),
        "notes": notes,
        # what the model was really trained on (may differ from its input_spec's defaults)
        "input": {"size": size, "channels": channels, "mean": [float(v) for v in mean],
                  "std": [float(v) for v in std], "normalization": recipe.normalization},
        "extra": {
            "manifest": str(manifest_path),
            "train_split": train_split,
            "val_split": val_split if val_m is not None else None,
            "init_from": str(init_from) if init_from is not None else None,
            "command": command,
        },
    }
    return fit(model, train_ds, val_ds, recipe=recipe, device=device, checkpoint_path=out_checkpoint, resume=resume,
               progress=progress, num_workers=num_workers, checkpoint_every_steps=checkpoint_every_steps,
               classes=space, checkpoint_meta=meta)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    split: str | None = "test",
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    cache_dir: str | os.PathLike[str] | None | bool = None,
    progress: bool = True,
) -> EvalResult:
    """Evaluate a saved checkpoint on a manifest split (the CLI's ``evaluate``).

    The images are prepared as the checkpoint says (``meta["input"]``: size, channels, mean/std),
    with the recipe's evaluation transform; when the manifest's label space differs from the
    checkpoint's classes (e.g. a dataset without "neutral"), probabilities are projected into the
    manifest's space (see :func:`evaluate`).
    """
    from fer_explain.data.dataset import FaceDataset
    from fer_explain.data.manifest import Manifest
    from fer_explain.data.transforms import get_transform

    model, meta = ckpt.load_checkpoint(checkpoint, device=device)
    manifest = Manifest.load(manifest_path)
    if split is not None:
        manifest = manifest.select(split=split)
    if len(manifest) == 0:
        raise ValueError(f"{manifest_path}: no rows in split {split!r}")
    info = meta.get("input") or {}
    spec = getattr(model, "input_spec", None)
    size = int(info.get("size", spec.size if spec else 48))
    channels = int(info.get("channels", spec.channels if spec else 1))
    normalize = (info["mean"], info["std"]) if "mean" in info and "std" in info else None
    recipe = meta.get("recipe") or {}
    transform = get_transform(recipe.get("transform", "none"), size, train=False, **recipe.get("transform_options", {}))
    ds = FaceDataset(manifest, size=size, channels=channels, cache_dir=cache_dir, normalize=normalize,
                     transform=transform, progress=progress)
    return evaluate(model, ds, batch_size=batch_size, device=device, label_space=meta.get("classes"),
                    target_space=manifest.label_space, num_workers=num_workers, progress=progress)
