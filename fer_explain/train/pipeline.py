"""From a manifest to a checkpoint and back: ``train_from_manifest`` and ``evaluate_checkpoint`` (the CLI's train / evaluate).

``train_from_manifest`` reads a :class:`~fer_explain.data.manifest.Manifest`, builds the model (or
starts from a checkpoint, see :mod:`fer_explain.train.transfer`), builds
:class:`~fer_explain.data.dataset.FaceDataset` training / validation sets at the model's input
size with the recipe's transform and normalisation, trains with :func:`~fer_explain.train.loop.fit`
(``recipe.runs`` seeded runs, best kept, with :func:`~fer_explain.train.repeated.fit_repeated`) and
saves the checkpoint with what the model was really trained on. ``evaluate_checkpoint`` prepares a
manifest split as a checkpoint's metadata says and evaluates it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from fer_explain.train import checkpoint as ckpt
from fer_explain.train.loop import EvalResult, FitResult, evaluate, fit
from fer_explain.train.recipes import Recipe, get_recipe
from fer_explain.train.repeated import fit_repeated
from fer_explain.train.transfer import prepare_transfer

__all__ = ["evaluate_checkpoint", "train_from_manifest"]


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

    With ``recipe.runs > 1`` (e.g. seed 002's five runs) the model is trained ``runs`` times with
    seeds ``seed, seed + 1, ...`` (each built, or transferred, under its own seed) by
    :func:`~fer_explain.train.repeated.fit_repeated`: run ``i`` is saved as
    ``<out_checkpoint>.run<i>``, the run with the best ``recipe.monitor`` value as
    ``out_checkpoint``, whose metadata ``extra`` holds every run's best value (``scores``), their
    ``mean`` and ``std``, and ``best_run`` (``scores[best_run]`` is the best of N). The best run's
    :class:`FitResult` is returned.
    """
    from fer_explain.data.dataset import FaceDataset
    from fer_explain.data.manifest import Manifest
    from fer_explain.data.transforms import get_transform
    from fer_explain.models import create_model, init_gaussian_

    recipe = get_recipe(recipe_name, **overrides)
    manifest = Manifest.load(manifest_path)
    space = manifest.label_space

    def build_model(seed: int) -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if init_from is not None:
                model, meta = ckpt.load_checkpoint(init_from)
                same = tuple(meta.get("classes") or ()) == space.classes
                return prepare_transfer(model, num_classes=len(space), replace_head=not same, trainable=trainable)
            model = create_model(model_name, num_classes=len(space), in_chans=channels, **dict(model_args or {}))
            if recipe.init_std is not None:
                init_gaussian_(model, std=recipe.init_std)
            return model

    model = build_model(recipe.seed)
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
    fit_kwargs: dict[str, Any] = {
        "device": device, "resume": resume, "progress": progress, "num_workers": num_workers,
        "checkpoint_every_steps": checkpoint_every_steps, "classes": space, "checkpoint_meta": meta,
    }
    if recipe.runs == 1:
        return fit(model, train_ds, val_ds, recipe=recipe, checkpoint_path=out_checkpoint, **fit_kwargs)
    # run i trains with seed recipe.seed + i (fit_repeated's rule), so its model is built under that seed too
    repeated = fit_repeated(lambda i: model if i == 0 else build_model(recipe.seed + i), train_ds, val_ds,
                            recipe=recipe, checkpoint_path=out_checkpoint, **fit_kwargs)
    return repeated.best


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
    tta: str | None = None,
) -> EvalResult:
    """Evaluate a saved checkpoint on a manifest split (the CLI's ``evaluate``).

    ``tta`` (``"flip"`` or ``"tencrop"``; :meth:`~fer_explain.data.transforms.EvalView.tta_transform`) is
    test-time augmentation for this reported score only: ``evaluate`` averages the views' probabilities.
    Every explanation path feeds the single evaluation view.

    The images are prepared by :class:`~fer_explain.train.inputs.CheckpointInput` (size, channels,
    mean/std and the evaluation view: the same tensors every explanation path uses); when the manifest's label space differs from the
    checkpoint's classes (e.g. a dataset without "neutral"), probabilities are projected into the
    manifest's space (see :func:`evaluate`).
    """
    from fer_explain.data.manifest import Manifest
    from fer_explain.train.inputs import CheckpointInput

    model, meta = ckpt.load_checkpoint(checkpoint, device=device)
    manifest = Manifest.load(manifest_path)
    if split is not None:
        manifest = manifest.select(split=split)
    if len(manifest) == 0:
        raise ValueError(f"{manifest_path}: no rows in split {split!r}")
    inp = CheckpointInput.from_checkpoint({**meta, "path": str(checkpoint)}, model)
    ds = inp.dataset(manifest, cache_dir=cache_dir, progress=progress, tta=tta)
    return evaluate(model, ds, batch_size=batch_size, device=device, label_space=meta.get("classes"),
                    target_space=manifest.label_space, num_workers=num_workers, progress=progress)
