"""Demand projections against Jixi's published tables (seed 000 图表2, 图表3, 图表5) and time-phased siting against
brute force. See siting/optimisation/projection.py for how each published number follows from the table."""
from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from siting.errors import InputError, OptimizationError
from siting.inputs.profiles import load_profile
from siting.optimisation.projection import (
    phase_openings,
    project_demand,
    projection_from_frame,
    read_projection,
)

JIXI_TABLE = Path(__file__).resolve().parents[1] / "data" / "jixi_projection.csv"

# 图表5: total seats per year; 2021 is the counted stock (现有托位数1270个)
PUBLISHED_SEATS = {2021: 1270, 2022: 1900, 2023: 3000, 2024: 4500, 2025: 6300}
PUBLISHED_SEAT_INCREASE = {2022: 630, 2023: 1730, 2024: 3230, 2025: 5030}  # 较2021年需增加托位
SEAT_RATES = {2021: 0.86, 2022: 1.32, 2023: 2.11, 2024: 3.21, 2025: 4.5}  # 每千名人口托位率
# 图表3: beds per year; 2020 stock 10,059; rate printed 0.2765 (= 27.65 per 1,000 elderly)
PUBLISHED_BEDS = {2021: 11159, 2022: 11837, 2023: 12548, 2024: 13219, 2025: 13936}
PUBLISHED_BED_GAP = {2021: 1100, 2022: 1778, 2023: 2489, 2024: 3160, 2025: 3877}  # 较2020年床位缺口
PUBLISHED_ELDERLY_WAN = {2021: 40.36, 2022: 42.81, 2023: 45.38, 2024: 47.81, 2025: 50.40}  # 图表3 合计 (万人)
PUBLISHED_TOTAL_WAN = {2021: 146.84, 2022: 144.03, 2023: 141.91, 2024: 140.32, 2025: 139.24}  # 图表2 合计


@pytest.fixture(scope="module")
def jixi() -> pd.DataFrame:
    table = read_projection(JIXI_TABLE)
    profile = load_profile("jixi")
    return project_demand(table, profile, seats_per_1000_by_year={**profile.value("nursery_seats_per_1000_by_year"), 2021: 0.86},
                          beds_per_1000_elderly=27.65, existing_seats=1270, existing_beds=10059).set_index("year")


def test_table_totals_match_published_within_group_rounding(jixi):
    # 13 groups each rounded to 0.01万 (±50 persons): the sum may differ from the printed 合计 by up to 13 × 50.
    for year, wan in PUBLISHED_TOTAL_WAN.items():
        assert abs(jixi.loc[year, "population"] - wan * 1e4) <= 13 * 50
    for year, wan in PUBLISHED_ELDERLY_WAN.items():  # the three 60+ groups sum exactly to 图表3's 合计
        assert jixi.loc[year, "elderly_60_plus"] == pytest.approx(wan * 1e4)


def test_jixi_seat_path_2022_to_2025_is_population_times_rate_rounded_to_hundreds(jixi):
    # hand calculation, 2025: 1,392,400 × 4.5 / 1000 = 6,265.8 -> 6,300
    assert jixi.loc[2025, "required_seats"] == pytest.approx(1_392_400 * 4.5 / 1000)
    for year in (2022, 2023, 2024, 2025):
        assert round(jixi.loc[year, "required_seats"], -2) == PUBLISHED_SEATS[year]
        assert round(jixi.loc[year, "required_seats"], -2) - 1270 == PUBLISHED_SEAT_INCREASE[year]
    assert jixi.loc[2025, "seats_per_1000"] == 4.5


def test_jixi_2021_seats_are_the_stock_reproduced_within_the_rate_rounding(jixi):
    # 0.86 = 1270 / 1,468,400 × 1000 = 0.8649 rounded to two decimals, so pop × 0.86 / 1000 is 1270 only within
    # pop × 0.005 / 1000 = 7.3 seats (it computes to 1,262.7 from the group sums).
    pop = jixi.loc[2021, "population"]
    assert abs(jixi.loc[2021, "required_seats"] - PUBLISHED_SEATS[2021]) <= pop * 0.005 / 1000
    assert round(PUBLISHED_SEATS[2021] / (PUBLISHED_TOTAL_WAN[2021] * 1e4) * 1000, 2) == SEAT_RATES[2021]


def test_jixi_bed_path_is_elderly_times_27_65_per_1000(jixi):
    for year in (2022, 2023, 2024, 2025):
        assert round(jixi.loc[year, "required_beds"]) == PUBLISHED_BEDS[year]
        assert round(jixi.loc[year, "beds_gap"]) == PUBLISHED_BED_GAP[year]
    # 2021: 403,600 × 27.65 / 1000 = 11,159.54; published 11,159. The 60+ population is printed to 0.01万, so the
    # exact figure is uncertain by ± 50 persons = ± 1.38 beds: the published value is within that rounding.
    assert jixi.loc[2021, "required_beds"] == pytest.approx(11159.54)
    assert abs(jixi.loc[2021, "required_beds"] - PUBLISHED_BEDS[2021]) <= 50 * 27.65 / 1000
    assert abs(jixi.loc[2021, "beds_gap"] - PUBLISHED_BED_GAP[2021]) <= 50 * 27.65 / 1000
    # the 2020 stock itself: 378,800 elderly × 26.55 / 1000 = 10,057.1 ≈ 10,059 within the rate's 2-decimal rounding
    assert abs(378_800 * 26.55 / 1000 - 10059) <= 378_800 * 0.005 / 1000


def test_profile_rates_by_default_and_floor_area(jixi):
    table = read_projection(JIXI_TABLE)
    profile = load_profile("jixi")
    out = project_demand(table, profile).set_index("year")
    assert np.isnan(out.loc[2021, "required_seats"])  # the profile's path starts in 2022: no 2021 target
    assert out.loc[2024, "seats_per_1000"] == 3.21
    assert out.loc[2025, "beds_per_1000_elderly"] == 30.0  # Jixi's 图表7 indicator, not 图表3's 27.65
    assert out.loc[2025, "required_beds"] == pytest.approx(504_000 * 30 / 1000)
    hh = 1_392_400 / float(profile.value("household_size"))
    assert out.loc[2025, "required_floor_area_m2"] == pytest.approx(hh * 15 / 100)  # existing areas: 15 m²/100 hh
    new = project_demand(table, profile, area_type="new", existing_floor_area_m2={2021: 1000.0, 2024: 5000.0}).set_index("year")
    assert new.loc[2025, "required_floor_area_m2"] == pytest.approx(hh * 20 / 100)
    assert new.loc[2023, "floor_area_gap_m2"] == pytest.approx(new.loc[2023, "required_floor_area_m2"] - 1000.0)
    assert new.loc[2025, "floor_area_gap_m2"] == pytest.approx(new.loc[2025, "required_floor_area_m2"] - 5000.0)


def test_bad_rows_name_row_and_column():
    frame = pd.DataFrame({"year": ["2021", "2021", "20x2"], "age_group": ["0-2", "60-69", "80+"], "population": ["1", "2", "3"]})
    with pytest.raises(InputError) as err:
        projection_from_frame(frame, source="t.csv")
    assert err.value.row == 4 and err.value.column == "year"
    frame = pd.DataFrame({"year": [2021, 2021], "age_group": ["0-2", "55-64"], "population": [1, 2]})
    with pytest.raises(InputError, match="straddles") as err:
        projection_from_frame(frame, source="t.csv")
    assert err.value.row == 3
    frame = pd.DataFrame({"年份": [2021, 2021], "年龄段": ["0—2周岁", "80周岁以上"], "人口": [10, 20]})
    parsed = projection_from_frame(frame)
    assert parsed["population"].tolist() == [10.0, 20.0]


# ------------------------------------------------------------------------------------------- phasing vs brute force

def _brute_force(sites: pd.DataFrame, required: dict[int, float], rate: float, penalty: float | None) -> float:
    """Every assignment site -> opening year or never."""
    years = sorted(required)
    best = float("inf")
    for choice in product([None, *years], repeat=len(sites)):
        if any(t is not None and t < sites["available_from"].iloc[j] for j, t in enumerate(choice)):
            continue
        value = sum(sites["cost"].iloc[j] / (1 + rate) ** (t - years[0]) for j, t in enumerate(choice) if t is not None)
        ok = True
        for t in years:
            have = sum(sites["capacity"].iloc[j] for j, tau in enumerate(choice) if tau is not None and tau <= t)
            gap = max(required[t] - have, 0.0)
            if gap > 1e-9:
                if penalty is None:
                    ok = False
                    break
                value += penalty * gap / (1 + rate) ** (t - years[0])
        if ok:
            best = min(best, value)
    return best


SITES = pd.DataFrame({"site_id": ["A", "B", "C", "D", "E"], "capacity": [30.0, 50.0, 20.0, 80.0, 40.0],
                      "cost": [100.0, 150.0, 70.0, 260.0, 110.0], "available_from": [2021, 2021, 2022, 2023, 2021]})


@pytest.mark.parametrize("rate,penalty,required", [
    (0.0, None, {2021: 20.0, 2022: 60.0, 2023: 120.0}),
    (0.08, None, {2021: 20.0, 2022: 60.0, 2023: 120.0}),
    (0.05, 2.5, {2021: 40.0, 2022: 90.0, 2023: 200.0}),
    (0.0, 10.0, {2021: 0.0, 2022: 50.0, 2023: 220.0}),
])
def test_phasing_equals_brute_force(rate, penalty, required):
    plan = phase_openings(SITES, required, discount_rate=rate, shortfall_penalty=penalty)
    assert plan.sol_status in ("Optimal Solution Found", "Solution Found")
    assert plan.objective == pytest.approx(_brute_force(SITES, required, rate, penalty), rel=1e-7)
    # the plan's own table agrees with its openings, and each site opens at most once, never before it is available
    assert plan.openings["site_id"].is_unique
    merged = plan.openings.merge(SITES, on="site_id", suffixes=("", "_site"))
    assert (merged["year"] >= merged["available_from"]).all()
    if penalty is None:
        assert (plan.by_year["shortfall"] == 0).all()
        assert (plan.by_year["capacity_total"] >= plan.by_year["required"] - 1e-9).all()


def test_phasing_infeasible_is_reported():
    with pytest.raises(OptimizationError, match="no phasing"):
        phase_openings(SITES, {2021: 500.0})


def test_jixi_profile_bed_demand_rate_reproduces_published_beds():
    """The profile's demand-forecast rate (27.65 per 1,000 elderly, 图表3), read as data, gives the published beds
    2022–2025 exactly when rounded."""
    profile = load_profile("jixi")
    rate = profile.value("elderly_bed_demand_per_1000_elderly")
    table = project_demand(read_projection(JIXI_TABLE), profile, beds_per_1000_elderly=rate).set_index("year")
    for year in (2022, 2023, 2024, 2025):
        assert round(table.loc[year, "required_beds"]) == PUBLISHED_BEDS[year]
    assert (table["beds_per_1000_elderly"] == 27.65).all()


def test_negative_rates_and_supplies_are_refused_from_python_too():
    """The command line refuses --existing-seats -100; project_demand called from a script says the same, before any
    work (it would otherwise write required beds of −2,018)."""
    from siting.errors import ConfigError

    table = read_projection(JIXI_TABLE)
    with pytest.raises(ConfigError) as err:
        project_demand(table, load_profile("jixi"), existing_seats=-100)
    assert str(err.value) == ("column 'existing_seats': existing_seats = -100 is not a number of zero or more. "
                              "Expected a number ≥ 0. Fix: correct existing_seats")
    with pytest.raises(ConfigError, match=r"beds_per_1000_elderly\[2024\] = -5 is not a number of zero or more"):
        project_demand(table, load_profile("jixi"), beds_per_1000_elderly={2023: 30, 2024: -5})
    ok = project_demand(table, load_profile("jixi"), existing_seats=np.int64(1270), beds_per_1000_elderly=np.float64(27.65))
    assert (ok["required_beds"] >= 0).all()
