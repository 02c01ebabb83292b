"""``fer-explain report``: write every table and figure for a checkpoint on a manifest split into a folder."""

from __future__ import annotations

import argparse
from typing import Any

from fer_explain.cli.common import require_splits
from fer_explain.cli.errors import UsageError

NAME = "report"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="write every table and figure for a checkpoint on a manifest split into a folder",
        description="Evaluation table, raw and normalised confusion matrices, predictions, t-SNE, training curves, "
        "region x emotion attribution (when the manifest has landmarks), explanation grids, the occlusion figure and "
        "SE maps (for models with SE blocks), as CSV and PNG files plus summary.json.",
    )
    p.add_argument("checkpoint", help="checkpoint path (with or without .safetensors)")
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="test")
    p.add_argument("--max-samples", type=int, default=2000, help="cap on evaluated faces (default 2000)")
    p.add_argument("--methods", default="gradcam,occlusion",
                   help="comma-separated explainers: gradcam, gradcam++, occlusion, saliency, integrated_gradients, "
                   "cam, se_map")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.manifest import Manifest

    manifest = Manifest.load(args.manifest)  # checked before the checkpoint is loaded and --out is created
    require_splits(manifest, {"--split": args.split}, args.manifest)
    methods = tuple(m.strip() for m in args.methods.split(","))

    from fer_explain.analysis.report import REPORT_METHODS, write_report

    bad = [m for m in methods if m not in REPORT_METHODS]
    if bad:
        raise UsageError(f"argument --methods: unknown explanation method(s) {bad}; valid: {list(REPORT_METHODS)}")
    paths = write_report(
        args.checkpoint, args.manifest, args.out, split=args.split, max_samples=args.max_samples,
        methods=methods, device=args.device, progress=not args.quiet,
    )
    for name, path in paths.items():
        print(f"{name:24s} {path}")
    print(f"wrote {len(paths)} files to {args.out}")
    return 0
