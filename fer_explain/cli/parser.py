"""The ``fer-explain`` argument parser, assembled from one module per subcommand.

Each module in :data:`COMMANDS` has ``add_parser(subparsers)``, which adds its sub-parser and sets
``handler`` (its ``run(args) -> int``) as a default. A new subcommand is a new module added to
:data:`COMMANDS`; it gets ``--debug`` and the error handling of :func:`fer_explain.cli.main` for free.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from fer_explain.cli import (
    au_alignment,
    check_manifest,
    evaluate,
    explain,
    known_answer,
    landmarks,
    manifest,
    notebooks,
    region_study,
    report,
    synth,
    train,
)
from fer_explain.cli.common import version
from fer_explain.cli.errors import ArgumentParser

COMMANDS: tuple[ModuleType, ...] = (manifest, check_manifest, synth, landmarks, train, evaluate, report, explain,
                                    region_study, au_alignment, known_answer, notebooks)
"""The subcommand modules, in the order ``--help`` lists them."""

DEBUG_HELP = "on an error, show the Python traceback too (user errors otherwise print one message)"


def build_parser() -> argparse.ArgumentParser:
    """The full parser: global flags (``--version``, ``--debug``) and every subcommand of :data:`COMMANDS`."""
    parser = ArgumentParser(
        prog="fer-explain",
        description="Train facial emotion recognition models and find out why they predict what they predict.",
    )
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    for name, subparser in sub.choices.items():  # also accepted after the subcommand: fer-explain train --debug
        if not any("--debug" in a.option_strings for a in subparser._actions):
            subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        if subparser.get_default("handler") is None:
            raise RuntimeError(f"subcommand {name!r} sets no handler (call p.set_defaults(handler=run))")
    return parser
