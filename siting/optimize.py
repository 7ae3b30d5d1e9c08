"""Where new elderly day-care stations and nurseries should go: the siting integer programs.

Models (one class each, built `from_cost_matrix` or `from_reach`, then `.solve(...)`):
  LSCP                 fewest sites (or least total site cost) so that every reachable demand row is covered;
  MCLP                 at most p new sites and/or a budget, most demand weight covered;
  PMedian / PCenter    least total weighted cost / least worst cost, for comparison (PMedian also capacitated);
  CapacitatedCoverage  the standards bind: demand in m² or seats, sites with a size between a minimum and a maximum;
  JointCoverage        elderly care and nurseries on shared candidates and shared floor area, with a reward for
                       putting both at one site (一老一小).

Demand rows are residences (or anything with a weight); candidate columns are possible sites. Costs are walking
metres or minutes: the unit is the caller's, the threshold `max_cost` must be in the same unit. Existing facilities
are candidate columns flagged in `existing`: they are open whatever the solver says and cost nothing to keep.
`p` always counts NEW sites only.

Each model reduces its instance (`siting.optimisation.reduce`), builds a `siting.optimisation.solvers.Milp` and reports the solver's
true status and gap (see `siting.optimisation.solvers`).

This module is the public face; the models live in one module per family: `siting.optimisation.covering` (LSCP, MCLP),
`siting.optimisation.median` (PMedian, PCenter), `siting.optimisation.joint` (KindDemand, JointCoverage, CapacitatedCoverage),
on what they share in `siting.optimisation.base`.
"""
from __future__ import annotations

from .errors import OptimizationError
from .optimisation.base import SitingResult  # noqa: F401
from .optimisation.covering import LSCP, MCLP
from .optimisation.joint import CapacitatedCoverage, JointCoverage, KindDemand
from .optimisation.median import PCenter, PMedian  # noqa: F401
from .optimisation.reduce import Pairs
from .optimisation.solvers import (  # status names and CBC helpers stay importable from here
    FEASIBLE_GAP_LIMIT,
    FEASIBLE_TIME_LIMIT,
    INFEASIBLE,
    NOT_SOLVED,
    OPTIMAL,
    SOLVERS,
    STOPPED_WALL_CLOCK,
    UNBOUNDED,
    cbc_bound_from_log,
    cbc_command,
    pulp_status_text,
)

__all__ = [
    "LSCP", "MCLP", "PMedian", "PCenter", "CapacitatedCoverage", "JointCoverage", "KindDemand", "SitingResult", "Pairs",
    "OptimizationError", "OPTIMAL", "FEASIBLE_TIME_LIMIT", "FEASIBLE_GAP_LIMIT", "INFEASIBLE", "NOT_SOLVED",
    "STOPPED_WALL_CLOCK", "UNBOUNDED", "SOLVERS", "cbc_command", "cbc_bound_from_log", "pulp_status_text",
]
