"""`siting optimize --by-unit` on a tiny project on the BUPT extract (tests/data/bupt_beijing): the residences,
facilities and candidates name their 社区 and 街道 (unit_community, unit_street columns). The plan written to
new_sites.csv and units_plan.csv equals a brute force over every pair of candidates on the walking-distance matrix,
with the plans' rules checked by hand; a project without the unit columns is refused before any work."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_scenario import OSM
from test_scenario import PROJECT as SCENARIO_PROJECT
from test_scenario import RESIDENCES as SCENARIO_RESIDENCES

from siting.cli import main
from siting.inputs.candidates import read_candidates
from siting.inputs.project import load_project
from siting.network.routing import cost_matrix_m
from siting.network.snap import snap_geoseries
from siting.pipeline import run_coverage

UNITS = {"R1": "C1,S1", "R2": "C2,S1", "R3": "C3,S2", "R4": "C3,S2", "R5": "C1,S1", "R6": "C2,S1", "id": "unit_community,unit_street"}
RESIDENCES = "".join(f"{line},{UNITS[line.split(',')[0]]}\n" for line in SCENARIO_RESIDENCES.splitlines())
FACILITIES = """id,name,kind,floor_area_m2,seats,lon,lat,unit_community,unit_street
F1,站1,elderly_day_care,300,,116.3500,39.9580,C1,S1
F3,站2,elderly_day_care,1200,,116.3530,39.9600,C2,S1
"""
CANDIDATES = """id,name,最大面积,lon,lat,unit_community,unit_street
A,候选A,1500,116.3540,39.9628,C3,S2
B,候选B,400,116.3496,39.9618,C3,S2
D,候选D,1100,116.3512,39.9604,C2,S1
E,候选E,800,116.3520,39.9612,,S1
"""
PROJECT = SCENARIO_PROJECT + """[candidates]
path = "candidates.csv"
max_capacity = "最大面积"
[optimize]
model = "mclp"
p = 2
kinds = ["elderly_day_care"]
unit_reach_share = 0.5
"""
KIND = "elderly_day_care"
KINDS = ["elderly_day_care", "nursery"]  # siting.inputs.schema.KINDS, spelled out


@pytest.fixture()
def area(tmp_path) -> Path:
    for name, text in (("project.toml", PROJECT.format(osm=OSM.as_posix())), ("residences.csv", RESIDENCES),
                       ("facilities.csv", FACILITIES), ("candidates.csv", CANDIDATES)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.filterwarnings("ignore:MCLP.*have no candidate site")
def test_by_unit_plan_equals_brute_force_and_the_units_table(area):
    result = CliRunner().invoke(main, ["optimize", str(area / "project.toml"), "--by-unit"])
    assert result.exit_code == 0, result.output

    # brute force on the walking-distance matrix; the units are those of the CSVs above
    project = load_project(area / "project.toml")
    run = run_coverage(project)
    res, net = run.result.residences, run.inputs.network
    households = res["households"].to_numpy()
    limit = run.inputs.profile.walk_limit_m(KIND, 4)
    cand = read_candidates(project, KIND)
    within = cost_matrix_m(net, snap_geoseries(net, cand.geometry), run.result.residence_snap) <= limit  # sites × rows
    before = res[f"walk_min_{KIND}"].fillna(np.inf).to_numpy() <= 4
    c3 = res["unit_community"].to_numpy() == "C3"  # C1 (F1) and C2 (F3) have a station inside; S1 has F3's 1,200 m²
    capable = cand["max_capacity"].to_numpy() >= run.inputs.profile.value("elderly_street_centre_min_m2")

    def meets(sites) -> bool:
        c3_station = any(cand["unit_community"].iat[j] == "C3" or households[c3 & within[j]].sum() >= 0.5 * households[c3].sum()
                         for j in sites)
        s2_centre = any(cand["unit_street"].iat[j] == "S2" and capable[j] for j in sites)
        return c3_station and s2_centre

    plans = [(households[before | within[list(s)].any(axis=0)].sum(), s)
             for s in itertools.combinations(range(len(cand)), 2) if meets(s)]
    best = max(plans)[0]
    unconstrained = max(households[before | within[list(s)].any(axis=0)].sum()
                        for s in itertools.combinations(range(len(cand)), 2))
    assert best < unconstrained  # the units' rows change the plan

    out = area / "out"
    summary = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))["kinds"][KIND]
    assert summary["status"] == "optimal" and summary["covered_after"] == pytest.approx(best)
    new_sites = pd.read_csv(out / "new_sites.csv")
    chosen = [int(np.flatnonzero(cand["site_id"].to_numpy() == s)[0]) for s in new_sites["site_id"]]
    assert meets(chosen) and households[before | within[chosen].any(axis=0)].sum() == pytest.approx(best)
    assert "A" in set(new_sites["site_id"])  # D and E tie: both reach R6 only
    units = pd.read_csv(out / "units_plan.csv", dtype={"new_sites": str, "centre_site": str}, keep_default_na=False)
    table = units.set_index(["level", "unit"])
    assert list(table.index) == [("community", "C1"), ("community", "C2"), ("community", "C3"), ("street", "S1"),
                                 ("street", "S2")]
    assert table["change"].tolist() == ["had service", "had service", "gains service", "had service", "gains service"]
    assert table.loc[("street", "S2"), "centre_site"] == "A"  # the only candidate in S2 of ≥ 1,000 m²
    assert table.loc[("community", "C1"), "how_before"] == "F1 inside"
    for (level, unit), row in table.iterrows():
        members = res[f"unit_{level}"].to_numpy() == unit
        assert row["households"] == pytest.approx(households[members].sum())
        assert row["households_within_walk_before"] == pytest.approx(households[members & before].sum())
        assert row["households_within_walk_after"] == pytest.approx(
            households[members & (before | within[chosen].any(axis=0))].sum())
    assert summary["units"] == {"units": 5, "had_service": 3, "gain_service": 2, "without_service_after": 0}


@pytest.mark.filterwarnings("ignore:MCLP.*have no candidate site")
@pytest.mark.parametrize("model", ["mclp", "capacitated"])
def test_a_siting_run_reads_the_candidate_table_once_per_kind(area, monkeypatch, model):
    """The early check, the unit-column check, the model and the ledger's best candidate share one read per kind:
    the elderly table (sited) and the nursery table (the ledger's) are each read once (the elderly one was read
    four times)."""
    import siting.inputs.candidates

    read = []
    real = siting.inputs.candidates.read_candidates
    monkeypatch.setattr(siting.inputs.candidates, "read_candidates", lambda project, kind: read.append(kind) or real(project, kind))
    result = CliRunner().invoke(main, ["optimize", str(area / "project.toml"), "--by-unit", "--model", model])
    assert result.exit_code == 0, result.output
    assert sorted(read) == sorted(KINDS)


def test_by_unit_without_unit_columns_is_refused_before_any_work(area):
    (area / "residences.csv").write_text("\n".join(",".join(line.split(",")[:6]) for line in RESIDENCES.splitlines()),
                                         encoding="utf-8")
    result = CliRunner().invoke(main, ["optimize", str(area / "project.toml"), "--by-unit"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"error: {area / 'residences.csv'}, column 'unit_community': siting by unit needs the 社区 (community) of every "
        "residence. Fix: give the units in the project file ([[units]] with level = \"社区\"), or a unit_community "
        "column in the residences table")
    assert not [p.name for p in (area / "out").glob("*") if p.is_file()]  # no table, summary or map (a network cache)


def test_unknown_level_and_model_are_refused(area):
    text = (area / "project.toml").read_text(encoding="utf-8")
    (area / "project.toml").write_text(text + 'units = ["区"]\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["optimize", str(area / "project.toml")])
    assert result.exit_code == 2 and "unknown unit level '区' in optimize.units" in result.output
    (area / "project.toml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["optimize", str(area / "project.toml"), "--by-unit", "--model", "pmedian"])
    assert result.exit_code == 2 and "pmedian" in result.output  # the message names the models that site by unit
    assert all(model in result.output.split("pmedian", 1)[1] for model in ("mclp", "lscp", "capacitated"))


@pytest.mark.filterwarnings("ignore:MCLP.*have no candidate site")
def test_capacitated_by_unit_opens_the_street_centre_at_its_minimum_size(area):
    """S2's only candidate able to host a centre is A (1,500 m²); its households need far less than 1,000 m²
    (R3, R4: 290 households), yet the centre opens at the profile's 1,000 m²."""
    result = CliRunner().invoke(main, ["optimize", str(area / "project.toml"), "--by-unit", "--model", "capacitated"])
    assert result.exit_code == 0, result.output
    sites = pd.read_csv(area / "out" / "new_sites.csv").set_index("site_id")
    assert sites.loc["A", "size"] == pytest.approx(1000.0)
    units = pd.read_csv(area / "out" / "units_plan.csv", keep_default_na=False).set_index(["level", "unit"])
    assert units.loc[("street", "S2"), "centre_site"] == "A"
    assert units.loc[("community", "C3"), "change"] == "gains service"
    summary = json.loads((area / "out" / "plan_summary.json").read_text(encoding="utf-8"))["kinds"][KIND]
    assert summary["units"] == {"units": 5, "had_service": 3, "gain_service": 2, "without_service_after": 0}


@pytest.mark.filterwarnings("ignore:MCLP.*have no candidate site")
def test_scenario_report_shows_the_per_unit_change(area):
    """A scenario that sites by unit carries the same units table as `siting optimize --by-unit` on its project, in
    units_comparison.csv and in the HTML report; a scenario without siting has none."""
    from siting.scenario import run_scenarios

    (area / "base.toml").write_text('[scenario]\nname = "现状"\nbase = "project.toml"\n', encoding="utf-8")
    (area / "units.toml").write_text('[scenario]\nname = "By unit"\nbase = "project.toml"\n[optimize]\n'
                                     'units = ["社区", "街道"]\n', encoding="utf-8")
    results, paths = run_scenarios([area / "base.toml", area / "units.toml"], output=area / "report")
    assert CliRunner().invoke(main, ["optimize", str(area / "project.toml"), "--by-unit"]).exit_code == 0
    direct = pd.read_csv(area / "out" / "units_plan.csv", dtype=str, keep_default_na=False)
    table = pd.read_csv(paths["units_csv"], dtype=str, keep_default_na=False)
    assert set(table["scenario"]) == {"By unit"} and len(results[0].units) == 0
    pd.testing.assert_frame_equal(table.drop(columns="scenario"), direct)
    page = paths["html"].read_text(encoding="utf-8")
    assert "2 unit(s) gain service, 3 had it already" in page
    assert "elderly_day_care street S2: A (centre A)" in page
