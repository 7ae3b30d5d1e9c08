"""Per-unit measures: for every 小区, 社区, 街道, 行政村 or 区, what the plans and the city health check count.

Both kinds of measure the plans use, side by side: the household measures of the walking circle (households,
residents, the share of households within each ring) and the unit measures (facilities inside the unit, whether the
unit *has* the service — a facility inside it, and/or one facility reaching at least `unit_reach_share` of its
households within the walk —, floor area per 100 households and seats per 1,000 residents of the facilities inside
it against the standard of its households, the shortfall, the facility hierarchy and beds).

Works on the coverage result (residences and facilities carrying `unit_<level>` from siting.measures.units) and its reach
pairs; no file I/O.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..inputs.schema import CAPACITY_COLUMN, ELDERLY, KINDS, NURSERY
from ..network.routing import Reach
from . import capacity as measures
from .units import PARENT_LEVELS, UnitLayer, parent_of

#: Facility levels that count as elderly day care of a 社区 or village (a street centre inside a 社区 serves it too).
DAY_CARE_LEVELS = ("community_station", "street_centre", "xiaoqu_room")


def facility_reach_by_unit(reach: Reach, residence_units: np.ndarray, households: np.ndarray) -> pd.DataFrame:
    """Households of each unit each facility reaches: columns src (facility position among those reached),
    unit_id, households. `reach` is already cut to the walking circle."""
    units = residence_units[reach.dst]
    ok = pd.notna(units)
    frame = pd.DataFrame({"src": reach.src[ok], "unit_id": units[ok], "households": households[reach.dst][ok]})
    return frame.groupby(["src", "unit_id"], sort=True, as_index=False)["households"].sum()


def used_facility_ids(facilities: pd.DataFrame, kind: str) -> np.ndarray:
    """Ids of the facilities of `kind` in the order the coverage stage's reach pairs number them (on the network)."""
    fac = facilities[facilities["kind"] == kind]
    return fac.loc[fac["snap_ok"].astype(bool), "fac_id"].astype(str).to_numpy()


def unit_measures(result, layer: UnitLayer, profile, *, layers: Sequence[UnitLayer] = (),
                  candidates_reach: dict | None = None) -> pd.DataFrame:
    """One row per unit of `layer` with the household and unit measures of both kinds (see the module docstring).
    `result` is a siting.coverage.CoverageResult whose frames carry `unit_<level>`."""
    level = layer.level
    column = f"unit_{level}"
    res = result.residences
    fac = result.facilities
    circle = float(result.summary["walk_minutes"])
    rings = [float(t) for t in result.summary["thresholds_min"]]
    units = layer.units
    ids = units["unit_id"].astype(str).tolist()
    out = pd.DataFrame({"level": level, "unit_id": ids, "name": units["name"].tolist()})
    parent_level = next((lv for lv in PARENT_LEVELS[level] if any(lyr.level == lv for lyr in layers)), None)
    parents = parent_of(layers, level, parent_level, res) if parent_level else {}
    out["parent_level"] = parent_level
    out["parent_id"] = [parents.get(u) for u in ids]
    unit_area = dict(zip(ids, units["area_type"].tolist()))
    out["area_type"] = [unit_area.get(u) for u in ids]

    res_unit = res[column].to_numpy(dtype=object) if column in res.columns else np.full(len(res), None, dtype=object)
    households = res["households"].to_numpy(dtype=np.float64)
    population = res["population"].to_numpy(dtype=np.float64)
    grouped = pd.DataFrame({"unit_id": res_unit, "households": households, "population": population})
    for extra in ("elderly", "infants"):
        grouped[extra] = res[extra].to_numpy(dtype=np.float64) if extra in res.columns else np.nan
    sums = grouped.dropna(subset=["unit_id"]).groupby("unit_id").agg(
        residences=("households", "size"), households=("households", "sum"), population=("population", "sum"),
        elderly=("elderly", lambda s: s.sum(min_count=1)), infants=("infants", lambda s: s.sum(min_count=1)))
    out = out.join(sums, on="unit_id")
    new_hh = pd.Series(np.where(res["area_type"].to_numpy() == "new", households, 0.0)).groupby(res_unit).sum()
    out["households_new"] = out["unit_id"].map(new_hh).fillna(0.0)
    out["residences"] = out["residences"].fillna(0).astype(int)
    for col in ("households", "population"):
        out[col] = out[col].fillna(0.0)

    # the standard each residence is held to: the unit's area type where the unit layer gives one
    area = res["area_type"].to_numpy(dtype=object).copy()
    override = np.array([unit_area.get(u) if u is not None else None for u in res_unit], dtype=object)
    area = np.where(pd.notna(override), override, area)
    fac_unit = fac[column].to_numpy(dtype=object) if column in fac.columns else np.full(len(fac), None, dtype=object)
    fac_level = fac["facility_level"].to_numpy(dtype=object) if "facility_level" in fac.columns else \
        np.where(fac["kind"] == NURSERY, "nursery", "community_station")
    reach_share = float(profile.value("unit_reach_share"))
    for kind in KINDS:
        walk = np.nan_to_num(res[f"walk_min_{kind}"].to_numpy(dtype=np.float64), nan=np.inf)
        for t in rings:
            within = pd.Series(np.where(walk <= t, households, 0.0)).groupby(res_unit).sum()
            out[f"share_within_{t:g}min_{kind}"] = _ratio(out["unit_id"].map(within).fillna(0.0), out["households"])
        outside = pd.Series(np.where(walk > circle, households, 0.0)).groupby(res_unit).sum()
        out[f"households_outside_walk_{kind}"] = out["unit_id"].map(outside).fillna(0.0)

        is_kind = fac["kind"].to_numpy() == kind
        inside = pd.Series(fac_unit[is_kind]).value_counts()
        out[f"facilities_inside_{kind}"] = out["unit_id"].map(inside).fillna(0).astype(int)
        out[f"has_{kind}_inside"] = out[f"facilities_inside_{kind}"] > 0
        pairs = facility_reach_by_unit(result.kinds[kind].reach.within(circle * result.kinds[kind].speed_m_per_min),
                                       res_unit, households) if kind in result.kinds else \
            pd.DataFrame({"src": [], "unit_id": [], "households": []})
        best = pairs.groupby("unit_id")["households"].max() if len(pairs) else pd.Series(dtype=float)
        out[f"best_reach_share_{kind}"] = _ratio(out["unit_id"].map(best).fillna(0.0), out["households"])
        out[f"has_{kind}_reach"] = out[f"best_reach_share_{kind}"] >= reach_share - 1e-12

        capacity = pd.Series(np.nan_to_num(fac.loc[is_kind, CAPACITY_COLUMN[kind]].to_numpy(dtype=np.float64)))
        cap_inside = capacity.groupby(fac_unit[is_kind]).sum() if is_kind.any() else pd.Series(dtype=float)
        required = measures.required_capacity(kind, households, population, area, profile)
        req_unit = pd.Series(required).groupby(res_unit).sum()
        cap = out["unit_id"].map(cap_inside).fillna(0.0)
        req = out["unit_id"].map(req_unit).fillna(0.0)
        divisor = measures.standard_divisor(kind)
        base = out["households"] if kind == ELDERLY else out["population"]
        name = "m2_per_100_households" if kind == ELDERLY else "seats_per_1000_residents"
        out[f"capacity_inside_{kind}"] = cap
        out[f"required_{kind}"] = req
        out[name] = _ratio(cap, base) * divisor
        out[f"standard_{name}"] = _ratio(req, base) * divisor
        out[f"shortfall_{'m2' if kind == ELDERLY else 'seats'}"] = np.maximum(req - cap, 0.0)
        out[f"provision_verdict_{kind}"] = np.where(base > 0, np.where(cap >= req - 1e-9, "pass", "fail"), "no residents")

    # facility hierarchy (一中心多站点) and beds, elderly facilities only
    elderly = fac["kind"].to_numpy() == ELDERLY
    frame = pd.DataFrame({"unit_id": fac_unit[elderly], "level": fac_level[elderly],
                          "area": fac.loc[elderly, "floor_area_m2"].to_numpy(dtype=np.float64),
                          "beds": fac.loc[elderly, "places"].to_numpy(dtype=np.float64),
                          "nursing": fac.loc[elderly, "nursing_beds"].to_numpy(dtype=np.float64)
                          if "nursing_beds" in fac.columns else np.nan}).dropna(subset=["unit_id"])
    for facility_level, col in (("street_centre", "street_centres"), ("community_station", "community_stations"),
                                ("xiaoqu_room", "xiaoqu_rooms")):
        counts = frame.loc[frame["level"] == facility_level, "unit_id"].value_counts()
        out[col] = out["unit_id"].map(counts).fillna(0).astype(int)
    centres = frame[frame["level"] == "street_centre"].groupby("unit_id")["area"].max()
    out["largest_centre_m2"] = out["unit_id"].map(centres)
    centre_min = float(profile.value("elderly_street_centre_min_m2"))
    out["has_street_centre"] = out["largest_centre_m2"].fillna(0.0) >= centre_min - 1e-9
    beds = frame.groupby("unit_id")["beds"].sum(min_count=1)
    nursing = frame.groupby("unit_id")["nursing"].sum(min_count=1)
    out["beds"] = out["unit_id"].map(beds)
    out["nursing_beds"] = out["unit_id"].map(nursing)
    out["beds_per_1000_elderly"] = _ratio(out["beds"], out["elderly"]) * 1000.0
    out["nursing_bed_share"] = _ratio(out["nursing_beds"], out["beds"])
    if candidates_reach:
        for kind, info in candidates_reach.items():
            out = out.join(best_candidates(info, res_unit, households, res[f"walk_min_{kind}"].to_numpy(dtype=np.float64),
                                           circle, column, kind), on="unit_id")
    return out


def has_service(frame: pd.DataFrame, kind: str, rule: str) -> pd.Series:
    """Whether each unit has the service under a profile rule: inside, reach or inside_or_reach."""
    inside, reach = frame[f"has_{kind}_inside"].astype(bool), frame[f"has_{kind}_reach"].astype(bool)
    return {"inside": inside, "reach": reach, "inside_or_reach": inside | reach}[rule]


def best_candidates(info: dict, res_unit: np.ndarray, households: np.ndarray, walk_min: np.ndarray, circle: float,
                    column: str, kind: str) -> pd.DataFrame:
    """Per unit, the candidate site that would close its gap best: most of the unit's households now outside the
    walk brought within it, then a site inside the unit, then most of its households reached, then the lowest id.
    `info` = {"sites": candidate frame with site_id and unit columns, "reach": Reach candidates → residences within
    the walk}."""
    sites, reach = info["sites"], info["reach"]
    site_ids = sites["site_id"].astype(str).to_numpy()
    site_unit = sites[column].to_numpy(dtype=object) if column in sites.columns else np.full(len(sites), None, dtype=object)
    units = res_unit[reach.dst]
    ok = pd.notna(units)
    uncovered = ~(np.nan_to_num(walk_min, nan=np.inf) <= circle)
    pairs = pd.DataFrame({"site": reach.src[ok], "unit_id": units[ok], "reached": households[reach.dst][ok],
                          "gained": np.where(uncovered[reach.dst], households[reach.dst], 0.0)[ok]})
    scored = pairs.groupby(["unit_id", "site"], as_index=False)[["reached", "gained"]].sum()
    inside = pd.DataFrame({"site": np.arange(len(sites)), "unit_id": site_unit}).dropna()
    scored = scored.merge(inside.assign(inside=True), on=["unit_id", "site"], how="outer")
    scored["inside"] = scored["inside"].astype("boolean").fillna(False).astype(bool)
    scored[["reached", "gained"]] = scored[["reached", "gained"]].fillna(0.0)
    scored["site_id"] = site_ids[scored["site"].to_numpy(dtype=np.int64)]
    scored = scored.sort_values(["unit_id", "gained", "inside", "reached", "site_id"],
                                ascending=[True, False, False, False, True], kind="stable")
    best = scored.drop_duplicates("unit_id").set_index("unit_id")
    return pd.DataFrame({f"best_candidate_{kind}": best["site_id"],
                         f"best_candidate_inside_{kind}": best["inside"],
                         f"best_candidate_households_gained_{kind}": best["gained"]})


def _ratio(numerator, denominator) -> pd.Series:
    num = pd.Series(numerator, dtype=np.float64)
    den = pd.Series(denominator, dtype=np.float64).reset_index(drop=True)
    num = num.reset_index(drop=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series(np.where(den > 0, num / den, np.nan), dtype=np.float64)
