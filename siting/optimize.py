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

Each model reduces its instance (`siting.optimize_reduce`), builds a `siting.solvers.Milp` and reports the solver's
true status and gap (see `siting.solvers`).
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .arrays import concat_ranges
from .deadline import Deadline, as_deadline
from .errors import InputError, OptimizationError
from .optimize_benders import MedianBound, pmedian_lp_bound
from .optimize_cover import cover_heuristic
from .optimize_capacitated import SiteReach, swap_search
from .optimize_reduce import (
    NearestFirst, Pairs, ReductionReport, dominated_columns, dominated_rows, group_identical_rows, served_by_existing,
)
from .solvers import (  # noqa: F401  (status names and CBC helpers stay importable from here)
    FEASIBLE_GAP_LIMIT, FEASIBLE_TIME_LIMIT, INFEASIBLE, NOT_SOLVED, OPTIMAL, SOLVERS, STOPPED_WALL_CLOCK, UNBOUNDED, Milp,
    Solution, _SOLVER_NAMES, _no_worse_than_start,
    bound_proves, cbc_bound_from_log, cbc_command, highs_model, run_lp, plan_violation, pulp_status_text, relative_gap,
    solve_milp, with_bound,
)



# --------------------------------------------------------------------------------------------------------------------
# Results


@dataclass
class SitingResult:
    """One solved siting model. Indices are positions in the caller's demand rows / candidate columns."""

    model: str
    status: str
    objective: float | None
    gap: float | None
    solve_time_s: float
    solver: str
    n_variables: int
    n_constraints: int
    chosen: np.ndarray  # candidate indices of NEW sites opened (per kind in a joint run: see sites)
    chosen_ids: list
    site_size: np.ndarray  # size per chosen site in capacity units (NaN where the model has no sizes)
    existing: np.ndarray  # candidate indices of existing facilities (always open)
    assignment: pd.DataFrame  # sparse: demand_row, demand_id, candidate, candidate_id, kind, amount, cost
    covered_before: float  # weight covered by existing facilities only
    covered_after: float  # weight covered once the chosen sites open
    total_weight: float
    unreachable: np.ndarray  # demand rows no candidate reaches (excluded from the model)
    unreachable_ids: list
    reduction: ReductionReport
    sites: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    demand: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)  # sentences for the planner: the run did not go as asked (see solvers)

    def to_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(sites, demand): one row per open site (new and existing), one row per demand row."""
        return self.sites.copy(), self.demand.copy()

    def summary(self) -> dict:
        return {
            "model": self.model,
            "status": self.status,
            "objective": self.objective,
            "gap": self.gap,
            "solve_time_s": round(self.solve_time_s, 3),
            "solver": self.solver,
            "variables": self.n_variables,
            "constraints": self.n_constraints,
            "new_sites": int(len(self.chosen)),
            "chosen_ids": [str(v) for v in self.chosen_ids],
            "existing_sites": int(len(self.existing)),
            "covered_before": self.covered_before,
            "covered_after": self.covered_after,
            "total_weight": self.total_weight,
            "covered_share_before": self.covered_before / self.total_weight if self.total_weight > 0 else None,
            "covered_share_after": self.covered_after / self.total_weight if self.total_weight > 0 else None,
            "unreachable_rows": int(len(self.unreachable)),
            "reduction": self.reduction.as_dict(),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------------------------------
# Input handling shared by every model


def _ids(ids: Sequence | None, n: int, what: str) -> np.ndarray:
    if ids is None:
        return np.arange(n)
    out = np.asarray(list(ids), dtype=object)
    if len(out) != n:
        raise InputError(f"{what} has {len(out)} ids for {n} entries", expected=f"{n} ids", fix=f"pass one id per {what} entry")
    return out


def _vector(value: Any, n: int, name: str, default: float = 0.0) -> np.ndarray:
    if value is None:
        return np.full(n, default, dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(f"'{name}' has {arr.size} values for {n} entries", column=name, expected=f"{n} numbers", fix=f"pass one {name} per entry")
    if np.isnan(arr).any():
        row = int(np.flatnonzero(np.isnan(arr))[0])
        raise InputError(f"'{name}' is missing at position {row}", row=row + 2, column=name, expected="a number", fix="fill in the value")
    return arr


def _mask(value: Any, n: int, name: str) -> np.ndarray:
    if value is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(value, dtype=bool)
    if arr.shape != (n,):
        raise InputError(f"'{name}' has {arr.size} flags for {n} candidates", column=name, expected=f"{n} true/false flags", fix="pass one flag per candidate column")
    return arr


def _from_matrix(cls, cost: Any, max_cost: float | None, kwargs: dict, *args):
    """`cls(pairs, *args, **kwargs)` from a dense matrix; the matrix's row and column labels become the ids unless
    given (the `from_cost_matrix` of every model)."""
    pairs, row_ids, col_ids = _pairs_from_matrix(cost, max_cost)
    kwargs.setdefault("demand_ids", row_ids)
    kwargs.setdefault("candidate_ids", col_ids)
    return cls(pairs, *args, **kwargs)


def _pairs_from_matrix(cost: Any, max_cost: float | None) -> tuple[Pairs, Any, Any]:
    """Allowed pairs of a demand × candidate cost matrix (dense: every finite entry; sparse: every stored entry),
    kept only where cost <= max_cost. A DataFrame lends its index and columns as default ids."""
    row_ids = col_ids = None
    if isinstance(cost, pd.DataFrame):
        row_ids, col_ids = list(cost.index), list(cost.columns)
        cost = cost.to_numpy(dtype=np.float64)
    if sp.issparse(cost):
        coo = sp.coo_matrix(cost)
        r, c, v = coo.row, coo.col, coo.data.astype(np.float64)
        shape = coo.shape
    else:
        dense = np.asarray(cost, dtype=np.float64)
        if dense.ndim != 2:
            raise InputError("cost matrix must be 2-D (demand rows × candidate columns)", expected="a 2-D array")
        r, c = np.nonzero(np.isfinite(dense))
        v = dense[r, c]
        shape = dense.shape
    if max_cost is not None:
        keep = v <= max_cost
        r, c, v = r[keep], c[keep], v[keep]
    return Pairs.build(r, c, v, shape[0], shape[1]), row_ids, col_ids


def _pairs_from_reach(reach: Any, max_cost: float | None) -> Pairs:
    """Pairs of a `siting.routing.Reach` (sources = candidates, destinations = demand rows)."""
    cost = np.asarray(reach.dist_m, dtype=np.float64)
    keep = np.ones(cost.size, dtype=bool) if max_cost is None else cost <= max_cost
    return Pairs.build(np.asarray(reach.dst)[keep], np.asarray(reach.src)[keep], cost[keep], reach.n_dst, reach.n_src)


def _warn_unreachable(model: str, unreachable: np.ndarray, ids: np.ndarray) -> None:
    if unreachable.size:
        shown = ", ".join(str(ids[i]) for i in unreachable[:10]) + (" …" if unreachable.size > 10 else "")
        warnings.warn(
            f"{model}: {unreachable.size} demand row(s) have no candidate site within reach and are left out of the "
            f"model (ids: {shown}); add candidate sites near them or raise the walking threshold",
            stacklevel=3,
        )


def _nearest_open(pairs: Pairs, open_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each demand row: the nearest open candidate among its pairs (-1 when none) and its cost (NaN)."""
    sel = open_mask[pairs.col]
    r, c, v = pairs.row[sel], pairs.col[sel], pairs.cost[sel]
    order = np.lexsort((c, v, r))
    r, c, v = r[order], c[order], v[order]
    first = np.ones(r.size, dtype=bool)
    first[1:] = r[1:] != r[:-1]
    site = np.full(pairs.n_rows, -1, dtype=np.int64)
    cost = np.full(pairs.n_rows, np.nan)
    site[r[first]] = c[first]
    cost[r[first]] = v[first]
    return site, cost


def _required(value: Any, n_cols: int) -> sp.csr_matrix | None:
    """Rows every plan must cover (`required` of LSCP / MCLP) as a 0/1 matrix over the candidate columns: a matrix,
    or one list of candidate indices per row (the candidates any one of which meets the row)."""
    if value is None:
        return None
    if sp.issparse(value) or isinstance(value, np.ndarray):
        matrix = sp.csr_matrix(value, dtype=np.float64)
    else:
        cols = [np.asarray(c, dtype=np.int64) for c in value]
        rows = np.repeat(np.arange(len(cols)), [c.size for c in cols])
        flat = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        matrix = sp.csr_matrix((np.ones(flat.size), (rows, flat)), shape=(len(cols), n_cols))
    if matrix.shape[1] != n_cols:
        raise InputError(f"'required' has {matrix.shape[1]} columns for {n_cols} candidates", column="required",
                         expected="one column per candidate", fix="pass candidate indices of this model")
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _check_solution(model: str, sol: Solution, why: str) -> None:
    if sol.status == INFEASIBLE:
        raise OptimizationError(f"{model} has no feasible plan: {why}")
    if sol.status == UNBOUNDED:
        raise OptimizationError(f"{model} is unbounded: a cost or reward has the wrong sign ({why})")
    if sol.status in (NOT_SOLVED, STOPPED_WALL_CLOCK) or sol.x is None:
        why = sol.note or f"the {sol.solver} solver stopped without any feasible plan (time limit too short?)"
        raise OptimizationError(f"{model}: {why}; raise time_limit_s or reduce the number of candidate sites")


def _or_no_new_site(sol: Solution, model: Milp) -> Solution:
    """When the solver returned no plan in time: the plan at every variable's bound nearest zero (no new site, nothing
    served) where that is a feasible plan of the model (MCLP, max_covered), with status 'feasible (time limit)' and the
    solver's bound; otherwise `sol` unchanged."""
    if sol.x is not None or sol.status not in (NOT_SOLVED, STOPPED_WALL_CLOCK):
        return sol
    arrays = model.arrays()
    nothing = np.clip(np.zeros(model.n_vars), arrays[1], arrays[2])
    if plan_violation(arrays, nothing) is not None:
        return sol
    return _no_worse_than_start(sol, nothing, float(arrays[0] @ nothing), model.maximise)


def _add_at_most(model: Milp, x: np.ndarray, y: np.ndarray) -> None:
    """Rows x[k] − y[k] ≤ 0: a pair's served share at most its site's open variable."""
    k = np.arange(x.size)
    model.add_rows(x.size, np.concatenate([k, k]), np.concatenate([x, y]),
                   np.concatenate([np.ones(x.size), -np.ones(x.size)]), ub=0.0)


def _meets(objective: float, bound: float, maximise: bool, what: str = "the LP bound",
           start: str = "the warm start") -> str:
    """How a bound settles a warm start, for the planner: exactly, or within the gap_rel asked."""
    exact = bound_proves(objective, bound, maximise)
    return f"{what} {'meets' if exact else 'is within gap_rel of'} {start}"


def _proved_without_milp(solver: str, x: np.ndarray, objective: float, bound: float, seconds: float, why: str,
                         lp: str | None) -> Solution:
    """The warm start as the result, when a bound proved before the solver settles it and no MILP runs. `lp` names
    the LP HiGHS solved for the bound; None when no solver ran (the result then names the solver asked)."""
    by_highs = lp is not None
    how = f"HiGHS solved {lp}" if by_highs else "no solver ran"
    return Solution(OPTIMAL, x, objective, bound, "highs" if by_highs else solver.lower(), seconds,
                    f"the {_SOLVER_NAMES.get(solver.lower(), solver)} MILP was not needed: {why} ({how})")


COVER_HEURISTIC_MAX_S = 10.0
"""At most this long (seconds) for the set-cover heuristic before a covering MILP (`optimize_cover`)."""


def _heuristic_seconds(time_limit_s: float | None, share: float) -> float:
    """The set-cover heuristic's time: `share` of the time limit (or of the seconds left), at most
    COVER_HEURISTIC_MAX_S."""
    return COVER_HEURISTIC_MAX_S if time_limit_s is None else min(COVER_HEURISTIC_MAX_S, share * time_limit_s)


def _solver_gap(gap_rel: float | None, ceiling: float | None, offset: float) -> float | None:
    """The gap_rel to ask of a solver whose objective leaves out a constant `offset` ≥ 0 (the part settled before
    the model: households existing stations cover, sites forced open): the solver divides by its own, smaller
    objective, so the same absolute gap is a larger share of it. `ceiling` is ≥ every incumbent the solver can hold
    (a maximum's bound; a minimum's warm start, which incumbents only lower); with it as the denominator the scaled
    gap never stops a run early: v / (v + offset) ≤ ceiling / (ceiling + offset) for every incumbent v ≤ ceiling."""
    if gap_rel is None or ceiling is None or offset <= 0 or ceiling <= 0:
        return gap_rel
    return gap_rel * (ceiling + offset) / ceiling


def _status_with_gap(sol: Solution, gap: float | None, gap_rel: float | None) -> str:
    """'optimal' only when proved: a run stopped by gap_rel with a positive gap says so."""
    if sol.status == OPTIMAL and gap_rel is not None and (gap is None or gap > 1e-9):
        return FEASIBLE_GAP_LIMIT
    return sol.status


class _Model:
    """What every model shares: demand rows, candidate columns, their ids and which candidates already exist."""

    name = "model"

    def __init__(self, pairs: Pairs, *, weights: Any = None, existing: Any = None, demand_ids: Any = None, candidate_ids: Any = None) -> None:
        self.pairs = pairs
        self.weights = _vector(weights, pairs.n_rows, "weights", default=1.0)
        if (self.weights < 0).any():
            raise InputError("weights must be >= 0", column="weights", expected="households or residents (>= 0)")
        self.existing = _mask(existing, pairs.n_cols, "existing")
        self.demand_ids = _ids(demand_ids, pairs.n_rows, "demand")
        self.candidate_ids = _ids(candidate_ids, pairs.n_cols, "candidate")

    @classmethod
    def from_cost_matrix(cls, cost_matrix: Any, max_cost: float, **kwargs):
        """`cost_matrix`: demand rows × candidate columns in metres or minutes (same unit as `max_cost`)."""
        return _from_matrix(cls, cost_matrix, max_cost, kwargs)

    @classmethod
    def from_reach(cls, reach: Any, max_cost: float | None = None, **kwargs):
        """`reach`: a `siting.routing.Reach` of candidate sources to demand destinations within the walking limit."""
        return cls(_pairs_from_reach(reach, max_cost), **kwargs)

    def _result(self, sol: Solution, model: Milp, gap_rel, *, chosen, site_size, assignment, covered_before, covered_after,
                unreachable, reduction, objective, bound, sites, demand) -> SitingResult:
        gap = relative_gap(objective, bound)
        return SitingResult(
            model=self.name,
            status=_status_with_gap(sol, gap, gap_rel),
            objective=objective,
            gap=gap,
            solve_time_s=sol.solve_time_s,
            solver=sol.solver,
            n_variables=model.n_vars,
            n_constraints=model.n_rows,
            chosen=chosen,
            chosen_ids=[self.candidate_ids[j] for j in chosen],
            site_size=site_size,
            existing=np.flatnonzero(self.existing),
            assignment=assignment,
            covered_before=float(covered_before),
            covered_after=float(covered_after),
            total_weight=float(self.weights.sum()),
            unreachable=unreachable,
            unreachable_ids=[self.demand_ids[i] for i in unreachable],
            reduction=reduction,
            sites=sites,
            demand=demand,
            notes=[sol.note] if sol.note else [],
        )

    def _uncapacitated_frames(self, open_mask: np.ndarray, chosen: np.ndarray, covered_before_mask: np.ndarray, kind: str = ""):
        """Sites, demand and assignment frames for models that assign each row wholly to its nearest open site."""
        site, cost = _nearest_open(self.pairs, open_mask)
        covered = site >= 0
        rows = np.flatnonzero(covered)
        assignment = pd.DataFrame({
            "demand_row": rows,
            "demand_id": self.demand_ids[rows],
            "candidate": site[rows],
            "candidate_id": self.candidate_ids[site[rows]],
            "kind": kind,
            "amount": self.weights[rows],
            "cost": cost[rows],
        })
        cols = np.flatnonzero(open_mask)
        assigned = np.bincount(site[rows], weights=self.weights[rows], minlength=self.pairs.n_cols)
        sites = pd.DataFrame({
            "candidate": cols,
            "candidate_id": self.candidate_ids[cols],
            "kind": kind,
            "is_existing": self.existing[cols],
            "size": np.nan,
            "assigned_weight": assigned[cols],
        })
        demand = pd.DataFrame({
            "demand_row": np.arange(self.pairs.n_rows),
            "demand_id": self.demand_ids,
            "weight": self.weights,
            "reachable": self.pairs.reach_count() > 0,
            "covered_before": covered_before_mask,
            "covered_after": covered,
            "site": site,
            "site_id": [self.candidate_ids[s] if s >= 0 else None for s in site],
            "cost": cost,
        })
        return sites, demand, assignment, covered


# --------------------------------------------------------------------------------------------------------------------
# Covering models: LSCP and MCLP share one reduction


@dataclass
class _CoverReduced:
    incidence: sp.csr_matrix  # reduced rows × kept columns (0/1)
    weight: np.ndarray  # summed weight per reduced row
    columns: np.ndarray  # original candidate index per kept column
    report: ReductionReport
    unreachable: np.ndarray
    covered_by_existing: np.ndarray  # bool per original row
    forced: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # candidates every cover must open
    hard: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per reduced row: it must be covered


def _reduce_cover(pairs: Pairs, weights: np.ndarray, existing: np.ndarray, site_cost: np.ndarray, drop_zero_weight: bool,
                  set_cover: bool = False, required: sp.csr_matrix | None = None) -> _CoverReduced:
    """Rows: unreachable and already-covered rows out, identical rows merged. Columns: dominated ones out. With
    `set_cover` (every remaining row must be covered: LSCP, p-center steps) also: rows that contain another row's
    column set out (covered whenever that row is), and a row with a single column forces that column open (its rows
    are then covered). Repeated until nothing changes; every step keeps the optimum.

    `required` (rows × all candidate columns, 0/1): rows every plan must cover, of weight 0 (e.g. a 社区 without a
    station, `siting.optimize_units`); one that an existing site covers is met. They join the incidence as rows
    flagged `hard`, so that merging and column dominance keep them too."""
    reach_count = pairs.reach_count()
    unreachable = np.flatnonzero(reach_count == 0)
    covered_by_existing = np.zeros(pairs.n_rows, dtype=bool)
    covered_by_existing[pairs.row[existing[pairs.col]]] = True
    active = (reach_count > 0) & ~covered_by_existing
    if drop_zero_weight:
        active &= weights > 0
    rows = np.flatnonzero(active)
    full = pairs.to_csr()
    inc = full[rows][:, np.flatnonzero(~existing)]
    columns = np.flatnonzero(~existing)
    w = weights[rows]
    hard = np.zeros(rows.size, dtype=bool)
    if required is not None and required.shape[0]:
        req = sp.csr_matrix(required, dtype=np.float64)
        met = np.asarray(req[:, np.flatnonzero(existing)].sum(axis=1)).ravel() > 0
        req = req[np.flatnonzero(~met)][:, columns]
        if (np.diff(req.indptr) == 0).any():
            raise OptimizationError("a required row has no candidate site that can cover it")
        req.data[:] = 1.0
        inc = sp.vstack([inc, req]).tocsr()
        w = np.concatenate([w, np.zeros(req.shape[0])])
        hard = np.concatenate([hard, np.ones(req.shape[0], dtype=bool)])
    report = ReductionReport(
        rows_before=pairs.n_rows, columns_before=pairs.n_cols, unreachable_rows=int(unreachable.size),
        rows_covered_by_existing=int(covered_by_existing.sum()), columns_fixed_open=int(existing.sum()),
    )
    merged = dominated = rows_dominated = 0
    forced: list[np.ndarray] = []
    while True:
        inc.sort_indices()
        labels = group_identical_rows(inc)
        n_groups = int(labels.max()) + 1 if labels.size else 0
        changed = False
        if n_groups < inc.shape[0]:
            first = np.unique(labels, return_index=True)[1]
            merged += inc.shape[0] - n_groups
            inc = inc[first]
            w = np.bincount(labels, weights=w, minlength=n_groups)
            hard = np.bincount(labels, weights=hard, minlength=n_groups) > 0
            changed = True
        if set_cover and inc.shape[0]:
            single = np.diff(inc.indptr) == 1
            if single.any():  # the only column of a row must open; drop it and every row it covers
                must = np.unique(inc.indices[inc.indptr[:-1][single]])
                forced.append(columns[must])
                keep_row = np.asarray(inc[:, must].sum(axis=1)).ravel() == 0
                keep_col = np.ones(columns.size, dtype=bool)
                keep_col[must] = False
                inc, w, columns = inc[np.flatnonzero(keep_row)][:, np.flatnonzero(keep_col)], w[keep_row], columns[keep_col]
                hard = hard[keep_row]
                inc.sort_indices()
                changed = True
            drop = dominated_rows(inc)
            if drop.any():
                rows_dominated += int(drop.sum())
                inc, w, hard = inc[np.flatnonzero(~drop)], w[~drop], hard[~drop]
                changed = True
        dom = dominated_columns(inc, site_cost[columns])
        if dom.any():
            dominated += int(dom.sum())
            inc = inc[:, np.flatnonzero(~dom)]
            columns = columns[~dom]
            changed = True
        if not changed:
            break
    report.rows_merged = merged
    report.rows_dominated = rows_dominated
    report.columns_dominated = dominated
    forced_cols = np.sort(np.concatenate(forced)) if forced else np.zeros(0, dtype=np.int64)
    report.columns_forced = int(forced_cols.size)
    report.rows_after, report.columns_after = inc.shape
    return _CoverReduced(inc.tocsr(), w, columns, report, unreachable, covered_by_existing, forced_cols, hard)


def _cover_model(red: _CoverReduced, site_cost: np.ndarray, max_sites: int | None = None) -> tuple[Milp, np.ndarray]:
    """The set-covering MILP of a reduced instance: least Σ site_cost·y with every row covered (and Σy ≤ max_sites)."""
    model = Milp(maximise=False)
    y = model.add_vars(len(red.columns), lb=0, ub=1, cost=site_cost[red.columns], integer=True)
    coo = red.incidence.tocoo()
    model.add_rows(red.incidence.shape[0], coo.row, y[coo.col], 1.0, lb=1.0)
    if max_sites is not None:
        model.add_rows(1, np.zeros(y.size, dtype=np.int64), y, 1.0, ub=float(max_sites))
    return model, y


class LSCP(_Model):
    """Location set covering: the fewest new sites (or least total `site_cost`) so that every demand row with a
    candidate within `max_cost` is covered by an open site. Rows no candidate reaches are reported and left out."""

    name = "LSCP"

    def __init__(self, pairs: Pairs, *, site_cost: Any = None, required: Any = None, **kwargs) -> None:
        super().__init__(pairs, **kwargs)
        self.site_cost = _vector(site_cost, pairs.n_cols, "site_cost", default=1.0)
        self.required = _required(required, pairs.n_cols)

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        """The reduced instance first meets the set-cover heuristic (`optimize_cover`: a cover and a Lagrangian
        bound, at most 15 % of the time limit). When the bound meets the cover (or is within `gap_rel`), no MILP runs;
        otherwise the cover is the solver's warm start and the reported bound the tighter of the two."""
        deadline = Deadline(time_limit_s)
        red = _reduce_cover(self.pairs, self.weights, self.existing, self.site_cost, drop_zero_weight=False, set_cover=True,
                            required=self.required)
        _warn_unreachable(self.name, red.unreachable, self.demand_ids)
        model, y = _cover_model(red, self.site_cost)
        cost, offset = self.site_cost[red.columns], float(self.site_cost[red.forced].sum())
        found = None
        if red.incidence.shape[0] and (cost >= 0).all():
            found = cover_heuristic(red.incidence, cost, max_seconds=_heuristic_seconds(deadline.share(0.15), 1.0))
            red.report.notes.append(found.note(offset, "sites" if (cost == 1).all() else "cost"))
        if found is not None and bound_proves(found.cost + offset, found.bound + offset, False, gap_rel):
            why = _meets(found.cost + offset, found.bound + offset, False, "the Lagrangian bound", "the heuristic's cover")
            sol = _proved_without_milp(solver, found.mask.astype(float), found.cost, found.bound,
                                       deadline.elapsed(), why, None)
        else:
            start = None if found is None else found.mask.astype(float)  # y is the model's only variable block
            sol = solve_milp(model, solver, time_limit_s, _solver_gap(gap_rel, None if found is None else found.cost, offset),
                             start=start, deadline=deadline)
            sol = sol if found is None else with_bound(sol, found.bound, False)
        _check_solution(self.name, sol, "a demand row cannot be covered")
        chosen = np.sort(np.concatenate([red.forced, red.columns[sol.x[y] > 0.5]]))
        bound = None if sol.bound is None else sol.bound + offset
        open_mask = self.existing.copy()
        open_mask[chosen] = True
        sites, demand, assignment, covered = self._uncapacitated_frames(open_mask, chosen, red.covered_by_existing)
        objective = float(self.site_cost[chosen].sum())
        return self._result(
            sol, model, gap_rel, chosen=chosen, site_size=np.full(chosen.size, np.nan), assignment=assignment,
            covered_before=self.weights[red.covered_by_existing].sum(), covered_after=self.weights[covered].sum(),
            unreachable=red.unreachable, reduction=red.report, objective=objective, bound=bound, sites=sites, demand=demand,
        )


class MCLP(_Model):
    """Maximal covering: at most `p` new sites and/or total `site_cost` within `budget`; maximise covered weight
    (households, residents …). The objective counts weight covered by existing facilities too."""

    name = "MCLP"

    def __init__(self, pairs: Pairs, *, p: int | None = None, budget: float | None = None, site_cost: Any = None,
                 required: Any = None, **kwargs) -> None:
        super().__init__(pairs, **kwargs)
        if p is None and budget is None:
            raise InputError("MCLP needs a limit", expected="p (number of new sites) and/or budget", fix="pass p=… or budget=…")
        self.p = p
        self.budget = budget
        self.site_cost = _vector(site_cost, pairs.n_cols, "site_cost", default=1.0)
        self.required = _required(required, pairs.n_cols)

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        # site costs only matter through the budget; with p alone every column is equally priced
        deadline = Deadline(time_limit_s)
        cost_for_dominance = self.site_cost if self.budget is not None else np.ones(self.pairs.n_cols)
        red = _reduce_cover(self.pairs, self.weights, self.existing, cost_for_dominance, drop_zero_weight=True,
                            required=self.required)
        _warn_unreachable(self.name, red.unreachable, self.demand_ids)
        before = float(self.weights[red.covered_by_existing].sum())
        model = Milp(maximise=True)
        n_rows, n_cols = red.incidence.shape
        y = model.add_vars(n_cols, lb=0, ub=1, integer=True)
        z = model.add_vars(n_rows, lb=red.hard.astype(float), ub=1, cost=red.weight)  # a required row is covered
        coo = red.incidence.tocoo()
        model.add_rows(n_rows, np.concatenate([np.arange(n_rows), coo.row]), np.concatenate([z, y[coo.col]]),
                       np.concatenate([np.ones(n_rows), -np.ones(coo.nnz)]), ub=0.0)
        if self.p is not None:
            model.add_rows(1, np.zeros(n_cols, dtype=np.int64), y, 1.0, ub=float(self.p))
        if self.budget is not None:
            model.add_rows(1, np.zeros(n_cols, dtype=np.int64), y, self.site_cost[red.columns], ub=float(self.budget))
        # the weight of every row left is a ceiling on the model's objective (the covered-before weight is its offset)
        sol = solve_milp(model, solver, time_limit_s, _solver_gap(gap_rel, float(red.weight.sum()), before),
                         deadline=deadline)
        sol = _or_no_new_site(sol, model)  # (never with required rows: the empty plan breaks them)
        _check_solution(self.name, sol, "p or budget is negative" if self.required is None else
                        "p or budget is too small to cover every required row")
        chosen = np.sort(red.columns[sol.x[y] > 0.5])
        open_mask = self.existing.copy()
        open_mask[chosen] = True
        sites, demand, assignment, covered = self._uncapacitated_frames(open_mask, chosen, red.covered_by_existing)
        after = float(self.weights[covered].sum())
        bound = None if sol.bound is None else sol.bound + before
        return self._result(
            sol, model, gap_rel, chosen=chosen, site_size=np.full(chosen.size, np.nan), assignment=assignment,
            covered_before=before, covered_after=after, unreachable=red.unreachable, reduction=red.report,
            objective=after, bound=bound, sites=sites, demand=demand,
        )


# --------------------------------------------------------------------------------------------------------------------
# Assignment models: PMedian and PCenter


@dataclass
class _AssignReduced:
    pairs: Pairs  # reduced rows (groups) × all candidates
    weight: np.ndarray  # summed weight per group
    group_of_row: np.ndarray  # group per original row (-1 when unreachable)
    report: ReductionReport
    unreachable: np.ndarray


def _reduce_assign(pairs: Pairs, weights: np.ndarray, existing: np.ndarray, nearest_only: bool = False) -> _AssignReduced:
    """Merge rows with identical candidate sets AND identical costs: exact for assignment models, because a merged
    row's (continuous) assignment fractions can reproduce any split of its members. With `nearest_only` (uncapacitated
    models, where every row goes to its nearest open site) pairs farther than the row's nearest existing facility are
    dropped first: existing facilities are always open, so such a pair is never the nearest."""
    reach_count = pairs.reach_count()
    unreachable = np.flatnonzero(reach_count == 0)
    dropped = 0
    if nearest_only and existing.any():
        nearest_existing = np.full(pairs.n_rows, np.inf)
        on_existing = existing[pairs.col]
        np.minimum.at(nearest_existing, pairs.row[on_existing], pairs.cost[on_existing])
        keep = pairs.cost <= nearest_existing[pairs.row]
        dropped = int((~keep).sum())
        pairs = pairs.select(keep)
    rows = np.flatnonzero(reach_count > 0)
    csr = pairs.to_csr(pairs.cost)[rows]
    labels = group_identical_rows(csr, with_values=True)
    n_groups = int(labels.max()) + 1 if labels.size else 0
    first = np.unique(labels, return_index=True)[1]
    reduced = csr[first].tocoo()
    group_pairs = Pairs.build(reduced.row, reduced.col, reduced.data, n_groups, pairs.n_cols)
    group_of_row = np.full(pairs.n_rows, -1, dtype=np.int64)
    group_of_row[rows] = labels
    report = ReductionReport(
        rows_before=pairs.n_rows, rows_after=n_groups, columns_before=pairs.n_cols, columns_after=pairs.n_cols,
        unreachable_rows=int(unreachable.size), rows_merged=int(rows.size - n_groups), columns_fixed_open=int(existing.sum()),
    )
    if dropped:
        report.notes.append(f"{dropped} pairs farther than the row's nearest existing facility dropped")
    return _AssignReduced(group_pairs, np.bincount(labels, weights=weights[rows], minlength=n_groups), group_of_row, report, unreachable)


def _interchange(pairs: Pairs, weight: np.ndarray, existing: np.ndarray, p: int, open_mask: np.ndarray,
                 max_seconds: float) -> tuple[np.ndarray, float, int]:
    """A p-median plan by local search from `open_mask` (which must reach every row): greedy additions up to p new
    sites, then best-improvement swaps of one new site for one closed candidate until none lowers the total cost
    (Teitz & Bart 1968), every swap priced at once from each row's nearest and second-nearest open site (Whitaker
    1983; Resende & Werneck 2007). Existing sites never close. Returns (open mask, Σ weight·cost, swaps made).

    Why: the p-median LP on a city (10⁵ assignment pairs) takes the solver tens of seconds; this plan, seconds or
    less and typically within 0.1–1 % of the optimum, is the solver's warm start and the answer when time runs out."""
    started = time.perf_counter()
    nearest_first = NearestFirst(pairs)
    r, c = nearest_first.row, nearest_first.col
    wc = weight[r] * nearest_first.cost
    n, m = pairs.n_rows, pairs.n_cols
    unserved = 10.0 * (float(wc.sum()) + 1.0)  # the price of a row left without an open site: no swap may do that

    def two_nearest(mask: np.ndarray):
        is_open = mask[c]
        rank = nearest_first.cumsum(is_open.astype(np.int64))  # 1 = the row's nearest open pair, 2 = second
        f, s2 = is_open & (rank == 1), is_open & (rank == 2)
        first, second, site = np.full(n, unserved), np.full(n, unserved), np.full(n, -1, dtype=np.int64)
        first[r[f]], site[r[f]], second[r[s2]] = wc[f], c[f], wc[s2]
        return first, second, site

    mask = open_mask.copy()
    swaps = 0
    while True:
        first, second, site = two_nearest(mask)
        closed = ~mask & ~existing
        gain = np.bincount(c, weights=np.maximum(0.0, first[r] - wc), minlength=m)  # what opening j saves
        gain[~closed] = -np.inf
        new_open = np.flatnonzero(mask & ~existing)
        if time.perf_counter() - started > max_seconds:
            break  # the mask reaches every row already: a plan at any step
        if new_open.size < p:
            j = int(np.argmax(gain))
            if not gain[j] > 0:
                break
            mask[j] = True
            continue
        if new_open.size == 0:
            break
        pos = np.full(m, -1, dtype=np.int64)
        pos[new_open] = np.arange(new_open.size)
        served_by = np.where(site >= 0, pos[np.maximum(site, 0)], -1)  # row's nearest, as a new-site position
        has = served_by >= 0
        loss = np.bincount(served_by[has], weights=second[has] - first[has], minlength=new_open.size)  # closing k
        # rows whose nearest is k and which j serves better than their second: closing k costs them less
        sel = closed[c] & has[r]
        fix = np.maximum(0.0, first[r[sel]] - wc[sel]) - np.maximum(0.0, second[r[sel]] - wc[sel])
        delta = np.zeros((m, new_open.size))
        np.add.at(delta, (c[sel], served_by[r[sel]]), fix)
        delta += loss[None, :] - gain[:, None]
        j, k = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if not delta[j, k] < -1e-9 * max(1.0, float(first.sum())):
            break
        mask[j], mask[new_open[k]] = True, False
        swaps += 1
    return mask, float(first.sum()), swaps  # every `break` follows two_nearest(mask) of this very mask


def _assign_cost(red: _AssignReduced, open_mask: np.ndarray) -> float:
    """Σ weight·cost with every reduced row at its nearest site in `open_mask` (inf when a row has none)."""
    site, cost = _nearest_open(red.pairs, open_mask)
    if (site < 0).any():
        return math.inf
    return float(red.weight @ cost)


def _bound_note(lp: MedianBound) -> str:
    if lp.bound is None:
        return f"no LP bound: the first Benders master LP did not solve in time ({lp.seconds:.2f} s)"
    state = "the LP optimum" if lp.converged else "stopped before the LP optimum"
    return (f"LP bound {lp.bound:.10g} by Benders cuts ({state}; {lp.rounds} rounds, {lp.cuts} cuts, "
            f"{lp.seconds:.2f} s)")


class _AssignModel(_Model):
    """Shared by PMedian and PCenter: p new sites, every reachable row assigned to an open site over its allowed pairs.

    Every reachable row is assigned, however far; `cover_within` (same unit as the costs, e.g. the 15-minute walk in
    metres) is what "covered" means in the result (covered before/after). Without it, assigned counts as covered."""

    def __init__(self, pairs: Pairs, *, p: int, cover_within: float | None = None, **kwargs) -> None:
        super().__init__(pairs, **kwargs)
        if p is None or p < 0:
            raise InputError(f"p must be a whole number >= 0, got {p!r}", expected="the number of new sites", fix="pass p=…")
        self.p = int(p)
        self.cover_within = cover_within

    def _covered(self, open_mask: np.ndarray) -> np.ndarray:
        """Rows whose nearest site in `open_mask` is within `cover_within` (any allowed pair without it)."""
        _, cost = _nearest_open(self.pairs, open_mask)
        return cost <= (np.inf if self.cover_within is None else self.cover_within)

    @classmethod
    def from_cost_matrix(cls, cost_matrix: Any, p: int, *, max_cost: float | None = None, **kwargs):
        """`cost_matrix`: demand rows × candidate columns in metres or minutes; infinite entries are not allowed pairs."""
        kwargs["p"] = p
        return _from_matrix(cls, cost_matrix, max_cost, kwargs)

    @classmethod
    def from_reach(cls, reach: Any, p: int, *, max_cost: float | None = None, **kwargs):
        return cls(_pairs_from_reach(reach, max_cost), p=p, **kwargs)

    def _cover_plan(self, radius: float, solver: str, time_limit_s: float | Deadline | None, fewest: bool,
                    heuristic_share: float = 0.25):
        """Can ≤ p new sites (plus the existing ones) reach every reachable row within `radius`? ("feasible", open
        mask, model, reduction) / ("infeasible" | "unknown", None, …). With `fewest`, the plan uses the fewest new
        sites (an optimal LSCP); otherwise any plan with ≤ p sites does. p-center's bisection step; p-median's start.

        The set-cover heuristic (`heuristic_share` of the time) answers first where it can: a cover with ≤ p new
        sites (enough unless `fewest`), or a Lagrangian bound above p (a proof that none exists); the MILP decides
        the rest, from the heuristic's cover when it fits. `time_limit_s` may be the caller's Deadline."""
        deadline = as_deadline(time_limit_s)
        within = self.pairs.select(self.pairs.cost <= radius)
        red = _reduce_cover(within, np.ones(self.pairs.n_rows), self.existing, np.ones(self.pairs.n_cols),
                            drop_zero_weight=False, set_cover=True)
        open_mask = self.existing.copy()
        open_mask[red.forced] = True
        left = self.p - red.forced.size  # new sites still allowed once the forced ones are open
        if left < 0:
            return "infeasible", None, Milp(maximise=False), red
        if red.incidence.shape[0] == 0:
            return "feasible", open_mask, Milp(maximise=False), red
        if left == 0:
            return "infeasible", None, Milp(maximise=False), red
        model, y = _cover_model(red, np.ones(self.pairs.n_cols), max_sites=left)
        found = cover_heuristic(red.incidence, np.ones(red.columns.size),
                                max_seconds=_heuristic_seconds(deadline.left(), heuristic_share),
                                target=None if fewest else left)
        red.report.notes.append(found.note(red.forced.size))
        if found.bound > left:
            return "infeasible", None, model, red
        fits = found.cost <= left
        if fits and (not fewest or found.proves()):
            open_mask[red.columns[found.mask]] = True
            return "feasible", open_mask, model, red
        # a decision needs any plan with ≤ p sites: a relative gap of 1 stops at the first one
        sol = solve_milp(model, solver, None, None if fewest else 1.0,
                         start=found.mask.astype(float) if fits else None, deadline=deadline)
        if sol.status == INFEASIBLE:
            return "infeasible", None, model, red
        if sol.x is None:
            return "unknown", None, model, red
        open_mask[red.columns[sol.x[y] > 0.5]] = True
        return "feasible", open_mask, model, red

    def _why_infeasible(self) -> str:
        if self.p == 0 and not self.existing.any():
            return "p=0 allows no new site and there is no existing facility, yet every demand row must be assigned"
        return f"p={self.p} new sites (plus {int(self.existing.sum())} existing) cannot serve every reachable demand row"

class PMedian(_AssignModel):
    """p-median: open at most `p` new sites; minimise total weighted cost (weight × metres or minutes).

    Capacitated variant: `capacities` per candidate (in weight units); `fulfill_existing=True` fills every existing
    facility exactly to its capacity (spopt's `fulfill_predefined_fac`)."""

    name = "PMedian"
    bound_share = 0.5
    """Share of the time left after the warm start for the Benders LP bound (the MILP gets the rest)."""

    def __init__(self, pairs: Pairs, *, p: int, capacities: Any = None, fulfill_existing: bool = False, **kwargs) -> None:
        super().__init__(pairs, p=p, **kwargs)
        self.capacities = None if capacities is None else _vector(capacities, pairs.n_cols, "capacities")
        if fulfill_existing and self.capacities is None:
            raise InputError("fulfill_existing needs capacities", column="capacities", expected="one capacity per candidate")
        self.fulfill_existing = fulfill_existing

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        """Uncapacitated: a local-search plan first (`_interchange`, seconds), then the LP bound by Benders cuts
        (`optimize_benders`, seconds). When the bound meets the plan, the plan is proved optimal without a MILP;
        otherwise the bound closes candidates (reduced-cost fixing) and the solver runs on the rest with the plan as
        its warm start. The result is never worse than that plan; its status and gap are proved, never assumed."""
        deadline = Deadline(time_limit_s)
        red = _reduce_assign(self.pairs, self.weights, self.existing, nearest_only=self.capacities is None)
        _warn_unreachable(self.name, red.unreachable, self.demand_ids)
        if self.capacities is None and red.pairs.n_rows:
            return self._solve_uncapacitated(red, solver, deadline, gap_rel)
        model, y, x = self._build(red)
        gp = red.pairs
        if self.capacities is not None:
            load = red.weight[gp.row]
            cols = np.arange(gp.n_cols)
            model.add_rows(gp.n_cols, np.concatenate([gp.col, cols]), np.concatenate([x, y]),
                           np.concatenate([load, -self.capacities]), ub=0.0)
            if self.fulfill_existing:
                ex = np.flatnonzero(self.existing)
                sel = self.existing[gp.col]
                local = np.searchsorted(ex, gp.col[sel])
                model.add_rows(ex.size, local, x[sel], load[sel], lb=self.capacities[ex], ub=self.capacities[ex])
        sol = solve_milp(model, solver, time_limit_s, gap_rel, deadline=deadline)
        return self._finish(sol, model, gap_rel, red, y, x)

    def _solve_uncapacitated(self, red: _AssignReduced, solver: str, deadline: Deadline,
                             gap_rel: float | None) -> SitingResult:
        open_start, upper = self._start(red, solver, deadline.part(0.25))
        lp = pmedian_lp_bound(red.pairs, red.weight, self.existing, self.p, start_open=open_start, upper=upper,
                              time_limit_s=deadline.share(self.bound_share))
        red.report.notes.append(_bound_note(lp))
        meets = None
        if lp.converged and lp.y is not None and np.all(np.minimum(lp.y, 1.0 - lp.y) <= 1e-6):
            integral = lp.y > 0.5  # an integral LP optimum is a plan, and an optimal one
            integral_cost = _assign_cost(red, integral)
            if upper is None or integral_cost < upper:
                open_start, upper, meets = integral, integral_cost, "the LP optimum is integral"
        elif lp.y is not None and not bound_proves(upper, lp.bound, False, gap_rel):
            open_start, upper = self._lp_rounded(red, lp, open_start, upper, deadline)
        proved = bound_proves(upper, lp.bound, False, gap_rel)
        closed = lp.closed(upper) if upper is not None and not proved and lp.bound is not None else None
        closed = np.zeros(red.pairs.n_cols, dtype=bool) if closed is None else closed  # no bound in time: none closed
        stranded = closed.any() and bool((np.bincount(red.pairs.row[~closed[red.pairs.col]], minlength=red.pairs.n_rows) == 0).any())
        if closed.any() and not stranded:
            red = replace(red, pairs=red.pairs.select(~closed[red.pairs.col]))
            red.report.notes.append(f"{int(closed.sum())} of {int((~self.existing).sum())} candidates closed by the "
                                    "LP bound's reduced costs")
        model, y, x = self._build(red, closed=None if stranded else closed)
        if proved or stranded:  # stranded: a row whose every site is closed, so every plan costs more than `upper`
            bound = upper if stranded else lp.bound
            why = ("every site of some demand row is closed by the LP bound's reduced costs" if stranded
                   else meets or _meets(upper, bound, False))
            sol = _proved_without_milp(solver, self._plan_vector(red, model, y, x, open_start), upper, bound,
                                       deadline.elapsed(), why, "the Benders LP")
            return self._finish(sol, model, gap_rel, red, y, x)
        start = None if open_start is None else self._plan_vector(red, model, y, x, open_start)
        sol = solve_milp(model, solver, None, gap_rel, start=start, deadline=deadline)
        return self._finish(with_bound(sol, lp.bound, False), model, gap_rel, red, y, x)

    def _lp_rounded(self, red: _AssignReduced, lp: MedianBound, open_start: np.ndarray | None, upper: float | None,
                    deadline: Deadline) -> tuple[np.ndarray | None, float | None]:
        """A second warm start: the p sites the LP optimum opens most, improved by `_interchange`; kept when cheaper.
        Why: the LP's support is close to the optimum on dense instances with few sites (n = 900, p = 10: 0.065 %
        above the LP bound against 1.5 % for the cover's plan), and reduced-cost fixing closes candidates in
        proportion to how close the plan is to the bound."""
        t0 = time.perf_counter()
        new = np.flatnonzero(~self.existing)
        mask = self.existing.copy()
        mask[new[np.argsort(-lp.y[new], kind="stable")[:self.p]]] = True
        if np.bincount(red.pairs.row[mask[red.pairs.col]], minlength=red.pairs.n_rows).min(initial=1) == 0:
            return open_start, upper  # the LP's sites leave a row unreached: no plan to start from
        seconds = 10.0 if deadline.limit_s is None else min(10.0, deadline.share(0.25))
        mask, total, swaps = _interchange(red.pairs, red.weight, self.existing, self.p, mask, seconds)
        if upper is not None and total >= upper:
            return open_start, upper
        red.report.notes.append(f"warm start {total:.10g} from the LP optimum's {self.p} most-open sites and {swaps} "
                                f"swaps ({time.perf_counter() - t0:.2f} s)")
        return mask, total

    def _build(self, red: _AssignReduced, closed: np.ndarray | None = None):
        """The p-median MILP: least Σ weight·cost·x with every row assigned, only to open sites, ≤ p new sites;
        `closed` candidates (proved out by the LP bound) cannot open."""
        gp = red.pairs
        model = Milp(maximise=False)
        fixed = self.existing
        y = model.add_vars(gp.n_cols, lb=fixed.astype(float), ub=1.0 if closed is None else (~closed).astype(float),
                           integer=True)
        x = model.add_vars(gp.row.size, lb=0, ub=1, cost=red.weight[gp.row] * gp.cost)
        model.add_rows(gp.n_rows, gp.row, x, 1.0, lb=1.0, ub=1.0)  # every reachable row fully assigned
        _add_at_most(model, x, y[gp.col])  # only to open sites
        new = np.flatnonzero(~fixed)
        model.add_rows(1, np.zeros(new.size, dtype=np.int64), y[new], 1.0, ub=float(self.p))
        return model, y, x

    def _finish(self, sol: Solution, model: Milp, gap_rel, red: _AssignReduced, y, x) -> SitingResult:
        _check_solution(self.name, sol, self._why_infeasible())
        gp = red.pairs
        open_mask = sol.x[y] > 0.5
        chosen = np.flatnonzero(open_mask & ~self.existing)
        frac = sol.x[x]
        # expand group fractions back to member rows
        rows = np.flatnonzero(red.group_of_row >= 0)
        indptr = gp.indptr()
        g = red.group_of_row[rows]
        counts = indptr[g + 1] - indptr[g]
        member = np.repeat(rows, counts)
        pair_idx = concat_ranges(indptr[g], counts)
        amount = frac[pair_idx] * self.weights[member]
        keep = frac[pair_idx] > 1e-9
        member, pair_idx, amount = member[keep], pair_idx[keep], amount[keep]
        cand = gp.col[pair_idx]
        assignment = pd.DataFrame({
            "demand_row": member, "demand_id": self.demand_ids[member], "candidate": cand,
            "candidate_id": self.candidate_ids[cand], "kind": "", "amount": amount, "cost": gp.cost[pair_idx],
        })
        sites, demand, _, _ = self._uncapacitated_frames(open_mask, chosen, np.zeros(self.pairs.n_rows, dtype=bool))
        used = np.bincount(cand, weights=amount, minlength=self.pairs.n_cols)
        sites["assigned_weight"] = used[sites["candidate"].to_numpy()]
        reach_existing = self._covered(self.existing)
        demand["covered_before"] = reach_existing
        # the solver's split may differ from "nearest open" under capacities: report the largest share's site
        main = assignment.sort_values(["demand_row", "amount"], ascending=[True, False]).drop_duplicates("demand_row")
        demand["site"] = -1
        demand.loc[main["demand_row"].to_numpy(), "site"] = main["candidate"].to_numpy()
        demand["site_id"] = [self.candidate_ids[s] if s >= 0 else None for s in demand["site"]]
        demand["cost"] = np.nan
        demand.loc[main["demand_row"].to_numpy(), "cost"] = main["cost"].to_numpy()
        demand["covered_after"] = demand["cost"].to_numpy() <= (np.inf if self.cover_within is None else self.cover_within)
        covered_after = float(self.weights[demand["covered_after"].to_numpy()].sum())
        return self._result(
            sol, model, gap_rel, chosen=chosen, site_size=np.full(chosen.size, np.nan), assignment=assignment,
            covered_before=self.weights[reach_existing].sum(), covered_after=covered_after,
            unreachable=red.unreachable, reduction=red.report, objective=sol.objective, bound=sol.bound, sites=sites,
            demand=demand,
        )

    def _start(self, red: _AssignReduced, solver: str, budget: Deadline) -> tuple[np.ndarray | None, float | None]:
        """The warm start's (open sites, Σ weight·cost): a plan reaching every row (the existing sites, else a set
        cover with ≤ p new sites), then `_interchange`, within `budget`. (None, None) when no cover is found in time
        (the solver then starts from nothing)."""
        t0 = time.perf_counter()
        verdict, mask, _, cover = self._cover_plan(np.inf, solver, budget, fewest=False, heuristic_share=0.5)
        red.report.notes.extend(cover.report.notes)
        if verdict == "infeasible":
            raise OptimizationError(f"{self.name} has no feasible plan: {self._why_infeasible()}")
        if mask is None:
            red.report.notes.append("no warm start: no set cover with ≤ p new sites found in time")
            return None, None
        heuristic_s = 10.0 if budget.limit_s is None else min(10.0, budget.left())
        mask, total, swaps = _interchange(red.pairs, red.weight, self.existing, self.p, mask, heuristic_s)
        red.report.notes.append(f"warm start {total:.10g} from a cover, greedy additions and {swaps} swaps "
                                f"({time.perf_counter() - t0:.2f} s)")
        return mask, total

    @staticmethod
    def _plan_vector(red: _AssignReduced, model: Milp, y: np.ndarray, x: np.ndarray, open_mask: np.ndarray) -> np.ndarray:
        """The model's variable vector of the plan `open_mask`: every row wholly at its nearest open site."""
        site, _ = _nearest_open(red.pairs, open_mask)
        vector = np.zeros(model.n_vars)
        vector[y] = open_mask
        vector[x] = red.pairs.col == site[red.pairs.row]
        return vector

    def _why_infeasible(self) -> str:
        why = super()._why_infeasible()
        if self.capacities is not None:
            why += "; or the capacities are too small for the total weight" + (
                ", or the existing facilities cannot all be filled exactly to capacity" if self.fulfill_existing else "")
        return why


class PCenter(_AssignModel):
    """p-center: open at most `p` new sites; minimise the worst cost (metres or minutes) from any reachable demand row
    to its nearest open site.

    Solved as a search over radii rather than as one MILP: the textbook formulation (a continuous "worst" variable
    above every assignment) has a weak LP bound, and CBC needed ~20 s to prove the 205 × 16 San Francisco optimum.
    The optimum is one of the distinct pair costs, and "can p new sites (plus the existing ones) cover every reachable
    row within r?" is a set-covering question (LSCP on the pairs with cost ≤ r, reduced like every LSCP). Bisection
    over the sorted distinct costs, each step decided exactly by the solver, finds the smallest feasible r: the exact
    optimum. A feasible step also lowers the upper end to its plan's actual worst walk. A final LSCP at the optimum
    returns the fewest new sites that achieve it. With a time limit the best plan found is returned with the proven
    lower bound (the smallest radius not shown infeasible) and the true gap."""

    name = "PCenter"

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        pairs = self.pairs
        reachable = pairs.reach_count() > 0
        unreachable = np.flatnonzero(~reachable)
        _warn_unreachable(self.name, unreachable, self.demand_ids)
        radii = np.unique(pairs.cost)
        if radii.size == 0:
            raise OptimizationError(f"{self.name}: no demand row has any candidate within reach")
        nearest_any = np.full(pairs.n_rows, np.inf)
        np.minimum.at(nearest_any, pairs.row, pairs.cost)
        lo = int(np.searchsorted(radii, nearest_any[reachable].max()))  # every row needs some site: r ≥ this
        hi = radii.size - 1
        deadline = Deadline(time_limit_s)
        remaining = deadline.left

        def worst(open_mask: np.ndarray) -> int:
            _, cost = _nearest_open(pairs, open_mask)
            return int(np.searchsorted(radii, np.nanmax(cost[reachable])))

        verdict, best, model, red = self._cover_plan(radii[hi], solver, deadline, fewest=False)
        if verdict == "infeasible":
            raise OptimizationError(f"{self.name} has no feasible plan: {self._why_infeasible()}")
        if verdict == "unknown":
            raise OptimizationError(f"{self.name}: the {solver} solver stopped without any feasible plan (time limit too "
                                    "short?); raise time_limit_s or reduce the number of candidate sites")
        hi = worst(best)
        steps, stopped = 1, False
        while lo < hi:
            if gap_rel is not None and (radii[hi] - radii[lo]) <= gap_rel * radii[hi]:
                break
            if remaining() == 0.0:
                stopped = True
                break
            mid = (lo + hi) // 2
            verdict, plan, *_ = self._cover_plan(radii[mid], solver, deadline, fewest=False)
            steps += 1
            if verdict == "feasible":
                best, hi = plan, worst(plan)
            elif verdict == "infeasible":
                lo = mid + 1
            else:
                stopped = True
                break
        if not stopped and remaining() != 0.0:  # the fewest new sites that reach the optimum radius
            verdict, plan, model, red = self._cover_plan(radii[hi], solver, deadline, fewest=True)
            steps += 1
            if verdict == "feasible" and (plan & ~self.existing).sum() <= (best & ~self.existing).sum():
                best = plan
        elapsed = deadline.elapsed()
        objective, bound = float(radii[hi]), float(radii[min(lo, hi)])
        status = FEASIBLE_TIME_LIMIT if stopped and lo < hi else OPTIMAL
        chosen = np.flatnonzero(best & ~self.existing)
        reach_existing = self._covered(self.existing)
        sites, demand, assignment, _ = self._uncapacitated_frames(best, chosen, reach_existing)
        covered = self._covered(best)
        demand["covered_after"] = covered
        report = red.report
        report.notes.append(f"bisection over {radii.size} distinct costs: {steps} set-covering steps; the reduction "
                            f"shown is the last step's (radius {objective:g})")
        sol = Solution(status, None, objective, bound, solver.lower(), elapsed)
        return self._result(
            sol, model, gap_rel, chosen=chosen, site_size=np.full(chosen.size, np.nan), assignment=assignment,
            covered_before=self.weights[reach_existing].sum(), covered_after=self.weights[covered].sum(),
            unreachable=unreachable, reduction=report, objective=objective, bound=bound, sites=sites, demand=demand,
        )


# --------------------------------------------------------------------------------------------------------------------
# Capacitated models: the standards bind (demand in m² or seats), sites have sizes


@dataclass
class KindDemand:
    """One facility kind in a capacitated model. Demand and sizes are in the kind's capacity unit: m² of floor area
    for elderly care (households × m²-per-100-households / 100), seats for nurseries (residents × seats-per-1000 / 1000).
    `pairs` are demand rows × candidates within the walking threshold; `weight` is what coverage counts (households,
    residents). Per-candidate figures may be scalars."""

    kind: str
    pairs: Pairs
    demand: np.ndarray
    weight: np.ndarray | None = None
    can_host: Any = True  # candidates that may get a NEW facility of this kind
    m2_per_unit: float = 1.0  # floor area one unit takes from a candidate's shared floor area (m² per seat for nurseries)
    min_size: Any = 0.0  # e.g. 350 m² for a community elderly-care station
    max_size: Any = np.inf
    fixed_cost: Any = 0.0
    unit_cost: Any = 0.0  # per m² or per seat
    existing: Any = None  # candidates that already host this kind (always open)
    existing_capacity: Any = 0.0
    expansion_max: Any = 0.0
    expansion_unit_cost: Any = 0.0
    required: Any = None  # rows every plan must meet with a NEW site of this kind (0/1 rows × candidates, `_required`)
    required_size: Any = 0.0  # per required row: the least size of the site meeting it (e.g. a 街道 centre's 1,000 m²)


class JointCoverage:
    """Capacitated siting of one or more kinds on shared candidates.

    Variables: y (open), s (size of a new facility: min_size·y ≤ s ≤ max_size·y), e (expansion of an existing one),
    x (fraction of a demand row's need served by a site, only for pairs within reach). A site serves at most its size;
    the kinds at one candidate share its `floor_area_m2`. With two kinds, `colocation_reward` is earned per candidate
    hosting both (一老一小): added to covered weight for "max_covered", subtracted from cost for "min_cost".

    objective="max_covered": most weight served (partially served rows count pro rata) with at most `p` new sites
    (int, or {kind: int}) and/or total cost ≤ `budget`. objective="min_cost": least cost serving every reachable row."""

    name = "JointCoverage"
    strong_rows = "lazy"
    """Which x ≤ y rows the model gets (a row's share from a NEW site at most that site's y; Cornuéjols, Sridharan &
    Thizy 1991): "lazy" those the LP relaxation violates, added in rounds by `_strengthen`; "all"; "none"."""
    reduce_existing = True
    """Take the rows that existing facilities serve in full in an optimum out of the model (`served_by_existing`)."""
    swap_threads = 2
    """LP copies the swap search solves in parallel threads (HiGHS releases the GIL: 1.45 times the LPs per second on
    2 cores). Each copy always takes the same share of the work, so a run without a time limit gives the same plan on
    any machine; a different number of copies can take another path (degenerate LPs give other duals)."""
    start_share = 0.5
    """Share of the time limit for the x ≤ y rounds and the warm start before the solver (at 10,000 × 2,000 with a
    30 s limit, 0.3 left no time for a warm start at all)."""

    def __init__(self, kinds: Sequence[KindDemand], *, floor_area_m2: Any = np.inf, objective: str = "max_covered",
                 p: int | dict | None = None, budget: float | None = None, colocation_reward: float = 0.0,
                 demand_ids: Any = None, candidate_ids: Any = None) -> None:
        if objective not in ("max_covered", "min_cost"):
            raise InputError(f"unknown objective {objective!r}", expected="'max_covered' or 'min_cost'")
        if objective == "max_covered" and p is None and budget is None:
            raise InputError("max_covered needs a limit", expected="p and/or budget", fix="pass p=… or budget=…")
        self.kinds = list(kinds)
        n_rows, n_cols = self.kinds[0].pairs.n_rows, self.kinds[0].pairs.n_cols
        self.n_rows, self.n_cols = n_rows, n_cols
        self.floor_area_m2 = _vector(floor_area_m2, n_cols, "floor_area_m2")
        self.objective, self.p, self.budget, self.colocation_reward = objective, p, budget, float(colocation_reward)
        self.demand_ids = _ids(demand_ids, n_rows, "demand")
        self.candidate_ids = _ids(candidate_ids, n_cols, "candidate")
        self._k = []
        for kd in self.kinds:
            if (kd.pairs.n_rows, kd.pairs.n_cols) != (n_rows, n_cols):
                raise InputError(f"kind {kd.kind}: reach has another shape than the first kind's", expected="the same demand rows and candidates for every kind")
            existing = _mask(kd.existing, n_cols, "existing")
            host = np.broadcast_to(np.asarray(kd.can_host, dtype=bool), (n_cols,)) & ~existing
            demand = _vector(kd.demand, n_rows, "demand")
            self._k.append(dict(
                kd=kd, existing=existing, host=host, demand=demand,
                weight=demand.copy() if kd.weight is None else _vector(kd.weight, n_rows, "weight"),
                min_size=_vector(kd.min_size, n_cols, "min_size"), max_size=_vector(kd.max_size, n_cols, "max_size"),
                fixed_cost=_vector(kd.fixed_cost, n_cols, "fixed_cost"), unit_cost=_vector(kd.unit_cost, n_cols, "unit_cost"),
                existing_capacity=_vector(kd.existing_capacity, n_cols, "existing_capacity"),
                expansion_max=_vector(kd.expansion_max, n_cols, "expansion_max"),
                expansion_unit_cost=_vector(kd.expansion_unit_cost, n_cols, "expansion_unit_cost"),
                required=_required(kd.required, n_cols),
            ))
            req = self._k[-1]["required"]
            self._k[-1]["required_size"] = _vector(kd.required_size, 0 if req is None else req.shape[0], "required_size")
            bad = np.flatnonzero(host & (self._k[-1]["min_size"] > np.minimum(self._k[-1]["max_size"], self.floor_area_m2 / kd.m2_per_unit) + 1e-9))
            if bad.size:
                raise InputError(f"kind {kd.kind}: candidate {self.candidate_ids[bad[0]]} cannot fit the minimum size",
                                 column="min_size", expected="min_size ≤ max_size and ≤ floor area", fix="lower min_size or drop the candidate")

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        """The LP relaxation first (HiGHS, whichever solver is asked): it picks the x ≤ y rows to add, bounds the
        objective and gives a plan (`_strengthen`). When that bound meets the plan (or is within `gap_rel`), no MILP
        runs; otherwise the plan is the solver's warm start and the reported bound the tighter of the two. The time
        limit covers everything."""
        deadline = Deadline(time_limit_s)
        model, blocks, report, unreachable = self._build(new_sites=True)
        start, bound = self._strengthen(model, blocks, report, deadline.share(self.start_share), gap_rel)
        value = None if start is None else model.objective_of(start)
        offset = self._offset(blocks)
        if value is not None and bound is not None and bound_proves(value + offset, bound + offset, model.maximise, gap_rel):
            sol = _proved_without_milp(solver, start, value, bound, deadline.elapsed(),
                                       _meets(value + offset, bound + offset, model.maximise), "the LP relaxation")
        else:
            sol = with_bound(_or_no_new_site(solve_milp(model, solver, None, _solver_gap(gap_rel, bound, offset),
                                                         start=start, deadline=deadline), model), bound, model.maximise)
        _check_solution(self.name, sol, self._why_infeasible() if sol.x is None else "")
        before = self._covered_before(solver)
        return self._collect(sol, model, gap_rel, blocks, report, unreachable, before)

    # -- model -------------------------------------------------------------------------------------------------------
    def _build(self, new_sites: bool):
        maximise = self.objective == "max_covered" or not new_sites
        model = Milp(maximise=maximise)
        report = ReductionReport(rows_before=self.n_rows * len(self._k), columns_before=self.n_cols * len(self._k))
        blocks, budget_terms, p_terms = [], [], {}
        area_rows, area_vars, area_coef = [], [], []
        unreachable_all = []
        for k in self._k:
            kd, pairs = k["kd"], k["kd"].pairs
            host = k["host"] if new_sites else np.zeros(self.n_cols, dtype=bool)
            usable = host | k["existing"]
            reach_count = np.bincount(pairs.row[usable[pairs.col]], minlength=self.n_rows)
            need = k["demand"] > 0
            unreachable = np.flatnonzero(need & (reach_count == 0))
            unreachable_all.append(unreachable)
            rows = need & (reach_count > 0)
            # rows the existing facilities serve in full in an optimum leave the model with that flow (exact)
            fixed = Pairs.build([], [], [], self.n_rows, self.n_cols)
            if self.reduce_existing and k["existing"].any():
                done, fixed = self._served_by_existing(k)
                rows &= ~done
                report.rows_covered_by_existing += int(done.sum())
            rows = np.flatnonzero(rows)
            fixed_load = np.bincount(fixed.col, weights=fixed.cost, minlength=self.n_cols)
            # capacity the existing facilities have left; the rounding dust of a facility the reduction fills (3e-14 m²)
            # becomes 0, so the solvers see no tiny right-hand sides
            left_over = k["existing_capacity"] - fixed_load
            left_over[np.abs(left_over) <= 1e-9 * np.maximum(1.0, k["existing_capacity"])] = 0.0
            sub = pairs.select(usable[pairs.col] & np.isin(pairs.row, rows))
            csr = sub.to_csr()[rows]
            # merging is exact when the merged rows trade capacity for weight at the same rate (max_covered)
            ratio = k["weight"][rows] / k["demand"][rows] if self.objective == "max_covered" else None
            labels = group_identical_rows(csr, extra_key=ratio)
            g = int(labels.max()) + 1 if labels.size else 0
            first = np.unique(labels, return_index=True)[1]
            gcoo = csr[first].tocoo()
            gdem = np.bincount(labels, weights=k["demand"][rows], minlength=g)
            gwt = np.bincount(labels, weights=k["weight"][rows], minlength=g)
            report.rows_merged += int(rows.size - g)
            report.rows_after += g
            report.unreachable_rows += int(unreachable.size)
            new = np.flatnonzero(host)
            ex = np.flatnonzero(k["existing"])
            report.columns_after += int(new.size + ex.size)
            report.columns_fixed_open += int(ex.size)
            y = model.add_vars(new.size, lb=0, ub=1, integer=True, cost=0.0 if maximise else k["fixed_cost"][new])
            # a site never needs more than the demand it can reach (nor less than its minimum): a finite big-M even
            # when max_size and floor area are unlimited
            reach_demand = np.bincount(sub.col, weights=k["demand"][sub.row], minlength=self.n_cols)
            largest = np.minimum(k["max_size"][new], self.floor_area_m2[new] / kd.m2_per_unit)
            cap = np.minimum(largest, np.maximum(np.maximum(reach_demand[new], k["min_size"][new]),
                                                 self._required_floor(k, new) if new_sites else 0.0))
            s = model.add_vars(new.size, lb=0, ub=cap,
                               cost=0.0 if maximise else k["unit_cost"][new])
            e = model.add_vars(ex.size, lb=0, ub=k["expansion_max"][ex] if new_sites else 0.0,
                               cost=0.0 if maximise else k["expansion_unit_cost"][ex])
            x = model.add_vars(gcoo.nnz, lb=0, ub=1, cost=gwt[gcoo.row] if maximise else 0.0)
            # each row served at most once (max_covered) or exactly once (min_cost)
            full = self.objective == "min_cost" and new_sites
            row0 = model.n_rows
            model.add_rows(g, gcoo.row, x, 1.0, lb=1.0 if full else -np.inf, ub=1.0)
            # a site serves at most its size: Σ demand·x − s ≤ 0 (new), Σ demand·x − e ≤ existing capacity
            col_pos = np.full(self.n_cols, -1, dtype=np.int64)
            col_pos[new] = np.arange(new.size)
            col_pos[ex] = new.size + np.arange(ex.size)
            local = col_pos[gcoo.col]
            size_var = np.concatenate([s, e])
            model.add_rows(new.size + ex.size, np.concatenate([local, np.arange(new.size + ex.size)]),
                           np.concatenate([x, size_var]), np.concatenate([gdem[gcoo.row], -np.ones(new.size + ex.size)]),
                           ub=np.concatenate([np.zeros(new.size), left_over[ex]]))
            # x ≤ y for new sites: a row's share from a site cannot exceed the site being open (the capacity row alone
            # lets the LP relaxation open a sliver of every site); "lazy" adds the ones the LP violates in `_strengthen`
            to_new = local < new.size
            strong = (x[to_new], y[local[to_new]])
            if new_sites and self.strong_rows == "all":
                _add_at_most(model, *strong)
            # min_size·y ≤ s ≤ max·y
            i = np.arange(new.size)
            model.add_rows(new.size, np.concatenate([i, i]), np.concatenate([s, y]), np.concatenate([np.ones(new.size), -cap]), ub=0.0)
            model.add_rows(new.size, np.concatenate([i, i]), np.concatenate([s, y]), np.concatenate([-np.ones(new.size), k["min_size"][new]]), ub=0.0)
            # shared floor area (new sizes and expansions)
            area_rows += [new, ex]
            area_vars += [s, e]
            area_coef += [np.full(new.size, kd.m2_per_unit), np.full(ex.size, kd.m2_per_unit)]
            budget_terms += [(y, k["fixed_cost"][new]), (s, k["unit_cost"][new]), (e, k["expansion_unit_cost"][ex])]
            p_terms[kd.kind] = y
            sized = self._add_required(model, k, new, y, s, largest) if new_sites else None
            blocks.append(dict(k=k, new=new, ex=ex, y=y, s=s, e=e, x=x, gcoo=gcoo, gdem=gdem, gwt=gwt, row0=row0, cap=cap,
                               local=local, labels=labels, rows=rows, first=first, sized=sized,
                               fixed=fixed, fixed_weight=float(k["weight"][np.unique(fixed.row)].sum()), strong=strong))
        cand = np.concatenate(area_rows)
        limited = np.isfinite(self.floor_area_m2[cand])
        if limited.any():
            used = np.unique(cand[limited])
            model.add_rows(used.size, np.searchsorted(used, cand[limited]), np.concatenate(area_vars)[limited],
                           np.concatenate(area_coef)[limited], ub=self.floor_area_m2[used])
        if new_sites and self.p is not None:
            if isinstance(self.p, dict):
                for kind, limit in self.p.items():
                    yk = p_terms[kind]
                    model.add_rows(1, np.zeros(yk.size, dtype=np.int64), yk, 1.0, ub=float(limit))
            else:
                ys = np.concatenate(list(p_terms.values()))
                model.add_rows(1, np.zeros(ys.size, dtype=np.int64), ys, 1.0, ub=float(self.p))
        if new_sites and self.budget is not None:
            v = np.concatenate([t[0] for t in budget_terms])
            c = np.concatenate([t[1] for t in budget_terms])
            model.add_rows(1, np.zeros(v.size, dtype=np.int64), v, c, ub=float(self.budget))
        if new_sites and len(blocks) == 2 and self.colocation_reward > 0:
            a, b = blocks
            both = np.intersect1d(np.concatenate([a["new"], a["ex"]]), np.concatenate([b["new"], b["ex"]]))
            both = both[np.isin(both, a["new"]) | np.isin(both, b["new"])]  # at least one kind is new there
            if both.size:
                reward = self.colocation_reward if maximise else -self.colocation_reward
                z = model.add_vars(both.size, lb=0, ub=1, cost=reward)
                for blk in (a, b):
                    i = np.arange(both.size)
                    is_new = np.isin(both, blk["new"])
                    yv = np.full(both.size, -1, dtype=np.int64)
                    yv[is_new] = blk["y"][np.searchsorted(blk["new"], both[is_new])]
                    sel = np.flatnonzero(is_new)  # existing facilities are open: z ≤ 1 already
                    model.add_rows(sel.size, np.concatenate([np.arange(sel.size)] * 2), np.concatenate([z[sel], yv[sel]]),
                                   np.concatenate([np.ones(sel.size), -np.ones(sel.size)]), ub=0.0)
                blocks[0]["colocation"] = (both, z)
        return model, blocks, report, np.unique(np.concatenate(unreachable_all)) if unreachable_all else np.zeros(0, dtype=np.int64)

    @staticmethod
    def _required_floor(k: dict, new: np.ndarray) -> np.ndarray:
        """Per new site: the largest `required_size` of a required row it can meet (0 where none), so that its size
        variable may reach it even where the demand it reaches is smaller."""
        req = k["required"]
        floor = np.zeros(new.size)
        if req is not None and req.nnz:
            coo = req.tocoo()
            per_col = np.zeros(req.shape[1])
            np.maximum.at(per_col, coo.col, k["required_size"][coo.row])
            floor = per_col[new]
        return floor

    @staticmethod
    def _add_required(model: Milp, k: dict, new: np.ndarray, y: np.ndarray, s: np.ndarray, largest: np.ndarray):
        """The required rows of one kind (`KindDemand.required`): Σ y ≥ 1 over the row's new sites; a row with a
        `required_size` above a site's min_size instead picks one site by a binary c ≤ y with s ≥ size·c (c must be
        binary: two half-open centres are not one). Sites too small for the size are left out of its row. Returns
        (c variables, their new-site position, their size) for the result's sizes. A row naming an existing
        facility of the kind is met already, as in `_reduce_cover`."""
        req = k["required"]
        if req is None or not req.shape[0]:
            return None
        pos = np.full(req.shape[1], -1, dtype=np.int64)
        pos[new] = np.arange(new.size)
        coo = req.tocoo()
        met = np.bincount(coo.row[k["existing"][coo.col]], minlength=req.shape[0]) > 0
        size = k["required_size"][coo.row]
        at = pos[coo.col]
        ok = (at >= 0) & ~met[coo.row] & (size <= largest[np.maximum(at, 0)] + 1e-9)
        row, at, size = coo.row[ok], at[ok], size[ok]
        if np.any(~met & (np.bincount(row, minlength=req.shape[0]) == 0)):
            raise OptimizationError(f"a required row of {k['kd'].kind} has no new site able to meet it (of its size)")
        plain_row = np.bincount(row, weights=(size > k["min_size"][new[at]] + 1e-9), minlength=req.shape[0]) == 0
        plain_row &= ~met
        # rows met by any open site: Σ y ≥ 1
        plain = plain_row[row]
        rows = np.flatnonzero(plain_row)
        model.add_rows(rows.size, np.searchsorted(rows, row[plain]), y[at[plain]], 1.0, lb=1.0)
        sized = ~plain
        if not sized.any():
            return None
        n = int(sized.sum())
        c = model.add_vars(n, lb=0, ub=1, integer=True)
        i = np.arange(n)
        model.add_rows(n, np.concatenate([i, i]), np.concatenate([c, y[at[sized]]]), np.concatenate([np.ones(n), -np.ones(n)]),
                       ub=0.0)  # c ≤ y
        model.add_rows(n, np.concatenate([i, i]), np.concatenate([s[at[sized]], c]),
                       np.concatenate([np.ones(n), -size[sized]]), lb=0.0)  # s ≥ size·c
        rows = np.unique(row[sized])
        model.add_rows(rows.size, np.searchsorted(rows, row[sized]), c, 1.0, lb=1.0)  # one site of that size per row
        return c, at[sized], size[sized]

    @staticmethod
    def _served_by_existing(k: dict) -> tuple[np.ndarray, Pairs]:
        """`served_by_existing` for one kind, computed once: the model with new sites and the "covered before" model
        without them both need it, and it depends only on the existing facilities and the demand they reach."""
        if "served" not in k:
            pairs = k["kd"].pairs
            reached = np.zeros(pairs.n_rows, dtype=bool)
            reached[pairs.row[k["existing"][pairs.col]]] = True
            rows = (k["demand"] > 0) & reached
            k["served"] = served_by_existing(pairs.select(k["existing"][pairs.col] & rows[pairs.row]),
                                             np.where(rows, k["demand"], 0.0), k["existing_capacity"])
        return k["served"]

    def _strengthen(self, model: Milp, blocks: list, report: ReductionReport, budget_s: float | None,
                    gap_rel: float | None = None) -> tuple[np.ndarray | None, float | None]:
        """Add the x ≤ y rows the LP relaxation violates (all rows of each site with a violated one, in rounds, until
        none is violated); return a warm start and the LP's optimum, a bound on the model's (model units; None when
        the LP did not solve in time). The warm start is a swap search from the LP's p most-open sites where it
        applies (`_swaps_apply`), else the LP dived to integrality (fix the most-open fractional site, re-solve); None
        when that fails or runs out of `budget_s` (seconds); the swap search stops once the bound proves its plan
        (to `gap_rel`). HiGHS solves these LPs."""
        import highspy

        started = time.perf_counter()
        xs = np.concatenate([b["strong"][0] for b in blocks])
        ys = np.concatenate([b["strong"][1] for b in blocks])
        y_all = np.concatenate([b["y"] for b in blocks])
        if y_all.size == 0 or model.n_rows == 0:
            return None, None
        arrays = model.arrays()
        lp = highs_model(model, arrays, relax=True)
        # plans are valued on the LP without x ≤ y rows (redundant once every site is fixed; about 3 times faster),
        # on `swap_threads` copies
        plain = ([highs_model(model, arrays, relax=True) for _ in range(max(1, int(self.swap_threads)))]
                 if self._swaps_apply(blocks) else None)
        left = lambda: None if budget_s is None else budget_s - (time.perf_counter() - started)  # noqa: E731
        if not run_lp(lp, left()):
            report.notes.append("no warm start and no x ≤ y rows: the LP relaxation did not solve in time")
            return None, None
        bound = lp.getInfo().objective_function_value
        late = lambda: budget_s is not None and left() <= 0  # noqa: E731
        if self.strong_rows == "lazy":
            added = np.zeros(xs.size, dtype=bool)
            rounds = 0
            while not late():
                value = np.asarray(lp.getSolution().col_value)
                sites = np.unique(ys[(value[xs] > value[ys] + 1e-6) & ~added])
                new = np.flatnonzero(np.isin(ys, sites) & ~added)
                if new.size == 0:
                    break
                added[new] = True
                rounds += 1
                n = new.size
                lp.addRows(n, np.full(n, -np.inf), np.zeros(n), 2 * n, np.arange(0, 2 * n, 2, dtype=np.int32),
                           np.column_stack([xs[new], ys[new]]).ravel().astype(np.int32), np.tile([1.0, -1.0], n))
                if not run_lp(lp, left()):
                    break
                bound = lp.getInfo().objective_function_value
            _add_at_most(model, xs[added], ys[added])
            report.notes.append(f"{int(added.sum())} of {xs.size} x ≤ y rows: those of the sites the LP relaxation "
                                f"opened in part ({rounds} rounds)")
        offset = self._offset(blocks)
        report.notes.append(f"LP bound {bound + offset:.10g} ({time.perf_counter() - started:.1f} s)")
        if lp.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            report.notes.append("no warm start: the LP relaxation did not solve in time")
            return None, bound
        if plain is not None:
            good_enough = lambda value: bound_proves(value + offset, bound + offset, model.maximise, gap_rel)  # noqa: E731
            return self._swap_start(lp, plain, model, blocks, report, left(), started, good_enough), bound
        # dive: open the most-open fractional site until the LP is integral; that LP solution is a plan
        while not late():
            value = np.asarray(lp.getSolution().col_value)
            open_share = value[y_all]
            part = np.flatnonzero((open_share > 1e-6) & (open_share < 1 - 1e-6))
            if part.size == 0:
                plan = value.copy()
                plan[y_all] = np.round(open_share)
                arrays = model.arrays()
                why = plan_violation(arrays, plan)
                report.notes.append(f"warm start {float(arrays[0] @ plan) + offset:.10g} from the LP relaxation dived to "
                                    f"integrality ({time.perf_counter() - started:.1f} s with the x ≤ y rounds)"
                                    if why is None else f"no warm start: the dived LP plan fails ({why})")
                return plan if why is None else None, bound
            j = int(y_all[part[np.argmax(open_share[part])]])
            lp.changeColBounds(j, 1.0, 1.0)
            if not run_lp(lp, left()):
                break
        report.notes.append("no warm start: the LP dive ran out of time or opened a site the plan cannot afford")
        return None, bound

    def _offset(self, blocks: list) -> float:
        """What the model's objective leaves out: the weight of the rows existing facilities serve in full
        (`reduce_existing`, max_covered). Gaps are relative to the whole objective, so they count it."""
        return sum(b["fixed_weight"] for b in blocks) if self.objective == "max_covered" else 0.0

    def _swaps_apply(self, blocks: list) -> bool:
        """Swap search (`swap_search`) keeps the number of open sites, so it starts from any p sites and never breaks
        the model: one kind, max_covered, a count limit and no budget (a swap could break a budget)."""
        return (len(blocks) == 1 and self.objective == "max_covered" and self.budget is None and self.p is not None
                and (blocks[0]["k"]["required"] is None or not blocks[0]["k"]["required"].shape[0])
                and "colocation" not in blocks[0])

    @staticmethod
    def _site_reach(blk: dict) -> SiteReach:
        """The new sites' pairs of one kind's block, for `swap_search`."""
        to_new = blk["local"] < blk["new"].size
        return SiteReach(y=blk["y"], capacity=blk["cap"], pair_row=blk["gcoo"].row[to_new], pair_site=blk["local"][to_new],
                         group_demand=blk["gdem"], group_weight=blk["gwt"], x=blk["x"], x_row=blk["gcoo"].row,
                         row0=blk["row0"])

    def _swap_start(self, lp, plain, model: Milp, blocks: list, report: ReductionReport, budget_s: float | None,
                    started: float, good_enough) -> np.ndarray | None:
        """Warm start from the strengthened LP relaxation `lp`: its p most-open sites, improved by swap search within
        `budget_s` seconds on `plain`, the model's LP relaxation before any x ≤ y row (the sites are fixed there, so
        the plan is the model's own)."""
        blk = blocks[0]
        p = self.p if not isinstance(self.p, dict) else next(iter(self.p.values()))
        n_new = blk["new"].size
        if n_new == 0:
            return None
        open_share = np.asarray(lp.getSolution().col_value)[blk["y"]]
        plan = np.zeros(n_new, dtype=bool)
        plan[np.argsort(-open_share, kind="stable")[:min(int(p), n_new)]] = True
        try:
            plan, start, value, how = swap_search(plain, self._site_reach(blk), plan, budget_s, good_enough)
        except RuntimeError as err:
            report.notes.append(f"no warm start: {err}")
            return None
        why = plan_violation(model.arrays(), start)
        report.notes.append(f"warm start {value + self._offset(blocks):.10g} from the LP relaxation's {int(plan.sum())} "
                            f"most-open sites and swap search ({how}; {time.perf_counter() - started:.1f} s with the "
                            f"x ≤ y rounds)" if why is None else f"no warm start: the swap search plan fails ({why})")
        return start if why is None else None

    def _covered_before(self, solver: str) -> float:
        """Weight the existing facilities can serve at their present capacity (an LP: nothing new opens)."""
        if not any(k["existing"].any() for k in self._k):
            return 0.0
        model, blocks, _, _ = self._build(new_sites=False)
        sol = solve_milp(model, solver, None, None)
        return float(sol.objective) + self._offset(blocks) if sol.objective is not None else math.nan

    def _why_infeasible(self) -> str:
        from .measures import servable_share
        from .routing import Reach

        reasons = []
        for k in self._k:
            kd = k["kd"]
            cap = np.where(k["host"], np.minimum(k["max_size"], self.floor_area_m2 / kd.m2_per_unit), 0.0)
            cap = cap + np.where(k["existing"], k["existing_capacity"] + k["expansion_max"], 0.0)
            cap = np.where(np.isfinite(cap), cap, k["demand"].sum())  # unlimited: at most everything
            pr = kd.pairs
            share = servable_share(Reach(pr.col, pr.row, pr.cost, self.n_cols, self.n_rows), cap, k["demand"])
            short = np.flatnonzero(share.served_per_destination < k["demand"] - 1e-6 * np.maximum(1, k["demand"]))
            reachable_short = short[np.isin(short, pr.row)]
            if reachable_short.size:
                ids = ", ".join(str(self.demand_ids[i]) for i in reachable_short[:10])
                reasons.append(f"{kd.kind}: even with every candidate open at its largest size, {reachable_short.size} "
                               f"reachable row(s) cannot be fully served (ids: {ids}); add candidates or floor area nearby")
        if self.p is not None:
            reasons.append(f"p={self.p} limits the number of new sites")
        if self.budget is not None:
            reasons.append(f"budget={self.budget} limits the cost")
        return "; ".join(reasons) or "the constraints contradict each other"

    # -- results ----------------------------------------------------------------------------------------------------
    def _collect(self, sol: Solution, model: Milp, gap_rel, blocks, report, unreachable, before: float) -> SitingResult:
        site_rows, assign_parts, demand_parts = [], [], []
        chosen_all, sizes_all = [], []
        after = 0.0
        total = 0.0
        xval = sol.x
        for blk in blocks:
            k, kd = blk["k"], blk["k"]["kd"]
            gcoo = blk["gcoo"]
            frac = xval[blk["x"]]
            # per original row: members of each group get the group's fractions
            member_group = blk["labels"]
            rows = blk["rows"]
            g_indptr = np.concatenate([[0], np.cumsum(np.bincount(gcoo.row, minlength=len(blk["first"])))])
            counts = g_indptr[member_group + 1] - g_indptr[member_group]
            member = np.repeat(rows, counts)
            pair = concat_ranges(g_indptr[member_group], counts)
            f = frac[pair]
            keep = f > 1e-9
            fixed = blk["fixed"]  # rows the existing facilities serve in full, with the reduction's flow
            member = np.concatenate([member[keep], fixed.row])
            cand = np.concatenate([gcoo.col[pair[keep]], fixed.col])
            amount = np.concatenate([f[keep] * k["demand"][member[:keep.sum()]], fixed.cost])
            f = amount / k["demand"][member]
            pairs_cost = kd.pairs.cost_of(member, cand)  # walking metres (or minutes) of each assigned pair
            assign_parts.append(pd.DataFrame({"demand_row": member, "demand_id": self.demand_ids[member], "candidate": cand,
                                              "candidate_id": self.candidate_ids[cand], "kind": kd.kind, "amount": amount,
                                              "cost": pairs_cost}))
            served = np.bincount(member, weights=f, minlength=self.n_rows)
            after += float((served * k["weight"]).sum())
            total += float(k["weight"].sum())
            used = np.bincount(cand, weights=amount, minlength=self.n_cols)
            opened = blk["new"][xval[blk["y"]] > 0.5]
            # report the smallest size that is allowed and serves what is assigned (the solver may leave slack)
            cap_new = np.minimum(k["max_size"][opened], self.floor_area_m2[opened] / kd.m2_per_unit)
            least = k["min_size"].copy()
            if blk["sized"] is not None:  # a site picked for a required row of a given size (a 街道 centre) has it
                c, at, size = blk["sized"]
                np.maximum.at(least, blk["new"][at], np.where(xval[c] > 0.5, size, 0.0))
            size_new = np.minimum(np.maximum(least[opened], used[opened]), cap_new)  # CBC prints 8 digits
            size_ex = k["existing_capacity"][blk["ex"]] + np.maximum(0.0, used[blk["ex"]] - k["existing_capacity"][blk["ex"]])
            chosen_all.append(opened)
            sizes_all.append(size_new)
            site_rows.append(pd.DataFrame({
                "candidate": np.concatenate([opened, blk["ex"]]),
                "candidate_id": self.candidate_ids[np.concatenate([opened, blk["ex"]])],
                "kind": kd.kind,
                "is_existing": np.concatenate([np.zeros(opened.size, bool), np.ones(blk["ex"].size, bool)]),
                "size": np.concatenate([size_new, size_ex]),
                "expansion": np.concatenate([np.zeros(opened.size), size_ex - k["existing_capacity"][blk["ex"]]]),
                "assigned": used[np.concatenate([opened, blk["ex"]])],
            }))
            demand_parts.append(pd.DataFrame({"demand_row": np.arange(self.n_rows), "demand_id": self.demand_ids, "kind": kd.kind,
                                              "weight": k["weight"], "demand": k["demand"], "served_share": served,
                                              "reachable": np.isin(np.arange(self.n_rows), kd.pairs.row)}))
        sites = pd.concat(site_rows, ignore_index=True)
        if "colocation" in blocks[0]:
            both, _ = blocks[0]["colocation"]
            kinds_at = sites.groupby("candidate")["kind"].nunique()
            sites["colocated"] = sites["candidate"].map(kinds_at).fillna(0).to_numpy() >= 2
        chosen = np.concatenate(chosen_all)
        sizes = np.concatenate(sizes_all)
        if self.objective == "max_covered":
            n_coloc = int(sites.loc[sites["colocated"], "candidate"].nunique()) if "colocated" in sites else 0
            objective = after + self.colocation_reward * n_coloc
            # the model leaves out the weight of the rows existing facilities serve in full (`served_by_existing`)
            bound = None if sol.bound is None else sol.bound + self._offset(blocks)
        else:
            objective = float(sol.objective)
            bound = sol.bound
        gap = relative_gap(objective, bound)
        return SitingResult(
            model=self.name, status=_status_with_gap(sol, gap, gap_rel), objective=objective, gap=gap,
            solve_time_s=sol.solve_time_s, solver=sol.solver, n_variables=model.n_vars, n_constraints=model.n_rows,
            chosen=chosen, chosen_ids=[self.candidate_ids[j] for j in chosen], site_size=sizes,
            existing=np.unique(np.concatenate([np.flatnonzero(k["existing"]) for k in self._k])),
            assignment=pd.concat(assign_parts, ignore_index=True), covered_before=before, covered_after=after,
            total_weight=total, unreachable=unreachable, unreachable_ids=[self.demand_ids[i] for i in unreachable],
            reduction=report, sites=sites, demand=pd.concat(demand_parts, ignore_index=True),
            notes=[sol.note] if sol.note else [],
        )


class CapacitatedCoverage(JointCoverage):
    """Capacitated coverage for one kind: sites sized between `min_size` and `max_size` (m² or seats), demand per row
    in the same unit, existing facilities open at `existing_capacity` and expandable up to `expansion_max`."""

    name = "CapacitatedCoverage"

    def __init__(self, pairs: Pairs, demand: Any, *, kind: str = "", weights: Any = None, objective: str = "max_covered",
                 p: int | None = None, budget: float | None = None, demand_ids: Any = None, candidate_ids: Any = None,
                 **site_figures) -> None:
        super().__init__([KindDemand(kind=kind, pairs=pairs, demand=demand, weight=weights, **site_figures)],
                         objective=objective, p=p, budget=budget, demand_ids=demand_ids, candidate_ids=candidate_ids)

    @classmethod
    def from_cost_matrix(cls, cost_matrix: Any, max_cost: float, demand: Any, **kwargs) -> "CapacitatedCoverage":
        return _from_matrix(cls, cost_matrix, max_cost, kwargs, demand)

    @classmethod
    def from_reach(cls, reach: Any, demand: Any, *, max_cost: float | None = None, **kwargs) -> "CapacitatedCoverage":
        return cls(_pairs_from_reach(reach, max_cost), demand, **kwargs)
