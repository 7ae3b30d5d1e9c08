"""The solver layer against values found another way: warm-started CBC and HiGHS against brute force over every subset
of small set covers and maximal covers; the wall-clock guard on a real p-median whose root LP CBC cannot leave in
time (checked against the clock and against cost @ start by hand); the feasibility check on hand-made plans."""
from __future__ import annotations

import itertools
import re
import tempfile
import time

import numpy as np
import pulp
import pytest

import siting.optimisation.solvers as solvers
from siting.errors import InputError
from siting.optimisation.solvers import (
    FEASIBLE_TIME_LIMIT,
    OPTIMAL,
    STOPPED_WALL_CLOCK,
    Milp,
    Solution,
    cbc_command,
    plan_violation,
    solve_milp,
)

SOLVERS = ["cbc", "highs"]


# ---------------------------------------------------------------------------------------------------- small instances
def set_cover(seed: int, n_rows: int = 18, n_cols: int = 12):
    """Minimise the cost of the columns so that every row is covered; returns the model, incidence and costs."""
    rng = np.random.default_rng(seed)
    cover = rng.random((n_rows, n_cols)) < 0.25
    cover[np.arange(n_rows), rng.integers(0, n_cols, n_rows)] = True
    cost = rng.integers(1, 20, n_cols).astype(float)
    model = Milp(maximise=False)
    y = model.add_vars(n_cols, lb=0, ub=1, cost=cost, integer=True)
    r, c = np.nonzero(cover)
    model.add_rows(n_rows, r, y[c], 1.0, lb=1.0)
    return model, cover, cost


def brute_force_cover(cover: np.ndarray, cost: np.ndarray) -> float:
    subsets = np.array(list(itertools.product([0, 1], repeat=cover.shape[1])), dtype=bool)
    feasible = (subsets.astype(int) @ cover.T.astype(int) > 0).all(axis=1)
    return float((subsets[feasible] @ cost).min())


def greedy_cover(cover: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Chvátal's greedy: the column with the least cost per newly covered row until every row is covered."""
    chosen = np.zeros(cover.shape[1])
    left = np.ones(cover.shape[0], dtype=bool)
    while left.any():
        gain = cover[left].sum(axis=0)
        ratio = np.where(gain > 0, cost / np.maximum(gain, 1), np.inf)
        j = int(np.argmin(ratio))
        chosen[j] = 1.0
        left &= ~cover[:, j]
    return chosen


def max_cover(seed: int, p: int = 3, n_rows: int = 18, n_cols: int = 10):
    """Maximise the weight of rows within reach of at most p open columns: y (columns, binary) then z (rows, 0..1)."""
    rng = np.random.default_rng(seed)
    cover = rng.random((n_rows, n_cols)) < 0.2
    weight = rng.integers(1, 30, n_rows).astype(float)
    model = Milp(maximise=True)
    y = model.add_vars(n_cols, lb=0, ub=1, integer=True)
    z = model.add_vars(n_rows, lb=0, ub=1, cost=weight)
    r, c = np.nonzero(cover)
    model.add_rows(n_rows, np.concatenate([np.arange(n_rows), r]), np.concatenate([z, y[c]]),
                   np.concatenate([np.ones(n_rows), -np.ones(r.size)]), ub=0.0)
    model.add_rows(1, np.zeros(n_cols, dtype=np.int64), y, 1.0, ub=float(p))
    return model, cover, weight


def brute_force_max_cover(cover: np.ndarray, weight: np.ndarray, p: int) -> float:
    return max(float(weight[cover[:, list(open_)].any(axis=1)].sum())
               for k in range(p + 1) for open_ in itertools.combinations(range(cover.shape[1]), k))


# ------------------------------------------------------------------------------------------------------ warm starts
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(4))
def test_warm_start_set_cover_reaches_brute_force_optimum(solver, seed):
    model, cover, cost = set_cover(seed)
    best = brute_force_cover(cover, cost)
    for start in (np.ones(cover.shape[1]), greedy_cover(cover, cost)):
        start_cost = float(cost @ start)
        sol = solve_milp(model, solver, 30, None, start=start)
        assert sol.status == OPTIMAL
        assert sol.objective <= start_cost + 1e-9
        assert sol.objective == pytest.approx(best)
        assert sol.bound == pytest.approx(best)  # the solver's proof, not the start's cost
        assert plan_violation(model.arrays(), sol.x) is None


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(3))
def test_warm_start_max_cover_reaches_brute_force_optimum(solver, seed):
    p = 3
    model, cover, weight = max_cover(seed, p)
    best = brute_force_max_cover(cover, weight, p)
    n_cols = cover.shape[1]
    start = np.zeros(model.n_vars)
    start[:p] = 1.0  # open the first p columns; z = the rows they reach
    start[n_cols:] = cover[:, :p].any(axis=1)
    start_value = float(weight @ start[n_cols:])
    sol = solve_milp(model, solver, 30, None, start=start)
    assert sol.status == OPTIMAL
    assert sol.objective >= start_value - 1e-9
    assert sol.objective == pytest.approx(best)


@pytest.mark.parametrize("solver", SOLVERS)
def test_warm_start_with_no_time_is_never_worse_and_bound_stays_the_solvers(solver):
    """A zero time limit: whatever the solver manages, the plan is no worse than the start, and the bound is the
    solver's (None, or a true lower bound — at most the brute-force optimum, which the start's cost is not). With
    no time (and no plan of their own: both say 'not solved' without the start) the solvers return the start
    themselves, so no note: the start reached them (CBC's mipstart file, HiGHS's setSolution)."""
    model, cover, cost = set_cover(7, n_rows=20, n_cols=14)
    best = brute_force_cover(cover, cost)
    start = np.ones(cover.shape[1])
    assert float(cost @ start) > best + 1
    sol = solve_milp(model, solver, 0.0, None, start=start)
    assert sol.status in (OPTIMAL, FEASIBLE_TIME_LIMIT)
    assert sol.objective <= float(cost @ start) + 1e-9
    assert sol.objective == pytest.approx(float(cost @ sol.x))
    assert plan_violation(model.arrays(), sol.x) is None
    assert sol.bound is None or sol.bound <= best + 1e-6
    assert sol.note is None


def test_start_kept_when_solver_plan_is_worse_or_missing():
    """The rule of `no_worse_than_start` on hand-written outcomes (a minimisation with the start at cost 10)."""
    start = np.array([1.0, 0.0])
    keep = solvers.no_worse_than_start
    better = Solution(FEASIBLE_TIME_LIMIT, np.array([0.0, 1.0]), 8.0, 5.0, "cbc", 1.0)
    assert keep(better, start, 10.0, maximise=False) is better
    worse = Solution(FEASIBLE_TIME_LIMIT, np.array([0.0, 1.0]), 12.0, 5.0, "highs", 1.0)
    out = keep(worse, start, 10.0, maximise=False)
    assert out.objective == 10.0 and out.bound == 5.0 and (out.x == start).all() and "worse than the warm start" in out.note
    none = Solution(STOPPED_WALL_CLOCK, None, None, None, "cbc", 9.0, "CBC ignored its 1 s time limit")
    out = keep(none, start, 10.0, maximise=False)
    assert out.status == FEASIBLE_TIME_LIMIT and out.objective == 10.0 and out.bound is None
    assert out.note.startswith("CBC ignored") and "warm start (objective 10) is returned" in out.note
    worse_max = Solution(OPTIMAL, np.array([0.0, 1.0]), 8.0, 8.0, "highs", 1.0)
    assert keep(worse_max, start, 10.0, maximise=True).objective == 10.0


def test_infeasible_or_misshapen_start_is_refused():
    model, cover, cost = set_cover(0)
    with pytest.raises(InputError, match="row"):
        solve_milp(model, "highs", 5, None, start=np.zeros(cover.shape[1]))
    with pytest.raises(InputError, match="shape"):
        solve_milp(model, "highs", 5, None, start=np.ones(cover.shape[1] + 1))
    with pytest.raises(InputError, match="fractional"):
        solve_milp(model, "cbc", 5, None, start=np.full(cover.shape[1], 0.5) + np.eye(cover.shape[1])[0] * 0.5)


def test_plan_violation_by_hand():
    """x0 + 2 x1 <= 4, x0 - x1 = 0, x0 integer in [0, 3], x1 in [0, 10]."""
    model = Milp(maximise=False)
    model.add_vars(1, lb=0, ub=3, integer=True)
    model.add_vars(1, lb=0, ub=10)
    model.add_rows(1, np.array([0, 0]), np.array([0, 1]), np.array([1.0, 2.0]), ub=4.0)
    model.add_rows(1, np.array([0, 0]), np.array([0, 1]), np.array([1.0, -1.0]), lb=0.0, ub=0.0)
    arrays = model.arrays()
    assert plan_violation(arrays, np.array([1.0, 1.0])) is None
    assert plan_violation(arrays, np.array([1.0 + 1e-9, 1.0])) is None  # within the tolerance
    assert "row 0" in plan_violation(arrays, np.array([2.0, 2.0]))
    assert "row 1" in plan_violation(arrays, np.array([1.0, 0.0]))
    assert "fractional" in plan_violation(arrays, np.array([0.5, 0.5]))
    assert "bounds" in plan_violation(arrays, np.array([-1.0, -1.0]))


# ---------------------------------------------------------------------------------------------- the wall-clock guard
def p_median(n: int, p: int, seed: int = 0):
    """The strong p-median on n random points (n² assignment variables x_ij <= y_j): CBC's root LP on n = 300 takes
    ~8 s here and is then followed by ~5 s more before CBC looks at its time limit; returns the model, a plan that
    opens the first p sites with each point at its nearest, and its cost computed by hand."""
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    model = Milp(maximise=False)
    y = model.add_vars(n, lb=0, ub=1, integer=True)
    x = model.add_vars(n * n, lb=0, ub=1, cost=dist.ravel())
    model.add_rows(n, np.repeat(np.arange(n), n), x, 1.0, lb=1.0, ub=1.0)
    k = np.arange(n * n)
    model.add_rows(n * n, np.concatenate([k, k]), np.concatenate([x, y[k % n]]),
                   np.concatenate([np.ones(n * n), -np.ones(n * n)]), ub=0.0)
    model.add_rows(1, np.zeros(n, dtype=np.int64), y, 1.0, lb=p, ub=p)
    start = np.zeros(model.n_vars)
    start[y[:p]] = 1.0
    nearest = np.argmin(dist[:, :p], axis=1)
    start[x[np.arange(n) * n + nearest]] = 1.0
    return model, start, float(dist[np.arange(n), nearest].sum())


def seconds_in_note(note: str) -> int:
    return int(re.search(r"at (\d+) s", note).group(1))


@pytest.mark.slow
def test_cbc_stuck_in_root_lp_is_stopped_at_the_wall_clock(monkeypatch, tmp_path):
    """A 1 s limit CBC ignores: the guard stops it at limit + grace (+ the interrupt wait), with the stop status and
    a note; with a warm start the start comes back, its objective equal to the cost summed by hand. No temporary
    file is left behind (the run's temporary directory is a fresh one)."""
    monkeypatch.setattr(solvers, "CBC_GRACE_MIN_S", 1.0)
    monkeypatch.setattr(solvers, "CBC_INTERRUPT_WAIT_S", 1.0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    limit, grace, wait = 1.0, 1.0, 1.0
    model, start, start_cost = p_median(300, 10)

    t0 = time.perf_counter()
    sol = solve_milp(model, "cbc", limit, None)
    call_s = time.perf_counter() - t0
    assert sol.status == STOPPED_WALL_CLOCK and sol.x is None and sol.objective is None
    assert "1 s time limit" in sol.note
    assert seconds_in_note(sol.note) <= limit + grace + wait + 1  # the CBC process, by the guard's clock
    assert call_s < limit + grace + wait + 15  # building and writing the 90 k-variable model takes ~5 s here

    sol = solve_milp(model, "cbc", limit, None, start=start)
    assert sol.status == FEASIBLE_TIME_LIMIT
    assert sol.objective == pytest.approx(start_cost, rel=1e-12)
    assert (sol.x == start).all()
    assert sol.bound is None or sol.bound <= start_cost
    assert "1 s time limit" in sol.note and "warm start" in sol.note
    assert seconds_in_note(sol.note) <= limit + grace + wait + 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cbc_interrupted_in_its_search_returns_its_best_plan(monkeypatch, tmp_path):
    """CBC told 100 s (pulp's `options` come after `-sec`, so CBC takes the later value) while the guard believes 1 s:
    the guard interrupts it in its heuristics or root cuts, where CBC's signal handler stops the search and writes
    its incumbent (at worst the all-ones warm start), which covers every row. The interrupt wait is long here so
    that a loaded machine cannot turn the interrupt into a kill."""
    monkeypatch.setattr(solvers, "CBC_GRACE_MIN_S", 2.0)
    monkeypatch.setattr(solvers, "CBC_INTERRUPT_WAIT_S", 10.0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rng = np.random.default_rng(0)
    cover = rng.random((400, 800)) < 0.02
    cover[np.arange(400), rng.integers(0, 800, 400)] = True
    prob = pulp.LpProblem("unicost_cover", pulp.LpMinimize)
    y = [prob.add_variable(f"y{j}", 0, 1, cat="Binary") for j in range(800)]
    prob += pulp.lpSum(y)
    for i in range(400):
        prob += pulp.lpSum(y[j] for j in np.flatnonzero(cover[i])) >= 1
    for v in y:
        v.setInitialValue(1)
    cmd = cbc_command(msg=False, timeLimit=1, options=["sec 100"], warmStart=True)
    prob.solve(cmd)
    assert cmd.stop == "interrupted"
    assert 1 + 2 <= cmd.run_time_s <= 1 + 2 + 10 + 1
    assert prob.sol_status == pulp.LpSolutionIntegerFeasible
    chosen = np.array([v.value() > 0.5 for v in y])
    assert cover[:, chosen].any(axis=1).all()
    assert chosen.sum() == pytest.approx(pulp.value(prob.objective)) and chosen.sum() < 800
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- run_lp
def test_run_lp_limit_counts_from_this_run_not_from_the_first():
    """HiGHS's time_limit is compared with the object's run time summed over every run(): a re-solve given `seconds`
    after earlier runs took longer than that must still run to its optimum (with the limit set plainly, HiGHS stops
    this re-solve at once with 'time limit'). The LP is a transportation problem whose used pairs then get dearer;
    both optima are checked against scipy's linprog."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    rng = np.random.default_rng(0)
    n, m, capacity = 300, 100, 3.5
    cost = rng.random(n * m) * 100
    model = Milp(maximise=False)
    x = model.add_vars(n * m, lb=0, ub=np.inf, cost=cost)
    model.add_rows(n, np.repeat(np.arange(n), m), x, 1.0, lb=1.0, ub=1.0)  # every demand served
    model.add_rows(m, np.tile(np.arange(m), n), x, 1.0, ub=capacity)  # capacity per site
    a_eq = sp.csr_matrix((np.ones(n * m), (np.repeat(np.arange(n), m), np.arange(n * m))))
    a_ub = sp.csr_matrix((np.ones(n * m), (np.tile(np.arange(m), n), np.arange(n * m))))

    def reference(c):
        return linprog(c, A_ub=a_ub, b_ub=np.full(m, capacity), A_eq=a_eq, b_eq=np.ones(n), method="highs").fun

    h = solvers.highs_model(model, relax=True)
    assert solvers.run_lp(h)
    assert h.getInfo().objective_function_value == pytest.approx(reference(cost), rel=1e-9)
    spent = h.getRunTime()
    used = np.flatnonzero(np.asarray(h.getSolution().col_value) > 0.5)[:50]
    cost[used] = 1000.0
    for j in used:
        h.changeColCost(int(j), 1000.0)
    assert solvers.run_lp(h, seconds=spent / 2)
    assert h.getInfo().objective_function_value == pytest.approx(reference(cost), rel=1e-9)


def test_with_bound_keeps_the_tighter_bound_and_proves_what_it_meets():
    """A bound proved outside the solver replaces a looser one (max: the smaller; min: the larger); a plan it meets
    becomes optimal, one it does not meet keeps the solver's status."""
    from siting.optimisation.solvers import (
        FEASIBLE_TIME_LIMIT,
        OPTIMAL,
        Solution,
        bound_proves,
        with_bound,
    )

    x = np.zeros(1)
    sol = Solution(FEASIBLE_TIME_LIMIT, x, 100.0, 110.0, "cbc", 1.0)
    assert with_bound(sol, 105.0, True).bound == 105.0 and with_bound(sol, 105.0, True).status == FEASIBLE_TIME_LIMIT
    assert with_bound(sol, 120.0, True).bound == 110.0
    met = with_bound(sol, 100.0, True)
    assert met.bound == 100.0 and met.status == OPTIMAL
    low = Solution(FEASIBLE_TIME_LIMIT, x, 100.0, 90.0, "highs", 1.0)
    assert with_bound(low, 95.0, False).bound == 95.0 and with_bound(low, 80.0, False).bound == 90.0
    assert with_bound(Solution(FEASIBLE_TIME_LIMIT, None, None, None, "cbc", 1.0), 5.0, True).bound is None
    assert bound_proves(100.0, 100.5, True, 0.01) and not bound_proves(100.0, 102.0, True, 0.01)
    assert bound_proves(100.0, 99.0, True) and not bound_proves(100.0, 99.0, False)
