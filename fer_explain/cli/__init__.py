"""The ``fer-explain`` command line: thin wrappers over the package's public API.

:func:`main` parses the arguments, runs one subcommand and turns user errors into one message.
One module per subcommand holds its ``add_parser(subparsers)`` beside its handler ``run(args)``
(:mod:`.manifest`, :mod:`.check_manifest`, :mod:`.synth`, :mod:`.landmarks`, :mod:`.train`,
:mod:`.evaluate`, :mod:`.report`, :mod:`.notebooks`); :mod:`.parser` assembles them and
:mod:`.errors` defines the user-error family. Heavy imports happen inside each handler so
``--help`` is fast.

Exit status: what the command returns (0 = success; ``check-manifest`` returns 1 when it finds
problems), 2 for a user error — a bad argument, file, row or name; the message on stderr names it,
without a traceback (``--debug`` adds the traceback). Any other exception is a bug and propagates
with its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fer_explain.cli.errors import EXIT_USER_ERROR, UsageError, is_user_error, report_user_error
from fer_explain.cli.parser import build_parser

PROG = "fer-explain"


def _debug_requested(argv: Sequence[str]) -> bool:
    """``--debug`` anywhere before a ``--`` (known even when parsing fails)."""
    args = list(argv)
    return "--debug" in (args[: args.index("--")] if "--" in args else args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fer-explain`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    A user error (see :mod:`fer_explain.cli.errors`) prints ``fer-explain <command>: error: <message>``
    on stderr and returns 2; with ``--debug`` its traceback is printed first. Other exceptions propagate.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    prog = PROG
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        debug = bool(getattr(args, "debug", False)) or debug
        if not args.command:
            parser.print_help()
            return 0
        prog = f"{PROG} {args.command}"
        args.argv = argv
        return int(args.handler(args))
    except Exception as exc:
        if not is_user_error(exc):
            raise
        return report_user_error(exc, prog, debug=debug)


__all__ = ["EXIT_USER_ERROR", "UsageError", "build_parser", "main"]
