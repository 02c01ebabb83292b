"""FaceDataset: a torch Dataset over a Manifest, with an on-disk pixel cache, samplers and class weights.

Decoding one row (:func:`decode_row`)
-------------------------------------
1. ``fer_explain.data.io.load_image(manifest.root, image, pixel_row)`` -> uint8 ``H x W[ x 3]``.
2. When the row has a face box (``box_x, box_y, box_w, box_h``, e.g. ExpW scenes and AffectNet
   photos), crop it, enlarged by ``crop_margin`` x box width (height) on the left and right (top
   and bottom). The crop keeps its full size: parts that fall outside the image are filled with
   **zeros** (black), so the face keeps its position and scale in the crop and no image content
   is invented (edge replication would smear hair and background into streaks).
3. Convert to ``channels`` with :func:`fer_explain.data.io.to_channels` (grey is repeated to RGB;
   RGB becomes ITU-R 601 luma).
4. Resize to ``size x size`` with PIL's bilinear filter. PIL widens the filter support when it
   downsamples, so large reductions average neighbouring pixels (area-like) instead of aliasing.
   The aspect ratio is not kept: a non-square box or image is stretched to a square.

The item is ``(x, label)``: ``x`` a float32 tensor ``C x size x size`` in ``[0, 1]`` passed through
``transform`` and then, when given, ``normalize=(mean, std)`` per channel; ``label`` the class
index in ``manifest.label_space``.

The pixel cache
---------------
The decoded uint8 pixels of the whole manifest (``N x C x size x size``) are stored as one ``.npy``
file opened as a read-only memory map. Its name is a hash of (``manifest.content_hash()``,
resolved root, size, channels, crop_margin), under ``cache_dir`` (default: ``$FER_EXPLAIN_CACHE``
or ``~/.cache/fer_explain/pixels``):

``<key>.npy``
    the finished cache. It only ever appears by an atomic rename, so its existence *is* the
    completed marker; a sidecar ``<key>.json`` records what it holds.
``<key>.partial.npy`` + ``<key>.filled.npy``
    an unfinished fill and the bitmap of rows already written (the bitmap is saved only after
    the pixels it covers are flushed). :meth:`FaceDataset.build_cache` resumes from them after an
    interruption (an exception, Ctrl-C or a killed process).
``<key>.lock``
    an advisory ``flock`` held while filling, so two processes never fill the same cache at once
    (the second waits and then finds it finished).

Nothing is written until :meth:`FaceDataset.build_cache` is called. Until then ``__getitem__``
decodes every item on the fly (no writes, so it is safe in any number of DataLoader workers);
afterwards, and in every later process whose manifest has the same key, items are plain reads of
the memory map (each process, DataLoader workers included, opens its own read-only map), with no
image decoding at all. ``preload=True`` copies all pixels into one in-memory uint8 tensor.

Example::

    >>> ds = FaceDataset(manifest.select("train"), size=48, channels=1,
    ...                  transform=get_transform("seed004", 48, train=True))
    >>> ds.build_cache()                       # decodes once, with a progress bar
    >>> loader = make_loader(ds, batch_size=64, oversample=True, num_workers=2, seed=0)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, WeightedRandomSampler
from tqdm.auto import tqdm

from fer_explain._atomic import atomic_path, atomic_write_bytes
from fer_explain.data import io as fio
from fer_explain.data.io import ImageReadError
from fer_explain.data.manifest import BOX_COLUMNS, Manifest

__all__ = [
    "FaceDataset",
    "SampleLoadError",
    "cache_key",
    "class_weights",
    "crop_box",
    "decode_row",
    "default_cache_dir",
    "make_loader",
]

CACHE_FORMAT_VERSION = 1
"""Bumped whenever decoding changes in a way that makes old caches wrong."""

_CHECKPOINT_ROWS = 4096
"""Flush the partial cache and save the filled bitmap at least every this many rows."""


class SampleLoadError(ImageReadError):
    """A manifest row could not be turned into pixels; names the manifest row index and the file."""

    def __init__(self, message: str, row: int | None = None, file: str | None = None):
        super().__init__(message)
        self.row = row
        self.file = file

    def __reduce__(self) -> tuple[Any, ...]:  # keep row/file across process boundaries
        return (type(self), (str(self), self.row, self.file))


# --- decoding ------------------------------------------------------------------------------------


def crop_bounds(box: Sequence[float], margin: float = 0.0) -> tuple[int, int, int, int]:
    """Whole-pixel bounds ``(x0, y0, x1, y1)`` that :func:`crop_box` cuts for ``box = (x, y, w, h)``
    enlarged by ``margin`` x (w, h) per side (at least one pixel wide and high; not validated)."""
    x, y, w, h = (float(v) for v in box)
    x0, x1 = round(x - margin * w), round(x + w + margin * w)
    y0, y1 = round(y - margin * h), round(y + h + margin * h)
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def crop_box(img: np.ndarray, box: Sequence[float], margin: float = 0.0) -> np.ndarray:
    """Crop ``box = (x, y, w, h)`` enlarged by ``margin`` x (w, h) per side; outside pixels are zero.

    Bounds are rounded to whole pixels. The result always has the enlarged box's size, even where
    it extends past the image border. Raises ``ValueError`` for a box that does not overlap the image.
    """
    _, _, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0):
        raise ValueError(f"face box {tuple(box)} has non-positive width/height")
    if margin < 0:
        raise ValueError(f"crop_margin must be >= 0, got {margin}")
    x0, y0, x1, y1 = crop_bounds(box, margin)
    height, width = img.shape[:2]
    ix0, ix1, iy0, iy1 = max(x0, 0), min(x1, width), max(y0, 0), min(y1, height)
    if ix0 >= ix1 or iy0 >= iy1:
        raise ValueError(f"face box {tuple(box)} lies outside the {width}x{height} image")
    if (x0, y0, x1, y1) == (ix0, iy0, ix1, iy1):
        return img[y0:y1, x0:x1]
    out = np.zeros((y1 - y0, x1 - x0, *img.shape[2:]), dtype=img.dtype)
    out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = img[iy0:iy1, ix0:ix1]
    return out


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    pil = Image.fromarray(np.ascontiguousarray(img))
    return np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))


def decode_row(
    root: str | os.PathLike[str],
    image: str,
    pixel_row: int | None,
    box: Sequence[float] | None,
    size: int,
    channels: int,
    crop_margin: float,
    *,
    row: int | None = None,
) -> np.ndarray:
    """Load, crop, convert and resize one face: uint8 ``channels x size x size``.

    ``box`` is ``(x, y, w, h)`` or None (or NaNs) for the whole image. Errors are
    :class:`SampleLoadError` naming ``row`` (the manifest row index) and the file.
    """
    where = f"manifest row {row} ({image!r}" + (f", pixel row {pixel_row}" if pixel_row is not None else "") + ")"
    try:
        img = fio.load_image(root, image, pixel_row)
    except ImageReadError as exc:
        raise SampleLoadError(f"{where}: {exc}", row=row, file=str(image)) from exc
    if box is not None and not any(math.isnan(float(v)) for v in box):
        try:
            img = crop_box(img, box, crop_margin)
        except ValueError as exc:
            raise SampleLoadError(f"{where}: {exc}", row=row, file=str(image)) from exc
    img = _resize(fio.to_channels(img, channels), size)
    out = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    return np.array(out, dtype=np.uint8, order="C", copy=True)  # writable, owns its memory


class _RowDecoder:
    """Everything needed to decode any row of one manifest; small and picklable (for worker pools)."""

    def __init__(self, manifest: Manifest, size: int, channels: int, crop_margin: float):
        df = manifest.df
        self.root = str(manifest.root)
        self.images: list[str] = df["image"].astype(str).tolist()
        if "pixel_row" in df:
            pr = df["pixel_row"]
            missing = pr.isna().to_numpy()
            values = pr.astype("float64").fillna(-1).to_numpy().astype(np.int64)
            self.pixel_rows: list[int | None] = [None if m else int(v) for v, m in zip(values, missing)]
        else:
            self.pixel_rows = [None] * len(df)
        self.boxes: np.ndarray | None = (
            manifest.boxes() if all(c in df for c in BOX_COLUMNS) else None
        )
        self.size, self.channels, self.crop_margin = size, channels, crop_margin

    def __call__(self, i: int) -> np.ndarray:
        box = None if self.boxes is None else self.boxes[i]
        return decode_row(self.root, self.images[i], self.pixel_rows[i], box, self.size, self.channels,
                          self.crop_margin, row=i)

    def many(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.channels, self.size, self.size), dtype=np.uint8)
        for k, i in enumerate(rows):
            out[k] = self(int(i))
        return out


_WORKER_DECODER: _RowDecoder | None = None


def _init_worker(decoder: _RowDecoder) -> None:
    global _WORKER_DECODER
    torch.set_num_threads(1)
    _WORKER_DECODER = decoder


def _decode_chunk(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER_DECODER is not None, "worker not initialised"
    return rows, _WORKER_DECODER.many(rows)


# --- cache helpers -------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$FER_EXPLAIN_CACHE`` or ``~/.cache/fer_explain/pixels``."""
    env = os.environ.get("FER_EXPLAIN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fer_explain" / "pixels"


def cache_key(manifest: Manifest, size: int, channels: int, crop_margin: float) -> str:
    """Hex key of the pixel cache for (manifest content, root, size, channels, crop_margin)."""
    payload = json.dumps({
        "version": CACHE_FORMAT_VERSION,
        "content": manifest.content_hash(),
        "root": str(Path(manifest.root).expanduser().resolve()),
        "size": int(size),
        "channels": int(channels),
        "crop_margin": round(float(crop_margin), 6),
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: no cross-process lock
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr)


def _checkpoint(mm: np.ndarray, filled: np.ndarray, bitmap_path: Path) -> None:
    """Flush the partial cache, then save the bitmap of rows it holds (pixels first, then the claim)."""
    mm.flush()  # type: ignore[attr-defined]
    _atomic_save_npy(bitmap_path, filled)


def _open_cache(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The finished cache as a read-only memmap, or None when absent or of the wrong shape."""
    try:
        mm = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if mm.shape != shape or mm.dtype != np.uint8:
        return None
    return mm


# --- the dataset ---------------------------------------------------------------------------------


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
        self._decoder = _RowDecoder(manifest, size, channels, self.crop_margin)
        self._mean, self._std = self._parse_normalize(normalize)
        self.normalize = normalize

        if cache_dir is True:
            raise ValueError("cache_dir must be a folder, None (default folder) or False (no cache), not True")
        self.cache_dir: Path | None = (
            None if cache_dir is False else (default_cache_dir() if cache_dir is None else Path(cache_dir))
        )
        self.cache_key: str | None = (
            cache_key(manifest, size, channels, self.crop_margin) if self.cache_dir is not None else None
        )
        self._mm: np.ndarray | None = None
        self._mm_pid: int | None = None
        self._cache_ready = self.cache_path is not None and self.cache_path.is_file()
        self._memory: torch.Tensor | None = None
        if preload:
            self.preload(progress=progress)

    # --- basics ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        state = "preloaded" if self._memory is not None else (
            "cached" if self._cache_ready else ("lazy" if self.cache_dir is not None else "no cache"))
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

    # --- cache paths ----------------------------------------------------------------------------
    @property
    def cache_path(self) -> Path | None:
        """The finished cache file (it may not exist yet); None when caching is disabled."""
        return None if self.cache_dir is None else self.cache_dir / f"{self.cache_key}.npy"

    def _side(self, suffix: str) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / f"{self.cache_key}{suffix}"

    @property
    def is_cached(self) -> bool:
        """True when the finished cache exists (items are read from it, not decoded)."""
        if not self._cache_ready and self.cache_path is not None and self.cache_path.is_file():
            self._cache_ready = True
        return self._cache_ready

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(N, C, size, size)`` of the pixel array."""
        return (len(self), self.channels, self.size, self.size)

    def _pixels_map(self) -> np.ndarray:
        """This process's read-only memmap of the finished cache (reopened after a fork/unpickle)."""
        if self._mm is None or self._mm_pid != os.getpid():
            assert self.cache_path is not None
            mm = _open_cache(self.cache_path, self.shape)
            if mm is None:
                raise RuntimeError(
                    f"pixel cache {self.cache_path} is missing or does not hold {self.shape} uint8 pixels; "
                    "call build_cache() again"
                )
            self._mm, self._mm_pid = mm, os.getpid()
        return self._mm

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_mm"], state["_mm_pid"] = None, None  # each process opens its own map
        return state

    # --- filling --------------------------------------------------------------------------------
    def build_cache(self, progress: bool = True, workers: int = 0, chunk_size: int = 256) -> Path:
        """Decode every row once into the on-disk cache; a no-op when it is already finished.

        Resumes an interrupted fill. ``workers > 0`` decodes in that many processes (the parent
        writes). Returns the cache path. Raises ``RuntimeError`` when caching is disabled.
        """
        if self.cache_dir is None or self.cache_path is None:
            raise RuntimeError("this FaceDataset has caching disabled (cache_dir=False); nothing to build")
        if self.is_cached and _open_cache(self.cache_path, self.shape) is not None:
            return self.cache_path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._side(".lock")):
            final = self.cache_path
            if final.is_file() and _open_cache(final, self.shape) is not None:  # built meanwhile
                self._cache_ready = True
                return final
            self._fill(progress=progress, workers=workers, chunk_size=chunk_size)
        self._cache_ready = True
        self._mm = None
        return self.cache_path

    def _fill(self, progress: bool, workers: int, chunk_size: int) -> None:
        partial, bitmap_path = self._side(".partial.npy"), self._side(".filled.npy")
        n = len(self)
        mm, filled = None, None
        if partial.is_file() and bitmap_path.is_file():
            try:
                mm = np.load(partial, mmap_mode="r+")
                filled = np.load(bitmap_path)
                if mm.shape != self.shape or mm.dtype != np.uint8 or filled.shape != (n,) or filled.dtype != bool:
                    mm, filled = None, None
            except (OSError, ValueError):
                mm, filled = None, None
        if mm is None or filled is None:
            mm = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=self.shape)
            filled = np.zeros(n, dtype=bool)
            _atomic_save_npy(bitmap_path, filled)
        todo = np.flatnonzero(~filled)
        chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), max(1, chunk_size))]
        bar = tqdm(total=n, initial=n - len(todo), disable=not progress, unit="img",
                   desc=f"caching {self.manifest.name or 'manifest'} {self.size}px x{self.channels}")
        since_checkpoint = 0
        try:
            for rows, pixels in self._decode_chunks(chunks, workers):
                if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
                    mm[rows[0]:rows[-1] + 1] = pixels
                else:
                    mm[rows] = pixels
                filled[rows] = True
                bar.update(len(rows))
                since_checkpoint += len(rows)
                if since_checkpoint >= _CHECKPOINT_ROWS:
                    _checkpoint(mm, filled, bitmap_path)
                    since_checkpoint = 0
        finally:
            _checkpoint(mm, filled, bitmap_path)
            bar.close()
        assert filled.all()
        del mm
        meta = {
            "format_version": CACHE_FORMAT_VERSION, "manifest": self.manifest.name,
            "content_hash": self.manifest.content_hash(), "root": str(self.manifest.root),
            "shape": list(self.shape), "size": self.size, "channels": self.channels,
            "crop_margin": self.crop_margin, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_bytes(self._side(".json"), (json.dumps(meta, indent=2) + "\n").encode())
        assert self.cache_path is not None
        os.replace(partial, self.cache_path)  # the completed marker: the final name appears atomically
        bitmap_path.unlink(missing_ok=True)

    def _decode_chunks(self, chunks: list[np.ndarray], workers: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if workers <= 0 or len(chunks) <= 1:
            for rows in chunks:
                yield rows, self._decoder.many(rows)
            return
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                 initargs=(self._decoder,)) as pool:
            # a bounded window of futures keeps memory flat on large manifests
            window = 4 * workers
            pending = [pool.submit(_decode_chunk, c) for c in chunks[:window]]
            nxt = window
            try:
                while pending:
                    rows, pixels = pending.pop(0).result()
                    if nxt < len(chunks):
                        pending.append(pool.submit(_decode_chunk, chunks[nxt]))
                        nxt += 1
                    yield rows, pixels
            finally:
                for f in pending:
                    f.cancel()

    def preload(self, progress: bool = True) -> torch.Tensor:
        """Hold every row's pixels in memory (uint8 ``N x C x size x size``); returns that tensor."""
        if self._memory is None:
            if self.cache_dir is not None:
                self.build_cache(progress=progress)
                self._memory = torch.from_numpy(np.array(self._pixels_map()))
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
        if self.is_cached:
            return np.array(self._pixels_map()[i])
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


# --- loaders and class weights -------------------------------------------------------------------


def _dataset_labels(dataset: Dataset) -> np.ndarray:
    """Labels of a FaceDataset, or of a Subset (possibly nested) of one."""
    if isinstance(dataset, Subset):
        return _dataset_labels(dataset.dataset)[np.asarray(dataset.indices, dtype=np.int64)]
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise TypeError(
            f"oversample=True needs per-row labels: {type(dataset).__name__} has no 'labels' attribute "
            "(use a FaceDataset, a Subset of one, or pass sampler=)"
        )
    return np.asarray(labels, dtype=np.int64)


def _seed_worker(worker_id: int) -> None:
    """Seed numpy and random in a DataLoader worker from torch's per-worker seed."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int = 64,
    shuffle: bool = True,
    oversample: bool = False,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
    sampler: Sampler[int] | None = None,
    pin_memory: bool = False,
    persistent_workers: bool | None = None,
) -> DataLoader:
    """A DataLoader, deterministic given ``seed`` (order, oversampling and worker augmentation seeds).

    With ``oversample=True`` rows are drawn with replacement with weights ``1 / count(class)``
    (``len(dataset)`` draws per epoch), so every class is about equally frequent: seed 004's
    "oversampling on the classes with fewer samples". ``shuffle`` is ignored when a sampler is used
    (``sampler=`` or ``oversample``). ``persistent_workers`` defaults to ``num_workers > 0``.
    """
    if sampler is not None and oversample:
        raise ValueError("give either sampler= or oversample=True, not both")
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    if oversample:
        labels = _dataset_labels(dataset)
        counts = np.bincount(labels)
        weights = 1.0 / counts[labels]
        sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double),  # type: ignore[arg-type]
                                        num_samples=len(labels), replacement=True, generator=generator)
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        worker_init_fn=_seed_worker if num_workers > 0 else None,
        pin_memory=pin_memory,
        persistent_workers=bool(persistent_workers and num_workers > 0),
    )


def class_weights(labels: Sequence[int] | np.ndarray | torch.Tensor, num_classes: int,
                  scheme: str = "inverse", beta: float = 0.999) -> torch.Tensor:
    """Per-class loss weights (float32, length ``num_classes``) for a class-weighted cross-entropy.

    ``"inverse"``: ``N / (K * n_c)`` (1 for every class of a balanced set; scikit-learn's
    "balanced"). ``"effective"``: ``(1 - beta) / (1 - beta ** n_c)`` (Cui et al., 2019, effective
    number of samples), rescaled so the weights of present classes sum to K. ``K`` is the number of
    classes present; a class with no rows gets weight 0 (it never appears as a target). Seed 003
    gives rarer classes "more weightage in the loss function" without a formula: ``"inverse"`` is
    the assumed default.
    """
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64).reshape(-1)
    if y.numel() == 0:
        raise ValueError("class_weights: no labels given")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ValueError(f"class_weights: labels must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}")
    counts = torch.bincount(y, minlength=num_classes).to(torch.float64)
    present = counts > 0
    k = int(present.sum())
    w = torch.zeros(num_classes, dtype=torch.float64)
    if scheme == "inverse":
        w[present] = y.numel() / (k * counts[present])
    elif scheme == "effective":
        if not 0 <= beta < 1:
            raise ValueError(f"class_weights: beta must be in [0, 1), got {beta}")
        raw = (1 - beta) / (1 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts[present]))
        w[present] = raw * k / raw.sum()
    else:
        raise ValueError(f"class_weights: unknown scheme {scheme!r}; valid: ['inverse', 'effective']")
    return w.to(torch.float32)
