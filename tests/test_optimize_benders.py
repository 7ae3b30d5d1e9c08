"""The p-median LP bound by Benders cuts (`siting.optimisation.benders`) against the compact LP relaxation solved by scipy's
linprog on a dense formulation, and the candidates it closes against brute force over every plan; p-median runs whose
LP is fractional (so the MILP runs on the candidates left open) against brute force."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from test_optimize import SOLVERS, _dense_median_cost, _nothing, random_instance

from siting.optimisation.base import pairs_from_matrix
from siting.optimisation.benders import pmedian_lp_bound
from siting.optimize import PMedian

FRACTIONAL = [(51, 25, 10, 3), (62, 30, 12, 4), (68, 30, 12, 4), (153, 25, 10, 3)]
"""(seed, rows, candidates, p) of `random_instance` whose p-median LP relaxation is fractional (found by search)."""


def compact_lp(cost: np.ndarray, w: np.ndarray, existing: np.ndarray, p: int) -> float:
    """The textbook p-median LP (x per allowed pair, y per candidate) by linprog: min Σ wᵢ dᵢⱼ xᵢⱼ, Σⱼ xᵢⱼ = 1 for every
    row with an allowed pair, xᵢⱼ ≤ yⱼ, Σ_new yⱼ ≤ p, existing y = 1."""
    n, m = cost.shape
    r, c = np.nonzero(np.isfinite(cost))
    keep = np.isin(r, np.flatnonzero(np.isfinite(cost).any(axis=1)))
    r, c = r[keep], c[keep]
    k = r.size
    objective = np.r_[w[r] * cost[r, c], np.zeros(m)]
    rows = np.unique(r)
    a_eq = sp.csr_matrix((np.ones(k), (np.searchsorted(rows, r), np.arange(k))), shape=(rows.size, k + m))
    a_link = sp.csr_matrix((np.r_[np.ones(k), -np.ones(k)], (np.r_[np.arange(k), np.arange(k)], np.r_[np.arange(k), k + c])),
                           shape=(k, k + m))
    a_p = sp.csr_matrix((np.ones(int((~existing).sum())), (np.zeros(int((~existing).sum()), int), k + np.flatnonzero(~existing))),
                        shape=(1, k + m))
    bounds = [(0, 1)] * k + [(1, 1) if e else (0, 1) for e in existing]
    res = linprog(objective, A_ub=sp.vstack([a_link, a_p]), b_ub=np.r_[np.zeros(k), p], A_eq=a_eq, b_eq=np.ones(rows.size),
                  bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.fun)


def cases():
    for seed, n, m, p in FRACTIONAL:
        cost, w = random_instance(seed, n=n, m=m)
        yield cost, w, np.zeros(m, dtype=bool), p
    for seed in (3, 4):  # sparse pairs (a walking limit) and two existing sites that every plan keeps
        cost, w = random_instance(seed, n=30, m=10)
        cost = np.where(cost <= 450.0, cost, np.inf)
        existing = np.zeros(10, dtype=bool)
        existing[[0, 1]] = True
        yield cost, w, existing, 2


def best_plan(cost, w, existing, p):
    """Brute force: the cheapest plan over every set of ≤ p new sites (rows no site reaches left out)."""
    reach = np.isfinite(cost).any(axis=1)
    cost, w = cost[reach], w[reach]
    new, old = np.flatnonzero(~existing), list(np.flatnonzero(existing))
    plans = [old + list(s) for k in range(p + 1) for s in itertools.combinations(new, k) if old or s]
    return min((_dense_median_cost(cost, w, plan), plan) for plan in plans)


def test_benders_bound_equals_the_compact_lp():
    for cost, w, existing, p in cases():
        pairs = pairs_from_matrix(cost, None)[0]
        for start in (None, best_plan(cost, w, existing, p)[1]):
            mask = None
            if start is not None:
                mask = np.zeros(cost.shape[1], dtype=bool)
                mask[start] = True
            lp = pmedian_lp_bound(pairs, w, existing, p, start_open=mask)
            assert lp.converged
            assert lp.bound == pytest.approx(compact_lp(cost, w, existing, p), rel=1e-9)
            assert (lp.y[existing] == 1.0).all() and lp.y[~existing].sum() <= p + 1e-9


def test_fractional_cases_have_an_lp_gap():
    """The FRACTIONAL instances still need the MILP: their LP bound is below the brute-force optimum."""
    for cost, w, existing, p in list(cases())[: len(FRACTIONAL)]:
        assert compact_lp(cost, w, existing, p) < best_plan(cost, w, existing, p)[0] * (1 - 1e-6)


def test_closed_candidates_are_in_no_plan_as_cheap_as_the_upper_bound():
    """Reduced-cost fixing: every candidate `closed(upper)` marks is, by brute force, only in plans dearer than
    `upper`; checked at the optimum and at a 2 % worse upper bound."""
    checked = 0
    for cost, w, existing, p in cases():
        pairs = pairs_from_matrix(cost, None)[0]
        lp = pmedian_lp_bound(pairs, w, existing, p)
        optimum = best_plan(cost, w, existing, p)[0]
        new = np.flatnonzero(~existing)
        for upper in (optimum, 1.02 * optimum):
            for j in np.flatnonzero(lp.closed(upper)):
                others = [k for k in new if k != j]
                cheapest_with_j = min(
                    _dense_median_cost(cost, w, list(np.flatnonzero(existing)) + [j, *s])
                    for k in range(p) for s in itertools.combinations(others, k))
                assert cheapest_with_j > upper
                checked += 1
    assert checked > 10


@pytest.mark.parametrize("solver", SOLVERS)
def test_pmedian_with_a_fractional_lp_equals_brute_force(solver):
    """Where the LP bound cannot prove the start, the MILP runs on the candidates the bound leaves open: same optimum
    as brute force, proved (gap 0), and the bound's work is reported."""
    for cost, w, existing, p in cases():
        best, _ = best_plan(cost, w, existing, p)
        with pytest.warns(UserWarning) if not np.isfinite(cost).any(axis=1).all() else _nothing():
            res = PMedian.from_cost_matrix(cost, p, weights=w, existing=existing).solve(solver)
        assert res.objective == pytest.approx(best, rel=1e-9)
        assert res.status == "optimal" and res.gap == 0.0
        assert any(n.startswith("LP bound") for n in res.reduction.notes)


def test_pmedian_proved_by_the_bound_alone_says_so():
    """An instance whose LP is integral: the plan is proved without a MILP, and the result says which solver ran."""
    cost, w = random_instance(8, n=30, m=10)
    pairs = pairs_from_matrix(cost, None)[0]
    assert pmedian_lp_bound(pairs, w, np.zeros(10, dtype=bool), 3).bound == pytest.approx(best_plan(cost, w, np.zeros(10, bool), 3)[0])
    res = PMedian.from_cost_matrix(cost, 3, weights=w).solve("cbc")
    assert res.status == "optimal" and res.solver == "highs"
    assert res.notes[0].startswith("the CBC MILP was not needed: the LP ")
    assert res.notes[0].endswith("(HiGHS solved the Benders LP)")



def test_lp_rounded_start_is_a_plan_priced_by_hand():
    """The second warm start (the LP optimum's p most-open sites, then swaps): at most p new sites besides the
    existing ones, its cost the dense recomputation, never below the brute-force optimum; on the FRACTIONAL cases
    it is at least as good as the cover-based start (and the result stays the brute-force optimum, above)."""
    from siting.optimisation.deadline import Deadline
    from siting.optimisation.median import _reduce_assign

    for cost, w, existing, p in cases():
        best, _ = best_plan(cost, w, existing, p)
        model = PMedian.from_cost_matrix(cost, p, weights=w, existing=existing)
        red = _reduce_assign(model.pairs, model.weights, model.existing, nearest_only=True)
        lp = pmedian_lp_bound(red.pairs, red.weight, model.existing, p)
        mask, total = model._lp_rounded(red, lp, None, None, Deadline(None))
        if mask is None:  # the LP's sites left a row unreached
            continue
        assert mask[existing].all() and (mask & ~existing).sum() <= p
        assert total == pytest.approx(_dense_median_cost(cost, w, list(np.flatnonzero(mask))), rel=1e-9)
        assert total >= best * (1 - 1e-9)


def test_plan_cost_equals_the_dense_recomputation_for_every_plan():
    """One way to price a plan (`NearestFirst.plan_cost`, which the Benders master, its branch and bound and PMedian
    all call): a hand-worked pair of rows, then every plan of ≤ p new sites on every case against Σ weight × the dense
    matrix's row minimum over the open columns (inf where a row is left without an open site), before and after the
    master drops a candidate (`restrict`)."""
    from siting.optimisation.benders import BendersMaster
    from siting.optimisation.reduce import NearestFirst

    hand = NearestFirst(pairs_from_matrix(np.array([[1.0, 5.0, 2.0], [4.0, np.inf, 3.0]]), None)[0])
    assert hand.plan_cost(np.array([2.0, 3.0]), np.array([False, True, True])) == 2 * 2.0 + 3 * 3.0
    assert hand.plan_cost(np.array([2.0, 3.0]), np.array([True, False, True])) == 2 * 1.0 + 3 * 3.0
    assert hand.plan_cost(np.array([2.0, 3.0]), np.array([False, True, False])) == np.inf  # row 1 has no open site

    checked = unserved = 0
    for cost, w, existing, p in cases():
        pairs = pairs_from_matrix(cost, None)[0]
        reach = np.isfinite(cost).any(axis=1)
        master = BendersMaster(pairs, w, existing, p)
        new, old = np.flatnonzero(~existing), list(np.flatnonzero(existing))
        plans = [old + list(s) for k in range(p + 1) for s in itertools.combinations(new, k) if old or s]
        dropped = new[0]  # drop a candidate when every row keeps another, then price the plans without it again
        if (np.isfinite(np.delete(cost, dropped, axis=1)) | ~reach[:, None]).any(axis=1).all():
            for round_ in range(2):
                for plan in plans if round_ == 0 else [q for q in plans if dropped not in q]:
                    mask = np.zeros(cost.shape[1], dtype=bool)
                    mask[plan] = True
                    expected = _dense_median_cost(cost[reach], w[reach], plan)
                    assert master.plan_cost(mask) == pytest.approx(expected, rel=1e-12)
                    checked += 1
                    unserved += not np.isfinite(expected)
                allowed = np.ones(cost.shape[1], dtype=bool)
                allowed[dropped] = False
                master.restrict(allowed)
    assert checked > 500 and unserved > 0
