"""The plan indicator table (规划指标表) and the problem ledger (问题台账), from the per-unit measures.

One row per indicator the profile defines — its name as in the plans, definition, target, target year, unit, the
value computed from the data, verdict, and the clause and source of the target — city-wide and per parent unit
(each 街道's share of 社区 with day care, …). Household shares of the walking circle and unit counts are separate
indicators, each compared with its own target. The ledger lists every unit × failing indicator with its shortfall
(m², seats, households outside the walk) and, when candidate sites are given, the one that would close it best.

`build_indicators` is the core (frames in, frames out); siting.reports.indicator_outputs writes them (units_<level>.csv,
indicators.csv/json, ledger.csv, indicators.xlsx and the report's section).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..inputs.candidates import CandidateTables
from ..inputs.schema import ELDERLY, KINDS, NURSERY
from .unit_measures import has_service, unit_measures
from .units import LEVELS, UnitsStage

PASS, FAIL, NO_DATA = "pass", "fail", "no data"


@dataclass
class Indicators:
    """Per-level unit tables, the indicator rows (city-wide first) and the ledger rows."""

    units: dict[str, pd.DataFrame]
    table: pd.DataFrame
    ledger: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    layers: list = field(default_factory=list)  # the siting.measures.units.UnitLayer of each level (boundaries for the map)
    map_checks: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # level: [(verdict column, label)]


def _target(profile, key: str) -> dict[str, Any]:
    fig = profile.figure(key)
    return {"figure": key, "target": fig.value, "clause": fig.clause, "source": fig.source,
            "confirmed": fig.confirmed, "inherited_from": fig.inherited_from, "note": fig.note}


def _row(profile, key: str, name: str, definition: str, unit: str, figure: str, value: float | None,
         numerator: float | None = None, denominator: float | None = None, *, scope: str = "全市 city",
         scope_level: str = "city", scope_id: str | None = None, target: float | None = None,
         extra: dict | None = None) -> dict[str, Any]:
    info = _target(profile, figure)
    if target is not None:
        info["target"] = target
    ok = value is not None and np.isfinite(value)
    verdict = NO_DATA if not ok else (PASS if value >= float(info["target"]) - 1e-9 else FAIL)
    return {"indicator": key, "name": name, "scope": scope, "scope_level": scope_level, "scope_id": scope_id,
            "definition": definition, "target": float(info["target"]), "target_year": int(profile.value("plan_target_year")),
            "unit": unit, "value": float(value) if ok else None, "numerator": numerator, "denominator": denominator,
            "verdict": verdict, **{k: v for k, v in info.items() if k != "target"}, **(extra or {})}


#: Unit-count indicators: (key, plan name, level counted, kind, target figure, rule figure, definition).
UNIT_COUNTS: tuple[tuple[str, str, str, str, str, str | None, str], ...] = (
    ("community_day_care_coverage", "社区日间照料机构覆盖率", "community", ELDERLY, "community_day_care_coverage_target",
     "community_day_care_rule", "share of 社区 (with residents) that have day care"),
    ("community_childcare_coverage", "城市社区托育覆盖率", "community", NURSERY, "community_childcare_coverage_target",
     "community_childcare_rule", "share of 社区 (with residents) that have childcare"),
    ("village_elderly_care_coverage", "农村养老服务设施行政村（建制村）覆盖率", "village", ELDERLY,
     "village_elderly_care_coverage_target", "village_elderly_care_rule", "share of 行政村 (with residents) that have an elderly-care facility"),
    ("street_centre_coverage", "街道综合养老服务中心覆盖率（每个街道1个）", "street", ELDERLY, "street_centre_coverage_target",
     None, "share of 街道 (with residents) with a street-level centre of at least elderly_street_centre_min_m2 inside"),
)
_RULE_TEXT = {"inside": "a facility inside the unit", "reach": "one facility reaching ≥ {share:.0%} of its households within the walk",
              "inside_or_reach": "a facility inside the unit or one reaching ≥ {share:.0%} of its households within the walk"}


def _passes(frame: pd.DataFrame, kind: str, rule: str | None) -> pd.Series:
    return frame["has_street_centre"].astype(bool) if rule is None else has_service(frame, kind, rule)


def build_indicators(result, stage: UnitsStage, profile, *, candidates_reach: dict | None = None) -> Indicators:
    """Unit tables, indicator table and ledger for a coverage `result` whose frames carry the units of `stage`."""
    per_level = {layer.level: unit_measures(result, layer, profile, layers=stage.layers, candidates_reach=candidates_reach)
                 for layer in stage.layers}
    rows: list[dict] = []
    res, fac = result.residences, result.facilities
    walk = result.summary["walk_minutes"]
    share = float(profile.value("unit_reach_share"))

    for kind, figure, name in ((ELDERLY, "day_care_coverage_target", f"{walk:g}分钟养老服务圈覆盖率（户）"),
                               (NURSERY, "childcare_coverage_target", f"{walk:g}分钟托育服务圈覆盖率（户）")):
        info = result.summary["kinds"][kind]
        rows.append(_row(profile, f"household_share_{kind}", name,
                         f"share of households within the {walk:g}-minute walk of a {'day-care facility' if kind == ELDERLY else 'nursery'} (a household share, not a unit count)",
                         "%", figure, info["coverage_rate"], info["households_covered"], result.summary["households"]))
    unit_rows: list[dict] = []
    for key, name, level, kind, figure, rule_key, definition in UNIT_COUNTS:
        if level not in per_level:
            continue
        frame = per_level[level]
        rule = profile.value(rule_key) if rule_key else None
        counted = frame[frame["residences"] > 0]
        passed = _passes(counted, kind, rule)
        text = definition + (f"; a unit has it with {_RULE_TEXT[rule].format(share=share)} (profile {rule_key} = {rule})" if rule else "")
        extra = {}
        if rule is not None:
            extra = {"value_inside": _mean(counted[f"has_{kind}_inside"]), "value_reach": _mean(counted[f"has_{kind}_reach"])}
        rows.append(_row(profile, key, name, text, "%", figure, _mean(passed), float(passed.sum()), float(len(counted)),
                         extra=extra))
        for parent_id, group in counted.groupby("parent_id", sort=True):
            gp = _passes(group, kind, rule)
            sub = {"value_inside": _mean(group[f"has_{kind}_inside"]), "value_reach": _mean(group[f"has_{kind}_reach"])} if rule else {}
            unit_rows.append(_row(profile, key, name, text, "%", figure, _mean(gp), float(gp.sum()), float(len(group)),
                                  scope=f"{LEVELS[group['parent_level'].iat[0]]} {parent_id}", scope_level=group["parent_level"].iat[0],
                                  scope_id=str(parent_id), extra=sub))
    checks = _verdict_columns(per_level, profile)
    rows.append(_compliance_row(result, per_level, profile))
    rows.extend(_provision_rows(result, profile))
    rows.extend(_size_rows(fac, profile))
    rows.extend(_bed_rows(res, fac, profile))
    table = pd.DataFrame(rows + unit_rows)
    ledger = build_ledger(per_level, fac, profile)
    summary = {"levels": {lv: int(len(f)) for lv, f in per_level.items()},
               "indicators": [{k: r[k] for k in ("indicator", "name", "value", "target", "verdict", "unit", "figure", "clause", "source")}
                              for r in rows],
               "ledger_rows": int(len(ledger))}
    return Indicators(per_level, table, ledger, summary, list(stage.layers), checks)


def _verdict_columns(per_level: dict[str, pd.DataFrame], profile) -> dict[str, list[tuple[str, str]]]:
    """Add `verdict_<indicator>` (pass / fail / no residents) to each unit table; returns the map's checks."""
    for key, name, level, kind, _, rule_key, _ in UNIT_COUNTS:
        if level in per_level:
            frame = per_level[level]
            passed = _passes(frame, kind, profile.value(rule_key) if rule_key else None)
            frame[f"verdict_{key}"] = np.where(frame["residences"] > 0, np.where(passed, PASS, FAIL), "no residents")
    return map_checks(per_level)


def map_checks(per_level: dict[str, pd.DataFrame]) -> dict[str, list[tuple[str, str]]]:
    """{level: [(verdict column, indicator name)]} of the verdict columns each unit table has: the map's layers."""
    names = {f"verdict_{key}": name for key, name, *_ in UNIT_COUNTS}
    names.update({"provision_verdict_elderly_day_care": "每百户养老服务设施建筑面积", "provision_verdict_nursery": "每千人口托位数"})
    return {level: [(column, name) for column, name in names.items() if column in frame.columns]
            for level, frame in per_level.items()}


def write_unit_boundaries(path: Path, layers, *, write_gpkg: Callable) -> Path | None:
    """The unit polygons (unit_id, name) as one GeoPackage layer per level, for maps drawn later (scenario reports)."""
    drawn = {f"units_{layer.level}": layer.units[["unit_id", "name", "geometry"]] for layer in layers if layer.has_geometry}
    return write_gpkg(path, drawn) if drawn else None


def read_unit_results(folder: Path) -> tuple[list, dict[str, pd.DataFrame]]:
    """Unit layers (from units.gpkg) and unit tables (units_<level>.csv) written to `folder` by a run."""
    import geopandas as gpd
    import pyogrio

    from .units import UnitLayer

    tables = {level: pd.read_csv(folder / f"units_{level}.csv", encoding="utf-8-sig",
                                 dtype={"unit_id": str, "parent_id": str})
              for level in LEVELS if (folder / f"units_{level}.csv").exists()}
    layers = []
    gpkg = folder / "units.gpkg"
    if gpkg.exists():
        for name in pyogrio.list_layers(gpkg)[:, 0]:
            units = gpd.read_file(gpkg, layer=name, engine="pyogrio")
            units["unit_id"] = units["unit_id"].astype(str)
            layers.append(UnitLayer(str(name)[len("units_"):], units, str(gpkg), True))
    return layers, tables


def indicator_lines(indicators: Indicators) -> list[str]:
    """The city-wide indicator rows as lines for the terminal: name, value, target, verdict."""
    lines = []
    for _, row in indicators.table[indicators.table["scope_level"] == "city"].iterrows():
        pct = row["unit"] == "%"
        value = "—" if row["value"] is None or pd.isna(row["value"]) else (f"{row['value']:.1%}" if pct else f"{row['value']:,.2f}")
        target = f"{row['target']:.0%}" if pct else f"{row['target']:,.2f} {row['unit']}"
        lines.append(f"{row['name']}: {value} (target {target}, {int(row['target_year'])}) {row['verdict']}")
    lines.append(f"问题台账 ledger: {len(indicators.ledger)} rows (unit × failing indicator)")
    return lines


def _mean(values: pd.Series) -> float | None:
    return float(values.astype(bool).mean()) if len(values) else None


def _compliance_row(result, per_level: dict[str, pd.DataFrame], profile) -> dict:
    name = "新建居住区配套建设养老服务设施达标率"
    if "xiaoqu" in per_level:
        frame = per_level["xiaoqu"]
        new = frame[(frame["area_type"] == "new") | (frame["area_type"].isna() & (frame["households_new"] * 2 > frame["households"]))]
        new = new[new["households"] > 0]
        passed = new["provision_verdict_elderly_day_care"] == PASS
        definition = "share of new 小区 whose elderly-care floor area inside the 小区 meets the new-area standard for its households"
    else:
        res = result.residences
        new = res[res["area_type"] == "new"]
        passed = new[f"servable_{ELDERLY}"].fillna(0.0) >= 1.0 - 1e-9
        definition = ("share of new residences (each row a 小区; no 小区 layer given) whose households' required floor area "
                      "can be served in full within the walk (servable share = 1)")
    return _row(profile, "new_residential_compliance", name, definition, "%", "new_residential_compliance_target",
                _mean(passed), float(passed.sum()), float(len(new)))


def _provision_rows(result, profile) -> list[dict]:
    rows = []
    for kind, name, unit, per, figure in (
            (ELDERLY, "每百户养老服务设施建筑面积", "m²/百户", 100.0, "elderly_m2_per_100_households_existing"),
            (NURSERY, "每千人口拥有3岁以下婴幼儿托位数", "托位/千人", 1000.0, "nursery_seats_per_1000_city")):
        info = result.summary["kinds"][kind]
        base = result.summary["households" if kind == ELDERLY else "population"]
        target = None
        definition = ("elderly-care floor area of all day-care facilities per 100 households, against the standard of "
                      "each household's area (new / existing), household-weighted") if kind == ELDERLY else \
            "childcare seats per 1,000 residents, city-wide"
        if kind == ELDERLY:
            target = info["required_capacity_total"] / base * per if base > 0 else None
        rows.append(_row(profile, f"provision_{kind}", name, definition, unit, figure, info["provision_overall"],
                         info["capacity_total"], base, target=target))
    return rows


def _size_rows(fac: pd.DataFrame, profile) -> list[dict]:
    rows = []
    levels = fac["facility_level"] if "facility_level" in fac.columns else pd.Series([], dtype=object)
    for level, name, figure in (("community_station", "社区级养老服务站建筑面积达标率", "elderly_station_min_m2"),
                                ("street_centre", "街道养老服务中心建筑面积达标率", "elderly_street_centre_min_m2")):
        sel = fac[levels == level]
        minimum = float(profile.value(figure))
        ok = sel["floor_area_m2"].fillna(0.0) >= minimum - 1e-9
        row = _row(profile, f"size_{level}", name, f"share of {level} facilities with at least {minimum:g} m² of floor area",
                   "%", figure, _mean(ok), float(ok.sum()), float(len(sel)), target=1.0)
        rows.append(row)
    return rows


def _bed_rows(res: pd.DataFrame, fac: pd.DataFrame, profile) -> list[dict]:
    elderly_fac = fac[fac["kind"] == ELDERLY]
    beds = float(elderly_fac["places"].sum(min_count=1)) if elderly_fac["places"].notna().any() else None
    elderly = float(res["elderly"].sum()) if "elderly" in res.columns and res["elderly"].notna().any() else None
    nursing = float(elderly_fac["nursing_beds"].sum()) if "nursing_beds" in elderly_fac.columns and \
        elderly_fac["nursing_beds"].notna().any() else None
    per_1000 = beds / elderly * 1000.0 if beds is not None and elderly else None
    share = nursing / beds if nursing is not None and beds else None
    return [
        _row(profile, "beds_per_1000_elderly", "每千名老年人养老床位数", "beds (床位) of elderly-care facilities per 1,000 "
             "residents aged 60+ (needs 老年人口 per residence and 床位 per facility)", "张/千名老人",
             "elderly_beds_per_1000_elderly", per_1000, beds, elderly),
        _row(profile, "nursing_bed_share", "养老机构护理型床位占比", "nursing-type beds (护理型床位) as a share of all beds",
             "%", "nursing_bed_share_target", share, nursing, beds),
    ]


# ------------------------------------------------------------------------------------------------------ ledger

def build_ledger(per_level: dict[str, pd.DataFrame], fac: pd.DataFrame, profile) -> pd.DataFrame:
    """One row per unit × failing indicator, with the shortfall and the best candidate site where known."""
    rows: list[dict] = []
    for key, name, level, kind, figure, rule_key, _ in UNIT_COUNTS:
        if level not in per_level:
            continue
        frame = per_level[level]
        counted = frame[frame["residences"] > 0]
        rule = profile.value(rule_key) if rule_key else None
        failing = counted[~_passes(counted, kind, rule)]
        for _, unit in failing.iterrows():
            shortfall_m2 = None
            if rule is None:
                minimum = float(profile.value("elderly_street_centre_min_m2"))
                largest = float(np.nan_to_num(unit["largest_centre_m2"]))
                shortfall_m2 = minimum - largest
                situation = (f"largest street centre {largest:g} m² < {minimum:g} m²" if unit["street_centres"] else
                             f"no street-level centre (≥ {minimum:g} m²) inside")
            else:
                if kind == ELDERLY:
                    shortfall_m2 = float(unit["shortfall_m2"])
                situation = (f"{int(unit[f'facilities_inside_{kind}'])} facilities inside; the best reaches "
                             f"{unit[f'best_reach_share_{kind}']:.0%} of its households within the walk (rule {rule})")
            rows.append(_ledger_row(unit, key, name, kind, profile, figure, situation, shortfall_m2=shortfall_m2,
                                    shortfall_seats=float(unit["shortfall_seats"]) if kind == NURSERY else None))
    smallest = next((lv for lv in LEVELS if lv in per_level), None)
    for level, frame in ((smallest, per_level[smallest]),) if smallest else ():  # the level a planner acts on
        for kind, name, figure in ((ELDERLY, "每百户养老服务设施建筑面积", "elderly_m2_per_100_households_existing"),
                                   (NURSERY, "每千人口托位数（新建/既有居住区标准）", "nursery_seats_per_1000_existing")):
            failing = frame[frame[f"provision_verdict_{kind}"] == FAIL]
            for _, unit in failing.iterrows():
                per = "m2_per_100_households" if kind == ELDERLY else "seats_per_1000_residents"
                rows.append(_ledger_row(unit, f"provision_{kind}", name, kind, profile, figure,
                                        f"{unit[per]:.1f} of {unit['standard_' + per]:.1f}",
                                        shortfall_m2=float(unit["shortfall_m2"]) if kind == ELDERLY else None,
                                        shortfall_seats=float(unit["shortfall_seats"]) if kind == NURSERY else None))
    rows.extend(_size_ledger(per_level, fac, profile))
    columns = list(LEDGER_COLUMNS)
    return pd.DataFrame(rows, columns=columns)


LEDGER_COLUMNS = ("level", "unit_id", "name", "parent_id", "indicator", "indicator_name", "situation", "facility_id",
                  "shortfall_m2", "shortfall_seats", "households", "households_outside_walk", "best_candidate",
                  "best_candidate_inside", "best_candidate_households_gained", "action", "figure", "clause", "source")

#: The fix a ledger row suggests (整改建议), by indicator; filled with the row's figures and the profile's sizes.
_ACTIONS: dict[str, str] = {
    "community_day_care_coverage": "在社区内设置日间照料站（不小于{station:g} m²）",
    "community_childcare_coverage": "增设托育机构（缺口{seats:.0f}个托位）",
    "village_elderly_care_coverage": "在村内设置农村互助养老服务设施",
    "street_centre_coverage": "建设街道综合养老服务中心（不小于{centre:g} m²）",
    "provision_elderly_day_care": "通过新建、回购、租赁、改造等方式补足养老服务用房{m2:.0f} m²",
    "provision_nursery": "补足托位{seats:.0f}个",
    "size_community_station": "扩建或置换{facility}至不小于{station:g} m²（缺{m2:g} m²）",
    "size_street_centre": "扩建或置换{facility}至不小于{centre:g} m²（缺{m2:g} m²）",
}


def _action(key: str, profile, *, m2: float | None, seats: float | None, facility: str | None, candidate: Any,
            inside: Any, gained: Any) -> str:
    text = _ACTIONS[key].format(station=float(profile.value("elderly_station_min_m2")), m2=m2 or 0.0, seats=seats or 0.0,
                                centre=float(profile.value("elderly_street_centre_min_m2")), facility=facility or "")
    if candidate is not None and not pd.isna(candidate) and not key.startswith("size_"):
        notes = ([] if inside is True or inside == 1 else ["单元外"]) + ([f"新增步行圈内{gained:.0f}户"] if gained else [])
        text += f"；建议候选点 {candidate}" + (f"（{'，'.join(notes)}）" if notes else "")
    return text


def _ledger_row(unit: pd.Series, key: str, name: str, kind: str, profile, figure: str, situation: str, *,
                shortfall_m2: float | None = None, shortfall_seats: float | None = None,
                facility_id: str | None = None) -> dict:
    fig = profile.figure(figure)
    return {"level": unit["level"], "unit_id": unit["unit_id"], "name": unit["name"], "parent_id": unit["parent_id"],
            "indicator": key, "indicator_name": name, "situation": situation, "facility_id": facility_id,
            "shortfall_m2": shortfall_m2, "shortfall_seats": shortfall_seats, "households": float(unit["households"]),
            "households_outside_walk": float(unit[f"households_outside_walk_{kind}"]),
            "best_candidate": unit.get(f"best_candidate_{kind}"),
            "best_candidate_inside": unit.get(f"best_candidate_inside_{kind}"),
            "best_candidate_households_gained": unit.get(f"best_candidate_households_gained_{kind}"),
            "action": _action(key, profile, m2=shortfall_m2, seats=shortfall_seats, facility=facility_id,
                              candidate=unit.get(f"best_candidate_{kind}"),
                              inside=unit.get(f"best_candidate_inside_{kind}"),
                              gained=unit.get(f"best_candidate_households_gained_{kind}")),
            "figure": figure, "clause": fig.clause, "source": fig.source}


def _size_ledger(per_level: dict[str, pd.DataFrame], fac: pd.DataFrame, profile) -> list[dict]:
    """Facilities below the minimum size of their level, each under the smallest unit holding it."""
    rows = []
    if "facility_level" not in fac.columns or not per_level:
        return rows
    level = next(lv for lv in LEVELS if lv in per_level)
    frame = per_level[level].set_index("unit_id", drop=False)
    for facility_level, name, figure in (("community_station", "社区级养老服务站建筑面积", "elderly_station_min_m2"),
                                         ("street_centre", "街道养老服务中心建筑面积", "elderly_street_centre_min_m2")):
        minimum = float(profile.value(figure))
        small = fac[(fac["facility_level"] == facility_level) & (fac["floor_area_m2"].fillna(0.0) < minimum - 1e-9)]
        for _, f in small.iterrows():
            uid = f.get(f"unit_{level}")
            if uid is None or uid not in frame.index:
                continue
            rows.append(_ledger_row(frame.loc[uid], f"size_{facility_level}", name, ELDERLY, profile, figure,
                                    f"{f['fac_id']} {np.nan_to_num(f['floor_area_m2']):g} m² < {minimum:g} m²",
                                    shortfall_m2=minimum - float(np.nan_to_num(f["floor_area_m2"])), facility_id=str(f["fac_id"])))
    return rows


def site_reach(net, sites_by_kind: dict, result, layers, *, max_snap_m: float = 500.0) -> dict:
    """{kind: {"sites", "reach"}} for the ledger's best candidate: candidate sites (site_id, geometry) assigned to the
    units, and their walking reach within the circle to the residences, on the coverage run's network and snapping.
    Sites farther than `max_snap_m` from a street are left out."""
    from ..network.routing import Reach, reach
    from ..network.snap import snap_geoseries
    from .units import assign_units

    usable_res = result.residences["snap_ok"].to_numpy(dtype=bool)
    out = {}
    for kind, sites in sites_by_kind.items():
        snap = snap_geoseries(net, sites.geometry, max_snap_m=max_snap_m)
        usable = ~snap.too_far
        placed, _ = assign_units(sites[usable].reset_index(drop=True), layers)
        within = reach(net, snap.subset(usable), result.residence_snap,
                       result.summary["walk_minutes"] * result.kinds[kind].speed_m_per_min)
        ok = usable_res[within.dst]
        out[kind] = {"sites": placed, "reach": Reach(within.src[ok], within.dst[ok], within.dist_m[ok], within.n_src, within.n_dst)}
    return out


def project_indicators(project, inputs, result, stage: UnitsStage, *, say: Callable[[str], None],
                       candidates: CandidateTables | None = None) -> Indicators:
    """The indicator table and ledger of a project run (candidates from the project, when it names them;
    `candidates`: the run's tables when a siting run has read them already)."""
    cands = None
    if project.candidates:
        tables = candidates or CandidateTables(project)
        cands = site_reach(inputs.network, {kind: tables(kind) for kind in KINDS}, result, stage.layers,
                           max_snap_m=project.max_snap_m)
        say(f"units: best candidate per failing unit from {len(cands[KINDS[0]]['sites'])} candidate sites")
    indicators = build_indicators(result, stage, inputs.profile, candidates_reach=cands)
    indicators.summary["warnings"] = list(stage.warnings)  # points outside every unit, units without residences
    failing = indicators.table[(indicators.table["scope_level"] == "city") & (indicators.table["verdict"] == FAIL)]
    say(f"units: {len(indicators.table)} indicator rows, {len(failing)} city-wide failing "
        f"({', '.join(failing['name'])}); {len(indicators.ledger)} ledger rows")
    return indicators
