"""Loading speed of FaceDataset on the FER2013 image folders: cache fill, cached epochs, preloaded epoch.

Usage::

    python benchmarks/bench_loading.py [FER2013_DIR] [--split train] [--cache-dir DIR] [--fill-workers 0]

``FER2013_DIR`` (or ``$FER_EXPLAIN_FER2013_DIR``) holds ``train/<emotion>/*.jpg`` and
``test/<emotion>/*.jpg``. The cache goes to a fresh temporary folder unless ``--cache-dir`` is
given (a cache that is already built there makes the "fill" line a no-op). Timed, each once:

1. building the pixel cache (the first epoch: every JPEG decoded and written to the memmap),
2. one epoch over the cached dataset with a DataLoader of batch 64, ``num_workers`` 0 and 2,
3. one epoch over the preloaded in-memory tensor (batch 64, ``num_workers`` 0).

Each line prints seconds and images/s, plus the 1-minute load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from fer_explain.data.dataset import FaceDataset, make_loader
from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.labels import canonical_label

SPLIT_PREFIXES = {"Training": "train", "PublicTest": "publictest", "PrivateTest": "privatetest"}


def walk_fer2013_folders(root: Path) -> Manifest:
    """Fallback manifest builder: ``<root>/<train|test>/<emotion folder>/<Prefix>_<id>.jpg``."""
    rows = []
    for top in ("train", "test"):
        for folder in sorted(p for p in (root / top).iterdir() if p.is_dir()):
            label = canonical_label("fer2013_folders", folder.name)
            for f in sorted(folder.iterdir()):
                if f.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                    continue
                prefix = f.name.split("_", 1)[0]
                split = SPLIT_PREFIXES.get(prefix, top)
                rows.append({"dataset": "fer2013", "image": f"{top}/{folder.name}/{f.name}", "label": label,
                             "split": split})
    return make_manifest(rows, root, name="fer2013")


def fer2013_manifest(root: Path) -> tuple[Manifest, str]:
    """The adapter's manifest when it is available, else :func:`walk_fer2013_folders`."""
    try:
        from fer_explain.data.sources import build_manifest  # type: ignore[attr-defined]

        return build_manifest("fer2013", root), "fer_explain.data.sources.build_manifest"
    except (ImportError, TypeError):
        pass
    try:
        from fer_explain.data.sources.fer2013 import build_fer2013_manifest

        return build_fer2013_manifest(root, variant="folders", progress=False), "sources.fer2013"
    except Exception as exc:  # noqa: BLE001 -- the adapter is optional here: walk the folders instead
        print(f"(sources.fer2013 unavailable: {type(exc).__name__}: {exc}; walking the folders)", flush=True)
        return walk_fer2013_folders(root), "folder walk (bench_loading.py)"


def epoch(loader: torch.utils.data.DataLoader) -> int:
    n = 0
    for x, _ in loader:
        n += x.shape[0]
    return n


def report(what: str, n: int, seconds: float) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{what:<44s} {seconds:8.2f} s  {n / seconds:10.0f} images/s   (load avg {load:.2f})", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", nargs="?", default=os.environ.get("FER_EXPLAIN_FER2013_DIR"),
                    help="FER2013 folder layout (default: $FER_EXPLAIN_FER2013_DIR)")
    ap.add_argument("--split", default="train", help="split to load (default train: 28,709 faces)")
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--channels", type=int, default=1, choices=(1, 3))
    ap.add_argument("--cache-dir", default=None, help="cache folder (default: a temporary one, removed after)")
    ap.add_argument("--fill-workers", type=int, default=0, help="processes decoding while the cache fills")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    if not args.root:
        ap.error("give the FER2013 folder or set FER_EXPLAIN_FER2013_DIR")
    root = Path(args.root)
    if not (root / "train").is_dir():
        ap.error(f"{root}: no train/ folder (expected train/<emotion>/*.jpg)")
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    manifest, how = fer2013_manifest(root)
    manifest = manifest.select(args.split)
    print(f"manifest: {len(manifest)} rows of split {args.split!r} via {how} "
          f"({time.perf_counter() - t0:.1f} s); cpus={os.cpu_count()}", flush=True)

    tmp = None if args.cache_dir else tempfile.mkdtemp(prefix="fer_explain_bench_")
    cache_dir = Path(args.cache_dir or tmp)  # type: ignore[arg-type]
    try:
        ds = FaceDataset(manifest, size=args.size, channels=args.channels, cache_dir=cache_dir)
        n = len(ds)
        t0 = time.perf_counter()
        ds.build_cache(progress=True, workers=args.fill_workers)
        report(f"fill cache (decode, workers={args.fill_workers})", n, time.perf_counter() - t0)
        size_mb = ds.cache_path.stat().st_size / 2**20  # type: ignore[union-attr]
        print(f"cache file: {ds.cache_path} ({size_mb:.1f} MiB)", flush=True)

        for workers in (0, 2):
            cached = FaceDataset(manifest, size=args.size, channels=args.channels, cache_dir=cache_dir)
            assert cached.is_cached
            loader = make_loader(cached, batch_size=args.batch_size, shuffle=True, num_workers=workers, seed=0,
                                 persistent_workers=False)
            t0 = time.perf_counter()
            seen = epoch(loader)
            report(f"cached epoch, DataLoader workers={workers}", seen, time.perf_counter() - t0)

        t0 = time.perf_counter()
        pre = FaceDataset(manifest, size=args.size, channels=args.channels, cache_dir=cache_dir, preload=True,
                          progress=False)
        report("preload (memmap -> memory)", n, time.perf_counter() - t0)
        t0 = time.perf_counter()
        seen = epoch(make_loader(pre, batch_size=args.batch_size, shuffle=True, num_workers=0, seed=0))
        report("preloaded epoch, DataLoader workers=0", seen, time.perf_counter() - t0)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
