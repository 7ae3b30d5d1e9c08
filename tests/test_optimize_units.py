"""Siting by unit (siting.optimisation.units): every 社区 without a station gets one and every 街道 without a ≥ 1,000 m²
centre gets one. The models' optima equal a brute force over every subset of new candidates whose unit constraints
are checked by hand in numpy from the distance matrix; the infeasible-unit message is checked word for word; the
centre per 街道 against a hand calculation."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from siting.errors import OptimizationError
from siting.optimisation.units import (
    UnitLevel,
    centre_needs,
    check_limits,
    combine,
    station_needs,
    unit_level,
    units_plan,
)
from siting.optimize import LSCP, MCLP, Pairs

LIMIT_M = 800.0
SHARE = 0.5
CENTRE_M2 = 1000.0


def _pairs(dist: np.ndarray) -> Pairs:
    r, c = np.nonzero(dist <= LIMIT_M)
    return Pairs.build(r, c, dist[r, c], *dist.shape)


def _instance(seed: int):
    rng = np.random.default_rng(seed)
    n_rows, n_existing, n_new = 12, 2, int(rng.integers(5, 8))
    n_cols = n_existing + n_new
    dist = rng.uniform(0, 1800, size=(n_rows, n_cols))
    households = rng.integers(10, 200, size=n_rows).astype(float)
    community_of_row = rng.integers(0, 4, size=n_rows)
    community_of_site = rng.integers(-1, 4, size=n_cols)
    existing = np.arange(n_cols) < n_existing
    capacity = np.where(existing, rng.choice([300.0, 1200.0], size=n_cols), rng.choice([400.0, 1000.0, 1500.0], size=n_cols))
    return dist, households, community_of_row, community_of_site, existing, capacity


def _needs(dist, households, community_of_row, community_of_site, existing, capacity):
    ids = np.array([f"C{i}" for i in range(4)], dtype=object)
    row_c = ids[community_of_row]
    site_c = [ids[u] if u >= 0 else None for u in community_of_site]
    row_s = [f"S{u // 2}" for u in community_of_row]
    site_s = [f"S{u // 2}" if u >= 0 else None for u in community_of_site]
    site_ids = [f"J{j}" for j in range(dist.shape[1])]
    communities = UnitLevel.from_labels("community", row_c, site_c)
    streets = UnitLevel.from_labels("street", row_s, site_s)
    parts = [station_needs(communities, _pairs(dist), households, existing, site_ids, SHARE),
             centre_needs(streets, households, capacity, existing, existing & (capacity >= CENTRE_M2), site_ids, CENTRE_M2)]
    return combine(parts), [communities, streets], site_ids


def _meets_units(open_mask, dist, households, community_of_row, community_of_site, existing, capacity) -> bool:
    """The plans' rules, by hand: every 社区 with households has a site inside it or one reaching ≥ SHARE of its
    households within the walk; every 街道 has a site inside it able to host a 1,000 m² centre (an existing one: a
    facility of ≥ 1,000 m²)."""
    within = dist <= LIMIT_M
    for u in np.unique(community_of_row):
        members = community_of_row == u
        share = (households[members, None] * within[members]).sum(axis=0) / households[members].sum()
        if not (open_mask & ((community_of_site == u) | (share >= SHARE))).any():
            return False
    for s in np.unique(community_of_row // 2):
        inside = (community_of_site >= 0) & (community_of_site // 2 == s)
        if not (open_mask & inside & (capacity >= CENTRE_M2)).any():
            return False
    return True


def _brute_force(dist, households, community_of_row, community_of_site, existing, capacity, p: int | None):
    """(best covered households with ≤ p new sites, fewest new sites covering every reachable household), each
    None when no subset meets the units."""
    within = dist <= LIMIT_M
    new = np.flatnonzero(~existing)
    reachable = within.any(axis=1)
    best, fewest = None, None
    for size in range(new.size + 1):
        for subset in itertools.combinations(new, size):
            open_mask = existing.copy()
            open_mask[list(subset)] = True
            if not _meets_units(open_mask, dist, households, community_of_row, community_of_site, existing, capacity):
                continue
            covered = within[:, open_mask].any(axis=1)
            if p is None or size <= p:
                value = households[covered].sum()
                best = value if best is None else max(best, value)
            if fewest is None and covered[reachable].all():
                fewest = size
    return best, fewest


@pytest.mark.parametrize("seed", range(30))
def test_mclp_and_lscp_with_unit_rows_equal_brute_force(seed):
    dist, households, c_row, c_site, existing, capacity = _instance(seed)
    p, solver = 1 + seed % 3, ("cbc", "highs")[seed % 2]
    best, fewest = _brute_force(dist, households, c_row, c_site, existing, capacity, p)
    needs, _, site_ids = _needs(dist, households, c_row, c_site, existing, capacity)
    n_cols = dist.shape[1]

    def mclp():
        needs.check("elderly_day_care")
        check_limits(needs, "elderly_day_care", n_cols, site_ids, p, None, np.ones(n_cols))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rows no candidate reaches are reported by a warning
            return MCLP.from_cost_matrix(dist, LIMIT_M, p=p, weights=households, existing=existing,
                                         required=needs.required(n_cols)).solve(solver)

    if best is None:
        with pytest.raises(OptimizationError, match="by unit is infeasible"):
            mclp()
    else:
        result = mclp()
        assert result.status == "optimal"
        assert result.covered_after == pytest.approx(best)
        open_mask = existing.copy()
        open_mask[result.chosen] = True
        assert _meets_units(open_mask, dist, households, c_row, c_site, existing, capacity)
    if fewest is not None and not (needs.status["reason"] != "").any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = LSCP.from_cost_matrix(dist, LIMIT_M, existing=existing, required=needs.required(n_cols)).solve(solver)
        assert result.objective == pytest.approx(fewest)
        open_mask = existing.copy()
        open_mask[result.chosen] = True
        assert _meets_units(open_mask, dist, households, c_row, c_site, existing, capacity)


def _units(community_of_row, community_of_site, street_of_row, street_of_site):
    return (UnitLevel.from_labels("community", community_of_row, community_of_site),
            UnitLevel.from_labels("street", street_of_row, street_of_site))


def test_the_infeasible_units_are_named_with_the_reason():
    """社区 C2 (R3 150 + R4 50 households): no site inside, N2 reaches only R4 (25 %); 街道 S1: the only candidate
    inside it, N1, has 600 m², less than a centre's 1,000 m²; the existing F1 (300 m²) is a station, not a centre."""
    far, near = 2000.0, 300.0
    #                  F1    N1    N2
    dist = np.array([[near, near, far],   # R1 C1
                     [near, far, far],    # R2 C1
                     [far, far, far],     # R3 C2
                     [far, far, near]])   # R4 C2
    households = np.array([100.0, 300.0, 150.0, 50.0])
    existing = np.array([True, False, False])
    communities, streets = _units(["C1", "C1", "C2", "C2"], ["C1", "C1", None], ["S1"] * 4, ["S1", "S1", None])
    ids = ["F1", "N1", "N2"]
    capacity = np.array([300.0, 600.0, 2000.0])
    needs = combine([station_needs(communities, _pairs(dist), households, existing, ids, SHARE),
                     centre_needs(streets, households, capacity, existing, capacity >= CENTRE_M2, ids, CENTRE_M2)])
    with pytest.raises(OptimizationError) as err:
        needs.check("elderly_day_care")
    assert str(err.value) == (
        "siting elderly_day_care by unit is infeasible: 社区 C2 (200 households) has no candidate site inside it and "
        "none reaching 50% of its households within the walk (the best, N2, reaches 25%); 街道 S1 has no candidate "
        "site inside it able to host a 1,000 m² centre (the largest, N1, 600 m²). Fix: add candidate sites in or near "
        "these units (or lower unit_reach_share)")
    assert needs.status.set_index("unit").loc["C1", "how_before"] == "F1 inside"


def test_p_too_small_for_the_units_is_named_before_the_solver():
    dist = np.array([[300.0, 2000.0], [2000.0, 300.0]])
    communities = UnitLevel.from_labels("community", ["C1", "C2"], ["C1", "C2"])
    needs = station_needs(communities, _pairs(dist), np.array([10.0, 20.0]), np.zeros(2, dtype=bool), ["A", "B"], None)
    with pytest.raises(OptimizationError) as err:
        check_limits(needs, "nursery", 2, ["A", "B"], 1, None, np.ones(2))
    assert str(err.value) == ("siting nursery by unit is infeasible: p = 1 cannot give the 2 unit(s) without service a "
                              "site; they need at least 2 new sites (e.g. A, B). Fix: raise p to 2 or more")


def test_the_street_centre_is_the_capable_site_reaching_most_households_subject_to_the_plan():
    """街道 S1 has no centre; A (1,200 m²) reaches R1+R2 = 300 households, B (1,500 m²) R2+R3 = 500, C (600 m²,
    too small for a centre) R3+R4 = 700. By hand: p = 1 → B (500; without the 街道 row C, 700); p = 2 → A + C
    (1,000, every household) beats B + C (R2..R4 = 900), so the centre is A although B alone reaches more."""
    far, near = 2000.0, 300.0
    #                   A     B     C
    dist = np.array([[near, far, far],     # R1 100
                     [near, near, far],    # R2 200
                     [far, near, near],    # R3 300
                     [far, far, near]])    # R4 400
    households = np.array([100.0, 200.0, 300.0, 400.0])
    existing = np.zeros(3, dtype=bool)
    ids = ["A", "B", "C"]
    capacity = np.array([1200.0, 1500.0, 600.0])
    streets = UnitLevel.from_labels("street", ["S1"] * 4, ["S1"] * 3)
    needs = centre_needs(streets, households, capacity, existing, np.zeros(3, dtype=bool), ids, CENTRE_M2)
    assert [list(r) for r in needs.rows] == [[0, 1]]
    plain = MCLP.from_cost_matrix(dist, LIMIT_M, p=1, weights=households).solve()
    assert plain.chosen_ids == [2] and plain.covered_after == 700
    for p, chosen, covered, centre in ((1, [1], 500.0, "B"), (2, [0, 2], 1000.0, "A")):
        result = MCLP.from_cost_matrix(dist, LIMIT_M, p=p, weights=households, required=needs.required(3)).solve()
        assert list(result.chosen) == chosen and result.covered_after == covered
        table = units_plan(needs, [streets], "elderly_day_care", _pairs(dist), households, existing, result.chosen, ids,
                           capacity >= CENTRE_M2)
        row = table.iloc[0]
        assert (row.unit, row.service_before, row.service_after, row.change, row.centre_site) == (
            "S1", False, True, "gains service", centre)
        assert row.new_sites == centre and row.households_within_walk_before == 0
        assert row.households_within_walk_after == covered


def test_level_names_of_the_units_contract():
    assert [unit_level(n) for n in ("社区", "community", "街道", "乡镇", "subdistrict", "township", "小区",
                                    "residential_compound", "行政村", "administrative_village", "区", "county")] == [
        "community", "community", "street", "street", "street", "street", "xiaoqu", "xiaoqu", "village", "village",
        None, None]


@pytest.mark.parametrize("seed", range(12))
def test_capacitated_with_unit_rows_equals_brute_force(seed):
    """CapacitatedCoverage with the units' rows (a 街道 centre opened at ≥ 1,000 m²): served households equal the
    best transportation LP over every subset of ≤ p new sites that meets the units by hand; the centre's size."""
    from test_optimize import brute_force_capacitated

    from siting.optimize import CapacitatedCoverage

    dist, households, c_row, c_site, existing, capacity = _instance(seed)
    p = 2 + seed % 2
    best, _ = _brute_force(dist, households, c_row, c_site, existing, capacity, p)
    needs, _, site_ids = _needs(dist, households, c_row, c_site, existing, capacity)
    n_cols = dist.shape[1]
    need_m2 = households * 20 / 100
    existing_cap = np.where(existing, capacity, 0.0)

    def solve():
        needs.check("elderly_day_care")
        check_limits(needs, "elderly_day_care", n_cols, site_ids, p, None, np.ones(n_cols))
        return CapacitatedCoverage.from_cost_matrix(
            dist, LIMIT_M, need_m2, weights=households, p=p, existing=existing, existing_capacity=existing_cap,
            min_size=350.0, max_size=np.where(existing, 0.0, capacity), required=needs.required(n_cols),
            required_size=needs.sizes(CENTRE_M2)).solve("highs")

    if best is None:
        with pytest.raises(OptimizationError, match="by unit is infeasible"):
            solve()
        return
    result = solve()

    def allowed(subset) -> bool:
        open_mask = existing.copy()
        open_mask[list(subset)] = True
        return not existing[list(subset)].any() and _meets_units(open_mask, dist, households, c_row, c_site, existing,
                                                                 capacity)

    expected = brute_force_capacitated(dist, LIMIT_M, need_m2, households, np.where(existing, 0.0, capacity), 350.0,
                                       p, existing_cap, allowed)
    assert result.status == "optimal" and result.covered_after == pytest.approx(expected, rel=1e-6)
    open_mask = existing.copy()
    open_mask[result.chosen] = True
    assert _meets_units(open_mask, dist, households, c_row, c_site, existing, capacity)
    size = dict(zip(result.chosen.tolist(), result.site_size.tolist()))
    for level_unit, sites in zip(needs.row_units, needs.rows):
        if level_unit[0] == "street":  # a 街道 without a centre gets one site of ≥ 1,000 m² inside it
            assert any(size.get(int(j), 0.0) >= CENTRE_M2 - 1e-6 for j in sites)


def test_budget_too_small_for_the_units_is_named_with_the_least_cost():
    """C1 is met by A (cost 5) or B (cost 2), C2 only by B: the cheapest is B alone, 2."""
    dist = np.array([[300.0, 300.0], [2000.0, 300.0]])
    communities = UnitLevel.from_labels("community", ["C1", "C2"], [None, None])
    needs = station_needs(communities, _pairs(dist), np.array([10.0, 20.0]), np.zeros(2, dtype=bool), ["A", "B"], 0.5)
    assert [list(r) for r in needs.rows] == [[0, 1], [1]]
    check_limits(needs, "nursery", 2, ["A", "B"], None, 2.0, np.array([5.0, 2.0]))  # enough
    with pytest.raises(OptimizationError) as err:
        check_limits(needs, "nursery", 2, ["A", "B"], None, 1.5, np.array([5.0, 2.0]))
    assert str(err.value) == ("siting nursery by unit is infeasible: budget = 1.5 cannot give the 2 unit(s) without "
                              "service a site; they need at least sites costing 2 (e.g. B). Fix: raise budget to 2 or "
                              "more")


def test_a_required_row_an_existing_site_meets_opens_nothing():
    """`required` rows are met by any open site: one naming an existing facility is met already (p = 0 is
    feasible); one naming only new sites forces one of them open even where it covers nobody new."""
    dist = np.array([[300.0, 300.0, 2000.0]])
    model = dict(p=1, existing=[True, False, False])
    met = MCLP.from_cost_matrix(dist, LIMIT_M, required=[[0, 1]], **model).solve()
    assert list(met.chosen) == []
    forced = MCLP.from_cost_matrix(dist, LIMIT_M, required=[[2]], **model).solve()
    assert list(forced.chosen) == [2] and forced.covered_after == 1
    with pytest.raises(OptimizationError, match="too small to cover every required row"):
        MCLP.from_cost_matrix(dist, LIMIT_M, required=[[1], [2]], **model).solve()


def test_capacitated_required_rows_met_by_an_existing_facility_or_refused_when_no_site_is_large_enough():
    from siting.optimize import CapacitatedCoverage

    dist = np.array([[300.0, 300.0, 300.0]])
    model = dict(weights=[100.0], p=1, existing=[True, False, False], existing_capacity=[50.0, 0, 0], min_size=10.0,
                 max_size=[0.0, 1200.0, 600.0])
    met = CapacitatedCoverage.from_cost_matrix(dist, LIMIT_M, [20.0], required=[[0, 2]], required_size=[1000.0],
                                               **model).solve("highs")
    assert list(met.chosen) == []  # the existing facility serves the 20 m² and meets the row
    centre = CapacitatedCoverage.from_cost_matrix(dist, LIMIT_M, [20.0], required=[[1, 2]], required_size=[1000.0],
                                                  **model).solve("highs")
    assert list(centre.chosen) == [1] and centre.site_size[0] == pytest.approx(1000.0)  # 600 m² cannot be a centre
    with pytest.raises(OptimizationError, match="has no new site able to meet it"):
        CapacitatedCoverage.from_cost_matrix(dist, LIMIT_M, [20.0], required=[[2]], required_size=[1000.0],
                                             **model).solve("highs")
