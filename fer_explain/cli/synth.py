"""``fer-explain synth``: render synthetic FACS faces (exact landmarks, evidence masks) and their manifest."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from fer_explain.cli.common import parse_options
from fer_explain.cli.errors import UsageError

NAME = "synth"

FIELD_FLAGS: dict[str, str] = {
    "n": "--n", "size": "--size", "channels": "--channels", "seed": "--seed", "classes": "--contempt",
    "nuisance": "--nuisance", "evidence_regions": "--evidence-regions",
}
"""SyntheticFaceConfig field -> the flag that sets it (any other field comes from ``--opt``)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="render synthetic FACS faces (exact landmarks, evidence masks) and their manifest",
        description="Render procedural faces whose expressions are built from FACS action units, with the exact 68 "
        "landmarks and a ground-truth evidence mask per face; writes PNGs and a manifest. The same seed gives the "
        "same images byte for byte.",
    )
    p.add_argument("--n", type=int, default=2100, help="number of faces (default 2100, balanced over classes)")
    p.add_argument("--size", type=int, default=48, help="image side in pixels (48 .. 224; default 48)")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3), help="1 grey (default) or 3 RGB")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--contempt", action="store_true", help="8 classes (with contempt) instead of 7")
    p.add_argument("--nuisance", choices=("none", "default", "hard"), help="nuisance preset")
    p.add_argument("--evidence-regions", metavar="R1,R2", help="label carried only by these regions, e.g. mouth")
    p.add_argument("--opt", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other SyntheticFaceConfig field, e.g. --opt label_noise=0.1")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)
    return p


def _flag_for(message: str, changes: dict[str, object]) -> str:
    """The flag whose field a configuration error names (``--opt`` when no known flag is named).

    Only the part before ``"; valid"`` is searched (the list of valid names would match every field),
    and ``--opt`` fields come first.
    """
    head = message.split("; valid", 1)[0]
    for field in sorted(changes, key=lambda f: f in FIELD_FLAGS):
        if re.search(rf"(?<![\w]){re.escape(field)}(?![\w])", head):
            return FIELD_FLAGS.get(field, f"--opt {field}")
    return "--opt"


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.synthetic import SyntheticFaceConfig, write_synthetic

    changes: dict[str, object] = {"n": args.n, "size": args.size, "channels": args.channels, "seed": args.seed}
    if args.contempt:
        changes["classes"] = "basic8"
    if args.nuisance:
        changes["nuisance"] = args.nuisance
    if args.evidence_regions:
        changes["evidence_regions"] = tuple(args.evidence_regions.split(","))
    changes.update(parse_options(args.opt))
    try:  # only the settings are checked here: every error of this step comes from an argument
        config = SyntheticFaceConfig().replace(**changes)
    except (TypeError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise UsageError(f"argument {_flag_for(str(message), changes)}: {message}") from exc
    if config.n < 1:
        raise UsageError(f"argument --n: at least one face is needed, got {config.n}")
    manifest = write_synthetic(config, args.out, progress=not args.quiet)
    print(repr(manifest))
    print(manifest.class_distribution().to_string())
    print(f"wrote {Path(args.out) / 'manifest.csv'}")
    return 0
