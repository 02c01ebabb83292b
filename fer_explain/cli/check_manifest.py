"""``fer-explain check-manifest``: report every problem of a manifest in one pass, optionally write a cleaned copy."""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "check-manifest"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="report every problem of a manifest in one pass",
        description="Check a manifest's table and (by default) every image it references; report all problems. "
        "With --clean, write a cleaned manifest and the list of dropped rows. Exit status 1 when problems exist.",
    )
    p.add_argument("manifest", help="manifest CSV (or Parquet) path")
    p.add_argument("--root", help="override the root folder recorded in the manifest")
    p.add_argument("--no-files", action="store_true", help="check only the table, not the images")
    p.add_argument("--clean", metavar="OUT", help="write the cleaned manifest to OUT and dropped rows beside it")
    p.add_argument("--ignore-hash", action="store_true", help="accept a table edited after it was saved")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.check import check_manifest, write_cleaned
    from fer_explain.data.manifest import Manifest

    manifest = Manifest.load(args.manifest, root=args.root, verify_hash=not args.ignore_hash)
    report = check_manifest(manifest, check_files=not args.no_files, progress=not args.quiet)
    print(report.summary())
    if args.clean:
        if report.table_problems:
            print("not writing a cleaned manifest: the problems above are not tied to rows", file=sys.stderr)
            return 1
        cleaned, dropped = write_cleaned(report, args.clean)
        print(f"wrote cleaned manifest {cleaned} ({len(manifest) - len(report.dropped())} rows) "
              f"and dropped rows {dropped} ({len(report.dropped())} rows)")
    return 0 if report.ok else 1
