"""Siting on a project: candidates and existing facilities → walking reach on the same compiled network as the
coverage analysis → a `siting.optimize` model per facility kind → chosen sites, tables, summary and map layer.

This is the glue between files and the models; the models themselves work on reach/cost matrices only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from . import measures
from .errors import ConfigError
from .routing import reach
from .schema import CAPACITY_COLUMN, ELDERLY, KINDS
from .snap import snap_geoseries

Progress = Callable[[str], None]
MODELS = ("mclp", "lscp", "pmedian", "pcenter", "capacitated")
SITE_COLUMNS = ["site_id", "kind", "action", "size", "cost", "lon", "lat", "households_newly_covered", "colocated"]


@dataclass
class Plan:
    new_sites: pd.DataFrame  # site_id, kind, action (new | expand), size, cost, lon, lat, households_newly_covered, colocated
    summaries: dict[str, dict]  # per kind: model summary (true status, gap, objective, coverage before/after, reduction)
    newly_covered: gpd.GeoDataFrame  # residences that gain coverage


def read_candidates(project, kind: str) -> gpd.GeoDataFrame:
    """The project's candidate sites for one kind: site_id, name, cost, max_capacity, geometry (EPSG:4326)."""
    from .layers import facilities_from_frame, read_table

    block = project.candidates
    if block and block.get("source") == "osm":
        from .osm_features import read_osm_candidate_sites

        sites = read_osm_candidate_sites(project.resolve(block.get("path", project.network["path"])))
        sites = sites.assign(cost=1.0, max_capacity=float(block.get("default_capacity", np.nan)))
        return sites[["site_id", "name", "cost", "max_capacity", "geometry"]]
    if not block or ("path" not in block and "frame" not in block):
        raise ConfigError("no candidate sites given", file=project.path, column="candidates.path",
                          fix="add a [candidates] section with the path of a candidate-site table")
    if "frame" in block:  # a table already in memory (a QGIS layer), named by its label in messages
        path, frame = str(block.get("label", "candidates")), block["frame"]
    else:
        path = project.resolve(block["path"])
        frame = read_table(path, layer=block.get("layer"), encoding=block.get("encoding"), sheet=block.get("sheet"))
    columns = dict(block.get("columns", {}))
    cap_col = block.get("max_capacity")
    if cap_col:
        columns[CAPACITY_COLUMN[kind]] = cap_col
    sites = facilities_from_frame(frame, source=str(path), kind=kind, columns=columns or None,
                                  crs=block.get("crs"), coords=block.get("coords", "wgs84"))
    cost_col = block.get("cost")
    if cost_col:
        if cost_col not in frame.columns:
            raise ConfigError(f"cost column {cost_col!r} not in the candidate file", file=path, column=cost_col,
                              expected="one of " + ", ".join(map(str, frame.columns)))
        cost = pd.to_numeric(frame[cost_col], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(cost) | (cost < 0))
        if bad.size:
            raise ConfigError(f"cost {frame[cost_col].iloc[bad[0]]!r} is not a non-negative number", file=path,
                              row=int(bad[0]) + 2, column=cost_col)
    else:
        cost = np.ones(len(sites))
    sites = sites.rename(columns={"fac_id": "site_id"})
    sites["cost"] = cost
    sites["max_capacity"] = sites[CAPACITY_COLUMN[kind]]
    return sites[["site_id", "name", "cost", "max_capacity", "geometry"]]


def optimise_project(project, inputs, result, *, progress: Progress | None = None) -> Plan:
    """Choose new sites per kind with the project's [optimize] settings (model, p, budget, solver, time limit)."""
    from . import optimize as opt

    cfg = dict(project.optimize)
    model = str(cfg.get("model", "mclp")).lower()
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}", file=project.path, column="optimize.model", expected=" | ".join(MODELS))
    kinds = list(cfg.get("kinds", list(KINDS)))
    say = progress or (lambda _: None)
    _check_capacitated_keys(project, cfg, model, kinds)
    if model == "capacitated":
        return _capacitated_plan(project, inputs, result, kinds, cfg, say)
    profile = inputs.profile
    res = result.residences
    households = res["households"].to_numpy(dtype=np.float64)
    population = res["population"].to_numpy(dtype=np.float64)
    res_ids = res["res_id"].astype(str).to_numpy()
    rows, summaries, gained = [], {}, np.zeros(len(res), dtype=bool)
    for kind in kinds:
        existing = inputs.facilities[inputs.facilities["kind"] == kind]
        cand = read_candidates(project, kind)
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
        sol = m.solve(**solve)
        summaries[kind] = sol.summary()
        _say_outcome(say, kind, sol, "new sites")
        walk = res[f"walk_min_{kind}"].fillna(np.inf).to_numpy() <= result.summary["walk_minutes"]
        chosen = np.asarray(sol.chosen, dtype=np.int64)
        opened = np.zeros(len(columns), dtype=bool)
        opened[chosen] = True
        reached = np.zeros(len(res), dtype=bool)
        in_limit = within.dist_m <= limit_m
        reached[within.dst[opened[within.src] & in_limit]] = True
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
    return Plan(new_sites, summaries, res[gained].copy())


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


def _check_capacitated_keys(project, cfg: dict, model: str, kinds: list[str]) -> None:
    """The joint / expansion keys only mean something for the capacitated model: say so instead of ignoring them."""
    used = sorted(k for k in ("joint", "colocation_bonus", "m2_per_seat", "min_station_m2", "expand_existing",
                              "expansion_cost", "expansion_max") if k in cfg)
    if used and model != "capacitated":
        raise ConfigError(f"optimize.{used[0]} applies to model = \"capacitated\" only, not {model!r}", file=project.path,
                          column=f"optimize.{used[0]}", fix='set model = "capacitated" or remove the key')
    if cfg.get("joint"):
        if sorted(kinds) != sorted(KINDS):
            raise ConfigError("a joint run sites both kinds together", file=project.path, column="optimize.kinds",
                              expected=f"kinds = {list(KINDS)} (or leave kinds out)")
        seat = cfg.get("m2_per_seat")
        if isinstance(seat, bool) or not isinstance(seat, (int, float)) or seat <= 0:
            raise ConfigError("a joint run needs the floor area one nursery seat takes", file=project.path,
                              column="optimize.m2_per_seat", expected="m2_per_seat = a number > 0 (practice: 6–9 m²; no "
                              "national figure)", fix="add m2_per_seat = … to [optimize]")


def _capacitated_plan(project, inputs, result, kinds: list[str], cfg: dict, say: Progress) -> Plan:
    """Capacitated siting under the profile's space standards: per kind, or both kinds at once (`joint = true`) on the
    shared floor area of each candidate with a reward per candidate hosting both (`colocation_bonus`, 一老一小).
    Existing facilities are open at their present size and, with `expand_existing = true`, may grow by up to
    `expansion_max` (m² / seats) at `expansion_cost` per m² / per seat."""
    from . import optimize as opt

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
    rows, summaries, gained = [], {}, np.zeros(len(res), dtype=bool)
    for group in ([kinds] if joint else [[k] for k in kinds]):
        existing = inputs.facilities[inputs.facilities["kind"].isin(group)]
        cand = read_candidates(project, group[0])
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
        demands, pairs_of = [], {}
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
            demands.append(opt.KindDemand(
                kind=k, pairs=pairs_of[k], weight=households,
                demand=measures.required_capacity(k, households, population, area_type, profile),
                can_host=is_cand & fits & (cap > 0), m2_per_unit=per_unit, min_size=min_size,
                max_size=np.where(is_cand, max_size, 0.0), fixed_cost=columns["cost"].to_numpy(), existing=mine,
                existing_capacity=np.where(mine, cap, 0.0), expansion_max=np.where(mine, expansion_max[k], 0.0),
                expansion_unit_cost=np.where(mine, expansion_cost[k], 0.0),
            ))
        floor = np.where(is_cand, columns["max_capacity"].to_numpy(), np.inf) if joint else np.inf
        p = cfg.get("p")
        if isinstance(p, dict):  # p = { elderly_day_care = 2, nursery = 1 }: new sites per kind
            p = {k: int(v) for k, v in p.items() if k in group} if joint else p.get(group[0])
        m = opt.JointCoverage(demands, floor_area_m2=floor, objective=str(cfg.get("objective", "max_covered")), p=p,
                              budget=cfg.get("budget"), colocation_reward=float(cfg.get("colocation_bonus", 0.0)),
                              demand_ids=res_ids, candidate_ids=columns["site_id"].to_numpy())
        sol = m.solve(**solve)
        summaries["joint" if joint else group[0]] = sol.summary()
        _say_outcome(say, " + ".join(group), sol, "new facilities")
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
    return Plan(pd.DataFrame(rows, columns=SITE_COLUMNS), summaries, res[gained].copy())


def run_optimize(project_file, *, progress: Progress | None = None, overrides: dict[str, Any] | None = None,
                 **settings: Any):
    """The `siting optimize` job: coverage, then the siting model, then tables, summary and a map with proposals.
    `project_file` is a path or an already built `Project` (the QGIS plugin's, whose layers are in memory);
    `overrides` win over the project file's keys (output=…, map=…, as `load_project` takes them); `settings` over its
    `[optimize]` table."""
    import shapely

    from .maps import coverage_map, save_map
    from .output import write_csv, write_json
    from .pipeline import run_coverage
    from .project import Project, load_project

    project = project_file if isinstance(project_file, Project) else load_project(project_file, **(overrides or {}))
    project.optimize.update({k: v for k, v in settings.items() if v is not None})
    run = run_coverage(project, progress=progress)
    plan = optimise_project(project, run.inputs, run.result, progress=progress)
    out = project.output
    paths = {
        "new_sites": write_csv(out / "new_sites.csv", plan.new_sites),
        "plan_summary": write_json(out / "plan_summary.json", {"project": project.name, "profile": run.inputs.profile.name,
                                                                "optimize": project.optimize, "kinds": plan.summaries}),
    }
    proposed = gpd.GeoDataFrame(
        plan.new_sites.assign(name=plan.new_sites["site_id"]),
        geometry=shapely.points(plan.new_sites["lon"].to_numpy(dtype=np.float64),
                                plan.new_sites["lat"].to_numpy(dtype=np.float64)), crs="EPSG:4326",
    )
    m = coverage_map(run.result.residences, run.result.facilities, run.result.catchments, title=f"{project.name} — proposed sites",
                     threshold_min=run.result.summary["walk_minutes"], profile_name=run.inputs.profile.name,
                     proposed=proposed, newly_covered=plan.newly_covered, tiles=project.tiles)
    paths["plan_map"] = save_map(m, project.map_path.with_name(project.map_path.stem + "_plan.html"))
    return run, plan, paths
