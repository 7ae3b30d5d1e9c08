"""What-if scenarios on a real OSM extract (BUPT campus, Beijing): edits give the same coverage as a project whose
layers were edited by hand; inheritance, cache, comparison figures and the difference map checked by recount."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from siting.errors import ConfigError
from siting.pipeline import run_coverage
from siting.scenario import (
    coverage_changes,
    load_scenario,
    resolve_scenario,
    run_scenario,
    run_scenarios,
)

SHARED = Path(__file__).resolve().parent / "data"
OSM = SHARED / "bupt_beijing" / "map.osm"

RESIDENCES = """id,name,households,area_type,lon,lat
R1,楼1,120,new,116.3501,39.9583
R2,楼2,300,existing,116.3528,39.9598
R3,楼3,80,existing,116.3541,39.9627
R4,楼4,210,existing,116.3495,39.9620
R5,楼5,150,new,116.3533,39.9575
R6,楼6,260,existing,116.3512,39.9603
"""
FACILITIES = """id,name,kind,floor_area_m2,seats,lon,lat
F1,站1,elderly_day_care,300,,116.3500,39.9580
F2,托1,nursery,,20,116.3540,39.9625
F3,站2,elderly_day_care,150,,116.3530,39.9600
"""
PROJECT = """[project]
name = "BUPT"
profile = "national"
output = "out"
thresholds_min = [3]
walk_minutes = 4
[network]
path = "{osm}"
[residences]
path = "residences.csv"
[[facilities]]
path = "facilities.csv"
"""
BASE = """[scenario]
name = "现状 Baseline"
base = "project.toml"
"""
OPEN = """[scenario]
name = "Open <two> & resize"
inherits = "base.toml"
year = 2025
remove_facilities = ["F3"]
[[add_facilities]]
id = "N1"
name = "新托育园"
kind = "nursery"
seats = 60
lon = 116.3510
lat = 39.9600
[[add_facilities]]
id = "E9"
name = "新站"
kind = "elderly_day_care"
floor_area_m2 = 400
lon = 116.3527
lat = 39.9597
[[resize_facilities]]
id = "F1"
floor_area_m2 = 600
[[add_residences]]
id = "D1"
name = "新小区"
households = 3000
lon = 116.3512
lat = 39.9602
year = 2024
[[add_residences]]
id = "D2"
name = "later"
households = 500
lon = 116.3500
lat = 39.9600
year = 2030
"""


@pytest.fixture(scope="module")
def area(tmp_path_factory) -> Path:
    return write_area(tmp_path_factory.mktemp("scen"))


def write_area(folder: Path) -> Path:
    """The test project (6 residences, 3 facilities on the BUPT extract) and two scenarios over it."""
    for name, text in (("project.toml", PROJECT.format(osm=OSM.as_posix())), ("residences.csv", RESIDENCES),
                       ("facilities.csv", FACILITIES), ("base.toml", BASE), ("open.toml", OPEN)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def ran(area):
    results, paths = run_scenarios([area / "base.toml", area / "open.toml"], output=area / "report")
    return results, paths


def test_edits_equal_a_project_edited_by_hand(area, ran):
    """The scenario's coverage equals a plain project run whose CSVs carry the same edits, typed in by hand."""
    hand = area / "hand"
    hand.mkdir(exist_ok=True)
    (hand / "residences.csv").write_text(RESIDENCES + "D1,新小区,3000,new,116.3512,39.9602\n", encoding="utf-8")
    (hand / "facilities.csv").write_text(
        "id,name,kind,floor_area_m2,seats,lon,lat\nF1,站1,elderly_day_care,600,,116.3500,39.9580\n"
        "F2,托1,nursery,,20,116.3540,39.9625\nN1,新托育园,nursery,,60,116.3510,39.9600\n"
        "E9,新站,elderly_day_care,400,,116.3527,39.9597\n", encoding="utf-8")
    (hand / "project.toml").write_text(PROJECT.format(osm=OSM.as_posix()), encoding="utf-8")
    expected = run_coverage(hand / "project.toml").result
    got = ran[0][1]
    exp_res = expected.residences.set_index("res_id").sort_index()
    got_res = got.residences.set_index("res_id").sort_index()
    assert list(got_res.index) == ["D1", "R1", "R2", "R3", "R4", "R5", "R6"]  # D2 (year 2030 > 2025) left out
    for kind in ("elderly_day_care", "nursery"):
        assert got_res[f"covered_{kind}"].astype(bool).tolist() == exp_res[f"covered_{kind}"].astype(bool).tolist()
        pd.testing.assert_series_equal(got_res[f"walk_min_{kind}"], exp_res[f"walk_min_{kind}"], check_names=False)
        assert got.summary["kinds"][kind]["coverage_rate"] == pytest.approx(expected.summary["kinds"][kind]["coverage_rate"])
        assert got.summary["kinds"][kind]["capacity_total"] == expected.summary["kinds"][kind]["capacity_total"]


def test_comparison_figures_recount_from_the_tables(ran):
    results, paths = ran
    table = pd.read_csv(paths["csv"], encoding="utf-8-sig")
    assert list(table["scenario"]) == ["现状 Baseline"] * 2 + ["Open <two> & resize"] * 2
    for result in results:
        res = result.residences
        for kind in ("elderly_day_care", "nursery"):
            row = table[(table["scenario"] == result.name) & (table["kind"] == kind)].iloc[0]
            covered = res[f"covered_{kind}"].astype(bool)
            assert row["coverage_rate"] == pytest.approx(res.loc[covered, "households"].sum() / res["households"].sum(), rel=1e-5)  # CSV keeps 6 digits
            assert row["households_uncovered"] == pytest.approx(res.loc[~covered, "households"].sum(), rel=1e-5)
    # hand calculation of the standard (national profile): elderly m² = households × m²/100 hh per area type
    base = table[(table["scenario"] == "现状 Baseline") & (table["kind"] == "elderly_day_care")].iloc[0]
    from siting.inputs.profiles import load_profile

    national = load_profile("national")
    new_hh, old_hh = 120 + 150, 300 + 80 + 210 + 260
    required = new_hh * national.elderly_m2_per_100_households("new") / 100 + old_hh * national.elderly_m2_per_100_households("existing") / 100
    assert base["required_capacity"] == pytest.approx(required, rel=1e-5)
    assert base["capacity_total"] == 450
    assert base["capacity_shortfall"] == pytest.approx(max(required - 450, 0), rel=1e-5, abs=1e-4)
    opened = table[(table["scenario"] != "现状 Baseline") & (table["kind"] == "nursery")].iloc[0]
    assert opened["capacity_total"] == 80 and opened["facilities"] == 2


def test_difference_map_lists_exactly_the_changed_residences(ran, area):
    base, other = ran[0]
    changes = coverage_changes(base, other)
    for kind in ("elderly_day_care", "nursery"):
        before = dict(zip(base.residences["res_id"], base.residences[f"covered_{kind}"].astype(bool)))
        after = dict(zip(other.residences["res_id"], other.residences[f"covered_{kind}"].astype(bool)))
        gained = {r for r, c in after.items() if c and not before.get(r, False)}
        lost = {r for r, c in after.items() if not c and before.get(r, False)}
        sub = changes[changes["kind"] == kind]
        assert set(sub.loc[sub["change"] == "gained", "res_id"]) == gained
        assert set(sub.loc[sub["change"] == "lost", "res_id"]) == lost
    assert "D1" in set(changes.loc[changes["change"] == "gained", "res_id"])  # the new compound next to N1
    folder = area / "report" / "scenarios"
    assert (folder / "Open_two_resize" / "difference_map.html").exists()
    assert (folder / "现状_Baseline" / "coverage_map.html").exists()


def test_report_escapes_names(ran):
    text = ran[1]["html"].read_text(encoding="utf-8")
    assert "Open &lt;two&gt; &amp; resize" in text and "<two>" not in text


def test_rerun_is_served_from_the_cache_and_input_changes_invalidate_it(area, ran):
    first = ran[0][0]
    again = run_scenario(area / "base.toml", output=area / "report")
    assert again.cached and again.key == first.key
    pd.testing.assert_frame_equal(again.residences, first.residences)
    # an unfinished entry (a temporary folder) is never read: only renamed, complete folders count
    assert not any(p.name.startswith(".tmp-") for p in (area / "report" / ".siting-cache" / "scenarios").iterdir())
    # the key follows the content of input files, not their names or dates
    copy = area / "copy"
    shutil.copytree(area, copy, ignore=shutil.ignore_patterns("report", "out", "hand", "copy"))
    assert load_scenario(copy / "base.toml") and _key(copy / "base.toml") == first.key
    (copy / "facilities.csv").write_text(FACILITIES.replace("300", "310"), encoding="utf-8")
    assert _key(copy / "base.toml") != first.key


def _key(path: Path) -> str:
    from siting.scenario import scenario_key

    return scenario_key(load_scenario(path))


def test_inheritance_merges_base_first(area):
    (area / "child.toml").write_text('[scenario]\nname = "child"\ninherits = "open.toml"\nwalk_minutes = 10\n'
                                     'remove_facilities = ["F2"]\n[profile]\nname = "chifeng"\n'
                                     '[profile.figures]\nwalk_speed_m_per_min = 55\n'
                                     '[[resize_facilities]]\nid = "F1"\nfloor_area_m2 = 700\n', encoding="utf-8")
    spec, chain = resolve_scenario(area / "child.toml")
    assert [p.name for p in chain] == ["base.toml", "open.toml", "child.toml"]
    assert spec["remove_facilities"] == ["F3", "F2"]
    assert spec["resize_facilities"] == [{"id": "F1", "floor_area_m2": 700}]
    assert [b["id"] for b in spec["add_facilities"]] == ["N1", "E9"]
    assert spec["year"] == 2025 and spec["walk_minutes"] == 10 and spec["profile"] == "chifeng"
    scenario = load_scenario(area / "child.toml")
    assert scenario.project.walk_minutes == 10 and scenario.project.profile == "chifeng"


def test_profile_swap_and_speed_override_reach_the_result(area):
    (area / "speed.toml").write_text('[scenario]\nname = "slow"\nbase = "project.toml"\n[profile]\nname = "chifeng"\n'
                                     '[profile.figures]\nwalk_speed_m_per_min = 50\n', encoding="utf-8")
    result = run_scenario(area / "speed.toml", output=area / "report")
    assert result.summary["profile"] == "chifeng"
    assert result.summary["kinds"]["nursery"]["walk_m"] == pytest.approx(4 * 50)
    walked = result.residences["walk_min_nursery"]
    base = run_scenario(area / "base.toml", output=area / "report").residences["walk_min_nursery"]
    national_speed = json.loads((area / "report" / "scenarios" / "现状_Baseline" / "summary.json").read_text())["kinds"]["nursery"]["walk_speed_m_per_min"]
    pd.testing.assert_series_equal(walked * 50, base * national_speed, check_names=False, rtol=1e-9)


@pytest.mark.parametrize("text,match", [
    ('[scenario]\nbase = "project.toml"\nremove_facility = ["F1"]\n', "remove_facility"),
    ('[scenario]\nbase = "project.toml"\n[[add_facilities]]\nid = "X"\nkind = "nursery"\nsize = 3\n', "size"),
    ('[scenario]\nbase = "project.toml"\ninherits = "base.toml"\n', "both base and inherits"),
    ('[scenario]\nname = "x"\n', "names no project"),
    ('[scenario]\ninherits = "cyc_b.toml"\n', "cycle"),
])
def test_bad_scenarios_are_named(area, text, match):
    (area / "cyc_b.toml").write_text('[scenario]\ninherits = "bad.toml"\n', encoding="utf-8")
    (area / "bad.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_scenario(area / "bad.toml")


def test_edit_of_unknown_facility_is_named(area):
    (area / "bad2.toml").write_text('[scenario]\nbase = "project.toml"\n[[resize_facilities]]\nid = "F9"\nseats = 3\n',
                                    encoding="utf-8")
    with pytest.raises(ConfigError, match="F9") as err:
        run_scenario(area / "bad2.toml", output=area / "report")
    assert err.value.column == "resize_facilities[1].id" and err.value.file.endswith("bad2.toml")
