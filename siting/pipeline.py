"""The main job, end to end: project file → network → layers → coverage → tables, summary and HTML map.

This is the edge where files are read and written; the stages it calls work on arrays and GeoDataFrames.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from . import __version__
from .coverage import CoverageResult, analyse_coverage
from .errors import ConfigError, listed
from .inputs.candidates import CandidateTables
from .inputs.project import Project, load_project
from .inputs.schema import CAPACITY_COLUMN, FACILITY_COLUMNS, KINDS
from .network import WalkNetwork, load_network, network_cache_dir
from .network.snap import walking_points
from .output import (
    ensure_writable_dir,
    file_sha256,
    json_safe,
    output_set,
    write_csv,
    write_gpkg,
    write_json,
)

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class Inputs:
    network: WalkNetwork
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    profile: Any
    sources: dict[str, str] = field(default_factory=dict)  # what each layer was read from, with its content hash
    unit_layers: list = field(default_factory=list)  # siting.measures.units.UnitLayer of each level, set by the units stage
    notes: dict[str, Any] = field(default_factory=dict)  # what reading assumed (e.g. OSM storeys), for the summary


@dataclass
class CoverageRun:
    project: Project
    inputs: Inputs
    result: CoverageResult
    outputs: dict[str, Path]
    indicators: Any = None  # siting.measures.indicators.Indicators when the project names units
    units: Any = None  # siting.measures.units.UnitsStage (unit layers; inputs carry unit_<level>) when the project names units


def timed_progress(progress: Progress | None) -> Progress:
    """`progress` with the seconds since the run started in front of each line (to the log when None)."""
    start = time.perf_counter()

    def say(message: str) -> None:
        line = f"[{time.perf_counter() - start:7.1f} s] {message}"
        if progress is not None:
            progress(line)
        else:
            log.info(line)

    return say


def load_profile_for(project: Project):
    from .inputs.profiles import load_profile

    name = project.profile
    candidate = project.resolve(name) if name.endswith(".toml") else name
    try:
        return load_profile(candidate)
    except ConfigError as exc:  # a built-in name that does not exist: say where it was written
        raise exc.located(file=project.path, column="project.profile") from None


def load_network_for(project: Project, say: Progress) -> WalkNetwork:
    net_cfg = project.network
    if "path" not in net_cfg:
        from .network.download import network_from_place

        return network_from_place(net_cfg.get("place"), metric_crs=project.metric_crs)
    path = project.resolve(net_cfg["path"])
    cache_dir = network_cache_dir() if net_cfg.get("cache", True) else None
    say(f"reading walking network {Path(path).name}")
    try:
        net = load_network(path, metric_crs=project.metric_crs, cache_dir=cache_dir)
    except ConfigError as exc:  # metric_crs is checked where it is used, but written in the project file
        raise exc.located(file=project.path, column="project.metric_crs") from None
    summary = net.components_summary()
    say(f"network: {net.n_nodes} nodes, {net.n_edges} edges, {summary['n_components']} connected pieces, CRS {net.crs.to_string()}")
    if summary["n_components"] > 1:
        say(f"warning: {summary['n_components'] - 1} small pieces are disconnected from the main network "
            f"({summary['other_component_nodes']} nodes); residences on them are reported in the summary")
    return net


def _read_layer(project: Project, block: dict, role: str, profile, kind: str | None = None,
                notes: dict | None = None) -> tuple[gpd.GeoDataFrame, str]:
    from .inputs import layers

    options = dict(columns=block.get("columns"), crs=block.get("crs"), coords=block.get("coords", "wgs84"))
    if block.get("source") == "osm":
        from .inputs import osm_features

        osm_path = project.resolve(block.get("path", project.network["path"]))
        if role == "residences":
            return _osm_residences(osm_path, block, profile, notes if notes is not None else {}), str(osm_path)
        frame = osm_features.read_osm_facilities(osm_path)
        if kind:
            frame = frame[frame["kind"] == kind]
        return frame, str(osm_path)
    frame = block.get("frame")  # a table already in memory (a QGIS layer): the same checks as a file's, named by label
    if frame is None and "path" not in block:
        raise ConfigError(f"[{role}] needs a path (or source = \"osm\")", file=project.path, column=f"{role}.path")
    location = project.resolve(block["path"]) if frame is None else ""
    if frame is not None or (isinstance(location, str) and "://" in location):
        if frame is not None:
            source = str(block.get("label", role))
        else:
            from .inputs.postgis import read_postgis_table, redact_url

            table = block.get("table")
            if not table:
                raise ConfigError(f"[{role}] reads from a database but names no table", file=project.path, column=f"{role}.table")
            frame = read_postgis_table(location, table)
            source = f"{redact_url(location)} table {table}"
        if role == "residences":
            return layers.residences_from_frame(frame, source=source, household_size=float(profile.value("household_size")),
                                                default_area_type=block.get("default_area_type", "existing"), **options), source
        return layers.facilities_from_frame(frame, source=source, kind=kind, **options), source
    read_opts = layers.read_options(block)
    if role == "residences":
        frame = layers.read_residences(location, household_size=float(profile.value("household_size")),
                                       default_area_type=block.get("default_area_type", "existing"), **options, **read_opts)
    else:
        frame = layers.read_facilities(location, kind=kind, **options, **read_opts)
    return frame, f"{location} sha256:{file_sha256(location)}"


def _osm_residences(osm_path: Path, block: dict, profile, notes: dict) -> gpd.GeoDataFrame:
    """Residences estimated from OSM residential buildings, keeping the working (building type, footprint, storeys
    and whether they were assumed) as columns; student dormitories leave the demand unless include_dormitories, as
    the elderly-care and childcare standards count households. `notes["osm_residences"]` says what was counted."""
    from .inputs import layers, osm_features

    buildings = osm_features.read_osm_residential_buildings(osm_path)
    include_dormitories = bool(block.get("include_dormitories", False))
    dormitory = (buildings["building"] == "dormitory").to_numpy()
    if not include_dormitories:
        buildings = buildings[~dormitory].reset_index(drop=True)
    default_levels = float(profile.value("default_building_levels"))
    frame = layers.estimate_households_from_buildings(
        buildings, dwelling_size_m2=float(profile.value("dwelling_size_m2")), default_levels=default_levels,
        household_size=float(profile.value("household_size")),
    )
    residences = layers.residences_from_frame(frame, source=f"{osm_path} (OSM residential buildings)",
                                              household_size=float(profile.value("household_size")),
                                              default_area_type=block.get("default_area_type", "existing"))
    for column in ("building", "footprint_m2", "levels", "levels_assumed"):
        residences.insert(len(residences.columns) - 1, column, frame[column].to_numpy())
    counted = sorted(osm_features.RESIDENTIAL_BUILDINGS - (set() if include_dormitories else {"dormitory"}))
    types = residences.groupby("building")["households"].agg(["size", "sum"])
    notes["osm_residences"] = {
        "building_types_counted": counted,
        "buildings_by_type": {str(k): int(v) for k, v in types["size"].items()},
        "households_by_type": {str(k): float(v) for k, v in types["sum"].items()},
        "dormitories_excluded": 0 if include_dormitories else int(dormitory.sum()),
        "buildings": int(len(residences)),
        "default_levels": default_levels,
        "buildings_with_default_levels": int(residences["levels_assumed"].sum()),
        "not_counted": "building=yes and every type not listed (university, school, commercial, …)",
    }
    return residences


def _say_osm_residences(notes: dict, say: Progress) -> None:
    info = notes.get("osm_residences")
    if not info:
        return
    by_type = ", ".join(f"{k} {v}" for k, v in info["buildings_by_type"].items())
    say(f"OSM residences: {info['buildings']} buildings counted as homes ({by_type or 'none'}); types counted: "
        f"{', '.join(info['building_types_counted'])}; building=yes and other types are not homes")
    if info["dormitories_excluded"]:
        say(f"OSM residences: {info['dormitories_excluded']} student dormitories (building=dormitory) left out of "
            f"household demand; include_dormitories = true in [residences] counts them")
    say(f"OSM residences: {info['buildings_with_default_levels']} of {info['buildings']} buildings have no "
        f"building:levels tag and were assumed to have {info['default_levels']:g} storeys (the profile's "
        f"default_building_levels); see levels and levels_assumed in residences.csv")


def _check_against_network(project: Project, net: WalkNetwork, frame: gpd.GeoDataFrame, block: dict) -> None:
    from .checks.diagnose import check_layer_against_network

    if block.get("source") == "osm":
        return
    where = block["label"] if "frame" in block else project.resolve(block.get("path", ""))
    check_layer_against_network(net, frame, source=str(where) if "://" not in str(where) else str(block.get("table")),
                                max_snap_m=project.max_snap_m, declared=block.get("coords", "wgs84"))


def load_inputs(project: Project, *, progress: Progress | None = None) -> Inputs:
    """Profile, network and layers of a project. A layer block holds a `path` (file or database URL), `source = "osm"`,
    or, from Python (the QGIS plugin), a `frame` already read plus its `label` for messages; every frame goes through
    the same normalising and checks as a file, so results and error messages are the same."""
    say = progress or timed_progress(None)
    profile = load_profile_for(project)
    net = load_network_for(project, say)
    sources = {"network": f"{net.source}"}
    say("reading residences")
    notes: dict[str, Any] = {}
    residences, sources["residences"] = _read_layer(project, project.residences, "residences", profile, notes=notes)
    _say_osm_residences(notes, say)
    say(f"{len(residences)} residences, {residences['households'].sum():.0f} households, {residences['population'].sum():.0f} residents")
    say("checking the residences against the streets (coordinate system, GCJ-02/BD-09 shift)")
    _check_against_network(project, net, residences, project.residences)
    say("reading facilities")
    fac_frames, fac_files = [], []
    for i, block in enumerate(project.facilities):
        frame, sources[f"facilities[{i}]"] = _read_layer(project, block, "facilities", profile, kind=block.get("kind"))
        _check_against_network(project, net, frame, block)
        _warn_missing_capacity(frame, Path(str(block.get("path", "OSM"))).name, say)
        fac_frames.append(frame)
        fac_files += [str(block["label"]) if "frame" in block else Path(str(block.get("path", "OSM"))).name] * len(frame)
    if fac_frames:
        facilities = gpd.GeoDataFrame(pd.concat(fac_frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")
    else:
        facilities = gpd.GeoDataFrame({c: [] for c in FACILITY_COLUMNS if c != "geometry"}, geometry=[], crs="EPSG:4326")
    dup = facilities["fac_id"].astype(str).duplicated(keep=False)
    if dup.any():
        ids = sorted(set(facilities.loc[dup, "fac_id"].astype(str)))
        files = sorted({fac_files[i] for i in np.flatnonzero(dup.to_numpy())})
        raise ConfigError(f"facility ids repeat across the facility files {', '.join(files)}: {', '.join(ids[:10])}",
                          file=project.path, expected="ids unique over all [[facilities]] files",
                          fix="give every facility a unique id (编号), e.g. a prefix per file")
    for kind in KINDS:
        say(f"{kind}: {(facilities['kind'] == kind).sum()} facilities")
    return Inputs(net, residences, facilities, profile, sources, notes=notes)


def _warn_missing_capacity(frame: gpd.GeoDataFrame, name: str, say: Progress) -> None:
    """A capacity that is not given is not zero: say so loudly (coverage marks those facilities 'capacity missing')."""
    from .inputs.columns import ALIASES

    for kind in KINDS:
        column = CAPACITY_COLUMN[kind]
        own = frame[frame["kind"] == kind]
        missing = own[column].isna().to_numpy()
        if not missing.any():
            continue
        ids = listed(own.loc[missing, "fac_id"].astype(str).tolist())
        say(f"warning: {name}: no {column} ({'/'.join(ALIASES[column][:6])}) for {missing.sum()} of {len(own)} {kind} "
            f"facilities ({ids}): their verdict is 'capacity missing' and the capacity checks of {kind} say 'missing "
            f"data'. Fix: add the column, fill it in, or map it: columns = {{ {column} = \"…\" }}")


def write_coverage_outputs(project: Project, inputs: Inputs, result: CoverageResult, *, say: Progress,
                           pdf: bool = False, report: bool = True, indicators: Any = None) -> dict[str, Path]:
    """Tables, GeoPackage, summary, workbook, unit indicators, map and report of one run, moved into place together
    (see `siting.output.output_set`): an interrupted run leaves the previous run's files, never a mix of two runs."""
    out = project.output
    paths: dict[str, Path] = {}
    say(f"writing tables to {out}")
    residences = result.residences.sort_values("res_id", kind="stable")
    facilities = result.facilities.sort_values(["kind", "fac_id"], kind="stable")
    with output_set(out) as staged:
        def csv_into_place(target: Path, frame: pd.DataFrame) -> Path:
            write_csv(staged.path(target), frame)
            return Path(target)

        def json_into_place(target: Path, data: Any) -> Path:
            write_json(staged.path(target), data)
            return Path(target)

        say(f"writing residences.csv ({len(residences):,} rows)")
        paths["residences_csv"] = csv_into_place(out / "residences.csv", _with_lonlat(residences))
        facility_table = _with_lonlat(facilities)
        paths["facilities_csv"] = csv_into_place(out / "facilities.csv", facility_table)
        say(f"writing coverage.gpkg ({len(residences):,} residences, {len(facilities):,} facilities, "
            f"{len(result.catchments):,} catchments)")
        write_gpkg(staged.path(out / "coverage.gpkg"), {
            "residences": residences, "facilities": facilities, "catchments": result.catchments,
        })
        paths["gpkg"] = out / "coverage.gpkg"
        summary = dict(result.summary)
        summary.update({
            "siting_version": __version__,
            "project": project.name,
            "inputs": inputs.sources,
            "profile_figures": inputs.profile.to_dict(),
            **inputs.notes,
        })
        unit_sheets = []
        if indicators is not None:
            from .reports.indicator_outputs import (
                indicator_sheets,
                write_indicator_outputs,
            )

            summary["units"] = indicators.summary
            unit_sheets = indicator_sheets(indicators)  # indicators.xlsx, and coverage.xlsx after the run's own sheets
            paths.update(write_indicator_outputs(out, indicators, write_csv=csv_into_place, write_json=json_into_place,
                                                 place=staged.path, sheets=unit_sheets))
        paths["summary"] = json_into_place(out / "summary.json", summary)
        from .reports.run_workbook import WORKBOOK_FILE, write_run_workbook

        say(f"writing {WORKBOOK_FILE}")
        write_run_workbook(staged.path(out / WORKBOOK_FILE), json_safe(summary), facility_table, unit_sheets)
        paths["workbook"] = out / WORKBOOK_FILE
        say(f"writing map {project.map_path}")
        from .reports.maps import coverage_map, save_map

        m = coverage_map(result.residences, result.facilities, result.catchments, title=project.name,
                         threshold_min=result.summary["walk_minutes"], profile_name=inputs.profile.name,
                         tiles=project.tiles, tianditu_key=project.tianditu_key, network=inputs.network)
        if indicators is not None:
            from .reports.maps import add_unit_choropleth

            add_unit_choropleth(m, indicators.layers, indicators.units, indicators.map_checks,
                                walk_minutes=result.summary["walk_minutes"])
        staged_map = save_map(m, staged.path(project.map_path))
        paths["map"] = project.map_path
        if report:
            from .reports.report import REPORT_FILE, write_coverage_report

            say(f"writing report{' and PDF' if pdf else ''} to {out}")
            staged_report = staged.path(out / REPORT_FILE)
            from .reports.unit_report import unit_section

            extra = [unit_section(indicators, float(result.summary["walk_minutes"]))] if indicators is not None else []
            written = write_coverage_report(staged_report.parent, summary, result.residences, result.facilities,
                                            map_path=staged_map, pdf=pdf, extra_sections=extra)
            paths["report"] = out / REPORT_FILE
            if "report_pdf" in written:
                pdf_name = written["report_pdf"].name
                os.replace(written["report_pdf"], staged.path(out / pdf_name))
                paths["report_pdf"] = out / pdf_name
        if project.postgis_url:  # its own transaction; a failure here leaves the files of the previous run too
            from .inputs.postgis import write_postgis_tables

            say("writing result tables to PostGIS")
            write_postgis_tables(project.postgis_url, {
                "siting_residences": residences, "siting_facilities": facilities, "siting_catchments": result.catchments,
            }, schema=project.postgis_schema)
        say("moving the new files into place")
    return paths


def _with_lonlat(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """CSV rows carry lon/lat of the point used for walking (polygons: a point inside them)."""
    pts = walking_points(frame.geometry)
    out = pd.DataFrame(frame.drop(columns="geometry"))
    out["lon"] = pts.x.round(7).to_numpy()
    out["lat"] = pts.y.round(7).to_numpy()
    return out


def run_coverage(project: Project | str | Path, *, progress: Progress | None = None, write: bool = True,
                 pdf: bool = False, check_inputs: Callable[[Inputs], None] | None = None,
                 candidates: CandidateTables | None = None,
                 **overrides: Any) -> CoverageRun:
    """Read the project, compute coverage and write tables, summary, map and report (`pdf`: also report.pdf). The same
    call the CLI makes. `write=False` leaves the writing to the caller (`write_coverage_outputs`), as `siting optimize`
    does so that a siting job that fails writes nothing. `check_inputs` (a later stage's checks of the inputs it needs)
    runs once they are read, before any work; `candidates` (siting.inputs.candidates.CandidateTables) are a siting run's
    candidate tables, read once and shared with the indicator ledger."""
    if not isinstance(project, Project):
        project = load_project(project, **overrides)
    if pdf:
        from .reports.report import check_pdf_printer

        check_pdf_printer()
    if project.tiles:  # a missing Tianditu key is found before the work, not when the map is drawn
        from .inputs.tiles import resolve_tianditu_key

        project.tianditu_key = resolve_tianditu_key(project.tiles, project.tianditu_key)
    say = timed_progress(progress)
    created = [folder for folder in (project.output, project.map_path.parent) if not folder.exists()]
    try:
        return _run_coverage(project, say, write=write, pdf=pdf, check_inputs=check_inputs, candidates=candidates)
    except BaseException:
        for folder in created:  # a failed first run leaves no empty output folder behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _run_coverage(project: Project, say: Progress, *, write: bool, pdf: bool,
                  check_inputs: Callable[[Inputs], None] | None,
                  candidates: CandidateTables | None = None) -> CoverageRun:
    ensure_writable_dir(project.output)
    ensure_writable_dir(project.map_path.parent)
    inputs = load_inputs(project, progress=say)
    from .measures.units import units_for_project

    units = units_for_project(project, inputs, say)
    if check_inputs is not None:
        check_inputs(inputs)
    result = analyse_coverage(
        inputs.network, inputs.residences, inputs.facilities, inputs.profile,
        thresholds_min=project.thresholds_min, walk_minutes=project.walk_minutes, max_snap_m=project.max_snap_m,
        polygons=project.polygons, snap_to_main=project.snap_to_main, progress=say,
    )
    report_coverage(inputs.network, result, say)
    indicators = None
    if units is not None:
        from .measures.indicators import project_indicators

        indicators = project_indicators(project, inputs, result, units, say=say, candidates=candidates)
    if not write:
        return CoverageRun(project, inputs, result, {}, indicators, units)
    outputs = write_coverage_outputs(project, inputs, result, say=say, pdf=pdf, indicators=indicators)
    say("done")
    return CoverageRun(project, inputs, result, outputs, indicators, units)


def _where(frame: gpd.GeoDataFrame) -> list[str]:
    """Each row's id with its distance from the nearest street and its lon/lat, as the run log names a row."""
    pts = walking_points(frame.geometry)
    id_column = "res_id" if "res_id" in frame.columns else "fac_id"
    return [f"{rid} ({snap:,.0f} m; lon {lon:.5f}, lat {lat:.5f})" for rid, snap, lon, lat in
            zip(frame[id_column].astype(str), frame["snap_m"], pts.x, pts.y)]


def report_coverage(net: WalkNetwork, result: CoverageResult, say: Progress) -> None:
    """The run log: coverage per kind, and by name every row the result does not treat like the others (too far
    from a street, on a piece of the network cut off from the main one, reaching nobody), with what to do."""
    from .coverage import NO_FACILITIES
    from .network.snap import snap_geoseries

    summary = result.summary
    minutes, snap_m = summary["walk_minutes"], summary["max_snap_m"]
    if not summary["households"] > 0:
        say("warning: the residences hold 0 households in all: no coverage rate or standard can be assessed (null in "
            "summary.json). Fix: check the households (户数) or population (人口) column")
    for kind, info in summary["kinds"].items():
        if info["status"] == NO_FACILITIES:
            say(f"{kind}: {NO_FACILITIES}: coverage and standards not assessed (add a [[facilities]] file with this "
                f"kind to assess them)")
            continue
        say(f"{kind}: {info['coverage_rate']:.1%} of households within {minutes:g} min ({info['walk_m']:g} m at "
            f"{info['walk_speed_m_per_min']:g} m/min); servable share {info['servable_share']:.1%}")
    res, fac = result.residences, result.facilities
    far = res[~res["snap_ok"].to_numpy(dtype=bool)]
    if len(far):
        say(f"warning: {len(far)} residences lie more than {snap_m:g} m from any walkable street and count as not "
            f"covered: {listed(_where(far))}. Fix: check their coordinates (a point at 0, 0, in the sea or in another "
            f"city), or use a network extract that covers them")
    island = res[res["snap_ok"].to_numpy(dtype=bool) & (res["network_component"].to_numpy() != 0)]
    if len(island):
        say(f"warning: {len(island)} residences sit on small pieces of the network cut off from the main one and "
            f"reach only facilities on the same piece: {listed(island['res_id'].astype(str).tolist())}")
    far = fac[~fac["snap_ok"].to_numpy(dtype=bool)]
    if len(far):
        say(f"warning: {len(far)} facilities lie more than {snap_m:g} m from any walkable street and serve no one: "
            f"{listed(_where(far))}. Fix: check their coordinates, or use a network extract that covers them")
    island = fac[fac["snap_ok"].to_numpy(dtype=bool) & ~fac["on_main_network"].to_numpy(dtype=bool)]
    if len(island):
        to_main = snap_geoseries(net, island.geometry, max_snap_m=np.inf, main_only=True).off_network_m
        nodes = np.bincount(net.component)
        named = [f"{fid} (piece of {nodes[c]} nodes; main network {d:,.0f} m away)" for fid, c, d in
                 zip(island["fac_id"].astype(str), island["network_component"], to_main)]
        say(f"warning: {len(island)} facilities are attached to small pieces of the network cut off from the main one "
            f"and reach only residences on the same piece: {listed(named)} (network_component in facilities.csv). "
            f"Fix: attach them to the main network with snap_to = \"main\" in [network] (within max_snap_m = "
            f"{snap_m:g} m), connect the pieces in the network data, or accept the result if they really are cut off")
    idle = fac[fac["snap_ok"].to_numpy(dtype=bool) & (fac["households_served"] == 0).to_numpy()]
    if len(idle) and summary["households"] > 0:  # with no households at all, the warning above says it
        say(f"warning: {len(idle)} facilities reach no residence within {minutes:g} min "
            f"({', '.join(idle['fac_id'].astype(str))}); see households_served in facilities.csv")
