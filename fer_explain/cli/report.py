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
    p.add_argument("--methods", default=None,
                   help="comma-separated explainers: gradcam, gradcam++, occlusion, saliency, integrated_gradients, "
                   "cam, se_map (default gradcam,occlusion; with --explain-dir the run's methods)")
    p.add_argument("--explain-dir", default=None, metavar="DIR",
                   help="output folder of `fer-explain explain` for this checkpoint and manifest split: take the "
                   "example maps and the region x emotion tables (over the whole split) from it instead of "
                   "recomputing them; a run of another checkpoint or manifest split is refused")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.manifest import Manifest

    manifest = Manifest.load(args.manifest)  # checked before the checkpoint is loaded and --out is created
    require_splits(manifest, {"--split": args.split}, args.manifest)
    methods = None if args.methods is None else tuple(m.strip() for m in args.methods.split(","))

    from fer_explain.analysis.report import REPORT_METHODS, write_report

    bad = [m for m in methods or () if m not in REPORT_METHODS]
    if bad:
        raise UsageError(f"argument --methods: unknown explanation method(s) {bad}; valid: {list(REPORT_METHODS)}")
    if args.explain_dir is not None:
        from fer_explain.analysis.explain_output import load_explain_run

        load_explain_run(args.explain_dir)  # a folder that is no finished run: refused before anything is written
    paths = write_report(
        args.checkpoint, args.manifest, args.out, split=args.split, max_samples=args.max_samples,
        methods=methods, explain_dir=args.explain_dir, device=args.device, progress=not args.quiet,
    )
    for name, path in paths.items():
        print(f"{name:24s} {path}")
    print(f"wrote {len(paths)} files to {args.out}")
    return 0
