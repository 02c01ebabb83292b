"""The resumable, memory-mapped on-disk pixel cache behind :class:`~fer_explain.data.dataset.FaceDataset`.

The decoded uint8 pixels of a whole manifest (``N x C x size x size``) are stored as one ``.npy``
file opened as a read-only memory map. Its name is a hash of (``manifest.content_hash()``,
resolved root, size, channels, crop_margin) (:func:`cache_key`), under ``cache_dir`` (default:
``$FER_EXPLAIN_CACHE`` or ``~/.cache/fer_explain/pixels``, :func:`default_cache_dir`):

``<key>.npy``
    the finished cache. It only ever appears by an atomic rename, so its existence *is* the
    completed marker; a sidecar ``<key>.json`` records what it holds.
``<key>.partial.npy`` + ``<key>.filled.npy``
    an unfinished fill and the bitmap of rows already written (the bitmap is saved only after
    the pixels it covers are flushed). :meth:`PixelCache.build` resumes from them after an
    interruption (an exception, Ctrl-C or a killed process).
``<key>.lock``
    an advisory ``flock`` held while filling, so two processes never fill the same cache at once
    (the second waits and then finds it finished).

Nothing is written until :meth:`PixelCache.build` is called. Every process (DataLoader workers
included) opens its own read-only map of the finished file (:meth:`PixelCache.pixels`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fer_explain._atomic import atomic_path, atomic_write_bytes
from fer_explain.data.decode import RowDecoder
from fer_explain.data.manifest import Manifest

__all__ = ["CACHE_FORMAT_VERSION", "PixelCache", "cache_key", "default_cache_dir"]

CACHE_FORMAT_VERSION = 1
"""Bumped whenever decoding changes in a way that makes old caches wrong."""

_CHECKPOINT_ROWS = 4096
"""Flush the partial cache and save the filled bitmap at least every this many rows."""


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


# --- files ----------------------------------------------------------------------------------------


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


# --- decoding in worker processes ----------------------------------------------------------------

_WORKER_DECODER: RowDecoder | None = None


def _init_worker(decoder: RowDecoder) -> None:
    global _WORKER_DECODER
    torch.set_num_threads(1)
    _WORKER_DECODER = decoder


def _decode_chunk(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER_DECODER is not None, "worker not initialised"
    return rows, _WORKER_DECODER.many(rows)


def _decode_chunks(decoder: RowDecoder, chunks: list[np.ndarray],
                   workers: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(rows, pixels)`` per chunk, in order; ``workers > 0`` decodes in that many processes."""
    if workers <= 0 or len(chunks) <= 1:
        for rows in chunks:
            yield rows, decoder.many(rows)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(decoder,)) as pool:
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


# --- the cache ------------------------------------------------------------------------------------


class PixelCache:
    """The pixel cache of one manifest at one (size, channels, crop_margin), in ``folder``.

    Args:
        folder: where the cache files live (created by :meth:`build`).
        manifest: the faces (its content hash and root are part of the key).
        decoder: decodes a row; its ``size``, ``channels`` and ``crop_margin`` fix the cache's.
    """

    def __init__(self, folder: str | os.PathLike[str], manifest: Manifest, decoder: RowDecoder):
        self.folder = Path(folder)
        self.decoder = decoder
        self.key = cache_key(manifest, decoder.size, decoder.channels, decoder.crop_margin)
        self.shape: tuple[int, int, int, int] = (len(decoder.images), decoder.channels, decoder.size,
                                                 decoder.size)
        self.manifest = manifest
        self._ready = self.path.is_file()
        self._mm: np.ndarray | None = None
        self._mm_pid: int | None = None

    @property
    def path(self) -> Path:
        """The finished cache file (it may not exist yet)."""
        return self.folder / f"{self.key}.npy"

    def side(self, suffix: str) -> Path:
        """A companion file of the cache: ``.json``, ``.partial.npy``, ``.filled.npy`` or ``.lock``."""
        return self.folder / f"{self.key}{suffix}"

    @property
    def is_ready(self) -> bool:
        """True when the finished cache exists (rows are read from it, not decoded)."""
        if not self._ready and self.path.is_file():
            self._ready = True
        return self._ready

    def pixels(self) -> np.ndarray:
        """This process's read-only memmap of the finished cache (reopened after a fork/unpickle)."""
        if self._mm is None or self._mm_pid != os.getpid():
            mm = _open_cache(self.path, self.shape)
            if mm is None:
                raise RuntimeError(
                    f"pixel cache {self.path} is missing or does not hold {self.shape} uint8 pixels; "
                    "call build_cache() again"
                )
            self._mm, self._mm_pid = mm, os.getpid()
        return self._mm

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_mm"], state["_mm_pid"] = None, None  # each process opens its own map
        return state

    def build(self, progress: bool = True, workers: int = 0, chunk_size: int = 256) -> Path:
        """Decode every row once into the cache; a no-op when it is already finished.

        Resumes an interrupted fill. ``workers > 0`` decodes in that many processes (the parent
        writes). Returns the cache path.
        """
        if self.is_ready and _open_cache(self.path, self.shape) is not None:
            return self.path
        self.folder.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.side(".lock")):
            if self.path.is_file() and _open_cache(self.path, self.shape) is not None:  # built meanwhile
                self._ready = True
                return self.path
            self._fill(progress=progress, workers=workers, chunk_size=chunk_size)
        self._ready = True
        self._mm = None
        return self.path

    def _fill(self, progress: bool, workers: int, chunk_size: int) -> None:
        partial, bitmap_path = self.side(".partial.npy"), self.side(".filled.npy")
        n = self.shape[0]
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
        d = self.decoder
        bar = tqdm(total=n, initial=n - len(todo), disable=not progress, unit="img",
                   desc=f"caching {self.manifest.name or 'manifest'} {d.size}px x{d.channels}")
        since_checkpoint = 0
        try:
            for rows, pixels in _decode_chunks(d, chunks, workers):
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
            "shape": list(self.shape), "size": d.size, "channels": d.channels,
            "crop_margin": d.crop_margin, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_bytes(self.side(".json"), (json.dumps(meta, indent=2) + "\n").encode())
        os.replace(partial, self.path)  # the completed marker: the final name appears atomically
        bitmap_path.unlink(missing_ok=True)
