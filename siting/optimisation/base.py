"""What every siting model shares: the result (`SitingResult`), building `Pairs` from a cost matrix or a reach,
the model base class (`ModelBase`), the covering reduction, and the checks and gap arithmetic of a solver's answer.
The models are in siting.optimisation.covering, siting.optimisation.median and siting.optimisation.joint; `siting.optimize` is
their public face."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError, OptimizationError
from .reduce import (
    Pairs,
    ReductionReport,
    dominated_columns,
    dominated_rows,
    group_identical_rows,
)
from .solvers import (
    FEASIBLE_GAP_LIMIT,
    INFEASIBLE,
    NOT_SOLVED,
    OPTIMAL,
    SOLVER_NAMES,
    STOPPED_WALL_CLOCK,
    UNBOUNDED,
    Milp,
    Solution,
    bound_proves,
    no_worse_than_start,
    plan_violation,
    relative_gap,
)

if TYPE_CHECKING:
    from .benders import BendersMaster

# --------------------------------------------------------------------------------------------------------------------
# Results


@dataclass
class SitingResult:
    """One solved siting model. Indices are positions in the caller's demand rows / candidate columns.

    `n_variables` / `n_constraints` are the size of the model behind the result: the MILP built for the solver (for
    a covering model a heuristic settled, the one it would have been handed; for PCenter, the last set-covering
    step's). The p-median builds its compact MILP (a variable per pair) only when a solver runs it: where HiGHS
    proved the plan on the Benders master instead (`solver` 'highs', a note says so), they are that master's as it
    stood at the end: one y per candidate left open and one θ per demand group; the ≤ p row, the rows no existing
    site reaches and the cuts kept."""

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


def id_array(ids: Sequence | None, n: int, what: str) -> np.ndarray:
    if ids is None:
        return np.arange(n)
    out = np.asarray(list(ids), dtype=object)
    if len(out) != n:
        raise InputError(f"{what} has {len(out)} ids for {n} entries", expected=f"{n} ids", fix=f"pass one id per {what} entry")
    return out


def float_vector(value: Any, n: int, name: str, default: float = 0.0) -> np.ndarray:
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


def bool_mask(value: Any, n: int, name: str) -> np.ndarray:
    if value is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(value, dtype=bool)
    if arr.shape != (n,):
        raise InputError(f"'{name}' has {arr.size} flags for {n} candidates", column=name, expected=f"{n} true/false flags", fix="pass one flag per candidate column")
    return arr


def from_matrix(cls, cost: Any, max_cost: float | None, kwargs: dict, *args):
    """`cls(pairs, *args, **kwargs)` from a dense matrix; the matrix's row and column labels become the ids unless
    given (the `from_cost_matrix` of every model)."""
    pairs, row_ids, col_ids = pairs_from_matrix(cost, max_cost)
    kwargs.setdefault("demand_ids", row_ids)
    kwargs.setdefault("candidate_ids", col_ids)
    return cls(pairs, *args, **kwargs)


def pairs_from_matrix(cost: Any, max_cost: float | None) -> tuple[Pairs, Any, Any]:
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


def pairs_from_reach(reach: Any, max_cost: float | None) -> Pairs:
    """Pairs of a `siting.network.routing.Reach` (sources = candidates, destinations = demand rows)."""
    cost = np.asarray(reach.dist_m, dtype=np.float64)
    keep = np.ones(cost.size, dtype=bool) if max_cost is None else cost <= max_cost
    return Pairs.build(np.asarray(reach.dst)[keep], np.asarray(reach.src)[keep], cost[keep], reach.n_dst, reach.n_src)


def warn_unreachable(model: str, unreachable: np.ndarray, ids: np.ndarray) -> None:
    if unreachable.size:
        shown = ", ".join(str(ids[i]) for i in unreachable[:10]) + (" …" if unreachable.size > 10 else "")
        warnings.warn(
            f"{model}: {unreachable.size} demand row(s) have no candidate site within reach and are left out of the "
            f"model (ids: {shown}); add candidate sites near them or raise the walking threshold",
            stacklevel=3,
        )


def nearest_open(pairs: Pairs, open_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def required_matrix(value: Any, n_cols: int) -> sp.csr_matrix | None:
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


def check_solution(model: str, sol: Solution, why: str) -> None:
    if sol.status == INFEASIBLE:
        raise OptimizationError(f"{model} has no feasible plan: {why}")
    if sol.status == UNBOUNDED:
        raise OptimizationError(f"{model} is unbounded: a cost or reward has the wrong sign ({why})")
    if sol.status in (NOT_SOLVED, STOPPED_WALL_CLOCK) or sol.x is None:
        why = sol.note or f"the {sol.solver} solver stopped without any feasible plan (time limit too short?)"
        raise OptimizationError(f"{model}: {why}; raise time_limit_s or reduce the number of candidate sites")


def or_no_new_site(sol: Solution, model: Milp) -> Solution:
    """When the solver returned no plan in time: the plan at every variable's bound nearest zero (no new site, nothing
    served) where that is a feasible plan of the model (MCLP, max_covered), with status 'feasible (time limit)' and the
    solver's bound; otherwise `sol` unchanged."""
    if sol.x is not None or sol.status not in (NOT_SOLVED, STOPPED_WALL_CLOCK):
        return sol
    arrays = model.arrays()
    nothing = np.clip(np.zeros(model.n_vars), arrays[1], arrays[2])
    if plan_violation(arrays, nothing) is not None:
        return sol
    return no_worse_than_start(sol, nothing, float(arrays[0] @ nothing), model.maximise)


def add_at_most(model: Milp, x: np.ndarray, y: np.ndarray) -> None:
    """Rows x[k] − y[k] ≤ 0: a pair's served share at most its site's open variable."""
    k = np.arange(x.size)
    model.add_rows(x.size, np.concatenate([k, k]), np.concatenate([x, y]),
                   np.concatenate([np.ones(x.size), -np.ones(x.size)]), ub=0.0)


def meets_bound(objective: float, bound: float, maximise: bool, what: str = "the LP bound",
           start: str = "the warm start") -> str:
    """How a bound settles a warm start, for the planner: exactly, or within the gap_rel asked."""
    exact = bound_proves(objective, bound, maximise)
    return f"{what} {'meets' if exact else 'is within gap_rel of'} {start}"


def proved_without_milp(solver: str, x: np.ndarray, objective: float, bound: float, seconds: float, why: str,
                         lp: str | None) -> Solution:
    """The warm start as the result, when a bound proved before the solver settles it and no MILP runs. `lp` names
    the LP HiGHS solved for the bound; None when no solver ran (the result then names the solver asked)."""
    by_highs = lp is not None
    how = f"HiGHS solved {lp}" if by_highs else "no solver ran"
    return Solution(OPTIMAL, x, objective, bound, "highs" if by_highs else solver.lower(), seconds,
                    f"the {SOLVER_NAMES.get(solver.lower(), solver)} MILP was not needed: {why} ({how})")


COVER_HEURISTIC_MAX_S = 10.0
"""At most this long (seconds) for the set-cover heuristic before a covering MILP (`optimisation.cover`)."""


def heuristic_seconds(time_limit_s: float | None, share: float) -> float:
    """The set-cover heuristic's time: `share` of the time limit (or of the seconds left), at most
    COVER_HEURISTIC_MAX_S."""
    return COVER_HEURISTIC_MAX_S if time_limit_s is None else min(COVER_HEURISTIC_MAX_S, share * time_limit_s)


def solver_gap(gap_rel: float | None, ceiling: float | None, offset: float) -> float | None:
    """The gap_rel to ask of a solver whose objective leaves out a constant `offset` ≥ 0 (the part settled before
    the model: households existing stations cover, sites forced open): the solver divides by its own, smaller
    objective, so the same absolute gap is a larger share of it. `ceiling` is ≥ every incumbent the solver can hold
    (a maximum's bound; a minimum's warm start, which incumbents only lower); with it as the denominator the scaled
    gap never stops a run early: v / (v + offset) ≤ ceiling / (ceiling + offset) for every incumbent v ≤ ceiling."""
    if gap_rel is None or ceiling is None or offset <= 0 or ceiling <= 0:
        return gap_rel
    return gap_rel * (ceiling + offset) / ceiling


def status_with_gap(sol: Solution, gap: float | None, gap_rel: float | None) -> str:
    """'optimal' only when proved: a run stopped by gap_rel with a positive gap says so."""
    if sol.status == OPTIMAL and gap_rel is not None and (gap is None or gap > 1e-9):
        return FEASIBLE_GAP_LIMIT
    return sol.status


class ModelBase:
    """What every model shares: demand rows, candidate columns, their ids and which candidates already exist."""

    name = "model"

    def __init__(self, pairs: Pairs, *, weights: Any = None, existing: Any = None, demand_ids: Any = None, candidate_ids: Any = None) -> None:
        self.pairs = pairs
        self.weights = float_vector(weights, pairs.n_rows, "weights", default=1.0)
        if (self.weights < 0).any():
            raise InputError("weights must be >= 0", column="weights", expected="households or residents (>= 0)")
        self.existing = bool_mask(existing, pairs.n_cols, "existing")
        self.demand_ids = id_array(demand_ids, pairs.n_rows, "demand")
        self.candidate_ids = id_array(candidate_ids, pairs.n_cols, "candidate")

    @classmethod
    def from_cost_matrix(cls, cost_matrix: Any, max_cost: float, **kwargs):
        """`cost_matrix`: demand rows × candidate columns in metres or minutes (same unit as `max_cost`)."""
        return from_matrix(cls, cost_matrix, max_cost, kwargs)

    @classmethod
    def from_reach(cls, reach: Any, max_cost: float | None = None, **kwargs):
        """`reach`: a `siting.network.routing.Reach` of candidate sources to demand destinations within the walking limit."""
        return cls(pairs_from_reach(reach, max_cost), **kwargs)

    def _result(self, sol: Solution, model: Milp | BendersMaster, gap_rel, *, chosen, site_size, assignment, covered_before, covered_after,
                unreachable, reduction, objective, bound, sites, demand) -> SitingResult:
        gap = relative_gap(objective, bound)
        return SitingResult(
            model=self.name,
            status=status_with_gap(sol, gap, gap_rel),
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
        site, cost = nearest_open(self.pairs, open_mask)
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


def reduce_cover(pairs: Pairs, weights: np.ndarray, existing: np.ndarray, site_cost: np.ndarray, drop_zero_weight: bool,
                  set_cover: bool = False, required: sp.csr_matrix | None = None) -> _CoverReduced:
    """Rows: unreachable and already-covered rows out, identical rows merged. Columns: dominated ones out. With
    `set_cover` (every remaining row must be covered: LSCP, p-center steps) also: rows that contain another row's
    column set out (covered whenever that row is), and a row with a single column forces that column open (its rows
    are then covered). Repeated until nothing changes; every step keeps the optimum.

    `required` (rows × all candidate columns, 0/1): rows every plan must cover, of weight 0 (e.g. a 社区 without a
    station, `siting.optimisation.units`); one that an existing site covers is met. They join the incidence as rows
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


def cover_model(red: _CoverReduced, site_cost: np.ndarray, max_sites: int | None = None) -> tuple[Milp, np.ndarray]:
    """The set-covering MILP of a reduced instance: least Σ site_cost·y with every row covered (and Σy ≤ max_sites)."""
    model = Milp(maximise=False)
    y = model.add_vars(len(red.columns), lb=0, ub=1, cost=site_cost[red.columns], integer=True)
    coo = red.incidence.tocoo()
    model.add_rows(red.incidence.shape[0], coo.row, y[coo.col], 1.0, lb=1.0)
    if max_sites is not None:
        model.add_rows(1, np.zeros(y.size, dtype=np.int64), y, 1.0, ub=float(max_sites))
    return model, y


