"""The main job, end to end: project file → network → layers → coverage → tables, summary and HTML map.

This is the edge where files are read and written; the stages it calls work on arrays and GeoDataFrames.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from . import __version__
from .coverage import CoverageResult, analyse_coverage
from .errors import ConfigError
from .network import WalkNetwork, load_network
from .output import ensure_writable_dir, file_sha256, write_csv, write_gpkg, write_json
from .project import Project, load_project
from .schema import FACILITY_COLUMNS, KINDS

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class Inputs:
    network: WalkNetwork
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    profile: Any
    sources: dict[str, str] = field(default_factory=dict)  # what each layer was read from, with its content hash
    unit_layers: list = field(default_factory=list)  # siting.units.UnitLayer of each level, set by the units stage


@dataclass
class CoverageRun:
    project: Project
    inputs: Inputs
    result: CoverageResult
    outputs: dict[str, Path]
    indicators: Any = None  # siting.indicators.Indicators when the project names units
    units: Any = None  # siting.units.UnitsStage (unit layers; inputs carry unit_<level>) when the project names units


def _say(progress: Progress | None) -> Progress:
    start = time.perf_counter()

    def say(message: str) -> None:
        line = f"[{time.perf_counter() - start:7.1f} s] {message}"
        if progress is not None:
            progress(line)
        else:
            log.info(line)

    return say


def load_profile_for(project: Project):
    from .profiles import load_profile

    name = project.profile
    candidate = project.resolve(name) if name.endswith(".toml") else name
    try:
        return load_profile(candidate)
    except ConfigError as exc:  # a built-in name that does not exist: say where it was written
        raise exc.located(file=project.path, column="project.profile") from None


def load_network_for(project: Project, say: Progress) -> WalkNetwork:
    net_cfg = project.network
    if "path" not in net_cfg:
        from .download import network_from_place

        return network_from_place(net_cfg.get("place"), metric_crs=project.metric_crs)
    path = project.resolve(net_cfg["path"])
    cache_dir = project.output / ".siting-cache" if net_cfg.get("cache", True) else None
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


def _read_layer(project: Project, block: dict, role: str, profile, kind: str | None = None) -> tuple[gpd.GeoDataFrame, str]:
    from . import layers

    options = dict(columns=block.get("columns"), crs=block.get("crs"), coords=block.get("coords", "wgs84"))
    if block.get("source") == "osm":
        from . import osm_features

        osm_path = project.resolve(block.get("path", project.network["path"]))
        if role == "residences":
            buildings = osm_features.read_osm_residential_buildings(osm_path)
            frame = layers.estimate_households_from_buildings(
                buildings,
                dwelling_size_m2=float(profile.value("dwelling_size_m2")),
                default_levels=float(profile.value("default_building_levels")),
                household_size=float(profile.value("household_size")),
            )
            return layers.residences_from_frame(frame, source=f"{osm_path} (OSM residential buildings)",
                                                household_size=float(profile.value("household_size")),
                                                default_area_type=block.get("default_area_type", "existing")), str(osm_path)
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
            from .postgis import read_postgis_table, redact_url

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


def _check_against_network(project: Project, net: WalkNetwork, frame: gpd.GeoDataFrame, block: dict) -> None:
    from .diagnose import check_layer_against_network

    if block.get("source") == "osm":
        return
    where = block["label"] if "frame" in block else project.resolve(block.get("path", ""))
    check_layer_against_network(net, frame, source=str(where) if "://" not in str(where) else str(block.get("table")),
                                max_snap_m=project.max_snap_m, declared=block.get("coords", "wgs84"))


def load_inputs(project: Project, *, progress: Progress | None = None) -> Inputs:
    """Profile, network and layers of a project. A layer block holds a `path` (file or database URL), `source = "osm"`,
    or, from Python (the QGIS plugin), a `frame` already read plus its `label` for messages; every frame goes through
    the same normalising and checks as a file, so results and error messages are the same."""
    say = progress or _say(None)
    profile = load_profile_for(project)
    net = load_network_for(project, say)
    sources = {"network": f"{net.source}"}
    say("reading residences")
    residences, sources["residences"] = _read_layer(project, project.residences, "residences", profile)
    say(f"{len(residences)} residences, {residences['households'].sum():.0f} households, {residences['population'].sum():.0f} residents")
    _check_against_network(project, net, residences, project.residences)
    fac_frames, fac_files = [], []
    for i, block in enumerate(project.facilities):
        frame, sources[f"facilities[{i}]"] = _read_layer(project, block, "facilities", profile, kind=block.get("kind"))
        _check_against_network(project, net, frame, block)
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
    return Inputs(net, residences, facilities, profile, sources)


def write_coverage_outputs(project: Project, inputs: Inputs, result: CoverageResult, *, say: Progress,
                           pdf: bool = False, report: bool = True, indicators: Any = None) -> dict[str, Path]:
    out = project.output
    paths: dict[str, Path] = {}
    say(f"writing tables to {out}")
    residences = result.residences.sort_values("res_id", kind="stable")
    facilities = result.facilities.sort_values(["kind", "fac_id"], kind="stable")
    paths["residences_csv"] = write_csv(out / "residences.csv", _with_lonlat(residences))
    paths["facilities_csv"] = write_csv(out / "facilities.csv", _with_lonlat(facilities))
    paths["gpkg"] = write_gpkg(out / "coverage.gpkg", {
        "residences": residences, "facilities": facilities, "catchments": result.catchments,
    })
    summary = dict(result.summary)
    summary.update({
        "siting_version": __version__,
        "project": project.name,
        "inputs": inputs.sources,
        "profile_figures": inputs.profile.to_dict(),
    })
    if indicators is not None:
        from .indicators import write_indicator_outputs

        summary["units"] = indicators.summary
        paths.update(write_indicator_outputs(out, indicators, write_csv=write_csv, write_json=write_json))
    paths["summary"] = write_json(out / "summary.json", summary)
    say(f"writing map {project.map_path}")
    from .maps import coverage_map, save_map

    m = coverage_map(result.residences, result.facilities, result.catchments, title=project.name,
                     threshold_min=result.summary["walk_minutes"], profile_name=inputs.profile.name,
                     tiles=project.tiles, tianditu_key=project.tianditu_key, network=inputs.network)
    if indicators is not None:
        from .maps import add_unit_choropleth

        add_unit_choropleth(m, indicators.layers, indicators.units, indicators.map_checks,
                            walk_minutes=result.summary["walk_minutes"])
    paths["map"] = save_map(m, project.map_path)
    if report:
        from .report import write_coverage_report

        say(f"writing report{' and PDF' if pdf else ''} to {out}")
        paths.update(write_coverage_report(out, summary, result.residences, result.facilities, map_path=paths["map"], pdf=pdf))
    if project.postgis_url:
        from .postgis import write_postgis_tables

        say("writing result tables to PostGIS")
        write_postgis_tables(project.postgis_url, {
            "siting_residences": residences, "siting_facilities": facilities, "siting_catchments": result.catchments,
        }, schema=project.postgis_schema)
    return paths


def _with_lonlat(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """CSV rows carry lon/lat of the point used for walking (polygons: a point inside them)."""
    pts = frame.geometry.where(frame.geometry.geom_type == "Point", frame.geometry.representative_point())
    out = pd.DataFrame(frame.drop(columns="geometry"))
    out["lon"] = pts.x.round(7).to_numpy()
    out["lat"] = pts.y.round(7).to_numpy()
    return out


def run_coverage(project: Project | str | Path, *, progress: Progress | None = None, write: bool = True,
                 pdf: bool = False, check_inputs: Callable[[Inputs], None] | None = None, **overrides: Any) -> CoverageRun:
    """Read the project, compute coverage and write tables, summary, map and report (`pdf`: also report.pdf). The same
    call the CLI makes. `write=False` leaves the writing to the caller (`write_coverage_outputs`), as `siting optimize`
    does so that a siting job that fails writes nothing. `check_inputs` (a later stage's checks of the inputs it needs)
    runs once they are read, before any work."""
    if not isinstance(project, Project):
        project = load_project(project, **overrides)
    if pdf:
        from .report import check_pdf_printer

        check_pdf_printer()
    if project.tiles:  # a missing Tianditu key is found before the work, not when the map is drawn
        from .basemaps import resolve_tianditu_key

        project.tianditu_key = resolve_tianditu_key(project.tiles, project.tianditu_key)
    say = _say(progress)
    ensure_writable_dir(project.output)
    ensure_writable_dir(project.map_path.parent)
    inputs = load_inputs(project, progress=say)
    from .units import units_for_project

    units = units_for_project(project, inputs, say)
    if check_inputs is not None:
        check_inputs(inputs)
    result = analyse_coverage(
        inputs.network, inputs.residences, inputs.facilities, inputs.profile,
        thresholds_min=project.thresholds_min, walk_minutes=project.walk_minutes, max_snap_m=project.max_snap_m,
        polygons=project.polygons, progress=say,
    )
    for kind, info in result.summary["kinds"].items():
        say(f"{kind}: {info['coverage_rate']:.1%} of households within {result.summary['walk_minutes']:g} min; "
            f"servable share {info['servable_share']:.1%}")
    idle = result.facilities[result.facilities["snap_ok"] & (result.facilities["households_served"] == 0)]
    if len(idle):
        say(f"warning: {len(idle)} facilities reach no residence within {result.summary['walk_minutes']:g} min "
            f"({', '.join(idle['fac_id'].astype(str))}); see households_served in facilities.csv")
    indicators = None
    if units is not None:
        from .indicators import project_indicators

        indicators = project_indicators(project, inputs, result, units, say=say)
    if not write:
        return CoverageRun(project, inputs, result, {}, indicators, units)
    outputs = write_coverage_outputs(project, inputs, result, say=say, pdf=pdf, indicators=indicators)
    say("done")
    return CoverageRun(project, inputs, result, outputs, indicators, units)
