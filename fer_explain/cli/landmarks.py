"""``fer-explain landmarks``: add dlib 68-point landmarks to a manifest (computed once, stored in it)."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "landmarks"


def _count(text: str) -> int:
    """A whole number >= 0 (``--upsample``, ``--workers``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="add dlib 68-point landmarks to a manifest (computed once, stored in the manifest)",
        description="Detect faces and predict 68 landmarks for every row that has none; landmarks given by the "
        "dataset or the synthetic generator are kept. Faces the HOG detector misses (small registered crops such as "
        "FER2013) fall back to the whole-image box unless --no-fallback. With --boxes, each detected face's box is "
        "stored too (dlib's box moved up to where FER2013 frames faces; FaceDataset crops it grown by its "
        "crop_margin, whose default 0.1 completes FER2013's framing); faces without a detection keep no box and "
        "are counted. Prints how many faces took each path.",
    )
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--out", help="where to save the manifest with landmarks (default: overwrite the input)")
    p.add_argument("--root", help="override the root folder recorded in the manifest")
    p.add_argument("--upsample", type=_count, default=1, help="detector upsampling steps (default 1; 48x48 faces need 1)")
    p.add_argument("--workers", type=_count, default=0, help="worker processes (default 0: in this process)")
    p.add_argument("--no-fallback", action="store_true", help="no whole-image fallback when no face is detected")
    p.add_argument("--skip-missing", action="store_true",
                   help="with --no-fallback, leave faces without a detection empty instead of stopping")
    p.add_argument("--boxes", action="store_true",
                   help="also store each detected face box in the manifest's box columns (for whole photos: "
                   "the model then sees the cropped face); rows without a detection keep no box")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute landmarks (and, with --boxes, boxes) that are already present")
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
        boxes=args.boxes,
    )
    print(summary.to_string())
    if args.boxes:
        boxed, n = int(summary["boxed"].sum()), len(result)
        print(f"face boxes: {boxed} of {n} faces have one; {n - boxed} with no face detected keep none "
              "(the whole image is used)")
    out = args.out or args.manifest
    path = result.save(out)
    print(f"wrote {path}")
    return 0
