"""What a planner reads in the coverage outputs when the data are not the tidy case: a kind with no facility,
facilities on network fragments or reaching nobody, missing capacities, zero households, rows far from any street.

Each case checks the figure or message the planner sees (summary.json, facilities.csv, residences.csv, the run
log) against a count made another way: reading the written tables back, shapely distances in the UTM zone, or the
hand-worked street of tests/test_measures.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from test_bad_inputs import (
    FAC_HEADER,
    FACILITIES,
    GRID_LAT,
    GRID_LON,
    RES_HEADER,
    RESIDENCES,
    csv_text,
    edit,
    grid_ways,
    osm_xml,
    run_cli,
    write,
    write_study_area,
)
from test_measures import X0, Y0, _points, layers, profile, street  # noqa: F401  (fixtures)

from siting.coverage import analyse_coverage
from siting.inputs.osm_features import read_osm_residential_buildings
from siting.network import load_network
from siting.pipeline import report_coverage

DATA = Path(__file__).resolve().parent / "data"
UTM50 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)


def said(result) -> list[str]:
    """Progress lines without their elapsed-time stamp."""
    return [line.split("] ", 1)[1] for line in result.stderr.splitlines() if line.startswith("[")]


def strict_json(path: Path) -> dict:
    def reject(constant: str):
        raise ValueError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"res_id": str, "fac_id": str})


def grid_distance_m(lon: float, lat: float) -> float:
    """Straight metres (UTM 50N) from a point to the nearest street of the test grid."""
    lines = [shapely.LineString([UTM50.transform(lo, la) for lo, la in pts]) for pts, _ in grid_ways()]
    return float(min(line.distance(shapely.Point(UTM50.transform(lon, lat))) for line in lines))


# ---------------------------------------------------------------------------------------------------- items 9, 14, 16


def test_a_kind_with_no_facility_and_residences_nothing_reaches(tmp_path):
    project = write_study_area(tmp_path)
    island = [(116.3700, 39.9550), (116.3720, 39.9550)]  # a footway 1 km east of the grid: R7 stands on it
    write(tmp_path, "streets.osm", osm_xml(grid_ways() + [(island, {"highway": "footway"})]))
    write(tmp_path, "residences.csv", csv_text(RES_HEADER, RESIDENCES + [("R7", "岛上小区", 40, "既有", 116.3710, 39.95503)]))
    write(tmp_path, "facilities.csv", csv_text(FAC_HEADER, [FACILITIES[0]]))  # elderly care only, no nursery
    result = run_cli("run", str(project))
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    summary = strict_json(out / "summary.json")
    residences = read_csv(out / "residences.csv")
    # residences.csv writes an unreachable walk as inf; the summary counts exactly those rows
    for kind in ("elderly_day_care", "nursery"):
        unreachable = int(np.isinf(residences[f"walk_min_{kind}"]).sum())
        assert summary["kinds"][kind]["residences_with_no_reachable_facility"] == unreachable
    assert summary["kinds"]["elderly_day_care"]["residences_with_no_reachable_facility"] == 1  # R7, on its island
    nursery = summary["kinds"]["nursery"]
    assert nursery["residences_with_no_reachable_facility"] == len(RESIDENCES) + 1  # every residence
    assert nursery["status"] == "no facilities of this kind given"
    assert {v["verdict"] for v in nursery["verdicts"]} == {"no facilities of this kind given"}
    assert summary["kinds"]["elderly_day_care"]["status"] == "assessed"
    assert ("nursery: no facilities of this kind given: coverage and standards not assessed (add a [[facilities]] "
            "file with this kind to assess them)") in said(result)
    # item 16: metres beside minutes, at the profile's speed of each kind (national: 55 and 64 m/min)
    for kind, speed in (("elderly_day_care", 55.0), ("nursery", 64.0)):
        assert summary["kinds"][kind]["walk_speed_m_per_min"] == speed
        reached = np.isfinite(residences[f"walk_min_{kind}"])
        np.testing.assert_allclose(residences.loc[reached, f"walk_m_{kind}"],
                                   residences.loc[reached, f"walk_min_{kind}"] * speed, rtol=1e-12)
    assert np.isinf(residences.loc[residences["res_id"] == "R7", "walk_m_elderly_day_care"]).all()
    # the map opens on elderly care (the kind with data): its residence layers are the ones drawn at load
    html = (out / "map.html").read_text(encoding="utf-8")
    shown = re.findall(r"var (geo_json_\w+) = L\.geoJson\(", html)
    added = set(re.findall(r"(geo_json_\w+)\.addTo\(map_\w+\)", html))
    names = {json.loads(f'"{name}"'): var for name, var in re.findall(r'"([^"]+)" : (geo_json_\w+)', html)}
    on = {name for name, var in names.items() if var in added and var in shown}
    assert any("养老" in n for n in on if "Residences" in n or "居民" in n)
    assert not any("托育" in n for n in on)


# ---------------------------------------------------------------------------------------------------- item 10


@pytest.fixture(scope="module")
def campus():
    """The BUPT campus network (Beijing), which has two real fragments of 4 and 2 nodes, and its housing."""
    path = DATA / "bupt_beijing" / "map.osm"
    net = load_network(path)
    buildings = read_osm_residential_buildings(path)
    pts = buildings.geometry.representative_point()
    residences = gpd.GeoDataFrame({"res_id": buildings["osm_id"], "name": "", "households": 50.0, "population": 130.0,
                                   "area_type": "existing"}, geometry=pts.values, crs="EPSG:4326")
    return net, residences


def test_a_facility_on_a_real_network_fragment_is_reported_and_can_be_snapped_to_the_main_network(campus):
    from siting.inputs.profiles import load_profile

    net, residences = campus
    sizes = np.bincount(net.component)
    assert sizes.tolist() == [581, 4, 2]
    # a kindergarten 3 m beside the middle of an edge of the 4-node fragment, a second one on the main network
    frag_edge = int(np.flatnonzero(net.component[net.edge_u] == 1)[0])
    u, v = net.edge_u[frag_edge], net.edge_v[frag_edge]
    to_wgs = pyproj.Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
    fx, fy = (net.x[u] + net.x[v]) / 2, (net.y[u] + net.y[v]) / 2 + 3.0
    main_node = int(np.flatnonzero(net.component == 0)[0])
    lon, lat = to_wgs.transform([fx, net.x[main_node]], [fy, net.y[main_node]])
    facilities = gpd.GeoDataFrame({"fac_id": ["K1", "K2"], "name": "", "kind": "nursery", "floor_area_m2": np.nan,
                                   "places": np.nan, "seats": [30.0, 30.0]},
                                  geometry=shapely.points(lon, lat), crs="EPSG:4326")
    profile = load_profile("national")
    result = analyse_coverage(net, residences, facilities, profile, polygons=False, max_snap_m=300)
    fac = result.facilities.set_index("fac_id")
    assert fac.loc["K1", "network_component"] == 1 and not fac.loc["K1", "on_main_network"]
    assert fac.loc["K2", "network_component"] == 0 and fac.loc["K2", "on_main_network"]
    assert result.summary["kinds"]["nursery"]["facilities_on_network_islands"] == ["K1"]
    # the distance to the main network, computed with shapely against every main-network street
    xu, yu, xv, yv = net.edge_xy()
    main = net.component[net.edge_u] == 0
    segments = shapely.linestrings(np.stack([np.column_stack([xu, yu]), np.column_stack([xv, yv])], axis=1)[main])
    to_main = float(shapely.distance(segments, shapely.Point(fx, fy)).min())
    lines: list[str] = []
    report_coverage(net, result, lines.append)
    line = next(x for x in lines if "small pieces of the network cut off" in x and "facilities" in x)
    assert f"K1 (piece of 4 nodes; main network {to_main:,.0f} m away)" in line
    assert 'snap_to = "main" in [network] (within max_snap_m = 300 m)' in line
    # snapped to the main network instead, K1 stands where shapely says and serves the campus
    moved = analyse_coverage(net, residences, facilities, profile, polygons=False, max_snap_m=300, snap_to_main=True)
    fac = moved.facilities.set_index("fac_id")
    assert fac.loc["K1", "on_main_network"] and fac.loc["K1", "snap_m"] == pytest.approx(to_main, abs=1e-6)
    assert moved.summary["kinds"]["nursery"]["facilities_on_network_islands"] == []
    assert fac.loc["K1", "households_served"] > 0


def test_the_kinds_side_by_side_give_the_serial_run_bit_for_bit(campus, monkeypatch):
    """Both kinds on their own threads (as at city scale) against one after the other, on the campus with facilities
    of both kinds (one of them on a fragment) and residences farther than max_snap_m: the same tables, summary and
    pairs, byte for byte."""
    from siting import coverage
    from siting.inputs.profiles import load_profile
    from siting.network import kernels

    net, residences = campus
    rng = np.random.default_rng(3)
    lon, lat = shapely.get_x(residences.geometry.values), shapely.get_y(residences.geometry.values)
    pick = rng.choice(lon.size, 9, replace=False)
    kinds = ["elderly_day_care"] * 5 + ["nursery"] * 4
    facilities = gpd.GeoDataFrame({"fac_id": [f"F{i}" for i in range(9)], "name": "", "kind": kinds,
                                   "floor_area_m2": rng.uniform(100, 600, 9), "places": np.nan,
                                   "seats": rng.uniform(20, 90, 9)},
                                  geometry=shapely.points(lon[pick] + 1e-4, lat[pick]), crs="EPSG:4326")
    residences = residences.assign(households=rng.integers(1, 80, len(residences)).astype(float),
                                   area_type=np.where(rng.random(len(residences)) < 0.5, "new", "existing"))
    profile = load_profile("national")
    runs = {}
    for side_by_side in (False, True):
        monkeypatch.setattr(kernels, "THREADS", 2)
        monkeypatch.setattr(coverage, "_SIDE_BY_SIDE_MIN_RESIDENCES", 0 if side_by_side else 10**12)
        said_lines: list[str] = []
        runs[side_by_side] = (analyse_coverage(net, residences, facilities, profile, polygons=False, max_snap_m=20,
                                               thresholds_min=[5, 10], progress=said_lines.append), said_lines)
    (serial, serial_said), (parallel, parallel_said) = runs[False], runs[True]
    assert [line for line in parallel_said if line.endswith("side by side")]
    assert not [line for line in serial_said if line.endswith("side by side")]
    assert serial.summary["residences_too_far_from_network"]  # the max_snap_m path is taken
    pd.testing.assert_frame_equal(parallel.residences, serial.residences, check_exact=True)
    pd.testing.assert_frame_equal(parallel.facilities, serial.facilities, check_exact=True)
    assert json.dumps(parallel.summary, sort_keys=True) == json.dumps(serial.summary, sort_keys=True)
    for kind in serial.kinds:
        a, b = serial.kinds[kind].reach, parallel.kinds[kind].reach
        assert a.src.tobytes() == b.src.tobytes() and a.dst.tobytes() == b.dst.tobytes()
        assert a.dist_m.tobytes() == b.dist_m.tobytes()


# ---------------------------------------------------------------------------------------------------- item 12


def test_a_facility_with_no_households_in_reach_does_not_meet_the_standard(street, profile, layers):  # noqa: F811
    residences, facilities = layers
    before = analyse_coverage(street, residences, facilities, profile, polygons=False)
    # E3 stands 400 m south of the street's east end: 200 + 400 + 10 = 610 m from R4, the nearest (limit 500 m)
    extra = gpd.GeoDataFrame({"fac_id": ["E3"], "name": ["Far"], "kind": ["elderly_day_care"], "floor_area_m2": [80.0],
                              "places": [np.nan], "seats": [np.nan]}, geometry=_points([(2000, -400)]))
    both = pd.concat([facilities, extra], ignore_index=True)
    after = analyse_coverage(street, residences, gpd.GeoDataFrame(both, geometry="geometry", crs="EPSG:4326"),
                             profile, polygons=False)
    fac = after.facilities.set_index("fac_id")
    assert fac.loc["E3", "households_served"] == 0
    assert fac.loc["E3", "verdict"] == "no households in reach"
    assert fac.loc["E3", "meets_standard"] is None and np.isnan(fac.loc["E3", "shortfall"])
    el = after.summary["kinds"]["elderly_day_care"]
    assert el["facilities_with_no_households_in_reach"] == ["E3"]
    assert el["facilities_meeting_standard"] == before.summary["kinds"]["elderly_day_care"]["facilities_meeting_standard"]
    verdicts = before.facilities.set_index("fac_id")["verdict"]
    assert el["facilities_meeting_standard"] == int((verdicts == "meets standard").sum())


# ---------------------------------------------------------------------------------------------------- item 13


def test_a_missing_capacity_column_is_said_and_not_read_as_zero(tmp_path):
    project = write_study_area(tmp_path)
    header = "编号,名称,类型,经度,纬度\n"  # no 建筑面积 (floor area), no 托位 (seats)
    write(tmp_path, "facilities.csv", csv_text(header, [(r[0], r[1], r[2], r[5], r[6]) for r in FACILITIES]))
    result = run_cli("run", str(project))
    assert result.exit_code == 0, result.output
    assert ("warning: facilities.csv: no floor_area_m2 (floor_area_m2/area/面积/建筑面积/建筑面积(m2)/建筑面积(㎡)) for 1 "
            "of 1 elderly_day_care facilities (E1): their verdict is 'capacity missing' and the capacity checks of "
            "elderly_day_care say 'missing data'. Fix: add the column, fill it in, or map it: "
            "columns = { floor_area_m2 = \"…\" }") in said(result)
    facilities = read_csv(tmp_path / "out" / "facilities.csv").set_index("fac_id")
    assert facilities.loc["E1", "verdict"] == "capacity missing" and facilities.loc["N1", "verdict"] == "capacity missing"
    assert facilities["meets_standard"].isna().all()
    summary = strict_json(tmp_path / "out" / "summary.json")
    for kind in ("elderly_day_care", "nursery"):
        servable = next(v for v in summary["kinds"][kind]["verdicts"] if "servable share" in v["check"])
        assert servable["verdict"] == "missing data: capacity of 1 facilities not given"
        assert summary["kinds"][kind]["facilities_capacity_missing"] == ["E1" if kind == "elderly_day_care" else "N1"]


def test_a_project_kind_that_contradicts_the_file_is_an_error(tmp_path):
    project = write_study_area(tmp_path)
    edit(project, '[[facilities]]\npath = "facilities.csv"\n', '[[facilities]]\npath = "facilities.csv"\nkind = "nursery"\n')
    result = run_cli("run", str(project))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: {tmp_path / 'facilities.csv'}, row 2, column '类型': the project sets kind = \"nursery\" for this "
        "file, but its column '类型' says '日间照料' (elderly_day_care). Expected the same kind in the project file and "
        "in the file's kind column. Fix: remove kind from this [[facilities]] block to use the file's column, or "
        "correct the column or the project's kind")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------- item 18


def test_zero_households_give_valid_json_and_no_facility_meets_the_standard(tmp_path):
    project = write_study_area(tmp_path)
    write(tmp_path, "residences.csv", csv_text(RES_HEADER, [(r[0], r[1], 0, *r[3:]) for r in RESIDENCES]))
    result = run_cli("run", str(project))
    assert result.exit_code == 0, result.output
    assert ("warning: the residences hold 0 households in all: no coverage rate or standard can be assessed (null in "
            "summary.json). Fix: check the households (户数) or population (人口) column") in said(result)
    assert not any("reach no residence" in line for line in said(result))  # they reach residences, of 0 households
    summary = strict_json(tmp_path / "out" / "summary.json")  # bare NaN would raise here
    for kind in ("elderly_day_care", "nursery"):
        info = summary["kinds"][kind]
        assert info["coverage_rate"] is None and info["status"] == "no households in the residences"
        assert info["facilities_meeting_standard"] == 0
    facilities = read_csv(tmp_path / "out" / "facilities.csv")
    assert set(facilities["verdict"]) == {"no households in reach"}


# ---------------------------------------------------------------------------------------------------- item 19


def test_rows_far_from_any_street_are_named_in_the_run_log(tmp_path):
    project = write_study_area(tmp_path)
    stray = ("R9", "误录小区", 30, "既有", 116.3400, 39.9000)  # 5.5 km south of the grid
    null_island = ("R0", "空坐标", 20, "既有", 0, 0)  # a blank coordinate exported as 0, 0
    write(tmp_path, "residences.csv", csv_text(RES_HEADER, RESIDENCES + [stray, null_island]))
    far_station = ("E9", "远处照料站", "日间照料", "300", "", 116.4500, 39.9580)  # 9.3 km east
    write(tmp_path, "facilities.csv", csv_text(FAC_HEADER, FACILITIES + [far_station]))
    result = run_cli("run", str(project))
    assert result.exit_code == 0, result.output
    lines = said(result)
    r9, r0, e9 = grid_distance_m(116.34, 39.90), grid_distance_m(0, 0), grid_distance_m(116.45, 39.958)
    assert (f"warning: 2 residences lie more than 300 m from any walkable street and count as not covered: R9 "
            f"({r9:,.0f} m; lon 116.34000, lat 39.90000), R0 ({r0:,.0f} m; lon 0.00000, lat 0.00000). Fix: check their "
            f"coordinates (a point at 0, 0, in the sea or in another city), or use a network extract that covers "
            f"them") in lines
    assert (f"warning: 1 facilities lie more than 300 m from any walkable street and serve no one: E9 ({e9:,.0f} m; "
            f"lon 116.45000, lat 39.95800). Fix: check their coordinates, or use a network extract that covers them") in lines
    summary = strict_json(tmp_path / "out" / "summary.json")
    assert summary["residences_too_far_from_network"] == ["R9", "R0"]
    assert summary["kinds"]["elderly_day_care"]["facilities_off_network"] == ["E9"]
    facilities = read_csv(tmp_path / "out" / "facilities.csv").set_index("fac_id")
    assert facilities.loc["E9", "verdict"] == "off network"


# ---------------------------------------------------------------------------------------------------- item 22


def test_the_network_cache_lives_in_the_user_cache_folder_and_a_failed_run_writes_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SITING_CACHE_DIR", str(cache))
    area = tmp_path / "area"
    project = write_study_area(area)
    edit(project, "cache = false", "cache = true")
    write(area, "residences.csv", csv_text(RES_HEADER, [RESIDENCES[0], ("R2", "坏行", "12户", "既有", GRID_LON[1], GRID_LAT[1])]))
    failed = run_cli("run", str(project))
    assert failed.exit_code == 2
    assert not (area / "out").exists()  # a fresh output folder stays absent: no .siting-cache, nothing
    write(area, "residences.csv", csv_text(RES_HEADER, RESIDENCES))
    done = run_cli("run", str(project))
    assert done.exit_code == 0, done.output
    written = {p.name for p in (area / "out").iterdir()}
    assert {"coverage.gpkg", "facilities.csv", "map.html", "residences.csv", "summary.json"} <= written
    assert not [name for name in written if name.startswith(".")]  # no .siting-cache, no staging left
    assert len(list(cache.glob("network-*.npz"))) == 1
    # cache = false: nothing cached anywhere
    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "cache2"))
    edit(project, "cache = true", "cache = false")
    assert run_cli("run", str(project)).exit_code == 0
    assert not (tmp_path / "cache2").exists()


# ---------------------------------------------------------------------------------------------------- item 15


def _osm_buildings_by_hand(path: Path) -> dict[str, list[bool]]:
    """building type -> [has a usable building:levels tag] for every closed way and multipolygon relation of the OSM
    XML, read with ElementTree."""
    import xml.etree.ElementTree as ET

    found: dict[str, list[bool]] = {}
    root = ET.parse(path).getroot()
    for element in [*root.iter("way"), *root.iter("relation")]:
        tags = {t.get("k"): t.get("v") for t in element.iter("tag")}
        refs = [nd.get("ref") for nd in element.iter("nd")]
        closed = len(refs) > 3 and refs[0] == refs[-1] if element.tag == "way" else tags.get("type") == "multipolygon"
        if "building" in tags and closed:
            levels = re.match(r"\s*(\d+(\.\d+)?)", tags.get("building:levels", ""))
            found.setdefault(tags["building"], []).append(bool(levels) and float(levels.group(1)) > 0)
    return found


@pytest.mark.parametrize("include_dormitories", [False, True])
def test_osm_residences_say_which_buildings_count_and_how_many_storeys_were_assumed(tmp_path, include_dormitories):
    osm = DATA / "bupt_beijing" / "map.osm"
    project = tmp_path / "project.toml"
    project.write_text(
        f'[project]\nname = "campus"\nprofile = "national"\noutput = "out"\n\n[network]\npath = "{osm.as_posix()}"\n'
        f'cache = false\n\n[residences]\nsource = "osm"\n'
        + ("include_dormitories = true\n" if include_dormitories else "")
        + f'\n[[facilities]]\nsource = "osm"\npath = "{osm.as_posix()}"\n', encoding="utf-8")
    result = run_cli("run", str(project))
    assert result.exit_code == 0, result.output
    by_hand = _osm_buildings_by_hand(osm)
    homes = {"residential", "apartments", "house", "detached", "terrace", "semidetached_house"}
    if include_dormitories:
        homes.add("dormitory")
    counted = {k: v for k, v in by_hand.items() if k in homes}
    n = sum(len(v) for v in counted.values())
    assumed = sum(not tagged for v in counted.values() for tagged in v)
    assert by_hand["dormitory"] and by_hand["apartments"]  # the campus has both
    summary = strict_json(tmp_path / "out" / "summary.json")
    info = summary["osm_residences"]
    assert info["buildings_by_type"] == {k: len(v) for k, v in sorted(counted.items())}
    assert info["dormitories_excluded"] == (0 if include_dormitories else len(by_hand["dormitory"]))
    assert info["buildings_with_default_levels"] == assumed and info["default_levels"] == 6
    assert ("dormitory" in info["building_types_counted"]) == include_dormitories
    residences = read_csv(tmp_path / "out" / "residences.csv")
    assert len(residences) == n == summary["residences"]
    assert residences.groupby("building").size().to_dict() == info["buildings_by_type"]
    assert int(residences["levels_assumed"].sum()) == assumed
    assert (residences.loc[residences["levels_assumed"], "levels"] == 6).all()
    lines = said(result)
    assert (f"OSM residences: {assumed} of {n} buildings have no building:levels tag and were assumed to have 6 storeys "
            "(the profile's default_building_levels); see levels and levels_assumed in residences.csv") in lines
    dorm_line = (f"OSM residences: {len(by_hand['dormitory'])} student dormitories (building=dormitory) left out of "
                 "household demand; include_dormitories = true in [residences] counts them")
    assert (dorm_line in lines) == (not include_dormitories)
