"""Landmarks per second on real FER2013 faces, the cost of a cache hit, and region-mask throughput.

Usage::

    python benchmarks/bench_landmarks.py [FER2013_DIR] [--n 600] [--workers 1 2] [--upsample 0 1]

``FER2013_DIR`` (or ``FER_EXPLAIN_FER2013_DIR``, else ``/tmp/fer2013`` when it exists) is the extracted
image-folder layout (``train/<emotion>/*.jpg``). ``--n`` images are taken evenly over the seven
training folders. For each upsample and worker count, :func:`extract_landmarks` runs on a fresh
manifest (the time includes starting the worker processes and loading dlib's predictor in each);
``workers=0`` (in this process) is timed too. Then extraction runs again on the filled manifest (a
cache hit), and region masks / feature masks are timed on the extracted landmarks. On a shared
machine, numbers vary from run to run; the best of ``--repeat`` runs is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from fer_explain.data.manifest import make_manifest
from fer_explain.faces.landmarks import extract_landmarks, load_models
from fer_explain.faces.regions import (
    BASE_REGIONS,
    base_feature_mask,
    base_ids,
    list_regions,
    region_masks,
    region_masks_many,
)

FOLDER_LABELS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                 "neutral": "neutral", "sad": "sadness", "surprise": "surprise"}


def fer_sample(root: Path, n: int):
    per = -(-n // len(FOLDER_LABELS))
    rows = []
    for folder, label in FOLDER_LABELS.items():
        files = sorted((root / "train" / folder).glob("*.jpg"))[:per]
        rows += [{"dataset": "fer2013", "image": str(f.relative_to(root)), "label": label, "split": "train"}
                 for f in files]
    return make_manifest(rows[:n], root, name="fer2013_bench")


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fer2013_dir", nargs="?", default=os.environ.get("FER_EXPLAIN_FER2013_DIR", "/tmp/fer2013"))
    ap.add_argument("--n", type=int, default=600, help="images (default 600)")
    ap.add_argument("--upsample", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    root = Path(args.fer2013_dir)
    if not (root / "train").is_dir():
        print(f"FER2013 image folders not found at {root} (give FER2013_DIR or set FER_EXPLAIN_FER2013_DIR)")
        return 1
    m = fer_sample(root, args.n)
    t0 = time.perf_counter()
    load_models()
    print(f"{len(m)} FER2013 train images (48x48 grey) from {root}; cpu cores: {os.cpu_count()}")
    print(f"load dlib detector + 68-point predictor (once per process): {time.perf_counter() - t0:.2f} s\n")
    print(f"{'upsample':>8} {'workers':>7} {'seconds':>8} {'faces/s':>8} {'detected':>9} {'fallback':>9}")
    filled = None
    for up in args.upsample:
        for w in args.workers:
            sec, (out, summary) = best(lambda up=up, w=w: extract_landmarks(m, upsample=up, workers=w, progress=False), args.repeat)
            print(f"{up:>8} {w:>7} {sec:>8.2f} {len(m) / sec:>8.0f} {summary.loc['detected', 'share']:>9.1%} "
                  f"{summary.loc['fallback', 'share']:>9.1%}")
            filled = out
    assert filled is not None
    sec, (_, s2) = best(lambda: extract_landmarks(filled, progress=False), max(args.repeat, 5))
    assert s2["computed"].sum() == 0
    print(f"\ncache hit (all {len(m)} rows filled, nothing computed): {sec * 1e3:.2f} ms")

    lm = torch.as_tensor(filled.landmarks())
    for size in (48, 224):
        scaled = (lm + 0.5) * (size / 48) - 0.5
        sec, _ = best(lambda s=scaled, z=size: region_masks(s, "mouth_eyes", z), args.repeat)
        sec_f, _ = best(lambda s=scaled, z=size: base_feature_mask(s, z), args.repeat)
        print(f"region_masks('mouth_eyes', {size}x{size}): {len(m) / sec:,.0f} masks/s; "
              f"base_feature_mask: {len(m) / sec_f:,.0f} masks/s")
        # what `explain` needs per batch: every region of the set (mass columns) + the base partition (regions)
        names = list(dict.fromkeys([*list_regions(), *BASE_REGIONS]))
        sec_each, _ = best(lambda s=scaled, z=size, n=names: ([region_masks(s, r, z) for r in n],
                                                              base_feature_mask(s, z)), args.repeat)
        sec_many, _ = best(lambda s=scaled, z=size, n=names: base_ids(region_masks_many(s, n, z)), args.repeat)
        print(f"  all {len(names)} regions + base partition: one call per region {len(m) / sec_each:,.0f} faces/s, "
              f"region_masks_many (each hull once) {len(m) / sec_many:,.0f} faces/s ({sec_each / sec_many:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
