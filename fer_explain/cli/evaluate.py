"""``fer-explain evaluate``: score a checkpoint on one split of a manifest (cross-dataset through label spaces)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fer_explain.cli.common import command_line, require_splits

NAME = "evaluate"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="evaluate a checkpoint on a manifest split (cross-dataset through the label-space mapping)",
        description="Accuracy, per-class accuracy and support of a checkpoint on one split of a manifest. When the "
        "manifest's label space lacks a class of the model (e.g. no 'neutral'), that output's probability is set "
        "to zero.",
    )
    p.add_argument("checkpoint", help="checkpoint path (with or without .safetensors)")
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--split", default="test", help="split to score (default test)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="write the per-class table as CSV")
    p.add_argument("--tta", choices=["flip", "tencrop"],
                   help="test-time augmentation for this score only: 'flip' averages each face with its mirror, "
                   "'tencrop' the corner and centre crops of the resized face and their mirrors (explanations "
                   "always use the single evaluation view)")
    p.add_argument("--record", action="store_true",
                   help="append this evaluation (accuracy, per-class accuracy, command) to the checkpoint's JSON")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.manifest import Manifest

    manifest = Manifest.load(args.manifest)  # checked before the checkpoint and torch are loaded
    require_splits(manifest, {"--split": args.split}, args.manifest)

    from fer_explain.analysis.evaluation import evaluation_table
    from fer_explain.train.checkpoint import record_evaluation
    from fer_explain.train.pipeline import evaluate_checkpoint

    res = evaluate_checkpoint(args.checkpoint, args.manifest, split=args.split, device=args.device,
                              tta=args.tta)
    table = evaluation_table(res.labels, res.preds, manifest.label_space.classes)
    print(table.to_string())
    tta = f", test-time augmentation {args.tta}" if args.tta else ""
    print(f"accuracy {res.accuracy:.4f} on {len(res.labels)} faces (split {args.split}{tta})")
    if args.record:
        record_evaluation(args.checkpoint, {
            "manifest": manifest.name, "manifest_hash": manifest.content_hash(), "split": args.split,
            "n": len(res.labels), "accuracy": float(res.accuracy), "tta": args.tta,
            "per_class_accuracy": {c: float(v) for c, v in zip(manifest.label_space.classes, res.per_class_accuracy)},
            "confusion": res.confusion.tolist(),
            "command": command_line(args),
        })
        print(f"recorded in {args.checkpoint}.json")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out)
        print(f"wrote {args.out}")
    return 0
