"""Siting on the sample project: the MCLP's choice equals a brute force over all candidate pairs, computed from a
dense walking-distance matrix, and the CLI writes the proposals."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE, copy_sample_project

from siting.inputs.candidates import read_candidates
from siting.inputs.project import load_project
from siting.network.routing import cost_matrix_m
from siting.network.snap import snap_geoseries
from siting.pipeline import run_coverage
from siting.plan import optimise_project

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def project(tmp_path):
    copy_sample_project(tmp_path, "p.toml")
    return load_project(tmp_path / "p.toml")


def test_mclp_on_the_sample_equals_brute_force(project):
    run = run_coverage(project)
    project.optimize.update({"model": "mclp", "p": 2, "kinds": ["nursery"]})
    with pytest.warns(UserWarning):
        plan = optimise_project(project, run.inputs, run.result)
    kind = "nursery"
    res = run.result.residences
    households = res["households"].to_numpy()
    limit = run.inputs.profile.walk_limit_m(kind, 15)
    cand = read_candidates(project, kind)
    existing = run.inputs.facilities[run.inputs.facilities.kind == kind]
    net = run.inputs.network
    dist_c = cost_matrix_m(net, snap_geoseries(net, cand.geometry), run.result.residence_snap)
    covered_now = res[f"walk_min_{kind}"].fillna(np.inf).to_numpy() <= 15
    best = max(
        households[covered_now | (dist_c[list(pair)] <= limit).any(axis=0)].sum()
        for pair in itertools.combinations(range(len(cand)), 2)
    )
    summary = plan.summaries[kind]
    assert summary["status"] == "optimal" and summary["gap"] == pytest.approx(0, abs=1e-9)
    assert summary["covered_after"] == pytest.approx(best)
    assert summary["covered_before"] == pytest.approx(households[covered_now].sum())
    chosen = [cand.index[cand.site_id == s][0] for s in plan.new_sites.site_id]
    assert households[covered_now | (dist_c[chosen] <= limit).any(axis=0)].sum() == pytest.approx(best)
    assert plan.new_sites["households_newly_covered"].sum() >= best - households[covered_now].sum() - 1e-6


def test_candidates_generated_from_osm_when_asked(project):
    """`source = "osm"` takes community centres, schools and public buildings from the network file."""
    import xml.etree.ElementTree  # noqa: F401  (the count below is cross-checked against pyosmium's own reader)

    from siting.inputs.osm_features import read_osm_candidate_sites

    project.candidates = {"source": "osm"}
    sites = read_candidates(project, "nursery")
    direct = read_osm_candidate_sites(project.resolve("sample.osm.pbf"))
    assert list(sites.site_id) == list(direct.site_id) and len(sites) == 21


def test_joint_run_from_the_project_file_colocates_within_floor_area(project):
    """`joint = true` with a large co-location bonus: one new elderly station and one new nursery, at the same
    candidate, and together they fit its floor area (最大面积 read straight from the CSV) at m2_per_seat m² a seat."""
    import pandas as pd

    run = run_coverage(project)
    project.optimize.clear()
    project.optimize.update({"model": "capacitated", "joint": True, "m2_per_seat": 8.0, "colocation_bonus": 1e5,
                             "p": {"elderly_day_care": 1, "nursery": 1}})
    plan = optimise_project(project, run.inputs, run.result)
    assert plan.summaries["joint"]["status"] == "optimal"
    new = plan.new_sites[plan.new_sites["action"] == "new"]
    assert sorted(new["kind"]) == ["elderly_day_care", "nursery"]
    assert new["site_id"].nunique() == 1 and new["colocated"].all()
    site = new["site_id"].iloc[0]
    floor = pd.read_csv(SAMPLE / "example_candidates.csv").set_index("编号").at[site, "最大面积"]
    size = new.set_index("kind")["size"]
    assert size["elderly_day_care"] >= run.inputs.profile.value("elderly_station_min_m2") - 1e-6
    assert size["elderly_day_care"] + 8.0 * size["nursery"] <= floor + 1e-6


def test_expansion_only_serves_everyone_the_existing_stations_reach(project):
    """p = 0 and unlimited expansion: the plan only grows existing stations, and every household the coverage analysis
    puts within 15 minutes of one is then fully served (covered_after = those households)."""
    run = run_coverage(project)
    project.optimize.clear()
    project.optimize.update({"model": "capacitated", "kinds": ["elderly_day_care"], "p": 0, "expand_existing": True,
                             "expansion_cost": 3000.0})
    plan = optimise_project(project, run.inputs, run.result)
    res = run.result.residences
    within = res["walk_min_elderly_day_care"].fillna(np.inf).to_numpy() <= 15
    summary = plan.summaries["elderly_day_care"]
    assert summary["status"] == "optimal" and summary["new_sites"] == 0
    assert summary["covered_after"] == pytest.approx(res["households"].to_numpy()[within].sum(), rel=1e-6)
    grown = plan.new_sites
    assert (grown["action"] == "expand").all() and len(grown) > 0
    assert np.allclose(grown["cost"], 3000.0 * grown["size"])


def test_joint_and_expansion_keys_are_checked(project, tmp_path):
    from siting.errors import ConfigError

    run = run_coverage(project)
    project.optimize.clear()
    project.optimize.update({"model": "capacitated", "joint": True})
    with pytest.raises(ConfigError, match="m2_per_seat"):
        optimise_project(project, run.inputs, run.result)
    project.optimize.update({"model": "mclp", "p": 1, "colocation_bonus": 5})
    with pytest.raises(ConfigError, match="capacitated"):
        optimise_project(project, run.inputs, run.result)
    text = project.path.read_text(encoding="utf-8").replace("p = 2", "p = 2\nexpansion_costs = 3000")
    (tmp_path / "typo.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="expansion_costs"):
        load_project(tmp_path / "typo.toml")


@pytest.mark.filterwarnings("ignore:MCLP.*have no candidate site")
def test_cli_with_no_new_sites_writes_an_empty_table_and_the_map(project):
    """p = 0: nothing is proposed; coverage after equals the coverage analysis's count within 15 minutes, and the
    job still writes its outputs (it used to crash building the map layer of zero proposals)."""
    from siting.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["optimize", str(project.path), "--p", "0"])
    assert exit_info.value.code in (0, None)
    out = project.output
    import json

    import pandas as pd

    assert len(pd.read_csv(out / "new_sites.csv")) == 0
    summary = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    residences = pd.read_csv(out / "residences.csv")
    for kind, info in summary["kinds"].items():
        within = residences.loc[residences[f"covered_{kind}"].astype(str) == "True", "households"].sum()
        assert info["covered_after"] == pytest.approx(info["covered_before"])
        assert info["covered_before"] == pytest.approx(within)
    assert project.map_path.with_name(project.map_path.stem + "_plan.html").exists()


@pytest.mark.filterwarnings("ignore:MCLP.*have no candidate site")
def test_cli_paths_are_relative_to_the_current_folder_and_gap_rel_reaches_the_model(project, tmp_path, monkeypatch):
    """`--output` and `--map` given on the command line resolve against the folder the planner runs from (they
    used to resolve against the project file's folder, like the file's own paths); `--gap-rel` reaches the model and
    the summary, and no reported gap exceeds it."""
    import json

    from click.testing import CliRunner

    from siting.cli import main

    here = tmp_path / "elsewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    result = CliRunner().invoke(main, ["optimize", str(project.path), "--model", "capacitated", "--p", "1",
                                       "--gap-rel", "0.01", "--output", "plan_out", "--map", "maps/plan.html"])
    assert result.exit_code == 0, result.output
    summary = json.loads((here / "plan_out" / "plan_summary.json").read_text(encoding="utf-8"))
    assert (here / "maps" / "plan_plan.html").is_file() and not (project.path.parent / "plan_out").exists()
    # --output alone takes the map along (the project's map file name): one folder per what-if run
    again = CliRunner().invoke(main, ["optimize", str(project.path), "--model", "mclp", "--p", "1", "--output", "run2"])
    assert again.exit_code == 0, again.output
    assert {p.name for p in (here / "run2").iterdir()} >= {"plan_summary.json", "new_sites.csv", "map.html", "map_plan.html"}
    assert summary["optimize"]["gap_rel"] == 0.01
    # CBC (the project's solver) closes the elderly model at its root under the gap tolerance: its log's root bound is
    # the proof (the reported gap was the LP relaxation's 2.1 % while CBC said it stopped within 1 %)
    assert all(info["gap"] is not None and info["gap"] <= 0.01 for info in summary["kinds"].values())
    assert "gap " in result.output and " %" in result.output


def test_siting_by_unit_on_the_sample_equals_brute_force(project):
    """`--by-unit` on the sample (elderly care, p = 3): every 社区 without a station and each invented 街道 (none has a
    centre) must get a site inside it, a 街道's able to host 1,000 m². The plan covers as many households as the best
    of all 1,330 triples of candidates that meet those rules, found by brute force over a dense walking-distance
    matrix with unit membership from a spatial join of the unit polygons; each 街道's centre is such a site."""
    import geopandas as gpd

    run = run_coverage(project)
    kind = "elderly_day_care"
    project.optimize.update({"model": "mclp", "p": 3, "kinds": [kind], "units": ["社区", "街道"]})
    with pytest.warns(UserWarning):  # residences no candidate reaches are left out of the model
        plan = optimise_project(project, run.inputs, run.result)
    res = run.result.residences
    households = res["households"].to_numpy()
    limit = run.inputs.profile.walk_limit_m(kind, 15)
    cand = read_candidates(project, kind).reset_index(drop=True)
    net = run.inputs.network
    dist_c = cost_matrix_m(net, snap_geoseries(net, cand.geometry), run.result.residence_snap)
    covered_now = res[f"walk_min_{kind}"].fillna(np.inf).to_numpy() <= 15

    def unit_of(points: gpd.GeoSeries, layer: str, code: str) -> np.ndarray:
        units = gpd.read_file(SAMPLE / layer).to_crs(points.crs)
        joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points.reset_index(drop=True)), units, predicate="within")
        out = np.full(len(points), None, dtype=object)
        out[joined.index.to_numpy()] = joined[code].to_numpy()
        return out

    fac = run.inputs.facilities[run.inputs.facilities.kind == kind]
    cand_community = unit_of(cand.geometry, "example_communities.geojson", "社区代码")
    cand_street = unit_of(cand.geometry, "example_streets.geojson", "街道代码")
    with_station = set(unit_of(fac.geometry, "example_communities.geojson", "社区代码"))
    res_community = set(unit_of(res.geometry, "example_communities.geojson", "社区代码"))
    streets = set(unit_of(res.geometry, "example_streets.geojson", "街道代码")) - {None}
    assert not (fac["floor_area_m2"] >= 1000).any()  # no 街道 has a centre yet
    need_station = (res_community - {None}) - with_station
    can_host = cand["max_capacity"].to_numpy() >= 1000

    def meets(triple) -> bool:
        sites = list(triple)
        return (all(any(cand_community[j] == c for j in sites) for c in need_station)
                and all(any(cand_street[j] == s and can_host[j] for j in sites) for s in streets))

    feasible = [t for t in itertools.combinations(range(len(cand)), 3) if meets(t)]
    assert feasible
    best = max(households[covered_now | (dist_c[list(t)] <= limit).any(axis=0)].sum() for t in feasible)
    summary = plan.summaries[kind]
    assert summary["status"] == "optimal"
    assert summary["covered_after"] == pytest.approx(best)
    chosen = [int(np.flatnonzero(cand.site_id.to_numpy() == s)[0]) for s in plan.new_sites.site_id]
    assert meets(chosen)
    centres = plan.units[(plan.units["level"] == "street") & (plan.units["kind"] == kind)]
    assert set(centres["unit"]) == streets and (centres["change"] == "gains service").all()
    for _, row in centres.iterrows():
        j = int(np.flatnonzero(cand.site_id.to_numpy() == row["centre_site"])[0])
        assert cand_street[j] == row["unit"] and can_host[j]
