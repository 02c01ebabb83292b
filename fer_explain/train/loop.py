"""The training loop: ``fit`` with early stopping and best-epoch weights, and ``evaluate``.

``fit`` trains any ``nn.Module`` on any map-style dataset whose items are ``(x, y)`` (or
``(x, y, index)``, or dicts with ``image``/``label``), following a
:class:`~fer_explain.train.recipes.Recipe`::

    from fer_explain.train import fit, evaluate, get_recipe
    result = fit(model, train_ds, val_ds, recipe=get_recipe("quick", epochs=5), checkpoint_path="ckpt/run")
    result.history            # one row per epoch: train_loss, train_acc, val_loss, val_acc, lr, seconds
    evaluate(result.model, test_ds).accuracy

Every epoch ends with validation, a history row, the scheduler step and early stopping
(``recipe.monitor``, ``recipe.early_stopping_patience``, ``recipe.time_budget_minutes``); with
``recipe.keep_best`` the model ends with the best epoch's weights.

Reproducibility
---------------
Every run is seeded from ``recipe.seed``: torch's, numpy's and Python's global generators are
seeded inside a scope that restores their previous states when ``fit`` returns (``fit`` leaves the
caller's random streams as it found them), and the sample order of each epoch is drawn from a
dedicated ``torch.Generator``. On CPU with ``num_workers=0`` two runs with the same seed give
bit-identical weights; ``deterministic=True`` additionally calls
``torch.use_deterministic_algorithms(True)`` for the run (restored afterwards).

With ``checkpoint_path`` the resume state is saved at every epoch end and every
``checkpoint_every_steps`` optimizer steps and ``fit(..., resume=True)`` continues from it exactly
(see :mod:`fer_explain.train.resume`); ``stop_after_steps`` simulates a crash: it saves the state and
returns. Under ``torchrun`` ``fit`` trains with DistributedDataParallel (see
:mod:`fer_explain.train.distributed`).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from fer_explain.confusion import normalize_rows
from fer_explain.labels import LabelSpace, get_label_space, project_probabilities
from fer_explain.train import checkpoint as ckpt
from fer_explain.train.batches import (
    dataset_label_space,
    dataset_labels,
    flatten_crops,
    model_label_space,
    num_outputs,
    unpack_batch,
)
from fer_explain.train.distributed import DistInfo, all_reduce_sum, local_positions, setup_distributed
from fer_explain.train.optim import build_optimizer, build_scheduler, training_loss
from fer_explain.train.recipes import Recipe, get_recipe
from fer_explain.train.resume import TrainState, load_training_state, save_training_state

__all__ = ["HISTORY_COLUMNS", "EvalResult", "FitResult", "evaluate", "fit"]

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
        return normalize_rows(self.confusion)

    def per_class_table(self) -> pd.DataFrame:
        """A table of per-class support and accuracy."""
        names = self.classes or tuple(str(i) for i in range(len(self.per_class_accuracy)))
        return pd.DataFrame(
            {"class": names, "support": self.confusion.sum(axis=1), "accuracy": self.per_class_accuracy}
        )


# --- small helpers ----------------------------------------------------------------------------------


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


# --- fit --------------------------------------------------------------------------------------------


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


def _epoch_order(n: int, recipe: Recipe, gen: torch.Generator, sample_weights: torch.Tensor | None) -> torch.Tensor:
    if sample_weights is not None:
        return torch.multinomial(sample_weights, n, replacement=True, generator=gen)
    if recipe.shuffle:
        return torch.randperm(n, generator=gen)
    return torch.arange(n)


@dataclass(frozen=True)
class _FitRun:
    """The settings of one :func:`fit` call, resolved and validated (what ``_fit`` and ``_finish_epoch`` read)."""

    recipe: Recipe
    device: torch.device
    checkpoint_path: str | os.PathLike[str] | None
    resume: bool
    progress: bool
    num_workers: int
    max_steps: int | None
    stop_after_steps: int | None
    checkpoint_every_steps: int | None
    classes: Any  # the label order stored in the checkpoint
    checkpoint_meta: Mapping[str, Any]  # more save_checkpoint keyword arguments
    eval_batch_size: int
    dist: DistInfo
    local_batch_size: int  # the per-process share of recipe.batch_size
    n_train: int


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
            (``fit`` never re-initialises what it is given;
            :func:`~fer_explain.train.pipeline.train_from_manifest` does).
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
    recipe = get_recipe(recipe)
    device = torch.device(device)
    if checkpoint_every_steps is not None and checkpoint_every_steps < 1:
        raise ValueError(f"checkpoint_every_steps must be >= 1, got {checkpoint_every_steps}")
    if checkpoint_path is None and (resume or checkpoint_every_steps):
        raise ValueError("resume=True and checkpoint_every_steps need checkpoint_path")
    dist_info = setup_distributed(device)
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
        classes = dataset_label_space(train_ds)
    run = _FitRun(
        recipe=recipe, device=device, checkpoint_path=checkpoint_path, resume=resume, progress=progress,
        num_workers=num_workers, max_steps=max_steps, stop_after_steps=stop_after_steps,
        checkpoint_every_steps=checkpoint_every_steps, classes=classes, checkpoint_meta=checkpoint_meta or {},
        eval_batch_size=eval_batch_size, dist=dist_info, local_batch_size=local_bs, n_train=n_train,
    )
    with _rng_scope(recipe.seed + dist_info.rank, device), _deterministic(deterministic):
        return _fit(model, train_ds, val_ds, run)


def _fit(model: nn.Module, train_ds: Dataset, val_ds: Dataset | None, run: _FitRun) -> FitResult:
    recipe, device, dist_info, n_train = run.recipe, run.device, run.dist, run.n_train
    checkpoint_path = run.checkpoint_path
    model.to(device)
    num_classes = num_outputs(model)
    labels = None
    if recipe.class_weighted_loss or recipe.oversample:
        labels = dataset_labels(train_ds, progress=run.progress and dist_info.is_main)
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

    state = TrainState()
    best_state: dict[str, torch.Tensor] | None = None
    if run.resume:
        loaded = load_training_state(checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                                     shuffle_gen=shuffle_gen, recipe=recipe, n_train=n_train,
                                     world_size=dist_info.world_size)
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
            save_training_state(checkpoint_path, model=model, best_state=best_state, optimizer=optimizer,
                                scheduler=scheduler, shuffle_gen=shuffle_gen, state=state, recipe=recipe,
                                n_train=n_train, world_size=dist_info.world_size)

    epoch_bar = tqdm(total=recipe.epochs, initial=state.epoch, desc="epochs", unit="epoch",
                     disable=not (run.progress and main), leave=True)
    interrupted = False
    try:
        while not state.finished and state.epoch < recipe.epochs:
            if state.order is None:
                state.order = _epoch_order(n_train, recipe, shuffle_gen, sample_weights)
            positions = local_positions(n_train, dist_info)
            local = state.order[torch.as_tensor(positions, dtype=torch.long)].tolist()
            bs = run.local_batch_size
            batches = [local[i:i + bs] for i in range(0, len(local), bs)]
            remaining = batches[state.batch:]
            loader = DataLoader(
                train_ds,
                batch_sampler=remaining,
                num_workers=run.num_workers,
                # a dedicated generator: creating the loader's iterator must not draw from torch's
                # global RNG (that would break exact resume) and workers get reproducible seeds
                generator=torch.Generator().manual_seed(recipe.seed * 1_000_003 + state.epoch * 10_007 + state.batch),
                pin_memory=device.type == "cuda",
            )
            train_model.train()
            t0 = time.perf_counter()
            batch_bar = tqdm(loader, total=len(remaining), desc=f"epoch {state.epoch + 1}", unit="batch",
                             disable=not (run.progress and main), leave=False)
            for batch in batch_bar:
                x, y = unpack_batch(batch)
                x, y = flatten_crops(x.to(device, non_blocking=True), y.to(device, non_blocking=True).long())
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
                if main and run.progress:
                    batch_bar.set_postfix(loss=f"{state.loss_sum / state.count:.4f}",
                                          acc=f"{state.correct / state.count:.3f}")
                stop_now = run.stop_after_steps is not None and state.step == run.stop_after_steps
                at_max = run.max_steps is not None and state.step >= run.max_steps
                if run.checkpoint_every_steps and state.step % run.checkpoint_every_steps == 0 or stop_now:
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
            _finish_epoch(state, model, val_ds, optimizer, scheduler, run)
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
            ckpt.save_checkpoint(checkpoint_path, model, classes=run.classes, recipe=recipe, history=history,
                                 training_seconds=state.total_seconds, **dict(run.checkpoint_meta))
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
    state: TrainState,
    model: nn.Module,
    val_ds: Dataset | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    run: _FitRun,
) -> None:
    """Validation, history row, scheduler and early stopping at the end of an epoch."""
    recipe, max_steps = run.recipe, run.max_steps
    loss_sum, correct, count = all_reduce_sum([state.loss_sum, state.correct, state.count], run.dist, run.device)
    train_loss = loss_sum / max(count, 1)
    train_acc = correct / max(count, 1)
    val_loss = val_acc = float("nan")
    eval_start = time.perf_counter()
    if val_ds is not None:
        ev = evaluate(model, val_ds, batch_size=run.eval_batch_size, device=run.device)
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
    source = model_label_space(model, label_space)
    target = get_label_space(target_space) if target_space is not None else (dataset_label_space(ds) or source)
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
            x, y = unpack_batch(batch)
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
    probs = torch.cat(probs_list) if probs_list else torch.zeros(0, num_outputs(model) or 0)
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

