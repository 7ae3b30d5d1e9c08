"""四同步 check: every verdict path with hand-computed figures, shared facilities, phases delivered out of order,
profile changes, walking distances against networkx, file formats, and the report on the example data."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE
from shapely.geometry import Point, box

from siting.checks.sync import (
    check_developments,
    judge_milestone,
    parse_date,
    read_developments,
    run_check,
)
from siting.errors import InputError
from siting.inputs.profiles import load_profile
from siting.network import network_from_arrays

D = dt.date
AS_OF = D(2024, 6, 30)
REPO = Path(__file__).resolve().parents[1]
NATIONAL = load_profile("national")


# --------------------------------------------------------------------------------------------- helpers

def phase(dev, ph, hh, dates, lon=120.0, name="", pop=None, geometry=None):
    """A raw phases row with the Chinese headers a planner's workbook has."""
    return {"开发项目编号": dev, "项目名称": name or f"小区{dev}", "分期": ph, "户数": hh, "人口": pop,
            "规划批准": dates[0], "开工": dates[1], "竣工验收": dates[2], "交付": dates[3],
            "geometry": geometry if geometry is not None else Point(lon, 30.0)}


def facility(fid, dev, kind, dates, area=None, seats=None, lon=120.0, geometry="point"):
    return {"设施编号": fid, "开发项目编号": dev, "类型": kind, "名称": fid, "建筑面积": area, "托位": seats,
            "规划批准": dates[0], "开工": dates[1], "竣工验收": dates[2], "交付": dates[3],
            "geometry": Point(lon, 30.0) if geometry == "point" else geometry}


def frames(phases, facilities):
    return (gpd.GeoDataFrame(phases, geometry="geometry", crs="EPSG:4326"),
            gpd.GeoDataFrame(facilities, geometry="geometry", crs="EPSG:4326"))


def line_network(n_nodes=21, step_deg=0.001):
    """A straight street along latitude 30°, one node every `step_deg` of longitude (≈ 96 m)."""
    lon = 120.0 + step_deg * np.arange(n_nodes)
    return network_from_arrays(lon, np.full(n_nodes, 30.0), np.arange(n_nodes - 1), np.arange(1, n_nodes))


def row(result, dev, kind, check, ph=None):
    c = result.checks
    sel = c[(c["development_id"] == dev) & (c["kind"] == kind) & (c["check"] == check)]
    if ph is not None:
        sel = sel[sel["phase"] == ph]
    assert len(sel) == 1, sel
    return sel.iloc[0]


ON_TIME = (D(2020, 3, 1), D(2020, 6, 1), D(2022, 6, 1), D(2022, 9, 1))


# --------------------------------------------------------------------------------------------- dates

@pytest.mark.parametrize("cell", ["2023-05-01", "2023/5/1", "2023.5.1", "2023年5月1日", "2023-05-01 00:00:00",
                                  45047, 45047.0, dt.datetime(2023, 5, 1, 8), pd.Timestamp("2023-05-01"), D(2023, 5, 1)])
def test_parse_date_formats(cell):
    # Excel serial 45047: 1899-12-30 + 45047 days = 2023-05-01 (Excel's 1900 leap-year bug is absorbed by the epoch)
    assert parse_date(cell) == D(2023, 5, 1)


def test_parse_date_blank_and_error_names_cell():
    assert parse_date("") is None and parse_date(None) is None and parse_date(float("nan")) is None
    with pytest.raises(InputError) as err:
        parse_date("2023-13-01", file="x.xlsx", row=5, column="交付")
    assert err.value.row == 5 and err.value.column == "交付" and "2023-13-01" in str(err.value)


# --------------------------------------------------------------------------------------------- verdict rules

def test_judge_milestone_paths_with_hand_counted_days():
    # both happened: 2021-08-09 − 2021-05-01 = 30 (May) + 31 (Jun) + 31 (Jul) + 8 = 100 days
    assert judge_milestone(D(2021, 5, 1), D(2021, 8, 9), as_of=AS_OF)[:2] == ("fail", 100.0)
    assert judge_milestone(D(2021, 5, 1), D(2021, 8, 9), as_of=AS_OF, tolerance_days=100)[0] == "pass"
    assert judge_milestone(D(2021, 5, 1), D(2021, 5, 1), as_of=AS_OF)[:2] == ("pass", 0.0)
    # housing happened, facility not: late counted to as_of: 2023-12-01 → 2024-06-30 = 31+31+29+31+30+31+30 = 213 − 1
    verdict, late, note = judge_milestone(D(2023, 12, 1), None, as_of=AS_OF)
    assert (verdict, late) == ("fail", 212.0) and "as of 2024-06-30" in note
    # a facility date after as_of is a schedule: not happened yet
    assert judge_milestone(D(2023, 12, 1), D(2024, 7, 1), as_of=AS_OF)[:2] == ("fail", 212.0)
    assert judge_milestone(D(2024, 6, 20), None, as_of=AS_OF, tolerance_days=30)[0] == "not_yet_due"
    # neither happened; a late schedule is noted
    verdict, _, note = judge_milestone(D(2024, 9, 1), D(2024, 12, 31), as_of=AS_OF)
    assert verdict == "not_yet_due" and "121 days" in note  # 29 + 31 + 30 + 31 = 121
    assert judge_milestone(None, None, as_of=AS_OF)[0] == "not_yet_due"
    assert judge_milestone(D(2024, 9, 1), D(2024, 1, 1), as_of=AS_OF)[0] == "pass"  # facility ahead
    assert judge_milestone(None, D(2020, 1, 1), as_of=AS_OF, housing_gap=True)[0] == "missing_data"
    assert judge_milestone(D(2020, 1, 1), None, as_of=AS_OF, facility_gap=True)[0] == "missing_data"


# --------------------------------------------------------------------------------------------- whole developments

def test_each_check_pass_fail_and_shortfalls():
    late = (D(2020, 2, 1), D(2020, 9, 9), None, D(2024, 12, 31))  # build 100 days after 2020-06-01, never accepted
    p, f = frames(
        [phase("A", 1, 1000, ON_TIME), phase("B", 1, 1000, ON_TIME, lon=120.010)],
        # A-E: 350 m² ≥ the 200 m² needed and ≥ the (unconfirmed, now enforced) 350 m² station minimum
        [facility("A-E", "A", "日间照料", ON_TIME, area=350, lon=120.005), facility("A-N", "A", "托育", ON_TIME, seats=27, lon=120.001),
         facility("B-E", "B", "养老", late, area=150, lon=120.010), facility("B-N", "B", "托儿所", ON_TIME, seats=20, lon=120.020)])
    result = check_developments(p, f, NATIONAL, network=line_network(), as_of=AS_OF)
    for kind in ("elderly_day_care", "nursery"):
        assert set(result.checks.query("development_id == 'A' and kind == @kind")["verdict"]) == {"pass"}
    # B: 1000 hh × 20 m²/100 hh = 200 m² needed, 150 given → 50 short; 1000 × 2.62 = 2620 residents × 10/1000 = 26.2 seats
    size = row(result, "B", "elderly_day_care", "size")
    assert (size["verdict"], size["required"], size["provided"], size["shortfall"]) == ("fail", 200.0, 150.0, 50.0)
    seats = row(result, "B", "nursery", "size")
    assert seats["verdict"] == "fail" and seats["required"] == pytest.approx(26.2) and seats["shortfall"] == pytest.approx(6.2)
    assert (row(result, "B", "elderly_day_care", "build")[["verdict", "days_late"]] == ["fail", 100.0]).all()
    accept = row(result, "B", "elderly_day_care", "accept")  # housing accepted 2022-06-01: 2 years + 29 days to as_of
    assert accept["verdict"] == "fail" and accept["days_late"] == (AS_OF - D(2022, 6, 1)).days == 760
    deliver = row(result, "B", "elderly_day_care", "deliver")  # housing delivered 2022-09-01, facility only scheduled
    assert deliver["verdict"] == "fail" and deliver["days_late"] == (AS_OF - D(2022, 9, 1)).days
    # nursery 10 edges ≈ 964 m from B along the street, more than the 15 min × 64 m/min = 960 m limit
    loc = row(result, "B", "nursery", "location")
    assert (loc["verdict"], loc["households_outside"]) == ("fail", 1000.0)
    assert result.summary["indicator"]["value"] == 0.5  # A meets it, B does not


def test_location_agrees_with_networkx_dijkstra():
    net = line_network()
    graph = net.to_networkx()
    lons = [120.002, 120.006, 120.009, 120.013, 120.018]
    p, f = frames([phase(f"P{i}", 1, 100, ON_TIME, lon=lon) for i, lon in enumerate(lons)],
                  [facility("E", ";".join(f"P{i}" for i in range(5)), "日间照料", ON_TIME, area=500, lon=120.0)])
    result = check_developments(p, f, NATIONAL, network=net, as_of=AS_OF)
    limit = NATIONAL.walk_limit_m("elderly_day_care")
    weight = "length" if "length" in next(iter(graph.edges(data=True)))[2] else "weight"
    for i, lon in enumerate(lons):
        node = int(np.argmin(np.abs(net.lon - lon)))
        metres = nx.shortest_path_length(graph, 0, node, weight=weight)
        expected = 0.0 if metres <= limit else 100.0
        assert row(result, f"P{i}", "elderly_day_care", "location")["households_outside"] == expected
    assert {row(result, f"P{i}", "elderly_day_care", "location")["verdict"] for i in range(5)} == {"pass", "fail"}


def test_location_inside_polygon_needs_no_network_but_a_point_does():
    outline = box(119.999, 29.999, 120.003, 30.001)
    p, f = frames([phase("IN", 1, 300, ON_TIME, geometry=outline), phase("PT", 1, 300, ON_TIME, lon=120.010)],
                  [facility("E1", "IN", "日间照料", ON_TIME, area=100, lon=120.001),
                   facility("E2", "PT", "日间照料", ON_TIME, area=100, lon=120.010)])
    result = check_developments(p, f, NATIONAL, network=None, as_of=AS_OF)
    assert row(result, "IN", "elderly_day_care", "location")["verdict"] == "pass"
    assert row(result, "PT", "elderly_day_care", "location")["verdict"] == "missing_data"


def test_not_yet_due_and_as_of_moves_the_verdict():
    housing = (D(2023, 1, 1), D(2023, 6, 1), D(2025, 6, 1), D(2025, 12, 1))
    fac = (D(2023, 1, 1), D(2023, 6, 1), None, None)
    p, f = frames([phase("A", 1, 100, housing)], [facility("E", "A", "日间照料", fac, area=20)])
    before = check_developments(p, f, NATIONAL, as_of=AS_OF)
    assert row(before, "A", "elderly_day_care", "accept")["verdict"] == "not_yet_due"
    assert row(before, "A", "elderly_day_care", "deliver")["verdict"] == "not_yet_due"
    after = check_developments(p, f, NATIONAL, as_of=D(2025, 7, 1))  # housing accepted 30 days before
    acc = row(after, "A", "elderly_day_care", "accept")
    assert (acc["verdict"], acc["days_late"]) == ("fail", 30.0)
    assert row(after, "A", "elderly_day_care", "deliver")["verdict"] == "not_yet_due"
    # no facility at all and the housing plan not yet approved: not yet due; once approved: fail
    p2, f2 = frames([phase("N", 1, 100, (D(2024, 9, 1), None, None, None))], [facility("E", "A", "日间照料", fac, area=20)])
    p2 = pd.concat([p, p2], ignore_index=True)
    assert row(check_developments(p2, f2, NATIONAL, as_of=AS_OF), "N", "nursery", "size")["verdict"] == "not_yet_due"
    assert row(check_developments(p2, f2, NATIONAL, as_of=D(2024, 9, 2)), "N", "nursery", "size")["verdict"] == "fail"


def test_missing_data_paths():
    no_plan = (None, D(2019, 5, 1), D(2021, 6, 1), D(2021, 10, 1))
    p, f = frames([phase("A", 1, 800, no_plan)],
                  [facility("E", "A", "日间照料", (D(2019, 1, 1), None, D(2021, 6, 1), D(2021, 10, 1)), area=None),
                   facility("N", "A", "托育", ON_TIME, seats=None)])
    result = check_developments(p, f, NATIONAL, as_of=AS_OF)
    assert row(result, "A", "elderly_day_care", "plan")["verdict"] == "missing_data"  # housing delivered, no approval date
    assert row(result, "A", "elderly_day_care", "build")["verdict"] == "missing_data"  # facility accepted, no start date
    assert row(result, "A", "elderly_day_care", "size")["verdict"] == "missing_data"
    assert row(result, "A", "nursery", "size")["verdict"] == "missing_data"
    assert row(result, "A", "elderly_day_care", "accept")["verdict"] == "pass"


def test_shared_facility_counts_capacity_once_split_by_households():
    # 300 + 100 households need 60 + 20 = 80 m²; a 70 m² station is split 3:1 → 52.5 and 17.5 m²
    p, f = frames([phase("B", 1, 300, ON_TIME), phase("C", 1, 100, ON_TIME)],
                  [facility("S", "B;C", "日间照料", ON_TIME, area=70)])
    result = check_developments(p, f, NATIONAL, as_of=AS_OF)
    b, c = row(result, "B", "elderly_day_care", "size"), row(result, "C", "elderly_day_care", "size")
    assert (b["provided"], b["shortfall"], c["provided"], c["shortfall"]) == (52.5, 7.5, 17.5, 2.5)
    assert b["shortfall"] + c["shortfall"] == 80 - 70  # the combined shortfall, capacity counted once
    f.loc[0, "建筑面积"] = 80
    result = check_developments(p, f, NATIONAL, as_of=AS_OF)
    assert {row(result, d, "elderly_day_care", "size")["verdict"] for d in "BC"} == {"pass"}


def test_phases_delivered_out_of_order_each_phase_and_first_phase():
    p1 = (D(2021, 3, 1), D(2021, 7, 1), D(2023, 7, 1), D(2023, 10, 1))
    p2 = (D(2021, 3, 1), D(2021, 7, 1), D(2022, 10, 1), D(2022, 12, 1))  # phase 2 delivered first
    fac = (D(2021, 2, 1), D(2021, 5, 1), D(2022, 10, 1), D(2023, 3, 1))
    p, f = frames([phase("A", 1, 300, p1), phase("A", 2, 200, p2)], [facility("E", "A", "日间照料", fac, area=100)])
    each = check_developments(p, f, NATIONAL, as_of=AS_OF)
    assert row(each, "A", "elderly_day_care", "deliver", "1")["verdict"] == "pass"
    d2 = row(each, "A", "elderly_day_care", "deliver", "2")
    assert (d2["verdict"], d2["days_late"]) == ("fail", 90.0)  # 2022-12-01 → 2023-03-01: 31 + 31 + 28
    jingdezhen = load_profile("jingdezhen")
    assert jingdezhen.value("four_sync_delivery_rule") == "first_phase"
    first = check_developments(p, f, jingdezhen, as_of=AS_OF)
    # one row per phase as under each_phase; the first phase delivered for occupancy is phase 2, not phase 1. With
    # an unlinked facility the two rules agree (each_phase holds it to every phase, so to the earliest delivery too)
    d = row(first, "A", "elderly_day_care", "deliver", "2")
    assert (d["verdict"], d["days_late"]) == ("fail", 90.0) and "first phase delivered for occupancy" in d["note"]
    assert "first phase" not in row(first, "A", "elderly_day_care", "deliver", "1")["note"]
    f.loc[0, "交付"] = D(2022, 11, 1)
    again = check_developments(p, f, jingdezhen, as_of=AS_OF)
    assert {row(again, "A", "elderly_day_care", "deliver", ph)["verdict"] for ph in "12"} == {"pass"}


def test_tolerance_days_from_profile():
    late = (D(2020, 3, 1), D(2020, 9, 9), D(2022, 6, 1), D(2022, 9, 1))  # build 100 days late
    p, f = frames([phase("A", 1, 100, ON_TIME)], [facility("E", "A", "日间照料", late, area=20)])
    assert row(check_developments(p, f, NATIONAL, as_of=AS_OF), "A", "elderly_day_care", "build")["verdict"] == "fail"
    lenient = NATIONAL.with_overrides(four_sync_tolerance_days=100)
    assert row(check_developments(p, f, lenient, as_of=AS_OF), "A", "elderly_day_care", "build")["verdict"] == "pass"


@pytest.mark.parametrize("area, chifeng_size, jixi_size", [(216, "fail", "fail"), (264, "pass", "pass")])
def test_same_lower_standard_in_chifeng_and_jixi(area, chifeng_size, jixi_size):
    # 1,200 households: 18 m²/100 hh = 216 m² fails 20 in both, 22 m²/100 hh = 264 m² passes both
    p, f = frames([phase("A", 1, 1200, ON_TIME)], [facility("E", "A", "日间照料", ON_TIME, area=area)])
    for name, expected in (("chifeng", chifeng_size), ("jixi", jixi_size)):
        size = row(check_developments(p, f, load_profile(name), as_of=AS_OF), "A", "elderly_day_care", "size")
        assert size["verdict"] == expected and size["required"] == 240.0
        assert size["shortfall"] == (24.0 if expected == "fail" else 0.0)


def test_profile_change_chifeng_station_minimum_vs_jixi_range():
    # a 300 m² station for 1,200 households: 240 m² needed under both (20 m²/100 hh) → size passes in both.
    # Chifeng sets a confirmed 350 m² minimum per community station (seed 004 三(六)1) → 50 m² short, fail;
    # Jixi only inherits the unconfirmed national figure: enforced too (unconfirmed figures are enforced throughout),
    # and the row says it rests on that figure; its 20–30 range's upper end needs 360 m².
    p, f = frames([phase("A", 1, 1200, ON_TIME)], [facility("E", "A", "日间照料", ON_TIME, area=300)])
    net = line_network()
    chifeng = check_developments(p, f, load_profile("chifeng"), network=net, as_of=AS_OF)
    jixi = check_developments(p, f, load_profile("jixi"), network=net, as_of=AS_OF)
    assert row(chifeng, "A", "elderly_day_care", "size")["verdict"] == row(jixi, "A", "elderly_day_care", "size")["verdict"] == "pass"
    st_c, st_j = row(chifeng, "A", "elderly_day_care", "station_size"), row(jixi, "A", "elderly_day_care", "station_size")
    assert (st_c["verdict"], st_c["shortfall"]) == ("fail", 50.0) and "350" in st_c["clause"]
    assert (st_j["verdict"], st_j["shortfall"]) == ("fail", 50.0) and st_c["basis"] == ""
    assert st_j["basis"] == "rests on elderly_station_min_m2 = 350 m² (inherited from national; unconfirmed)"
    assert "upper end 30" in row(jixi, "A", "elderly_day_care", "size")["note"]
    assert "short 60" in row(jixi, "A", "elderly_day_care", "size")["note"]
    assert chifeng.summary["indicator"]["value"] == jixi.summary["indicator"]["value"] == 0.0


def test_unknown_development_in_facilities_is_named():
    p, f = frames([phase("A", 1, 100, ON_TIME)], [facility("E", "A;Z", "日间照料", ON_TIME, area=20)])
    with pytest.raises(InputError, match="Z"):
        check_developments(p, f, NATIONAL, as_of=AS_OF)


# --------------------------------------------------------------------------------------------- files and report

def test_csv_pair_and_geopackage_read_like_the_workbook(tmp_path):
    p, f = frames([phase("A", 1, 1000, ON_TIME, pop=3000), phase("A", 2, 500, ON_TIME)],
                  [facility("E", "A", "日间照料", ON_TIME, area=300), facility("N", "A", "托育", ON_TIME, seats=40)])
    csv_p, csv_f = p.copy(), f.copy()
    for frame in (csv_p, csv_f):
        frame["经度"], frame["纬度"] = frame.geometry.x, frame.geometry.y
        frame["交付"] = "2022年9月1日"
        frame["开工"] = "2020/6/1"
    pd.DataFrame(csv_p.drop(columns="geometry")).to_csv(tmp_path / "dev_phases.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame(csv_f.drop(columns="geometry")).to_csv(tmp_path / "dev_facilities.csv", index=False, encoding="utf-8-sig")
    gp, gf = p.copy(), f.copy()
    for frame in (gp, gf):
        for col in ("规划批准", "开工", "竣工验收", "交付"):
            frame[col] = frame[col].map(lambda d: d.isoformat())
    gp.to_file(tmp_path / "dev.gpkg", layer="phases", driver="GPKG")
    gf.to_file(tmp_path / "dev.gpkg", layer="facilities", driver="GPKG")
    direct = check_developments(p, f, NATIONAL, as_of=AS_OF).checks
    for path in (tmp_path / "dev_phases.csv", tmp_path / "dev.gpkg"):
        phases, facilities = read_developments(path)
        assert phases["delivery"].tolist() == [D(2022, 9, 1)] * 2
        checks = check_developments(phases, facilities, NATIONAL, as_of=AS_OF).checks
        pd.testing.assert_frame_equal(checks[["check", "verdict", "required", "provided"]], direct[["check", "verdict", "required", "provided"]])
    # residents: phase 1 population 3000, phase 2 500 × 2.62 = 1310 → 4310 × 10/1000 = 43.1 seats
    assert row(check_developments(p, f, NATIONAL, as_of=AS_OF), "A", "nursery", "size")["required"] == pytest.approx(43.1)


def test_example_file_covers_every_verdict_and_report(tmp_path):
    network = SAMPLE / "sample.osm.pbf"
    example = REPO / "data" / "example_developments.xlsx"
    if not network.exists() or not example.exists():
        pytest.skip(f"sample data missing: {network} / {example}")
    result, paths = run_check(example, "national", network, tmp_path, AS_OF)
    checks = result.checks
    for check in ("plan", "build", "accept", "deliver", "size", "location"):
        assert {"pass", "fail", "not_yet_due", "missing_data"} & set(checks.loc[checks["check"] == check, "verdict"])
    assert set(checks["verdict"]) == {"pass", "fail", "not_yet_due", "missing_data"}
    assert set(result.developments["status"]) == {"pass", "fail", "not_yet_due", "missing_data"}
    # E1 passes and E3 is not yet due: 2 of 6 developments meet the elderly-care standard so far
    assert result.summary["indicator"]["value"] == pytest.approx(2 / 6)
    csv = pd.read_csv(paths["csv"], encoding="utf-8-sig")
    assert len(csv) == len(checks)
    data = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert data["indicator"]["name"] == "新建居住区配套建设养老服务设施达标率"
    assert data["profile_figures"]["elderly_m2_per_100_households_new"]["value"] == 20
    page = Path(paths["html"]).read_text(encoding="utf-8")
    assert "sync_map.html" in page and "不达标 Fail" in page and "E1" in page
    assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="https?://', Path(paths["map"]).read_text(encoding="utf-8"))


def test_report_escapes_input_text(tmp_path):
    from siting.checks.sync_report import write_report

    p, f = frames([phase("A", 1, 100, ON_TIME, name="<script>alert(1)</script>")],
                  [facility("E", "A", "日间照料", ON_TIME, area=20)])
    paths = write_report(check_developments(p, f, NATIONAL, as_of=AS_OF), tmp_path)
    page = Path(paths["html"]).read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "<script>alert" not in Path(paths["map"]).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- phase links (分期)

def shift(dates, days):
    return tuple(d + dt.timedelta(days=days) for d in dates)


def two_phase_development(link=True):
    """Development A: phase 2 is phase 1 a year (365 days) later; each phase has its own elderly station and
    nursery, delivered with that phase, all inside the development's outline (so no network is needed).
    600 households need 120 m² (20 m²/100 hh); two 350 m² stations give 700 (and meet the 350 m² station minimum,
    and Jixi's upper end 30 m²/100 hh = 180 m²). 600 × 2.62 = 1,572 residents need 15.72 seats; 2 × 10 = 20 given."""
    outline = box(119.999, 29.999, 120.003, 30.001)
    later = shift(ON_TIME, 365)  # 2020-03-01 + 365 days = 2021-03-01 (2020 is a leap year, the day is before March)
    p = [phase("A", 1, 300, ON_TIME, geometry=outline), phase("A", 2, 300, later, geometry=outline)]
    f = [facility("E1", "A", "日间照料", ON_TIME, area=350, lon=120.001), facility("E2", "A", "日间照料", later, area=350, lon=120.002),
         facility("N1", "A", "托育", ON_TIME, seats=10, lon=120.001), facility("N2", "A", "托育", later, seats=10, lon=120.002)]
    if link:
        for fac, ph in zip(f, ("1", "2", "1", "2")):
            fac["分期"] = ph
    return frames(p, f)


@pytest.mark.parametrize("name", ["national", "chifeng", "jixi", "huzhong", "jingdezhen", "shangzhi"])
def test_each_phase_with_its_own_station_passes_under_every_profile(name):
    p, f = two_phase_development()
    result = check_developments(p, f, load_profile(name), as_of=AS_OF)
    assert set(result.checks["verdict"]) == {"pass"}, result.checks.loc[result.checks["verdict"] != "pass", ["check", "note"]]
    deliver = row(result, "A", "elderly_day_care", "deliver", "2")
    assert (deliver["facility_ids"], deliver["facility_date"], deliver["housing_date"]) == ("E2", D(2023, 9, 1), D(2023, 9, 1))
    assert result.summary["indicator"]["value"] == 1.0


def test_without_phase_link_the_latest_station_is_judged_against_every_phase():
    # the documented fallback, said in the note: E2 (a year later) is compared with phase 1 → 365 days late
    p, f = two_phase_development(link=False)
    result = check_developments(p, f, NATIONAL, as_of=AS_OF)
    for check in ("plan", "build", "accept", "deliver"):
        r = row(result, "A", "elderly_day_care", check, "1")
        assert (r["verdict"], r["days_late"], r["facility_ids"]) == ("fail", 365.0, "E1;E2")
        assert r["note"] == ("facilities not linked to a phase (分期): the latest of 2 judged against every phase; "
                             "facility 365 days after the housing")
        assert row(result, "A", "elderly_day_care", check, "2")["verdict"] == "pass"


def test_phase_link_read_from_workbook_and_unknown_phase_named(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "phases"
    ws.append(["开发项目编号", "分期", "户数", "规划批准", "交付", "经度", "纬度"])
    ws.append(["A", 1, 300, D(2020, 3, 1), D(2022, 9, 1), 120.0, 30.0])
    ws.append(["A", 2, 300, D(2021, 3, 1), D(2023, 9, 1), 120.0, 30.0])
    fs = wb.create_sheet("facilities")
    fs.append(["设施编号", "开发项目编号", "分期", "类型", "建筑面积", "规划批准", "交付", "经度", "纬度"])
    fs.append(["E1", "A", "1；2", "日间照料", 350, D(2020, 3, 1), D(2022, 9, 1), 120.0, 30.0])
    fs.append(["E2", "A", 3, "日间照料", 350, D(2020, 3, 1), D(2022, 9, 1), 120.0, 30.0])
    wb.save(tmp_path / "dev.xlsx")
    phases, facilities = read_developments(tmp_path / "dev.xlsx")
    assert facilities["phases"].tolist() == [["1", "2"], ["3"]]
    with pytest.raises(InputError) as err:
        check_developments(phases, facilities, NATIONAL, as_of=AS_OF)
    assert str(err.value) == (f"{tmp_path / 'dev.xlsx'} sheet facilities, row 3, column '分期': facility E2 is linked "
                              "to phase 3, which development A does not have. Expected phases of A: 1, 2 (several "
                              "separated by ;), or blank for a facility serving every phase. Fix: correct the 分期 cell "
                              "of the facility or of the phases sheet")


# --------------------------------------------------------------------------------------------- each_phase vs first_phase

# Phase 2 is delivered first (2022-12-01), phase 1 later (2023-10-01); the station is built for phase 1 (分期 1) and
# delivered between the two, on 2023-03-01: 2022-12-01 → 2023-03-01 = 31 (Dec) + 31 (Jan) + 28 (Feb) = 90 days.
P1 = (D(2021, 3, 1), D(2021, 7, 1), D(2023, 7, 1), D(2023, 10, 1))
P2 = (D(2021, 3, 1), D(2021, 7, 1), D(2022, 10, 1), D(2022, 12, 1))
BETWEEN = (D(2021, 2, 1), D(2021, 5, 1), D(2022, 10, 1), D(2023, 3, 1))


def rules_case(fac_dates=BETWEEN, link="1"):
    p, f = frames([phase("A", 1, 300, P1), phase("A", 2, 200, P2)], [facility("E", "A", "日间照料", fac_dates, area=350)])
    f["分期"] = link
    return p, f


def test_each_phase_and_first_phase_disagree_when_the_later_numbered_phase_is_delivered_first():
    p, f = rules_case()
    net = line_network()  # the station stands at the development's point: 0 m walk
    each = check_developments(p, f, NATIONAL, network=net, as_of=AS_OF)
    first_national = check_developments(p, f, NATIONAL.with_overrides(four_sync_delivery_rule="first_phase"), network=net,
                                        as_of=AS_OF)
    jingdezhen = check_developments(p, f, load_profile("jingdezhen"), network=net, as_of=AS_OF)
    # each_phase: the station keeps pace with its own phase 1 (2023-03-01 ≤ 2023-10-01); phase 2 has none of its own
    assert row(each, "A", "elderly_day_care", "deliver", "1")[["verdict", "days_late"]].tolist() == ["pass", 0.0]
    d2 = row(each, "A", "elderly_day_care", "deliver", "2")
    assert (d2["verdict"], d2["note"]) == ("pass", "no facility of this kind linked to phase 2 (E → phase 1); nothing to "
                                                   "synchronise with this phase")
    # first_phase: the first phase delivered for occupancy is phase 2 (earliest date, not phase number 1): 90 days late
    for result in (first_national, jingdezhen):
        d = row(result, "A", "elderly_day_care", "deliver", "2")
        assert (d["verdict"], d["days_late"], d["housing_date"], d["facility_date"]) == ("fail", 90.0, D(2022, 12, 1), D(2023, 3, 1))
        assert d["note"] == ("first phase delivered for occupancy (rule first_phase); no facility of this kind linked to "
                             "phase 2 (E → phase 1); the earliest-delivered facility of the kind must be in use by then; "
                             "facility 90 days after the housing")
        assert row(result, "A", "elderly_day_care", "deliver", "1")["verdict"] == "pass"
    assert each.developments.set_index("kind").loc["elderly_day_care", "status"] == "pass"
    assert jingdezhen.developments.set_index("kind").loc["elderly_day_care", "status"] == "fail"
    # delivered with the first occupancy (2022-12-01): both rules pass
    p, f = rules_case(BETWEEN[:3] + (D(2022, 12, 1),))
    for profile in (NATIONAL, load_profile("jingdezhen")):
        assert {row(check_developments(p, f, profile, as_of=AS_OF), "A", "elderly_day_care", "deliver", ph)["verdict"]
                for ph in "12"} == {"pass"}


def test_first_phase_before_any_delivery_uses_the_earliest_scheduled_one():
    # as of 2022-11-01 nothing is delivered; phase 2's 2022-12-01 is the earliest schedule, the station's is
    # 2023-03-01, 90 days after it: under first_phase a schedule that would be late is noted, not yet a fail
    p, f = rules_case()
    d = row(check_developments(p, f, load_profile("jingdezhen"), as_of=D(2022, 11, 1)), "A", "elderly_day_care", "deliver", "2")
    assert (d["verdict"], d["note"]) == ("not_yet_due", "first phase delivered for occupancy (rule first_phase); no facility "
                                                        "of this kind linked to phase 2 (E → phase 1); the earliest-delivered "
                                                        "facility of the kind must be in use by then; scheduled 90 days after "
                                                        "the housing")


# --------------------------------------------------------------------------------------------- no facility: everyone outside

def test_development_without_facility_has_all_households_outside_the_walk():
    p, f = frames([phase("A", 1, 350, ON_TIME), phase("A", 2, 250, ON_TIME)], [facility("E", "A", "日间照料", ON_TIME, area=350)])
    loc = row(check_developments(p, f, NATIONAL, network=line_network(), as_of=AS_OF), "A", "nursery", "location")
    assert (loc["verdict"], loc["households"], loc["households_outside"], loc["note"]) == (
        "fail", 600.0, 600.0, "no facility of this kind recorded")
    assert loc["walk_limit_m"] == 15 * 64  # 960 m for nursery trips


# --------------------------------------------------------------------------------------------- inherited / unconfirmed figures

def test_jixi_nursery_fail_says_it_rests_on_the_inherited_unconfirmed_national_figure(tmp_path):
    from siting.checks.sync_report import write_report

    # 1,000 households × 2.62 = 2,620 residents × 10 seats/1,000 = 26.2 seats; 20 given → 6.2 short
    p, f = frames([phase("A", 1, 1000, ON_TIME)], [facility("E", "A", "日间照料", ON_TIME, area=350),
                                                  facility("N", "A", "托育", ON_TIME, seats=20)])
    result = check_developments(p, f, load_profile("jixi"), as_of=AS_OF)
    size = row(result, "A", "nursery", "size")
    expected_basis = ("rests on nursery_seats_per_1000_new = 10 seats/1000 residents (inherited from national; "
                      "unconfirmed), household_size = 2.62 persons/household (inherited from national)")
    assert (size["verdict"], size["shortfall"], size["basis"]) == ("fail", pytest.approx(6.2), expected_basis)
    assert (size["figure_inherited_from"], size["figure_confirmed"]) == ("national", False)
    # the clause is the national default's own, no longer a Chifeng sentence passed off as the figure's clause
    assert size["clause"].startswith("无全国统一标准：工具默认每千人口10个托位") and "赤峰）" not in size["clause"]
    # Jixi's own confirmed figure: nothing to flag
    assert row(result, "A", "elderly_day_care", "size")["basis"] == ""
    paths = write_report(result, tmp_path)
    csv = pd.read_csv(paths["csv"], encoding="utf-8-sig", keep_default_na=False)
    assert csv.query("kind == 'nursery' and check == 'size'")["basis"].tolist() == [expected_basis]
    data = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert [c["basis"] for c in data["checks"] if c["kind"] == "nursery" and c["check"] == "size"] == [expected_basis]
    page = Path(paths["html"]).read_text(encoding="utf-8")
    assert f"<td>{expected_basis}</td>" in page
    assert ("<tr><td>nursery_seats_per_1000_new</td><td>10 seats/1000 residents</td><td>inherited from national</td>"
            "<td>no: unconfirmed, enforced and flagged</td>") in page  # the method section's table of figures
    assert ("<tr><td>elderly_m2_per_100_households_new</td><td>20 m²/100 households</td><td>jixi</td><td>yes</td>") in page


# --------------------------------------------------------------------------------------------- profiles: which syncs, Jixi clauses

def test_shangzhi_checks_only_acceptance_and_delivery():
    p, f = two_phase_development()
    result = check_developments(p, f, load_profile("shangzhi"), as_of=AS_OF)
    assert set(result.checks["check"]) == {"accept", "deliver", "size", "station_size", "location"}
    assert result.summary["four_sync_checks"] == ["accept", "deliver"]
    assert set(check_developments(p, f, NATIONAL, as_of=AS_OF).checks["check"]) == {
        "plan", "build", "accept", "deliver", "size", "station_size", "location"}
    fig = load_profile("shangzhi").figure("four_sync_checks")
    assert fig.confirmed and fig.source.startswith("seed 001 尚志, 附件1") and "同步验收、同步交付使用" in fig.clause


def test_jixi_per_100_household_figures_cite_section_four():
    # seed 000: the two sentences are items 1 and 2 of 四、提升养老托育服务质量 (三)实施城乡养老托育配套用房建设行动
    jixi = load_profile("jixi")
    assert [jixi.figure(k).source for k in ("elderly_m2_per_100_households_new", "elderly_m2_per_100_households_new_max",
                                            "elderly_m2_per_100_households_existing",
                                            "elderly_m2_per_100_households_existing_max")] == [
        "seed 000 鸡西, 四(三)1", "seed 000 鸡西, 四(三)1", "seed 000 鸡西, 四(三)2", "seed 000 鸡西, 四(三)2"]


def test_four_sync_checks_must_name_known_checks(tmp_path):
    from siting.errors import ConfigError

    path = tmp_path / "p.toml"
    path.write_text('inherits = "national"\n[figures.four_sync_checks]\nvalue = ["accept", "handover"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert str(err.value) == (f"{path}: figure 'four_sync_checks' is ['accept', 'handover']. Expected a list of some of "
                              '"plan", "build", "accept", "deliver", e.g. ["accept", "deliver"]')


def test_readme_own_profile_example_loads_verbatim(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Write your own.*?```toml\n(.*?)```", readme, re.S)
    assert block, "the README's own-profile example is gone"
    path = tmp_path / "my_district.toml"
    path.write_text(block[1], encoding="utf-8")
    profile = load_profile(path)
    assert (profile.name, profile.title, profile.parent) == ("my-district", "My district", "chifeng")
    fig = profile.figure("elderly_m2_per_100_households_new")
    assert (fig.value, fig.unit, fig.source, fig.confirmed, fig.inherited_from) == (
        30.0, "m²/100 households", "District plan 2024, art. 12", False, None)
    assert profile.figure("elderly_station_min_m2").inherited_from == "chifeng"


@pytest.mark.parametrize("text, message", [
    ('[profile]\nname = "x"\nwalk_minutes = 10\n', "unknown key(s) walk_minutes in [profile] (figures go under [figures.<key>])"),
    ('title = "a"\n[profile]\ntitle = "b"\n', "title given both in [profile] and at the top of the file"),
])
def test_profile_table_errors(tmp_path, text, message):
    from siting.errors import ConfigError

    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_profile(path)


# --------------------------------------------------------------------------------------------- date checks

def test_implausible_dates_are_flagged_and_never_counted_as_days_late(tmp_path):
    import openpyxl
    from click.testing import CliRunner

    from siting.cli import main

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "phases"
    ws.append(["开发项目编号", "分期", "户数", "规划批准", "开工", "竣工验收", "交付", "经度", "纬度"])
    ws.append(["A", 1, 300, *ON_TIME, 120.0, 30.0])
    ws.append(["A", 2, 300, D(2020, 3, 1), D(2020, 6, 1), D(2222, 6, 1), 1000, 120.0, 30.0])  # a year typo, a bare number
    ws["G3"].number_format = "yyyy-mm-dd"  # Excel shows 1000 as 1902-09-26
    fs = wb.create_sheet("facilities")
    fs.append(["设施编号", "开发项目编号", "类型", "建筑面积", "规划批准", "开工", "竣工验收", "交付", "经度", "纬度"])
    fs.append(["E", "A", "日间照料", 350, D(2020, 3, 1), D(2020, 6, 1), D(2022, 6, 1), D(2022, 9, 1), 120.0, 30.0])
    fs.append(["N", "A", "托育", None, D(2021, 3, 1), D(2021, 5, 1), D(2022, 6, 1), D(2019, 1, 1), 120.0, 30.0])  # delivered before planned
    wb.save(tmp_path / "dev.xlsx")
    phases, facilities = read_developments(tmp_path / "dev.xlsx")
    assert phases["delivery"].tolist() == [D(2022, 9, 1), D(1902, 9, 26)]
    result = check_developments(phases, facilities, NATIONAL, as_of=AS_OF)
    sheet = tmp_path / "dev.xlsx"
    assert result.date_checks["message"].tolist() == [
        f"{sheet} sheet phases, row 3, column '竣工验收': date check: development A phase 2: 2222-06-01 is more than 20 "
        "years after the as-of date 2024-06-30; treated as missing. Fix: correct the year, or leave the cell blank if no "
        "schedule is known",
        f"{sheet} sheet phases, row 3, column '交付': date check: development A phase 2: 1902-09-26 is before 1990-01-01, "
        "not a date of a new development (Excel shows a number typed into a date cell as a day in 1900–1927); treated as "
        "missing. Fix: type the date, e.g. 2022-09-01, or leave the cell blank if it has not happened",
        f"{sheet} sheet facilities, row 3, column '交付': date check: facility N: 交付 Delivery 2019-01-01 is out of order "
        "with 规划批准 Planning approval 2021-03-01 of the same facility; treated as missing. Fix: correct whichever date "
        "is wrong: milestones run 规划批准 ≤ 开工 ≤ 竣工验收 ≤ 交付",
    ]
    # the station was delivered 2022-09-01, 43,805 days after 1902-09-26: never reported as late; missing data instead
    d2 = row(result, "A", "elderly_day_care", "deliver", "2")
    assert d2["verdict"] == "missing_data" and np.isnan(d2["days_late"]) and d2["note"] == result.date_checks["message"][1]
    assert row(result, "A", "elderly_day_care", "accept", "2")["verdict"] == "missing_data"
    assert row(result, "A", "elderly_day_care", "deliver", "1")["verdict"] == "pass"
    n1 = row(result, "A", "nursery", "deliver", "1")
    assert (n1["verdict"], n1["note"]) == ("missing_data", result.date_checks["message"][2])
    # the run goes on: files written, the planner warned on the terminal, one line per date, exit 0
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["check", str(sheet), "--as-of", "2024-06-30", "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert [line for line in done.output.splitlines() if line.startswith("warning: ")] == [
        f"warning: {m}" for m in result.date_checks["message"]]
    table = pd.read_csv(out / "sync_date_checks.csv", encoding="utf-8-sig")
    assert table[["row", "column", "value"]].values.tolist() == [[3, "竣工验收", "2222-06-01"], [3, "交付", "1902-09-26"],
                                                                 [3, "交付", "2019-01-01"]]
    assert "日期核查 Date checks: 3" in (out / "sync_report.html").read_text(encoding="utf-8")


def test_text_that_is_not_a_date_stops_before_work(tmp_path):
    p = pd.DataFrame([{"开发项目编号": "A", "户数": 100, "交付": "2022-02-30"}])
    with pytest.raises(InputError, match=re.escape("row 2, column '交付': '2022-02-30' is not a date")):
        check_developments(p, pd.DataFrame(columns=["开发项目编号", "类型"]), NATIONAL, as_of=AS_OF)


@pytest.mark.parametrize("city, clause", [("jixi", "seed 000 鸡西, 四(三)1"), ("huzhong", "seed 002 呼中区, 四(二)"),
                                          ("jingdezhen", "seed 003 景德镇, 三(二)2"), ("chifeng", "seed 004 赤峰, 三(六)1")])
def test_cities_naming_all_four_synchronizations_say_so_themselves(city, clause):
    fig = load_profile(city).figure("four_sync_checks")
    assert (fig.value, fig.source, fig.confirmed, fig.inherited_from) == (("plan", "build", "accept", "deliver"), clause, True, None)
    assert "同步" in fig.clause
