"""The four-synchronizations (四同步) check for new residential developments: are the supporting elderly-care and
childcare facilities planned, built, accepted and delivered together with the housing (同步规划、同步建设、同步验收、
同步交付, seeds 000 鸡西, 003 景德镇, 004 赤峰; 001 尚志 names acceptance and delivery), big enough under the
profile's new-area standards, and within the 15-minute walk of the development's households?

Input: two tables (see `read_developments`)
    phases      one row per development × housing phase: development_id (开发项目编号), name (项目名称), phase (分期),
                households (户数), population (人口, optional), the four housing milestones planning_approval (规划批准),
                construction_start (开工), completion_acceptance (竣工验收), delivery (交付), and a location
                (经度/纬度, or a point/polygon geometry; a phase without one takes its development's first location).
    facilities  one row per supporting facility: fac_id (设施编号), development_id (several ids separated by ";" for a
                facility shared by developments), kind (类型: 日间照料/养老 or 托育), name, floor_area_m2 (建筑面积),
                seats (托位), location (optional until sited), the same four milestone dates, and optionally the
                housing phase(s) it is built with: phase (分期, "1" or "1;2"; blank = it serves every phase; a shared
                facility's phases must exist in each of its developments).
Dates may be ISO (2023-05-01), 2023/5/1, 2023.5.1, 2023年5月1日 or Excel date cells; a blank date means "has not
happened (or is not known) yet". A date after `as_of` is a schedule, not an event: it has not happened as of that day.
Dates that parse but cannot be right (before 1990, more than 20 years after as_of, a record's milestones out of
order) are listed in `date_checks` and treated as missing: see siting.checks.sync_dates.

Checks, one row per development × phase × kind × check (CHECKS):
    plan, build, accept, deliver   per phase: the milestone of the facilities serving the phase against the housing
        milestone of that phase; only the checks the profile's four_sync_checks names (尚志: accept, deliver).
        The facilities serving a phase are those linked to it by 分期 plus those with no link; when no facility of
        the kind carries a link, all of them (the note says so). Their date is the latest (all must be on time). A
        phase no facility serves while others are linked has nothing to synchronise: pass, with a note.
        pass           both happened and facility − housing ≤ tolerance days (profile four_sync_tolerance_days);
                       or the facility's happened and the housing's has not (the facility is ahead).
        fail           both happened, facility later than housing + tolerance (days_late = the difference); or the
                       housing milestone happened and the facility's has not (days_late counted to as_of), no facility
                       of that kind included.
        not_yet_due    neither has happened (a schedule that would be late is noted), or the housing's happened less
                       than the tolerance ago.
        missing_data   a date needed to judge is blank although a later milestone of the same record happened
                       (e.g. housing delivered but no planning-approval date recorded).
    deliver under four_sync_delivery_rule: "each_phase" (the default) is the rule above. "first_phase" (景德镇:
        与一期交付入住的住宅同步交付使用) adds that the first phase delivered for occupancy (the earliest delivery that
        has happened, not phase number 1; before any delivery, the earliest scheduled) has a facility in use when it
        is delivered: if none is linked to it, the earliest-delivered facility of the kind is judged against it. The
        rules differ only where facilities are linked to phases: without links each_phase already holds every
        facility to every phase, the earliest delivery included.
    size (phase "all")   floor area ≥ households × m² per 100 households (new areas) / 100 for elderly care; seats ≥
        residents × seats per 1,000 (new areas) / 1,000 for nurseries; residents = population where given, else
        households × household_size. A range standard (Jixi 20–30 m²) passes at its lower end; the note says whether
        the upper end is met and what it would need. A facility shared by several developments is split between them
        in proportion to their demand (households for elderly care, residents for childcare), so its capacity is
        counted once, and each development's share meets its own need exactly when the facility meets the combined
        need. missing_data when households or a facility's area/seats are blank; with no facility of the kind, fail
        once any phase's planning approval has happened, else not_yet_due.
    station_size (elderly care)   every station ≥ elderly_station_min_m2 (赤峰 社区级养老服务站 ≥ 350 m²).
    location (phase "all")   each phase's households sit at its point (a polygon's representative point); they are
        served when a facility of the kind lies inside the phase's polygon, or within profile.walk_limit_m(kind) of
        walking along the network (siting.network.routing.reach). households_outside counts the rest. missing_data without
        a location or without a network (unless every facility is inside); no facility: as for size, every
        household outside.
Every figure is enforced whether confirmed or not (one rule throughout); each row's `basis` names the figures its
verdict rests on that are inherited from another profile or unconfirmed, so a planner knows which to re-check.
Per development and kind the status is the worst verdict (fail > missing_data > not_yet_due > pass). The city-level
indicator 新建居住区配套建设养老服务设施达标率 (seeds 000, 002, 003) is the share of developments whose elderly-care
status is pass or not_yet_due (planned to standard, nothing late so far); the strict share (every check passed) is
reported beside it.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError
from ..inputs import columns, layers
from ..inputs.schema import CAPACITY_COLUMN, CAPACITY_UNIT, ELDERLY, KINDS, NURSERY
from ..measures import capacity as measures
from .sync_dates import (  # noqa: F401
    DATE_CHECK_COLUMNS,
    MILESTONE_LABEL,
    MILESTONES,
    check_dates,
    date_check_note,
    parse_date,
)

#: check id -> (housing milestone it compares, bilingual label); phase-level checks first.
CHECKS: dict[str, tuple[str | None, str]] = {
    "plan": ("planning_approval", "同步规划 Planned with the housing"),
    "build": ("construction_start", "同步建设 Built with the housing"),
    "accept": ("completion_acceptance", "同步验收 Accepted with the housing"),
    "deliver": ("delivery", "同步交付 Delivered with the housing"),
    "size": (None, "配建规模 Floor area / seats vs standard"),
    "station_size": (None, "单站最小面积 Minimum station size"),
    "location": (None, "15分钟步行 Within the 15-minute walk"),
}
VERDICTS: tuple[str, ...] = ("pass", "fail", "not_yet_due", "missing_data")
VERDICT_LABEL: dict[str, str] = {"pass": "达标 Pass", "fail": "不达标 Fail", "not_yet_due": "未到期 Not yet due",
                                 "missing_data": "缺少数据 Missing data"}
_SEVERITY = {"pass": 0, "not_yet_due": 1, "missing_data": 2, "fail": 3}
ALL_PHASES = "all"
INDICATOR = "新建居住区配套建设养老服务设施达标率"

#: Column headers accepted for the fields `siting.inputs.columns.ALIASES` does not know (compared like layers does).
SYNC_ALIASES: dict[str, tuple[str, ...]] = {
    "development_id": ("development_id", "dev_id", "开发项目编号", "项目编号", "项目id", "所属项目", "配套项目编号"),
    "phase": ("phase", "分期", "期数", "期次"),
    "planning_approval": ("planning_approval", "规划批准", "规划批准日期", "规划许可", "规划许可日期"),
    "construction_start": ("construction_start", "开工", "开工日期"),
    "completion_acceptance": ("completion_acceptance", "竣工验收", "竣工验收日期", "验收", "验收日期"),
    "delivery": ("delivery", "交付", "交付日期", "交付使用", "交付入住"),
    "dev_name": ("development_name", "项目名称"),
    "fac_id": ("fac_id", "facility_id", "设施编号", "设施id"),
    "wkt": ("geometry", "wkt", "几何", "范围", "边界"),
}
_SHEETS = {"phases": ("phases", "分期", "住宅分期", "住宅"), "facilities": ("facilities", "设施", "配套设施")}
PHASE_COLUMNS = ("development_id", "name", "phase", "households", "population", *MILESTONES, "row", "geometry")
FACILITY_COLUMNS = ("fac_id", "development_ids", "kind", "name", "floor_area_m2", "seats", *MILESTONES, "row", "geometry")
#: optional facility column: the housing phases a facility belongs to (分期 "1" or "1;2"); empty = every phase
FACILITY_PHASES = "phases"


@dataclass
class SyncResult:
    """checks: one row per development × phase × kind × check; developments: status per development × kind."""

    checks: pd.DataFrame
    developments: pd.DataFrame
    summary: dict
    phases: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame | None = None
    profile: Any = field(default=None, repr=False)
    #: one row per implausible date (siting.checks.sync_dates): the checks that needed it say missing_data
    date_checks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DATE_CHECK_COLUMNS)))


# ------------------------------------------------------------------------------------------------------ reading


def read_developments(path: str | os.PathLike, facilities_path: str | os.PathLike | None = None
                      ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The phases and facilities tables: sheets (.xlsx) or layers (.gpkg) named phases/分期 and facilities/设施, or
    two files (CSV, GeoJSON): `path` holds the phases, `facilities_path` (default: the same name with 'phases'
    replaced by 'facilities') the facilities."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".xlsx", ".xlsm")):
        import openpyxl

        sheets = openpyxl.load_workbook(path, read_only=True).sheetnames
        tables = {role: layers.read_table(path, sheet=_pick(sheets, role, path)) for role in _SHEETS}
    elif name.endswith(".gpkg") and facilities_path is None:
        import pyogrio

        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        tables = {role: layers.read_table(path, layer=_pick(names, role, path)) for role in _SHEETS}
        sources = {role: f"{path} layer {_pick(names, role, path)}" for role in _SHEETS}
        return normalize_phases(tables["phases"], sources["phases"]), normalize_facilities(tables["facilities"], sources["facilities"])
    else:
        if facilities_path is None:
            facilities_path = path.with_name(path.name.replace("phases", "facilities").replace("分期", "设施"))
            if Path(facilities_path) == path:
                raise InputError("cannot tell where the facilities table is", file=path,
                                 expected="a workbook with sheets 'phases' and 'facilities', a GeoPackage with those "
                                          "layers, or a phases file whose name contains 'phases'",
                                 fix="give the facilities file explicitly (--facilities)")
        tables = {"phases": layers.read_table(path), "facilities": layers.read_table(facilities_path)}
        return normalize_phases(tables["phases"], str(path)), normalize_facilities(tables["facilities"], str(facilities_path))
    return (normalize_phases(tables["phases"], f"{path} sheet {_pick(sheets, 'phases', path)}"),
            normalize_facilities(tables["facilities"], f"{path} sheet {_pick(sheets, 'facilities', path)}"))


def _pick(names: list[str], role: str, path: Path) -> str:
    for name in names:
        if columns.normalise_header(name) in _SHEETS[role]:
            return name
    raise InputError(f"no '{role}' sheet or layer (found: {', '.join(names)})", file=path,
                     expected=f"one named {' or '.join(_SHEETS[role])}", fix="rename the sheet or layer")


def _find(frame: pd.DataFrame, fields: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for column in frame.columns:
        key = re.sub(r"\([^()]*\)$", "", columns.normalise_header(column))
        for f in fields:
            if f not in found and key in {columns.normalise_header(a) for a in SYNC_ALIASES[f]}:
                found[f] = column
    return found


def _dates(frame: pd.DataFrame, source: str, found: dict[str, str]) -> dict[str, list]:
    """The four milestone columns as dates, plus where each row came from (source, the planner's headers) so that
    a date check can name the file, sheet and column."""
    out: dict[str, list] = {"source": [source] * len(frame),
                             "headers": [{m: found[m] for m in (*MILESTONES, "phase") if m in found}] * len(frame)}
    for m in MILESTONES:
        col = found.get(m)
        values = frame[col].tolist() if col else [None] * len(frame)
        out[m] = [parse_date(v, file=source, row=columns.spreadsheet_row(frame, i), column=col) for i, v in enumerate(values)]
    return out


def _locations(frame: pd.DataFrame, source: str, found: dict[str, str]) -> gpd.GeoSeries:
    """WGS84 geometry per row from a geometry layer, WKT text (lon/lat degrees) or 经度/纬度 columns; None where the
    row has no location (a facility not yet sited)."""
    empty = gpd.GeoSeries([None] * len(frame), crs="EPSG:4326")
    geom_name = columns.geometry_column_name(frame)
    if geom_name is not None:
        present = np.array([g is not None and not g.is_empty for g in frame.geometry.values], dtype=bool)
    elif "lon" in found and "lat" in found:
        present = ~(frame[found["lon"]].map(columns.is_blank).to_numpy(bool) & frame[found["lat"]].map(columns.is_blank).to_numpy(bool))
    else:
        present = np.zeros(len(frame), dtype=bool)
    series = empty
    if present.any():
        filled = frame.copy()
        first = int(np.flatnonzero(present)[0])
        if geom_name is not None:  # blank rows borrow a valid geometry so layers' row numbers stay right, then go
            filled.loc[~present, geom_name] = frame.geometry.values[first]
        else:
            for col in (found["lon"], found["lat"]):
                filled.loc[~present, col] = frame[col].iloc[first]
        located = layers.parse_geometry(filled, source, found, None, "wgs84")
        series = gpd.GeoSeries(np.where(present, np.asarray(located.values), None), crs="EPSG:4326")
    if geom_name is None and "wkt" in found:
        values = np.asarray(series.values, dtype=object)
        for i, text in enumerate(frame[found["wkt"]].tolist()):
            if columns.is_blank(text):
                continue
            try:
                geom = shapely.from_wkt(str(text))
            except shapely.errors.GEOSException:
                geom = None
            if geom is None or geom.is_empty or not geom.is_valid:
                raise InputError(f"'{str(text)[:40]}' is not a valid WKT point or polygon", file=source,
                                 row=columns.spreadsheet_row(frame, i),
                                 column=found["wkt"], expected="e.g. POINT (lon lat) or POLYGON ((lon lat, ...)) in degrees",
                                 fix="correct the cell, or give 经度/纬度 instead")
            values[i] = geom
        series = gpd.GeoSeries(values, crs="EPSG:4326")
    return series


def _require(frame: pd.DataFrame, source: str, found: dict[str, str], fields: tuple[str, ...]) -> None:
    for needed in fields:
        if needed not in found:
            raise InputError(f"no {needed} column; found: {', '.join(map(str, frame.columns))}", file=source,
                             column=needed, expected="a column named one of " + ", ".join(SYNC_ALIASES.get(needed) or columns.ALIASES[needed]),
                             fix="rename the column")


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if columns.is_blank(value) else str(value).strip()


def _split_ids(value: Any) -> list[str]:
    """'E5;E6', 'E5；E6', 'E5,E6', 'E5、E6' -> ['E5', 'E6']; a blank cell -> []."""
    return [p.strip() for p in re.split(r"[;；,，、]", _id_text(value)) if p.strip()]


def normalize_phases(frame: pd.DataFrame, source: str = "phases") -> gpd.GeoDataFrame:
    """Phases table with Chinese or English headers -> PHASE_COLUMNS (dates as datetime.date or None)."""
    if set(PHASE_COLUMNS) <= set(frame.columns):
        return frame
    found = {**columns.resolve_columns(frame, source, None, ("name", "households", "population", "lon", "lat")),
             **_find(frame, ("development_id", "phase", *MILESTONES, "dev_name", "wkt"))}
    if "dev_name" in found:
        found["name"] = found["dev_name"]
    _require(frame, source, found, ("development_id", "households"))
    dev_ids = [_id_text(v) for v in frame[found["development_id"]].tolist()]
    for i, d in enumerate(dev_ids):
        if not d:
            raise InputError("blank development id", file=source, row=columns.spreadsheet_row(frame, i), column=found["development_id"],
                             expected="the development's id in every row", fix="fill it in")
    phases = [_id_text(v) or "1" for v in frame[found["phase"]].tolist()] if "phase" in found else ["1"] * len(frame)
    seen: dict[tuple[str, str], int] = {}
    for i, key in enumerate(zip(dev_ids, phases)):
        row = columns.spreadsheet_row(frame, i)
        if key in seen:
            raise InputError(f"development {key[0]} phase {key[1]} appears twice (rows {seen[key]} and {row})",
                             file=source, row=row, column=found.get("phase"), expected="one row per development and phase",
                             fix="number the phases 1, 2, 3 … or merge the rows")
        seen[key] = row
    households = columns.parse_numbers(frame, source, found["households"])
    columns.check_non_negative(frame, households, source, found["households"], "households")
    population = columns.parse_numbers(frame, source, found.get("population"))
    return gpd.GeoDataFrame(
        {"development_id": dev_ids, "name": columns.parse_names(frame, found.get("name")), "phase": phases,
         "households": households, "population": population, **_dates(frame, source, found),
         "row": [columns.spreadsheet_row(frame, i) for i in range(len(frame))]},
        geometry=_locations(frame, source, found), crs="EPSG:4326")


def normalize_facilities(frame: pd.DataFrame, source: str = "facilities") -> gpd.GeoDataFrame:
    """Facilities table -> FACILITY_COLUMNS; development_ids is a list (one facility may serve several)."""
    if set(FACILITY_COLUMNS) <= set(frame.columns):
        return frame
    found = {**columns.resolve_columns(frame, source, None, ("id", "name", "kind", "floor_area_m2", "seats", "lon", "lat")),
             **_find(frame, ("development_id", "phase", *MILESTONES, "wkt", "fac_id"))}
    if "fac_id" in found:
        found["id"] = found["fac_id"]
    _require(frame, source, found, ("development_id", "kind"))
    dev_lists = []
    for i, v in enumerate(frame[found["development_id"]].tolist()):
        ids = _split_ids(v)
        if not ids:
            raise InputError("blank development id", file=source, row=columns.spreadsheet_row(frame, i), column=found["development_id"],
                             expected="the id of the development(s) the facility serves; several separated by ;",
                             fix="fill it in")
        dev_lists.append(ids)
    phase_links = [_split_ids(v) for v in frame[found["phase"]].tolist()] if "phase" in found else [[] for _ in range(len(frame))]
    values = {f: columns.parse_numbers(frame, source, found.get(f)) for f in ("floor_area_m2", "seats")}
    for f, v in values.items():
        columns.check_non_negative(frame, v, source, found.get(f), f)
    return gpd.GeoDataFrame(
        {"fac_id": columns.parse_ids(frame, source, found.get("id"), "F"), "development_ids": dev_lists,
         FACILITY_PHASES: phase_links,
         "kind": columns.parse_kinds(frame, source, found["kind"]), "name": columns.parse_names(frame, found.get("name")),
         **values, **_dates(frame, source, found), "row": [columns.spreadsheet_row(frame, i) for i in range(len(frame))]},
        geometry=_locations(frame, source, found), crs="EPSG:4326")


# ------------------------------------------------------------------------------------------------------ judging


def judge_milestone(housing: dt.date | None, facility: dt.date | None, *, as_of: dt.date, tolerance_days: float = 0,
                    housing_gap: bool = False, facility_gap: bool = False) -> tuple[str, float, str]:
    """(verdict, days_late, note) for one facility milestone against its housing milestone. A `*_gap` says the
    date is blank although a later milestone of the same record has happened."""
    if housing is None and housing_gap:
        return "missing_data", np.nan, "housing date blank although a later housing milestone happened"
    if facility is None and facility_gap:
        return "missing_data", np.nan, "facility date blank although a later facility milestone happened"
    h_done = housing is not None and housing <= as_of
    f_done = facility is not None and facility <= as_of
    if h_done and f_done:
        late = (facility - housing).days
        if late <= tolerance_days:
            return "pass", 0.0, ""
        return "fail", float(late), f"facility {late} days after the housing"
    if h_done:
        late = (as_of - housing).days
        if late <= tolerance_days:
            return "not_yet_due", 0.0, f"due by {housing + dt.timedelta(days=tolerance_days)}"
        return "fail", float(late), f"facility milestone not reached; {late} days late as of {as_of}"
    if f_done:
        return "pass", 0.0, "facility ahead of the housing"
    if housing is not None and facility is not None and (facility - housing).days > tolerance_days:
        return "not_yet_due", 0.0, f"scheduled {(facility - housing).days} days after the housing"
    return "not_yet_due", 0.0, ""


def _gap(record: pd.Series, milestone: str, as_of: dt.date) -> bool:
    later = MILESTONES[MILESTONES.index(milestone) + 1:]
    return record[milestone] is None and any(record[m] is not None and record[m] <= as_of for m in later)


def _kind_milestone(facs: pd.DataFrame, milestone: str, as_of: dt.date, *, earliest: bool = False
                    ) -> tuple[dt.date | None, bool]:
    """The latest date among the facilities (None if any lacks it), or with `earliest` the first one any of them
    reached, and whether a blank is a data gap."""
    if facs.empty:
        return None, False
    dates = facs[milestone].tolist()
    gap = any(_gap(r, milestone, as_of) for _, r in facs.iterrows())
    if earliest:
        known = [d for d in dates if d is not None]
        return (min(known) if known else None), gap and not known
    return (None if any(d is None for d in dates) else max(dates)), gap


def _figure(profile, key: str, *also: str) -> dict:
    """The figure a row is judged by (key, value, source, clause), whether it is the profile's own and confirmed,
    and `basis`: which of the figures the verdict rests on (`key` and `also`) are inherited or unconfirmed."""
    fig = profile.figure(key)
    return {"figure_key": key, "figure_value": fig.value, "source": fig.source, "clause": fig.clause,
            "figure_inherited_from": fig.inherited_from, "figure_confirmed": fig.confirmed,
            "basis": figure_basis(profile, (key, *also))}


def figure_basis(profile, keys) -> str:
    """'rests on k = v unit (inherited from national; unconfirmed), ...' for the figures among `keys` that are not
    the profile's own confirmed ones; '' when all are. Unconfirmed figures are enforced like confirmed ones (one
    rule throughout): the flag tells the planner which verdicts to re-check once the figure is confirmed."""
    parts = []
    for key in dict.fromkeys(keys):
        fig = profile.figure(key)
        flags = ([f"inherited from {fig.inherited_from}"] if fig.inherited_from else []) + ([] if fig.confirmed else ["unconfirmed"])
        if flags:
            parts.append(f"{key} = {_value_text(fig.value)} {fig.unit} ({'; '.join(flags)})")
    return ("rests on " + ", ".join(parts)) if parts else ""


def _value_text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "/".join(value)
    return str(value)


def _row(dev: str, name: str, phase: str, kind: str, check: str, verdict: str, **values) -> dict:
    return {"development_id": dev, "development_name": name, "phase": phase, "kind": kind, "check": check,
            "check_label": CHECKS[check][1], "verdict": verdict, "verdict_label": VERDICT_LABEL[verdict], **values}


def check_developments(phases: pd.DataFrame, facilities: pd.DataFrame, profile, *, network=None,
                       as_of: dt.date, max_snap_m: float = 500.0) -> SyncResult:
    """Run every 四同步 check (see the module docstring) as of the date `as_of`."""
    phases = normalize_phases(phases).reset_index(drop=True)
    facilities = normalize_facilities(facilities).reset_index(drop=True)
    if FACILITY_PHASES not in facilities:
        facilities = facilities.assign(**{FACILITY_PHASES: [[] for _ in range(len(facilities))]})
    _check_links(phases, facilities)
    phases, phase_dates = check_dates(phases, "phases", as_of)
    facilities, facility_dates = check_dates(facilities, "facilities", as_of)
    date_records = phase_dates + facility_dates
    household_size = float(profile.value("household_size"))
    residents = np.where(np.isnan(phases["population"].to_numpy(float)), phases["households"].to_numpy(float) * household_size,
                         phases["population"].to_numpy(float))
    phases = phases.assign(residents=residents)
    tolerance = float(profile.value("four_sync_tolerance_days"))
    rule = str(profile.value("four_sync_delivery_rule"))
    location = _location_checks(phases, facilities, profile, network, max_snap_m)

    rows: list[dict] = []
    for dev, group in phases.groupby("development_id", sort=False):
        name = next((n for n in group["name"] if n), "")
        approved = any(d is not None and d <= as_of for d in group["planning_approval"])
        for kind in KINDS:
            facs = facilities[(facilities["kind"] == kind) & facilities["development_ids"].map(lambda ids: dev in ids)]
            fac_ids = ";".join(facs["fac_id"])
            rows.extend(_milestone_rows(dev, name, kind, group, facs, profile, as_of, date_records))
            rows.extend(_size_checks(dev, name, kind, group, facs, phases, profile, approved))
            rows.append(_row(dev, name, ALL_PHASES, kind, "location", **location.get((dev, kind), {}),
                             **({} if (dev, kind) in location else _no_facility_location(group, profile, kind, approved)),
                             facility_ids=fac_ids, **_figure(profile, "walk_minutes", _speed_key(kind))))
    checks = pd.DataFrame(rows)
    checks.insert(0, "profile", profile.name)
    developments = _development_status(checks, phases)
    summary = _summary(checks, developments, profile, as_of, rule, tolerance)
    date_checks = pd.DataFrame(date_records, columns=list(DATE_CHECK_COLUMNS))
    summary["date_checks"] = date_checks["message"].tolist()
    catchments = _catchments(network, facilities, profile, max_snap_m) if network is not None else None
    return SyncResult(checks, developments, summary, phases, facilities, catchments, profile, date_checks)


def _check_links(phases: pd.DataFrame, facilities: pd.DataFrame) -> None:
    """Every facility names developments of the phases table, and phases (分期) each of those developments has."""
    known = set(phases["development_id"])
    by_dev = phases.groupby("development_id")["phase"].agg(list).to_dict()
    for _, f in facilities.iterrows():
        unknown = [d for d in f["development_ids"] if d not in known]
        if unknown:
            raise InputError(f"facility {f['fac_id']} names development(s) {', '.join(unknown)} that are not in the "
                             "phases table", file=f.get("source") or "facilities", row=int(f["row"]), column="development_id",
                             expected="ids of the phases table: " + ", ".join(sorted(known)[:10]),
                             fix="correct the id or add the development's phases")
        for dev in f["development_ids"]:
            missing = [p for p in f[FACILITY_PHASES] if p not in by_dev[dev]]
            if missing:
                headers = f.get("headers")
                raise InputError(f"facility {f['fac_id']} is linked to phase {', '.join(missing)}, which development "
                                 f"{dev} does not have", file=f.get("source") or "facilities", row=int(f["row"]),
                                 column=headers.get("phase", "phase") if isinstance(headers, dict) else "phase", expected=f"phases of {dev}: " + ", ".join(by_dev[dev]) + " (several "
                                 "separated by ;), or blank for a facility serving every phase",
                                 fix="correct the 分期 cell of the facility or of the phases sheet")


def _speed_key(kind: str) -> str:
    return "elderly_walk_speed_m_per_min" if kind == ELDERLY else "walk_speed_m_per_min"


def _milestone_rows(dev: str, name: str, kind: str, group: pd.DataFrame, facs: pd.DataFrame, profile, as_of: dt.date,
                    date_records: list[dict]) -> list[dict]:
    """The plan/build/accept/deliver rows of one development and kind (those the profile's four_sync_checks
    names): each phase against the facilities serving it (see the module docstring)."""
    tolerance = float(profile.value("four_sync_tolerance_days"))
    rule = str(profile.value("four_sync_delivery_rule"))
    first = _first_delivered(group, as_of) if rule == "first_phase" else None
    linked = bool(len(facs)) and bool(facs[FACILITY_PHASES].map(bool).any())
    rows = []
    for check, (milestone, _) in CHECKS.items():
        if milestone is None or check not in profile.value("four_sync_checks"):
            continue
        keys = ("four_sync_delivery_rule", "four_sync_tolerance_days") if check == "deliver" else ("four_sync_tolerance_days",)
        for _, ph in group.iterrows():
            serving = facs[facs[FACILITY_PHASES].map(lambda links, p=ph["phase"]: not links or p in links)]
            is_first = check == "deliver" and ph["phase"] == first
            notes = ["first phase delivered for occupancy (rule first_phase)"] if is_first else []
            if facs.empty:
                notes.append("no facility of this kind recorded")
            elif not linked and len(group) > 1:  # with one phase there is nothing to link
                notes.append("facility not linked to a phase (分期): judged against every phase" if len(facs) == 1 else
                             f"facilities not linked to a phase (分期): the latest of {len(facs)} judged against every phase")
            elif serving.empty:
                links = "; ".join(f"{f} → phase {', '.join(ls)}" for f, ls in zip(facs["fac_id"], facs[FACILITY_PHASES]))
                notes.append(f"no facility of this kind linked to phase {ph['phase']} ({links})")
            judged = facs if serving.empty else serving
            if not facs.empty and serving.empty and not is_first:
                rows.append(_row(dev, name, ph["phase"], kind, check, "pass", housing_date=ph[milestone], facility_date=None,
                                 days_late=0.0, tolerance_days=tolerance, facility_ids="",
                                 note="; ".join(notes + ["nothing to synchronise with this phase"]), **_figure(profile, *keys)))
                continue
            if not facs.empty and serving.empty:
                notes.append("the earliest-delivered facility of the kind must be in use by then")
            fac_date, fac_gap = _kind_milestone(judged, milestone, as_of, earliest=serving.empty)
            bad = [date_check_note(date_records, "phases", (dev, ph["phase"]), milestone)] if milestone in ph["invalid_dates"] else []
            bad += [date_check_note(date_records, "facilities", f["fac_id"], milestone)
                    for _, f in judged.iterrows() if milestone in f["invalid_dates"]]
            if bad:  # the date check's message alone: which cell, why, and the fix
                verdict, late, notes, note = "missing_data", np.nan, [], "; ".join(bad)
            else:
                verdict, late, note = judge_milestone(ph[milestone], fac_date, as_of=as_of, tolerance_days=tolerance,
                                                      housing_gap=_gap(ph, milestone, as_of), facility_gap=fac_gap)
            rows.append(_row(dev, name, ph["phase"], kind, check, verdict, housing_date=ph[milestone], facility_date=fac_date,
                             days_late=late, tolerance_days=tolerance, facility_ids=";".join(judged["fac_id"]),
                             note="; ".join(filter(None, [*notes, note])), **_figure(profile, *keys)))
    return rows


def _first_delivered(group: pd.DataFrame, as_of: dt.date) -> str | None:
    """The phase first delivered for occupancy: the earliest delivery that happened, else the earliest scheduled
    (not phase number 1); None when no phase has a delivery date."""
    dates = [(d, p) for d, p in zip(group["delivery"], group["phase"]) if d is not None]
    happened = [x for x in dates if x[0] <= as_of]
    pool = happened or dates
    return min(pool, key=lambda x: x[0])[1] if pool else None


def _no_facility(approved: bool) -> dict:
    return {"verdict": "fail" if approved else "not_yet_due",
            "note": "no facility of this kind recorded" + ("" if approved else "; housing plan not yet approved")}


def _no_facility_location(group: pd.DataFrame, profile, kind: str, approved: bool) -> dict:
    """A development without a facility of the kind: every household is outside the walk."""
    households = float(np.nansum(group["households"].to_numpy(float)))
    return {**_no_facility(approved), "households": households, "households_outside": households,
            "shortfall": households, "walk_limit_m": profile.walk_limit_m(kind)}


def _size_checks(dev: str, name: str, kind: str, group: pd.DataFrame, facs: pd.DataFrame, phases: pd.DataFrame,
                 profile, approved: bool) -> list[dict]:
    std_key = "elderly_m2_per_100_households_new" if kind == ELDERLY else "nursery_seats_per_1000_new"
    unit = CAPACITY_UNIT[kind]
    base = dict(unit=unit, facility_ids=";".join(facs["fac_id"]), households=float(group["households"].sum()),
                residents=float(group["residents"].sum()))
    out = []
    required = float(measures.required_capacity(kind, group["households"].to_numpy(float), group["residents"].to_numpy(float),
                                                np.full(len(group), "new"), profile).sum())
    capacity = facs[CAPACITY_COLUMN[kind]].to_numpy(float)
    if group["households"].isna().any():
        verdict, provided, note = "missing_data", np.nan, "households blank in phase " + ", ".join(group.loc[group["households"].isna(), "phase"])
    elif facs.empty:
        verdict, provided, note = _no_facility(approved)["verdict"], 0.0, _no_facility(approved)["note"]
    elif np.isnan(capacity).any():
        blank = facs.loc[np.isnan(capacity), "fac_id"]
        verdict, provided, note = "missing_data", np.nan, f"{CAPACITY_COLUMN[kind]} blank for facility " + ", ".join(blank)
    else:
        share = np.array([_share(dev, ids, kind, phases) for ids in facs["development_ids"]])
        provided = float((capacity * share).sum())
        verdict = "pass" if provided >= required - 1e-9 else "fail"
        shared = [f"{f} ({s:.0%} of its {c:g} {unit})" for f, s, c in zip(facs["fac_id"], share, capacity) if s < 1]
        note = ("shared: " + ", ".join(shared)) if shared else ""
        upper_key = f"{std_key}_max"
        upper = profile.get(upper_key) if kind == ELDERLY else None
        if upper is not None and verdict == "pass":
            need_upper = base["households"] * float(upper) / 100.0
            met = provided >= need_upper - 1e-9
            note = "; ".join(filter(None, [note, f"upper end {float(upper):g} {profile.figure(upper_key).unit} "
                                           + ("met" if met else f"not met: needs {need_upper:g} m², short {need_upper - provided:g} m²")]))
    shortfall = max(0.0, required - provided) if verdict == "fail" else 0.0
    derived = kind == NURSERY and bool(group["population"].isna().any())  # residents = households × household_size
    out.append(_row(dev, name, ALL_PHASES, kind, "size", verdict, required=required, provided=provided,
                    shortfall=shortfall, note=note, **base, **_figure(profile, std_key, *(["household_size"] if derived else []))))
    if kind == ELDERLY and profile.get("elderly_station_min_m2") is not None and not facs.empty:
        fig = profile.figure("elderly_station_min_m2")
        minimum = float(fig.value)
        areas = facs["floor_area_m2"].to_numpy(float)
        small = [(f, a) for f, a in zip(facs["fac_id"], areas) if not np.isnan(a) and a < minimum]
        short = sum(minimum - a for _, a in small)
        listed = ", ".join(f"{f} {a:g} m²" for f, a in small)
        if np.isnan(areas).any():
            verdict, note = "missing_data", "floor_area_m2 blank for facility " + ", ".join(facs.loc[np.isnan(areas), "fac_id"])
        elif small:
            verdict, note = "fail", f"below {minimum:g} m²: {listed}"
        else:
            verdict, note = "pass", ""
        out.append(_row(dev, name, ALL_PHASES, kind, "station_size", verdict, required=minimum,
                        provided=float(np.nanmin(areas)) if (~np.isnan(areas)).any() else np.nan,
                        shortfall=short if verdict == "fail" else 0.0, note=note, **base,
                        **_figure(profile, "elderly_station_min_m2")))
    return out


def _share(dev: str, ids: list[str], kind: str, phases: pd.DataFrame) -> float:
    """The part of a facility counted for `dev`: its demand over the demand of all developments it serves."""
    if len(ids) == 1:
        return 1.0
    demand = phases.groupby("development_id")["households" if kind == ELDERLY else "residents"].sum()
    total = float(demand.loc[ids].sum())
    return float(demand.loc[dev]) / total if total > 0 else 1.0 / len(ids)


def _phase_points(phases: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Each phase's location; phases without one take their development's first location."""
    geoms = phases.geometry.copy()
    first = phases.dropna(subset=["geometry"]).groupby("development_id").geometry.first() if geoms.notna().any() else {}
    missing = geoms.isna()
    geoms[missing] = [first.get(d) if len(first) else None for d in phases.loc[missing, "development_id"]]
    return gpd.GeoSeries(geoms.values, crs="EPSG:4326")


def _location_checks(phases: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, profile, network, max_snap_m: float) -> dict:
    """{(development, kind): row values} for developments that have facilities of the kind."""
    from ..network.routing import reach
    from ..network.snap import snap_geoseries

    points = _phase_points(phases)
    out: dict = {}
    for kind in KINDS:
        facs = facilities[facilities["kind"] == kind]
        limit = profile.walk_limit_m(kind)
        fac_ok = facs.geometry.notna().to_numpy()
        ph_ok = points.notna().to_numpy()
        dist = np.full((len(facs), len(phases)), np.inf)
        if network is not None and fac_ok.any() and ph_ok.any():
            fsnap = snap_geoseries(network, facs.geometry[fac_ok], max_snap_m=max_snap_m)
            psnap = snap_geoseries(network, points[ph_ok], max_snap_m=max_snap_m)
            r = reach(network, fsnap, psnap, limit)
            usable = ~fsnap.too_far[r.src] & ~psnap.too_far[r.dst]
            dist[np.flatnonzero(fac_ok)[r.src[usable]], np.flatnonzero(ph_ok)[r.dst[usable]]] = r.dist_m[usable]
        for dev in phases["development_id"].unique():
            linked = facs["development_ids"].map(lambda ids: dev in ids).to_numpy()
            if not linked.any():
                continue
            rows = np.flatnonzero(phases["development_id"].to_numpy() == dev)
            hh = phases["households"].to_numpy(float)[rows]
            served = np.zeros(rows.size, dtype=bool)
            for j, r_i in enumerate(rows):
                geom = points.iloc[r_i]
                inside = geom is not None and geom.geom_type.endswith("Polygon") and any(
                    g is not None and shapely.covers(geom, g) for g in facs.geometry[linked])
                served[j] = inside or bool(np.isfinite(dist[linked, r_i]).any())
            outside_phases = phases["phase"].to_numpy()[rows][~served]
            values = {"households": float(np.nansum(hh)), "households_outside": float(np.nansum(hh[~served])),
                      "walk_limit_m": limit, "shortfall": float(np.nansum(hh[~served]))}
            if not ph_ok[rows].any() or not fac_ok[linked].any():
                values |= {"verdict": "missing_data", "note": "no location for the " + ("development" if not ph_ok[rows].any() else "facilities")}
            elif network is None and not served.all():
                values |= {"verdict": "missing_data", "note": "no walking network given and not every facility is inside the development"}
            elif np.isnan(hh).any():
                values |= {"verdict": "missing_data", "note": "households blank"}
            else:
                values |= {"verdict": "pass" if served.all() else "fail",
                           "note": "" if served.all() else f"beyond {limit:g} m walk: phase " + ", ".join(outside_phases)}
            out[(dev, kind)] = values
    return out


def _development_status(checks: pd.DataFrame, phases: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (dev, kind), g in checks.groupby(["development_id", "kind"], sort=False):
        counts = g["verdict"].value_counts()
        status = max(g["verdict"], key=_SEVERITY.get)
        rows.append({"development_id": dev, "development_name": g["development_name"].iat[0], "kind": kind,
                     "status": status, "status_label": VERDICT_LABEL[status],
                     "households": float(phases.loc[phases["development_id"] == dev, "households"].sum()),
                     **{f"n_{v}": int(counts.get(v, 0)) for v in VERDICTS}})
    return pd.DataFrame(rows)


def _summary(checks: pd.DataFrame, developments: pd.DataFrame, profile, as_of: dt.date, rule: str, tolerance: float) -> dict:
    per_kind = {}
    for kind in KINDS:
        status = developments.loc[developments["kind"] == kind, "status"]
        n = int(len(status))
        meeting = int(status.isin(["pass", "not_yet_due"]).sum())
        per_kind[kind] = {"developments": n, "meeting_standard": meeting, "all_checks_passed": int((status == "pass").sum()),
                          "rate": meeting / n if n else None, "strict_rate": int((status == "pass").sum()) / n if n else None,
                          "status_counts": {v: int((status == v).sum()) for v in VERDICTS}}
    used = ["household_size", "four_sync_checks", "four_sync_tolerance_days", "four_sync_delivery_rule", "walk_minutes",
            "elderly_walk_speed_m_per_min", "walk_speed_m_per_min", "elderly_m2_per_100_households_new",
            "elderly_m2_per_100_households_new_max", "elderly_station_min_m2", "nursery_seats_per_1000_new"]
    return {
        "as_of": as_of.isoformat(),
        "profile": profile.name,
        "profile_title": profile.title,
        "delivery_rule": rule,
        "four_sync_checks": list(profile.value("four_sync_checks")),
        "tolerance_days": tolerance,
        "indicator": {"name": INDICATOR, "name_en": "share of new developments meeting the elderly-care facility standard",
                      "value": per_kind[ELDERLY]["rate"], "strict_value": per_kind[ELDERLY]["strict_rate"],
                      "definition": "developments whose elderly-care checks are all pass or not yet due / all developments; "
                                    "strict: all pass"},
        "by_kind": per_kind,
        "verdict_counts": {v: int((checks["verdict"] == v).sum()) for v in VERDICTS},
        "profile_figures": {k: profile.figure(k).to_dict() for k in used if profile.get(k) is not None},
    }


def _catchments(network, facilities: gpd.GeoDataFrame, profile, max_snap_m: float) -> gpd.GeoDataFrame:
    from ..network.isochrones import catchment_polygons
    from ..network.snap import snap_geoseries

    parts = []
    minutes = float(profile.value("walk_minutes"))
    for kind in KINDS:
        facs = facilities[(facilities["kind"] == kind) & facilities.geometry.notna()]
        if facs.empty:
            continue
        snapped = snap_geoseries(network, facs.geometry, max_snap_m=max_snap_m)
        poly = catchment_polygons(network, snapped, {minutes: profile.walk_limit_m(kind)}, source_ids=list(facs["fac_id"]))
        parts.append(poly.assign(kind=kind))
    if not parts:
        return gpd.GeoDataFrame({"source_id": [], "threshold_min": [], "kind": []}, geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")


def run_check(developments_path: str | os.PathLike, profile, network_path: str | os.PathLike | None,
              out_dir: str | os.PathLike, as_of: dt.date | None = None, *,
              facilities_path: str | os.PathLike | None = None, tiles=None,
              pdf: bool = False) -> tuple[SyncResult, dict[str, Path]]:
    """Read, check and write the report: the Python form of `siting check`. `profile` is a name, path or Profile;
    `tiles` the map's online basemap options (siting.reports.basemaps), `pdf` also prints the report."""
    from ..inputs.profiles import load_profile
    from ..network import load_network
    from ..output import ensure_writable_dir

    ensure_writable_dir(out_dir)
    if pdf:
        from ..reports.report import check_pdf_printer

        check_pdf_printer()
    from ..inputs.tiles import parse_tiles, resolve_tianditu_key

    tiles = parse_tiles(tiles)
    resolve_tianditu_key(tiles)  # a missing key is said before the work
    if isinstance(profile, (str, Path)):
        profile = load_profile(profile)
    phases, facilities = read_developments(developments_path, facilities_path)
    network = load_network(network_path) if network_path is not None else None
    return check_and_report(phases, facilities, profile, network, out_dir, as_of,
                            inputs={"developments": str(developments_path),
                                    "network": str(network_path) if network_path else None}, tiles=tiles, pdf=pdf)


def check_and_report(phases: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, profile, network,
                     out_dir: str | os.PathLike, as_of: dt.date | None = None, *,
                     inputs: dict | None = None, tiles=None, pdf: bool = False) -> tuple[SyncResult, dict[str, Path]]:
    """Check normalised tables (from `read_developments`, or `normalize_phases`/`normalize_facilities` of layers
    already in memory, as the QGIS plugin has them) and write the report: the one path after reading."""
    from .sync_report import write_report

    result = check_developments(phases, facilities, profile, network=network, as_of=as_of or dt.date.today())
    result.summary["inputs"] = inputs or {}
    return result, write_report(result, out_dir, network=network, tiles=tiles, pdf=pdf)
