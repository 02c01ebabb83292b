"""The user-error family: errors caused by a file, a row or an argument the user gave, not by a bug.

Every class here derives from :class:`UserError` *and* from the built-in exception callers already
catch (``ValueError``, ``KeyError``, ``TypeError``), so ``except KeyError`` keeps working while the
command line (:func:`fer_explain.cli.main`) can print the message alone and exit with status 2.
A bug (``AttributeError``, a plain ``ValueError`` from deep inside the code...) is not a
``UserError`` and keeps its traceback.

Row numbers follow one convention everywhere (:func:`describe_row`): a CSV data row is reported as
``line L (data row R)``, where ``L`` counts lines as an editor does (the header is line 1, so data
row 1 is line 2) and ``R`` counts data rows from 1. Code keeps 0-based row *indices*
(``Problem.row``); only the text shown to people is 1-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class UserError(Exception):
    """Base of the errors a user causes and can fix (bad file, row, option or name).

    The message names what is wrong and where; the command line prints it without a traceback.
    """


def describe_row(row: int, header_lines: int = 1) -> str:
    """``"line L (data row R)"`` for the 0-based data-row index ``row`` of a CSV with ``header_lines``
    header lines (``row=0`` with a header is ``"line 2 (data row 1)"``)."""
    return f"line {int(row) + 1 + int(header_lines)} (data row {int(row) + 1})"


@dataclass(frozen=True)
class Problem:
    """One problem found in a manifest or label file: where (file, row or line, column) and what.

    ``row`` is the 0-based index of the data row (the manifest table's row index); ``line`` the
    1-based line of the file as an editor counts it. A CSV row carries both and reads
    ``line L (data row R)``; a line of a plain text file only ``line``.
    """

    message: str
    row: int | None = None
    file: str | None = None
    column: str | None = None
    line: int | None = None

    def where(self) -> str:
        """The location part of :meth:`__str__` (``""`` when the problem has no location)."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None and self.line is not None:
            parts.append(f"line {self.line} (data row {self.row + 1})")
        elif self.row is not None:
            parts.append(f"data row {self.row + 1}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.column:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


def csv_problem(message: str, row: int, *, file: str | None = None, column: str | None = None,
                header_lines: int = 1) -> Problem:
    """A :class:`Problem` at the 0-based data row ``row`` of a CSV (its line computed from ``header_lines``)."""
    return Problem(message, row=int(row), file=file, column=column, line=int(row) + 1 + int(header_lines))


class ManifestError(UserError, ValueError):
    """A manifest (or a dataset's label files) failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem], source: str = "manifest", limit: int = 20):
        self.problems = list(problems)
        self.source = source
        shown = "\n  ".join(str(p) for p in self.problems[:limit])
        more = f"\n  ... and {len(self.problems) - limit} more" if len(self.problems) > limit else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n  {shown}{more}")

    def __reduce__(self) -> tuple[object, ...]:  # survive worker-process boundaries
        return (type(self), (self.problems, self.source))


class UnknownNameError(UserError, KeyError):
    """A name that is not one of the valid ones (dataset, split...); the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class OptionError(UserError, TypeError):
    """An option that a function does not take, or a required option that is missing."""


class InvalidOptionError(UserError, ValueError):
    """An option whose value is not allowed; the message names the option and the valid values."""


__all__ = [
    "InvalidOptionError",
    "ManifestError",
    "OptionError",
    "Problem",
    "UnknownNameError",
    "UserError",
    "csv_problem",
    "describe_row",
]
