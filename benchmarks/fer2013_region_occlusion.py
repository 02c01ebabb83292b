"""The cheap region experiment on real faces: the shipped FER2013 Deep-Emotion evaluated on FER2013
PublicTest faces with each face region kept alone or removed: seed 002's seven region names drawn from
the project's symmetric region set (``region_set="symmetric"``, e.g. "eyes" = both brows and both eyes),
not seed 002's Table 4 taken literally (``region_set="seed002"``); landmarks from dlib.

    python benchmarks/fer2013_region_occlusion.py /tmp/fer2013 [--checkpoint fer2013/vgg_fer] [--out table.csv]

The path may also come from FER_EXPLAIN_FER2013_DIR. Prints the landmark paths taken and the table.
"""

from __future__ import annotations

import argparse
import os

import torch

from fer_explain.analysis.regions import SEED002_REGIONS, evaluate_region_occlusion, face_arrays
from fer_explain.data.sources import build_manifest
from fer_explain.faces import extract_landmarks
from fer_explain.train import list_shipped, load_checkpoint, shipped_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=os.environ.get("FER_EXPLAIN_FER2013_DIR"))
    ap.add_argument("--split", default="publictest")
    ap.add_argument("--baseline", default="zero")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--checkpoint", default="fer2013/deep_emotion",
                    help="a shipped checkpoint name (fer_explain.train.list_shipped()) or a checkpoint path")
    ap.add_argument("--out", help="write the table as CSV")
    args = ap.parse_args()
    if not args.root:
        ap.error("give the FER2013 folder (train/, test/) or set FER_EXPLAIN_FER2013_DIR")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    manifest = build_manifest("fer2013", args.root).select(args.split)
    manifest, summary = extract_landmarks(manifest, upsample=1, workers=args.workers)
    print(summary.to_string())
    shipped = args.checkpoint in list_shipped()
    model, meta = load_checkpoint(shipped_checkpoint(args.checkpoint) if shipped else args.checkpoint)
    spec = meta["input"]
    faces = face_arrays(manifest, size=spec["size"], channels=spec["channels"], crop_margin=0.0)
    table = evaluate_region_occlusion(model, faces, regions=SEED002_REGIONS, baseline=args.baseline,
                                      normalize=(spec["mean"], spec["std"]), region_set="symmetric")
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
