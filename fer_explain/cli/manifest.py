"""``fer-explain manifest``: build a manifest (CSV + JSON sidecar) from a dataset's on-disk layout."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fer_explain.cli.common import parse_options
from fer_explain.cli.errors import UsageError

NAME = "manifest"


def _carve_amount(text: str) -> int | float:
    """``--carve-val`` value: a row count (>= 1) or a fraction in (0, 1)."""
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a row count or a fraction in (0, 1), got {text!r}") from None
    if not 0 < n < float("inf"):  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a row count >= 1 or a fraction in (0, 1), got {text!r}")
    return int(n) if n >= 1 else n


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="build a manifest from a dataset's on-disk layout",
        description="Build a manifest (CSV + JSON sidecar) from a dataset folder in its original layout. "
        "Run with --list to see every supported layout.",
    )
    p.add_argument("dataset", nargs="?", help="dataset adapter name (see --list)")
    p.add_argument("root", nargs="?", help="the dataset's folder")
    p.add_argument("--out", help="output path without suffix (default data_manifests/<dataset>)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="adapter option, e.g. --opt classes=8 (repeatable)")
    p.add_argument("--parquet", action="store_true", help="also write a Parquet copy")
    p.add_argument("--list", action="store_true", help="list the supported datasets and their layouts")
    p.add_argument("--carve-val", metavar="N", type=_carve_amount,
                   help="move N training rows (or a fraction < 1) to a stratified "
                   "'val' split, e.g. 3500 for FER2013 (the project protocol)")
    p.add_argument("--seed", type=int, default=0, help="seed of --carve-val (default 0)")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.sources import build_manifest, describe_layout

    if args.list or args.dataset is None:
        print(describe_layout())
        return 0
    if args.root is None:
        print(describe_layout(args.dataset))
        raise UsageError(f"ROOT (the {args.dataset} folder above) is required", prog=f"fer-explain {NAME}")
    manifest = build_manifest(args.dataset, args.root, **parse_options(args.opt))
    if args.carve_val is not None:
        from fer_explain.data.splits import carve_validation

        try:
            manifest = carve_validation(manifest, args.carve_val, seed=args.seed, from_split="train")
        except (KeyError, ValueError) as exc:  # no 'train' split, already a 'val' split, N too large
            raise UsageError(f"argument --carve-val: {str(exc).strip(chr(39))}") from exc
    out = Path(args.out) if args.out else Path("data_manifests") / args.dataset
    path = manifest.save(out, parquet=args.parquet)
    print(repr(manifest))
    print(manifest.class_distribution().to_string())
    print(f"wrote {path} (+ .json sidecar{', .parquet' if args.parquet else ''})")
    return 0
