"""Region training (seed 002, Tables 5-6): one model per face region, trained and tested on
region-only inputs (padded or square-cropped), and the padding comparison; seed 002's FER+ protocol.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset
from tqdm.auto import tqdm

from fer_explain.data.transforms import evaluation_view
from fer_explain.faces.regions import (
    DEFAULT_MARGIN,
    DEFAULT_REGION_SET,
    Margin,
    get_region,
)

if TYPE_CHECKING:
    from fer_explain.data.manifest import Manifest
    from fer_explain.train.recipes import Recipe

from fer_explain.analysis.region_inputs import (
    REGION_VARIANTS,
    SEED002_REGIONS,
    AugmentedRegionDataset,
    FaceArrays,
    batched_region_inputs,
    face_arrays,
    normalize_inputs,
)

__all__ = ["compare_padding", "seed002_protocol", "train_region_models"]

# --------------------------------------------------------------------------- training per region
def seed002_protocol(manifest: Manifest) -> tuple[Manifest, Manifest]:
    """Seed 002's FER+ split: train = Training + PublicTest, test = PrivateTest, contempt dropped.

    ``manifest`` is a FER+ manifest (:func:`fer_explain.data.sources.ferplus`) whose ``split``
    column holds ``train`` / ``publictest`` / ``privatetest``. Returns ``(train, test)`` manifests
    in the basic7 label space, with ``split`` rewritten to ``"train"`` / ``"test"`` and the original
    value kept in ``original_split``. (The > 50 % vote-majority filter of the paper is the FER+
    adapter's majority rule, already applied when the manifest was built.)
    """
    need = {"train", "publictest", "privatetest"}
    present = set(manifest.df["split"].astype(str).unique())
    if not need <= present:
        raise ValueError(f"seed002_protocol needs splits {sorted(need)} (FER+/FER2013 Usage), "
                         f"manifest {manifest.name or '(unnamed)'!r} has {sorted(present)}")
    m7 = manifest.with_label_space("basic7")
    out = []
    for splits, name in ((("train", "publictest"), "train"), (("privatetest",), "test")):
        part = m7.select(split=list(splits))
        df = part.df.copy()
        df["original_split"] = df["split"]
        df["split"] = name
        out.append(part.replace(df))
    return out[0], out[1]


def _split_pair(data: Any, train_split: str | Sequence[str], test_split: str | Sequence[str], size: int | None,
                channels: int, cache_dir: Any, progress: bool) -> tuple[FaceArrays, FaceArrays]:
    from fer_explain.data.manifest import Manifest

    if isinstance(data, Manifest):
        return (face_arrays(data, size, channels, split=train_split, cache_dir=cache_dir, progress=progress),
                face_arrays(data, size, channels, split=test_split, cache_dir=cache_dir, progress=progress))
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return (face_arrays(data[0], size, channels, cache_dir=cache_dir, progress=progress),
                face_arrays(data[1], size, channels, cache_dir=cache_dir, progress=progress))
    raise TypeError("data must be a Manifest (with train/test splits) or a (train, test) pair of Manifests, "
                    f"SyntheticBatches or FaceArrays; got {type(data).__name__}")


def _channel_stats(x: Tensor) -> tuple[list[float], list[float]]:
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean.tolist(), std.tolist()


def train_region_models(
    data: Any,
    regions: Sequence[str] = SEED002_REGIONS,
    variant: str = "pad",
    model_name: str = "deep_emotion",
    recipe: Recipe | str = "quick",
    *,
    size: int | None = None,
    channels: int = 1,
    model_args: Mapping[str, Any] | None = None,
    region_set: str = DEFAULT_REGION_SET,
    margin: Margin = DEFAULT_MARGIN,
    normalize: bool = True,
    val_fraction: float = 0.0,
    train_split: str | Sequence[str] = "train",
    test_split: str | Sequence[str] = "test",
    device: str | torch.device = "cpu",
    cache_dir: Any = False,
    progress: bool = True,
    val_data: FaceArrays | None = None,
    augment: bool = False,
    runs: int | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every_steps: int | None = None,
    **recipe_overrides: Any,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Seed 002's region experiment: one model per region, trained and tested on that region only.

    Args:
        data: a :class:`~fer_explain.data.manifest.Manifest` (``train_split`` / ``test_split`` are
            used; see :func:`seed002_protocol` for FER+), or a ``(train, test)`` pair of Manifests,
            SyntheticBatches or :class:`FaceArrays`.
        regions: region names of ``region_set`` (default the paper's seven).
        variant: ``"pad"`` (seed 002), ``"square_crop"`` (Table 5's non-padding), ``"resize"`` or
            ``"keep"`` (see :func:`region_inputs`).
        model_name: a registered model (``fer_explain.models.list_models()``), built with
            ``create_model(model_name, num_classes=len(classes), in_chans=C, **model_args)`` and
            seeded with ``recipe.seed`` (every region starts from the same initial weights).
        recipe: a :class:`~fer_explain.train.recipes.Recipe` or its name; ``recipe_overrides``
            change its fields (``epochs=3``...). Training inputs are the precomputed region inputs
            (the recipe's image transform is not applied).
        size: input side (default the images' own size; for a Manifest, 48).
        normalize: standardise each channel with the mean/std of that region's training inputs
            (seed 002's per-channel normalisation).
        val_fraction: hold out this stratified share of the training faces as the validation set
            (early stopping / best epoch); 0 trains on all of them without validation.
        device, progress: where to train; one progress bar over the regions (the epochs' bars when
            there is one region).
        val_data: the validation faces as :class:`FaceArrays` (instead of ``val_fraction``).
        augment: seed 002's training augmentation on the region inputs (:class:`AugmentedRegionDataset`:
            a random square of the region for ``"square_crop"``, then a random square crop + flip),
            and its centre-crop evaluation view on validation and test inputs. ``"pad"`` and
            ``"square_crop"`` only.
        runs: independent runs per region (default ``recipe.runs``), run ``i`` seeded ``recipe.seed + i``
            (model initialisation and training). The run with the best validation score is the
            region's result (the last epoch's score without validation); every run's test accuracy
            is kept too.
        checkpoint_dir: save each region's model there (``<variant>_<region>.run<i>`` per run and
            ``<variant>_<region>`` for the selected run, with :func:`fer_explain.train.fit`'s exact
            resume state every ``checkpoint_every_steps`` steps); an interrupted call with the same
            arguments resumes each run where it stopped.

    Returns:
        ``(table, confusions)``: ``table`` indexed by ``region`` (in the given order) with columns
        ``accuracy`` (the selected run), ``loss`` (its mean NLL), ``accuracy_mean`` and ``accuracy_sd``
        over the runs, ``accuracy_best_of_runs`` (the best test accuracy: the paper's selection, made
        on the test set), ``runs``, ``selected_run``, ``n_train``, ``n_val``, ``n_test``, ``variant``,
        ``model``, ``epochs``, ``train_seconds`` (all runs); ``confusions`` maps each region to the
        selected run's ``C x C`` count matrix (rows true class, columns predicted; Fig. 7).
    """
    from fer_explain.models import create_model
    from fer_explain.train import evaluate, get_recipe
    from fer_explain.train.repeated import fit_repeated

    if variant not in REGION_VARIANTS:
        raise ValueError(f"variant must be one of {REGION_VARIANTS}, got {variant!r}")
    if augment and variant not in ("pad", "square_crop"):
        raise ValueError(f"augment=True needs variant 'pad' or 'square_crop' (seed 002's), got {variant!r}")
    for r in regions:
        get_region(r, region_set)
    rec = get_recipe(recipe, **recipe_overrides)
    n_runs = rec.runs if runs is None else int(runs)
    if n_runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs!r}")
    train, test = _split_pair(data, train_split, test_split, size, channels, cache_dir, progress)
    if train.classes != test.classes:
        raise ValueError(f"train and test label spaces differ: {train.classes} vs {test.classes}")
    classes = train.classes
    if val_data is not None:
        if val_data.classes != classes:
            raise ValueError(f"train and validation label spaces differ: {classes} vs {val_data.classes}")
        if val_fraction > 0:
            raise ValueError("pass val_data= or val_fraction=, not both")
    elif val_fraction > 0:
        from fer_explain.data.splits import subsample_indices

        n_val = max(1, round(val_fraction * len(train)))
        val_idx = subsample_indices(len(train), n_val, train.labels, seed=rec.seed)
        keep = np.setdiff1d(np.arange(len(train)), val_idx)
        train, val_data = train.subset(keep), train.subset(val_idx)
    out_hw = size if size is not None else int(train.images.shape[-1])
    view = evaluation_view("seed002", int(out_hw)).transform() if augment else None
    rows, confusions = [], {}
    bar = tqdm(list(regions), desc=f"region models ({variant})", disable=not progress)
    for region in bar:
        bar.set_postfix_str(region)

        def inputs(faces: FaceArrays, v: str = variant, region: str = region) -> Tensor:
            return batched_region_inputs(faces.images, faces.landmarks, region, v, size, region_set, margin, "zero", 0.0)

        xtr = inputs(train)
        stats = _channel_stats(xtr) if normalize else None

        def held_out(faces: FaceArrays, stats: Any = stats) -> TensorDataset:
            x = inputs(faces)
            if view is not None:
                x = view(x)
            return TensorDataset(normalize_inputs(x, stats), torch.as_tensor(np.array(faces.labels)))

        if augment:
            train_ds: Dataset = AugmentedRegionDataset(train, region, variant, out_hw, region_set=region_set,
                                                       margin=margin, normalize=stats,
                                                       base=xtr if variant == "pad" else None)
        else:
            train_ds = TensorDataset(normalize_inputs(xtr, stats), torch.as_tensor(np.array(train.labels)))
        del xtr
        val_ds = held_out(val_data) if val_data is not None else None
        test_ds = held_out(test)
        in_chans = int(train.images.shape[1])

        def model_fn(i: int, in_chans: int = in_chans) -> torch.nn.Module:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(rec.seed + i)
                m = create_model(model_name, num_classes=len(classes), in_chans=in_chans, **dict(model_args or {}))
            return m.to(device)

        saving: dict[str, Any] = {}
        if checkpoint_dir is not None:
            Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
            saving = {"checkpoint_path": Path(checkpoint_dir) / f"{variant}_{region}", "resume": True,
                      "checkpoint_every_steps": checkpoint_every_steps,
                      "checkpoint_meta": {"extra": {"region": region, "variant": variant, "region_set": region_set,
                                                    "normalization": stats}}}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no resume state.*")
            rep = fit_repeated(model_fn, train_ds, val_ds, recipe=rec, runs=n_runs, device=device,
                               progress=progress and len(regions) == 1, classes=classes, **saving)
        evs = [evaluate(r.model, test_ds, device=device, label_space=classes, target_space=classes)
               for r in rep.results]
        sel = rep.best_index if val_ds is not None else len(evs) - 1
        accs = np.array([e.accuracy for e in evs], dtype=np.float64)
        confusions[region] = evs[sel].confusion
        rows.append({"region": region, "accuracy": float(accs[sel]), "loss": evs[sel].loss,
                     "accuracy_mean": float(accs.mean()),
                     "accuracy_sd": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
                     "accuracy_best_of_runs": float(accs.max()), "runs": n_runs, "selected_run": sel,
                     "n_train": len(train_ds), "n_val": 0 if val_ds is None else len(val_ds), "n_test": len(test_ds),
                     "variant": variant, "model": model_name,
                     "epochs": len(rep.results[sel].history),
                     "train_seconds": float(sum(r.seconds for r in rep.results))})
        bar.set_postfix_str(f"{region}: {accs[sel]:.3f}")
    return pd.DataFrame(rows).set_index("region"), confusions


def compare_padding(
    data: Any,
    regions: Sequence[str] = SEED002_REGIONS,
    variants: Sequence[str] = ("square_crop", "pad"),
    **kwargs: Any,
) -> pd.DataFrame:
    """Seed 002 Table 5: region accuracy with and without padding, one column per variant.

    Runs :func:`train_region_models` once per variant (``kwargs`` are passed on) and returns a
    DataFrame indexed by ``region`` with one accuracy column per variant (``square_crop`` is the
    paper's "non-padding", ``pad`` its "padding") and ``n_test``.
    """
    # decode once, not once per variant
    data = _split_pair(data, kwargs.pop("train_split", "train"), kwargs.pop("test_split", "test"), kwargs.get("size"),
                       kwargs.get("channels", 1), kwargs.get("cache_dir", False), kwargs.get("progress", True))
    cols: dict[str, pd.Series] = {}
    n_test = None
    for v in variants:
        table, _ = train_region_models(data, regions=regions, variant=v, **kwargs)
        cols[v] = table["accuracy"]
        n_test = table["n_test"]
    out = pd.DataFrame(cols)
    out["n_test"] = n_test
    out.index.name = "region"
    out.columns.name = None
    return out


