"""A primal heuristic for capacitated coverage with at most p new sites: swap local search over the set of opened
sites. Each plan is valued exactly by the LP relaxation with every site variable fixed at 0 or 1 (the site variables
are the model's only integer ones, so that LP is the best service the site set can give); the LP stays hot between
plans, so one plan costs a few hundred dual simplex iterations (about 50 ms at 10,000 residences × 2,000 candidates).
Copies of the LP solve plans in parallel threads (the 20 "close j" LPs of a round, and trial swaps in batches).

Which swaps to try comes from two bounds on the value of a plan S − j + k, both from the LP of S − j: a lower bound
(S − j's own service plus the best service k can give to the demand S − j leaves unserved: a feasible plan) and an
upper bound (LP duality: S − j's row duals stay feasible when k's capacity dual is chosen, which leaves a fractional
knapsack per site). The swap of best lower bound is tried first when that bound beats the plan; then the swaps whose
upper bound beats the plan, in order of the midpoint of their two bounds, the first that improves the plan taken;
when no upper bound beats the plan, no swap can improve it (a certified swap optimum). The midpoint ranks better than
either bound alone: the upper bound lets k fill its whole capacity at the duals' prices and the lower bound lets it
take only unserved demand, while a real swap lands between (on the planner's city of the benchmark, 1 % from the
LP bound after 184 LPs against 320 by upper bound, and a better swap optimum, 490,454 against 490,253, in half the
LPs; on the greenfield city both orders end at the proven optimum, the midpoint after 422 LPs against 270).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .solvers import run_lp

STALE_BATCHES = 3
"""After a swap, batches of further swaps from the same ranked list tried before the bounds are computed anew (one LP
per open site): 3 reached 1 % of the LP bound on the benchmark's planner city in 98 LPs against 184 when every swap
starts a new round, and the greenfield city's proven optimum in 304 LPs against 422; the swap optima were the same."""


@dataclass(frozen=True)
class SiteReach:
    """The (demand group, site) pairs of a capacitated model, for ranking swaps. Sites are positions 0..n_sites-1 in
    `y`; groups are positions in the model's demand rows, which start at row `row0`."""

    y: np.ndarray  # model variable of each candidate site's open flag
    capacity: np.ndarray  # per site, its largest size (capacity units: m², seats)
    pair_row: np.ndarray  # demand group of each (group, site) pair
    pair_site: np.ndarray
    group_demand: np.ndarray  # per group, in capacity units
    group_weight: np.ndarray  # per group, what coverage counts (households, residents)
    x: np.ndarray  # served-share variable of every pair of the model, existing facilities' pairs included
    x_row: np.ndarray  # demand group of each of those variables
    row0: int


def site_fill(reach: SiteReach, value: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Per site, the most value it takes when it fills its capacity with `amount` (capacity units, per pair) worth
    `value` per unit (per pair), best value first: a fractional knapsack, exact for one site. Pairs of value ≤ 0 are
    left out."""
    n = reach.capacity.size
    keep = (value > 0) & (amount > 0)
    site, value, amount = reach.pair_site[keep], value[keep], amount[keep]
    order = np.lexsort((-value, site))
    site, value, amount = site[order], value[order], amount[order]
    taken = np.cumsum(amount)
    first = np.searchsorted(site, site)  # start of each pair's site run
    before = taken - amount - (taken[first] - amount[first])  # amount of the site's better pairs
    take = np.clip(reach.capacity[site] - before, 0.0, amount)
    return np.bincount(site, weights=take * value, minlength=n)


def _value_of(lp, reach: SiteReach, open_: np.ndarray) -> float:
    """Objective of the LP `lp` with every site fixed open (True) or closed: the plan's value (model units)."""
    fixed = open_.astype(np.float64)
    lp.changeColsBounds(reach.y.size, reach.y.astype(np.int32), fixed, fixed)
    if not run_lp(lp):
        raise RuntimeError("the LP of a fixed site set did not solve")
    return float(lp.getInfo().objective_function_value)


def swap_bounds(lp, reach: SiteReach, without: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Value of the site set `without` (bool per site) and, per site k, a lower and an upper bound on the value of
    `without` + k, both from `without`'s LP solution: lower, that plan plus k serving the demand it leaves unserved
    (a feasible plan); upper, LP duality (its row duals u stay feasible with k's capacity dual t, and the best t
    leaves k's fractional knapsack of weight − u per capacity unit)."""
    base = _value_of(lp, reach, without)
    sol = lp.getSolution()
    g = reach.group_demand.size
    pair_demand = reach.group_demand[reach.pair_row]
    density = reach.group_weight[reach.pair_row] / pair_demand  # weight per capacity unit
    served = np.bincount(reach.x_row, weights=np.asarray(sol.col_value)[reach.x], minlength=g)
    dual = np.maximum(np.asarray(sol.row_dual)[reach.row0:reach.row0 + g], 0.0)
    lower = base + site_fill(reach, density, np.maximum(0.0, 1.0 - served[reach.pair_row]) * pair_demand)
    upper = base + site_fill(reach, density - dual[reach.pair_row] / pair_demand, pair_demand)
    return base, lower, upper


def swap_search(lp, reach: SiteReach, plan: np.ndarray, seconds: float | None,
                good_enough: Callable[[float], bool] | None = None) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Improve `plan` (bool per site) by swaps (close one site, open another) within `seconds` (None: until no swap
    improves), stopping early once `good_enough(value)` (a bound proves the plan optimal or within the gap asked).
    `lp` is the model's LP relaxation as a `highspy.Highs` (`highs_model(…, relax=True)`), or a list of identical
    copies: their LPs are solved in parallel threads (HiGHS releases the GIL), each copy always taking the same share
    of the work so that a run is repeatable. The first copy's site bounds are left fixed at the plan returned.
    Returns the plan, the LP's variable values for it (a feasible plan of the model), its objective (model units, no
    offset) and a sentence on how the search ended."""
    started = time.perf_counter()
    copies = list(lp) if isinstance(lp, (list, tuple)) else [lp]
    lps = 0

    def late() -> bool:
        return seconds is not None and time.perf_counter() - started > seconds

    def bounds(copy, j: int):
        if late():
            return None
        without = plan.copy()
        without[j] = False
        return swap_bounds(copy, reach, without)

    def trial_value(copy, swap: tuple[int, int]) -> float:
        trial = plan.copy()
        trial[swap[0]], trial[swap[1]] = False, True
        return _value_of(copy, reach, trial)

    plan = plan.copy()
    best = _value_of(copies[0], reach, plan)
    lps += 1
    tol = 1e-7 * max(1.0, abs(best))
    swaps, ended = 0, "stopped at its time limit"
    with ThreadPoolExecutor(max_workers=len(copies)) as pool:
        while not late():
            if good_enough is not None and good_enough(best):
                ended = "stopped: the LP bound proves it good enough"
                break
            low, candidates = (best + tol, -1, -1), []
            sites = [int(j) for j in np.flatnonzero(plan)]
            for j, found in zip(sites, _spread(pool, copies, bounds, sites)):
                if found is None:
                    continue
                lps += 1
                _, lower, upper = found
                lower[plan], upper[plan] = -np.inf, -np.inf
                k = int(np.argmax(lower))
                if lower[k] > low[0]:
                    low = (lower[k], j, k)
                ks = np.flatnonzero(upper > best + tol)
                candidates += list(zip(0.5 * (lower[ks] + upper[ks]), np.full(ks.size, j), ks))
            if late():
                break
            # a swap whose lower bound beats the plan first, then the others by the midpoint of their bounds; as many
            # at once as copies
            order = ([low[1:]] if low[1] >= 0 else []) + [(j, k) for _, j, k in sorted(candidates, reverse=True)]
            # after a swap, the rest of the list is still tried (exact values on the new plan, stale ranking) until
            # STALE_BATCHES batches in a row fail: new bounds cost a LP per open site
            taken, misses, at = False, 0, 0
            while at < len(order):
                batch = []
                while at < len(order) and len(batch) < len(copies):
                    j, k = int(order[at][0]), int(order[at][1])
                    at += 1
                    if plan[j] and not plan[k]:
                        batch.append((j, k))
                if not batch:
                    break
                values = _spread(pool, copies, trial_value, batch)
                lps += len(batch)
                better = [(swap, value) for swap, value in zip(batch, values) if value > best + tol]
                if better:
                    (j, k), best = better[0]
                    plan[j], plan[k] = False, True
                    swaps, taken, misses = swaps + 1, True, 0
                    if good_enough is not None and good_enough(best):
                        break
                elif taken:
                    misses += 1
                    if misses >= STALE_BATCHES:
                        break
                if late():
                    break
            if not taken and not late():
                ended = "no swap improves it"
                break
    best = _value_of(copies[0], reach, plan)
    lps += 1
    x = np.asarray(copies[0].getSolution().col_value, dtype=np.float64).copy()
    x[reach.y] = plan
    return plan, x, best, f"{swaps} swaps in {time.perf_counter() - started:.1f} s ({lps} LPs), {ended}"


def _spread(pool: ThreadPoolExecutor, copies: list, work: Callable, items: list) -> list:
    """`work(copy, item)` for every item, item i on copy i mod len(copies) (a fixed split: each copy sees the same
    sequence of LPs in every run), the copies in parallel; results in item order."""
    n = len(copies)
    if n == 1 or len(items) <= 1:
        return [work(copies[0], item) for item in items]
    parts = list(pool.map(lambda c: [work(copies[c], item) for item in items[c::n]], range(n)))
    out: list = [None] * len(items)
    for c, part in enumerate(parts):
        out[c::n] = part
    return out
