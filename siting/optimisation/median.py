"""The assignment models: PMedian (least total weighted cost, optionally capacitated) and PCenter (least worst
cost), with their reduction and the interchange heuristic. Public through `siting.optimize`."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, OptimizationError
from ..network.arrays import concat_ranges
from .base import (
    ModelBase,
    SitingResult,
    add_at_most,
    check_solution,
    cover_model,
    float_vector,
    from_matrix,
    heuristic_seconds,
    meets_bound,
    nearest_open,
    pairs_from_reach,
    proved_without_milp,
    reduce_cover,
    warn_unreachable,
)
from .benders import BendersMaster, MedianBound, pmedian_lp_bound
from .branch import branch_and_cut
from .cover import cover_heuristic
from .deadline import Deadline, as_deadline
from .reduce import (
    NearestFirst,
    Pairs,
    ReductionReport,
    group_identical_rows,
)
from .solvers import (
    FEASIBLE_TIME_LIMIT,
    INFEASIBLE,
    OPTIMAL,
    SOLVER_NAMES,
    Milp,
    Solution,
    bound_proves,
    solve_milp,
    with_bound,
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


def _bound_note(lp: MedianBound) -> str:
    if lp.bound is None:
        return f"no LP bound: the first Benders master LP did not solve in time ({lp.seconds:.2f} s)"
    state = "the LP optimum" if lp.converged else "stopped before the LP optimum"
    return (f"LP bound {lp.bound:.10g} by Benders cuts ({state}; {lp.rounds} rounds, {lp.cuts} cuts, "
            f"{lp.seconds:.2f} s)")


class _AssignModel(ModelBase):
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
        _, cost = nearest_open(self.pairs, open_mask)
        return cost <= (np.inf if self.cover_within is None else self.cover_within)

    @classmethod
    def from_cost_matrix(cls, cost_matrix: Any, p: int, *, max_cost: float | None = None, **kwargs):
        """`cost_matrix`: demand rows × candidate columns in metres or minutes; infinite entries are not allowed pairs."""
        kwargs["p"] = p
        return from_matrix(cls, cost_matrix, max_cost, kwargs)

    @classmethod
    def from_reach(cls, reach: Any, p: int, *, max_cost: float | None = None, **kwargs):
        return cls(pairs_from_reach(reach, max_cost), p=p, **kwargs)

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
        red = reduce_cover(within, np.ones(self.pairs.n_rows), self.existing, np.ones(self.pairs.n_cols),
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
        model, y = cover_model(red, np.ones(self.pairs.n_cols), max_sites=left)
        found = cover_heuristic(red.incidence, np.ones(red.columns.size),
                                max_seconds=heuristic_seconds(deadline.left(), heuristic_share),
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
        self.capacities = None if capacities is None else float_vector(capacities, pairs.n_cols, "capacities")
        if fulfill_existing and self.capacities is None:
            raise InputError("fulfill_existing needs capacities", column="capacities", expected="one capacity per candidate")
        self.fulfill_existing = fulfill_existing

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        """Uncapacitated: a local-search plan first (`_interchange`, seconds), then the LP bound by Benders cuts
        (`optimisation.benders`, seconds). When the bound meets the plan, the plan is proved optimal without a MILP;
        otherwise the bound closes candidates (reduced-cost fixing) and, when the LP converged, a branch and bound
        over the Benders master closes the gap (`optimisation.branch`); when it did not, the solver runs on the compact
        MILP of the rest with the plan as its warm start. The result is never worse than that plan; its status and
        gap are proved, never assumed."""
        deadline = Deadline(time_limit_s)
        red = _reduce_assign(self.pairs, self.weights, self.existing, nearest_only=self.capacities is None)
        warn_unreachable(self.name, red.unreachable, self.demand_ids)
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
        return self._finish(sol, model, gap_rel, red)

    def _solve_uncapacitated(self, red: _AssignReduced, solver: str, deadline: Deadline,
                             gap_rel: float | None) -> SitingResult:
        open_start, upper = self._start(red, solver, deadline.part(0.25))
        lp = pmedian_lp_bound(red.pairs, red.weight, self.existing, self.p, start_open=open_start, upper=upper,
                              time_limit_s=deadline.share(self.bound_share))
        red.report.notes.append(_bound_note(lp))
        meets = None
        if lp.converged and lp.y is not None and np.all(np.minimum(lp.y, 1.0 - lp.y) <= 1e-6):
            integral = lp.y > 0.5  # an integral LP optimum is a plan, and an optimal one
            integral_cost = lp.master.plan_cost(integral)
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
        # the compact MILP is built below, only when a solver runs it; the master HiGHS solved is what the result's
        # size reports on the paths that prove the plan without it
        if proved or stranded:  # stranded: a row whose every site is closed, so every plan costs more than `upper`
            bound = upper if stranded else lp.bound
            why = ("every site of some demand row is closed by the LP bound's reduced costs" if stranded
                   else meets or meets_bound(upper, bound, False))
            sol = proved_without_milp(solver, self._plan_vector(red, open_start), upper, bound,
                                       deadline.elapsed(), why, "the Benders LP")
            return self._finish(sol, lp.master, gap_rel, red)
        if self._branch_wins(lp, open_start):
            tree = branch_and_cut(lp, open_start, upper, self.p, deadline, gap_rel)
            red.report.notes.append(tree.note())
            proved = tree.finished or bound_proves(tree.cost, tree.bound, False, gap_rel)
            why = "HiGHS solved the Benders master at every node of the branch and bound" if proved else \
                "the branch and bound over the Benders master (HiGHS) had the time"
            sol = Solution(OPTIMAL if proved else FEASIBLE_TIME_LIMIT, self._plan_vector(red, tree.open_mask),
                           tree.cost, tree.bound, "highs", deadline.elapsed(),
                           f"the {SOLVER_NAMES.get(solver.lower(), solver)} MILP was not {'needed' if proved else 'run'}: {why}")
            return self._finish(sol, lp.master, gap_rel, red)
        model, y, _ = self._build(red, closed=closed)
        start = None if open_start is None else self._plan_vector(red, open_start)
        sol = self._nearest_assignment(solve_milp(model, solver, None, gap_rel, start=start, deadline=deadline), red, y,
                                       lp.master)
        return self._finish(with_bound(sol, lp.bound, False), model, gap_rel, red)

    def _nearest_assignment(self, sol: Solution, red: _AssignReduced, y: np.ndarray, master: BendersMaster) -> Solution:
        """A solver's plan with every row moved to its nearest open site. Why: a plan from a MILP stopped at its time
        limit may assign a row to a farther open site (feasible, not optimal); the planner's plan is the sites, and
        its cost is the nearest-site cost (150 points, p = 16, HiGHS stopped at 0.05 s: 39.2 M reported for sites
        whose nearest-site cost is lower)."""
        if sol.x is None or sol.objective is None:
            return sol
        open_mask = sol.x[y] > 0.5
        cost = master.plan_cost(open_mask)  # the master's pairs include the closed candidates' (never open here)
        if not cost < sol.objective:
            return sol
        return replace(sol, x=self._plan_vector(red, open_mask), objective=cost)

    @staticmethod
    def _branch_wins(lp: MedianBound, open_start: np.ndarray | None) -> bool:
        """Whether to branch on the Benders master (`optimisation.branch`) rather than hand the compact MILP to the solver:
        whenever the root LP converged and a plan is known, which the tree needs. Measured at n = 900: p = 20 proved
        in ~18 s against a 0.25 % gap after 60 s for either solver on the compact MILP (bench/results/pmedian-dense.md)."""
        return lp.converged and lp.master is not None and open_start is not None

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
        `closed` candidates (proved out by the LP bound) cannot open. Its variables are laid out as `_layout` says."""
        gp = red.pairs
        model = Milp(maximise=False)
        fixed = self.existing
        y = model.add_vars(gp.n_cols, lb=fixed.astype(float), ub=1.0 if closed is None else (~closed).astype(float),
                           integer=True)
        x = model.add_vars(gp.row.size, lb=0, ub=1, cost=red.weight[gp.row] * gp.cost)
        model.add_rows(gp.n_rows, gp.row, x, 1.0, lb=1.0, ub=1.0)  # every reachable row fully assigned
        add_at_most(model, x, y[gp.col])  # only to open sites
        new = np.flatnonzero(~fixed)
        model.add_rows(1, np.zeros(new.size, dtype=np.int64), y[new], 1.0, ub=float(self.p))
        return model, y, x

    @staticmethod
    def _layout(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """The compact MILP's variable indices, in the order `_build` adds them: y per candidate, then x per pair.
        Why apart from the model: a plan proved without the MILP is still written in these variables (`_plan_vector`)
        and read back by `_finish`, so the model (10⁵–10⁶ pairs) is built only when a solver runs it."""
        return np.arange(pairs.n_cols), pairs.n_cols + np.arange(pairs.row.size)

    def _finish(self, sol: Solution, model: Milp | BendersMaster, gap_rel, red: _AssignReduced) -> SitingResult:
        """The result of `sol` (in `_layout`'s variables); `model` is what the solver solved, whose size the result
        reports: the compact MILP, or the Benders master when HiGHS proved the plan on it."""
        check_solution(self.name, sol, self._why_infeasible())
        gp = red.pairs
        y, x = self._layout(gp)
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

    @classmethod
    def _plan_vector(cls, red: _AssignReduced, open_mask: np.ndarray) -> np.ndarray:
        """The plan `open_mask` in the compact MILP's variables (`_layout`): every row wholly at its nearest open site."""
        y, x = cls._layout(red.pairs)
        site, _ = nearest_open(red.pairs, open_mask)
        vector = np.zeros(y.size + x.size)
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
        warn_unreachable(self.name, unreachable, self.demand_ids)
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
            _, cost = nearest_open(pairs, open_mask)
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


