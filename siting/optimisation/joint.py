"""The capacitated models, where the space standards bind: demand in m² or seats per kind (`KindDemand`), sites
with sizes between a minimum and a maximum, elderly care and nurseries on shared floor area (`JointCoverage`) and
the single-kind `CapacitatedCoverage`. Public through `siting.optimize`."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, OptimizationError
from ..network.arrays import concat_ranges
from .base import (
    SitingResult,
    add_at_most,
    bool_mask,
    check_solution,
    float_vector,
    from_matrix,
    id_array,
    meets_bound,
    or_no_new_site,
    pairs_from_reach,
    proved_without_milp,
    required_matrix,
    solver_gap,
    status_with_gap,
)
from .capacitated import SiteReach, swap_search
from .deadline import Deadline
from .reduce import (
    Pairs,
    ReductionReport,
    group_identical_rows,
    served_by_existing,
)
from .solvers import (
    Milp,
    Solution,
    bound_proves,
    highs_model,
    plan_violation,
    relative_gap,
    run_lp,
    solve_milp,
    with_bound,
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
    required: Any = None  # rows every plan must meet with a NEW site of this kind (0/1 rows × candidates, `required_matrix`)
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
        self.floor_area_m2 = float_vector(floor_area_m2, n_cols, "floor_area_m2")
        self.objective, self.p, self.budget, self.colocation_reward = objective, p, budget, float(colocation_reward)
        self.demand_ids = id_array(demand_ids, n_rows, "demand")
        self.candidate_ids = id_array(candidate_ids, n_cols, "candidate")
        self._k = []
        for kd in self.kinds:
            if (kd.pairs.n_rows, kd.pairs.n_cols) != (n_rows, n_cols):
                raise InputError(f"kind {kd.kind}: reach has another shape than the first kind's", expected="the same demand rows and candidates for every kind")
            existing = bool_mask(kd.existing, n_cols, "existing")
            host = np.broadcast_to(np.asarray(kd.can_host, dtype=bool), (n_cols,)) & ~existing
            demand = float_vector(kd.demand, n_rows, "demand")
            self._k.append(dict(
                kd=kd, existing=existing, host=host, demand=demand,
                weight=demand.copy() if kd.weight is None else float_vector(kd.weight, n_rows, "weight"),
                min_size=float_vector(kd.min_size, n_cols, "min_size"), max_size=float_vector(kd.max_size, n_cols, "max_size"),
                fixed_cost=float_vector(kd.fixed_cost, n_cols, "fixed_cost"), unit_cost=float_vector(kd.unit_cost, n_cols, "unit_cost"),
                existing_capacity=float_vector(kd.existing_capacity, n_cols, "existing_capacity"),
                expansion_max=float_vector(kd.expansion_max, n_cols, "expansion_max"),
                expansion_unit_cost=float_vector(kd.expansion_unit_cost, n_cols, "expansion_unit_cost"),
                required=required_matrix(kd.required, n_cols),
            ))
            req = self._k[-1]["required"]
            self._k[-1]["required_size"] = float_vector(kd.required_size, 0 if req is None else req.shape[0], "required_size")
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
            sol = proved_without_milp(solver, start, value, bound, deadline.elapsed(),
                                       meets_bound(value + offset, bound + offset, model.maximise), "the LP relaxation")
        else:
            sol = with_bound(or_no_new_site(solve_milp(model, solver, None, solver_gap(gap_rel, bound, offset),
                                                         start=start, deadline=deadline), model), bound, model.maximise)
        check_solution(self.name, sol, self._why_infeasible() if sol.x is None else "")
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
                add_at_most(model, *strong)
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
        facility of the kind is met already, as in `reduce_cover`."""
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
            add_at_most(model, xs[added], ys[added])
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
        from ..measures import servable_share
        from ..network.routing import Reach

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
            model=self.name, status=status_with_gap(sol, gap, gap_rel), objective=objective, gap=gap,
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
        return from_matrix(cls, cost_matrix, max_cost, kwargs, demand)

    @classmethod
    def from_reach(cls, reach: Any, demand: Any, *, max_cost: float | None = None, **kwargs) -> "CapacitatedCoverage":
        return cls(pairs_from_reach(reach, max_cost), demand, **kwargs)
