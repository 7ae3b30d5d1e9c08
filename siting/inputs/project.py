"""The project file (TOML): one study area — its layers, column mappings, coordinate systems, profile and thresholds.

Paths inside are relative to the project file. Every key is checked: an unknown key is an error that names it and
lists the valid ones, so a typo never silently falls back to a default.

    [project]
    name = "示例 Sample town"
    profile = "national"          # built-in profile name or path to a profile .toml
    output = "../out/sample"      # tables and summary go here
    map = "../maps/sample.html"   # the HTML coverage map
    thresholds_min = [5, 10, 15]  # extra rings; the circle itself is the profile's walk_minutes
    max_snap_m = 500              # farther than this from a walkable street = reported, not moved
    metric_crs = "utm"            # utm | cgcs2000 | EPSG:xxxx (projected, metres)
    tiles = ["osm", "amap"]       # online basemap choices in the map (osm, tianditu, amap, all); default none
    tianditu_key = "…"            # for tiles = "tianditu" (or TIANDITU_KEY); it ends up in the HTML

    [network]
    path = "sample.osm.pbf"       # .osm.pbf / .osm / .osm.bz2 / .graphml
    cache = true                  # keep the compiled graph in the user cache folder (SITING_CACHE_DIR overrides)
    snap_to = "nearest"           # or "main": attach points to the largest connected piece (within max_snap_m)

    [residences]                  # or: source = "osm" to estimate households from OSM residential buildings
    include_dormitories = false   # source = "osm" only: count building=dormitory (student housing) as households
    path = "example_residences.csv"
    coords = "wgs84"              # wgs84 | cgcs2000 | gcj02 | bd09
    crs = "EPSG:4326"             # for x/y columns or files without a CRS
    columns = { households = "户数" }
    # sheet = "小区"              # Excel: the sheet (default: the first)
    # header_row = 2              # the row holding the column names, when a title row sits above them

    [[facilities]]                # one block per file; `kind` for files holding one kind only
    path = "example_facilities.csv"

    [[units]]                     # one block per unit level (siting.measures.units): 小区, 社区, 街道/乡镇, 行政村/建制村, 区/县
    path = "example_units.geojson"  # GPKG / SHP / GeoJSON, or a PostgreSQL URL + table; no path: a residences column
    level = "社区"                 # names the unit (所属社区)
    columns = { id = "社区代码", name = "社区名称", parent = "所属街道代码" }
"""
from __future__ import annotations

import copy
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..errors import ConfigError, nearest_names
from .textfile import Undecodable, decode_text
from .tiles import parse_tiles
from .validate import check_number, check_optimize_values, minutes_list

log = logging.getLogger(__name__)

_LAYER_KEYS = {"path", "table", "layer", "encoding", "crs", "coords", "columns", "sheet", "header_row", "source"}
SCHEMA: dict[str, set[str]] = {
    "project": {"name", "profile", "output", "map", "thresholds_min", "walk_minutes", "max_snap_m", "metric_crs",
                "polygons", "tiles", "tianditu_key", "postgis_url", "postgis_schema"},
    "network": {"path", "cache", "url", "place", "snap_to"},
    "residences": _LAYER_KEYS | {"default_area_type", "include_dormitories"},
    "facilities": _LAYER_KEYS | {"kind"},
    "candidates": _LAYER_KEYS | {"kind", "cost", "max_capacity", "default_capacity"},
    "units": _LAYER_KEYS | {"level", "admin_level"},
    "optimize": {"model", "kinds", "p", "budget", "solver", "time_limit_s", "gap_rel", "objective", "joint",
                 "colocation_bonus", "min_station_m2", "m2_per_seat", "expand_existing", "expansion_cost", "expansion_max",
                 "units", "per_unit", "unit_reach_share"},
}

#: [network] snap_to: the nearest street, or the nearest street of the largest connected piece of the network.
SNAP_TO = ("nearest", "main")


@dataclass
class Project:
    """A parsed project file; `path` is where it was read from (relative layer paths resolve against its folder)."""

    path: Path | None
    name: str
    profile: str
    output: Path
    map_path: Path
    network: dict[str, Any]
    residences: dict[str, Any]
    facilities: list[dict[str, Any]]
    candidates: dict[str, Any] | None = None
    units: list[dict[str, Any]] = field(default_factory=list)
    optimize: dict[str, Any] = field(default_factory=dict)
    thresholds_min: list[float] = field(default_factory=lambda: [5.0, 10.0, 15.0])
    walk_minutes: float | None = None
    max_snap_m: float = 500.0
    metric_crs: str = "utm"
    polygons: bool = True
    tiles: tuple[str, ...] = ()  # online basemap options (siting.reports.basemaps); empty = offline only
    tianditu_key: str | None = None
    postgis_url: str | None = None
    postgis_schema: str = "public"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def snap_to_main(self) -> bool:
        return self.network.get("snap_to", "nearest") == "main"

    def resolve(self, value: str | os.PathLike) -> Path | str:
        """A layer path relative to the project file; database URLs are returned as they are."""
        text = str(value)
        if "://" in text:
            return text
        base = self.path.parent if self.path is not None else Path.cwd()
        return (base / text).resolve() if not Path(text).is_absolute() else Path(text)


def _check_keys(section: str, table: dict, file: Path | None) -> None:
    allowed = SCHEMA[section]
    unknown = sorted(set(table) - allowed)
    if unknown:
        named = ", ".join(repr(k) + nearest_names(k, allowed) for k in unknown)
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {named} in [{section}]",
            file=file,
            expected="one of " + ", ".join(sorted(allowed)),
            fix="correct the spelling or remove the key",
        )


def parse_project(data: dict[str, Any], *, path: Path | None = None, overrides: dict[str, Any] | None = None) -> Project:
    """Build a Project from an already-parsed TOML mapping (scenarios use this after merging)."""
    data = copy.deepcopy(data)
    unknown = sorted(set(data) - set(SCHEMA))
    if unknown:
        named = ", ".join(repr(k) + nearest_names(k, SCHEMA) for k in unknown)
        raise ConfigError(f"unknown section{'s' if len(unknown) > 1 else ''} {named}",
                          file=path, expected="sections " + ", ".join(f"[{s}]" for s in SCHEMA),
                          fix="correct the spelling or remove the section")
    proj = data.get("project", {})
    _check_keys("project", proj, path)
    network = data.get("network")
    if not network or not (network.get("path") or network.get("place") or network.get("url")):
        raise ConfigError("no walking network given", file=path, expected="[network] path = \"….osm.pbf\"",
                          fix="add a [network] section with the path of an OpenStreetMap extract or GraphML file")
    _check_keys("network", network, path)
    if network.get("snap_to", "nearest") not in SNAP_TO:
        raise ConfigError(f"snap_to = {network['snap_to']!r} is not known", file=path, column="network.snap_to",
                          expected=" or ".join(f'"{v}"' for v in SNAP_TO),
                          fix="\"nearest\" attaches each point to its nearest street, \"main\" to the nearest street "
                              "of the main connected network")
    residences = data.get("residences")
    if not residences:
        raise ConfigError("no residences layer given", file=path, expected="a [residences] section with path = …")
    _check_keys("residences", residences, path)
    facilities = data.get("facilities", [])
    if isinstance(facilities, dict):
        facilities = [facilities]
    for block in facilities:
        _check_keys("facilities", block, path)
    candidates = data.get("candidates")
    if candidates is not None:
        _check_keys("candidates", candidates, path)
    for section, block in [("residences", residences), ("candidates", candidates or {})] + [
            ("facilities", b) for b in facilities]:
        if "header_row" in block:
            block["header_row"] = check_number("layer.header_row", block["header_row"], file=path, section=section)
    optimize = data.get("optimize", {})
    _check_keys("optimize", optimize, path)
    optimize = check_optimize_values(optimize, file=path)
    units = data.get("units", [])
    if isinstance(units, dict):
        units = [units]
    for block in units:
        _check_keys("units", block, path)

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in overrides:
        if key not in SCHEMA["project"]:
            raise ConfigError(f"unknown override {key!r}", expected="one of " + ", ".join(sorted(SCHEMA["project"])))
    if "output" in overrides and "map" not in overrides and "map" in proj:
        # a new output folder takes the map with it: one folder per run, nothing of another run overwritten
        proj["map"] = str(Path(overrides["output"]) / Path(proj["map"]).name)
    proj.update(overrides)
    base = path.parent if path is not None else Path.cwd()

    def _path(value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else (base / p).resolve()

    name = str(proj.get("name", path.stem if path else "study area"))
    output = _path(proj.get("output", "out"))
    thresholds = minutes_list("project.thresholds_min", proj.get("thresholds_min", [5, 10, 15]), file=path)
    walk_minutes = proj.get("walk_minutes")
    if walk_minutes is not None:
        walk_minutes = float(check_number("project.walk_minutes", walk_minutes, file=path))
    max_snap_m = float(check_number("project.max_snap_m", proj.get("max_snap_m", 500.0), file=path))
    return Project(
        path=path,
        name=name,
        profile=str(proj.get("profile", "national")),
        output=output,
        map_path=_path(proj["map"]) if "map" in proj else output / "coverage_map.html",
        network=network,
        residences=residences,
        facilities=facilities,
        candidates=candidates,
        units=units,
        optimize=optimize,
        thresholds_min=thresholds,
        walk_minutes=walk_minutes,
        max_snap_m=max_snap_m,
        metric_crs=str(proj.get("metric_crs", "utm")),
        polygons=bool(proj.get("polygons", True)),
        tiles=parse_tiles(proj.get("tiles"), file=path),
        tianditu_key=proj.get("tianditu_key"),
        postgis_url=proj.get("postgis_url"),
        postgis_schema=str(proj.get("postgis_schema", "public")),
        raw=data,
    )


def read_toml(path: str | os.PathLike, *, what: str = "project file") -> dict[str, Any]:
    """A TOML file as Notepad, WPS or an editor saved it: UTF-8 (a byte-order mark is dropped) or GBK, which is read
    with a warning (TOML itself must be UTF-8); ConfigError for bytes that are neither and for bad TOML."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} not found", file=path)
    try:
        decoded = decode_text(path.read_bytes())
    except Undecodable as exc:
        raise ConfigError(f"line {exc.first_bad['utf-8-sig']}: bytes that are neither UTF-8 nor GBK", file=path,
                          expected=f"a {what} saved as UTF-8",
                          fix="open it in a text editor and save it with the encoding UTF-8") from None
    if decoded.encoding != "utf-8-sig":
        log.warning("%s: not UTF-8 (first non-UTF-8 text on line %d), read as %s; save it as UTF-8 to be sure "
                    "every name reads right", path, decoded.first_non_utf8_line, decoded.encoding.upper())
    try:
        return tomllib.loads(decoded.text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", file=path, fix="check quotes, brackets and '=' on the line named") from None


def load_project(path: str | os.PathLike, **overrides: Any) -> Project:
    """Read a project file; keyword overrides (profile=…, output=…, walk_minutes=…) win over the file, as CLI flags do."""
    path = Path(path).resolve()
    return parse_project(read_toml(path), path=path, overrides=overrides)
