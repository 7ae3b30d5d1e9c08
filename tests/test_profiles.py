"""Standard profiles: every city's figures equal the values written out from STANDARDS.md, inheritance is reported,
user files and what-if overrides work, and every validation error names the file and the figure key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from siting.errors import ConfigError
from siting.inputs.profiles import FIGURES, list_profiles, load_profile

# Figures each seed city states, copied by hand from /work/shared/STANDARDS.md (§1–§5) — not from the TOML files.
EXPECTED_CITY_FIGURES: dict[str, dict[str, object]] = {
    "jixi": {  # seed 000
        "walk_minutes": 15,
        "elderly_m2_per_100_households_new": 20,
        "elderly_m2_per_100_households_new_max": 30,
        "elderly_m2_per_100_households_existing": 15,
        "elderly_m2_per_100_households_existing_max": 20,
        "nursery_seats_per_1000_city": 4.5,
        "nursery_seats_per_1000_by_year": {2022: 1.32, 2023: 2.11, 2024: 3.21, 2025: 4.5},
        "elderly_beds_per_1000_elderly": 30,
        "nursing_bed_share_target": 0.5,  # §5
        "new_residential_compliance_target": 1.0,  # §5
    },
    "shangzhi": {  # seed 001
        "nursery_seats_per_1000_city": 4.5,
        "nursery_seats_per_1000_by_year": {2022: 2.0, 2025: 4.5},
        "nursing_bed_share_target": 0.4,  # §5
    },
    "huzhong": {  # seed 002
        "walk_minutes": 15,
        "elderly_m2_per_100_households_new": 20,
        "elderly_m2_per_100_households_new_max": 30,
        "elderly_m2_per_100_households_existing": 15,
        "elderly_m2_per_100_households_existing_max": 20,
        "nursery_seats_per_1000_city": 4.5,
        "day_care_coverage_target": 1.0,
        "childcare_coverage_target": 1.0,
        "community_day_care_coverage_target": 1.0,  # §3, §5: one day-care room per 社区, 100 %
        "community_childcare_coverage_target": 1.0,  # §5
        "new_residential_compliance_target": 1.0,  # §5
        "nursing_bed_share_target": 0.55,  # §5
    },
    "jingdezhen": {  # seed 003
        "walk_minutes": 15,
        "elderly_m2_per_100_households_new": 20,
        "nursery_seats_per_1000_city": 4.5,
        "nursery_seats_per_1000_new": 10,
        "day_care_coverage_target": 0.9,
        "four_sync_delivery_rule": "first_phase",
        "community_day_care_coverage_target": 0.9,  # §5
        "village_elderly_care_coverage_target": 0.85,  # issue 16: 建制村 ≥ 85 % (003)
        "new_residential_compliance_target": 1.0,  # §5
        "nursing_bed_share_target": 0.6,  # §5
    },
    "chifeng": {  # seed 004
        "walk_minutes": 15,
        "elderly_m2_per_100_households_new": 20,
        "elderly_m2_per_100_households_existing": 20,
        "elderly_station_min_m2": 350,
        "elderly_street_centre_min_m2": 1000,
        "nursery_seats_per_1000_city": 4.5,
        "nursery_seats_per_1000_new": 10,
        "nursery_seats_per_1000_existing": 8,
        "nursery_seats_per_1000_by_year": {2022: 2.0, 2023: 3.0, 2024: 4.0, 2025: 4.5},
        "elderly_beds_per_1000_elderly": 50,
        "day_care_coverage_target": 0.9,
        "childcare_coverage_target": 0.8,
        "community_day_care_coverage_target": 0.9,  # §5
        "community_childcare_coverage_target": 0.8,  # §5
        "village_elderly_care_coverage_target": 1.0,  # issue 16: 行政村 100 % (004)
        "street_centre_coverage_target": 1.0,  # §3: one centre per 街道
        "nursing_bed_share_target": 0.55,  # §5
    },
}

# National defaults, STANDARDS.md §6/§7 and the brief: 15 min; 64 / 55 m/min; 2.62 persons; 4.5 seats; 40 beds.
EXPECTED_NATIONAL = {
    "walk_minutes": 15,
    "walk_speed_m_per_min": 64,
    "elderly_walk_speed_m_per_min": 55,
    "household_size": 2.62,
    "nursery_seats_per_1000_city": 4.5,
    "elderly_beds_per_1000_elderly": 40,
    "four_sync_tolerance_days": 0,
    "four_sync_delivery_rule": "each_phase",
}


def test_builtin_profiles_are_listed():
    assert list_profiles() == ["chifeng", "huzhong", "jingdezhen", "jixi", "national", "shangzhi"]


@pytest.mark.parametrize("city", sorted(EXPECTED_CITY_FIGURES))
def test_city_figures_equal_standards(city: str):
    profile = load_profile(city)
    for key, expected in EXPECTED_CITY_FIGURES[city].items():
        figure = profile.figure(key)
        assert figure.value == expected, (city, key)
        assert figure.inherited_from is None, (city, key)  # stated by the city itself
        assert figure.confirmed, (city, key)
        assert figure.source.startswith("seed 00") and figure.clause, (city, key)


def test_national_figures_and_confirmation_flags():
    national = load_profile("national")
    for key, expected in EXPECTED_NATIONAL.items():
        assert national.value(key) == expected, key
    # every key but the optional range maxima and a plan's own bed-forecast rate is present nationally, so every
    # city has every figure
    assert set(national.keys()) == set(FIGURES) - {"elderly_m2_per_100_households_new_max",
                                                     "elderly_m2_per_100_households_existing_max",
                                                     "elderly_bed_demand_per_1000_elderly"}
    # [INF]/[NAT-M] figures are unconfirmed and carry their reasoning; GB/census figures are confirmed
    for key in ("walk_speed_m_per_min", "elderly_walk_speed_m_per_min", "dwelling_size_m2", "default_building_levels",
                "elderly_station_min_m2"):
        assert not national.figure(key).confirmed and national.figure(key).note, key
    for key in ("walk_minutes", "household_size", "nursery_seats_per_1000_city", "elderly_beds_per_1000_elderly"):
        assert national.figure(key).confirmed, key
    assert 90 <= national.value("dwelling_size_m2") <= 100


def test_every_builtin_figure_names_source_and_clause():
    for name in list_profiles():
        for figure in load_profile(name):
            assert figure.source and figure.clause and figure.unit == FIGURES[figure.key].unit, (name, figure.key)


def test_fallback_to_national_is_reported():
    shangzhi = load_profile("shangzhi")
    walk = shangzhi.figure("walk_minutes")  # seed 001 has no service circle
    assert walk.value == 15 and walk.inherited_from == "national"
    assert shangzhi.figure("elderly_m2_per_100_households_new").inherited_from == "national"
    assert shangzhi.figure("nursery_seats_per_1000_city").inherited_from is None
    jingdezhen = load_profile("jingdezhen")
    assert jingdezhen.figure("elderly_m2_per_100_households_existing").inherited_from == "national"
    summary = json.loads(json.dumps(load_profile("chifeng").to_dict(), ensure_ascii=False))
    assert summary["inherits"] == "national"
    assert summary["figures"]["household_size"]["inherited_from"] == "national"
    assert summary["figures"]["elderly_station_min_m2"]["clause"] == "社区级养老服务站建筑面积不低于350平方米"


def test_chifeng_single_figure_and_jixi_range():
    chifeng, jixi = load_profile("chifeng"), load_profile("jixi")
    assert chifeng.elderly_m2_per_100_households("new") == 20
    assert chifeng.elderly_m2_per_100_households("existing") == 20
    assert chifeng.get("elderly_m2_per_100_households_new_max") is None
    assert jixi.elderly_m2_per_100_households("new") == 20
    assert jixi.value("elderly_m2_per_100_households_new_max") == 30
    assert jixi.elderly_m2_per_100_households("existing") == 15
    assert jixi.value("elderly_m2_per_100_households_existing_max") == 20


def test_derived_questions_by_hand():
    chifeng = load_profile("chifeng")
    assert chifeng.walk_speed_m_per_min("elderly_day_care") == 55
    assert chifeng.walk_speed_m_per_min("nursery") == 64
    assert chifeng.walk_limit_m("elderly_day_care") == 15 * 55 == 825
    assert chifeng.walk_limit_m("nursery") == 15 * 64 == 960
    assert chifeng.walk_limit_m("nursery", minutes=5) == 320
    assert chifeng.nursery_seats_per_1000("new") == 10
    assert chifeng.nursery_seats_per_1000("existing") == 8
    assert chifeng.nursery_seats_per_1000("city") == 4.5
    with pytest.raises(ConfigError, match="area_type 'old'"):
        chifeng.nursery_seats_per_1000("old")
    with pytest.raises(ConfigError, match="kind 'school'"):
        chifeng.walk_speed_m_per_min("school")


def test_user_profile_inherits_from_chifeng_and_overrides_one_figure(tmp_path: Path):
    path = tmp_path / "my_district.toml"
    path.write_text(
        'title = "My district"\ninherits = "chifeng"\n'
        '[figures.elderly_walk_speed_m_per_min]\nvalue = 45\nunit = "m/min"\n'
        'source = "district survey 2024"\nclause = "frail users"\n',
        encoding="utf-8",
    )
    mine = load_profile(path)
    assert mine.name == "my_district" and mine.parent == "chifeng" and mine.path == path.resolve()
    speed = mine.figure("elderly_walk_speed_m_per_min")
    assert (speed.value, speed.source, speed.inherited_from, speed.confirmed) == (45, "district survey 2024", None, False)
    assert mine.walk_limit_m("elderly_day_care") == 15 * 45
    assert mine.figure("elderly_station_min_m2").inherited_from == "chifeng"
    assert mine.figure("household_size").inherited_from == "national"
    assert mine.value("nursery_seats_per_1000_existing") == 8
    # shorthand values and a parent given by relative path
    child = tmp_path / "child.toml"
    child.write_text('inherits = "my_district.toml"\n[figures]\nwalk_minutes = 10\n', encoding="utf-8")
    assert load_profile(str(child)).walk_limit_m("elderly_day_care") == 10 * 45


def test_with_overrides_records_override_and_validates():
    jixi = load_profile("jixi")
    what_if = jixi.with_overrides(walk_minutes=10, nursery_seats_per_1000_new=12)
    assert what_if.value("walk_minutes") == 10 and what_if.figure("walk_minutes").source == "override"
    assert what_if.walk_limit_m("nursery") == 640
    assert jixi.value("walk_minutes") == 15  # the original is untouched
    with pytest.raises(ConfigError) as err:
        jixi.with_overrides(elderly_m2_per_100_households_new_max=10)
    assert "jixi.toml (override)" in str(err.value) and "elderly_m2_per_100_households_new_max" in str(err.value)


def test_missing_everywhere_names_profile_and_key(tmp_path: Path):
    path = tmp_path / "bare.toml"
    path.write_text('[figures.walk_minutes]\nvalue = 12\n', encoding="utf-8")
    bare = load_profile(path)
    with pytest.raises(ConfigError) as err:
        bare.value("household_size")
    assert str(path) in str(err.value) and "household_size" in str(err.value)


INVALID_FIGURES = [
    # (figure text, key the message must name, phrase it must contain)
    ('[figures.walk_speed]\nvalue = 60\n', "walk_speed", "walk_speed_m_per_min"),  # unknown key lists valid ones
    ('[figures.walk_minutes]\nunit = "min"\n', "walk_minutes", "has no value"),
    ('[figures.household_size]\nvalue = "2.6 persons"\n', "household_size", "not a number"),
    ('[figures.nursery_seats_per_1000_new]\nvalue = -10\n', "nursery_seats_per_1000_new", "not negative"),
    ('[figures.elderly_m2_per_100_households_new_max]\nvalue = 15\n', "elderly_m2_per_100_households_new_max", "upper end"),
    ('[figures]\nelderly_m2_per_100_households_existing = 25\nelderly_m2_per_100_households_existing_max = 30\n',
     "elderly_m2_per_100_households_existing", "stricter"),
    ('[figures.nursery_seats_per_1000_city]\nvalue = 12\n', "nursery_seats_per_1000_city", "city-wide average"),
    ('[figures.walk_speed_m_per_min]\nvalue = 150\n', "walk_speed_m_per_min", "between 20 and 120"),
    ('[figures.elderly_walk_speed_m_per_min]\nvalue = 10\n', "elderly_walk_speed_m_per_min", "between 20 and 120"),
    ('[figures.day_care_coverage_target]\nvalue = 90\n', "day_care_coverage_target", "between 0 and 1"),
    ('[figures.childcare_coverage_target]\nvalue = 1.5\n', "childcare_coverage_target", "between 0 and 1"),
    ('[figures.walk_speed_m_per_min]\nvalue = 1.1\nunit = "m/s"\n', "walk_speed_m_per_min", "m/min"),
    ('[figures.four_sync_delivery_rule]\nvalue = "last_phase"\n', "four_sync_delivery_rule", "first_phase"),
    ('[figures.nursery_seats_per_1000_by_year]\nvalue = { soon = 4.5 }\n', "nursery_seats_per_1000_by_year", "year"),
    ('[figures.walk_minutes]\nvalue = 15\nclaus = "typo"\n', "walk_minutes", "claus"),
]


@pytest.mark.parametrize("figure_text, key, phrase", INVALID_FIGURES)
def test_validation_errors_name_file_and_key(tmp_path: Path, figure_text: str, key: str, phrase: str):
    path = tmp_path / "bad.toml"
    path.write_text('inherits = "jixi"\n' + figure_text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    message = str(err.value)
    assert str(path) in message and key in message and phrase in message, message


def test_inheritance_errors(tmp_path: Path):
    (tmp_path / "a.toml").write_text('inherits = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('inherits = "a.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cycle: a.toml -> b.toml -> a.toml"):
        load_profile(tmp_path / "a.toml")
    orphan = tmp_path / "orphan.toml"
    orphan.write_text('inherits = "atlantis"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(orphan)
    assert str(orphan) in str(err.value) and "'atlantis' in key 'inherits'" in str(err.value)
    with pytest.raises(ConfigError, match="unknown profile 'gotham'"):
        load_profile("gotham")
    misplaced = tmp_path / "misplaced.toml"
    misplaced.write_text('inherits = "national"\nwalk_minutes = 10\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"walk_minutes \(figures go under"):
        load_profile(misplaced)
    broken = tmp_path / "broken.toml"
    broken.write_text('inherits = "national"\n[figures.walk_minutes\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile(broken)
