"""Siting on a project: candidates and existing facilities → walking reach on the same compiled network as the
coverage analysis → a `siting.optimize` model per facility kind → chosen sites, tables, summary and map layer.

This is the glue between files and the models; the models themselves work on reach/cost matrices only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import ConfigError
from .inputs.candidates import CandidateTables
from .inputs.schema import CAPACITY_COLUMN, CAPACITY_UNIT, ELDERLY, KINDS
from .inputs.validate import check_optimize
from .measures import capacity as measures
from .network.routing import reach
from .network.snap import snap_geoseries

Progress = Callable[[str], None]
SITE_COLUMNS = ["site_id", "kind", "action", "size", "cost", "lon", "lat", "households_newly_covered", "colocated"]


@dataclass
class Plan:
    new_sites: pd.DataFrame  # site_id, kind, action (new | expand), size, cost, lon, lat, households_newly_covered, colocated
    summaries: dict[str, dict]  # per kind: model summary (true status, gap, objective, coverage before/after, reduction)
    newly_covered: gpd.GeoDataFrame  # residences that gain coverage
    units: pd.DataFrame = field(default_factory=pd.DataFrame)  # by-unit siting: one row per kind × unit (units_plan.csv)


def _in_units(sites: gpd.GeoDataFrame, unit_layers: Sequence) -> gpd.GeoDataFrame:
    """Candidate sites placed in the units (siting.measures.units.assign_units), as residences and facilities are."""
    if not unit_layers:
        return sites
    from .measures.units import assign_units

    return assign_units(sites, unit_layers)[0]


def optimise_project(project, inputs, result, *, progress: Progress | None = None,
                     candidates: CandidateTables | None = None) -> Plan:
    """Choose new sites per kind with the project's [optimize] settings (model, p, budget, solver, time limit).
    `candidates`: the run's candidate tables when the caller has read them already."""
    from . import optimize as opt
    from .optimisation.units import check_limits

    cfg, _ = check_optimize(project.optimize, file=project.path)
    model = cfg.get("model", "mclp")
    kinds = list(cfg.get("kinds", list(KINDS)))
    say = progress or (lambda _: None)
    levels, reach_share = unit_settings(project)
    candidates = candidates or CandidateTables(project)
    if levels:  # (run_optimize checks this before the coverage; a Python caller gets the same message here)
        check_unit_columns(project, inputs, candidates)
    if model == "capacitated":
        return _capacitated_plan(project, inputs, result, kinds, cfg, say, levels, reach_share, candidates)
    profile = inputs.profile
    res = result.residences
    households = res["households"].to_numpy(dtype=np.float64)
    res_ids = res["res_id"].astype(str).to_numpy()
    rows, summaries, gained, unit_rows = [], {}, np.zeros(len(res), dtype=bool), []
    for kind in kinds:
        existing = inputs.facilities[inputs.facilities["kind"] == kind]
        cand = _in_units(candidates(kind), inputs.unit_layers)
        told = _more_sites_than_candidates(cfg.get("p"), len(cand), kind)
        columns = pd.concat([
            pd.DataFrame({"site_id": existing["fac_id"].astype(str).to_numpy(), "cost": 0.0,
                          "max_capacity": existing[CAPACITY_COLUMN[kind]].to_numpy(dtype=np.float64), "existing": True}),
            pd.DataFrame({"site_id": cand["site_id"].astype(str).to_numpy(), "cost": cand["cost"].to_numpy(),
                          "max_capacity": cand["max_capacity"].to_numpy(dtype=np.float64), "existing": False}),
        ], ignore_index=True)
        geometry = gpd.GeoSeries(list(existing.geometry) + list(cand.geometry), crs="EPSG:4326")
        snapped = snap_geoseries(inputs.network, geometry, max_snap_m=project.max_snap_m)
        limit_m = profile.walk_limit_m(kind, result.summary["walk_minutes"])
        say(f"optimise {kind}: {model}, {len(cand)} candidates + {len(existing)} existing, walk ≤ {limit_m:.0f} m")
        within = reach(inputs.network, snapped, result.residence_snap, limit_m if model not in ("pmedian", "pcenter") else np.inf)
        ok = ~snapped.too_far[within.src] & ~result.residence_snap.too_far[within.dst]
        within = type(within)(within.src[ok], within.dst[ok], within.dist_m[ok], within.n_src, within.n_dst)
        common = dict(existing=columns["existing"].to_numpy(), demand_ids=res_ids, candidate_ids=columns["site_id"].to_numpy())
        solve = dict(solver=str(cfg.get("solver", "cbc")), time_limit_s=cfg.get("time_limit_s"), gap_rel=cfg.get("gap_rel"))
        by_unit = None
        if levels:
            sel = within.dist_m <= limit_m
            pairs = opt.Pairs.build(within.dst[sel], within.src[sel], within.dist_m[sel], within.n_dst, within.n_src)
            is_existing = columns["existing"].to_numpy()
            by_unit = _unit_needs(levels, reach_share, kind, res, existing, cand, pairs, households, is_existing,
                                  ~is_existing, columns["max_capacity"].to_numpy(dtype=np.float64), profile, say)
            if model == "mclp":
                check_limits(by_unit.needs, kind, len(columns), columns["site_id"].to_numpy(), cfg.get("p"),
                             cfg.get("budget"), columns["cost"].to_numpy(), str(cfg.get("solver", "cbc")))
            common["required"] = by_unit.needs.required(len(columns))
        if model == "mclp":
            m = opt.MCLP.from_reach(within, p=cfg.get("p"), budget=cfg.get("budget"), site_cost=columns["cost"].to_numpy(),
                                    weights=households, **common)
        elif model == "lscp":
            m = opt.LSCP.from_reach(within, site_cost=columns["cost"].to_numpy() if "cost" in (project.candidates or {}) else None,
                                    weights=households, **common)
        elif model == "pmedian":
            m = opt.PMedian.from_reach(within, int(cfg["p"]), weights=households, cover_within=limit_m, **common)
        else:
            m = opt.PCenter.from_reach(within, int(cfg["p"]), weights=households, cover_within=limit_m, **common)
        for note in told:
            say(f"optimise {kind}: {note}")
        sol = m.solve(**solve)
        summaries[kind] = sol.summary()
        summaries[kind]["notes"][:0] = told
        _say_outcome(say, kind, sol, "new sites")
        walk = res[f"walk_min_{kind}"].fillna(np.inf).to_numpy() <= result.summary["walk_minutes"]
        chosen = np.asarray(sol.chosen, dtype=np.int64)
        opened = np.zeros(len(columns), dtype=bool)
        opened[chosen] = True
        reached = np.zeros(len(res), dtype=bool)
        in_limit = within.dist_m <= limit_m
        reached[within.dst[opened[within.src] & in_limit]] = True
        if by_unit is not None:
            frame, summaries[kind]["units"] = _units_plan(by_unit, kind, households, columns["existing"].to_numpy(),
                                                          columns["site_id"].to_numpy(), chosen, None, say)
            unit_rows.append(frame)
        newly = reached & ~walk
        gained |= newly
        pts = geometry.iloc[chosen]
        pts = pts.where(pts.geom_type == "Point", pts.representative_point())
        for k, (j, size) in enumerate(zip(chosen, np.asarray(sol.site_size, dtype=np.float64))):
            served = within.dst[(within.src == j) & in_limit]
            rows.append({
                "site_id": columns.at[j, "site_id"], "kind": kind,
                "size": size if np.isfinite(size) else columns.at[j, "max_capacity"],
                "cost": float(columns.at[j, "cost"]), "lon": round(float(pts.iloc[k].x), 7), "lat": round(float(pts.iloc[k].y), 7),
                "households_newly_covered": float(households[served][~walk[served]].sum()),
            })
    new_sites = pd.DataFrame(rows, columns=SITE_COLUMNS).assign(action="new", colocated=False)
    units = pd.concat(unit_rows, ignore_index=True) if unit_rows else pd.DataFrame()
    return Plan(new_sites, summaries, res[gained].copy(), units)


def unit_settings(project) -> tuple[list[str], float | None]:
    """`[optimize] units = ["community", "street"]` (Chinese names and the contract's aliases too), `per_unit = true`
    (or `--by-unit`: both levels when `units` is not given) and `unit_reach_share`, checked before any work: the
    canonical levels (empty: no siting by unit) and the share."""
    from .optimisation.units import COVER_LEVELS, LEVELS, unit_level

    cfg = project.optimize
    raw = cfg.get("units")
    per_unit = cfg.get("per_unit")
    if per_unit is not None and not isinstance(per_unit, bool):
        raise ConfigError(f"optimize.per_unit must be true or false, got {per_unit!r}", file=project.path,
                          column="optimize.per_unit", expected="per_unit = true")
    if raw is None:
        raw = ["community", "street"] if per_unit else []
    elif per_unit is False:
        raw = []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"optimize.units must be a list of unit levels, got {raw!r}", file=project.path,
                          column="optimize.units", expected='units = ["community", "street"]')
    levels = []
    for name in raw:
        level = unit_level(name)
        if level is None:
            raise ConfigError(f"unknown unit level {name!r} in optimize.units", file=project.path, column="optimize.units",
                              expected="one of " + ", ".join(LEVELS) + " (or 小区, 社区, 行政村, 街道/乡镇)",
                              fix="a 区/县 gets no station of its own: site by 社区 and 街道")
        if level not in levels:
            levels.append(level)
    share = cfg.get("unit_reach_share")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1):
        raise ConfigError(f"optimize.unit_reach_share must be a share in (0, 1], got {share!r}", file=project.path,
                          column="optimize.unit_reach_share", expected="e.g. unit_reach_share = 0.5")
    if share is not None and not any(level in COVER_LEVELS for level in levels):
        raise ConfigError("optimize.unit_reach_share applies to covering units (小区, 社区, 行政村) only",
                          file=project.path, column="optimize.unit_reach_share",
                          fix='add "community" to optimize.units or remove the key')
    model = str(cfg.get("model", "mclp")).lower()
    if levels and model not in ("mclp", "lscp", "capacitated"):
        raise ConfigError(f"siting by unit works with model = \"mclp\", \"lscp\" or \"capacitated\", not {model!r}",
                          file=project.path, column="optimize.model",
                          fix='set model = "mclp" (or "lscp", "capacitated"), or remove optimize.units')
    return levels, None if share is None else float(share)


def check_unit_columns(project, inputs, candidates: CandidateTables) -> None:
    """Siting by unit needs the unit of every residence, facility and candidate (the `unit_<level>` columns the units
    stage gives them): a ConfigError naming the file and the column otherwise, before any work."""
    from .optimisation.units import LEVEL_LABEL, unit_column

    levels, _ = unit_settings(project)
    kinds = list(project.optimize.get("kinds", list(KINDS)))
    frames = [("residences", project.residences.get("path"), inputs.residences)]
    frames += [("facilities", None, inputs.facilities[inputs.facilities["kind"].isin(kinds)])]
    frames += [("candidates", (project.candidates or {}).get("path"), _in_units(candidates(kind), inputs.unit_layers))
               for kind in kinds]
    for level in levels:
        column = unit_column(level)
        for role, path, frame in frames:
            if len(frame) and column not in frame.columns:
                raise ConfigError(f"siting by unit needs the {LEVEL_LABEL[level]} ({level}) of every {role[:-1]}",
                                  file=project.resolve(path) if path else project.path, column=column,
                                  fix=f"give the units in the project file ([[units]] with level = \"{LEVEL_LABEL[level]}\"), "
                                      f"or a {column} column in the {role} table")


@dataclass
class _UnitRows:
    """One kind's unit requirements in a run (`siting.optimisation.units`) and what its report needs."""

    needs: Any  # optimisation.units.UnitNeeds
    levels: list  # optimisation.units.UnitLevel per level used
    pairs: Any  # rows × columns within the walk
    capable: np.ndarray  # columns able to host a 街道 centre
    min_m2: float  # a 街道 centre's least floor area


def _unit_needs(levels: list[str], reach_share: float | None, kind: str, res, existing, cand, pairs, households: np.ndarray,
                is_existing: np.ndarray, can_open: np.ndarray, capacity: np.ndarray, profile, say: Progress) -> _UnitRows:
    """The units' rows for one kind, checked before the solver: an OptimizationError naming every unit no candidate
    can serve. Columns are the `existing` facilities' rows (any kind) then the candidates; `is_existing` marks this
    kind's open facilities, `can_open` the candidates that may get one."""
    from .optimisation.units import (
        CENTRE_LEVEL,
        UnitLevel,
        centre_needs,
        combine,
        station_needs,
        unit_column,
    )

    site_ids = np.concatenate([existing["fac_id"].astype(str).to_numpy(), cand["site_id"].astype(str).to_numpy()])
    centres = CENTRE_LEVEL in levels and kind == ELDERLY
    min_m2 = float(profile.value("elderly_street_centre_min_m2")) if centres else np.inf
    area = np.nan_to_num(existing["floor_area_m2"].to_numpy(dtype=np.float64))
    level = existing["facility_level"].astype(str).to_numpy() if "facility_level" in existing else np.full(len(existing), "")
    centre = (existing["kind"].to_numpy() == ELDERLY) & ((area >= min_m2) | (level == "street_centre"))
    existing_centre = np.concatenate([centre, np.zeros(len(cand), dtype=bool)])
    parts, unit_levels = [], []
    for name in levels:
        if name == CENTRE_LEVEL and kind != ELDERLY:
            continue  # a 街道 centre is an elderly-care centre
        column = unit_column(name)
        units = UnitLevel.from_labels(name, res[column], list(existing[column]) + list(cand[column]))
        unit_levels.append(units)
        parts.append(centre_needs(units, households, capacity, is_existing, existing_centre, site_ids, min_m2, can_open)
                     if name == CENTRE_LEVEL else
                     station_needs(units, pairs, households, is_existing, site_ids, reach_share, can_open))
    needs = combine(parts)
    needs.check(kind)
    say(f"optimise {kind}: {len(needs.rows)} unit(s) without service must get a site "
        f"({', '.join(f'{lv} {u}' for lv, u in needs.row_units[:10]) or 'none'})")
    return _UnitRows(needs, unit_levels, pairs, can_open & (np.nan_to_num(capacity) >= min_m2), min_m2)


def _units_plan(rows: _UnitRows, kind: str, households: np.ndarray, is_existing: np.ndarray, site_ids, chosen,
                sizes: np.ndarray | None, say: Progress) -> tuple[pd.DataFrame, dict]:
    """units_plan.csv rows of one kind and their counts for the summary. `sizes` (per column, capacitated runs): a
    街道 centre is a site opened at least min_m2 large."""
    from .optimisation.units import units_plan

    capable = rows.capable if sizes is None else rows.capable & (sizes >= rows.min_m2 - 1e-6)
    frame = units_plan(rows.needs, rows.levels, kind, rows.pairs, households, is_existing, chosen, site_ids, capable)
    counts = {"units": int(len(frame)), "had_service": int((frame["change"] == "had service").sum()),
              "gain_service": int((frame["change"] == "gains service").sum()),
              "without_service_after": int((~frame["service_after"]).sum())}
    say(f"optimise {kind}: {counts['gain_service']} unit(s) gain service, {counts['without_service_after']} remain "
        "without")
    return frame, counts


def gap_text(gap: float | None) -> str:
    """A relative optimality gap for the planner: per cent, or "unknown" when no bound was proved."""
    return "unknown" if gap is None else f"{100 * gap:.2f} %"


def _say_outcome(say: Progress, label: str, sol, what: str) -> None:
    """A model's true status, gap and notes, for the planner's progress output."""
    say(f"optimise {label}: status {sol.status}, gap {gap_text(sol.gap)}, {len(sol.chosen)} {what} in "
        f"{sol.solve_time_s:.2f} s")
    for note in sol.notes:
        say(f"optimise {label}: {note}")


def _per_kind(project, cfg: dict, key: str, kinds: list[str], default: float = 0.0) -> dict[str, float]:
    """`key = 3000` (every kind) or `key = { elderly_day_care = 3000, nursery = 20000 }` → {kind: number}."""
    raw = cfg.get(key, default)
    table = raw if isinstance(raw, dict) else {kind: raw for kind in kinds}
    unknown = sorted(set(table) - set(KINDS))
    if unknown:
        raise ConfigError(f"unknown kind {unknown[0]!r} in optimize.{key}", file=project.path, column=f"optimize.{key}",
                          expected="one of " + ", ".join(KINDS))
    out = {}
    for kind in kinds:
        value = table.get(kind, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"optimize.{key} for {kind} must be a number >= 0, got {value!r}", file=project.path,
                              column=f"optimize.{key}", expected="a number >= 0 (m² or seats, or cost per m² / per seat)")
        out[kind] = float(value)
    return out


def _more_sites_than_candidates(p: Any, n_candidates: int, kind: str) -> list[str]:
    """A note when `p` allows more new sites than there are candidates: at most all of them can open."""
    if isinstance(p, (int, float)) and p > n_candidates:
        return [f"p = {p} is more than the {n_candidates} candidate sites for {kind}: at most {n_candidates} can open"]
    return []


def _no_site_can_open(kind: str, size: np.ndarray, min_size: float, is_cand: np.ndarray, unit: str) -> list[str]:
    """A note when no candidate can host a new facility of `kind`: every largest size (max_capacity) is 0 or blank,
    or below the smallest a new facility may have (min_station_m2); the plan can then only use existing ones."""
    sizes = np.nan_to_num(np.asarray(size, dtype=np.float64)[is_cand], nan=0.0, posinf=np.inf)
    if not sizes.size or (sizes >= max(min_size, 1e-9)).any():
        return []
    if not (sizes > 0).any():
        return [f"no candidate can host a new {kind}: every candidate's max_capacity is 0 or blank (check the "
                "max_capacity column of [candidates])"]
    return [f"no candidate can host a new {kind}: min_station_m2 = {min_size:g} {unit} is above every candidate's "
            f"max_capacity (largest {sizes.max():g} {unit}); lower min_station_m2 in [optimize] or add larger candidates"]


def _capacitated_plan(project, inputs, result, kinds: list[str], cfg: dict, say: Progress, levels: list[str],
                      reach_share: float | None, candidates: CandidateTables) -> Plan:
    """Capacitated siting under the profile's space standards: per kind, or both kinds at once (`joint = true`) on the
    shared floor area of each candidate with a reward per candidate hosting both (`colocation_bonus`, 一老一小).
    Existing facilities are open at their present size and, with `expand_existing = true`, may grow by up to
    `expansion_max` (m² / seats) at `expansion_cost` per m² / per seat. With `levels`, every unit without service
    gets a new site (a 街道 centre opened at least `elderly_street_centre_min_m2` large; `siting.optimisation.units`)."""
    from . import optimize as opt
    from .optimisation.units import check_limits, combine

    profile = inputs.profile
    res = result.residences
    households = res["households"].to_numpy(dtype=np.float64)
    population = res["population"].to_numpy(dtype=np.float64)
    area_type = res["area_type"].to_numpy(dtype=object)
    res_ids = res["res_id"].astype(str).to_numpy()
    joint = bool(cfg.get("joint", False))
    expand = bool(cfg.get("expand_existing", False))
    expansion_cost = _per_kind(project, cfg, "expansion_cost", kinds)
    expansion_max = _per_kind(project, cfg, "expansion_max", kinds, default=np.inf if expand else 0.0) if expand else {
        k: 0.0 for k in kinds}
    min_station = float(cfg.get("min_station_m2", profile.value("elderly_station_min_m2")))
    solve = dict(solver=str(cfg.get("solver", "cbc")), time_limit_s=cfg.get("time_limit_s"), gap_rel=cfg.get("gap_rel"))
    walk_minutes = result.summary["walk_minutes"]
    rows, summaries, gained, unit_rows = [], {}, np.zeros(len(res), dtype=bool), []
    for group in ([kinds] if joint else [[k] for k in kinds]):
        existing = inputs.facilities[inputs.facilities["kind"].isin(group)]
        cand = _in_units(candidates(group[0]), inputs.unit_layers)
        capacity = np.select([existing["kind"].to_numpy() == k for k in group],  # m² for elderly care, seats for nurseries
                             [existing[CAPACITY_COLUMN[k]].to_numpy(dtype=np.float64) for k in group], np.nan)
        columns = pd.concat([
            pd.DataFrame({"site_id": existing["fac_id"].astype(str).to_numpy(), "kind": existing["kind"].to_numpy(),
                          "cost": 0.0, "max_capacity": np.nan_to_num(capacity, nan=0.0), "existing": True}),
            pd.DataFrame({"site_id": cand["site_id"].astype(str).to_numpy(), "kind": "",
                          "cost": cand["cost"].to_numpy(dtype=np.float64),
                          "max_capacity": np.nan_to_num(cand["max_capacity"].to_numpy(dtype=np.float64), nan=0.0),
                          "existing": False}),
        ], ignore_index=True)
        is_cand = ~columns["existing"].to_numpy()
        geometry = gpd.GeoSeries(list(existing.geometry) + list(cand.geometry), crs="EPSG:4326")
        snapped = snap_geoseries(inputs.network, geometry, max_snap_m=project.max_snap_m)
        limits = {k: profile.walk_limit_m(k, walk_minutes) for k in group}
        within = reach(inputs.network, snapped, result.residence_snap, max(limits.values()))
        ok = ~snapped.too_far[within.src] & ~result.residence_snap.too_far[within.dst]
        say(f"optimise {' + '.join(group)}: capacitated{' joint' if joint else ''}, {len(cand)} candidates + "
            f"{len(existing)} existing")
        demands, pairs_of, by_unit = [], {}, {}
        p = cfg.get("p")
        told = ([n for k in group for n in _more_sites_than_candidates(p.get(k), len(cand), k)] if isinstance(p, dict)
                else _more_sites_than_candidates(p, len(cand), " + ".join(group)))  # one number limits them together
        for k in group:
            sel = ok & (within.dist_m <= limits[k])
            pairs_of[k] = opt.Pairs.build(within.dst[sel], within.src[sel], within.dist_m[sel], within.n_dst, within.n_src)
            mine = columns["existing"].to_numpy() & (columns["kind"].to_numpy() == k)
            cap = columns["max_capacity"].to_numpy()
            if k == ELDERLY:
                max_size, min_size, per_unit = cap, min_station, 1.0
            else:
                # joint: the candidate's max_capacity is its floor area (m²), shared; seats take m2_per_seat each
                max_size, min_size = (np.full(len(columns), np.inf) if joint else cap), 0.0
                per_unit = float(cfg["m2_per_seat"]) if joint else 1.0
            fits = (cap / per_unit if joint else max_size) >= min_size
            can_host = is_cand & fits & (cap > 0)
            required = {}
            if levels:
                by_unit[k] = _unit_needs(levels, reach_share, k, res, existing, cand, pairs_of[k], households, mine,
                                         can_host, cap, profile, say)
                required = dict(required=by_unit[k].needs.required(len(columns)),
                                required_size=by_unit[k].needs.sizes(by_unit[k].min_m2))
            told += _no_site_can_open(k, cap / per_unit if joint else max_size, min_size, is_cand,
                                      CAPACITY_UNIT[k] if not joint or k == ELDERLY else "seats")
            demands.append(opt.KindDemand(
                kind=k, pairs=pairs_of[k], weight=households,
                demand=measures.required_capacity(k, households, population, area_type, profile),
                can_host=can_host, m2_per_unit=per_unit, min_size=min_size, **required,
                max_size=np.where(is_cand, max_size, 0.0), fixed_cost=columns["cost"].to_numpy(), existing=mine,
                existing_capacity=np.where(mine, cap, 0.0), expansion_max=np.where(mine, expansion_max[k], 0.0),
                expansion_unit_cost=np.where(mine, expansion_cost[k], 0.0),
            ))
        floor = np.where(is_cand, columns["max_capacity"].to_numpy(), np.inf) if joint else np.inf
        if isinstance(p, dict):  # p = { elderly_day_care = 2, nursery = 1 }: new sites per kind
            p = {k: int(v) for k, v in p.items() if k in group} if joint else p.get(group[0])
        if by_unit:  # p counts every kind's new sites (a dict: per kind); the LSCP of the unit rows is a lower bound
            ids, cost = columns["site_id"].to_numpy(), columns["cost"].to_numpy()
            for k, limit in (p.items() if isinstance(p, dict) else []):
                check_limits(by_unit[k].needs, k, len(columns), ids, limit, None, cost, solve["solver"])
            check_limits(combine([b.needs for b in by_unit.values()]), " + ".join(group), len(columns), ids,
                         None if isinstance(p, dict) else p, cfg.get("budget"), cost, solve["solver"])
        m = opt.JointCoverage(demands, floor_area_m2=floor, objective=str(cfg.get("objective", "max_covered")), p=p,
                              budget=cfg.get("budget"), colocation_reward=float(cfg.get("colocation_bonus", 0.0)),
                              demand_ids=res_ids, candidate_ids=columns["site_id"].to_numpy())
        for note in told:
            say(f"optimise {' + '.join(group)}: {note}")
        sol = m.solve(**solve)
        summaries["joint" if joint else group[0]] = sol.summary()
        summaries["joint" if joint else group[0]]["notes"][:0] = told
        _say_outcome(say, " + ".join(group), sol, "new facilities")
        for k, unit_needs in by_unit.items():
            mine = sol.sites[(sol.sites["kind"] == k) & ~sol.sites["is_existing"]]
            sizes = np.full(len(columns), np.nan)
            sizes[mine["candidate"].to_numpy(dtype=np.int64)] = mine["size"].to_numpy(dtype=np.float64)
            is_mine = columns["existing"].to_numpy() & (columns["kind"].to_numpy() == k)
            frame, counts = _units_plan(unit_needs, k, households, is_mine, columns["site_id"].to_numpy(),
                                        mine["candidate"].to_numpy(dtype=np.int64), sizes, say)
            unit_rows.append(frame)
            if joint:  # one summary for both kinds: the units' counts per kind
                summaries["joint"].setdefault("units", {})[k] = counts
            else:
                summaries[k]["units"] = counts
        pts = geometry.where(geometry.geom_type == "Point", geometry.representative_point())
        for site in sol.sites.itertuples(index=False):
            j, k = int(site.candidate), site.kind
            if site.is_existing and site.expansion <= 1e-9:
                continue
            walk = res[f"walk_min_{k}"].fillna(np.inf).to_numpy() <= walk_minutes
            served = pairs_of[k].row[pairs_of[k].col == j]
            newly = served[~walk[served]]
            if not site.is_existing:
                gained[newly] = True
            rows.append({
                "site_id": columns.at[j, "site_id"], "kind": k, "action": "expand" if site.is_existing else "new",
                "size": float(site.expansion if site.is_existing else site.size),
                "cost": float(site.expansion * expansion_cost[k]) if site.is_existing else float(columns.at[j, "cost"]),
                "lon": round(float(pts.iloc[j].x), 7), "lat": round(float(pts.iloc[j].y), 7),
                "households_newly_covered": 0.0 if site.is_existing else float(households[newly].sum()),
                "colocated": bool(getattr(site, "colocated", False)),
            })
    units = pd.concat(unit_rows, ignore_index=True) if unit_rows else pd.DataFrame()
    return Plan(pd.DataFrame(rows, columns=SITE_COLUMNS), summaries, res[gained].copy(), units)


def run_optimize(project_file, *, progress: Progress | None = None, overrides: dict[str, Any] | None = None,
                 pdf: bool = False, **settings: Any):
    """The `siting optimize` job: coverage, then the siting model, then tables, summary and a map with proposals.
    `project_file` is a path or an already built `Project` (the QGIS plugin's, whose layers are in memory);
    `overrides` win over the project file's keys (output=…, map=…, as `load_project` takes them); `settings` over its
    `[optimize]` table."""
    import shapely

    from .inputs.project import Project, load_project
    from .output import write_csv, write_json
    from .pipeline import run_coverage, timed_progress, write_coverage_outputs
    from .reports.maps import coverage_map, save_map

    project = project_file if isinstance(project_file, Project) else load_project(project_file, **(overrides or {}))
    project.optimize, notes = check_optimize(project.optimize, command_line=settings, file=project.path)
    say = progress or (lambda _: None)
    for note in notes:
        say(f"optimise: {note}")
    if pdf:
        from .reports.report import check_pdf_printer

        check_pdf_printer()
    candidates = CandidateTables(project)  # each kind's table read once, here, and shared by every step below
    if (project.candidates or {}).get("source") != "osm":
        for kind in project.optimize.get("kinds", list(KINDS)):
            candidates(kind)  # a missing or broken candidate table stops the job before any work
    levels, _ = unit_settings(project)
    check = (lambda inputs: check_unit_columns(project, inputs, candidates)) if levels else None
    run = run_coverage(project, progress=progress, write=False, check_inputs=check, candidates=candidates)
    plan = optimise_project(project, run.inputs, run.result, progress=progress, candidates=candidates)
    run.outputs.update(write_coverage_outputs(project, run.inputs, run.result, say=timed_progress(progress),
                                              indicators=run.indicators))
    out = project.output
    paths = {
        "new_sites": write_csv(out / "new_sites.csv", plan.new_sites),
        **({"units_plan": write_csv(out / "units_plan.csv", plan.units)} if levels else {}),
        "plan_summary": write_json(out / "plan_summary.json", {"project": project.name, "profile": run.inputs.profile.name,
                                                                "optimize": project.optimize, "notes": notes,
                                                                "kinds": plan.summaries}),
    }
    proposed = gpd.GeoDataFrame(
        plan.new_sites.assign(name=plan.new_sites["site_id"]),
        geometry=shapely.points(plan.new_sites["lon"].to_numpy(dtype=np.float64),
                                plan.new_sites["lat"].to_numpy(dtype=np.float64)), crs="EPSG:4326",
    )
    m = coverage_map(run.result.residences, run.result.facilities, run.result.catchments, title=f"{project.name} — proposed sites",
                     threshold_min=run.result.summary["walk_minutes"], profile_name=run.inputs.profile.name,
                     proposed=proposed, newly_covered=plan.newly_covered, tiles=project.tiles,
                     tianditu_key=project.tianditu_key, network=run.inputs.network)
    paths["plan_map"] = save_map(m, project.map_path.with_name(project.map_path.stem + "_plan.html"))
    from .reports.report import (
        write_coverage_report,  # the run's report again, with the before/after chart and the plan map
    )

    summary = json.loads(run.outputs["summary"].read_text(encoding="utf-8"))
    extra = []
    if run.indicators is not None:  # the plan's indicators before siting, with the unit charts, as in report.html
        from .reports.unit_report import unit_section

        extra.append(unit_section(run.indicators, float(run.result.summary["walk_minutes"])))
    written = write_coverage_report(out, summary, run.result.residences, run.result.facilities, map_path=paths["plan_map"],
                                    plan=plan.summaries, name="plan_report.html", pdf=pdf, extra_sections=extra,
                                    title=f"选址方案报告 Siting plan report — {project.name}")
    paths["plan_report"] = written["report"]
    if pdf:
        paths["plan_report_pdf"] = written["report_pdf"]
    return run, plan, paths
