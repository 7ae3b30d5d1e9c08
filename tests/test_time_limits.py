"""Short time limits end to end (issue 20): solve(time_limit_s=T) returns within T + max(5 s, 10 %) with its best plan
and true status, never an exception, when a phase runs out of time: the Benders bound delivering nothing, pulp's
model build projected past the limit (CBC not run), HiGHS asked to stop at the hard end. Phases are starved by
injecting their budget (a share, or the build's projection factor), so the instances stay small. Every plan is
checked against its cost recomputed from the dense matrix, and every 'optimal' against brute force."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from test_optimize import SOLVERS, _dense_median_cost, random_instance

from siting.optimisation import deadline as deadline_module
from siting.optimisation import solvers
from siting.optimisation.solvers import FEASIBLE_TIME_LIMIT, OPTIMAL
from siting.optimize import LSCP, MCLP, PMedian

HONEST = (OPTIMAL, FEASIBLE_TIME_LIMIT)


def within_contract(seconds: float, limit: float) -> bool:
    return seconds <= limit + max(5.0, 0.1 * limit)


def brute_median(cost: np.ndarray, w: np.ndarray, p: int) -> float:
    return min(_dense_median_cost(cost, w, list(s)) for s in itertools.combinations(range(cost.shape[1]), p))


def check_median_plan(res, cost: np.ndarray, w: np.ndarray, p: int, optimum: float) -> None:
    """The plan opens ≤ p sites, its objective is the dense recomputation, and it is the optimum when it says so."""
    assert res.status in HONEST
    assert 1 <= len(res.chosen) <= p
    assert res.objective == pytest.approx(_dense_median_cost(cost, w, list(res.chosen)), rel=1e-9)
    assert res.objective >= optimum * (1 - 1e-9)
    if res.status == OPTIMAL:
        assert res.objective == pytest.approx(optimum, rel=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
def test_pmedian_with_no_benders_bound_in_time(solver, monkeypatch):
    """The Benders bound gets no time (its share injected as 0): no bound at all, so nothing is closed by reduced
    costs (this raised a ValueError in the model build), and the MILP still runs from the warm start."""
    monkeypatch.setattr(PMedian, "bound_share", 0.0)
    cost, w = random_instance(11, n=30, m=12)
    t0 = time.perf_counter()
    res = PMedian.from_cost_matrix(cost, 4, weights=w).solve(solver, time_limit_s=2.0)
    assert within_contract(time.perf_counter() - t0, 2.0)
    assert any("no LP bound" in note for note in res.reduction.notes)
    check_median_plan(res, cost, w, 4, brute_median(cost, w, 4))


def test_cbc_not_run_when_pulp_cannot_build_in_time(monkeypatch):
    """pulp's build projected far past the limit (its MPS-writing factor injected as 10⁹): CBC is not started; the
    p-median returns its warm start as 'feasible (time limit)' and MCLP the plan with no new site, both with a note,
    within the limit."""
    monkeypatch.setattr(solvers, "PULP_WRITE_FACTOR", 1e9)
    monkeypatch.setattr(PMedian, "bound_share", 0.0)  # no bound, so the MILP is needed
    cost, w = random_instance(12, n=30, m=12)
    t0 = time.perf_counter()
    res = PMedian.from_cost_matrix(cost, 3, weights=w).solve("cbc", time_limit_s=1.0)
    assert within_contract(time.perf_counter() - t0, 1.0)
    assert res.status == FEASIBLE_TIME_LIMIT
    assert any("CBC was not run" in note for note in res.notes)
    check_median_plan(res, cost, w, 3, brute_median(cost, w, 3))

    t0 = time.perf_counter()
    res = MCLP.from_cost_matrix(cost, 300.0, p=3, weights=w).solve("cbc", time_limit_s=1.0)
    assert within_contract(time.perf_counter() - t0, 1.0)
    assert res.status == FEASIBLE_TIME_LIMIT and len(res.chosen) == 0
    assert res.objective == pytest.approx(0.0)
    assert res.gap is None or res.gap >= 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_no_overrun_allowance(solver, monkeypatch):
    """With no overrun allowed at all (injected), every solver is stopped at once when it has not finished: whatever
    it managed, the result is a plan checked against the dense recomputation with an honest status, or an optimum
    equal to brute force; LSCP's cover is a cover."""
    monkeypatch.setattr(deadline_module, "OVERRUN_MIN_S", 0.0)
    monkeypatch.setattr(deadline_module, "OVERRUN_FRACTION", 0.0)
    monkeypatch.setattr(PMedian, "bound_share", 0.0)
    cost, w = random_instance(13, n=30, m=12)
    res = PMedian.from_cost_matrix(cost, 3, weights=w).solve(solver, time_limit_s=0.05)
    check_median_plan(res, cost, w, 3, brute_median(cost, w, 3))

    res = LSCP.from_cost_matrix(cost, 450.0).solve(solver, time_limit_s=0.05)
    assert res.status in HONEST
    reachable = (cost <= 450.0).any(axis=1)
    assert (cost[reachable][:, res.chosen] <= 450.0).any(axis=1).all()


@pytest.mark.slow
@pytest.mark.parametrize("solver", SOLVERS)
def test_large_pmedian_short_limit_wall_time(solver, monkeypatch):
    """A 250 × 250 p-median (62,500 pairs; pulp needs seconds to build and write it, HiGHS's MIP presolve does not
    check its limit) with a 1 s limit and no time for the bound: the call returns within 1 + 5 s with a plan whose
    objective is the dense recomputation."""
    monkeypatch.setattr(PMedian, "bound_share", 0.0)
    rng = np.random.default_rng(14)
    xy = rng.random((250, 2)) * 5000
    cost = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    w = rng.integers(1, 50, 250).astype(float)
    t0 = time.perf_counter()
    res = PMedian.from_cost_matrix(cost, 8, weights=w).solve(solver, time_limit_s=1.0)
    assert within_contract(time.perf_counter() - t0, 1.0)
    assert res.status in HONEST and 1 <= len(res.chosen) <= 8
    assert res.objective == pytest.approx(_dense_median_cost(cost, w, list(res.chosen)), rel=1e-9)
