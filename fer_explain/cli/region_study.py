"""``fer-explain region-study``: seed 002's face-region study (one model per region) as its named preset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fer_explain.cli.common import parse_options
from fer_explain.cli.errors import UsageError

NAME = "region-study"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="seed 002's region study: one model per face region, its table beside the paper's Table 5",
        description="Train one classifier per face region of seed 002's Table 4 (literal landmark ranges) on "
        "region-only inputs, padded to squares or square-cropped, with the paper's augmentation, and test it "
        "on the same region. Every default is the preset fer_explain.analysis.region_study.SEED002_REGION_STUDY "
        "(--show-preset prints each value and its source). --data ferplus is the paper's split (FER+ Training + "
        "PublicTest / PrivateTest); --data fer2013 the substitute (the project protocol: Training less 3,500 "
        "validation faces / PublicTest). The manifest needs landmarks (fer-explain landmarks). Writes "
        "region_study.csv/.json to --out after every region; rerunning skips the regions already there.",
    )
    p.add_argument("manifest", nargs="?", help="manifest CSV path (with landmarks)")
    p.add_argument("--data", default="fer2013", help="data protocol: fer2013 (default) or ferplus")
    p.add_argument("--out", help="output folder (region_study.csv, region_study.json)")
    p.add_argument("--variant", action="append", default=[], help="pad (default) or square_crop; repeatable")
    p.add_argument("--region", action="append", default=[], help="train only this region; repeatable")
    p.add_argument("--runs", type=int, help="runs per region (default the preset's 5)")
    p.add_argument("--model", help="registered model (default the preset's vgg_fer)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument (default the preset's width=0.25)")
    p.add_argument("--size", type=int, help="input side (default 48 for fer2013, the paper's 64 for ferplus)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field of the seed002 recipe, e.g. --set epochs=10")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--show-preset", action="store_true", help="print the preset's values and sources and exit")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from fer_explain.analysis.region_study import (
        STUDY_DATA,
        compare_with_table5,
        region_study_table,
        run_region_study,
    )

    if args.show_preset:
        for field, row in region_study_table().iterrows():
            print(f"{field} = {row['value']}\n    {row['source']}")
        return 0
    if not args.manifest or not args.out:
        raise UsageError("region-study needs MANIFEST and --out (or --show-preset)")
    if args.data not in STUDY_DATA:
        raise UsageError(f"argument --data: unknown data protocol {args.data!r}; valid: {list(STUDY_DATA)}")
    for v in args.variant:
        if v not in ("pad", "square_crop"):
            raise UsageError(f"argument --variant: {v!r} is not one of seed 002's Table 5 variants (pad, square_crop)")
    from fer_explain.cli.train import check_model_and_recipe
    from fer_explain.data.manifest import Manifest

    overrides = parse_options(args.set, flag="--set")
    check_model_and_recipe(args.model, "seed002", overrides)
    if args.region:
        from fer_explain.data.errors import UnknownNameError
        from fer_explain.faces.regions import get_region

        for r in args.region:
            try:
                get_region(r, "seed002")
            except (KeyError, UnknownNameError, ValueError) as exc:
                raise UsageError(f"argument --region: {exc}") from exc
    manifest = Manifest.load(args.manifest)
    if not manifest.has_landmarks().all():
        missing = int((~manifest.has_landmarks()).sum())
        raise UsageError(f"{args.manifest}: {missing} of {len(manifest)} rows have no landmarks; run "
                         f"`fer-explain landmarks {args.manifest}` first")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    table = run_region_study(manifest, args.data, variants=args.variant or None, regions=args.region or None,
                             runs=args.runs, model=args.model,
                             model_args=parse_options(args.model_arg, flag="--model-arg") or None, size=args.size,
                             out=args.out, device=args.device, **overrides)
    with pd.option_context("display.width", 200):
        print(compare_with_table5(table).to_string())
    print(f"wrote {Path(args.out) / 'region_study.csv'}")
    return 0
