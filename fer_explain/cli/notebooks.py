"""``fer-explain notebooks``: execute the notebook series headless and write the executed notebooks and figures."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from fer_explain.cli.common import parse_options
from fer_explain.cli.errors import UsageError

NAME = "notebooks"
FER2013_ENV = "FER_EXPLAIN_FER2013_DIR"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="execute the notebook series headless and write the executed notebooks and figures",
        description="Run notebooks/00_quickstart ... 08_explorer in order, each in its own kernel, on the embedded "
        "synthetic default, or on real FER2013 with the shipped FER2013 checkpoints (--fer2013 DIR; other datasets: "
        "FER_EXPLAIN_CKPLUS_DIR etc., see notebooks/README.md). Writes the executed notebooks and their figures "
        "to --out.",
    )
    p.add_argument("--out", default="results", help="results folder (default results/)")
    p.add_argument("--fer2013", metavar="DIR", default=None,
                   help="FER2013's folder, as fer2013.csv (Training/PublicTest/PrivateTest) or as train/ and test/ "
                        f"image folders: the notebooks run on it (sets {FER2013_ENV} for the kernels)")
    p.add_argument("--only", action="append", default=[], metavar="NOTEBOOK",
                   help="run only this notebook (repeatable), e.g. --only 05_explainers")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameters-cell variable in every notebook, e.g. --param EPOCHS=30")
    p.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    p.set_defaults(handler=run)
    return p


def fer2013_env(value: str | None) -> dict[str, str]:
    """The kernels' ``FER_EXPLAIN_FER2013_DIR`` for ``--fer2013 value`` (else the variable already set), made
    absolute (the kernels run in ``notebooks/``) and checked to hold a FER2013 layout before any kernel starts.

    Raises:
        UsageError: the folder does not exist or holds no FER2013 layout; the message names ``--fer2013`` (or
            the variable, when it came from the environment).
    """
    from fer_explain.data.sources.fer2013 import detect_fer2013_variant

    source = "argument --fer2013" if value is not None else FER2013_ENV
    raw = value if value is not None else os.environ.get(FER2013_ENV, "")
    if not raw.strip():
        return {}
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise UsageError(f"{source}: {raw}: no such folder (give FER2013's folder: fer2013.csv, or train/ and test/)")
    root = path.parent if path.is_file() and path.suffix.lower() == ".csv" else path
    try:
        detect_fer2013_variant(root)
    except FileNotFoundError as exc:
        raise UsageError(f"{source}: {exc}") from None
    return {FER2013_ENV: str(path)}


def run(args: argparse.Namespace) -> int:
    from fer_explain.run_notebooks import find_notebooks, run_series

    parameters = parse_options(args.param, flag="--param")
    env = fer2013_env(args.fer2013)  # a bad folder fails here, before any kernel starts
    find_notebooks(args.only or None)  # an unknown --only name fails here, before any kernel starts
    paths = run_series(args.out, notebooks=args.only or None, timeout=args.timeout, parameters=parameters or None,
                       env=env)
    print(f"executed {len(paths)} notebooks; results in {Path(args.out).resolve()}")
    return 0
