"""The uncapacitated p-median proved by our own branch and bound over the Benders master (branch-and-Benders-cut).

Why: on dense instances with few sites (n = 900, p = 20, every pair allowed) the LP bound stops ~0.25 % below the
optimum, and the compact MILP that closes the gap (x ≤ y on 10⁵–10⁶ pairs) takes HiGHS and CBC over a minute. The
Benders master (one y per candidate, one θ per row, the cuts found so far) is a few thousand rows by two thousand
columns: a node is a change of y's bounds and a dual-simplex re-solve from the last basis, new cuts are separated at
the node's y in closed form (`optimisation.benders`), and candidates are closed or fixed open at every node by its reduced
costs against the best plan. Duran-Mateluna, Ales & Elloumi (2023, "An efficient Benders decomposition for the
p-median problem", EJOR 308(1)) branch on the same master, with the same cuts, inside a solver's callbacks; here the
tree is best-first in Python (highspy has no cut callback), which suits instances whose root gap is small.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from .benders import MedianBound
from .deadline import Deadline

INTEGRAL_TOL = 1e-6
"""A master y within this of 0 or 1 counts as integral."""

ROUNDS_PER_NODE = 30
"""At most this many cut rounds at one node before it branches (a node's bound rarely moves after ~10)."""


@dataclass
class BranchResult:
    """What the tree proved: the best plan (`open_mask`, `cost`), a lower bound on every plan (`bound`), and whether
    the tree was searched to the end (`finished`: `bound` is then the optimum, or within the gap asked)."""

    open_mask: np.ndarray
    cost: float
    bound: float
    finished: bool
    nodes: int
    cuts: int
    improved: int
    seconds: float

    def note(self) -> str:
        how = "searched to the end" if self.finished else "stopped at the time limit"
        better = f", {self.improved} better plans found in it" if self.improved else ""
        return (f"branch and bound over the Benders master: {self.nodes} nodes, {self.cuts} more cuts{better}, "
                f"{how} ({self.seconds:.2f} s)")


def branch_and_cut(root: MedianBound, incumbent: np.ndarray, upper: float, p: int, deadline: Deadline,
                   gap_rel: float | None = None) -> BranchResult:
    """Best-first branch and bound on y from the converged root LP `root` (its master, bound and reduced costs) and
    the best plan known (`incumbent`, costing `upper`). The candidates the root's reduced costs close against `upper`
    leave the master for good (and more of them whenever a better plan turns up). Stops when every node is pruned
    (bounds within the gap of the best plan) or at `deadline` (the best plan, and the least bound of the nodes left).
    Every cut stays in the master: each is valid for every plan. A child's LP starts from its parent's optimal basis
    (one bound away) rather than from whichever node was solved last: at n = 900, seed 0, the dual simplex took
    12,231 iterations instead of 34,774 at p = 20 and 21,396 instead of 55,565 at p = 30."""
    started = time.perf_counter()
    master = root.master
    m, existing = master.m, master.existing
    closed = root.closed(upper)
    master.restrict(~closed)
    lower0 = existing.astype(np.float64)
    upper0 = (~closed | existing).astype(np.float64)
    relative = max(1e-7, gap_rel or 0.0)  # relative_gap counts 1e-7 as none (CBC prints 8 digits)
    best_mask, best_cost = incumbent.copy(), float(upper)
    heap: list[tuple[float, int, np.ndarray, np.ndarray, tuple | None]] = [(float(root.bound), 0, lower0, upper0, None)]
    pruned_bound = math.inf  # least bound of the nodes pruned by bound (each between the threshold and the plan)
    nodes = cuts = improved = counter = 0
    finished = False

    def threshold() -> float:
        return best_cost - relative * abs(best_cost)

    def offer(mask: np.ndarray) -> None:
        nonlocal best_mask, best_cost, improved
        cost = master.plan_cost(mask)
        if cost < best_cost - 1e-9 * abs(best_cost):
            best_mask, best_cost, improved = mask.copy(), cost, improved + 1
            upper0[root.closed(best_cost)] = 0.0  # the root's reduced costs against the better plan

    new = ~existing
    open_new = np.flatnonzero(new & ~closed)
    while True:
        if not heap:
            finished = True
            break
        node_bound, _, lo, hi, basis = heap[0]
        if node_bound >= threshold():
            pruned_bound = min(pruned_bound, node_bound)
            finished = True  # best-first: every node left is pruned too
            break
        if deadline.expired():
            break
        heapq.heappop(heap)
        nodes += 1
        master.set_basis(basis)
        master.set_y_bounds(lo, np.minimum(hi, upper0))
        bound, state, rounds, last = node_bound, "open", 0, -math.inf
        while True:
            solved = master.solve(deadline.left())
            if solved is None:
                state = "infeasible" if master.infeasible() else "time"
                break
            lp_value, y, theta, reduced = solved
            bound = max(bound, lp_value)  # a child's bound is at least its parent's
            rounds += 1
            if bound >= threshold():
                state = "pruned"
                break
            violated = master.violated(y, theta)
            if violated.size == 0:
                break
            # tailing off: branch once a round lifts the bound by less than a hundredth of what is left to prove; an
            # integral y is never branched on while cuts are violated (its θ are then below its true costs)
            fractional = np.minimum(y, 1.0 - y) > INTEGRAL_TOL
            tailing = rounds > 1 and lp_value - last < 0.01 * (best_cost - lp_value)
            if fractional.any() and (rounds >= ROUNDS_PER_NODE or tailing):
                break
            last = lp_value
            cuts += master.add_cuts(y, violated)
        if state == "time":
            heapq.heappush(heap, (bound, counter := counter + 1, lo, hi, basis))
            break
        if state == "infeasible":
            continue
        if state == "pruned":
            pruned_bound = min(pruned_bound, bound)
            continue
        fractional = np.minimum(y, 1.0 - y) > INTEGRAL_TOL
        if not fractional.any():
            offer(y > 0.5)  # no cut violated: the master's θ are this plan's assignment costs
            pruned_bound = min(pruned_bound, bound)
            continue
        # a plan near the node's LP: its (at most p) most-open new sites
        top = np.zeros(m, dtype=bool)
        top[open_new[np.argsort(-y[open_new], kind="stable")[:p]]] = True
        offer((top & (y > INTEGRAL_TOL)) | existing)
        if bound >= threshold():
            pruned_bound = min(pruned_bound, bound)
            continue
        # reduced-cost fixing for the subtree, from this LP's own value: a closed y whose opening, or an open y whose
        # closing, lifts it past the best plan
        lo, hi = lo.copy(), hi.copy()
        margin = threshold()
        hi[(y <= INTEGRAL_TOL) & (lp_value + reduced > margin) & new] = 0.0
        lo[(y >= 1.0 - INTEGRAL_TOL) & (lp_value - reduced > margin) & new] = 1.0
        # branch on the most fractional y (ties: the lowest index)
        j = int(np.argmax(np.where(fractional, np.minimum(y, 1.0 - y), -1.0)))
        basis = master.basis()  # this node's optimal basis: each child starts from it, one bound away
        for value in (1.0, 0.0):
            child_lo, child_hi = lo.copy(), hi.copy()
            child_lo[j] = child_hi[j] = value
            heapq.heappush(heap, (bound, counter := counter + 1, child_lo, child_hi, basis))
    left = min((b for b, *_ in heap), default=math.inf)
    proved = min(left, pruned_bound, best_cost)
    master.set_y_bounds(lower0, upper0)
    return BranchResult(best_mask, best_cost, proved, finished, nodes, cuts, improved, time.perf_counter() - started)
