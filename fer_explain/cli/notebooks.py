"""``fer-explain notebooks``: execute the notebook series headless and write the executed notebooks and figures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fer_explain.cli.common import parse_options

NAME = "notebooks"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="execute the notebook series headless and write the executed notebooks and figures",
        description="Run notebooks/00_quickstart ... 08_explorer in order, each in its own kernel, on the embedded "
        "synthetic default (set FER_EXPLAIN_FER2013_DIR etc. for real data; see notebooks/README.md). Writes the "
        "executed notebooks and their figures to --out.",
    )
    p.add_argument("--out", default="results", help="results folder (default results/)")
    p.add_argument("--only", action="append", default=[], metavar="NOTEBOOK",
                   help="run only this notebook (repeatable), e.g. --only 05_explainers")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameters-cell variable in every notebook, e.g. --param EPOCHS=30")
    p.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.run_notebooks import find_notebooks, run_series

    parameters = parse_options(args.param, flag="--param")
    find_notebooks(args.only or None)  # an unknown --only name fails here, before any kernel starts
    paths = run_series(args.out, notebooks=args.only or None, timeout=args.timeout, parameters=parameters or None)
    print(f"executed {len(paths)} notebooks; results in {Path(args.out).resolve()}")
    return 0
