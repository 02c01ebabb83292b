"""Face-region contribution (seed 002, Tables 5-6 and Fig. 7) and left/right asymmetry (seed 001).

Two ways to ask "how much of the expression does a region carry":

* **one model per region** (seed 002's protocol, :func:`train_region_models`): every model is
  trained *and* tested on region-only inputs (the region's bounding box padded to a square, as in
  the paper, or cropped to a square -- Table 5's "non-padding" column), so a region's accuracy says
  how well the expression can be recognised from that region alone. :func:`compare_padding` runs
  both variants side by side (Table 5).
* **one whole-face model, masked inputs** (the cheap variant, :func:`evaluate_region_occlusion`):
  the model is evaluated on faces where only a region is kept (``mode="keep"``) or a region is
  removed (``mode="remove"``). No retraining, but masked faces are out of the training
  distribution, so accuracies are lower bounds.

Inputs are plain arrays: :class:`FaceArrays` holds ``images`` ``(N, C, H, W)`` float in ``[0, 1]``
(*before* any normalisation, so a removed pixel is black), ``landmarks`` ``(N, 68, 2)`` in those
images' pixel coordinates and integer ``labels``. :func:`face_arrays` builds one from a
:class:`~fer_explain.data.manifest.Manifest` (landmarks are mapped from the original image into the
decoded ``size x size`` face with :func:`dataset_landmarks`), a synthetic
:class:`~fer_explain.data.synthetic.SyntheticBatch`, or a ``(images, landmarks, labels)`` tuple.

Seed 002's protocol on FER+ (Section 3.1): the training set is FER's Training + PublicTest
splits, the test set is PrivateTest, samples without a > 50 % vote majority are dropped (the FER+
adapter's majority rule already does that) and contempt is ignored in the region experiments
(Section 4.2). :func:`seed002_protocol` does exactly that on a FER+ manifest.

Margins: at 48 x 48 a closed mouth can be thinner than a pixel, so its landmark hull may contain no
pixel centre at all and the region would be empty. Every function here therefore grows the region
hulls by ``margin="5%"`` of the face size by default (about 1.3 px on a FER2013 face); pass
``margin=0`` for the bare hulls.

Example::

    from fer_explain.analysis.regions import face_arrays, train_region_models, plot_region_contribution
    train, test = face_arrays(train_manifest, size=48), face_arrays(test_manifest, size=48)
    table, confusions = train_region_models((train, test), variant="pad", model_name="deep_emotion",
                                            recipe=get_recipe("seed002", epochs=30))
    plot_region_contribution(table, chance=1 / 7)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset
from tqdm.auto import tqdm

from fer_explain.faces.landmarks import dataset_landmarks
from fer_explain.faces.regions import (
    CROP_MODES,
    DEFAULT_MARGIN,
    DEFAULT_REGION_SET,
    Margin,
    crop_region,
    get_region,
    keep_region,
    remove_region,
)

if TYPE_CHECKING:
    from fer_explain.data.manifest import Manifest
    from fer_explain.train.recipes import Recipe

__all__ = [
    "DEFAULT_MARGIN",
    "REGION_VARIANTS",
    "SEED002_REGIONS",
    "FaceArrays",
    "RegionDataset",
    "compare_padding",
    "dataset_landmarks",
    "evaluate_region_occlusion",
    "face_arrays",
    "left_right_asymmetry",
    "plot_region_contribution",
    "region_inputs",
    "seed002_protocol",
    "train_region_models",
]

SEED002_REGIONS: tuple[str, ...] = ("mouth", "nose", "eyes", "nose_mouth", "nose_eyes", "mouth_eyes", "face")
"""The seven regions of seed 002's Tables 4-6, in the paper's order."""

REGION_VARIANTS: tuple[str, ...] = ("keep", *CROP_MODES)
"""``"keep"`` (the region in place, the rest set to a baseline) and the crop modes of
:func:`fer_explain.faces.regions.crop_region`: ``"pad"``, ``"square_crop"``, ``"resize"``."""



# --------------------------------------------------------------------------- inputs
def _size_tuple(size: int | Sequence[int] | None, x: Tensor) -> tuple[int, int]:
    if size is None:
        return int(x.shape[-2]), int(x.shape[-1])
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = (int(v) for v in size)
    return h, w


def region_inputs(
    x: Tensor,
    landmarks: Any,
    region: str,
    variant: str = "pad",
    size: int | Sequence[int] | None = None,
    region_set: str = DEFAULT_REGION_SET,
    margin: Margin = DEFAULT_MARGIN,
    baseline: str | float | Tensor = "zero",
    fill: float = 0.0,
) -> Tensor:
    """Region-only inputs of a batch: a thin dispatcher over :mod:`fer_explain.faces.regions`.

    Args:
        x: ``(N, C, H, W)`` float images, best in ``[0, 1]`` before normalisation (so the baseline
            or fill ``0`` is black, as in seed 002).
        landmarks: ``(N, 68, 2)`` in ``x``'s pixel coordinates.
        region: a region name of ``region_set`` (e.g. ``"mouth"``, ``"nose_eyes"``).
        variant: ``"keep"`` (:func:`~fer_explain.faces.regions.keep_region`: the region stays in
            place, every other pixel takes ``baseline``), or a crop mode of
            :func:`~fer_explain.faces.regions.crop_region`: ``"pad"`` (the region's box padded to a
            square with ``fill``: seed 002), ``"square_crop"`` (cut to a square: Table 5's
            "non-padding") or ``"resize"`` (the box stretched).
        size: output side (or ``(H, W)``); default ``x``'s size. ``"keep"`` inputs are resized
            bilinearly when it differs.
        region_set, margin: see :mod:`fer_explain.faces.regions`.

    Returns:
        ``(N, C, size, size)`` float tensor on ``x``'s device.
    """
    if variant not in REGION_VARIANTS:
        raise ValueError(f"variant must be one of {REGION_VARIANTS}, got {variant!r}")
    get_region(region, region_set)  # a clear error for an unknown region
    out_hw = _size_tuple(size, x)
    if variant == "keep":
        out, _ = keep_region(x, landmarks, region, baseline=baseline, margin=margin, region_set=region_set)
        if tuple(out.shape[-2:]) != out_hw:
            out = F.interpolate(out, size=out_hw, mode="bilinear", align_corners=False)
        return out
    out, _ = crop_region(x, landmarks, region, mode=variant, out_size=out_hw, margin=margin,
                         region_set=region_set, fill=fill)
    return out


def _normalize(x: Tensor, normalize: tuple[Any, Any] | None) -> Tensor:
    if normalize is None:
        return x
    mean = torch.as_tensor(normalize[0], dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    std = torch.as_tensor(normalize[1], dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    return (x - mean) / std


def _batched_region_inputs(images: Tensor, landmarks: Any, region: str, variant: str, size: Any,
                           region_set: str, margin: Margin, baseline: Any, fill: float,
                           chunk: int = 1024) -> Tensor:
    lm = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
    parts = [region_inputs(images[s:s + chunk], lm[s:s + chunk], region, variant, size, region_set, margin,
                           baseline, fill) for s in range(0, len(images), chunk)]
    if not parts:
        hw = _size_tuple(size, images)
        return images.new_zeros((0, images.shape[1], *hw))
    return torch.cat(parts)


class RegionDataset(Dataset):
    """A torch Dataset of region-only faces: ``(region_input, label)`` items.

    Args:
        base: the faces: a ``(N, C, H, W)`` float tensor in ``[0, 1]`` (then ``labels`` is needed),
            a :class:`FaceArrays`, or a map-style Dataset whose items are ``(x, label, ...)`` with
            ``x`` un-normalised ``(C, H, W)`` (e.g. ``FaceDataset(..., normalize=None)``).
        landmarks: ``(N, 68, 2)`` in the base images' pixel coordinates (taken from ``base`` when
            it is a :class:`FaceArrays`).
        region, variant, out_size, region_set, margin, baseline, fill: see :func:`region_inputs`.
        labels: ``(N,)`` class indices when ``base`` is a tensor.
        normalize: ``(mean, std)`` per channel, applied *after* the region is cut out.
        precompute: build every region input once (chunks of 1,024, fast; memory
            ``N * C * out_size**2`` floats); ``False`` computes each item when it is read.
        classes: class names, exposed as ``.classes`` (taken from a :class:`FaceArrays` or a base
            dataset that has them).
    """

    def __init__(
        self,
        base: Tensor | FaceArrays | Dataset,
        landmarks: Any = None,
        region: str = "face",
        variant: str = "pad",
        out_size: int | Sequence[int] | None = None,
        *,
        labels: Any = None,
        region_set: str = DEFAULT_REGION_SET,
        margin: Margin = DEFAULT_MARGIN,
        baseline: str | float | Tensor = "zero",
        fill: float = 0.0,
        normalize: tuple[Any, Any] | None = None,
        precompute: bool = True,
        classes: Sequence[str] | None = None,
    ) -> None:
        if variant not in REGION_VARIANTS:
            raise ValueError(f"variant must be one of {REGION_VARIANTS}, got {variant!r}")
        get_region(region, region_set)
        self.region, self.variant, self.region_set = region, variant, region_set
        self.margin, self.baseline, self.fill, self.normalize = margin, baseline, fill, normalize
        if isinstance(base, FaceArrays):
            landmarks = base.landmarks if landmarks is None else landmarks
            labels = base.labels if labels is None else labels
            classes = base.classes if classes is None else classes
            base = base.images
        if isinstance(base, Tensor):
            if labels is None:
                raise ValueError("RegionDataset over an image tensor needs labels=")
            self._images: Tensor | None = base
            self._base: Dataset | None = None
            self._labels = torch.as_tensor(np.array(labels, dtype=np.int64)).reshape(-1)
            n = base.shape[0]
        else:
            self._images, self._base = None, base
            n = len(base)  # type: ignore[arg-type]
            self._labels = None  # read per item
            if classes is None:
                classes = getattr(base, "classes", None)
        if landmarks is None:
            raise ValueError("RegionDataset needs landmarks= (N, 68, 2)")
        self.landmarks = np.asarray(landmarks, dtype=np.float32)
        if self.landmarks.shape != (n, 68, 2):
            raise ValueError(f"landmarks must have shape ({n}, 68, 2) for {n} faces, got {self.landmarks.shape}")
        if self._labels is not None and self._labels.shape[0] != n:
            raise ValueError(f"labels has {self._labels.shape[0]} entries for {n} faces")
        self.classes = tuple(classes) if classes is not None else None
        self.out_size = out_size
        self._cache: Tensor | None = None
        if precompute:
            images = self._images if self._images is not None else torch.stack(
                [torch.as_tensor(self._base[i][0]) for i in range(n)])  # type: ignore[index]
            if self._labels is None:
                self._labels = torch.as_tensor([int(self._base[i][1]) for i in range(n)], dtype=torch.long)  # type: ignore[index]
            self._cache = _normalize(_batched_region_inputs(images.float(), self.landmarks, region, variant, out_size,
                                                            region_set, margin, baseline, fill), normalize)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every item (int64); reads the base dataset when it was not precomputed."""
        if self._labels is None:
            self._labels = torch.as_tensor([int(self._base[i][1]) for i in range(len(self))],  # type: ignore[index]
                                           dtype=torch.long)
        return self._labels.numpy().copy()

    def __len__(self) -> int:
        return int(self.landmarks.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if self._cache is not None:
            assert self._labels is not None
            return self._cache[i], int(self._labels[i])
        if self._images is not None:
            x, y = self._images[i], int(self._labels[i])  # type: ignore[index]
        else:
            item = self._base[i]  # type: ignore[index]
            x, y = torch.as_tensor(item[0]), int(item[1])
        out = region_inputs(x[None].float(), self.landmarks[i:i + 1], self.region, self.variant, self.out_size,
                            self.region_set, self.margin, self.baseline, self.fill)
        return _normalize(out, self.normalize)[0], y

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All ``(inputs, labels)`` as two tensors (computed now when not precomputed)."""
        if self._cache is not None and self._labels is not None:
            return self._cache, self._labels
        xs, ys = zip(*(self[i] for i in range(len(self))))
        return torch.stack(xs), torch.as_tensor(ys, dtype=torch.long)


# --------------------------------------------------------------------------- arrays from sources
@dataclass
class FaceArrays:
    """Faces as arrays: ``images`` ``(N, C, H, W)`` float in ``[0, 1]`` (not normalised),
    ``landmarks`` ``(N, 68, 2)`` float32 in the images' pixel coordinates, ``labels`` ``(N,)``
    int64 class indices into ``classes``."""

    images: Tensor
    landmarks: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        self.images = torch.as_tensor(self.images).float()
        if self.images.dim() == 3:
            self.images = self.images[:, None]
        if self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W) (or (N, H, W) grey), got {tuple(self.images.shape)}")
        n = self.images.shape[0]
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.classes = tuple(self.classes)
        if self.landmarks.shape != (n, 68, 2):
            raise ValueError(f"landmarks must be ({n}, 68, 2), got {self.landmarks.shape}")
        if self.labels.shape != (n,):
            raise ValueError(f"labels must be ({n},), got {self.labels.shape}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"labels range {self.labels.min()}..{self.labels.max()} outside the "
                             f"{len(self.classes)} classes {self.classes}")
        bad = np.flatnonzero(~np.isfinite(self.landmarks).reshape(n, -1).all(axis=1))
        if bad.size:
            raise ValueError(f"faces {bad[:10].tolist()} have no (finite) landmarks; run "
                             "fer_explain.faces.landmarks.extract_landmarks or drop those rows")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, idx: Any) -> FaceArrays:
        """The faces at ``idx`` (indices or a boolean mask)."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        t = torch.as_tensor(idx, dtype=torch.long)
        return FaceArrays(self.images[t], self.landmarks[idx], self.labels[idx], self.classes)


def face_arrays(
    source: Any,
    size: int | None = None,
    channels: int = 1,
    *,
    split: str | Sequence[str] | None = None,
    crop_margin: float = 0.1,
    cache_dir: Any = False,
    classes: Sequence[str] | None = None,
    progress: bool = False,
) -> FaceArrays:
    """Faces, landmarks and labels as :class:`FaceArrays` from several sources.

    Args:
        source: a :class:`FaceArrays` (returned as is), a
            :class:`~fer_explain.data.manifest.Manifest` (decoded with ``FaceDataset`` at ``size``
            and ``channels``, without normalisation; rows without landmarks are an error), a
            :class:`~fer_explain.data.synthetic.SyntheticBatch`, or a tuple
            ``(images, landmarks, labels)`` (images ``(N, C, H, W)``/``(N, H, W)`` float in
            ``[0, 1]`` or uint8; then ``classes`` is needed).
        size: output side for a manifest (default 48).
        split: keep only these manifest splits.
        crop_margin, cache_dir: passed to ``FaceDataset`` (``cache_dir=False``: no pixel cache).
    """
    if isinstance(source, FaceArrays):
        return source
    from fer_explain.data.manifest import Manifest
    from fer_explain.data.synthetic import SyntheticBatch

    if isinstance(source, Manifest):
        from fer_explain.data.dataset import FaceDataset

        m = source.select(split=split) if split is not None else source
        size = 48 if size is None else int(size)
        missing = np.flatnonzero(~m.has_landmarks())
        if missing.size:
            raise ValueError(f"manifest {m.name or '(unnamed)'!r}: rows {missing[:10].tolist()} have no landmarks "
                             f"({missing.size} in all); run `fer-explain landmarks` first")
        ds = FaceDataset(m, size=size, channels=channels, crop_margin=crop_margin, cache_dir=cache_dir,
                         progress=progress)
        imgs = torch.stack([ds[i][0] for i in tqdm(range(len(ds)), desc="decoding faces", disable=not progress,
                                                    leave=False)])
        return FaceArrays(imgs, dataset_landmarks(m, size, crop_margin), m.label_indices(), m.classes)
    if isinstance(source, SyntheticBatch):
        imgs = torch.from_numpy(np.ascontiguousarray(source.images)).float().div_(255.0)
        imgs = imgs[:, None] if imgs.dim() == 3 else imgs.permute(0, 3, 1, 2).contiguous()
        return FaceArrays(imgs, source.landmarks, source.labels, source.label_space.classes)
    if isinstance(source, tuple) and len(source) == 3:
        if classes is None:
            raise ValueError("face_arrays((images, landmarks, labels)) needs classes=")
        images = torch.as_tensor(np.asarray(source[0]) if not isinstance(source[0], Tensor) else source[0])
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        return FaceArrays(images, source[1], source[2], tuple(classes))
    raise TypeError(f"cannot make face arrays from {type(source).__name__}; pass a Manifest, a SyntheticBatch, "
                    "FaceArrays or (images, landmarks, labels)")


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


# --------------------------------------------------------------------------- training per region
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
        device, progress: where to train; one progress bar over the regions.

    Returns:
        ``(table, confusions)``: ``table`` indexed by ``region`` (in the given order) with columns
        ``accuracy``, ``loss`` (mean NLL), ``n_train``, ``n_test``, ``variant``, ``model``,
        ``train_seconds``; ``confusions`` maps each region to its ``C x C`` count matrix (rows
        true class, columns predicted; Fig. 7).
    """
    from fer_explain.models import create_model
    from fer_explain.train import evaluate, fit, get_recipe

    if variant not in REGION_VARIANTS:
        raise ValueError(f"variant must be one of {REGION_VARIANTS}, got {variant!r}")
    for r in regions:
        get_region(r, region_set)
    rec = get_recipe(recipe, **recipe_overrides)
    train, test = _split_pair(data, train_split, test_split, size, channels, cache_dir, progress)
    if train.classes != test.classes:
        raise ValueError(f"train and test label spaces differ: {train.classes} vs {test.classes}")
    classes = train.classes
    val_idx: np.ndarray | None = None
    if val_fraction > 0:
        from fer_explain.analysis.tsne import subsample_indices

        n_val = max(1, round(val_fraction * len(train)))
        val_idx = subsample_indices(len(train), n_val, train.labels, seed=rec.seed)
    rows, confusions = [], {}
    bar = tqdm(list(regions), desc=f"region models ({variant})", disable=not progress)
    for region in bar:
        bar.set_postfix_str(region)
        xtr = _batched_region_inputs(train.images, train.landmarks, region, variant, size, region_set, margin,
                                     "zero", 0.0)
        xte = _batched_region_inputs(test.images, test.landmarks, region, variant, size, region_set, margin,
                                     "zero", 0.0)
        ytr, yte = torch.as_tensor(train.labels), torch.as_tensor(test.labels)
        if normalize:
            stats = _channel_stats(xtr)
            xtr, xte = _normalize(xtr, stats), _normalize(xte, stats)
        val_ds = None
        if val_idx is not None:
            keep = np.setdiff1d(np.arange(len(train)), val_idx)
            vi, ki = torch.as_tensor(val_idx), torch.as_tensor(keep)
            val_ds = TensorDataset(xtr[vi], ytr[vi])
            xtr_fit, ytr_fit = xtr[ki], ytr[ki]
        else:
            xtr_fit, ytr_fit = xtr, ytr
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rec.seed)
            model = create_model(model_name, num_classes=len(classes), in_chans=int(xtr.shape[1]),
                                 **dict(model_args or {}))
        model.to(device)
        result = fit(model, TensorDataset(xtr_fit, ytr_fit), val_ds, recipe=rec, device=device, progress=False,
                     classes=classes)
        ev = evaluate(result.model, TensorDataset(xte, yte), device=device, label_space=classes,
                      target_space=classes)
        confusions[region] = ev.confusion
        rows.append({"region": region, "accuracy": ev.accuracy, "loss": ev.loss, "n_train": len(xtr_fit),
                     "n_test": len(xte), "variant": variant, "model": model_name,
                     "train_seconds": float(result.seconds)})
        bar.set_postfix_str(f"{region}: {ev.accuracy:.3f}")
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


# --------------------------------------------------------------------------- one model, masked inputs
def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, batch_size: int, normalize: tuple[Any, Any] | None) -> Tensor:
    """Softmax probabilities ``(N, K)`` on the CPU; the model's training flag is restored."""
    dev = _model_device(model)
    was = model.training
    model.eval()
    try:
        out = [model(_normalize(x[s:s + batch_size].to(dev), normalize)).float().softmax(1).cpu()
               for s in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out) if out else torch.zeros(0, 0)


def _masked(images: Tensor, landmarks: Any, region: str, mode: str, baseline: Any, margin: Margin,
            region_set: str, chunk: int = 1024) -> Tensor:
    fn = keep_region if mode == "keep" else remove_region
    lm = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
    return torch.cat([fn(images[s:s + chunk], lm[s:s + chunk], region, baseline=baseline, margin=margin,
                         region_set=region_set)[0] for s in range(0, len(images), chunk)])


def evaluate_region_occlusion(
    model: nn.Module,
    images: Tensor | FaceArrays,
    landmarks: Any = None,
    labels: Any = None,
    regions: Sequence[str] = SEED002_REGIONS,
    modes: str | Sequence[str] = ("keep", "remove"),
    baseline: str | float | Tensor = "zero",
    *,
    normalize: tuple[Any, Any] | None = None,
    margin: Margin = DEFAULT_MARGIN,
    region_set: str = DEFAULT_REGION_SET,
    batch_size: int = 256,
    progress: bool = True,
) -> pd.DataFrame:
    """The cheap region experiment: one whole-face model evaluated on region-kept / region-removed faces.

    Args:
        model: a trained whole-face model (left unchanged; evaluated in eval mode).
        images: ``(N, C, H, W)`` float in ``[0, 1]`` *before* normalisation, or a
            :class:`FaceArrays` (then ``landmarks``/``labels`` come from it).
        landmarks: ``(N, 68, 2)`` in the images' pixel coordinates.
        labels: ``(N,)`` true class indices.
        regions: region names of ``region_set``.
        modes: ``"keep"`` (only the region kept, every other pixel the baseline) and/or
            ``"remove"`` (the region set to the baseline).
        baseline: ``"zero"`` (black), ``"mean"``, ``"blur"``, a number or a tensor, in ``[0, 1]``
            image space (see :func:`fer_explain.faces.regions.baseline_like`).
        normalize: ``(mean, std)`` the model expects, applied after masking.

    Returns:
        A DataFrame with one row per ``(region, mode)`` plus a first row ``region="none"``,
        ``mode="none"`` (the unmodified faces), columns ``region``, ``mode``, ``accuracy``,
        ``true_prob`` (mean probability of the true class), ``accuracy_drop`` (unmodified accuracy
        minus this one) and ``n``.
    """
    if isinstance(images, FaceArrays):
        landmarks = images.landmarks if landmarks is None else landmarks
        labels = images.labels if labels is None else labels
        images = images.images
    if landmarks is None or labels is None:
        raise ValueError("evaluate_region_occlusion needs landmarks= and labels= (or a FaceArrays)")
    modes = [modes] if isinstance(modes, str) else list(modes)
    bad = [m for m in modes if m not in ("keep", "remove")]
    if bad:
        raise ValueError(f"modes must be 'keep' and/or 'remove', got {bad}")
    for r in regions:
        get_region(r, region_set)
    x = torch.as_tensor(images).float()
    y = torch.as_tensor(np.array(labels, dtype=np.int64)).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"labels has {y.shape[0]} entries for {x.shape[0]} images")

    def score(inp: Tensor) -> tuple[float, float]:
        p = _predict(model, inp, batch_size, normalize)
        if p.shape[1] and int(y.max()) >= p.shape[1]:
            raise ValueError(f"label {int(y.max())} is not a class of a model with {p.shape[1]} outputs")
        return float((p.argmax(1) == y).float().mean()), float(p.gather(1, y[:, None]).mean())

    acc0, prob0 = score(x)
    rows = [{"region": "none", "mode": "none", "accuracy": acc0, "true_prob": prob0, "accuracy_drop": 0.0,
             "n": len(y)}]
    jobs = [(r, m) for m in modes for r in regions]
    for region, mode in tqdm(jobs, desc="region occlusion", disable=not progress, leave=False):
        acc, prob = score(_masked(x, landmarks, region, mode, baseline, margin, region_set))
        rows.append({"region": region, "mode": mode, "accuracy": acc, "true_prob": prob,
                     "accuracy_drop": acc0 - acc, "n": len(y)})
    return pd.DataFrame(rows)


def left_right_asymmetry(
    model: nn.Module,
    images: Tensor | FaceArrays,
    landmarks: Any = None,
    labels: Any = None,
    classes: Sequence[str] | None = None,
    baseline: str | float | Tensor = "zero",
    *,
    normalize: tuple[Any, Any] | None = None,
    margin: Margin = 0,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Which half of the face the model relies on, per emotion (seed 001 finds the right half).

    Uses the symmetric region set's ``right_half`` (the subject's right, the image's *left*) and
    ``left_half`` (the subject's left, image right), split along the nose line. For each emotion
    (rows, by true label, plus ``"all"``):

    * ``acc_keep_right`` / ``acc_keep_left``: accuracy when only that half is kept;
    * ``drop_right`` / ``drop_left``: mean drop in true-class probability when that half is removed;
    * ``asymmetry = (drop_right - drop_left) / (drop_right + drop_left)``: > 0 means removing the
      subject's right half hurts more (the right half is more discriminative); NaN when both
      drops are <= 0;
    * ``n``: faces of the emotion.

    For the explanation-based variant (share of attribution mass per half) use
    :func:`fer_explain.explain.metrics.asymmetry` with ``right_half``/``left_half`` masks.
    """
    if isinstance(images, FaceArrays):
        landmarks = images.landmarks if landmarks is None else landmarks
        labels = images.labels if labels is None else labels
        classes = images.classes if classes is None else classes
        images = images.images
    if landmarks is None or labels is None:
        raise ValueError("left_right_asymmetry needs landmarks= and labels= (or a FaceArrays)")
    x = torch.as_tensor(images).float()
    y = torch.as_tensor(np.array(labels, dtype=np.int64)).reshape(-1)
    p0 = _predict(model, x, batch_size, normalize)
    k = p0.shape[1]
    names = list(classes) if classes is not None else [f"class_{i}" for i in range(k)]
    true0 = p0.gather(1, y[:, None])[:, 0]
    res: dict[str, Tensor] = {}
    for half in ("right_half", "left_half"):
        pk = _predict(model, _masked(x, landmarks, half, "keep", baseline, margin, "symmetric"), batch_size, normalize)
        pr = _predict(model, _masked(x, landmarks, half, "remove", baseline, margin, "symmetric"), batch_size,
                      normalize)
        side = half.split("_")[0]
        res[f"acc_keep_{side}"] = (pk.argmax(1) == y).float()
        res[f"drop_{side}"] = true0 - pr.gather(1, y[:, None])[:, 0]
    rows = []
    groups = [(names[c], y == c) for c in range(len(names)) if bool((y == c).any())] + [("all", torch.ones_like(y, dtype=torch.bool))]
    for name, sel in groups:
        row: dict[str, Any] = {"emotion": name}
        for key, v in res.items():
            row[key] = float(v[sel].mean())
        dr, dl = row["drop_right"], row["drop_left"]
        row["asymmetry"] = (dr - dl) / (dr + dl) if (dr + dl) > 0 and dr >= 0 and dl >= 0 else float("nan")
        row["n"] = int(sel.sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("emotion")


# --------------------------------------------------------------------------- figure
def plot_region_contribution(
    table: pd.DataFrame,
    value: str = "accuracy",
    chance: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Bar chart of accuracy per region with a chance line (seed 002 Table 6 as a figure).

    ``table`` is the first output of :func:`train_region_models` (one bar per region, drawn with
    :func:`fer_explain.viz.plot_region_bars`), a long table of :func:`evaluate_region_occlusion`
    (``region``/``mode`` columns: grouped bars, one colour per mode), or the wide table of
    :func:`compare_padding` (one colour per variant column). ``chance`` draws a dashed line (e.g.
    ``1 / num_classes``).
    """
    import matplotlib.pyplot as plt

    from fer_explain.viz import plot_region_bars

    if "mode" in table.columns and "region" in table.columns:
        wide = table.pivot(index="region", columns="mode", values=value)
        order = [r for r in dict.fromkeys(table["region"])]
        wide = wide.reindex(order)
    elif value in table.columns:
        return plot_region_bars(table, value=value, chance=chance, title=title or f"{value} per face region", ax=ax)
    else:
        wide = table.select_dtypes("number").drop(columns=["n_test", "n"], errors="ignore")
        if wide.shape[1] == 0:
            raise KeyError(f"no {value!r} column and no numeric columns to plot; columns: {list(table.columns)}")
    own = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(wide) + 0.3 * wide.shape[1], 4.0))
    else:
        fig = ax.figure  # type: ignore[assignment]
    n_groups, n_series = wide.shape
    width = 0.8 / max(n_series, 1)
    xs = np.arange(n_groups)
    handles = []
    for j, col in enumerate(wide.columns):
        handles.append(ax.bar(xs + (j - (n_series - 1) / 2) * width, wide[col].to_numpy(dtype=float), width,
                              label=str(col)))
    if chance is not None:
        handles.append(ax.axhline(chance, color="red", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})"))
    ax.set_xticks(xs)
    ax.set_xticklabels([str(r) for r in wide.index], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_xlabel("region")
    ax.set_ylabel(value)
    ax.set_title(title or f"{value} per face region")
    ax.legend(fontsize="small")
    top = np.nanmax(np.append(wide.to_numpy(dtype=float).ravel(), chance if chance is not None else np.nan))
    if np.isfinite(top) and top > 0:
        ax.set_ylim(0, top * 1.12)
    if own:
        fig.tight_layout()
    return fig  # type: ignore[return-value]
