"""``fer-explain explain``: explain every face of a manifest split with a checkpoint (maps in shards, one table).

A thin wrapper over :func:`fer_explain.analysis.dataset_explain.explain_dataset`; its argument errors
come back naming the flag (``argument --methods: ...``) and exit with status 2. Runs unchanged under
``torchrun --nproc_per_node N -m fer_explain explain ...`` (each rank takes its shards, rank 0 writes
the table).
"""

from __future__ import annotations

import argparse
from typing import Any

from fer_explain.cli.common import images_per_forward, positive_int
from fer_explain.cli.errors import UsageError

NAME = "explain"

FLAGS: dict[str, str] = {
    "methods": "--methods", "split": "--split", "target": "--target", "landmarks": "--landmarks",
    "regions": "--regions", "region_set": "--region-set", "shard_size": "--shard-size", "batch_size": "--batch-size",
    "dtype": "--dtype", "images_per_forward": "--images-per-forward", "out_dir": "--out", "margin": "--margin",
}
"""explain_dataset's parameter -> the flag that sets it (for the error messages)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="explain every face of a manifest split: per-face maps in shards and one table",
        description="Explain every face of a split with a checkpoint (its evaluation view, the registry's explainers "
        "and defaults) and write the maps in safetensors shards of --shard-size faces plus table.parquet / table.csv: "
        "label, prediction, probabilities and, per method, the share of the map in each face region, its sparsity "
        "and the drop of the explained class's probability when the map's top 10 %% pixels are blacked out. "
        "Rerun with the same arguments to resume after an interruption; runs under torchrun.",
    )
    p.add_argument("checkpoint", help="checkpoint path (with or without .safetensors)")
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--out", required=True, help="output folder (a rerun with the same arguments resumes in it)")
    p.add_argument("--split", default="test", help="split to explain (default test)")
    p.add_argument("--methods", default="gradcam,occlusion,regions",
                   help="comma-separated methods: the explainer registry's (cam, gradcam, gradcam++, "
                   "integrated_gradients, occlusion, saliency, se_map) and regions (face-region masking); "
                   "default gradcam,occlusion,regions")
    p.add_argument("--target", choices=("label", "prediction"), default="label",
                   help="class to explain: the true label (default) or the prediction")
    lm = p.add_mutually_exclusive_group()
    lm.add_argument("--landmarks", dest="landmarks", action="store_const", const="compute", default="manifest",
                    help="compute landmarks with dlib for faces whose manifest row has none (default: every face "
                    "must have them)")
    lm.add_argument("--no-landmarks", dest="landmarks", action="store_const", const="none",
                    help="no region statistics (and no regions method)")
    p.add_argument("--regions", help="comma-separated regions for the per-region shares (default: every region of "
                   "the region set)")
    p.add_argument("--region-set", help="region set (default symmetric)")
    p.add_argument("--margin", help="region hull margin, e.g. 5%% or 2 (pixels); default 5%%")
    p.add_argument("--shard-size", type=positive_int, default=512, help="faces per shard file (default 512)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="faces per explainer call (default 32)")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16",
                   help="dtype of the stored maps (default float16)")
    p.add_argument("--images-per-forward", type=images_per_forward, default=128,
                   help="occluded images per forward pass (default 128), or 'auto' to measure the fastest once "
                   "(recorded for resumes, but not bit-reproducible between fresh runs)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)
    return p


def _margin(text: str | None) -> int | float | str | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def run(args: argparse.Namespace) -> int:
    from fer_explain.analysis.dataset_explain import ExplainArgumentError, explain_dataset

    regions = [r.strip() for r in args.regions.split(",") if r.strip()] if args.regions else None
    try:
        result = explain_dataset(
            args.checkpoint, args.manifest, args.out, split=args.split, methods=args.methods.split(","),
            target=args.target, landmarks=args.landmarks, regions=regions, region_set=args.region_set,
            margin=_margin(args.margin), shard_size=args.shard_size, batch_size=args.batch_size, dtype=args.dtype,
            images_per_forward=args.images_per_forward, device=args.device, progress=not args.quiet,
        )
    except ExplainArgumentError as exc:
        raise UsageError(f"argument {FLAGS.get(exc.argument, exc.argument)}: {exc}") from exc
    if result.table is not None:
        n = len(result.table)
        print(f"explained {n} faces of split {args.split!r} ({len(result.computed)} shard(s) computed, "
              f"{len(result.skipped)} found complete); accuracy {result.table['correct'].mean():.4f}")
        print(f"wrote {args.out}: explain.json, {len(result.record['shards'])} shard(s), table.parquet, table.csv")
    return 0
