"""The covering models: LSCP (fewest sites covering every reachable row) and MCLP (most weight covered with p new
sites and/or a budget). Public through `siting.optimize`."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import (
    ModelBase,
    SitingResult,
    check_solution,
    cover_model,
    float_vector,
    heuristic_seconds,
    meets_bound,
    or_no_new_site,
    proved_without_milp,
    reduce_cover,
    required_matrix,
    solver_gap,
    warn_unreachable,
)
from .cover import cover_heuristic
from .deadline import Deadline
from .reduce import (
    Pairs,
)
from .solvers import (
    Milp,
    bound_proves,
    solve_milp,
    with_bound,
)


class LSCP(ModelBase):
    """Location set covering: the fewest new sites (or least total `site_cost`) so that every demand row with a
    candidate within `max_cost` is covered by an open site. Rows no candidate reaches are reported and left out."""

    name = "LSCP"

    def __init__(self, pairs: Pairs, *, site_cost: Any = None, required: Any = None, **kwargs) -> None:
        super().__init__(pairs, **kwargs)
        self.site_cost = float_vector(site_cost, pairs.n_cols, "site_cost", default=1.0)
        self.required = required_matrix(required, pairs.n_cols)

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        """The reduced instance first meets the set-cover heuristic (`optimisation.cover`: a cover and a Lagrangian
        bound, at most 15 % of the time limit). When the bound meets the cover (or is within `gap_rel`), no MILP runs;
        otherwise the cover is the solver's warm start and the reported bound the tighter of the two."""
        deadline = Deadline(time_limit_s)
        red = reduce_cover(self.pairs, self.weights, self.existing, self.site_cost, drop_zero_weight=False, set_cover=True,
                            required=self.required)
        warn_unreachable(self.name, red.unreachable, self.demand_ids)
        model, y = cover_model(red, self.site_cost)
        cost, offset = self.site_cost[red.columns], float(self.site_cost[red.forced].sum())
        found = None
        if red.incidence.shape[0] and (cost >= 0).all():
            found = cover_heuristic(red.incidence, cost, max_seconds=heuristic_seconds(deadline.share(0.15), 1.0))
            red.report.notes.append(found.note(offset, "sites" if (cost == 1).all() else "cost"))
        if found is not None and bound_proves(found.cost + offset, found.bound + offset, False, gap_rel):
            why = meets_bound(found.cost + offset, found.bound + offset, False, "the Lagrangian bound", "the heuristic's cover")
            sol = proved_without_milp(solver, found.mask.astype(float), found.cost, found.bound,
                                       deadline.elapsed(), why, None)
        else:
            start = None if found is None else found.mask.astype(float)  # y is the model's only variable block
            sol = solve_milp(model, solver, time_limit_s, solver_gap(gap_rel, None if found is None else found.cost, offset),
                             start=start, deadline=deadline)
            sol = sol if found is None else with_bound(sol, found.bound, False)
        check_solution(self.name, sol, "a demand row cannot be covered")
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


class MCLP(ModelBase):
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
        self.site_cost = float_vector(site_cost, pairs.n_cols, "site_cost", default=1.0)
        self.required = required_matrix(required, pairs.n_cols)

    def solve(self, solver: str = "cbc", time_limit_s: float | None = None, gap_rel: float | None = None) -> SitingResult:
        # site costs only matter through the budget; with p alone every column is equally priced
        deadline = Deadline(time_limit_s)
        cost_for_dominance = self.site_cost if self.budget is not None else np.ones(self.pairs.n_cols)
        red = reduce_cover(self.pairs, self.weights, self.existing, cost_for_dominance, drop_zero_weight=True,
                            required=self.required)
        warn_unreachable(self.name, red.unreachable, self.demand_ids)
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
        sol = solve_milp(model, solver, time_limit_s, solver_gap(gap_rel, float(red.weight.sum()), before),
                         deadline=deadline)
        sol = or_no_new_site(sol, model)  # (never with required rows: the empty plan breaks them)
        check_solution(self.name, sol, "p or budget is negative" if self.required is None else
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


