"""One clock for a whole `solve(time_limit_s=T)` call: every phase (reduction, heuristics, bounds, model build, the
solver) takes its time from the same Deadline, started at solve() entry.

Why: each phase used to get a share of T measured from its own start, and each solver at least 1 s whatever was
left, so the phases' overruns added up (a 10 s p-median with CBC took 71 s: pulp's model build and MPS writing ran
before CBC's own limit started). The promise to the caller is the wall time of solve() within
T + max(OVERRUN_MIN_S, OVERRUN_FRACTION × T) (`hard_end`); phases aim at T (`end`), and only the solver's stop (an
interrupt, then a kill) and the result's assembly use the overrun.
"""
from __future__ import annotations

import math
import time

OVERRUN_MIN_S = 5.0
OVERRUN_FRACTION = 0.10
"""solve(time_limit_s=T) returns within T + max(OVERRUN_MIN_S, OVERRUN_FRACTION × T) seconds."""

SOLVER_MIN_S = 0.5
"""A solver started with less than this left still gets this long (it may have a plan at once)."""


class Deadline:
    """The time limit of one solve() call: `limit_s` seconds (None: no limit) from `started` (perf_counter)."""

    def __init__(self, limit_s: float | None, started: float | None = None, hard_end: float | None = None) -> None:
        self.limit_s = None if limit_s is None else max(0.0, float(limit_s))
        self.started = time.perf_counter() if started is None else started
        own = math.inf if self.limit_s is None else self.end + max(OVERRUN_MIN_S, OVERRUN_FRACTION * self.limit_s)
        self.hard_end = own if hard_end is None else min(own, hard_end)

    @property
    def end(self) -> float:
        """perf_counter time at which the limit is reached (inf without one)."""
        return math.inf if self.limit_s is None else self.started + self.limit_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float | None:
        """Seconds left to the limit (≥ 0), None without a limit."""
        return None if self.limit_s is None else max(0.0, self.end - time.perf_counter())

    def expired(self) -> bool:
        return self.limit_s is not None and time.perf_counter() >= self.end

    def share(self, fraction: float) -> float | None:
        """`fraction` of the seconds left (None without a limit): a phase's budget."""
        left = self.left()
        return None if left is None else fraction * left

    def part(self, fraction: float) -> "Deadline":
        """A phase's own Deadline: `fraction` of what is left, on the same clock, never past this one's hard end."""
        left = self.left()
        return Deadline(None if left is None else fraction * left, time.perf_counter(), self.hard_end)

    def solver_s(self) -> float | None:
        """A solver's time limit: what is left, at least SOLVER_MIN_S (None without a limit)."""
        left = self.left()
        return None if left is None else max(SOLVER_MIN_S, left)

    def hard_left(self) -> float:
        """Seconds left before the promised return time (inf without a limit; may be negative)."""
        return self.hard_end - time.perf_counter()


def as_deadline(time_limit_s: "float | Deadline | None") -> Deadline:
    """A Deadline from a time limit in seconds (started now), or the one given."""
    return time_limit_s if isinstance(time_limit_s, Deadline) else Deadline(time_limit_s)
