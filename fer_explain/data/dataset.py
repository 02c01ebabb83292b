"""FaceDataset: a torch Dataset over a Manifest, serving each row as a normalised float tensor and its label.

The item is ``(x, label)``: ``x`` a float32 tensor ``C x size x size`` in ``[0, 1]`` passed through
``transform`` and then, when given, ``normalize=(mean, std)`` per channel; ``label`` the class
index in ``manifest.label_space``. How a row becomes pixels (load, crop the face box, convert,
resize) is :mod:`fer_explain.data.decode`; the pixels of the whole manifest can be kept in the
resumable memory-mapped cache of :mod:`fer_explain.data.pixel_cache`.

Nothing is written until :meth:`FaceDataset.build_cache` is called. Until then ``__getitem__``
decodes every item on the fly (no writes, so it is safe in any number of DataLoader workers);
afterwards, and in every later process whose manifest has the same key, items are plain reads of
the memory map (each process, DataLoader workers included, opens its own read-only map), with no
image decoding at all. ``preload=True`` copies all pixels into one in-memory uint8 tensor.

Loaders with oversampling and class weights are :mod:`fer_explain.data.loaders`. The names of those
modules that callers used to import from here (``crop_box``, ``decode_row``, ``SampleLoadError``,
``cache_key``, ``make_loader``, ``class_weights``...) are still importable from this module.

Example::

    >>> ds = FaceDataset(manifest.select("train"), size=48, channels=1,
    ...                  transform=get_transform("seed004", 48, train=True))
    >>> ds.build_cache()                       # decodes once, with a progress bar
    >>> loader = make_loader(ds, batch_size=64, oversample=True, num_workers=2, seed=0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from fer_explain.data.decode import (
    RowDecoder,
    SampleLoadError,
    crop_bounds,
    crop_box,
    decode_row,
    sample_location,
)
from fer_explain.data.loaders import class_weights, make_loader
from fer_explain.data.manifest import Manifest
from fer_explain.data.pixel_cache import CACHE_FORMAT_VERSION, PixelCache, cache_key, default_cache_dir

__all__ = [
    "CACHE_FORMAT_VERSION",
    "FaceDataset",
    "PixelCache",
    "SampleLoadError",
    "cache_key",
    "class_weights",
    "crop_bounds",
    "crop_box",
    "decode_row",
    "default_cache_dir",
    "make_loader",
    "sample_location",
]


class FaceDataset(Dataset):
    """A torch Dataset over a :class:`~fer_explain.data.manifest.Manifest`; see the module docstring.

    Args:
        manifest: the faces; labels are indices in ``manifest.label_space``.
        size: output side in pixels (square).
        channels: 1 (grey) or 3 (RGB).
        crop_margin: fraction of the face box's width/height added on each side when a row has a box.
        cache_dir: folder of the pixel cache; None for the default (``$FER_EXPLAIN_CACHE`` or
            ``~/.cache/fer_explain/pixels``), False to disable caching.
        transform: applied to the float tensor ``C x size x size`` in ``[0, 1]``
            (see :func:`fer_explain.data.transforms.get_transform`).
        return_index: also return the manifest row index: ``(x, label, index)``.
        normalize: ``(mean, std)``, scalars or one value per channel, applied after ``transform``.
        preload: hold all pixels in memory as one uint8 tensor (builds the cache first when caching
            is enabled, so later runs start fast too).
        progress: show tqdm bars for ``preload`` (``build_cache`` has its own argument).
    """

    def __init__(
        self,
        manifest: Manifest,
        size: int = 48,
        channels: int = 1,
        crop_margin: float = 0.1,
        cache_dir: str | os.PathLike[str] | None | bool = None,
        transform: Any = None,
        return_index: bool = False,
        normalize: tuple[Sequence[float] | float, Sequence[float] | float] | None = None,
        preload: bool = False,
        progress: bool = True,
    ):
        if not isinstance(manifest, Manifest):
            raise TypeError(f"manifest must be a fer_explain Manifest, got {type(manifest).__name__}")
        if len(manifest) == 0:
            raise ValueError(
                f"manifest {manifest.name or '(unnamed)'!r} has no rows: nothing to load "
                "(check the split/label selection that produced it)"
            )
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        if not crop_margin >= 0:
            raise ValueError(f"crop_margin must be >= 0, got {crop_margin!r}")
        self.manifest = manifest
        self.size, self.channels, self.crop_margin = size, channels, float(crop_margin)
        self.transform = transform
        self.return_index = return_index
        self._labels = manifest.label_indices()
        self._decoder = RowDecoder(manifest, size, channels, self.crop_margin)
        self._mean, self._std = self._parse_normalize(normalize)
        self.normalize = normalize

        if cache_dir is True:
            raise ValueError("cache_dir must be a folder, None (default folder) or False (no cache), not True")
        self.cache_dir: Path | None = (
            None if cache_dir is False else (default_cache_dir() if cache_dir is None else Path(cache_dir))
        )
        self._cache: PixelCache | None = (
            None if self.cache_dir is None else PixelCache(self.cache_dir, manifest, self._decoder)
        )
        self._memory: torch.Tensor | None = None
        if preload:
            self.preload(progress=progress)

    # --- basics ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        state = "preloaded" if self._memory is not None else (
            "cached" if self.is_cached else ("lazy" if self.cache_dir is not None else "no cache"))
        return (f"FaceDataset(rows={len(self)}, size={self.size}, channels={self.channels}, "
                f"crop_margin={self.crop_margin}, classes={self.classes}, pixels={state})")

    @property
    def classes(self) -> tuple[str, ...]:
        return self.manifest.label_space.classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every row (int64, a copy)."""
        return self._labels.copy()

    def class_counts(self) -> np.ndarray:
        """Rows per class, length ``num_classes`` (int64), in label-space order."""
        return np.bincount(self._labels, minlength=self.num_classes).astype(np.int64)

    # --- the pixel cache ------------------------------------------------------------------------
    @property
    def cache_key(self) -> str | None:
        """The pixel cache's key (:func:`~fer_explain.data.pixel_cache.cache_key`); None without a cache."""
        return None if self._cache is None else self._cache.key

    @property
    def cache_path(self) -> Path | None:
        """The finished cache file (it may not exist yet); None when caching is disabled."""
        return None if self._cache is None else self._cache.path

    @property
    def is_cached(self) -> bool:
        """True when the finished cache exists (items are read from it, not decoded)."""
        return self._cache is not None and self._cache.is_ready

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(N, C, size, size)`` of the pixel array."""
        return (len(self), self.channels, self.size, self.size)

    def build_cache(self, progress: bool = True, workers: int = 0, chunk_size: int = 256) -> Path:
        """Decode every row once into the on-disk cache; a no-op when it is already finished.

        Resumes an interrupted fill. ``workers > 0`` decodes in that many processes (the parent
        writes). Returns the cache path. Raises ``RuntimeError`` when caching is disabled.
        See :meth:`fer_explain.data.pixel_cache.PixelCache.build`.
        """
        if self._cache is None:
            raise RuntimeError("this FaceDataset has caching disabled (cache_dir=False); nothing to build")
        return self._cache.build(progress=progress, workers=workers, chunk_size=chunk_size)

    def preload(self, progress: bool = True) -> torch.Tensor:
        """Hold every row's pixels in memory (uint8 ``N x C x size x size``); returns that tensor."""
        if self._memory is None:
            if self._cache is not None:
                self._cache.build(progress=progress)
                self._memory = torch.from_numpy(np.array(self._cache.pixels()))
            else:
                arr = np.empty(self.shape, dtype=np.uint8)
                for i in tqdm(range(len(self)), disable=not progress, unit="img", desc="decoding"):
                    arr[i] = self._decoder(i)
                self._memory = torch.from_numpy(arr)
        return self._memory

    @property
    def is_preloaded(self) -> bool:
        return self._memory is not None

    # --- items ----------------------------------------------------------------------------------
    def pixels(self, index: int) -> np.ndarray:
        """The uint8 pixels ``C x size x size`` of row ``index`` (before transform/normalize)."""
        i = self._check_index(index)
        if self._memory is not None:
            return self._memory[i].numpy()
        if self._cache is not None and self._cache.is_ready:
            return np.array(self._cache.pixels()[i])
        return self._decoder(i)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, int, int]:
        i = self._check_index(index)
        if self._memory is not None:
            x = self._memory[i].to(torch.float32).div_(255.0)
        else:
            x = torch.from_numpy(self.pixels(i)).to(torch.float32).div_(255.0)
        if self.transform is not None:
            x = self.transform(x)
        if self._mean is not None and self._std is not None:
            x = (x - self._mean) / self._std
        label = int(self._labels[i])
        return (x, label, i) if self.return_index else (x, label)

    def _check_index(self, index: int) -> int:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for FaceDataset of {n} rows")
        return i

    def _parse_normalize(
        self, normalize: tuple[Sequence[float] | float, Sequence[float] | float] | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if normalize is None:
            return None, None
        try:
            mean, std = normalize
        except (TypeError, ValueError):
            raise ValueError(f"normalize must be (mean, std), got {normalize!r}") from None
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        s = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        for name, t in (("mean", m), ("std", s)):
            if t.shape[0] not in (1, self.channels):
                raise ValueError(f"normalize {name} has {t.shape[0]} values; expected 1 or {self.channels} (channels)")
        if bool((s <= 0).any()):
            raise ValueError(f"normalize std must be positive, got {std!r}")
        return m, s

    def channel_stats(self, max_rows: int | None = 5000, seed: int = 0) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the ``[0, 1]`` pixels (before transform), for ``normalize``.

        Uses a random subset of ``max_rows`` rows (all rows when None or when there are fewer).
        """
        n = len(self)
        rows = np.arange(n) if max_rows is None or max_rows >= n else np.sort(
            np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
        s = np.zeros(self.channels)
        s2 = np.zeros(self.channels)
        for i in rows:
            px = self.pixels(int(i)).reshape(self.channels, -1).astype(np.float64) / 255.0
            s += px.mean(axis=1)
            s2 += (px ** 2).mean(axis=1)
        mean = s / len(rows)
        std = np.sqrt(np.maximum(s2 / len(rows) - mean ** 2, 1e-12))
        return mean.tolist(), std.tolist()
