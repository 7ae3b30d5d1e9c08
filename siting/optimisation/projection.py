"""Demand projections by year, and time-phased siting: how many childcare seats, elderly-care beds and day-care
floor area the standards ask for each year, what that leaves short of today's supply, and which sites to open in
which year so that every year's target is met at least discounted cost.

Input: a population projection in long form — one row per (year, age group) with the population in persons, like
Jixi's 2021–2025 table (seed 000 图表2, shipped as data/jixi_projection.csv). Age groups are labels such as
"0-2", "60-69", "80+"; a group counts as elderly (60+) when its lower bound is at least 60.

How Jixi's published paths follow from its own table (tests/test_projection.py checks each):
  * seats (图表5) = total population × seats per 1,000 residents (1.32, 2.11, 3.21, 4.5 for 2022–2025) / 1,000,
    rounded to the nearest 100 seats: 1,901 → 1,900; 2,995 → 3,000; 4,504 → 4,500; 6,266 → 6,300.
    2021's 1,270 is the counted stock (现有托位数), and 0.86 is 1,270 / 1,468,400 × 1,000 rounded to two decimals,
    so the table reproduces it only within that rounding (1,263 ± 7).
  * beds (图表3) = population aged 60+ × 27.65 beds per 1,000 elderly / 1,000, rounded to whole beds (the table
    prints the rate as "0.2765"; per 1,000 it is 27.65, since 10,059 / 378,800 = 26.55 for 2020 printed "0.2655").
    2022–2025 are exact (11,837; 12,548; 13,219; 13,936). 2021 computes to 11,159.5 and is published as 11,159:
    within the rounding of the 60+ population to 0.01万 (± 50 persons × 27.65 / 1,000 = ± 1.4 beds).
    27.65 is the provincial plan's rate; Jixi's own 2025 indicator (图表7) is 30 beds per 1,000 elderly, which
    gives 15,120. The Jixi profile carries both: `elderly_beds_per_1000_elderly` = 30 (the supply target, the
    default here) and `elderly_bed_demand_per_1000_elderly` = 27.65 (pass it to reproduce 图表3).
"""
from __future__ import annotations

import numbers
import os
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError, OptimizationError

ELDERLY_MIN_AGE = 60

_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "year": ("year", "年份", "年"),
    "age_group": ("age_group", "age", "年龄段", "年龄组", "年龄"),
    "population": ("population", "persons", "人口", "人数"),
}


# ------------------------------------------------------------------------------------------- projection table

def read_projection(path: str | os.PathLike) -> pd.DataFrame:
    """A projection table (CSV or .xlsx) as columns year (int), age_group (str), population (persons, float)."""
    from ..inputs.layers import read_table

    raw = read_table(path)
    return projection_from_frame(raw, source=str(path))


def projection_from_frame(frame: pd.DataFrame, *, source: str = "projection table") -> pd.DataFrame:
    """Validate a long-form projection; errors name the spreadsheet row (header = 1) and column."""
    headers = {str(c).strip().lower(): c for c in frame.columns}
    found: dict[str, str] = {}
    for field, aliases in _COLUMN_ALIASES.items():
        match = next((headers[a] for a in aliases if a in headers), None)
        if match is None:
            raise InputError(f"no {field} column", file=source, column=field,
                             expected="columns " + ", ".join(a[0] for a in _COLUMN_ALIASES.values()),
                             fix="name the columns year, age_group, population (persons, not 万人)")
        found[field] = match
    out = pd.DataFrame({
        "year": _column_numbers(frame, found["year"], source, "a four-digit year"),
        "age_group": frame[found["age_group"]].astype(str).str.strip(),
        "population": _column_numbers(frame, found["population"], source, "a number of persons"),
    })
    bad_year = (out["year"] % 1 != 0) | ~out["year"].between(1900, 2200)
    if bad_year.any():
        i = int(np.flatnonzero(bad_year.to_numpy())[0])
        raise InputError(f"'{frame[found['year']].iloc[i]}' is not a year", file=source, row=i + 2,
                         column=str(found["year"]), expected="a four-digit year such as 2025")
    if (out["population"] < 0).any():
        i = int(np.flatnonzero((out["population"] < 0).to_numpy())[0])
        raise InputError("population is negative", file=source, row=i + 2, column=str(found["population"]),
                         expected="zero or a positive number of persons")
    out["year"] = out["year"].astype(int)
    for i, label in enumerate(out["age_group"]):
        if _age_bounds(label) is None:
            raise InputError(f"age group '{label}' is not understood", file=source, row=i + 2,
                             column=str(found["age_group"]), expected="labels such as 0-2, 60-69, 80+",
                             fix="write the youngest and oldest age of the group, or 80+ for an open group")
        low, high = _age_bounds(label)
        if low < ELDERLY_MIN_AGE <= high:
            raise InputError(f"age group '{label}' straddles age {ELDERLY_MIN_AGE}", file=source, row=i + 2,
                             column=str(found["age_group"]), expected=f"groups that end below {ELDERLY_MIN_AGE} or start at {ELDERLY_MIN_AGE} or above",
                             fix="split the group at 60 so elderly residents can be counted")
    dup = out.duplicated(["year", "age_group"], keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"year {out['year'].iloc[i]} lists age group '{out['age_group'].iloc[i]}' twice",
                         file=source, row=i + 2, column=str(found["age_group"]), fix="remove the repeated row")
    return out


def _column_numbers(frame: pd.DataFrame, column: str, source: str, expected: str) -> pd.Series:
    text = frame[column].astype(str).str.strip().str.replace(",", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"'{frame[column].iloc[i]}' is not a number", file=source, row=i + 2, column=str(column),
                         expected=expected)
    return numbers.astype(float).reset_index(drop=True)


def _age_bounds(label: str) -> tuple[float, float] | None:
    """(lowest, highest) age in a label such as '0-2', '0—2周岁', '80+', '80周岁以上'."""
    text = label.replace("—", "-").replace("–", "-").replace("～", "-").replace("~", "-")
    match = re.match(r"^\s*(\d+)\s*(?:周岁|岁)?\s*(?:-\s*(\d+)|(\+|以上|及以上|plus))?", text)
    if not match:
        return None
    low = float(match.group(1))
    if match.group(2):
        return low, float(match.group(2))
    if match.group(3) or "+" in text or "以上" in text:
        return low, float("inf")
    return low, low


# ------------------------------------------------------------------------------------------- yearly requirement

def yearly_population(table: pd.DataFrame) -> pd.DataFrame:
    """Per year: total population and population aged 60+ (persons)."""
    elderly = table["age_group"].map(lambda g: _age_bounds(g)[0] >= ELDERLY_MIN_AGE)
    total = table.groupby("year")["population"].sum()
    old = table[elderly.to_numpy()].groupby("year")["population"].sum().reindex(total.index, fill_value=0.0)
    return pd.DataFrame({"year": total.index.astype(int), "population": total.to_numpy(), "elderly_60_plus": old.to_numpy()})


def rate_for_year(rates: float | Mapping[int, float] | None, year: int) -> float:
    """A yearly path holds from its year until the next entry; before its first year there is no target (NaN)."""
    if rates is None:
        return float("nan")
    if not isinstance(rates, Mapping):
        return float(rates)
    known = sorted(int(y) for y in rates if int(y) <= year)
    return float(rates[known[-1]]) if known else float("nan")


def _existing(value: float | Mapping[int, float], year: int) -> float:
    return rate_for_year(value, year) if isinstance(value, Mapping) else float(value)


def project_demand(
    table: pd.DataFrame,
    profile,
    *,
    seats_per_1000_by_year: Mapping[int, float] | float | None = None,
    beds_per_1000_elderly: Mapping[int, float] | float | None = None,
    area_type: str = "existing",
    existing_seats: float | Mapping[int, float] = 0.0,
    existing_beds: float | Mapping[int, float] = 0.0,
    existing_floor_area_m2: float | Mapping[int, float] = 0.0,
) -> pd.DataFrame:
    """Required seats, beds and day-care floor area per year, and the gap to existing supply (positive = short).

    Rates default to the profile: `nursery_seats_per_1000_by_year` (falling back to `nursery_seats_per_1000_city`),
    `elderly_beds_per_1000_elderly` (the supply standard; a plan's own demand-forecast rate, where the profile has
    one, is `elderly_bed_demand_per_1000_elderly`), and `elderly_m2_per_100_households_<area_type>` with households = population /
    `household_size`. City-wide projections default to the existing-area floor-area standard because most
    households live in built areas; pass area_type="new" for a new district. Values are not rounded.
    """
    for name, value in (("seats_per_1000_by_year", seats_per_1000_by_year), ("beds_per_1000_elderly", beds_per_1000_elderly),
                        ("existing_seats", existing_seats), ("existing_beds", existing_beds),
                        ("existing_floor_area_m2", existing_floor_area_m2)):
        _check_non_negative(name, value)
    if seats_per_1000_by_year is None:
        seats_per_1000_by_year = profile.get("nursery_seats_per_1000_by_year") or profile.get("nursery_seats_per_1000_city")
    if beds_per_1000_elderly is None:
        beds_per_1000_elderly = profile.get("elderly_beds_per_1000_elderly")
    m2_per_100 = profile.elderly_m2_per_100_households(area_type)
    household_size = float(profile.value("household_size"))

    out = yearly_population(table)
    years = out["year"].tolist()
    out["households"] = out["population"] / household_size
    out["seats_per_1000"] = [rate_for_year(seats_per_1000_by_year, y) for y in years]
    out["required_seats"] = out["population"] * out["seats_per_1000"] / 1000.0
    out["existing_seats"] = [_existing(existing_seats, y) for y in years]
    out["seats_gap"] = out["required_seats"] - out["existing_seats"]
    out["beds_per_1000_elderly"] = [rate_for_year(beds_per_1000_elderly, y) for y in years]
    out["required_beds"] = out["elderly_60_plus"] * out["beds_per_1000_elderly"] / 1000.0
    out["existing_beds"] = [_existing(existing_beds, y) for y in years]
    out["beds_gap"] = out["required_beds"] - out["existing_beds"]
    out["m2_per_100_households"] = m2_per_100
    out["required_floor_area_m2"] = out["households"] * m2_per_100 / 100.0
    out["existing_floor_area_m2"] = [_existing(existing_floor_area_m2, y) for y in years]
    out["floor_area_gap_m2"] = out["required_floor_area_m2"] - out["existing_floor_area_m2"]
    return out


# ------------------------------------------------------------------------------------------- time-phased siting

@dataclass
class PhasedPlan:
    """Which site opens in which year. `status` is pulp's model status, `sol_status` whether a solution exists."""

    openings: pd.DataFrame  # site_id, year, capacity, cost, discounted_cost
    by_year: pd.DataFrame  # year, required, capacity_opened, capacity_total, shortfall
    objective: float  # discounted cost + shortfall penalty
    status: str
    sol_status: str


def phase_openings(
    candidates: pd.DataFrame,
    required_by_year: Mapping[int, float],
    *,
    discount_rate: float = 0.0,
    shortfall_penalty: float | None = None,
    time_limit_s: float | None = None,
) -> PhasedPlan:
    """Open candidate sites over the years so that the capacity opened by year t covers `required_by_year[t]`
    (the additional capacity needed by then, e.g. a `seats_gap` path) at least cost discounted to the first year.

    `candidates`: site_id, capacity, cost, and optionally available_from (first year the site can open).
    A site opens at most once and its capacity counts from its opening year on. Without `shortfall_penalty`
    every year's requirement is a hard constraint (OptimizationError when no plan meets it); with it, each unit of
    capacity missing in a year costs `shortfall_penalty` instead.
    """
    import pulp

    from .solvers import pulp_variable_maker

    for column in ("site_id", "capacity", "cost"):
        if column not in candidates.columns:
            raise InputError(f"candidates have no {column} column", column=column,
                             expected="columns site_id, capacity, cost (and optionally available_from)")
    if not required_by_year:
        raise ConfigError("no yearly requirement given", expected="a mapping year -> required capacity")
    years = sorted(int(y) for y in required_by_year)
    first = years[0]
    sites = candidates.reset_index(drop=True)
    ids = sites["site_id"].astype(str).tolist()
    capacity = sites["capacity"].to_numpy(dtype=float)
    cost = sites["cost"].to_numpy(dtype=float)
    available = (sites["available_from"].to_numpy(dtype=float) if "available_from" in sites.columns
                 else np.full(len(sites), -np.inf))
    factor = {t: 1.0 / (1.0 + discount_rate) ** (t - first) for t in years}
    required = {t: max(float(required_by_year[t]), 0.0) for t in years}

    model = pulp.LpProblem("phased_siting", pulp.LpMinimize)
    new_var = pulp_variable_maker(model)
    x = {(j, t): new_var(f"open_{j}_{t}", 0, 1, cat="Binary")
         for j in range(len(ids)) for t in years if t >= available[j]}
    short = {t: new_var(f"short_{t}", 0) for t in years} if shortfall_penalty is not None else {}
    model += (pulp.lpSum(cost[j] * factor[t] * var for (j, t), var in x.items())
              + pulp.lpSum(float(shortfall_penalty or 0.0) * factor[t] * s for t, s in short.items()))
    for j in range(len(ids)):
        opens = [var for (jj, _), var in x.items() if jj == j]
        if len(opens) > 1:
            model += pulp.lpSum(opens) <= 1, f"once_{j}"
    for t in years:
        opened = pulp.lpSum(capacity[j] * var for (j, tau), var in x.items() if tau <= t)
        model += opened + (short[t] if short else 0) >= required[t], f"meet_{t}"
    from .solvers import (
        cbc_command,  # CBC without pulp 3.3's PULP_CBC_CMD deprecation warning
    )

    solver = cbc_command(msg=False, timeLimit=time_limit_s)
    model.solve(solver)
    status = pulp.LpStatus[model.status]
    sol_status = pulp.LpSolution[model.sol_status]
    if model.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        total = float(capacity.sum())
        raise OptimizationError(
            f"no phasing meets every year's requirement (solver: {status}, {sol_status}); the largest requirement is "
            f"{max(required.values()):g} and all candidates together add {total:g}. Add candidate sites, enlarge "
            f"them, or set a shortfall penalty to report the gap instead")
    rows = []
    for (j, t), var in sorted(x.items(), key=lambda item: (item[0][1], ids[item[0][0]])):
        if var.value() is not None and var.value() > 0.5:
            rows.append({"site_id": ids[j], "year": t, "capacity": capacity[j], "cost": cost[j],
                         "discounted_cost": cost[j] * factor[t]})
    openings = pd.DataFrame(rows, columns=["site_id", "year", "capacity", "cost", "discounted_cost"])
    by_year = _phase_table(openings, required, years)
    return PhasedPlan(openings, by_year, float(pulp.value(model.objective) or 0.0), status, sol_status)


def _phase_table(openings: pd.DataFrame, required: Mapping[int, float], years: list[int]) -> pd.DataFrame:
    opened = openings.groupby("year")["capacity"].sum().reindex(years, fill_value=0.0)
    total = opened.cumsum()
    return pd.DataFrame({
        "year": years,
        "required": [required[t] for t in years],
        "capacity_opened": opened.to_numpy(),
        "capacity_total": total.to_numpy(),
        "shortfall": np.maximum(np.array([required[t] for t in years]) - total.to_numpy(), 0.0),
    })


def _check_non_negative(name: str, value) -> None:
    """A rate or a supply below zero means nothing (it would turn into a negative requirement): refuse it, as the
    command line does, when project_demand is called from Python."""
    values = value.items() if isinstance(value, Mapping) else [(None, value)]
    for year, number in values:
        if number is None:
            continue
        if not isinstance(number, numbers.Real) or isinstance(number, bool) or not number >= 0:
            where = f"[{year}]" if year is not None else ""
            raise ConfigError(f"{name}{where} = {number!r} is not a number of zero or more", column=name,
                              expected="a number ≥ 0", fix=f"correct {name}")
