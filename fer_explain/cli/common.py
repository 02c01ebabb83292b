"""Helpers the subcommands share: ``KEY=VALUE`` options, the command line for records, split checks.

Each helper raises :class:`~fer_explain.cli.errors.UsageError` naming the argument at fault, so a bad
value ends in one message and exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fer_explain.cli.errors import UsageError

if TYPE_CHECKING:
    from fer_explain.data.manifest import Manifest


def positive_int(text: str) -> int:
    """argparse ``type=``: an integer >= 1 (else argparse names the flag in its one-line error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def images_per_forward(text: str) -> int | str:
    """argparse ``type=`` of ``--images-per-forward``: ``auto`` or a positive integer."""
    return "auto" if text == "auto" else positive_int(text)


def parse_options(pairs: Sequence[str], flag: str = "--opt") -> dict[str, object]:
    """``["classes=8", "aligned=False"]`` -> ``{"classes": 8, "aligned": False}`` (Python literals or strings).

    A pair without ``=`` or with an empty key is a :class:`UsageError` naming ``flag``.
    """
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"argument {flag}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[key.strip()] = value
    return out


def command_line(args: argparse.Namespace | None = None) -> str:
    """The command as typed (``fer-explain train ...``), for the records written to checkpoints."""
    argv = getattr(args, "argv", None)
    if argv is None:
        argv = sys.argv[1:]
    return " ".join(["fer-explain", *(shlex.quote(a) for a in argv)])


def require_splits(manifest: Manifest, splits: Mapping[str, str | None], path: object,
                   hints: Mapping[str, str] | None = None) -> None:
    """Raise a :class:`UsageError` naming the flag (a key of ``splits``) whose split the manifest lacks.

    ``None`` or ``""`` values are skipped; ``hints`` adds a flag-specific sentence to the message.
    """
    present = sorted(str(s) for s in manifest.df["split"].dropna().unique())
    for flag, split in splits.items():
        if split and split not in present:
            hint = f" {hints[flag]}" if hints and flag in hints else ""
            raise UsageError(f"argument {flag}: split {split!r} is not in manifest {path}; its splits: {present}.{hint}")


def version() -> str:
    from fer_explain import __version__

    return f"fer-explain {__version__}"
