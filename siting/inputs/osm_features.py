"""Residential buildings, facilities and candidate sites straight from an OpenStreetMap file (.osm.pbf, .osm,
.osm.bz2), for study areas where the planner has no survey layers.

One parser (pyosmium, with its area assembler for closed ways and multipolygon relations) reads every format, so
a .pbf and an .osm.bz2 of the same extract give identical frames. Nodes become points; closed ways and multipolygon
relations become polygons; unclosed ways carrying a matching tag are skipped (and counted in the log), because they
outline nothing.

Tagging decisions:
  * Residential buildings: building = residential, apartments, house, detached, dormitory, terrace,
    semidetached_house. building=yes inside landuse=residential is *not* taken: on Chinese campuses and
    compounds that landuse also holds shops, schools and boiler houses, and counting them as homes overstates
    households; map such buildings explicitly or supply a residence layer.
  * Nurseries (托育): amenity = kindergarten | childcare, and amenity=social_facility with social_facility=day_care
    whose social_facility:for includes child/children.
  * Elderly day care (日间照料): amenity=social_facility with social_facility = day_care | outreach and
    social_facility:for including senior/elderly. amenity=nursing_home and social_facility=nursing_home /
    assisted_living are *not* taken: they are residential care (养老院), not the community day-care station the
    standard counts; healthcare=* facilities are clinics, not day care.
  * Capacity: `capacity` gives nursery seats / elderly places ("osm_tag"); floor area is estimated as footprint ×
    building:levels (1 storey when absent) for polygons. capacity_source says where the capacity column of the
    facility's kind (siting.inputs.schema.CAPACITY_COLUMN) came from: "osm_tag", "estimated" or "missing".
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import shapely

from ..errors import InputError
from .layers import footprint_area_m2, parse_levels
from .schema import ELDERLY, FACILITY_COLUMNS, NURSERY

log = logging.getLogger(__name__)

RESIDENTIAL_BUILDINGS: frozenset[str] = frozenset(
    {"residential", "apartments", "house", "detached", "dormitory", "terrace", "semidetached_house"}
)
NURSERY_AMENITIES: frozenset[str] = frozenset({"kindergarten", "childcare"})
ELDERLY_SOCIAL_FACILITIES: frozenset[str] = frozenset({"day_care", "outreach"})
_SENIOR = frozenset({"senior", "seniors", "elderly"})
_CHILD = frozenset({"child", "children", "kindergarten", "childcare"})
PUBLIC_BUILDINGS: frozenset[str] = frozenset({"public", "civic", "government"})
VACANT_LANDUSE: frozenset[str] = frozenset({"brownfield", "greenfield"})

_OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.xml", ".xml", ".osm.bz2", ".osm.gz", ".bz2", ".gz")
_KEYS = ("building", "amenity", "landuse", "social_facility")


@dataclass(frozen=True)
class OsmObject:
    """One tagged OSM object with its geometry: osm_id is "node/123", "way/123" or "relation/123"."""

    osm_id: str
    tags: dict[str, str]
    geometry: shapely.Geometry


def iter_osm_objects(path: str | os.PathLike, keep: Callable[[dict[str, str]], bool], *,
                     nodes: bool = True, keys: tuple[str, ...] = _KEYS) -> list[OsmObject]:
    """Tagged nodes (as points, when `nodes`) and areas (as polygons) whose tags pass `keep`, sorted by type and id
    so that every file format gives the same order. Only objects with one of `keys` are assembled."""
    import osmium

    path = Path(path)
    if not path.exists():
        raise InputError("OpenStreetMap file not found", file=path, fix="check the path in the project file")
    if not path.name.lower().endswith(_OSM_SUFFIXES):
        raise InputError("unknown OpenStreetMap file type", file=path, expected="an .osm.pbf, .osm or .osm.bz2 file")
    factory = osmium.geom.WKBFactory()
    found: list[tuple[int, int, OsmObject]] = []
    open_ways = 0
    try:
        processor = (
            osmium.FileProcessor(str(path))
            .with_areas(osmium.filter.KeyFilter(*keys))
            .with_filter(osmium.filter.KeyFilter(*keys))
        )
        for obj in processor:
            if obj.is_area():
                tags = dict(obj.tags)
                if not keep(tags):
                    continue
                try:
                    geom = shapely.from_wkb(factory.create_multipolygon(obj))
                except RuntimeError as exc:  # broken ring that the assembler could not close
                    log.warning("%s: skipping area %d (%s)", path.name, obj.orig_id(), exc)
                    continue
                if len(geom.geoms) == 1:
                    geom = geom.geoms[0]
                kind, order = ("way", 1) if obj.from_way() else ("relation", 2)
                found.append((order, obj.orig_id(), OsmObject(f"{kind}/{obj.orig_id()}", tags, geom)))
            elif obj.is_node():
                if nodes and obj.location.valid():
                    tags = dict(obj.tags)
                    if keep(tags):
                        point = shapely.Point(obj.location.lon, obj.location.lat)
                        found.append((0, obj.id, OsmObject(f"node/{obj.id}", tags, point)))
            elif obj.is_way() and not obj.is_closed() and keep(dict(obj.tags)):
                open_ways += 1
    except RuntimeError as exc:
        raise InputError(f"cannot read OpenStreetMap data ({exc})", file=path,
                         expected="a valid .osm.pbf/.osm/.osm.bz2 file") from None
    if open_ways:
        log.info("%s: %d unclosed ways with matching tags skipped (they outline no area)", path.name, open_ways)
    found.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in found]


def read_osm_admin_boundaries(path: str | os.PathLike, admin_level: int | str) -> gpd.GeoDataFrame:
    """Administrative areas (boundary=administrative, closed ways or boundary/multipolygon relations) of one
    admin_level, as unit polygons: osm_id, name, geometry (EPSG:4326). In China admin_level 6 is usually the 区/县,
    8 the 街道/乡镇, 9–10 the 社区/村, but mappers differ: check the extract."""
    wanted = str(admin_level).strip()
    found = iter_osm_objects(path, lambda t: t.get("boundary") == "administrative" and t.get("admin_level") == wanted,
                             nodes=False, keys=("boundary",))
    return gpd.GeoDataFrame({"osm_id": [o.osm_id for o in found], "name": [o.tags.get("name", "") for o in found]},
                            geometry=[o.geometry for o in found], crs="EPSG:4326")


def _for_values(tags: dict[str, str]) -> set[str]:
    return {v.strip().lower() for v in tags.get("social_facility:for", "").split(";") if v.strip()}


def osm_facility_kind(tags: dict[str, str]) -> str | None:
    """The schema kind of an OSM object, or None (see the module docstring for the tagging decisions)."""
    amenity = tags.get("amenity")
    if amenity in NURSERY_AMENITIES:
        return NURSERY
    if amenity == "social_facility":
        facility = tags.get("social_facility")
        target = _for_values(tags)
        if facility in ELDERLY_SOCIAL_FACILITIES and target & _SENIOR:
            return ELDERLY
        if facility == "day_care" and target & _CHILD:
            return NURSERY
    return None


def _number(text: str | None) -> float:
    if text is None:
        return np.nan
    try:
        value = float(text.strip().replace(",", ""))
    except ValueError:
        return np.nan
    return value if np.isfinite(value) and value >= 0 else np.nan


def _frame(rows: list[dict], columns: list[str]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in columns if c != "geometry"}, geometry=[], crs="EPSG:4326")[columns]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")[columns]


def read_osm_residential_buildings(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Residential building outlines (polygons, EPSG:4326): osm_id, building, levels (the raw building:levels tag,
    "" when absent), name."""
    objects = iter_osm_objects(path, lambda t: t.get("building") in RESIDENTIAL_BUILDINGS, nodes=False)
    rows = [{"osm_id": o.osm_id, "building": o.tags["building"], "levels": o.tags.get("building:levels", ""),
             "name": o.tags.get("name", ""), "geometry": o.geometry} for o in objects]
    return _frame(rows, ["osm_id", "building", "levels", "name", "geometry"])


def read_osm_facilities(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Facilities in the schema (fac_id = OSM id) plus capacity_source ("osm_tag" / "estimated" / "missing")."""
    objects = iter_osm_objects(path, lambda t: osm_facility_kind(t) is not None)
    rows = []
    for o in objects:
        kind = osm_facility_kind(o.tags)
        capacity = _number(o.tags.get("capacity"))
        rows.append({"fac_id": o.osm_id, "name": o.tags.get("name", ""), "kind": kind, "floor_area_m2": np.nan,
                     "places": capacity if kind == ELDERLY else np.nan,
                     "seats": capacity if kind == NURSERY else np.nan,
                     "levels": parse_levels(o.tags.get("building:levels"), 1.0), "geometry": o.geometry})
    columns = list(FACILITY_COLUMNS[:-1]) + ["capacity_source", "geometry"]
    if not rows:
        return _frame([], columns)
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    polygon = frame.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    floor_area = footprint_area_m2(frame.geometry) * frame["levels"].to_numpy()
    frame["floor_area_m2"] = np.where(polygon, floor_area, np.nan)
    nursery = (frame["kind"] == NURSERY).to_numpy()
    seats_given = ~np.isnan(frame["seats"].to_numpy())
    source = np.where(nursery, np.where(seats_given, "osm_tag", "missing"), np.where(polygon, "estimated", "missing"))
    frame["capacity_source"] = source
    return frame[columns]


def _candidate_tag(tags: dict[str, str]) -> str | None:
    amenity = tags.get("amenity")
    if amenity in ("community_centre", "school", "townhall"):
        return f"amenity={amenity}"
    if tags.get("building") in PUBLIC_BUILDINGS:
        return f"building={tags['building']}"
    if tags.get("landuse") in VACANT_LANDUSE:
        return f"landuse={tags['landuse']}"
    return None


def read_osm_candidate_sites(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Places a new station could go: community centres, schools, town halls, public/civic/government buildings and
    vacant parcels (landuse=brownfield|greenfield); site_id = OSM id, source_tag = the tag that qualified it."""
    objects = iter_osm_objects(path, lambda t: _candidate_tag(t) is not None)
    rows = [{"site_id": o.osm_id, "name": o.tags.get("name", ""), "source_tag": _candidate_tag(o.tags),
             "geometry": o.geometry} for o in objects]
    return _frame(rows, ["site_id", "name", "source_tag", "geometry"])
