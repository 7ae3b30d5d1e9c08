"""The units stage and the indicator table on a fixture small enough to compute by hand: 4 社区 in 2 街道 along one
straight street (UTM 50N, nodes every 100 m), residences 10 m north of it, facilities 20 m south.

    x (m along the street):  0 ───── 700 ───── 1400 ───── 2100 ───── 2400
    社区 (community):        |  C1    |   C2    |    C3    |    C4    |     C4 has no residences
    街道 (street):           |       S1         |         S2          |
    residences: R1 x=100 (100 户, 260 人, new), R2 x=400 (200, 500), R3 x=700 ON the C1|C2 boundary (50, 120),
                R4 x=1000 (150, 400), R5 x=1800 (300, 800, new)
    facilities: E1 x=300 社区日间照料站 80 m², 10 beds; E2 x=1700 街道综合养老服务中心 1,200 m², 50 beds (30 nursing);
                E3 x=1000, 300 m south of the street (outside every unit), 400 m²; N1 x=1100 nursery 30 seats
    candidates: K1 x=1400 (on the C2|C3 and S1|S2 boundaries), K2 x=200

Walk 10 min: elderly 50 m/min = 500 m, nursery 60 m/min = 600 m. A walk is 10 m (residence) + |dx| + 20 m (facility);
from E3 it is 10 + |dx| + 300. Every figure asserted below is worked out by hand in the comment next to it.
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
from conftest import copy_sample_project
from shapely.geometry import Point, Polygon, box
from test_measures import TO_WGS, X0, Y0, straight_street  # the same straight street

from siting.coverage import analyse_coverage
from siting.errors import ConfigError, InputError
from siting.inputs.layers import read_table
from siting.inputs.profiles import load_profile
from siting.inputs.project import parse_project
from siting.measures.indicators import build_indicators, site_reach
from siting.measures.units import (
    apply_units,
    canonical_level,
    facility_levels,
    read_unit_layers,
    units_from_frame,
)
from siting.output import write_csv, write_json
from siting.reports.indicator_outputs import write_indicator_outputs


def lonlat(x: float, y: float) -> tuple[float, float]:
    return TO_WGS.transform(X0 + x, Y0 + y)


def lon_at(x: float) -> float:
    return lonlat(x, 0.0)[0]


LAT_S, LAT_N = lonlat(0, -100)[1], lonlat(0, 100)[1]


def unit_box(x0: float, x1: float) -> Polygon:
    """A unit in lon/lat with its east and west sides on the meridians of x0 and x1 at the street."""
    return box(lon_at(x0), LAT_S, lon_at(x1), LAT_N)


def write_geojson(path: Path, rows: list[dict], geoms: list) -> Path:
    gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326").to_file(path, driver="GeoJSON")
    return path


@pytest.fixture()
def net():
    return straight_street()


@pytest.fixture()
def profile():
    return load_profile("national").with_overrides(
        walk_minutes=10, walk_speed_m_per_min=60, elderly_walk_speed_m_per_min=50,
        elderly_m2_per_100_households_new=20, elderly_m2_per_100_households_existing=15,
        nursery_seats_per_1000_new=10, nursery_seats_per_1000_existing=8, nursery_seats_per_1000_city=4.5,
        unit_reach_share=0.5, community_day_care_rule="inside", community_childcare_rule="inside_or_reach",
        elderly_station_min_m2=350, elderly_street_centre_min_m2=1000, elderly_beds_per_1000_elderly=40,
        nursing_bed_share_target=0.55, community_day_care_coverage_target=0.9,
        community_childcare_coverage_target=0.8, street_centre_coverage_target=1.0,
    )


@pytest.fixture()
def unit_files(tmp_path):
    communities = write_geojson(tmp_path / "社区.geojson", [
        {"社区代码": "C1", "社区名称": "一社区", "所属街道代码": "S1"},
        {"社区代码": "C2", "社区名称": "二社区", "所属街道代码": "S1"},
        {"社区代码": "C3", "社区名称": "三社区", "所属街道代码": "S2"},
        {"社区代码": "C4", "社区名称": "四社区", "所属街道代码": "S2"},
    ], [unit_box(0, 700), unit_box(700, 1400), unit_box(1400, 2100), unit_box(2100, 2400)])
    streets = write_geojson(tmp_path / "街道.geojson", [
        {"街道代码": "S1", "街道名称": "东街道"}, {"街道代码": "S2", "街道名称": "西街道"},
    ], [unit_box(0, 1400), unit_box(1400, 2400)])
    return communities, streets


def residences() -> gpd.GeoDataFrame:
    pts = [Point(*lonlat(100, 10)), Point(*lonlat(400, 10)), Point(lon_at(700), lonlat(700, 10)[1]),
           Point(*lonlat(1000, 10)), Point(*lonlat(1800, 10))]
    return gpd.GeoDataFrame({
        "res_id": ["R1", "R2", "R3", "R4", "R5"], "name": [""] * 5,
        "households": [100.0, 200.0, 50.0, 150.0, 300.0], "population": [260.0, 500.0, 120.0, 400.0, 800.0],
        "area_type": ["new", "existing", "existing", "existing", "new"],
        "elderly": [30.0, 60.0, 10.0, 50.0, 50.0],
    }, geometry=pts, crs="EPSG:4326")


def facilities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "fac_id": ["E1", "E2", "E3", "N1"], "name": ["", "", "", ""],
        "kind": ["elderly_day_care", "elderly_day_care", "elderly_day_care", "nursery"],
        "floor_area_m2": [80.0, 1200.0, 400.0, np.nan], "places": [10.0, 50.0, np.nan, np.nan],
        "seats": [np.nan, np.nan, np.nan, 30.0], "nursing_beds": [np.nan, 30.0, np.nan, np.nan],
        "type_label": ["社区日间照料站", "街道综合养老服务中心", "日间照料", "托育"],
    }, geometry=[Point(*lonlat(300, -20)), Point(*lonlat(1700, -20)), Point(*lonlat(1000, -300)),
                 Point(*lonlat(1100, -20))], crs="EPSG:4326")


def candidates() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"site_id": ["K1", "K2"]},
                            geometry=[Point(lon_at(1400), lonlat(1400, -20)[1]), Point(*lonlat(200, -20))], crs="EPSG:4326")


def unit_layers(unit_files):
    communities, streets = unit_files
    return [units_from_frame(read_table(streets), level="street", source=str(streets), columns={"id": "街道代码", "name": "街道名称"}),
            units_from_frame(read_table(communities), level=canonical_level("社区"), source=str(communities),
                             columns={"id": "社区代码", "name": "社区名称", "parent": "所属街道代码"})]


@pytest.fixture()
def run(net, profile, unit_files):
    stage = apply_units(unit_layers(unit_files), residences(), facilities(), residences_source="res.csv")
    result = analyse_coverage(net, stage.residences, stage.facilities, profile, thresholds_min=[5], polygons=False)
    cands = site_reach(net, {"elderly_day_care": candidates(), "nursery": candidates()}, result, stage.layers)
    return stage, result, build_indicators(result, stage, profile, candidates_reach=cands)


def test_points_get_their_units_and_the_boundary_rule(run):
    stage, result, _ = run
    res = stage.residences.set_index("res_id")
    assert res["unit_community"].to_dict() == {"R1": "C1", "R2": "C1", "R3": "C1", "R4": "C2", "R5": "C3"}  # R3 on C1|C2: lowest id
    assert res["unit_street"].to_dict() == {"R1": "S1", "R2": "S1", "R3": "S1", "R4": "S1", "R5": "S2"}
    fac = stage.facilities.set_index("fac_id")
    assert fac["unit_community"].to_dict() == {"E1": "C1", "E2": "C3", "E3": None, "N1": "C2"}  # E3 outside every unit
    assert fac["facility_level"].to_dict() == {"E1": "community_station", "E2": "street_centre",
                                                "E3": "community_station", "N1": "nursery"}
    # the unit columns survive the coverage stage (the contract the optimiser relies on)
    assert result.residences["unit_community"].tolist() == ["C1", "C1", "C1", "C2", "C3"]
    # per level, smallest first: facilities outside, then units without residences
    assert stage.warnings == [
        "warning: facilities: 1 facilities lie outside every 社区 community unit of " + stage.layers[0].source
        + ": E3. They serve residents within their walk but count in no unit",
        "warning: " + stage.layers[0].source + ": 1 社区 units contain no residence: C4. Their figures are blank; "
        "check the residences cover them",
        "warning: facilities: 1 facilities lie outside every 街道/乡镇 street unit of " + stage.layers[1].source
        + ": E3. They serve residents within their walk but count in no unit",
    ]


def test_per_community_figures_by_hand(run):
    _, _, ind = run
    c = ind.units["community"].set_index("unit_id")
    # households, residents, elderly summed over the residences inside
    assert c["households"].to_dict() == {"C1": 350.0, "C2": 150.0, "C3": 300.0, "C4": 0.0}
    assert c["population"].to_dict() == {"C1": 880.0, "C2": 400.0, "C3": 800.0, "C4": 0.0}
    assert c.loc["C1", "elderly"] == 100.0 and c.loc["C2", "elderly"] == 50.0
    assert c["parent_id"].to_dict() == {"C1": "S1", "C2": "S1", "C3": "S2", "C4": "S2"}
    # elderly walk 500 m: E1 reaches R1 (230 m), R2 (130), R3 (430); E3 reaches R4 (310); E2 reaches R5 (130).
    # 5 min = 250 m: R1, R2 and R5 only -> C1 300/350
    assert c.loc["C1", "share_within_10min_elderly_day_care"] == pytest.approx(1.0)
    assert c.loc["C1", "share_within_5min_elderly_day_care"] == pytest.approx(300 / 350)
    assert c.loc["C2", "share_within_5min_elderly_day_care"] == 0.0
    # nursery walk 600 m from N1 (x=1100): R3 430 m, R4 130 m; nothing else
    assert c.loc["C1", "share_within_10min_nursery"] == pytest.approx(50 / 350)
    assert c.loc["C1", "households_outside_walk_nursery"] == 300.0
    # facilities inside; reach: best single facility's share of the unit's households
    assert c["facilities_inside_elderly_day_care"].to_dict() == {"C1": 1, "C2": 0, "C3": 1, "C4": 0}
    assert c["has_elderly_day_care_reach"].to_dict() == {"C1": True, "C2": True, "C3": True, "C4": False}  # C2 via E3
    assert c.loc["C1", "best_reach_share_nursery"] == pytest.approx(50 / 350)  # < 0.5: no reach
    # m² per 100 households: C1 has 80 m² for 350 households; needs 100×20% + 200×15% + 50×15% = 57.5 m²
    assert c.loc["C1", "m2_per_100_households"] == pytest.approx(80 / 350 * 100)
    assert c.loc["C1", "standard_m2_per_100_households"] == pytest.approx(57.5 / 350 * 100)
    assert c.loc["C1", "provision_verdict_elderly_day_care"] == "pass" and c.loc["C1", "shortfall_m2"] == 0.0
    assert c.loc["C2", "shortfall_m2"] == pytest.approx(150 * 15 / 100)  # nothing inside (E3 is outside)
    assert c.loc["C2", "provision_verdict_elderly_day_care"] == "fail"
    # seats per 1,000: C2 has N1's 30 seats for 400 residents (75 per 1,000) against 8; C1 needs 2.6 + 4.0 + 0.96
    assert c.loc["C2", "seats_per_1000_residents"] == pytest.approx(75.0)
    assert c.loc["C1", "shortfall_seats"] == pytest.approx(7.56)
    assert c.loc["C3", "shortfall_seats"] == pytest.approx(8.0)
    assert c.loc["C4", "provision_verdict_nursery"] == "no residents"
    # beds: C1 10 beds for 100 elderly; C3 50 beds (30 nursing) for 50 elderly
    assert c.loc["C1", "beds_per_1000_elderly"] == pytest.approx(100.0)
    assert c.loc["C3", "nursing_bed_share"] == pytest.approx(0.6)
    # verdicts per unit: day care 'inside' (C2 only reached from outside), childcare 'inside_or_reach'
    assert c["verdict_community_day_care_coverage"].to_dict() == {"C1": "pass", "C2": "fail", "C3": "pass", "C4": "no residents"}
    assert c["verdict_community_childcare_coverage"].to_dict() == {"C1": "fail", "C2": "pass", "C3": "fail", "C4": "no residents"}
    # households summed over the units equal the total (C4 empty, nobody outside)
    assert c["households"].sum() == residences()["households"].sum()
    s = ind.units["street"].set_index("unit_id")
    assert s["households"].sum() == residences()["households"].sum()
    assert s["has_street_centre"].to_dict() == {"S1": False, "S2": True}  # E2 1,200 m² ≥ 1,000 in S2


def test_indicator_table_by_hand(run):
    _, _, ind = run
    t = ind.table.set_index(["indicator", "scope"])
    city = "全市 city"

    def row(key, scope=city):
        return t.loc[(key, scope)]

    assert row("household_share_elderly_day_care")["value"] == pytest.approx(1.0)  # everyone within 500 m of one
    assert row("household_share_nursery")["value"] == pytest.approx(200 / 800)  # R3 + R4
    day = row("community_day_care_coverage")
    assert (day["value"], day["numerator"], day["denominator"]) == (pytest.approx(2 / 3), 2.0, 3.0)  # C4 not counted
    assert day["value_inside"] == pytest.approx(2 / 3) and day["value_reach"] == pytest.approx(1.0)
    assert day["target"] == 0.9 and day["verdict"] == "fail" and day["figure"] == "community_day_care_coverage_target"
    assert row("community_childcare_coverage")["value"] == pytest.approx(1 / 3)
    assert row("community_day_care_coverage", "街道/乡镇 S1")["value"] == pytest.approx(0.5)
    assert row("community_day_care_coverage", "街道/乡镇 S2")["value"] == pytest.approx(1.0)
    assert row("community_childcare_coverage", "街道/乡镇 S2")["value"] == 0.0
    assert row("street_centre_coverage")["value"] == pytest.approx(0.5)
    # new residences R1 and R5 are served in full within the walk (E1 80 m² ≥ 57.5 needed; E2 ≥ 60)
    assert row("new_residential_compliance")["value"] == pytest.approx(1.0)
    assert row("provision_elderly_day_care")["value"] == pytest.approx(1680 / 800 * 100)
    assert row("provision_elderly_day_care")["target"] == pytest.approx(140 / 800 * 100)
    assert row("provision_nursery")["value"] == pytest.approx(30 / 2080 * 1000)
    assert row("size_community_station")["value"] == pytest.approx(0.5)  # E1 80 m² < 350, E3 400 m²
    assert row("size_street_centre")["value"] == pytest.approx(1.0)
    assert row("beds_per_1000_elderly")["value"] == pytest.approx(60 / 200 * 1000)
    nursing = row("nursing_bed_share")
    assert nursing["value"] == pytest.approx(0.5) and nursing["verdict"] == "fail" and nursing["target"] == 0.55
    assert set(t["target_year"]) == {2025}


def test_ledger_by_hand(run):
    _, _, ind = run
    led = ind.ledger
    keys = sorted(zip(led["unit_id"], led["indicator"]))
    assert keys == sorted([("C2", "community_day_care_coverage"), ("C1", "community_childcare_coverage"),
                           ("C3", "community_childcare_coverage"), ("S1", "street_centre_coverage"),
                           ("C2", "provision_elderly_day_care"), ("C1", "provision_nursery"), ("C3", "provision_nursery"),
                           ("C1", "size_community_station")])
    by = led.set_index(["unit_id", "indicator"])
    assert by.loc[("S1", "street_centre_coverage"), "shortfall_m2"] == 1000.0
    assert by.loc[("C1", "size_community_station"), "shortfall_m2"] == 270.0
    assert by.loc[("C1", "size_community_station"), "facility_id"] == "E1"
    c1 = by.loc[("C1", "community_childcare_coverage")]
    assert c1["shortfall_seats"] == pytest.approx(7.56) and c1["households_outside_walk"] == 300.0
    # K2 (x=200) brings R1 (130 m) and R2 (230 m) within the nursery walk: 300 households, inside C1
    assert (c1["best_candidate"], bool(c1["best_candidate_inside"]), c1["best_candidate_households_gained"]) == ("K2", True, 300.0)
    assert c1["action"] == "增设托育机构（缺口8个托位）；建议候选点 K2（新增步行圈内300户）"
    assert by.loc[("C1", "size_community_station"), "action"] == "扩建或置换E1至不小于350 m²（缺270 m²）"
    assert by.loc[("S1", "street_centre_coverage"), "action"].startswith("建设街道综合养老服务中心（不小于1000 m²）")
    # K1 lies on the C2|C3 boundary, so in C2; it brings R5 (430 m) within the walk of C3
    c3 = by.loc[("C3", "community_childcare_coverage")]
    assert (c3["best_candidate"], bool(c3["best_candidate_inside"]), c3["best_candidate_households_gained"]) == ("K1", False, 300.0)
    assert c3["action"] == "增设托育机构（缺口8个托位）；建议候选点 K1（单元外，新增步行圈内300户）"
    # C2 has everyone covered already: the tie goes to the candidate inside it (K1, by the boundary rule)
    c2 = by.loc[("C2", "community_day_care_coverage")]
    assert (c2["best_candidate"], bool(c2["best_candidate_inside"]), c2["households_outside_walk"]) == ("K1", True, 0.0)


def test_workbook_cells_read_back(run, tmp_path):
    from openpyxl import load_workbook

    _, _, ind = run
    paths = write_indicator_outputs(tmp_path, ind, write_csv=write_csv, write_json=write_json)
    book = load_workbook(paths["indicators_xlsx"])
    assert book.sheetnames == ["指标表", "指标表（分单元）", "社区", "街道", "问题台账"]
    ws = book["指标表"]
    headers = [c.value for c in ws[1]]
    assert headers[:8] == ["指标名称", "范围", "定义", "目标值", "目标年份", "单位", "现状值", "现状值（单元内设施口径）"]
    rows = {r[0]: dict(zip(headers, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    day = rows["社区日间照料机构覆盖率"]
    assert day["现状值"] == pytest.approx(66.67) and day["目标值"] == 90 and day["判定"] == "fail"
    assert day["单位"] == "%" and day["配置项"] == "community_day_care_coverage_target"
    assert rows["每百户养老服务设施建筑面积"]["现状值"] == pytest.approx(210.0)
    assert ws.freeze_panes == "A2"
    assert ws.cell(row=2, column=headers.index("现状值") + 1).number_format == "#,##0.00"
    ws = book["社区"]
    headers = [c.value for c in ws[1]]
    c1 = dict(zip(headers, next(ws.iter_rows(min_row=2, values_only=True))))
    assert c1["单元编号"] == "C1" and c1["户数（户）"] == 350 and c1["上级单元编号"] == "S1"
    assert c1["每百户建筑面积（m²/百户）"] == pytest.approx(80 / 350 * 100)
    assert c1["社区日间照料判定"] == "达标" and c1["社区托育判定"] == "未达标"
    cell = ws.cell(row=2, column=headers.index("10分钟内户数比例·养老（%）") + 1)
    assert cell.value == pytest.approx(1.0) and cell.number_format == "0.0%"
    ws = book["问题台账"]
    headers = [c.value for c in ws[1]]
    ledger = [dict(zip(headers, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(ledger) == 8
    street = next(r for r in ledger if r["单元编号"] == "S1")
    assert street["层级"] == "街道/乡镇" and street["面积缺口（m²）"] == 1000 and street["建议候选点"] == "K2"
    # the CSV and JSON carry the same rows
    assert len(pd.read_csv(paths["ledger"])) == 8
    data = json.loads(Path(paths["indicators_json"]).read_text(encoding="utf-8"))
    assert len(data["indicators"]) == len(ind.table) and data["ledger"][0]["unit_id"]


def test_residences_column_names_the_unit(net, profile):
    """Without polygons, a residences column (所属社区) names the unit; facilities then count only by reach."""
    res = residences().assign(unit_community=["A", "A", "B", None, "B"])
    stage = apply_units([], res, facilities(), residences_source="res.csv")
    assert stage.levels == ["community"] and not stage.layers[0].has_geometry
    assert stage.facilities["unit_community"].tolist() == [None] * 4  # no boundaries: facilities are in no unit
    assert stage.warnings[0] == ("warning: res.csv: 1 residences lie outside every 社区 community unit of res.csv: R4. "
                                 "They count in the city-wide figures but in no unit; extend the unit layer if they "
                                 "belong to the plan area")
    result = analyse_coverage(net, stage.residences, stage.facilities, profile, polygons=False)
    c = build_indicators(result, stage, profile).units["community"].set_index("unit_id")
    assert c["households"].to_dict() == {"A": 300.0, "B": 350.0}
    # B = R3 + R5: E2 reaches R5 (300 of 350 households), E1 reaches R3 (50)
    assert c.loc["B", "best_reach_share_elderly_day_care"] == pytest.approx(300 / 350)


def test_facility_level_from_level_column_and_labels():
    frame = pd.DataFrame({"kind": ["elderly_day_care"] * 5 + ["nursery"],
                          "level": ["街道", "", "", "community_station", "", ""],
                          "type_label": ["", "小区养老服务用房", "社区日间照料中心", "街道综合养老服务中心", "", "托育"],
                          "name": ["", "", "", "", "乡镇养老服务中心", ""]})
    assert facility_levels(frame).tolist() == ["street_centre", "xiaoqu_room", "community_station",
                                               "community_station", "street_centre", "nursery"]


# ------------------------------------------------------------------------------------------- errors, word for word

def _layer(tmp_path, geoms, ids=("A", "B"), parents=None, name="社区.geojson"):
    rows = [{"代码": i, **({"上级": p} if parents else {})} for i, p in zip(ids, parents or [None] * len(ids))]
    return write_geojson(tmp_path / name, rows, list(geoms))


def _read(path, level="community"):
    return units_from_frame(read_table(path), level=level, source=path.name, columns={"id": "代码"})


def test_overlapping_units_are_an_error(tmp_path):
    path = _layer(tmp_path, [box(0, 0, 0.002, 0.001), box(0.001, 0, 0.003, 0.001)])
    with pytest.raises(InputError) as err:
        _read(path)
    assert str(err.value).startswith("社区.geojson, row 3, column 'geometry': units 'A' and 'B' overlap by ")
    # the overlap is the box 0.001° × 0.001° at the equator; its geodesic area, computed another way
    area = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(box(0.001, 0, 0.002, 0.001))[0])
    stated = float(str(err.value).split("overlap by ")[1].split(" m²")[0].replace(",", ""))
    assert stated == pytest.approx(area, rel=5e-3)  # measured in UTM: its scale error near the zone edge is < 0.5 %
    assert str(err.value).endswith(" m². Expected 社区 community units that do not overlap (a shared boundary is fine). "
                                   "Fix: correct the boundaries so that every place lies in one unit (QGIS: Vector > "
                                   "Geometry Tools > Check Validity, or the Topology Checker), and reload")


def test_shared_boundary_is_not_an_overlap(tmp_path):
    layer = _read(_layer(tmp_path, [box(120, 30, 120.01, 30.01), box(120.01, 30, 120.02, 30.01)]))
    assert layer.units["unit_id"].tolist() == ["A", "B"]


def test_invalid_polygon_is_an_error(tmp_path):
    bowtie = Polygon([(120, 30), (120.01, 30.01), (120.01, 30), (120, 30.01), (120, 30)])
    path = _layer(tmp_path, [box(120.02, 30, 120.03, 30.01), bowtie])
    with pytest.raises(InputError) as err:
        _read(path)
    assert str(err.value) == ("社区.geojson, row 3, column 'geometry': unit 'B' has an invalid polygon (Self-intersection"
                              "[120.005 30.005]). Expected a polygon whose outline does not cross itself. Fix: repair it in "
                              "QGIS (Vector > Geometry Tools > Fix Geometries) or with ST_MakeValid, and reload")


def test_point_unit_is_an_error(tmp_path):
    path = _layer(tmp_path, [box(120, 30, 120.01, 30.01), Point(120.02, 30.0)])
    with pytest.raises(InputError) as err:
        _read(path)
    assert str(err.value) == ("社区.geojson, row 3, column 'geometry': unit 'B' is a Point, not a polygon. Expected "
                              "Polygon or MultiPolygon unit boundaries. Fix: export the unit areas (面), not their "
                              "centroids or outlines, or delete the row")


def test_unknown_parent_is_an_error(tmp_path):
    from siting.measures.units import check_parents

    streets = _read(_layer(tmp_path, [box(120, 30, 120.02, 30.01)], ids=("S1",), name="街道.geojson"), level="street")
    path = _layer(tmp_path, [box(120, 30, 120.01, 30.01), box(120.01, 30, 120.02, 30.01)], parents=["S1", "S9"])
    communities = units_from_frame(read_table(path), level="community", source=path.name, columns={"id": "代码", "parent": "上级"})
    with pytest.raises(InputError) as err:
        check_parents([streets, communities])
    assert str(err.value) == ("社区.geojson, row 3, column '上级': unit 'B' names parent 'S9', which is not a 街道/乡镇 in "
                              "街道.geojson. Expected the id of a 街道/乡镇 street unit. Fix: correct the parent id, or leave "
                              "it blank to have the parent found by location")


def test_duplicate_unit_id_is_an_error(tmp_path):
    path = _layer(tmp_path, [box(120, 30, 120.01, 30.01), box(120.01, 30, 120.02, 30.01)], ids=("A", "A"))
    with pytest.raises(InputError) as err:
        _read(path)
    assert str(err.value) == ("社区.geojson, row 3, column '代码': id 'A' appears twice, in rows 2 and 3. Expected "
                              "unique ids. Fix: give one of the two rows another id")


def _project(tmp_path, units_toml: str):
    import tomllib

    text = f'[network]\npath = "n.osm.pbf"\n[residences]\npath = "r.csv"\n{units_toml}'
    return parse_project(tomllib.loads(text), path=tmp_path / "project.toml")


def test_missing_and_unknown_level(tmp_path):
    with pytest.raises(ConfigError) as err:
        read_unit_layers(_project(tmp_path, '[[units]]\npath = "社区.geojson"\n'))
    assert str(err.value) == (f"{tmp_path / 'project.toml'}, column 'units[1].level': a [[units]] block has no level. "
                              "Expected one of 小区 (xiaoqu), 社区 (community), 行政村/建制村 (village), 街道/乡镇 (street), "
                              "区/县 (district). Fix: add level = \"社区\" (or another level) to the block")
    with pytest.raises(ConfigError) as err:
        read_unit_layers(_project(tmp_path, '[[units]]\npath = "社区.geojson"\nlevel = "片区"\n'))
    assert str(err.value) == (f"{tmp_path / 'project.toml'}, column 'units[1].level': unknown unit level '片区'. "
                              "Expected one of 小区 (xiaoqu), 社区 (community), 行政村/建制村 (village), 街道/乡镇 (street), "
                              "区/县 (district). Fix: write one of those levels (Chinese or English)")
    with pytest.raises(ConfigError) as err:
        _project(tmp_path, '[[units]]\npath = "社区.geojson"\nlevle = "社区"\n')
    assert str(err.value) == (f"{tmp_path / 'project.toml'}: unknown key 'levle' (did you mean 'level'?) in [units]. "
                              "Expected one of admin_level, columns, coords, crs, encoding, header_row, layer, level, path, sheet, source, table. "
                              "Fix: correct the spelling or remove the key")


def test_level_aliases():
    assert [canonical_level(t) for t in ("社区", "Community", "subdistrict", "乡镇", "township", "建制村",
                                         "administrative_village", "neighbourhood", "county", "区/县")] == [
        "community", "community", "street", "street", "street", "village", "village", "xiaoqu", "district", "district"]


def test_block_without_path_needs_a_residences_column(tmp_path):
    project = _project(tmp_path, '[[units]]\nlevel = "街道"\n')
    layers = read_unit_layers(project)
    with pytest.raises(ConfigError) as err:
        apply_units(layers, residences(), facilities())
    assert str(err.value) == (f"{tmp_path / 'project.toml'}, column 'units.street': the 街道/乡镇 street block names no "
                              "file and the residences have no column naming their 街道/乡镇. Expected path = the unit "
                              "boundaries, or a residences column named one of (unit_street, 所属街道, 街道, 所属乡镇, "
                              "乡镇, 所属街道(乡镇), 街道(乡镇)). Fix: give the block a path, or add the column to the "
                              "residences (or map it: columns = { street = \"…\" } under [residences])")


def test_sample_run_writes_the_indicator_files_and_figures_agree_with_residences_csv(tmp_path):
    """`siting demo` on the sample with its invented 社区/街道: the files exist and the figures agree with a recount
    from residences.csv and the unit GeoJSON (point in polygon done again here with shapely)."""
    from openpyxl import load_workbook
    from shapely import contains_xy, intersects_xy

    from siting.pipeline import run_coverage

    copy_sample_project(tmp_path, "p.toml")
    run_coverage(tmp_path / "p.toml")
    out = tmp_path / "out"
    for name in ("units_community.csv", "units_street.csv", "indicators.csv", "indicators.json", "ledger.csv",
                 "indicators.xlsx", "summary.json", "map.html"):
        assert (out / name).is_file(), name
    res = pd.read_csv(out / "residences.csv")
    communities = gpd.read_file(tmp_path / "example_communities.geojson")
    units = pd.read_csv(out / "units_community.csv").set_index("unit_id")
    walk = load_profile("chifeng").value("walk_minutes")
    for code, poly in zip(communities["社区代码"], communities.geometry):
        inside = intersects_xy(poly, res["lon"], res["lat"])  # the sample's blocks share edges only on meridians/parallels
        assert units.loc[code, "households"] == pytest.approx(res.loc[inside, "households"].sum())
        covered = res["walk_min_elderly_day_care"].fillna(np.inf) <= walk
        assert units.loc[code, f"share_within_{walk:g}min_elderly_day_care"] == pytest.approx(
            res.loc[inside & covered, "households"].sum() / res.loc[inside, "households"].sum())
    assert units["households"].sum() == pytest.approx(res["households"].sum())
    # the city-wide unit count: 社区 with a day-care facility inside (rule 'inside' in chifeng, inherited)
    fac = pd.read_csv(out / "facilities.csv")
    elderly = fac[fac["kind"] == "elderly_day_care"]
    with_day_care = sum(bool(contains_xy(poly, elderly["lon"], elderly["lat"]).any()) for poly in communities.geometry)
    table = pd.read_csv(out / "indicators.csv")
    day = table[(table["indicator"] == "community_day_care_coverage") & (table["scope_level"] == "city")].iloc[0]
    assert day["value"] == pytest.approx(with_day_care / len(communities)) and day["target"] == 0.9
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {i["indicator"] for i in summary["units"]["indicators"]} >= {"community_day_care_coverage", "street_centre_coverage"}
    check = summary["kinds"]["elderly_day_care"]["verdicts"][0]["check"]
    assert check.startswith("share of households within the 15-minute walk (a household share")
    book = load_workbook(out / "indicators.xlsx")
    assert book.sheetnames == ["指标表", "指标表（分单元）", "社区", "街道", "问题台账"]
    assert book["问题台账"].max_row - 1 == len(pd.read_csv(out / "ledger.csv"))
    html = (out / "map.html").read_text(encoding="utf-8")
    assert json.dumps("单元 Units · 社区 · 社区日间照料机构覆盖率")[1:-1] in html and "siting-unit-legend" in html


def test_xiaoqu_compliance_and_village_coverage_by_hand(net, profile, unit_files):
    """小区 X1 (new, around R1) has no facility of its own: it fails the 配套 standard (20 m² needed); X2 (new, around R5)
    holds E2's 1,200 m² for 60 m² needed: 达标率 1/2. 行政村 V1 holds E2, V2 (R4) has no elderly facility inside
    (E3 lies outside it): village coverage 1/2 against 0.85."""
    xiaoqu = gpd.GeoDataFrame({"编号": ["X1", "X2"], "类型": ["新建", "新建"]},
                              geometry=[unit_box(0, 250), unit_box(1600, 2000)], crs="EPSG:4326")
    villages = gpd.GeoDataFrame({"编号": ["V1", "V2"]}, geometry=[unit_box(1400, 2100), unit_box(700, 1400)], crs="EPSG:4326")
    layers = unit_layers(unit_files) + [
        units_from_frame(xiaoqu, level=canonical_level("小区"), source="小区.gpkg", columns={"id": "编号", "area_type": "类型"}),
        units_from_frame(villages, level=canonical_level("建制村"), source="村.gpkg", columns={"id": "编号"})]
    stage = apply_units(layers, residences(), facilities())
    assert stage.levels == ["xiaoqu", "community", "village", "street"]
    result = analyse_coverage(net, stage.residences, stage.facilities, profile, polygons=False)
    ind = build_indicators(result, stage, profile.with_overrides(village_elderly_care_coverage_target=0.85))
    x = ind.units["xiaoqu"].set_index("unit_id")
    assert x["parent_id"].to_dict() == {"X1": "C1", "X2": "C3"}  # found by location (no parent column)
    assert x.loc["X1", "required_elderly_day_care"] == pytest.approx(20.0) and x.loc["X1", "shortfall_m2"] == 20.0
    t = ind.table.set_index(["indicator", "scope"])
    comp = t.loc[("new_residential_compliance", "全市 city")]
    assert (comp["value"], comp["numerator"], comp["denominator"]) == (0.5, 1.0, 2.0)
    village = t.loc[("village_elderly_care_coverage", "全市 city")]
    assert (village["value"], village["target"], village["verdict"]) == (0.5, 0.85, "fail")
    led = ind.ledger.set_index(["unit_id", "indicator"])
    assert ("V2", "village_elderly_care_coverage") in led.index
    # the provision rows of the ledger are for the smallest level given (小区 here), not repeated for each level
    assert set(led.xs("provision_elderly_day_care", level="indicator").index) == {"X1"}


def test_bad_rule_in_a_profile_is_named(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('inherits = "national"\n[figures.community_day_care_rule]\nvalue = "nearby"\nunit = "rule"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert str(err.value) == f"{path}: figure 'community_day_care_rule' is 'nearby'. Expected one of inside, reach, inside_or_reach"


def test_scenarios_run_the_units_stage_and_map_the_units(tmp_path):
    """A what-if that closes E2 (in 社区 C05) and opens E101 (in C01): the scenario's unit table flips both verdicts,
    its map carries the unit layers, and its indicator table is copied next to the comparison."""
    from siting.scenario import run_scenarios

    repo = Path(__file__).resolve().parents[1]
    copy_sample_project(tmp_path)
    (tmp_path / "base.toml").write_text('[scenario]\nname = "base"\nbase = "project.toml"\n', encoding="utf-8")
    edit = (repo / "examples" / "open_two_stations.toml").read_text(encoding="utf-8")
    (tmp_path / "edit.toml").write_text(edit.replace('inherits = "baseline.toml"', 'inherits = "base.toml"'), encoding="utf-8")
    results, paths = run_scenarios([tmp_path / "base.toml", tmp_path / "edit.toml"], output=tmp_path / "whatif")
    verdicts = [r.unit_tables["community"].set_index("unit_id")["verdict_community_day_care_coverage"] for r in results]
    assert (verdicts[0]["C01"], verdicts[1]["C01"]) == ("fail", "pass")
    assert (verdicts[0]["C05"], verdicts[1]["C05"]) == ("pass", "fail")
    assert sorted(layer.level for layer in results[1].unit_layers) == ["community", "street"]
    folder = next(p for p in (tmp_path / "whatif" / "scenarios").iterdir() if "Open" in p.name)
    html = (folder / "coverage_map.html").read_text(encoding="utf-8")
    assert json.dumps("单元 Units · 社区 · 社区日间照料机构覆盖率")[1:-1] in html
    table = pd.read_csv(folder / "indicators.csv")
    assert "community_day_care_coverage" in set(table["indicator"])
    # the per-unit change (unit_changes.csv) against each scenario's own unit tables, copied next to the comparison
    changes = read_unit_changes(tmp_path / "whatif" / "unit_changes.csv")
    flips = assert_unit_changes_equal_the_unit_tables(changes, tmp_path / "whatif", [r.name for r in results])
    edit = results[1].name
    assert {("C01", "community_day_care_coverage"): "fail → pass", ("C05", "community_day_care_coverage"): "pass → fail"}.items() \
        <= flips[edit].items()
    c01 = changes.set_index(["scenario", "unit_id", "indicator"]).loc[(edit, "C01", "community_day_care_coverage")]
    assert (c01["measure"], c01["base_value"], c01["value"]) == ("facilities_inside_elderly_day_care", 0.0, 1.0)  # E101
    html = (tmp_path / "whatif" / "comparison.html").read_text(encoding="utf-8")
    assert html.count("<tr>", html.index('<table id="unit_flips"')) - html.count("<tr>", html.index("</table>", html.index('<table id="unit_flips"'))) \
        == 1 + len(flips[edit])  # header and one row per flip
    assert 'id="unit_passing"' in html


def read_unit_changes(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"unit_id": str, "parent_id": str})


def assert_unit_changes_equal_the_unit_tables(changes: pd.DataFrame, folder: Path, names: list[str]) -> dict:
    """Every row of unit_changes.csv against units_<level>.csv of its scenario (and of the first scenario), as the
    comparison copies them into scenarios/<name>/: the measure's value and the verdict column. Returns {scenario:
    {(unit_id, indicator): change}} of the rows that change verdict."""
    folders = {name: next(p for p in (folder / "scenarios").iterdir() if p.name == re.sub(r"[^\w\-]+", "_", name).strip("_"))
               for name in names}
    tables = {(name, level): pd.read_csv(f / f"units_{level}.csv", encoding="utf-8-sig", dtype={"unit_id": str}).set_index("unit_id")
              for name, f in folders.items() for level in ("community", "street")}
    verdict = {"provision_elderly_day_care": "provision_verdict_elderly_day_care", "provision_nursery": "provision_verdict_nursery"}
    flips: dict = {name: {} for name in names}
    assert len(changes) == len(names) * len(changes[changes["scenario"] == names[0]])
    for row in changes.itertuples(index=False):
        own, first = tables[(row.scenario, row.level)].loc[row.unit_id], tables[(names[0], row.level)].loc[row.unit_id]
        column = verdict.get(row.indicator, f"verdict_{row.indicator}")
        assert (row.verdict, row.base_verdict) == (own[column], first[column])
        expected = [np.nan_to_num(t[row.measure]) if row.measure == "largest_centre_m2" else t[row.measure] for t in (own, first)]
        assert [row.value, row.base_value] == pytest.approx(expected, nan_ok=True)
        if row.scenario == names[0]:
            assert row.change == "baseline"
        elif own[column] != first[column]:
            assert row.change == f"{first[column]} → {own[column]}"
            flips[row.scenario][(row.unit_id, row.indicator)] = row.change
        else:
            assert row.change == "unchanged"
    return flips


def test_a_station_added_in_a_failing_community_flips_its_verdict_alone(tmp_path):
    """社区 C04 (松园) has no day-care facility inside, so it fails 社区日间照料机构覆盖率 (rule 'inside'). A scenario that
    adds one station at a building of C04 flips that verdict and no other: its 400 m² stay below C04's 559.4 m²
    requirement (2,797 households × 20 m² per 100), and the 街道 S02 stays short too (530 + 400 < 1,685.8 m²)."""
    from siting.scenario import run_scenarios

    copy_sample_project(tmp_path)
    (tmp_path / "base.toml").write_text('[scenario]\nname = "base"\nbase = "project.toml"\n', encoding="utf-8")
    (tmp_path / "c04.toml").write_text(
        '[scenario]\nname = "C04 station"\ninherits = "base.toml"\n\n[[add_facilities]]\nid = "E104"\n'
        'name = "社区日间照料站 New station C04"\nkind = "elderly_day_care"\nfloor_area_m2 = 400\nlon = 26.9596\nlat = 60.5336\n',
        encoding="utf-8")
    results, paths = run_scenarios([tmp_path / "base.toml", tmp_path / "c04.toml"], output=tmp_path / "whatif")
    changes = read_unit_changes(paths["unit_changes_csv"])
    flips = assert_unit_changes_equal_the_unit_tables(changes, tmp_path / "whatif", ["base", "C04 station"])
    assert flips == {"base": {}, "C04 station": {("C04", "community_day_care_coverage"): "fail → pass"}}
    c04 = changes.set_index(["scenario", "unit_id", "indicator"]).loc[("C04 station", "C04", "provision_elderly_day_care")]
    assert (c04["base_value"], c04["value"], c04["verdict"]) == (0.0, pytest.approx(400 / 2797 * 100), "fail")
    html = (tmp_path / "whatif" / "comparison.html").read_text(encoding="utf-8")
    assert "C04 station: 1 项转为达标 unit verdict(s) fail → pass, 0 项转为不达标 pass → fail" in html


def test_unit_layer_from_postgis(tmp_path, unit_files):
    """The 社区 layer read from a PostGIS table gives the same units and assignment as the GeoJSON file."""
    import os

    from siting.inputs.postgis import write_postgis_tables

    url = os.environ.get("SITING_TEST_POSTGIS_URL")
    if not url:
        pytest.skip("no PostGIS server: set SITING_TEST_POSTGIS_URL, .ci/run starts one")
    communities, streets = unit_files
    write_postgis_tables(url, {"units_test_communities": gpd.read_file(communities)}, schema="siting_units_test")
    project = _project(tmp_path, f'[[units]]\npath = "{url}"\ntable = "siting_units_test.units_test_communities"\n'
                                 f'level = "社区"\ncolumns = {{ id = "社区代码", name = "社区名称", parent = "所属街道代码" }}\n'
                                 f'[[units]]\npath = "{streets}"\nlevel = "街道"\ncolumns = {{ id = "街道代码" }}\n')
    layers = read_unit_layers(project)
    assert [layer.level for layer in layers] == ["community", "street"]
    assert layers[0].units["unit_id"].tolist() == ["C1", "C2", "C3", "C4"] and "***" in layers[0].source
    stage = apply_units(layers, residences(), facilities())
    assert stage.residences["unit_community"].tolist() == ["C1", "C1", "C1", "C2", "C3"]


def test_unit_layer_from_a_frame_in_memory(tmp_path, unit_files):
    """A block holding a layer already read (the QGIS plugin's: `frame` and `label`, in another CRS, id renamed)
    gives the units of the file, and its errors name the label where a file's name the file."""
    communities, streets = unit_files
    frame = gpd.read_file(communities).rename(columns={"社区代码": "COMM_NO"}).to_crs("EPSG:3857")
    project = _project(tmp_path, f'[[units]]\npath = "{streets}"\nlevel = "街道"\ncolumns = {{ id = "街道代码" }}\n')
    project.units.append({"frame": frame, "label": "社区层", "level": "社区",
                          "columns": {"id": "COMM_NO", "name": "社区名称", "parent": "所属街道代码"}})
    streets_layer, layer = read_unit_layers(project)
    from_file = units_from_frame(read_table(communities), level="community", source=communities.name,
                                 columns={"id": "社区代码", "name": "社区名称", "parent": "所属街道代码"})
    assert (layer.level, layer.source) == ("community", "社区层")
    for column in ("unit_id", "name", "parent_id"):
        assert layer.units[column].tolist() == from_file.units[column].tolist()
    import shapely

    moved = shapely.area(shapely.symmetric_difference(layer.units.geometry.values, from_file.units.geometry.values))
    assert (moved < 1e-9 * shapely.area(from_file.units.geometry.values)).all()  # back from Web Mercator, unmoved
    stage = apply_units([streets_layer, layer], residences(), facilities())
    assert stage.residences["unit_community"].tolist() == ["C1", "C1", "C1", "C2", "C3"]
    project.units[1]["frame"] = frame.assign(geometry=frame.representative_point())
    with pytest.raises(InputError) as err:
        read_unit_layers(project)
    assert str(err.value).startswith("社区层, row 2, column 'geometry': unit 'C1' is a Point, not a polygon.")


def test_cli_prints_the_city_wide_indicators(tmp_path):
    from click.testing import CliRunner

    from siting.cli import main

    project = copy_sample_project(tmp_path)
    result = CliRunner().invoke(main, ["run", str(project)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "indicators.csv")
    day = table[(table["indicator"] == "community_day_care_coverage") & (table["scope_level"] == "city")].iloc[0]
    assert f"    社区日间照料机构覆盖率: {day['value']:.1%} (target 90%, 2025) {day['verdict']}\n" in result.output
    assert f"问题台账 ledger: {len(pd.read_csv(tmp_path / 'out' / 'ledger.csv'))} rows" in result.output


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "units"


def test_units_from_osm_administrative_boundaries(tmp_path):
    """tests/fixtures/units/admin_boundaries.osm (hand-written): two 街道 at admin_level 8 sharing the meridian 120.01
    and their 区 at admin_level 6. The polygons are the hand-drawn squares; a point on the shared meridian goes to
    the lowest id (relation/101)."""
    import shutil

    shutil.copy(FIXTURES / "admin_boundaries.osm", tmp_path / "admin.osm")
    project = _project(tmp_path, '[[units]]\nsource = "osm"\npath = "admin.osm"\nlevel = "街道"\nadmin_level = 8\n'
                                 '[[units]]\nsource = "osm"\npath = "admin.osm"\nlevel = "区"\nadmin_level = 6\n')
    streets, districts = read_unit_layers(project)
    assert streets.units["unit_id"].tolist() == ["relation/101", "relation/102"]
    assert streets.units["name"].tolist() == ["甲街道", "乙街道"]
    assert streets.units.geometry.iat[0].equals(box(120.0, 30.0, 120.01, 30.01))
    assert streets.units.geometry.iat[1].equals(box(120.01, 30.0, 120.02, 30.01))
    assert districts.units.geometry.iat[0].equals(box(120.0, 30.0, 120.02, 30.01))
    pts = gpd.GeoDataFrame({"res_id": ["a", "b", "c"]},
                           geometry=[Point(120.005, 30.005), Point(120.01, 30.005), Point(120.015, 30.009)], crs="EPSG:4326")
    from siting.measures.units import assign_units

    placed, outside = assign_units(pts, [streets, districts])
    assert placed["unit_street"].tolist() == ["relation/101", "relation/101", "relation/102"]
    assert placed["unit_district"].tolist() == ["relation/103"] * 3 and outside == {"street": [], "district": []}
    with pytest.raises(ConfigError) as err:
        read_unit_layers(_project(tmp_path, '[[units]]\nsource = "osm"\npath = "admin.osm"\nlevel = "社区"\n'))
    assert str(err.value) == (f"{tmp_path / 'project.toml'}, column 'units[1].admin_level': [[units]] block 1 reads OSM "
                              "boundaries but names no admin_level. Expected admin_level = 8 (街道/乡镇 in most Chinese "
                              "extracts; 6 区/县, 9–10 社区/村). Fix: add the admin_level of the boundaries to use")
    with pytest.raises(InputError) as err:
        read_unit_layers(_project(tmp_path, '[[units]]\nsource = "osm"\npath = "admin.osm"\nlevel = "社区"\nadmin_level = 10\n'))
    assert str(err.value) == (f"{tmp_path / 'admin.osm'}: no boundary=administrative areas of admin_level 10. Expected "
                              "closed ways or boundary relations for the 社区 community units. Fix: check admin_level in "
                              "the project file, or give the unit boundaries as a file")
