"""Every model's optimum against brute force over all subsets (itertools.combinations) on small real and random
instances; unreachable rows; the true status of a time-limited CBC run; infeasibility; capacity that binds."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pulp
import pytest
from conftest import shared_file

from siting.errors import OptimizationError
from siting.optimisation.base import pairs_from_matrix
from siting.optimize import (
    LSCP,
    MCLP,
    CapacitatedCoverage,
    JointCoverage,
    KindDemand,
    PCenter,
    PMedian,
    cbc_bound_from_log,
    pulp_status_text,
)

SOLVERS = ["cbc", "highs"]


def sf_small():
    df = pd.read_csv(shared_file("spopt", "SF_network_distance_candidateStore_16_censusTract_205_new.csv"))
    cost = df.pivot_table(values="distance", index="DestinationName", columns="name")
    w = df.groupby("DestinationName")["demand"].first().loc[cost.index].to_numpy(dtype=float)
    rows = np.arange(0, 205, 7)[:30]
    return cost.to_numpy()[rows][:, :10], w[rows]


def random_instance(seed: int, n: int = 25, m: int = 8):
    rng = np.random.default_rng(seed)
    demand_xy, site_xy = rng.random((n, 2)) * 1000, rng.random((m, 2)) * 1000
    cost = np.linalg.norm(demand_xy[:, None] - site_xy[None], axis=2)
    return cost, rng.integers(1, 50, n).astype(float)


def instances():
    yield "sf", *sf_small(), 3000.0
    for seed in (1, 2, 3):
        yield f"rand{seed}", *random_instance(seed), 300.0


def subsets(m, k_max):
    for k in range(k_max + 1):
        yield from itertools.combinations(range(m), k)


@pytest.mark.parametrize("solver", SOLVERS)
def test_models_equal_brute_force(solver):
    for name, cost, w, r in instances():
        n, m = cost.shape
        within = cost <= r
        reachable = within.any(axis=1)
        # MCLP, p = 2 and 3
        for p in (2, 3):
            best = max(w[within[:, list(s)].any(axis=1)].sum() for s in subsets(m, p))
            with pytest.warns(UserWarning) if not reachable.all() else _nothing():
                res = MCLP.from_cost_matrix(cost, r, weights=w, p=p).solve(solver)
            assert res.objective == pytest.approx(best), (name, p)
            assert w[within[:, res.chosen].any(axis=1)].sum() == pytest.approx(best)
        # LSCP: fewest sites covering every reachable row
        best = min(len(s) for s in subsets(m, m) if within[reachable][:, list(s)].any(axis=1).all())
        with pytest.warns(UserWarning) if not reachable.all() else _nothing():
            res = LSCP.from_cost_matrix(cost, r).solve(solver)
        assert res.objective == best and len(res.chosen) == best, name
        # p-median and p-center, p = 2
        best_med = min((w * cost[:, list(s)].min(axis=1)).sum() for s in itertools.combinations(range(m), 2))
        best_cen = min(cost[:, list(s)].min(axis=1).max() for s in itertools.combinations(range(m), 2))
        assert PMedian.from_cost_matrix(cost, 2, weights=w).solve(solver).objective == pytest.approx(best_med, rel=1e-7)
        assert PCenter.from_cost_matrix(cost, 2).solve(solver).objective == pytest.approx(best_cen, rel=1e-9)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.filterwarnings("ignore:.*have no candidate site within reach")
def test_existing_sites_and_budget_brute_force():
    cost, w = random_instance(7, 30, 9)
    r = 300.0
    within = cost <= r
    existing = np.zeros(9, bool)
    existing[[0, 4]] = True
    site_cost = np.array([0, 3, 2, 4, 0, 1, 5, 2, 3], float)
    best = 0.0
    for s in subsets(9, 9):
        s = [j for j in s if not existing[j]]
        if site_cost[s].sum() <= 6:
            best = max(best, w[within[:, s + [0, 4]].any(axis=1)].sum())
    for solver in SOLVERS:
        res = MCLP.from_cost_matrix(cost, r, weights=w, budget=6, site_cost=site_cost, existing=existing).solve(solver)
        assert res.objective == pytest.approx(best)
        assert site_cost[res.chosen].sum() <= 6 and not existing[res.chosen].any()
        assert res.covered_before == pytest.approx(w[within[:, existing].any(axis=1)].sum())
        assert res.reduction.rows_covered_by_existing == int(within[:, existing].any(axis=1).sum())


def test_unreachable_rows_reported_and_excluded():
    cost = np.array([[100, 900], [800, 150], [5000, 6000], [120, 130]], float)
    with pytest.warns(UserWarning, match="1 demand row"):
        res = LSCP.from_cost_matrix(cost, 500, demand_ids=["a", "b", "far", "d"]).solve("cbc")
    assert list(res.unreachable) == [2] and res.unreachable_ids == ["far"]
    assert res.status == "optimal" and res.objective == 2


@pytest.mark.filterwarnings("ignore:.*have no candidate site within reach")
def test_reduction_is_reported_and_exact():
    cost, w = random_instance(11, 400, 40)
    res = MCLP.from_cost_matrix(cost, 250, weights=w, p=3).solve("highs")
    rep = res.reduction
    assert rep.rows_before == 400 and rep.rows_after < 400 and rep.columns_after <= 40
    # same optimum without reduction: solve the full MCLP directly with scipy's milp (HiGHS) as an independent model
    from scipy.optimize import LinearConstraint, milp

    within = (cost <= 250).astype(float)
    n, m = within.shape
    c = np.concatenate([np.zeros(m), -w])
    a_cov = np.hstack([-within, np.eye(n)])
    a_p = np.concatenate([np.ones(m), np.zeros(n)])[None]
    out = milp(c, constraints=[LinearConstraint(a_cov, -np.inf, 0), LinearConstraint(a_p, -np.inf, 3)],
               integrality=np.concatenate([np.ones(m), np.zeros(n)]), bounds=(0, 1))
    assert res.objective == pytest.approx(-out.fun)


def test_status_of_time_limited_cbc_run_is_true():
    # a weighted set cover CBC cannot close in 1 s (400 rows x 120 columns, 5 % density)
    rng = np.random.default_rng(0)
    within = rng.random((400, 120)) < 0.05
    cost = np.where(within, 1.0, np.inf)
    site_cost = rng.integers(1, 10, 120).astype(float)
    with pytest.warns(UserWarning):
        res = LSCP.from_cost_matrix(cost, 1.0, site_cost=site_cost).solve("cbc", time_limit_s=1)
    assert res.status in ("feasible (time limit)", "optimal")
    if res.status == "feasible (time limit)":
        assert res.gap is not None and res.gap > 0
    else:
        assert res.gap == 0.0
    # the mapping itself on pulp's real codes: CBC stopped on time with a solution is status 1, sol_status 2
    assert pulp_status_text(pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible) == "feasible (time limit)"
    assert pulp_status_text(pulp.LpStatusOptimal, pulp.LpSolutionOptimal) == "optimal"
    assert pulp_status_text(pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible) == "infeasible"
    assert pulp_status_text(pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound) == "not solved"


def test_cbc_log_bound():
    log = "Cbc0005I Partial search - best objective -44 (best possible -60.58281), took 886 iterations\nUpper bound: 60.583\n"
    assert cbc_bound_from_log(log, True, 44.0) == pytest.approx(60.58281)
    log = "Cbc0005I Partial search - best objective 145 (best possible 140.85889), took 3253 iterations\n"
    assert cbc_bound_from_log(log, False, 145.0) == pytest.approx(140.85889)
    assert cbc_bound_from_log("Result - Optimal solution found\n", False, 3.0) is None
    # searches completed under a gap tolerance (real CBC 2.10 logs of the sample project's capacitated run): with no
    # node the root bound after cuts is the bound (here it met the plan); with nodes, the plan within ratioGap
    root = ("ratioGap was changed from 0 to 0.0102058\nContinuous objective value is 5539.64 - 0.00 seconds\n"
            "Cbc0013I At root node, 1 cuts changed objective from -5539.6418 to -5422 in 2 passes\n"
            "Cbc0001I Search completed - best objective -5422, took 3 iterations and 0 nodes (0.03 seconds)\n"
            "Cuts at root node changed objective from -5539.64 to -5422\nResult - Optimal solution found\n")
    assert cbc_bound_from_log(root, True, 5422.0) == pytest.approx(5422.0)
    nodes = root.replace("and 0 nodes", "and 12 nodes").replace("to -5422\nResult", "to -5500\nResult")
    assert cbc_bound_from_log(nodes, True, 5422.0) == pytest.approx(5422.0 * 1.0102058)
    assert cbc_bound_from_log(nodes.replace("-5", "5"), False, 5422.0) == pytest.approx(5422.0 * (1 - 0.0102058))


@pytest.mark.parametrize("solver", SOLVERS)
def test_infeasible_raises_with_reason(solver):
    cost, w = random_instance(3)
    with pytest.raises(OptimizationError, match="p=0"):
        PMedian.from_cost_matrix(cost, 0, weights=w).solve(solver)
    cost = np.array([[100.0, 200.0], [150.0, 120.0]])
    with pytest.raises(OptimizationError, match="p=0"):
        CapacitatedCoverage.from_cost_matrix(cost, 500, np.array([100.0, 100.0]), max_size=600, objective="min_cost", p=0).solve(solver)


@pytest.mark.parametrize("solver", SOLVERS)
def test_capacity_standard_forces_second_site(solver):
    # every household is within reach of both candidates; 20 m² per 100 households; sites 350–600 m²
    cost = np.array([[100, 200], [150, 120], [300, 80.0]])
    households = np.array([2000, 1500, 1000.0])
    need_m2 = households * 20 / 100  # 400 + 300 + 200 = 900 m² > 600 m²: one site cannot hold it
    res = CapacitatedCoverage.from_cost_matrix(cost, 1000, need_m2, weights=households, max_size=600, min_size=350,
                                               fixed_cost=1.0, objective="min_cost").solve(solver)
    assert res.status == "optimal" and res.objective == 2 and sorted(res.chosen) == [0, 1]
    # hand check: floor area opened covers every household at the standard, and each site meets the minimum
    assert res.site_size.sum() >= households.sum() * 20 / 100 - 1e-6
    assert (res.site_size >= 350 - 1e-9).all() and (res.site_size <= 600 + 1e-9).all()
    served = res.assignment.groupby("demand_row")["amount"].sum()
    assert np.allclose(served.to_numpy(), need_m2, rtol=1e-6)
    per_site = res.assignment.groupby("candidate")["amount"].sum()
    sizes = dict(zip(res.chosen, res.site_size))
    assert all(per_site[j] <= sizes[j] * (1 + 1e-7) for j in per_site.index)  # CBC prints 8 digits
    # with p = 1 only 600 m² can be built: 600/900 of the households served
    res = CapacitatedCoverage.from_cost_matrix(cost, 1000, need_m2, weights=households, max_size=600, min_size=350, p=1).solve(solver)
    assert res.covered_after == pytest.approx(households.sum() * 600 / 900, rel=1e-6)


def brute_force_capacitated(cost, r, need, weight, cap, min_size, p, existing_cap, allowed=None):
    """Best served weight over all site subsets (those `allowed` says yes to): a transportation LP per subset (scipy
    linprog)."""
    from scipy.optimize import linprog

    n, m = cost.shape
    best = 0.0
    for s in subsets(m, p):
        if allowed is not None and not allowed(s):
            continue
        capacity = existing_cap.copy()
        capacity[list(s)] += cap[list(s)]
        pairs = [(i, j) for i in range(n) for j in range(m) if cost[i, j] <= r and capacity[j] > 0]
        if not pairs:
            continue
        # variables: fraction of row i served by j; maximise Σ weight·x
        a_row = np.zeros((n, len(pairs)))
        a_col = np.zeros((m, len(pairs)))
        for k, (i, j) in enumerate(pairs):
            a_row[i, k] = 1
            a_col[j, k] = need[i]
        c = -np.array([weight[i] for i, _ in pairs])
        out = linprog(c, A_ub=np.vstack([a_row, a_col]), b_ub=np.concatenate([np.ones(n), capacity]), bounds=(0, 1))
        best = max(best, -out.fun)
    return best


@pytest.mark.parametrize("seed", [4, 5])
def test_capacitated_max_covered_brute_force(seed):
    cost, households = random_instance(seed, 15, 6)
    need = households * 20 / 100
    cap = np.full(6, 60.0)
    existing = np.zeros(6, bool)
    existing[0] = True
    existing_cap = np.where(existing, 30.0, 0.0)
    best = brute_force_capacitated(cost, 400, need, households, np.where(existing, 0, cap), 0, 2, existing_cap)
    for solver in SOLVERS:
        res = CapacitatedCoverage.from_cost_matrix(cost, 400, need, weights=households, max_size=cap, p=2,
                                                   existing=existing, existing_capacity=existing_cap).solve(solver)
        assert res.covered_after == pytest.approx(best, rel=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_joint_colocation_and_shared_floor_area(solver):
    # 2 candidates, both kinds wanted; candidate 0 has 500 m², candidate 1 has 400 m²; nursery seat = 8 m²
    cost = np.array([[100, 300], [200, 150.0]])
    pairs, _, _ = pairs_from_matrix(cost, 1000)
    elderly = KindDemand("elderly_day_care", pairs, demand=np.array([200.0, 150.0]), weight=np.array([1000.0, 750.0]),
                         min_size=100)
    nursery = KindDemand("nursery", pairs, demand=np.array([10.0, 8.0]), weight=np.array([2500.0, 2000.0]), m2_per_unit=8.0)
    res = JointCoverage([elderly, nursery], floor_area_m2=[500.0, 400.0], objective="min_cost",
                        colocation_reward=1.0).solve(solver)
    sites, demand = res.to_frames()
    # all demand is served; floor area per candidate respected (elderly m² + 8 m² per seat)
    assert np.allclose(demand["served_share"], 1.0, atol=1e-6)
    area = sites.assign(m2=np.where(sites["kind"] == "nursery", 8.0, 1.0) * sites["size"]).groupby("candidate")["m2"].sum()
    assert (area <= pd.Series([500.0, 400.0])[area.index] + 1e-6).all()
    # costs are zero, so the co-location reward decides: both kinds together at one or more candidates
    assert sites["colocated"].any() and res.objective <= -1.0 + 1e-9


@pytest.mark.parametrize("solver", SOLVERS)
def test_pcenter_and_pmedian_with_existing_sites_equal_brute_force(solver):
    """p-center (bisection over radii, LSCP steps) and p-median (pairs beyond the nearest existing site pruned) with
    facilities fixed open, p = 0..3 new sites, against every subset."""
    for seed in (21, 22):
        cost, w = random_instance(seed, 30, 9)
        existing = np.zeros(9, bool)
        existing[[2, 6]] = True
        new = [j for j in range(9) if not existing[j]]
        for p in range(4):
            opened = [list(s) + [2, 6] for k in range(p + 1) for s in itertools.combinations(new, k)]
            best_cen = min(cost[:, s].min(axis=1).max() for s in opened)
            best_med = min((w * cost[:, s].min(axis=1)).sum() for s in opened)
            res = PCenter.from_cost_matrix(cost, p, existing=existing).solve(solver)
            assert res.status == "optimal" and res.gap == 0.0
            assert res.objective == pytest.approx(best_cen, rel=1e-12), (seed, p)
            assert len(res.chosen) <= p and not existing[res.chosen].any()
            assert cost[:, list(res.chosen) + [2, 6]].min(axis=1).max() == pytest.approx(best_cen, rel=1e-12)
            res = PMedian.from_cost_matrix(cost, p, weights=w, existing=existing).solve(solver)
            assert res.objective == pytest.approx(best_med, rel=1e-7), (seed, p)


def test_pcenter_infeasible_and_unreachable():
    # rows 0 and 1 each reach only their own candidate: p = 1 cannot serve both, at any radius
    cost = np.array([[100.0, np.inf], [np.inf, 200.0], [150.0, 120.0], [np.inf, np.inf]])
    with pytest.warns(UserWarning, match="1 demand row"), pytest.raises(OptimizationError, match="p=1"):
        PCenter.from_cost_matrix(cost, 1).solve("highs")
    with pytest.warns(UserWarning, match="1 demand row"):
        res = PCenter.from_cost_matrix(cost, 2).solve("highs")
    assert res.objective == 200.0 and list(res.unreachable) == [3]  # hand: row 2 takes 120, rows 0/1 their own


@pytest.mark.parametrize("solver", SOLVERS)
def test_weighted_lscp_with_existing_equals_brute_force(solver):
    """The set-cover reduction (dominated rows, forced columns) keeps the least-cost cover."""
    for seed in (31, 32, 33):
        cost, _ = random_instance(seed, 40, 10)
        r = 330.0
        within = cost <= r
        existing = np.zeros(10, bool)
        existing[4] = True
        site_cost = np.random.default_rng(seed).integers(1, 6, 10).astype(float)
        need = within.any(axis=1) & ~within[:, 4]
        best = min(site_cost[list(s)].sum() for s in subsets(10, 10)
                   if 4 not in s and within[need][:, list(s)].any(axis=1).all())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = LSCP.from_cost_matrix(cost, r, site_cost=site_cost, existing=existing).solve(solver)
        assert res.status == "optimal" and res.objective == pytest.approx(best), seed
        assert within[need][:, res.chosen].any(axis=1).all()


def test_dominated_rows_hand_matrix():
    import scipy.sparse as sp

    from siting.optimisation.reduce import dominated_rows

    # row 1 = {0, 1} contains row 0 = {0}; row 2 = {1, 2} contains nothing smaller; row 3 = {0, 1, 2} contains rows 0-2
    inc = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [1, 1, 1]], float))
    assert list(dominated_rows(inc)) == [False, True, False, True]


@pytest.mark.filterwarnings("ignore:.*have no candidate site within reach")
def test_cbc_runs_without_deprecation_warnings():
    import warnings as w

    cost, weights = random_instance(1)
    with w.catch_warnings():
        w.simplefilter("error", DeprecationWarning)
        assert MCLP.from_cost_matrix(cost, 300.0, weights=weights, p=2).solve("cbc").status == "optimal"


@pytest.mark.parametrize("solver", SOLVERS)
def test_capacitated_assignment_has_walking_costs(solver):
    cost = np.array([[100, 200], [150, 120], [300, 80.0]])
    res = CapacitatedCoverage.from_cost_matrix(cost, 1000, np.array([400.0, 300, 200]), max_size=600, min_size=350,
                                               fixed_cost=1.0, objective="min_cost").solve(solver)
    a = res.assignment
    assert len(a) and a["cost"].notna().all()
    assert np.allclose(a["cost"], cost[a["demand_row"], a["candidate"]])


@pytest.mark.parametrize("solver", SOLVERS)
def test_joint_colocation_reward_changes_the_choice_brute_force(solver):
    """One new site per kind, capacities ample: a plan's value is the households each kind's site reaches plus the
    reward when both kinds share a site. The reward is set just above what co-locating costs in coverage, so the
    brute-force best plan changes from two separate sites to one shared site."""
    cost, hh = random_instance(40, 20, 5)  # best elderly site 2 (258 households), best nursery site 0 (316)
    r_e, r_n = 300.0, 380.0  # elderly and nursery walks differ
    pairs_e, _, _ = pairs_from_matrix(cost, r_e)
    pairs_n, _, _ = pairs_from_matrix(cost, r_n)
    cov_e = np.array([hh[cost[:, j] <= r_e].sum() for j in range(5)])
    cov_n = np.array([hh[cost[:, j] <= r_n].sum() for j in range(5)])

    def brute(reward):
        plans = {(a, b): cov_e[a] + cov_n[b] + reward * (a == b) for a in range(5) for b in range(5)}
        best = max(plans.values())
        return best, {k for k, v in plans.items() if v >= best - 1e-9}

    best0, argbest0 = brute(0.0)
    same0 = max(cov_e[j] + cov_n[j] for j in range(5))
    assert all(a != b for a, b in argbest0)  # without a reward, the best plan uses two different sites
    reward = best0 - same0 + 10.0
    best1, argbest1 = brute(reward)
    assert all(a == b for a, b in argbest1)  # with it, one shared site
    for rew, best, argbest in ((0.0, best0, argbest0), (reward, best1, argbest1)):
        kinds = [KindDemand("elderly_day_care", pairs_e, demand=hh * 0.2, weight=hh),
                 KindDemand("nursery", pairs_n, demand=hh * 0.05, weight=hh)]
        res = JointCoverage(kinds, objective="max_covered", p={"elderly_day_care": 1, "nursery": 1},
                            colocation_reward=rew).solve(solver)
        sites = res.sites.set_index("kind")["candidate"]
        assert (int(sites["elderly_day_care"]), int(sites["nursery"])) in argbest
        assert res.objective == pytest.approx(best, rel=1e-7)


@pytest.mark.parametrize("solver", SOLVERS)
def test_expansion_of_existing_facility_priced_per_m2(solver):
    """Hand calculation. Demand 900 m², all within reach of existing E (400 m²) and candidate C (350–600 m², fixed cost
    100,000). Serving everything needs 500 m² more: expanding E by 500 m² costs 500 × price; opening C costs 100,000.
    Price 150/m² → expand (75,000); price 250/m² → open C (100,000 < 125,000)."""
    cost = np.array([[100.0, 200.0], [150.0, 120.0], [300.0, 80.0]])
    need = np.array([400.0, 300.0, 200.0])
    for price, expect_open, expect_cost in ((150.0, False, 75_000.0), (250.0, True, 100_000.0)):
        res = CapacitatedCoverage.from_cost_matrix(
            cost, 1000, need, objective="min_cost", existing=[True, False], existing_capacity=[400.0, 0.0],
            expansion_max=[1000.0, 0.0], expansion_unit_cost=[price, 0.0], max_size=[0.0, 600.0], min_size=350.0,
            fixed_cost=[0.0, 100_000.0]).solve(solver)
        assert res.status == "optimal" and res.objective == pytest.approx(expect_cost, rel=1e-7)
        assert (list(res.chosen) == [1]) == expect_open
        expansion = res.sites.loc[res.sites["is_existing"], "expansion"].iloc[0]
        assert expansion == pytest.approx(0.0 if expect_open else 500.0, abs=1e-4)


def _dense_median_cost(cost, w, open_cols):
    """Σ weight × cost to the nearest open column, by brute force over a dense matrix (inf where not allowed)."""
    return float((w * cost[:, open_cols].min(axis=1)).sum())


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_interchange_plan_is_a_swap_local_optimum_by_brute_force(seed):
    """The p-median warm start: keeps the existing sites, opens exactly p new ones, its cost is the dense
    recomputation, and no single swap of a new site for a closed candidate (all enumerated) lowers that cost."""
    from siting.optimisation.median import _interchange

    cost, w = random_instance(seed, n=40, m=12)
    cost[cost > 450] = np.inf  # walking limit: not every pair allowed
    cost[:, 0] = np.where(np.isfinite(cost[:, 0]), cost[:, 0], 2000.0)  # an existing site every row may fall back on
    existing = np.zeros(12, dtype=bool)
    existing[0] = True
    pairs, _, _ = pairs_from_matrix(cost, None)
    p = 3
    mask, total, _ = _interchange(pairs, w, existing, p, existing.copy(), max_seconds=60)
    assert mask[0] and (mask & ~existing).sum() == p
    assert total == pytest.approx(_dense_median_cost(cost, w, np.flatnonzero(mask)))
    for j in np.flatnonzero(~mask):
        for k in np.flatnonzero(mask & ~existing):
            swapped = mask.copy()
            swapped[j], swapped[k] = True, False
            assert _dense_median_cost(cost, w, np.flatnonzero(swapped)) >= total - 1e-6 * total
    best = min(_dense_median_cost(cost, w, [0, *s]) for s in itertools.combinations(range(1, 12), p))
    assert total >= best - 1e-6  # a heuristic: never below the optimum


@pytest.mark.parametrize("solver", SOLVERS)
def test_pmedian_warm_start_reported_and_optimum_kept(solver):
    """The warm start's cost (in the reduction notes) is a real plan's cost, at least the brute-force optimum; the
    solver's answer equals that optimum."""
    cost, w = random_instance(8, n=30, m=10)
    best = min(_dense_median_cost(cost, w, list(s)) for s in itertools.combinations(range(10), 3))
    res = PMedian.from_cost_matrix(cost, 3, weights=w).solve(solver)
    note = next(n for n in res.reduction.notes if n.startswith("warm start"))
    start_cost = float(note.split()[2])
    assert start_cost >= best - 1e-6 * best
    assert res.objective == pytest.approx(best, rel=1e-7) and res.status == "optimal"


def test_assignment_models_count_covered_within_the_walk_only():
    """p-median and p-center assign every row however far; `cover_within` makes "covered" mean within the walk:
    checked against the dense nearest-open cost."""
    cost, w = random_instance(9, n=30, m=8)
    for cls in (PMedian, PCenter):
        res = cls.from_cost_matrix(cost, 2, weights=w, cover_within=300.0).solve("highs")
        open_cols = np.r_[res.chosen, res.existing].astype(int)
        nearest = cost[:, open_cols].min(axis=1)
        assert res.covered_after == pytest.approx(w[nearest <= 300.0].sum())
        assert res.covered_after < w.sum()  # some rows are assigned beyond the walk
        assert (res.demand["covered_after"].to_numpy() == (nearest <= 300.0)).all()
        plain = cls.from_cost_matrix(cost, 2, weights=w).solve("highs")
        assert plain.covered_after == pytest.approx(w.sum())
