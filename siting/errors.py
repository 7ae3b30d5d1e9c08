"""Errors a planner reads: each names the file, row and column at fault, what was expected and how to fix it."""
from __future__ import annotations

from os import PathLike


class SitingError(Exception):
    """Base class for every error `siting` raises on purpose."""


class InputError(SitingError):
    """Bad input data. `row` is the spreadsheet row number (header = row 1, first data row = row 2)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike | None = None,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.expected = expected
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.expected:
            text += f". Expected {self.expected}"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text

    def located(self, *, file: str | PathLike | None = None, row: int | None = None,
                column: str | None = None) -> "InputError":
        """Fill in where the error is when the code that raised it could not know (a profile name or a coordinate
        system checked deep down, but written in a project file). An error that already names its file (say, a
        profile file with a bad figure) is left as it is."""
        if self.file is None and file is not None:
            self.file, self.row, self.column = str(file), row, column
            self.args = (self.__str__(),)
        return self


def nearest_names(name: str, valid) -> str:
    """' (did you mean 'x'?)' for the closest valid spelling of a mistyped key, '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(str(name), sorted(valid), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class ConfigError(InputError):
    """A project, scenario or profile file that is wrong (unknown key, missing or contradictory figure)."""


class NetworkError(InputError):
    """A walking network that cannot serve (no walkable ways, unreadable file)."""


class OptimizationError(SitingError):
    """A siting model that is infeasible or unbounded; the message says which constraint and why."""


def listed(labels, limit: int = 10) -> str:
    """The first `limit` labels, comma separated, then how many more: how messages name many rows or units."""
    labels = [str(label) for label in labels]
    more = f" … and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more
