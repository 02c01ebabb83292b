"""Small public helpers the notebook series (``notebooks/00`` ... ``07``) shares.

The notebooks are thin: every code cell calls into the package. What they need beyond the
subpackages' APIs lives here, so the CLI and scripts can use exactly the same steps:

* :func:`env_path`, :func:`env_flag`, :func:`env_device`: the environment variables that switch a
  notebook from its small synthetic default to a full-scale run (real data, a GPU);
  :data:`DATASET_ENV`, :func:`dataset_dirs` and :func:`real_manifests`: one ``FER_EXPLAIN_<NAME>_DIR``
  variable per supported dataset layout, and the manifests of those that are set;
* :func:`model_inputs`: images (uint8 or ``[0, 1]``, any layout) -> the normalised ``(N, C, H, W)``
  tensor a checkpoint expects (its ``meta["input"]`` block, or a model's ``input_spec``);
* :func:`checkpoint_dataset`: a :class:`~fer_explain.data.dataset.FaceDataset` prepared the way a
  checkpoint was trained (size, channels, mean/std), and :func:`batch_of`: some of its rows as one
  :class:`FaceBatch` (model input, labels, display pixels);
* :func:`se_panel`: one sample's SE-block maps from :func:`fer_explain.explain.se_block_maps` as the
  keyword arguments of :func:`fer_explain.viz.plot_se_maps`;
* :func:`region_mask_dict`: ``{region: (N, H, W) bool tensor}`` for a batch of landmarks, the input
  of :func:`fer_explain.explain.metrics.region_mass_table`;
* :func:`explanation_scores`: one row per explanation method -- faithfulness (deletion / insertion
  AUC) and, given ground-truth masks, pointing game and relevance mass accuracy;
* :func:`recipe_table`: a training recipe's values and where each comes from (paper, code, assumption);
* :func:`face_grid`: a grid of faces, optionally with a mask (e.g. synthetic evidence) drawn over each;
* :func:`save_figure`: save a figure into ``$FER_EXPLAIN_FIGURES_DIR`` when that is set (the
  notebook runner :func:`fer_explain.run_notebooks.run_series` sets it), else do nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from fer_explain.train.inputs import CheckpointInput

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fer_explain.data.dataset import FaceDataset
    from fer_explain.data.manifest import Manifest
    from fer_explain.explain.se_maps import SEBlockMaps

__all__ = [
    "DATASET_ENV",
    "FIGURES_ENV",
    "FaceBatch",
    "batch_of",
    "checkpoint_dataset",
    "dataset_dirs",
    "env_device",
    "env_flag",
    "env_path",
    "explanation_scores",
        "face_grid",
    "input_block",
    "model_inputs",
    "real_manifests",
    "recipe_table",
    "region_mask_dict",
    "save_figure",
    "se_panel",
]

FIGURES_ENV = "FER_EXPLAIN_FIGURES_DIR"
"""Environment variable naming the folder :func:`save_figure` writes into."""

DATASET_ENV: dict[str, str] = {
    name: f"FER_EXPLAIN_{name.upper()}_DIR"
    for name in ("fer2013", "ferplus", "rafdb", "affectnet", "expw", "ckplus", "jaffe", "ferg", "imagefolder")
}
"""Dataset layout (a key of :data:`fer_explain.data.sources.ADAPTERS`) -> the environment variable
naming its root folder, e.g. ``FER_EXPLAIN_FER2013_DIR``."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


# --- environment ---------------------------------------------------------------------------------


def env_path(name: str) -> Path | None:
    """The folder or file named by the environment variable ``name``, or None when it is unset/empty.

    Raises:
        FileNotFoundError: the variable is set but the path does not exist (the message names both).
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{name}={value}: no such file or folder")
    return path


def env_flag(name: str, default: bool = False) -> bool:
    """A boolean environment variable (``1/true/yes/on`` or ``0/false/no/off``, any case)."""
    value = os.environ.get(name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{name}={value!r}: expected one of {sorted(_TRUE | _FALSE - {''})}")


def env_device(name: str = "FER_EXPLAIN_DEVICE") -> str:
    """The torch device named by ``name`` (default ``"cpu"``); ``"auto"`` picks CUDA when available."""
    value = os.environ.get(name, "").strip() or "cpu"
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    torch.device(value)  # raises a clear RuntimeError for a malformed name
    return value


def dataset_dirs() -> Any:
    """A table of the supported datasets: the environment variable of each and the folder it names
    (empty when unset). A set variable naming a missing folder is an error."""
    import pandas as pd

    rows = []
    for name, var in DATASET_ENV.items():
        path = env_path(var)
        rows.append({"dataset": name, "variable": var, "folder": "" if path is None else str(path)})
    return pd.DataFrame(rows)


def real_manifests(options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Manifest]:
    """Manifests of every dataset whose ``FER_EXPLAIN_<NAME>_DIR`` is set (none when no variable is set).

    ``options`` maps a dataset to adapter options (``{"rafdb": {"aligned": False}}``). FER+ reads its
    pixels from ``fer2013.csv``: when its folder lacks that file and ``FER_EXPLAIN_FER2013_DIR`` holds
    it, that one is used.
    """
    from fer_explain.data.sources import build_manifest

    out: dict[str, Manifest] = {}
    for name, var in DATASET_ENV.items():
        root = env_path(var)
        if root is None:
            continue
        opts = dict((options or {}).get(name, {}))
        if name == "ferplus" and "fer2013_csv" not in opts and not (root / "fer2013.csv").is_file():
            fer_root = env_path(DATASET_ENV["fer2013"])
            if fer_root is not None and (fer_root / "fer2013.csv").is_file():
                opts["fer2013_csv"] = fer_root / "fer2013.csv"
        out[name] = build_manifest(name, root, **opts)
    return out


def recipe_table(recipe: Any) -> Any:
    """A :class:`~fer_explain.train.recipes.Recipe` (or its name) as a table: one row per field with
    its ``value`` and ``source`` (``paper``, ``code``, ``assumption``, ``default``, ``override``)."""
    import dataclasses

    import pandas as pd

    from fer_explain.train.recipes import get_recipe

    r = get_recipe(recipe)
    rows = [{"field": f.name, "value": repr(getattr(r, f.name)), "source": r.source(f.name)}
            for f in dataclasses.fields(r) if f.name not in ("name", "sources", "notes")]
    return pd.DataFrame(rows).set_index("field")


# --- model inputs ----------------------------------------------------------------------------------


def input_block(source: Mapping[str, Any] | nn.Module) -> dict[str, Any]:
    """``{"size", "channels", "mean", "std"}`` of a checkpoint's metadata or a model
    (:class:`~fer_explain.train.inputs.CheckpointInput`, the one place that decides it)."""
    return CheckpointInput.of(source).as_block()


def model_inputs(images: Any, source: Any, device: str | torch.device = "cpu") -> Tensor:
    """Images -> the normalised ``(N, C, size, size)`` tensor a checkpoint expects, in its evaluation view.

    Args:
        images: uint8 (0..255) or float (``[0, 1]``) images, ``(H, W)``, ``(N, H, W)``,
            ``(N, H, W, 3)`` or ``(N, C, H, W)`` (numpy or torch), e.g. a synthetic batch's
            ``images`` or :func:`fer_explain.faces.crop_face`'s image.
        source: a ``(model, meta)`` pair as ``load_checkpoint`` returns it (recommended), the
            checkpoint's metadata, a model (its ``input_spec``) or a ``CheckpointInput``.
        device: where to put the result.

    See :meth:`fer_explain.train.inputs.CheckpointInput.prepare`.
    """
    return CheckpointInput.of(source).prepare(images, device=device)


def checkpoint_dataset(manifest: Manifest, source: Any, split: str | Sequence[str] | None = None,
                       **kwargs: Any) -> FaceDataset:
    """A :class:`~fer_explain.data.dataset.FaceDataset` of ``manifest`` (optionally one ``split``)
    as the checkpoint sees it (:meth:`CheckpointInput.dataset`: size, channels, normalisation and
    evaluation view). ``kwargs`` go to ``FaceDataset``."""
    m = manifest.select(split=split) if split is not None else manifest
    return CheckpointInput.of(source).dataset(m, **kwargs)


@dataclass
class FaceBatch:
    """Some rows of a dataset as one batch.

    Attributes:
        x: ``(N, C, H, W)`` model input (transform and normalisation applied).
        labels: ``(N,)`` long class indices.
        images: ``(N, H, W)`` (grey) or ``(N, H, W, 3)`` uint8 pixels before normalisation, for display.
        rows: ``(N,)`` the dataset indices taken.
    """

    x: Tensor
    labels: Tensor
    images: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


def batch_of(dataset: Any, indices: Any) -> FaceBatch:
    """The rows ``indices`` (ints, or a boolean mask over the dataset) of a ``FaceDataset`` as a
    :class:`FaceBatch`; display pixels come from ``dataset.pixels`` (any dataset with ``(x, y)``
    items works, its images are then ``x`` min-max scaled to uint8)."""
    idx = np.asarray(indices)
    if idx.dtype == bool:
        if idx.shape != (len(dataset),):
            raise ValueError(f"a boolean mask must have one entry per row ({len(dataset)}), got shape {idx.shape}")
        idx = np.flatnonzero(idx)
    idx = idx.astype(np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("batch_of: no rows selected")
    items = [dataset[int(i)] for i in idx]
    x = torch.stack([torch.as_tensor(it[0]) for it in items])
    labels = torch.as_tensor([int(it[1]) for it in items], dtype=torch.long)
    if hasattr(dataset, "pixels"):
        pix = np.stack([np.asarray(dataset.pixels(int(i))) for i in idx])  # (N, C, H, W) uint8
    else:
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        pix = ((x - lo) / (hi - lo).clamp_min(1e-12) * 255).round().to(torch.uint8).numpy()
    images = pix[:, 0] if pix.shape[1] == 1 else np.moveaxis(pix, 1, -1)
    return FaceBatch(x=x, labels=labels, images=images, rows=idx)


def se_panel(blocks: Sequence[SEBlockMaps], index: int, top_k: int | None = None) -> dict[str, dict[str, Tensor]]:
    """Sample ``index``'s strongest channels per SE block as ``plot_se_maps`` keyword arguments
    (``feature_maps``, ``weights``, ``channel_ids``), blocks in forward order."""
    if not blocks:
        raise ValueError("se_panel: no SE blocks given")
    n = int(blocks[0].top_maps.shape[0])
    if not -n <= index < n:
        raise IndexError(f"sample {index} out of range for a batch of {n}")
    k = slice(None) if top_k is None else slice(0, int(top_k))
    return {
        "feature_maps": {b.name: b.top_maps[index, k] for b in blocks},
        "weights": {b.name: b.top_weights[index, k] for b in blocks},
        "channel_ids": {b.name: b.top_channels[index, k] for b in blocks},
    }


# --- regions ---------------------------------------------------------------------------------------


def region_mask_dict(landmarks: Any, size: int, regions: Sequence[str] | None = None, margin: Any = 0,
                     region_set: str | None = None) -> dict[str, Tensor]:
    """``{region: (N, size, size) bool tensor}`` for landmarks ``(N, 68, 2)`` in pixel coordinates of
    ``size x size`` images, for the named regions (default: every region of the set).

    The input of :func:`fer_explain.explain.metrics.region_mass_table` / ``region_mass``.
    """
    from fer_explain.faces.regions import DEFAULT_REGION_SET, list_regions, region_masks

    rset = region_set or DEFAULT_REGION_SET
    names = list(regions) if regions is not None else list_regions(rset)
    lm = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
    return {name: region_masks(lm, name, size, margin=margin, region_set=rset).cpu() for name in names}


def explanation_scores(model: nn.Module, x: Tensor, explanations: Mapping[str, Any], masks: Any = None,
                       n_steps: int = 10, deletion_baseline: Any = "zero", insertion_baseline: Any = "blur") -> Any:
    """Compare explanation methods on the same inputs: one row per method (``explanations`` maps a
    method name to its :class:`~fer_explain.explain.Explanation` of ``x``).

    Columns: ``deletion_auc`` (mean over samples; lower: the probability of the explained class falls
    faster as the most relevant pixels are removed first), ``insertion_auc`` (higher is better) and,
    when ground-truth ``masks`` ``(N, H, W)`` are given, ``pointing_game`` (share of samples whose
    maximum lies in the mask; samples with an empty mask are skipped) and ``relevance_mass`` (share
    of positive attribution inside the mask). See :mod:`fer_explain.explain.metrics`.
    """
    import pandas as pd

    from fer_explain.explain import metrics

    gt = None if masks is None else torch.as_tensor(np.asarray(masks.cpu() if isinstance(masks, Tensor) else masks)).bool()
    rows = []
    for name, exp in explanations.items():
        row: dict[str, Any] = {"method": name}
        row["deletion_auc"] = float(metrics.deletion_curve(model, x, exp, n_steps=n_steps,
                                                           baseline=deletion_baseline).auc.mean())
        row["insertion_auc"] = float(metrics.insertion_curve(model, x, exp, n_steps=n_steps,
                                                             baseline=insertion_baseline).auc.mean())
        if gt is not None:
            row["pointing_game"] = float(np.nanmean(metrics.pointing_game(exp, gt).numpy()))
            row["relevance_mass"] = float(np.nanmean(metrics.relevance_mass_accuracy(exp, gt).numpy()))
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


# --- photos ----------------------------------------------------------------------------------------


def face_grid(images: Any, masks: Any = None, labels: Sequence[Any] | None = None,
              classes: Sequence[str] | None = None, ncols: int = 8, cell_size: float = 1.3,
              mask_color: tuple[float, float, float] = (1.0, 0.15, 0.1), mask_alpha: float = 0.55,
              title: str | None = None) -> Figure:
    """A grid of faces (row-major, ``ncols`` per row), each titled with its label; with ``masks``
    ``(N, H, W)`` (bool or ``[0, 1]``) each mask is drawn in ``mask_color`` over its face.

    ``images``: ``(N, H, W)``, ``(N, H, W, 3)`` or ``(N, 1|3, H, W)``, uint8 or float in ``[0, 1]``.
    ``labels``: class indices (named through ``classes``) or names.
    """
    import matplotlib.pyplot as plt

    from fer_explain.viz import to_display_image

    imgs = [to_display_image(im) for im in (images.detach().cpu().numpy() if isinstance(images, Tensor) else images)]
    n = len(imgs)
    if n == 0:
        raise ValueError("face_grid: no images")
    if masks is not None:
        masks = np.asarray(masks.detach().cpu() if isinstance(masks, Tensor) else masks, dtype=np.float64)
        if masks.shape[0] != n or masks.shape[1:] != imgs[0].shape[:2]:
            raise ValueError(f"masks must be ({n}, H, W) matching the images {imgs[0].shape[:2]}, got {masks.shape}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} images")
    cols = max(1, min(int(ncols), n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cell_size * cols, cell_size * rows + (0.4 if title else 0.1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = imgs[i]
        if masks is not None:
            a = np.clip(masks[i], 0, 1)[..., None] * mask_alpha
            img = img * (1 - a) + np.asarray(mask_color)[None, None] * a
        ax.imshow(img, vmin=0, vmax=1, interpolation="nearest")
        if labels is not None:
            lab = labels[i]
            name = classes[int(lab)] if classes is not None and not isinstance(lab, str) else str(lab)
            ax.set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --- saving figures ---------------------------------------------------------------------------------------


def save_figure(fig: Figure, name: str, folder: str | os.PathLike[str] | None = None, dpi: int = 120) -> Path | None:
    """Save ``fig`` as ``<folder>/<name>.png``; ``folder`` defaults to ``$FER_EXPLAIN_FIGURES_DIR``.

    Returns the path written, or None (nothing written) when neither is given, so a notebook can
    call it unconditionally. ``name`` may contain letters, digits, ``-``, ``_`` and ``.``.
    """
    target = folder if folder is not None else (os.environ.get(FIGURES_ENV) or None)
    if target is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"figure name {name!r} may only contain letters, digits, '-', '_' and '.'")
    path = Path(target) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
