"""The branch and bound over the Benders master (`siting.optimisation.branch`) against brute force over every plan (≤ 12
candidates) and against the compact p-median MILP solved by scipy's `milp` (x per pair, x ≤ y) on street-graph
instances of 120–150 points; a spent or short time limit returns a plan priced by the dense recomputation, a bound
no higher than the optimum, and 'optimal' only when it is."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import Delaunay
from test_optimize import SOLVERS, _dense_median_cost
from test_optimize_benders import best_plan, cases

from siting.optimisation.base import pairs_from_matrix
from siting.optimisation.benders import pmedian_lp_bound
from siting.optimisation.branch import branch_and_cut
from siting.optimisation.deadline import Deadline
from siting.optimisation.solvers import FEASIBLE_TIME_LIMIT, OPTIMAL
from siting.optimize import PMedian


def street_instance(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` random points in a 3 km square, every one a demand row (50–500 households) and a candidate; costs are the
    shortest paths over their Delaunay edges, each 1–1.6 times its straight length (a street graph)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, 3000.0, size=(n, 2))
    tri = Delaunay(xy).simplices
    edges = np.unique(np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1), axis=0)
    length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T) * rng.uniform(1.0, 1.6, len(edges))
    graph = sp.coo_matrix((length, tuple(edges.T)), shape=(n, n)).tocsr()
    return shortest_path(graph, directed=False), rng.integers(50, 501, size=n).astype(float)


STREETS = [(150, 0, 16), (150, 0, 8), (120, 3, 8), (120, 6, 8), (150, 9, 12)]
"""(points, seed, p) of `street_instance` whose Benders LP is fractional, so the tree branches (5–19 nodes; found by
search)."""


def compact_milp(cost: np.ndarray, w: np.ndarray, p: int) -> float:
    """The textbook p-median MILP on a dense matrix by scipy's milp, gap 0: min Σ wᵢ dᵢⱼ xᵢⱼ, Σⱼ xᵢⱼ = 1, xᵢⱼ ≤ yⱼ,
    Σ yⱼ ≤ p, y binary."""
    n, m = cost.shape
    k = n * m
    row, col = np.divmod(np.arange(k), m)
    assign = sp.csr_matrix((np.ones(k), (row, np.arange(k))), shape=(n, k + m))
    link = sp.csr_matrix((np.r_[np.ones(k), -np.ones(k)], (np.r_[np.arange(k), np.arange(k)], np.r_[np.arange(k), k + col])),
                         shape=(k, k + m))
    count = sp.csr_matrix((np.ones(m), (np.zeros(m, dtype=int), k + np.arange(m))), shape=(1, k + m))
    res = milp(np.r_[(w[:, None] * cost).ravel(), np.zeros(m)],
               constraints=[LinearConstraint(assign, 1, 1), LinearConstraint(link, -np.inf, 0), LinearConstraint(count, -np.inf, p)],
               integrality=np.r_[np.zeros(k), np.ones(m)], bounds=Bounds(0, 1), options={"mip_rel_gap": 0.0})
    assert res.status == 0
    return float(res.fun)


def worst_plan(cost, w, existing, p):
    """Brute force: the dearest plan with exactly p new sites that reaches every reachable row (the tree's start)."""
    reach = np.isfinite(cost).any(axis=1)
    old = list(np.flatnonzero(existing))
    plans = [old + list(s) for s in itertools.combinations(np.flatnonzero(~existing), p)]
    priced = [(_dense_median_cost(cost[reach], w[reach], plan), plan) for plan in plans]
    return max((c, plan) for c, plan in priced if np.isfinite(c))


def root(cost, w, existing, p, start):
    """The converged Benders LP from `start` (a list of open columns), as `PMedian` hands it to the tree."""
    pairs = pairs_from_matrix(cost, None)[0]
    mask = np.zeros(cost.shape[1], dtype=bool)
    mask[start] = True
    lp = pmedian_lp_bound(pairs, w, existing, p, start_open=mask)
    assert lp.converged
    return lp, mask


def check_tree(tree, cost, w, existing, p, optimum):
    """The tree's plan keeps the existing sites, opens ≤ p new ones, costs what the dense recomputation says, and its
    bound is at most the optimum; searched to the end, it is the optimum."""
    assert tree.open_mask[existing].all() and (tree.open_mask & ~existing).sum() <= p
    reach = np.isfinite(cost).any(axis=1)
    assert tree.cost == pytest.approx(_dense_median_cost(cost[reach], w[reach], list(np.flatnonzero(tree.open_mask))), rel=1e-9)
    assert tree.bound <= optimum * (1 + 1e-9) and tree.cost >= optimum * (1 - 1e-9)
    if tree.finished:
        assert tree.cost == pytest.approx(optimum, rel=1e-9) and tree.bound == pytest.approx(optimum, rel=1e-7)


def test_tree_from_the_worst_plan_finds_the_brute_force_optimum():
    """From the dearest plan (so reduced-cost fixing closes little and the tree must find better plans itself), and
    from the optimum (the root's reduced costs then close the most): the brute-force optimum, proved."""
    for cost, w, existing, p in cases():
        optimum, best = best_plan(cost, w, existing, p)
        worst, start = worst_plan(cost, w, existing, p)
        lp, mask = root(cost, w, existing, p, start)
        tree = branch_and_cut(lp, mask, worst, p, Deadline(None))
        assert tree.finished and tree.improved >= 1
        check_tree(tree, cost, w, existing, p, optimum)

        lp, mask = root(cost, w, existing, p, best)
        tree = branch_and_cut(lp, mask, optimum, p, Deadline(None))
        assert tree.finished and tree.improved == 0
        check_tree(tree, cost, w, existing, p, optimum)


def test_tree_with_no_time_returns_its_start_and_the_root_bound():
    """A deadline already spent: no node, the start plan, the root's bound, not finished."""
    cost, w, existing, p = next(iter(cases()))
    optimum, _ = best_plan(cost, w, existing, p)
    worst, start = worst_plan(cost, w, existing, p)
    lp, mask = root(cost, w, existing, p, start)
    tree = branch_and_cut(lp, mask, worst, p, Deadline(0.0))
    assert not tree.finished and tree.nodes == 0
    assert (tree.open_mask == mask).all() and tree.cost == worst and tree.bound == pytest.approx(lp.bound)
    check_tree(tree, cost, w, existing, p, optimum)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n,seed,p", STREETS)
def test_pmedian_through_the_tree_equals_the_compact_milp(solver, n, seed, p):
    """Street instances whose LP is fractional: the plan comes from the tree (its note says so), equals the compact
    MILP's optimum, and the result says HiGHS solved the master whichever solver was asked."""
    cost, w = street_instance(n, seed)
    res = PMedian.from_cost_matrix(cost, p, weights=w).solve(solver)
    assert any(note.startswith("branch and bound over the Benders master") for note in res.reduction.notes)
    assert res.status == OPTIMAL and res.gap == 0.0 and res.solver == "highs"
    assert res.objective == pytest.approx(compact_milp(cost, w, p), rel=1e-7)
    assert res.objective == pytest.approx(_dense_median_cost(cost, w, list(res.chosen)), rel=1e-9)


def test_tree_stopped_at_short_limits_is_honest():
    """The largest street instance's tree under limits from 1 ms up: each a plan priced by the dense recomputation
    with a bound at most the MILP optimum, and the optimum whenever it finished."""
    n, seed, p = STREETS[0]
    cost, w = street_instance(n, seed)
    optimum = compact_milp(cost, w, p)
    existing = np.zeros(n, dtype=bool)
    outcomes = set()
    for limit in (0.001, 0.01, 0.03, 0.1, None):
        pairs = pairs_from_matrix(cost, None)[0]
        lp = pmedian_lp_bound(pairs, w, existing, p)
        mask = np.zeros(n, dtype=bool)
        mask[np.argsort(-lp.y)[:p]] = True  # the LP's p most-open sites
        upper = _dense_median_cost(cost, w, list(np.flatnonzero(mask)))
        tree = branch_and_cut(lp, mask, upper, p, Deadline(limit))
        check_tree(tree, cost, w, existing, p, optimum)
        outcomes.add(tree.finished)
    assert True in outcomes  # at least the unlimited run finished


@pytest.mark.parametrize("solver", SOLVERS)
def test_pmedian_short_limits_on_the_tree_path_are_honest(solver):
    """solve(time_limit_s=T) on a street instance for short T: within T + 5 s, 'optimal' only at the MILP optimum,
    otherwise 'feasible (time limit)' with a bound no higher than the optimum."""
    n, seed, p = STREETS[0]
    cost, w = street_instance(n, seed)
    optimum = compact_milp(cost, w, p)
    for limit in (0.05, 0.2, 1.0):
        t0 = time.perf_counter()
        res = PMedian.from_cost_matrix(cost, p, weights=w).solve(solver, time_limit_s=limit)
        assert time.perf_counter() - t0 <= limit + 5.0
        assert res.status in (OPTIMAL, FEASIBLE_TIME_LIMIT)
        assert res.objective == pytest.approx(_dense_median_cost(cost, w, list(res.chosen)), rel=1e-9)
        assert res.objective >= optimum * (1 - 1e-7)
        if res.gap is not None:  # the proved bound, objective × (1 − gap), is at most the optimum
            assert res.objective * (1 - res.gap) <= optimum * (1 + 1e-9)
        if res.status == OPTIMAL:
            assert res.objective == pytest.approx(optimum, rel=1e-7)


def test_model_size_is_the_model_solved():
    """n_variables / n_constraints name the model a solver solved. Proved by the Benders LP alone: the master, one y
    per candidate and one θ per demand group, one row for ≤ p, one per group no existing site reaches and one per cut
    (the count in the LP's note). Through the tree: y for the candidates left open and θ per group, far fewer than the
    compact MILP's variable per pair, which is not built. Capacitated (the compact MILP runs): its size by hand, and
    its variables laid out as `_layout` says."""
    import re

    from test_optimize import random_instance

    from siting.optimisation.median import _reduce_assign

    cost, w = random_instance(8, n=30, m=10)
    res = PMedian.from_cost_matrix(cost, 3, weights=w).solve("cbc")
    assert res.notes[0].startswith("the CBC MILP was not needed")
    groups = res.reduction.rows_after
    cuts = int(re.search(r"(\d+) cuts", next(n for n in res.reduction.notes if n.startswith("LP bound"))).group(1))
    assert (res.n_variables, res.n_constraints) == (10 + groups, 1 + groups + cuts)

    n, seed, p = STREETS[0]
    cost, w = street_instance(n, seed)
    res = PMedian.from_cost_matrix(cost, p, weights=w).solve("cbc")
    closed = int(re.search(r"(\d+) of \d+ candidates closed", " ".join(res.reduction.notes)).group(1))
    assert res.n_variables == n - closed + res.reduction.rows_after
    assert 1 + res.reduction.rows_after <= res.n_constraints < n * n

    cost, w = random_instance(1, n=25, m=8)
    model = PMedian.from_cost_matrix(cost, 2, weights=w, capacities=np.full(8, w.sum()))
    res = model.solve("highs")
    assert res.reduction.rows_after == 25  # no two rows alike: every one of the 25 × 8 pairs stays
    assert (res.n_variables, res.n_constraints) == (8 + 200, 25 + 200 + 1 + 8)  # y, x; assign, x ≤ y, ≤ p, capacity
    red = _reduce_assign(model.pairs, model.weights, model.existing)
    milp_model, y, x = model._build(red)
    layout_y, layout_x = PMedian._layout(red.pairs)
    assert (y == layout_y).all() and (x == layout_x).all() and milp_model.n_vars == 208


def test_master_restarted_from_an_older_basis_reaches_the_compact_lp():
    """A tree node starts from its parent's basis (`BendersMaster.basis` / `set_basis`), taken before later cuts
    were added: those rows join as basic, and the re-solve from it reaches the compact LP's optimum (scipy's
    linprog)."""
    from test_optimize_benders import compact_lp

    for cost, w, existing, p in cases():
        lp, _ = root(cost, w, existing, p, best_plan(cost, w, existing, p)[1])
        master = lp.master
        older = master.basis()
        rows_then = master.n_rows
        master.add_cuts(np.where(existing, 1.0, p / max(1, int((~existing).sum()))))  # rows the basis has not seen
        assert master.n_rows > rows_then
        master.set_basis(older)
        solved = master.solve(None)
        assert solved is not None and solved[0] == pytest.approx(compact_lp(cost, w, existing, p), rel=1e-9)
