"""Full-size region-contribution check (seed 002 Table 6) on mouth-only synthetic faces.

The label of every face is carried by the mouth alone (``evidence_regions=("mouth",)``), so the
known answer is: every region that contains the mouth (mouth, nose_mouth, mouth_eyes, face) is
recognised about as well as the whole face, and every region without it (nose, eyes, nose_eyes)
is at chance. Acceptance (the issue's thresholds): mouth-containing regions within 3 points of the
whole face, the others within 5 points of chance.

Trains one model per region with :func:`fer_explain.analysis.regions.train_region_models` and
prints the table (and, with ``--compare-padding``, Table 5's pad vs square-crop comparison).

The defaults are the configuration that passes on one CPU thread (about 23 minutes for the seven
region models, twice that with ``--compare-padding``)::

    python benchmarks/region_contribution.py --n 6000 --epochs 30 --scheduler cosine --model deep_emotion --device cpu --threads 1

Measured (2-core CPU, one thread, while another training run used the other core; the command
above; 3600 train / 400 validation / 2000 test faces; Deep-Emotion, Adam lr 3e-3 with a cosine
schedule over 30 epochs, best validation epoch kept; 1,395 s):

    region      accuracy   acceptance
    mouth       0.9815     within 3 points of the whole face (0.9585): ok
    nose        0.1425     within 5 points of chance (0.1429): ok
    eyes        0.1425     ok
    nose_mouth  0.9730     ok
    nose_eyes   0.1415     ok
    mouth_eyes  0.9585     ok
    face        0.9585     ok

With ``--compare-padding`` (Table 5 analogue, same run settings; square_crop / pad): mouth
0.9380 / 0.9815, nose 0.1425 / 0.1425, eyes 0.1420 / 0.1425, nose_mouth 0.9450 / 0.9730, nose_eyes
0.1465 / 0.1415, mouth_eyes 0.9150 / 0.9585, face 0.9645 / 0.9585 (1,351 s for the square-crop
models): padding to a square keeps the mouth-containing regions 3-4 points higher, as in seed 002.

Why Deep-Emotion and not SE-ResNet-18 (the earlier default): the torchvision-style ResNet stem
(7x7 stride-2 conv, then a stride-2 max-pool) shrinks a 48 x 48 face to 12 x 12 before the first
residual stage, where the mouth is a few pixels wide, while the padded mouth-only input magnifies it.
SE-ResNet-18 at width 0.25 stayed 9-10 points below its mouth-only model however long it trained:
mouth 0.9635 / face 0.8715 (H200, 15 epochs, constant lr) and mouth 0.9770 / face 0.8730 (this CPU,
30 epochs, cosine; nose 0.1410, eyes 0.1450, nose_mouth 0.9795, nose_eyes 0.1535, mouth_eyes 0.9280).
Deep-Emotion keeps full resolution through its first two convolutions. Seed 002 itself used a
VGG-style network (``vgg_fer``), which also keeps full resolution early; it trains ~3x slower here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from fer_explain.analysis.recorded import write_recorded
from fer_explain.analysis.regions import SEED002_REGIONS, compare_padding, face_arrays, train_region_models
from fer_explain.data.synthetic import SyntheticFaceConfig, generate

MOUTH_REGIONS = ("mouth", "nose_mouth", "mouth_eyes", "face")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6000, help="faces in all (2/3 train, 1/3 test)")
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--scheduler", choices=("none", "cosine"), default="cosine",
                    help="learning-rate schedule of every region model (cosine anneals over --epochs)")
    ap.add_argument("--model", default="deep_emotion")
    ap.add_argument("--width", type=float, default=0.25, help="width of se_resnet18 / vgg_fer / resemotenet")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--regions", nargs="+", default=list(SEED002_REGIONS), choices=SEED002_REGIONS,
                    help="regions to train (default all seven; acceptance needs 'face' among them)")
    ap.add_argument("--compare-padding", action="store_true", help="also run Table 5 (pad vs square_crop)")
    ap.add_argument("--record", metavar="DIR", default=None,
                    help="write the tables as recorded results (fer_explain/results: what notebook 04 shows)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    t0 = time.time()
    faces = face_arrays(generate(SyntheticFaceConfig(n=args.n, size=args.size, evidence_regions=("mouth",),
                                                     seed=args.seed)))
    n_train = 2 * args.n // 3
    train, test = faces.subset(np.arange(n_train)), faces.subset(np.arange(n_train, args.n))
    print(f"rendered {args.n} faces in {time.time() - t0:.1f}s; train {len(train)}, test {len(test)}, "
          f"device {args.device}")
    model_args = {"input_size": args.size}
    if args.model in ("se_resnet18", "vgg_fer", "resemotenet"):
        model_args["width"] = args.width
    if args.model == "deep_emotion":
        model_args = {}
    common = {"model_name": args.model, "model_args": model_args, "recipe": "quick", "epochs": args.epochs, "lr": args.lr,
              "batch_size": args.batch_size, "device": args.device, "seed": args.seed, "val_fraction": 0.1,
              "scheduler": None if args.scheduler == "none" else args.scheduler}
    t0 = time.time()
    table, _ = train_region_models((train, test), regions=args.regions, variant="pad", **common)
    pad_seconds = time.time() - t0
    info = {"data": f"synthetic mouth-only faces (evidence_regions=('mouth',)), {args.n} rendered with seed "
                    f"{args.seed}: {len(train)} train (10 % of it validation) / {len(test)} test",
            "model": f"{args.model}, one per region, {args.size} px",
            "training": f"lr {args.lr}, {args.scheduler} over {args.epochs} epochs, batch {args.batch_size}, "
                        "best validation epoch kept",
            "command": "python benchmarks/region_contribution.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "measured": f"{args.device}, {args.threads} thread(s); pad models {pad_seconds:.0f} s"}
    if args.record:
        write_recorded(table[["accuracy", "n_test"]], "region_contribution_mouth_only",
                       {**info, "table": "seed 002 Table 6 analogue: test accuracy of one model per region (pad)"},
                       args.record)
    print(f"\nregion models (pad), {pad_seconds:.0f}s:")
    print(table[["accuracy", "loss", "n_train", "n_test"]].round(4).to_string())

    chance = 1 / len(train.classes)
    if "face" not in args.regions:
        print("no whole-face model among --regions: acceptance not checked")
        return 0
    face = float(table.loc["face", "accuracy"])
    ok = True
    for r in args.regions:
        acc = float(table.loc[r, "accuracy"])
        if r in MOUTH_REGIONS:
            good = abs(acc - face) <= 0.03
            rule = f"within 3 points of the whole face ({face:.4f})"
        else:
            good = abs(acc - chance) <= 0.05
            rule = f"within 5 points of chance ({chance:.4f})"
        ok &= good
        print(f"  {r:11s} {acc:.4f}  {'ok  ' if good else 'FAIL'} {rule}")
    learned = face >= chance + 0.3
    ok &= learned
    print(f"  whole face learned (>= chance + 0.30): {'ok' if learned else 'FAIL: train longer or on more faces'}")
    if args.compare_padding:
        t0 = time.time()
        t5 = compare_padding((train, test), regions=args.regions, variants=("square_crop",), **common)
        t5.insert(1, "pad", table["accuracy"])  # the pad models were trained above
        if args.record:
            write_recorded(t5[["square_crop", "pad"]], "region_padding_mouth_only",
                           {**info, "table": "seed 002 Table 5 analogue: test accuracy, square_crop vs pad"},
                           args.record)
        print(f"\nTable 5 analogue (square_crop = non-padding), {time.time() - t0:.0f}s:")
        print(t5.round(4).to_string())
    print("\nACCEPTANCE", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
