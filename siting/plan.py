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
from .schema import CAPACITY_COLUMN, KINDS
from .snap import snap_geoseries

Progress = Callable[[str], None]
MODELS = ("mclp", "lscp", "pmedian", "pcenter", "capacitated")


@dataclass
class Plan:
    new_sites: pd.DataFrame  # site_id, kind, size, cost, lon, lat, households_newly_covered
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
    if not block or "path" not in block:
        raise ConfigError("no candidate sites given", file=project.path, column="candidates.path",
                          fix="add a [candidates] section with the path of a candidate-site table")
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
    kinds = cfg.get("kinds", list(KINDS))
    say = progress or (lambda _: None)
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
        within = reach(inputs.network, snapped, result.residence_snap, limit_m if model != "pmedian" else np.inf)
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
            m = opt.PMedian.from_reach(within, int(cfg["p"]) + len(existing), weights=households, **common)
        elif model == "pcenter":
            m = opt.PCenter.from_reach(within, int(cfg["p"]) + len(existing), weights=households, **common)
        else:
            demand = measures.required_capacity(kind, households, population, res["area_type"].to_numpy(dtype=object), profile)
            min_key = "elderly_station_min_m2" if kind == "elderly_day_care" else None
            kd = opt.KindDemand(
                kind=kind, pairs=opt._pairs_from_reach(within, None), demand=demand, weight=households,
                can_host=~columns["existing"].to_numpy(), min_size=float(profile.value(min_key)) if min_key else 0.0,
                max_size=np.nan_to_num(columns["max_capacity"].to_numpy(), nan=0.0),
                fixed_cost=columns["cost"].to_numpy(), existing=columns["existing"].to_numpy(),
                existing_capacity=np.nan_to_num(columns["max_capacity"].to_numpy(), nan=0.0),
            )
            m = opt.CapacitatedCoverage([kd], objective=str(cfg.get("objective", "max_covered")), p=cfg.get("p"),
                                        budget=cfg.get("budget"), demand_ids=res_ids, candidate_ids=columns["site_id"].to_numpy())
        sol = m.solve(**solve)
        summaries[kind] = sol.summary()
        say(f"optimise {kind}: status {sol.status}, gap {sol.gap}, {len(sol.chosen)} new sites in {sol.solve_time_s:.2f} s")
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
    new_sites = pd.DataFrame(rows, columns=["site_id", "kind", "size", "cost", "lon", "lat", "households_newly_covered"])
    return Plan(new_sites, summaries, res[gained].copy())


def run_optimize(project_file: str | Path, *, progress: Progress | None = None, **settings: Any):
    """The `siting optimize` job: coverage, then the siting model, then tables, summary and a map with proposals."""
    import shapely

    from .maps import coverage_map, save_map
    from .output import write_csv, write_json
    from .pipeline import run_coverage
    from .project import load_project

    project = load_project(project_file)
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
        geometry=shapely.points(plan.new_sites["lon"].to_numpy(), plan.new_sites["lat"].to_numpy()), crs="EPSG:4326",
    ).rename(columns={"households_newly_covered": "households_newly_covered"})
    m = coverage_map(run.result.residences, run.result.facilities, run.result.catchments, title=f"{project.name} — proposed sites",
                     threshold_min=run.result.summary["walk_minutes"], profile_name=run.inputs.profile.name,
                     proposed=proposed, newly_covered=plan.newly_covered, tiles=project.tiles)
    paths["plan_map"] = save_map(m, project.map_path.with_name(project.map_path.stem + "_plan.html"))
    return run, plan, paths
