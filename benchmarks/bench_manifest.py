"""Seconds to build the FER2013 manifest: from the real image folders and from a synthetic fer2013.csv.

Usage::

    python benchmarks/bench_manifest.py [FER2013_DIR] [--rows 35887] [--repeat 3]

``FER2013_DIR`` (or the environment variable ``FER_EXPLAIN_FER2013_DIR``) is the extracted image-folder
layout (``train/<emotion>/*.jpg``, ``test/<emotion>/*.jpg``); without it the real-data timing is
skipped. The synthetic CSV (``emotion,pixels,Usage``, 2304 random pixel values per row, the
original's 35,887 rows by default) is written into a temporary folder and deleted afterwards.
Each timing is the best of ``--repeat`` runs (the first run of the folder scan may be slower when the
file system cache is cold; it is printed too).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fer_explain.data.sources.fer2013 import build_fer2013_manifest

USAGES = ("Training", "PublicTest", "PrivateTest")


def write_synthetic_fer2013_csv(path: Path, rows: int = 35_887, seed: int = 0, distinct: int = 512) -> Path:
    """Write a fer2013.csv with ``rows`` rows of valid random data (``distinct`` pixel strings, cycled)."""
    rng = np.random.default_rng(seed)
    table = [str(i) for i in range(256)]
    pixel_rows = [" ".join(table[v] for v in rng.integers(0, 256, 48 * 48)) for _ in range(min(distinct, rows))]
    emotions = rng.integers(0, 7, rows)
    # the original's proportions: 28,709 / 3,589 / 3,589
    n_train = round(rows * 28_709 / 35_887)
    n_pub = (rows - n_train) // 2
    usage = np.array([USAGES[0]] * n_train + [USAGES[1]] * n_pub + [USAGES[2]] * (rows - n_train - n_pub))
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write("emotion,pixels,Usage\n")
        f.writelines(f"{emotions[i]},{pixel_rows[i % len(pixel_rows)]},{usage[i]}\n" for i in range(rows))
    return path


def _time(fn, repeat: int) -> tuple[float, float, object]:
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fer2013_dir", nargs="?", default=os.environ.get("FER_EXPLAIN_FER2013_DIR"),
                    help="FER2013 image-folder layout (default: $FER_EXPLAIN_FER2013_DIR)")
    ap.add_argument("--rows", type=int, default=35_887, help="rows of the synthetic fer2013.csv")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing (best is reported)")
    args = ap.parse_args(argv)

    if args.fer2013_dir and Path(args.fer2013_dir).is_dir():
        first, best, m = _time(lambda: build_fer2013_manifest(args.fer2013_dir, progress=False), args.repeat)
        print(f"fer2013 image folders  ({args.fer2013_dir}): {len(m)} rows  "  # type: ignore[arg-type]
              f"first {first:.3f} s, best {best:.3f} s")
    else:
        print("fer2013 image folders: skipped (give a folder or set FER_EXPLAIN_FER2013_DIR)")

    with tempfile.TemporaryDirectory(prefix="bench_fer2013_") as tmp:
        t0 = time.perf_counter()
        csv = write_synthetic_fer2013_csv(Path(tmp) / "fer2013.csv", rows=args.rows)
        gen = time.perf_counter() - t0
        size_mb = csv.stat().st_size / 2**20
        first, best, m = _time(lambda: build_fer2013_manifest(tmp, progress=False), args.repeat)
        print(f"fer2013.csv synthetic  ({args.rows} rows, {size_mb:.0f} MiB, written in {gen:.1f} s): "
              f"{len(m)} rows  first {first:.3f} s, best {best:.3f} s")  # type: ignore[arg-type]
        first, best, _ = _time(lambda: build_fer2013_manifest(tmp, check_pixels=False, progress=False),
                               args.repeat)
        print(f"fer2013.csv synthetic, check_pixels=False: first {first:.3f} s, best {best:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
