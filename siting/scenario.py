"""What-if scenarios: a scenario file (TOML) extends a project file with edits, and `compare` puts several side by side.

    [scenario]
    name = "Open two stations"
    base = "../siting/sample/sample_project.toml"   # a project file …
    # inherits = "two_stations.toml"       # … or another scenario (chains resolve base-first; cycles are an error)
    year = 2025                            # optional: residential developments with a later year are left out
    walk_minutes = 10                      # optional: the service circle

    [profile]
    name = "chifeng"                       # swap the standard profile (built-in name or .toml path)
    figures = { walk_speed_m_per_min = 55 }

    remove_facilities = ["F3"]             # (inside [scenario] or at the top of the file)
    [[add_facilities]]
    id = "N1"; name = "新托育园"; kind = "nursery"; seats = 60; lon = 116.35; lat = 39.96
    [[resize_facilities]]
    id = "F1"; floor_area_m2 = 600
    [[add_residences]]
    id = "D1"; name = "新小区"; households = 3000; area_type = "new"; lon = 116.35; lat = 39.96; year = 2024

Results are cached by content: the key is the sha256 of the resolved scenario, the base project, the profile's
figures, the content hash of every input file and the siting version. A cache entry is a folder renamed into place
only once complete, so an interrupted run is recomputed, never half re-used.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from . import __version__
from .errors import ConfigError
from .inputs.candidates import CandidateTables
from .inputs.project import SCHEMA as PROJECT_SCHEMA
from .inputs.project import Project, parse_project, read_toml
from .inputs.schema import CAPACITY_UNIT, KINDS
from .inputs.validate import check_optimize_values
from .output import ensure_writable_dir, file_sha256, write_csv, write_text

Progress = Callable[[str], None]

_ADD_FACILITY_KEYS = {"id", "name", "kind", "floor_area_m2", "seats", "places", "lon", "lat"}
_RESIZE_KEYS = {"id", "floor_area_m2", "seats", "places"}
_ADD_RESIDENCE_KEYS = {"id", "name", "households", "population", "area_type", "lon", "lat", "year"}
SCENARIO_SCHEMA: dict[str, set[str]] = {
    "scenario": {"name", "base", "inherits", "description", "year", "walk_minutes", "remove_facilities"},
    "profile": {"name", "figures"},
}
_TOP_KEYS = {"scenario", "profile", "walk_minutes", "remove_facilities", "add_facilities", "resize_facilities",
             "add_residences", "optimize"}
CACHE_FOLDER = ".siting-cache"
_CACHE_FILES = ("coverage.gpkg", "summary.json", "new_sites.csv")


@dataclass
class Scenario:
    """A resolved scenario: the base project with its project-level edits applied, and the layer edits to make."""

    name: str
    path: Path
    project: Project
    spec: dict[str, Any]  # merged edits, base-first; paths absolute; JSON-able
    chain: list[Path] = field(default_factory=list)  # scenario files, base-first


@dataclass
class ScenarioResult:
    name: str
    key: str
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    summary: dict[str, Any]
    new_sites: pd.DataFrame  # site_id, kind, size, cost, lon, lat (empty without [optimize])
    folder: Path  # the complete cache entry with every output of this scenario
    cached: bool = False
    units: pd.DataFrame = field(default_factory=pd.DataFrame)  # siting by unit: units_plan.csv (empty otherwise)
    unit_layers: list = field(default_factory=list)  # siting.measures.units.UnitLayer with polygons, when the project names units
    unit_tables: dict = field(default_factory=dict)  # level: the per-unit table (units_<level>.csv)


# ----------------------------------------------------------------------------------------------- reading

def _check(table: Any, allowed: set[str], where: str, file: Path) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table", file=file, column=where, expected="key = value pairs")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)} in {where}",
                          file=file, column=where, expected="one of " + ", ".join(sorted(allowed)),
                          fix="correct the spelling or remove the key")


def _blocks(data: dict, key: str, allowed: set[str], file: Path) -> list[dict]:
    blocks = data.get(key, [])
    if isinstance(blocks, dict):
        blocks = [blocks]
    if not isinstance(blocks, list):
        raise ConfigError(f"{key} must be a list of [[{key}]] tables", file=file, column=key)
    for i, block in enumerate(blocks):
        _check(block, allowed, f"[[{key}]] #{i + 1}", file)
        if "id" not in block or str(block["id"]).strip() == "":
            raise ConfigError(f"[[{key}]] #{i + 1} has no id", file=file, column=f"{key}[{i + 1}].id",
                              expected="id = \"…\" naming the facility or residence", fix="add an id")
    return [dict(b, id=str(b["id"])) for b in blocks]


def _absolute(value: str, folder: Path) -> str:
    """Paths written in a scenario file are relative to that file; built-in profile names stay names."""
    text = str(value)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text).expanduser()
        return str(path if path.is_absolute() else (folder / path).resolve())
    return text


def _read_one(path: Path) -> dict[str, Any]:
    """One scenario file, checked, with its own edits normalised (no inheritance yet)."""
    data = read_toml(path)
    _check(data, _TOP_KEYS, "the scenario file", path)
    head = data.get("scenario", {})
    _check(head, SCENARIO_SCHEMA["scenario"], "[scenario]", path)
    profile = data.get("profile", {})
    _check(profile, SCENARIO_SCHEMA["profile"], "[profile]", path)
    figures = profile.get("figures", {})
    if not isinstance(figures, dict):
        raise ConfigError("[profile] figures must be a table", file=path, column="profile.figures",
                          expected="figures = { walk_speed_m_per_min = 55 }")
    optimize = data.get("optimize", {})
    _check(optimize, PROJECT_SCHEMA["optimize"], "[optimize]", path)
    optimize = check_optimize_values(optimize, file=path)
    if "base" in head and "inherits" in head:
        raise ConfigError("a scenario names both base and inherits", file=path, column="scenario",
                          fix="keep base (a project file) in the first scenario and inherits in the ones built on it")
    if "base" not in head and "inherits" not in head:
        raise ConfigError("the scenario names no project", file=path, column="scenario.base",
                          expected="base = \"project.toml\" or inherits = \"other_scenario.toml\"")
    walk = data.get("walk_minutes", head.get("walk_minutes"))
    removed = list(data.get("remove_facilities", [])) + list(head.get("remove_facilities", []))
    if walk is not None and (isinstance(walk, bool) or not isinstance(walk, (int, float)) or walk <= 0):
        raise ConfigError(f"walk_minutes is {walk!r}", file=path, column="walk_minutes", expected="a positive number of minutes")
    folder = path.parent
    return {
        "name": str(head.get("name", path.stem)),
        "description": str(head.get("description", "")),
        "base": _absolute(head["base"], folder) if "base" in head else None,
        "inherits": _absolute(head["inherits"], folder) if "inherits" in head else None,
        "year": head.get("year"),
        "walk_minutes": float(walk) if walk is not None else None,
        "profile": _absolute(profile["name"], folder) if "name" in profile else None,
        "figures": dict(figures),
        "remove_facilities": [str(r) for r in removed],
        "add_facilities": _blocks(data, "add_facilities", _ADD_FACILITY_KEYS, path),
        "resize_facilities": _blocks(data, "resize_facilities", _RESIZE_KEYS, path),
        "add_residences": _blocks(data, "add_residences", _ADD_RESIDENCE_KEYS, path),
        "optimize": dict(optimize),
    }


def _by_id(parent: list[dict], child: list[dict]) -> list[dict]:
    merged = {b["id"]: b for b in parent}
    for block in child:
        merged[block["id"]] = {**merged.get(block["id"], {}), **block}
    return list(merged.values())


def _merge(parent: dict, child: dict) -> dict:
    out = copy.deepcopy(parent)
    for key in ("name", "description"):
        out[key] = child[key]
    for key in ("year", "walk_minutes", "profile"):
        if child[key] is not None:
            out[key] = child[key]
    out["figures"] = {**parent["figures"], **child["figures"]}
    out["optimize"] = {**parent["optimize"], **child["optimize"]}
    out["remove_facilities"] = list(dict.fromkeys(parent["remove_facilities"] + child["remove_facilities"]))
    for key in ("add_facilities", "resize_facilities", "add_residences"):
        out[key] = _by_id(parent[key], child[key])
    return out


def resolve_scenario(path: str | os.PathLike) -> tuple[dict[str, Any], list[Path]]:
    """The merged edits of a scenario and its ancestors (base-first), and the chain of files read."""
    chain: list[Path] = []
    current = Path(path).resolve()
    layers: list[dict] = []
    while True:
        if current in chain:
            cycle = " -> ".join(p.name for p in (*chain, current))
            raise ConfigError(f"scenarios inherit from each other in a cycle: {cycle}", file=chain[-1],
                              column="scenario.inherits", fix="one scenario in the chain must name base = a project file")
        chain.append(current)
        one = _read_one(current)
        layers.append(one)
        if one["inherits"] is None:
            break
        current = Path(one["inherits"])
        if not current.exists():
            raise ConfigError("the scenario it inherits from does not exist", file=chain[-1], column="scenario.inherits",
                              expected=f"an existing scenario file ({current})", fix="check the path (relative to this file)")
    chain.reverse()
    layers.reverse()
    spec = layers[0]
    for child in layers[1:]:
        spec = _merge(spec, child)
    spec.pop("inherits", None)
    spec["base"] = layers[0]["base"]
    return spec, chain


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read a scenario file (and what it inherits) and the project it extends."""
    spec, chain = resolve_scenario(path)
    base = Path(spec["base"])
    if not base.exists():
        raise ConfigError("the base project file does not exist", file=chain[0], column="scenario.base",
                          expected=f"an existing project file ({base})", fix="check the path (relative to the scenario file)")
    overrides = {"profile": spec["profile"], "walk_minutes": spec["walk_minutes"]}
    project = parse_project(read_toml(base), path=base, overrides=overrides)
    if spec["optimize"]:
        project = dataclasses.replace(project, optimize={**project.optimize, **spec["optimize"]})
    return Scenario(name=spec["name"], path=chain[-1], project=project, spec=spec, chain=chain)


# ----------------------------------------------------------------------------------------------- cache key

def _input_files(project: Project) -> list[Path]:
    blocks = [project.network, project.residences, *project.facilities, *project.units]
    if project.candidates:
        blocks.append(project.candidates)
    files = []
    for block in blocks:
        if "path" in block:
            location = project.resolve(block["path"])
            if isinstance(location, Path) and location.exists():
                files.append(location)
    return files


def scenario_key(scenario: Scenario) -> str:
    """sha256 over everything that decides the result; identical inputs give the identical key on any machine."""
    from .pipeline import load_profile_for

    profile = load_profile_for(scenario.project)
    project_raw = copy.deepcopy(scenario.project.raw)
    for section in ("project",):  # where results go does not change them
        for key in ("output", "map", "postgis_url", "postgis_schema", "tiles", "tianditu_key"):
            project_raw.get(section, {}).pop(key, None)
    content = {
        "siting_version": __version__,
        "scenario": {k: v for k, v in scenario.spec.items() if k not in ("name", "description", "base")},
        "project": project_raw,
        "profile": profile.to_dict()["figures"],
        "files": {p.name: file_sha256(p) for p in _input_files(scenario.project)},
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------- edits

def apply_edits(scenario: Scenario, residences: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                household_size: float) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Remove, resize and add facilities and add residential developments; every id is checked first."""
    from .inputs.layers import facilities_from_frame, residences_from_frame

    spec, file = scenario.spec, scenario.path
    fac = facilities.copy()
    ids = set(fac["fac_id"].astype(str))
    unknown = [i for i in spec["remove_facilities"] if i not in ids]
    if unknown:
        raise ConfigError(f"remove_facilities names facilities that do not exist: {', '.join(unknown)}", file=file,
                          column="remove_facilities", expected="ids of the project's facilities (column fac_id)")
    fac = fac[~fac["fac_id"].astype(str).isin(spec["remove_facilities"])]
    for i, block in enumerate(spec["resize_facilities"]):
        hit = fac["fac_id"].astype(str) == block["id"]
        if not hit.any():
            raise ConfigError(f"resize_facilities names facility '{block['id']}', which does not exist (or was removed)",
                              file=file, column=f"resize_facilities[{i + 1}].id")
        for column in ("floor_area_m2", "seats", "places"):
            if column in block:
                fac.loc[hit, column] = _non_negative(block[column], file, f"resize_facilities[{i + 1}].{column}")
    if spec["add_facilities"]:
        clash = sorted(set(b["id"] for b in spec["add_facilities"]) & set(fac["fac_id"].astype(str)))
        if clash:
            raise ConfigError(f"add_facilities repeats existing facility ids: {', '.join(clash)}", file=file,
                              column="add_facilities.id", fix="give each new facility an id not used in the project")
        frame = pd.DataFrame([{k: b.get(k) for k in _ADD_FACILITY_KEYS} for b in spec["add_facilities"]])
        added = facilities_from_frame(frame, source=f"{file} [[add_facilities]]")
        fac = gpd.GeoDataFrame(pd.concat([fac, added], ignore_index=True), geometry="geometry", crs=facilities.crs)

    res = residences
    year = spec.get("year")
    developments = [b for b in spec["add_residences"] if year is None or b.get("year") is None or int(b["year"]) <= int(year)]
    if developments:
        clash = sorted(set(b["id"] for b in developments) & set(res["res_id"].astype(str)))
        if clash:
            raise ConfigError(f"add_residences repeats existing residence ids: {', '.join(clash)}", file=file,
                              column="add_residences.id", fix="give each development an id not used in the project")
        frame = pd.DataFrame([{k: b.get(k) for k in _ADD_RESIDENCE_KEYS - {"year"}} for b in developments])
        added = residences_from_frame(frame, source=f"{file} [[add_residences]]", household_size=household_size,
                                      default_area_type="new")
        res = gpd.GeoDataFrame(pd.concat([res, added], ignore_index=True), geometry="geometry", crs=residences.crs)
    return res.reset_index(drop=True), fac.reset_index(drop=True)


def _non_negative(value: Any, file: Path, column: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{column} is {value!r}", file=file, column=column, expected="zero or a positive number")
    return float(value)


# ----------------------------------------------------------------------------------------------- running

def run_scenario(scenario: Scenario | str | os.PathLike, *, output: str | os.PathLike | None = None,
                 use_cache: bool = True, progress: Progress | None = None) -> ScenarioResult:
    """Compute one scenario, or re-use its cached result when nothing it depends on has changed.

    Results live in `<output>/.siting-cache/scenarios/<key>/` (default output: the base project's output folder).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    say = progress or (lambda _m: None)
    root = ensure_writable_dir(Path(output) if output is not None else scenario.project.output)
    key = scenario_key(scenario)
    folder = root / CACHE_FOLDER / "scenarios" / key
    if use_cache and folder.is_dir():
        say(f"{scenario.name}: unchanged, re-using {folder}")
        return _read_result(scenario.name, key, folder)

    from .coverage import analyse_coverage
    from .pipeline import load_inputs, write_coverage_outputs

    project = dataclasses.replace(scenario.project, output=root, postgis_url=None)
    candidates = CandidateTables(project)  # each kind's candidate table read once per scenario run
    unit_check = _unit_check(project, candidates) if scenario.spec["optimize"] else None  # siting by unit
    inputs = load_inputs(project, progress=say)
    if scenario.spec["figures"]:
        inputs.profile = inputs.profile.with_overrides(**scenario.spec["figures"])
    inputs.residences, inputs.facilities = apply_edits(scenario, inputs.residences, inputs.facilities,
                                                       float(inputs.profile.value("household_size")))
    from .measures.units import units_for_project

    stage = units_for_project(project, inputs, say)  # after the edits: added residences and facilities get units too
    if unit_check is not None:  # checked before any work
        unit_check(inputs)
    result = analyse_coverage(inputs.network, inputs.residences, inputs.facilities, inputs.profile,
                              thresholds_min=project.thresholds_min, walk_minutes=project.walk_minutes,
                              max_snap_m=project.max_snap_m, polygons=project.polygons,
                              snap_to_main=project.snap_to_main, progress=say)
    new_sites, units_plan = _optimise(project, inputs, result, candidates) if scenario.spec["optimize"] else (_empty_sites(), None)
    result.summary["scenario"] = {"name": scenario.name, "key": key, "files": [str(p) for p in scenario.chain],
                                  "edits": scenario.spec, "new_sites": len(new_sites),
                                  "cost": float(new_sites["cost"].sum()) if len(new_sites) else 0.0}

    tmp = Path(tempfile.mkdtemp(dir=folder.parent if folder.parent.is_dir() else _mkdir(folder.parent), prefix=".tmp-"))
    try:
        entry = dataclasses.replace(project, output=tmp, map_path=tmp / "coverage_map.html")
        indicators = None
        if stage is not None:
            from .measures.indicators import project_indicators, write_unit_boundaries
            from .output import write_gpkg

            indicators = project_indicators(project, inputs, result, stage, say=say, candidates=candidates)
            write_unit_boundaries(tmp / "units.gpkg", stage.layers, write_gpkg=write_gpkg)
        # the comparison is the report
        write_coverage_outputs(entry, inputs, result, say=say, report=False, indicators=indicators)
        write_csv(tmp / "new_sites.csv", new_sites)
        if units_plan is not None:
            write_csv(tmp / "units_plan.csv", units_plan)
        if folder.exists():  # another run finished the same key meanwhile: identical content, keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _read_result(scenario.name, key, folder, cached=False)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _empty_sites() -> pd.DataFrame:
    return pd.DataFrame({"site_id": [], "kind": [], "size": [], "cost": [], "lon": [], "lat": []})


def _unit_check(project: Project, candidates: CandidateTables) -> Callable | None:
    """Siting by unit's settings checked now, and its check of the inputs (their unit columns) for when they are read;
    None without siting by unit."""
    from .plan import check_unit_columns, unit_settings

    return (lambda inputs: check_unit_columns(project, inputs, candidates)) if unit_settings(project)[0] else None


def _optimise(project: Project, inputs, result, candidates: CandidateTables) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """New sites chosen by the project's siting model (siting.optimize), one row per opened site; and with siting by
    unit, the units' change (units_plan.csv; None otherwise)."""
    try:
        from .plan import optimise_project
    except ImportError:
        raise ConfigError("this scenario asks for an optimisation, but this version of siting has no optimisation "
                          "stage (siting.optimize.optimise_project)", column="optimize",
                          fix="remove the [optimize] table from the scenario, or update siting") from None
    from .plan import unit_settings

    plan = optimise_project(project, inputs, result, candidates=candidates)
    return plan.new_sites[list(_empty_sites().columns)], plan.units if unit_settings(project)[0] else None


def _read_result(name: str, key: str, folder: Path, cached: bool = True) -> ScenarioResult:
    import pyogrio

    gpkg = folder / "coverage.gpkg"
    present = set(pyogrio.list_layers(gpkg)[:, 0])

    def layer(name_: str) -> gpd.GeoDataFrame:
        if name_ in present:
            return gpd.read_file(gpkg, layer=name_, engine="pyogrio")
        return gpd.GeoDataFrame({"fac_id": [], "kind": []}, geometry=[], crs="EPSG:4326")

    residences = layer("residences")
    residences["res_id"] = residences["res_id"].astype(str)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    new_sites = pd.read_csv(folder / "new_sites.csv", encoding="utf-8-sig", dtype={"site_id": str})
    units = (pd.read_csv(folder / "units_plan.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
             if (folder / "units_plan.csv").is_file() else pd.DataFrame())
    from .measures.indicators import read_unit_results

    unit_layers, unit_tables = read_unit_results(folder)
    return ScenarioResult(name, key, residences, layer("facilities"), layer("catchments"), summary, new_sites, folder,
                          cached, units, unit_layers, unit_tables)


# ----------------------------------------------------------------------------------------------- comparing

def compare(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """One row per scenario × kind: coverage, households uncovered, capacity against the standard, new sites, cost.

    `capacity_shortfall` is the standard's total requirement minus the total capacity (floor area in m² for day
    care, seats for nurseries), floored at 0; `coverage_change` is against the first scenario.
    """
    rows = []
    for result in results:
        scen = result.summary.get("scenario", {})
        for kind in KINDS:
            info = result.summary["kinds"][kind]
            sites = result.new_sites[result.new_sites["kind"] == kind] if len(result.new_sites) else result.new_sites
            required, capacity = float(info["required_capacity_total"]), float(info["capacity_total"])
            rows.append({
                "scenario": result.name,
                "kind": kind,
                "walk_minutes": float(result.summary["walk_minutes"]),
                "profile": result.summary["profile"],
                "households": float(result.summary["households"]),
                "coverage_rate": float(info["coverage_rate"]),
                "households_covered": float(info["households_covered"]),
                "households_uncovered": float(info["households_uncovered"]),
                "facilities": int(info["facilities"]),
                "capacity_unit": CAPACITY_UNIT[kind],
                "capacity_total": capacity,
                "required_capacity": required,
                "capacity_shortfall": max(required - capacity, 0.0),
                "facility_shortfall_total": float(info["facility_shortfall_total"]),
                "servable_share": float(info["servable_share"]),
                "new_sites": int(len(sites)),
                "new_site_ids": " ".join(sites["site_id"].astype(str)) if len(sites) else "",
                "cost": float(sites["cost"].sum()) if len(sites) else 0.0,
                "cache_key": scen.get("key", result.key)[:12],
            })
    table = pd.DataFrame(rows)
    if len(table):
        first = table[table["scenario"] == results[0].name].set_index("kind")["coverage_rate"]
        table["coverage_change"] = table["coverage_rate"] - table["kind"].map(first)
    return table


def coverage_changes(base: ScenarioResult, other: ScenarioResult) -> gpd.GeoDataFrame:
    """Residences whose coverage differs from `base`, per kind: change = 'gained' or 'lost'. Residences that exist in
    only one of the two (added developments) count as gained when covered in `other`."""
    rows = []
    before = base.residences.set_index("res_id")
    for kind in KINDS:
        col = f"covered_{kind}"
        after = other.residences[["res_id", "name", "households", col, "geometry"]].copy()
        was = after["res_id"].map(before[col].astype(bool)).fillna(False).astype(bool)
        now = after[col].astype(bool)
        changed = after[was != now].copy()
        changed["kind"] = kind
        changed["change"] = np.where(now[was != now], "gained", "lost")
        rows.append(changed.drop(columns=col))
    gone = before.index.difference(other.residences["res_id"])
    out = pd.concat(rows, ignore_index=True)
    if len(gone):
        out.attrs["residences_removed"] = list(gone)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=other.residences.crs)


def write_comparison(results: Sequence[ScenarioResult], output: str | os.PathLike, *, title: str = "Scenario comparison",
                     network=None, tiles=None, tianditu_key: str | None = None, pdf: bool = False) -> dict[str, Path]:
    """comparison.csv, comparison.html (the printable comparison report: table, charts, the maps inside), one
    coverage map per scenario and a difference map per scenario against the first; when the projects name units,
    unit_changes.csv (every unit verdict per scenario against the first, siting.reports.unit_report) and its report section;
    every file written atomically.
    `network` is drawn as the street layer of every map, `tiles` are the maps' online basemap options."""
    from .reports.maps import coverage_map, save_map
    from .reports.scenario_report import write_comparison_report

    out = ensure_writable_dir(output)
    table = compare(results)
    paths: dict[str, Path] = {"csv": write_csv(out / "comparison.csv", table)}
    maps: dict[str, tuple[Path, Path | None]] = {}
    changes_by_name: dict[str, gpd.GeoDataFrame] = {}
    used: set[str] = set()
    context = dict(tiles=tiles, tianditu_key=tianditu_key, network=network)
    for i, result in enumerate(results):
        slug = _slug(result.name, used)
        folder = out / "scenarios" / slug
        unit_files = [f"units_{level}.csv" for level in result.unit_tables]
        for name in ("residences.csv", "facilities.csv", "summary.json", "new_sites.csv", "units_plan.csv", "indicators.csv",
                     "ledger.csv", *unit_files):
            if not (result.folder / name).is_file():
                continue  # units_plan.csv: siting by unit only; indicators, ledger, units_<level>: when the project names units
            write_text(folder / name, (result.folder / name).read_text(encoding="utf-8"))
        proposed = _proposed(result.new_sites)
        m = coverage_map(result.residences, result.facilities, result.catchments, title=result.name,
                         threshold_min=result.summary["walk_minutes"], profile_name=result.summary["profile"],
                         proposed=proposed, **context)
        if result.unit_layers:
            from .measures.indicators import map_checks
            from .reports.maps import add_unit_choropleth

            add_unit_choropleth(m, result.unit_layers, result.unit_tables, map_checks(result.unit_tables),
                                walk_minutes=result.summary["walk_minutes"])
        map_path = save_map(m, folder / "coverage_map.html")
        diff_path = None
        if i > 0:
            changes = changes_by_name[result.name] = coverage_changes(results[0], result)
            diff = coverage_map(result.residences, result.facilities, result.catchments,
                                title=f"{result.name} vs {results[0].name}", threshold_min=result.summary["walk_minutes"],
                                profile_name=result.summary["profile"], proposed=proposed,
                                newly_covered=changes[changes["change"] == "gained"],
                                lost=changes[changes["change"] == "lost"], **context)
            diff_path = save_map(diff, folder / "difference_map.html")
            write_csv(folder / "coverage_changes.csv", changes)
        maps[result.name] = (map_path, diff_path)
    units = [r.units.assign(scenario=r.name) for r in results if len(r.units)]
    extra = []
    if units:  # siting by unit: every scenario's units, before and after its plan
        unit_table = pd.concat(units, ignore_index=True)
        unit_table = unit_table[["scenario", *(c for c in unit_table.columns if c != "scenario")]]
        paths["units_csv"] = write_csv(out / "units_comparison.csv", unit_table)
        from .reports.report import Section

        extra.append(Section("units", "单元 Units", [_units_html(results)]))
    if any(r.unit_tables for r in results):  # the project names units: every unit's verdicts against the first scenario
        from .reports.unit_report import (
            UNIT_CHANGES_FILE,
            unit_changes,
            unit_changes_section,
        )

        unit_change = unit_changes(results)
        paths["unit_changes_csv"] = write_csv(out / UNIT_CHANGES_FILE, unit_change)
        extra.append(unit_changes_section(unit_change, [r.name for r in results]))
    written = write_comparison_report(table, results, maps, changes_by_name, out, title=title, pdf=pdf, extra_sections=extra)
    paths["html"] = written["report"]
    if "report_pdf" in written:
        paths["pdf"] = written["report_pdf"]
    return paths


def _units_html(results: Sequence[ScenarioResult]) -> str:
    """The per-unit change of each scenario with siting by unit: the units that gain service, with their new sites
    and 街道 centre, and the count of those that had it."""
    esc = html.escape
    parts = []
    for result in results:
        if not len(result.units):
            continue
        gains = result.units[result.units["change"] == "gains service"]
        had = int((result.units["change"] == "had service").sum())
        items = "".join(f"<li>{esc(r.kind)} {esc(r.level)} {esc(r.unit)}: {esc(r.new_sites)}"
                        f"{' (centre ' + esc(r.centre_site) + ')' if r.centre_site else ''}</li>"
                        for r in gains.itertuples(index=False))
        parts.append(f"<h3>{esc(result.name)}</h3><p>{len(gains)} unit(s) gain service, {had} had it already "
                     f"(units_comparison.csv)</p><ul>{items}</ul>")
    return "".join(parts)


def _proposed(new_sites: pd.DataFrame) -> gpd.GeoDataFrame | None:
    if not len(new_sites):
        return None
    return gpd.GeoDataFrame(new_sites.copy(), geometry=gpd.points_from_xy(new_sites["lon"], new_sites["lat"]), crs="EPSG:4326")


def _slug(name: str, used: set[str]) -> str:
    base = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_") or "scenario"
    slug, n = base, 2
    while slug in used:
        slug, n = f"{base}_{n}", n + 1
    used.add(slug)
    return slug


def run_scenarios(paths: Iterable[str | os.PathLike], *, output: str | os.PathLike,
                  progress: Progress | None = None, pdf: bool = False) -> tuple[list[ScenarioResult], dict[str, Path]]:
    """`siting scenario run`: every scenario (cached by content under `output`), then one comparison report (and its
    PDF with `pdf`). The maps draw the first scenario's walking network and offer its project's basemaps."""
    scenarios = [load_scenario(p) for p in paths]  # read them all first: a typo in the last fails before any work
    if pdf:
        from .reports.report import check_pdf_printer

        check_pdf_printer()
    from .inputs.tiles import resolve_tianditu_key

    first = dataclasses.replace(scenarios[0].project, output=Path(output))
    first.tianditu_key = resolve_tianditu_key(first.tiles, first.tianditu_key)
    results = [run_scenario(s, output=output, progress=progress) for s in scenarios]
    from .pipeline import load_network_for

    network = load_network_for(first, progress or (lambda _m: None))
    return results, write_comparison(results, output, network=network, tiles=first.tiles, tianditu_key=first.tianditu_key, pdf=pdf)
