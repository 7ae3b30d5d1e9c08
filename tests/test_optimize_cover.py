"""The set-cover heuristic and its Lagrangian bound against brute force over all subsets and scipy's LP optimum on
small random instances; LSCP with no MILP where the bound meets the cover, and with the MILP where it cannot."""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from siting.optimisation.cover import cover_heuristic
from siting.optimize import LSCP


def random_cover(seed: int, unit: bool):
    rng = np.random.default_rng(seed)
    n_rows, n_cols = int(rng.integers(12, 19)), int(rng.integers(8, 13))
    a = rng.random((n_rows, n_cols)) < 0.3
    a[np.arange(n_rows), rng.integers(0, n_cols, n_rows)] = True  # every row has a column
    cost = np.ones(n_cols) if unit else rng.integers(1, 10, n_cols).astype(float)
    return a, cost


def brute_force(a: np.ndarray, cost: np.ndarray) -> float:
    n = a.shape[1]
    return min(cost[list(s)].sum() for k in range(1, n + 1) for s in itertools.combinations(range(n), k)
               if a[:, list(s)].any(axis=1).all())


def lp_optimum(a: np.ndarray, cost: np.ndarray) -> float:
    res = linprog(cost, A_ub=-a.astype(float), b_ub=-np.ones(a.shape[0]), bounds=(0, 1), method="highs")
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("unit", [True, False])
@pytest.mark.parametrize("seed", range(8))
def test_bound_and_cover_against_brute_force_and_lp(seed, unit):
    a, cost = random_cover(seed, unit)
    found = cover_heuristic(sp.csr_matrix(a), cost, max_seconds=2.0)
    best, lp = brute_force(a, cost), lp_optimum(a, cost)
    assert a[:, found.mask].any(axis=1).all(), "not a cover"
    assert found.cost == pytest.approx(cost[found.mask].sum())
    assert found.cost >= best - 1e-9
    assert 0.0 <= found.bound <= best + 1e-9
    # the Lagrangian dual is at most the LP optimum; integer costs: every cover costs an integer, so it rounds up
    assert found.bound <= math.ceil(lp - 1e-9) + 1e-9
    assert found.proves() == (found.bound >= found.cost - 1e-9)


def test_target_stops_at_a_cheap_enough_cover():
    a, cost = random_cover(3, True)
    best = brute_force(a, cost)
    found = cover_heuristic(sp.csr_matrix(a), cost, max_seconds=2.0, target=best + 2)
    assert found.cost <= best + 2 and a[:, found.mask].any(axis=1).all()


def test_deterministic():
    a, cost = random_cover(5, False)
    one = cover_heuristic(sp.csr_matrix(a), cost, max_seconds=2.0)
    two = cover_heuristic(sp.csr_matrix(a), cost, max_seconds=2.0)
    assert np.array_equal(one.mask, two.mask) and one.bound == two.bound


def reach_matrix(a: np.ndarray) -> np.ndarray:
    return np.where(a, 0.5, np.inf)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_lscp_skips_the_milp_when_the_bound_meets_the_cover(solver):
    """Rows: 3 consecutive columns of 9 around a circle (no row or column dominates another, none is forced).
    LP = 3 (each column 1/3) = the optimum (every third column): the bound meets the cover, no MILP runs."""
    n = 9
    a = np.zeros((n, n), dtype=bool)
    for i in range(n):
        a[i, [i, (i + 1) % n, (i + 2) % n]] = True
    res = LSCP.from_cost_matrix(reach_matrix(a), 1.0).solve(solver)
    assert res.status == "optimal" and res.objective == brute_force(a, np.ones(n)) == 3
    assert a[:, res.chosen].any(axis=1).all()
    assert res.solver == solver
    assert any("MILP was not needed" in note and "Lagrangian bound" in note for note in res.notes)
    assert any(note.startswith("set-cover heuristic: 3 sites") for note in res.reduction.notes)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_lscp_runs_the_milp_when_the_bound_falls_short(solver):
    """Rows: every 3 of 6 columns. LP = 2 (each column 1/3), the optimum 4 (a cover leaves at most 2 columns out):
    the bound cannot prove the heuristic's cover, the MILP runs from it and proves 4."""
    rows = list(itertools.combinations(range(6), 3))
    a = np.zeros((len(rows), 6), dtype=bool)
    for i, s in enumerate(rows):
        a[i, list(s)] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = LSCP.from_cost_matrix(reach_matrix(a), 1.0).solve(solver)
    assert res.status == "optimal" and res.objective == brute_force(a, np.ones(6)) == 4
    assert not any("MILP was not needed" in note for note in res.notes)
    assert res.solver == solver and res.gap == 0.0
