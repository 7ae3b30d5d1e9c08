"""The spopt San Francisco and school instances (values asserted by spopt's own tests, see tests/data/spopt/EXPECTED.md),
solved by our models and, where cheap, by spopt itself on the same matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pulp
import pytest
from conftest import shared_file

from siting.optimize import LSCP, MCLP, PCenter, PMedian, cbc_command

SOLVERS = ["cbc", "highs"]


@pytest.fixture(scope="module")
def sf():
    df = pd.read_csv(shared_file("spopt", "SF_network_distance_candidateStore_16_censusTract_205_new.csv"))
    cost = df.pivot_table(values="distance", index="DestinationName", columns="name")
    weights = df.groupby("DestinationName")["demand"].first().loc[cost.index].to_numpy(dtype=float)
    assert list(cost.columns[:3]) == ["Store_1", "Store_11", "Store_12"]  # lexicographic column order, as in spopt
    return cost, weights


@pytest.mark.parametrize("solver", SOLVERS)
def test_mclp_sf(sf, solver):
    cost, w = sf
    r = MCLP.from_cost_matrix(cost, 5000.0, weights=w, p=4).solve(solver)
    assert r.status == "optimal" and r.gap == 0.0
    assert set(r.chosen_ids) == {"Store_11", "Store_12", "Store_15", "Store_2"}
    _, demand = r.to_frames()
    uncovered = int((~demand["covered_after"]).sum())
    assert uncovered == 21
    assert 100 * (205 - uncovered) / 205 == pytest.approx(89.75609756097561)
    assert r.objective == pytest.approx(875247.0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_pmedian_sf(sf, solver):
    cost, w = sf
    r = PMedian.from_cost_matrix(cost, 4, weights=w).solve(solver)
    assert r.status == "optimal"
    assert r.objective / w.sum() == pytest.approx(2982.1268579890657, rel=1e-9)
    assert set(r.chosen_ids) == {"Store_11", "Store_12", "Store_15", "Store_2"}


@pytest.mark.parametrize("solver", SOLVERS)
def test_lscp_sf(sf, solver):
    cost, _ = sf
    r = LSCP.from_cost_matrix(cost, 5000.0).solve(solver)
    assert r.status == "optimal" and r.objective == 8 and len(r.chosen) == 8
    # every tract within 5 km of a chosen store (independent check on the dense matrix)
    assert (cost.to_numpy()[:, r.chosen].min(axis=1) <= 5000).all()


@pytest.mark.parametrize("solver", SOLVERS)
def test_pcenter_sf(sf, solver):
    cost, _ = sf
    r = PCenter.from_cost_matrix(cost, 4).solve(solver)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(7403.063810849859, rel=1e-12)
    assert cost.to_numpy()[:, r.chosen].min(axis=1).max() == pytest.approx(7403.063810849859, rel=1e-12)


def test_capacitated_pmedian_school():
    journeys = pd.read_csv(shared_file("spopt", "example_subject_student_school_journeys.csv"))
    schools = pd.read_csv(shared_file("spopt", "example_subject_schools.csv"))
    cost = journeys.pivot_table(columns="school", index="student", values="time", sort=False, fill_value=10000).astype(int)
    predefined = (schools["priority"] == 1).to_numpy()
    assert list(np.flatnonzero(predefined)) == [15, 23, 29, 31, 42, 44, 71]
    for solver in SOLVERS:
        # spopt's p=10 counts the 7 predefined schools; our p counts new sites only
        r = PMedian.from_cost_matrix(cost, 3, capacities=schools["Count"].to_numpy(), existing=predefined,
                                     fulfill_existing=True).solve(solver)
        assert r.status == "optimal"
        assert r.objective / 10 == pytest.approx(87.2)
        used = r.assignment.groupby("candidate")["amount"].sum()
        for j in np.flatnonzero(predefined):  # each predefined school filled exactly to capacity
            assert used.get(j, 0.0) == pytest.approx(schools["Count"].iloc[j])


@pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")  # spopt's own pulp calls
def test_same_answers_as_spopt(sf):
    spopt_locate = pytest.importorskip("spopt.locate")
    cost, w = sf
    matrix = cost.to_numpy()
    solver = cbc_command(msg=False)
    theirs = spopt_locate.MCLP.from_cost_matrix(matrix, w, 5000.0, p_facilities=4).solve(solver)
    ours = MCLP.from_cost_matrix(cost, 5000.0, weights=w, p=4).solve("cbc")
    assert theirs.perc_cov == pytest.approx(100 * ours.demand["covered_after"].mean())
    theirs = spopt_locate.PMedian.from_cost_matrix(matrix, w, p_facilities=4).solve(solver)
    ours = PMedian.from_cost_matrix(cost, 4, weights=w).solve("cbc")
    assert theirs.mean_dist == pytest.approx(ours.objective / w.sum(), rel=1e-9)
    theirs = spopt_locate.LSCP.from_cost_matrix(matrix, 5000.0).solve(solver)
    ours = LSCP.from_cost_matrix(cost, 5000.0).solve("cbc")
    assert pulp.value(theirs.problem.objective) == ours.objective
