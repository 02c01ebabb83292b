"""How the command line tells a user error from a bug, and how it reports one.

A *user error* is an exception whose message already says what to fix (a file, a row, an
argument). :func:`fer_explain.cli.main` prints it as one message on stderr — no traceback, no
ANSI colour codes — and exits with status :data:`EXIT_USER_ERROR` (2, as argparse does for a bad
argument). Everything else (``AttributeError``, a plain ``ValueError`` from deep inside the
code...) is a bug and keeps its traceback. ``--debug`` prints the traceback of a user error too.

The family (:func:`is_user_error`):

* :class:`fer_explain.data.errors.UserError` and its subclasses — ``ManifestError`` /
  ``SourceError`` (bad manifest or label file, naming file and ``line L (data row R)``),
  ``UnknownNameError`` (unknown dataset or split), ``OptionError`` / ``InvalidOptionError``,
  ``ImageReadError`` / ``SampleLoadError`` (unreadable image), and :class:`UsageError` (a bad
  command-line argument, raised by the parser and by the commands' own checks);
* ``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError``, ``PermissionError``
  (a path the user gave);
* ``CheckpointError`` (a checkpoint whose JSON and weights disagree), ``NoFaceError`` (``--no-fallback``
  and a face the detector misses) and ``NotebookRunError`` (names each failed notebook) derive from
  ``UserError`` where they are defined.
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from typing import NoReturn, TextIO

from fer_explain.data.errors import UserError

EXIT_USER_ERROR = 2
"""Exit status of a user error (argparse uses 2 for a bad argument)."""

BUILTIN_USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
)

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


class UsageError(UserError):
    """A bad command-line argument; ``prog`` is the (sub)command it belongs to, e.g. ``fer-explain train``."""

    def __init__(self, message: str, prog: str | None = None):
        super().__init__(message)
        self.prog = prog


class ArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are :class:`UsageError` (one message, exit status 2 in ``main``)
    instead of a usage dump and ``sys.exit(2)``; sub-parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')", prog=self.prog)


def is_user_error(exc: BaseException) -> bool:
    """True when ``exc`` belongs to the user-error family (see the module docstring)."""
    return isinstance(exc, BUILTIN_USER_ERRORS)


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves)."""
    return _ANSI.sub("", text)


def error_message(exc: BaseException) -> str:
    """The message of a user error: its text without colour codes (the class name when it has none)."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"  # "[Errno 2] No such file..: 'x'" -> "x: No such file.."
    text = strip_ansi(text).strip()
    return text or type(exc).__name__


def report_user_error(exc: BaseException, prog: str, *, debug: bool = False, stream: TextIO | None = None) -> int:
    """Print ``exc`` as ``<prog>: error: <message>`` (with its traceback first under ``debug``); return 2."""
    stream = sys.stderr if stream is None else stream
    if debug:
        stream.write(strip_ansi("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    prog = getattr(exc, "prog", None) or prog
    stream.write(f"{prog}: error: {error_message(exc)}\n")
    stream.flush()
    return EXIT_USER_ERROR
