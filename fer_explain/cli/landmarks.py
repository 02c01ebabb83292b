"""``fer-explain landmarks``: add dlib 68-point landmarks to a manifest (computed once, stored in it)."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "landmarks"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="add dlib 68-point landmarks to a manifest (computed once, stored in the manifest)",
        description="Detect faces and predict 68 landmarks for every row that has none; landmarks given by the "
        "dataset or the synthetic generator are kept. Faces the HOG detector misses (small registered crops such as "
        "FER2013) fall back to the whole-image box unless --no-fallback. Prints how many faces took each path.",
    )
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--out", help="where to save the manifest with landmarks (default: overwrite the input)")
    p.add_argument("--root", help="override the root folder recorded in the manifest")
    p.add_argument("--upsample", type=int, default=1, help="detector upsampling steps (default 1; 48x48 faces need 1)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default 0: in this process)")
    p.add_argument("--no-fallback", action="store_true", help="no whole-image fallback when no face is detected")
    p.add_argument("--skip-missing", action="store_true",
                   help="with --no-fallback, leave faces without a detection empty instead of stopping")
    p.add_argument("--overwrite", action="store_true", help="recompute landmarks that are already present")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.manifest import Manifest

    manifest = Manifest.load(args.manifest, root=args.root)  # before dlib is imported: a bad path fails fast

    from fer_explain.faces.landmarks import extract_landmarks

    result, summary = extract_landmarks(
        manifest, upsample=args.upsample, fallback=not args.no_fallback, workers=args.workers,
        progress=not args.quiet, overwrite=args.overwrite, errors="skip" if args.skip_missing else "raise",
    )
    print(summary.to_string())
    out = args.out or args.manifest
    path = result.save(out)
    print(f"wrote {path}")
    return 0
