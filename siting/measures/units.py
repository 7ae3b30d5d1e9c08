"""The units stage: administrative and planning units (小区, 社区, 街道/乡镇, 行政村/建制村, 区/县) as input, and the
assignment of residences, facilities and candidate sites to them.

The targets of the 一老一小 plans and of the city health check (城市体检) are counted over units — the share of 社区
with a day-care station, one centre per 街道 — so every point gets one column per level, `unit_<level>`, holding
the id of the unit it lies in (None outside every unit of that level). Units come from polygon layers (`[[units]]`
blocks of the project file: GeoPackage, Shapefile, GeoJSON or PostGIS) or, without polygons, from a residences
column naming the unit (所属社区, 所属街道).

A point exactly on the boundary shared by two units of a level goes to the unit with the lowest id (numeric ids
compared as numbers, then text ids as text), so a point is never counted twice and the result never depends on the
order of the file. Facilities also get their level in the hierarchy (`facility_level`, see FACILITY_LEVELS).

Public surface: LEVELS, FACILITY_LEVELS, canonical_level, UnitLayer, read_unit_layers, units_from_frame,
units_from_column, check_parents, assign_units, facility_levels, parent_of, UnitsStage, apply_units, and
units_for_project (the pipeline's call: read, assign, report).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import ConfigError, InputError, listed
from ..inputs.schema import NURSERY

log = logging.getLogger(__name__)

#: Canonical unit levels (smallest first) and their Chinese labels.
LEVELS: dict[str, str] = {
    "xiaoqu": "小区",
    "community": "社区",
    "village": "行政村/建制村",
    "street": "街道/乡镇",
    "district": "区/县",
}
#: Accepted spellings of each level in project files.
LEVEL_ALIASES: dict[str, tuple[str, ...]] = {
    "xiaoqu": ("xiaoqu", "小区", "住宅小区", "居住小区", "neighbourhood", "neighborhood", "residential_compound", "compound"),
    "community": ("community", "社区", "居委会", "社区居委会", "城市社区"),
    "village": ("village", "行政村", "建制村", "村", "administrative_village"),
    "street": ("street", "街道", "乡镇", "街道/乡镇", "街道乡镇", "镇", "乡", "subdistrict", "township", "town"),
    "district": ("district", "区", "县", "区/县", "区县", "县区", "county"),
}
#: The level a unit's `parent` id refers to, in order of preference.
PARENT_LEVELS: dict[str, tuple[str, ...]] = {
    "xiaoqu": ("community", "street"),
    "community": ("street", "district"),
    "village": ("street", "district"),
    "street": ("district",),
    "district": (),
}

#: Facility levels of the one-centre-many-stations network (一中心多站点) and childcare.
FACILITY_LEVELS: dict[str, str] = {
    "street_centre": "街道综合养老服务中心",
    "community_station": "社区日间照料站/养老服务站",
    "xiaoqu_room": "小区养老服务用房",
    "nursery": "托育机构",
}
#: Words in a type label or `level` cell that name a facility level (checked in this order).
_FACILITY_LEVEL_WORDS: tuple[tuple[str, str], ...] = (
    ("street_centre", "street_centre"), ("street", "street_centre"), ("centre", "street_centre"),
    ("街道", "street_centre"), ("乡镇", "street_centre"), ("综合", "street_centre"), ("区域", "street_centre"),
    ("xiaoqu", "xiaoqu_room"), ("小区", "xiaoqu_room"), ("用房", "xiaoqu_room"),
    ("community", "community_station"), ("station", "community_station"), ("社区", "community_station"),
    ("站", "community_station"), ("照料", "community_station"), ("养老服务中心", "street_centre"),
)

#: Column aliases of a unit layer (mapped in the project file with columns = { id = "社区代码", ... }).
UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "unit_id", "code", "编号", "代码", "区划代码", "行政区划代码", "社区代码", "街道代码", "村代码", "小区代码"),
    "name": ("name", "名称", "社区名称", "街道名称", "村名称", "小区名称", "乡镇名称", "区县名称"),
    "parent": ("parent", "parent_id", "上级代码", "上级", "上级区划代码", "所属街道代码", "所属街道", "所属乡镇",
               "所属社区", "所属社区代码", "所属区县"),
    "area_type": ("area_type", "类型", "小区类型", "新旧"),
}

#: Overlaps of two units of one level larger than this are an error; smaller slivers (digitising noise) are
#: tolerated, the lowest-id rule deciding where a point in them belongs.
OVERLAP_TOLERANCE_M2 = 10.0

def level_label(level: str) -> str:
    """'社区 community' for messages and headers."""
    return f"{LEVELS[level]} {level}"


def canonical_level(text: Any, *, file: Any = None, column: str | None = "units.level") -> str:
    """The canonical key of a level written in Chinese or English; ConfigError for a missing or unknown one."""
    accepted = "one of " + ", ".join(f"{LEVELS[k]} ({k})" for k in LEVELS)
    if text is None or not str(text).strip():
        raise ConfigError("a [[units]] block has no level", file=file, column=column, expected=accepted,
                          fix="add level = \"社区\" (or another level) to the block")
    key = str(text).strip().lower().replace(" ", "_")
    for level, aliases in LEVEL_ALIASES.items():
        if key in aliases:
            return level
    raise ConfigError(f"unknown unit level '{text}'", file=file, column=column, expected=accepted,
                      fix="write one of those levels (Chinese or English)")


@dataclass
class UnitLayer:
    """The units of one level: `units` has unit_id, name, parent_id, area_type and geometry (EPSG:4326; None
    for units named only by a residences column). `source` is where they were read from, for messages."""

    level: str
    units: gpd.GeoDataFrame
    source: str
    has_geometry: bool = True


def units_from_frame(frame: pd.DataFrame, *, level: str, source: str, columns: dict[str, str] | None = None,
                     crs: str | None = None, coords: str = "wgs84") -> UnitLayer:
    """A unit layer from a read table (spatial file or PostGIS): ids checked unique, geometry polygons and valid,
    converted to WGS84, no two units overlapping."""
    from ..inputs.columns import (
        geometry_column_name,
        parse_ids,
        parse_names,
        resolve_columns,
        spreadsheet_row,
    )
    from ..inputs.layers import parse_geometry

    if len(frame) == 0:
        raise InputError(f"the {level_label(level)} layer has no units", file=source,
                         expected="one polygon per unit", fix="check the layer name (layer = \"…\") in the project file")
    found = resolve_columns(frame, source, columns, UNIT_ALIASES, aliases=UNIT_ALIASES)
    if "id" not in found:
        present = ", ".join(str(c) for c in frame.columns if c != geometry_column_name(frame))
        raise InputError(f"no unit id column; found: {present}", file=source, column="id",
                         expected="a column named one of (" + ", ".join(UNIT_ALIASES["id"]) + ")",
                         fix="map it in the project file: columns = { id = \"社区代码\" }")
    ids = parse_ids(frame, source, found["id"], "U")
    if geometry_column_name(frame) is None:
        raise InputError(f"the {level_label(level)} layer has no geometry", file=source, column="geometry",
                         expected="unit boundaries as polygons (GeoPackage, Shapefile, GeoJSON or PostGIS)",
                         fix="export the boundaries from the GIS, or name the unit in a residences column (所属社区)")
    for i, geom in enumerate(frame.geometry.values):
        kind = "empty geometry" if geom is None or geom.is_empty else geom.geom_type
        if kind not in ("Polygon", "MultiPolygon"):
            raise InputError(f"unit '{ids[i]}' is {'an' if kind[0] in 'aeiouAEIOU' else 'a'} {kind}, not a polygon",
                             file=source, row=spreadsheet_row(frame, i), column="geometry",
                             expected="Polygon or MultiPolygon unit boundaries",
                             fix="export the unit areas (面), not their centroids or outlines, or delete the row")
        if not shapely.is_valid(geom):
            raise InputError(f"unit '{ids[i]}' has an invalid polygon ({shapely.is_valid_reason(geom)})", file=source,
                             row=spreadsheet_row(frame, i), column="geometry",
                             expected="a polygon whose outline does not cross itself",
                             fix="repair it in QGIS (Vector > Geometry Tools > Fix Geometries) or with ST_MakeValid, and reload")
    geometry = parse_geometry(frame, source, found, crs, coords)
    parent = _optional_ids(frame, found.get("parent"))
    area_type = _unit_area_types(frame, source, found.get("area_type"))
    units = gpd.GeoDataFrame({"unit_id": ids, "name": parse_names(frame, found.get("name")), "parent_id": parent,
                              "area_type": area_type}, geometry=geometry, crs="EPSG:4326")
    units.attrs["parent_column"] = found.get("parent")
    units.attrs["rows"] = [spreadsheet_row(frame, i) for i in range(len(frame))]
    _check_overlaps(units, level, source)
    return UnitLayer(level, units, source, True)


def _optional_ids(frame: pd.DataFrame, column: str | None) -> list[str | None]:
    if column is None:
        return [None] * len(frame)
    from ..inputs.columns import is_blank

    return [None if is_blank(v) else str(int(v) if isinstance(v, float) and v.is_integer() else v).strip()
            for v in frame[column].tolist()]


def _unit_area_types(frame: pd.DataFrame, source: str, column: str | None) -> list[str | None]:
    """new / existing where the layer says (小区类型), None where it does not: the residences' own types then apply."""
    from ..inputs.columns import (
        AREA_TYPE_VALUES,
        is_blank,
        normalise_header,
        spreadsheet_row,
    )

    if column is None:
        return [None] * len(frame)
    out: list[str | None] = []
    for i, value in enumerate(frame[column].tolist()):
        mapped = None if is_blank(value) else AREA_TYPE_VALUES.get(normalise_header(value))
        if not is_blank(value) and mapped is None:
            raise InputError(f"area type '{value}' is not recognised", file=source, row=spreadsheet_row(frame, i),
                             column=column, expected="新建/new or 既有/existing (or blank: the residences' own types apply)",
                             fix="use one of those values or leave the cell blank")
        out.append(mapped)
    return out


def _check_overlaps(units: gpd.GeoDataFrame, level: str, source: str) -> None:
    metric = units.to_crs(units.estimate_utm_crs())
    left, right = metric.sindex.query(metric.geometry, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    geoms = np.asarray(metric.geometry.values)
    areas = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    for i, j, area in zip(left.tolist(), right.tolist(), areas.tolist()):
        if area > OVERLAP_TOLERANCE_M2:
            a, b = units["unit_id"].iat[i], units["unit_id"].iat[j]
            raise InputError(f"units '{a}' and '{b}' overlap by {area:,.0f} m²", file=source,
                             row=units.attrs["rows"][j], column="geometry",
                             expected=f"{level_label(level)} units that do not overlap (a shared boundary is fine)",
                             fix="correct the boundaries so that every place lies in one unit (QGIS: Vector > "
                                 "Geometry Tools > Check Validity, or the Topology Checker), and reload")


def units_from_column(residences: gpd.GeoDataFrame, level: str, source: str) -> UnitLayer:
    """Units named by a residences column (`unit_<level>`, read from 所属社区 / 所属街道): ids only, no geometry."""
    column = f"unit_{level}"
    if column not in residences.columns:
        from ..inputs.columns import ALIASES

        raise ConfigError(f"the {level_label(level)} block names no file and the residences have no column naming "
                          f"their {LEVELS[level]}", file=source, column=f"units.{level}",
                          expected=f"path = the unit boundaries, or a residences column named one of "
                                   f"({', '.join(ALIASES[column])})",
                          fix=f"give the block a path, or add the column to the residences (or map it: "
                              f"columns = {{ {level} = \"…\" }} under [residences])")
    ids = sorted({str(v) for v in residences[column].tolist() if pd.notna(v)}, key=_id_key)
    units = gpd.GeoDataFrame({"unit_id": ids, "name": ids, "parent_id": [None] * len(ids),
                              "area_type": [None] * len(ids)}, geometry=[None] * len(ids), crs="EPSG:4326")
    return UnitLayer(level, units, source, False)


def read_unit_layers(project) -> list[UnitLayer]:
    """The project's `[[units]]` blocks, each read and checked (`check_parents` across them). A block holds a `path`
    (file or database URL), `source = "osm"`, no path (units named by a residences column) or, from Python (the QGIS
    plugin), a `frame` already read plus its `label` for messages, as the other layer blocks do."""
    from ..inputs.layers import read_table

    blocks = project.units
    layers: list[UnitLayer] = []
    seen: dict[str, int] = {}
    for n, block in enumerate(blocks, start=1):
        level = canonical_level(block.get("level"), file=project.path, column=f"units[{n}].level")
        if level in seen:
            raise ConfigError(f"two [[units]] blocks ({seen[level]} and {n}) are both level {level_label(level)}",
                              file=project.path, column=f"units[{n}].level", expected="one block per level",
                              fix="merge the two layers into one file, or correct the level of one block")
        seen[level] = n
        if block.get("source") == "osm":
            layers.append(_units_from_osm(project, block, level, n))
            continue
        options = dict(columns=block.get("columns"), crs=block.get("crs"), coords=block.get("coords", "wgs84"))
        if block.get("frame") is not None:  # a table already in memory (a QGIS layer): the same checks, named by label
            layers.append(units_from_frame(block["frame"], level=level, source=str(block.get("label", LEVELS[level])),
                                           **options))
            continue
        if "path" not in block:
            layers.append(UnitLayer(level, gpd.GeoDataFrame(geometry=[]), str(project.path), False))  # filled from residences
            continue
        location = project.resolve(block["path"])
        if isinstance(location, str) and "://" in location:
            from ..inputs.postgis import read_postgis_table, redact_url

            table = block.get("table")
            if not table:
                raise ConfigError(f"[[units]] block {n} reads from a database but names no table", file=project.path,
                                  column=f"units[{n}].table", expected="table = \"schema.name\"",
                                  fix="add the table holding the unit boundaries")
            frame, source = read_postgis_table(location, table), f"{redact_url(location)} table {table}"
        else:
            frame = read_table(location, layer=block.get("layer"), encoding=block.get("encoding"), sheet=block.get("sheet"))
            source = str(location)
        layers.append(units_from_frame(frame, level=level, source=source, **options))
    return layers


def _units_from_osm(project, block: dict, level: str, n: int) -> UnitLayer:
    """`source = "osm"`: the administrative boundaries of `admin_level` in the block's OSM file (default: the
    network file), ids = OSM ids (relation/123), names = the name tag."""
    from ..inputs.osm_features import read_osm_admin_boundaries

    if block.get("admin_level") is None:
        raise ConfigError(f"[[units]] block {n} reads OSM boundaries but names no admin_level", file=project.path,
                          column=f"units[{n}].admin_level", expected="admin_level = 8 (街道/乡镇 in most Chinese "
                          "extracts; 6 区/县, 9–10 社区/村)", fix="add the admin_level of the boundaries to use")
    path = project.resolve(block.get("path", project.network.get("path", "")))
    frame = read_osm_admin_boundaries(path, block["admin_level"])
    source = f"{path} (OSM boundary=administrative, admin_level={block['admin_level']})"
    if not len(frame):
        raise InputError(f"no boundary=administrative areas of admin_level {block['admin_level']}", file=path,
                         expected=f"closed ways or boundary relations for the {level_label(level)} units",
                         fix="check admin_level in the project file, or give the unit boundaries as a file")
    return units_from_frame(frame, level=level, source=source, columns={"id": "osm_id", "name": "name"})


def check_parents(layers: Sequence[UnitLayer]) -> None:
    """Every parent id names a unit of the parent level, when that level is given too."""
    by_level = {layer.level: layer for layer in layers}
    for layer in layers:
        parents = [p for p in layer.units.get("parent_id", pd.Series(dtype=object)).tolist() if p is not None]
        target = next((by_level[lv] for lv in PARENT_LEVELS[layer.level] if lv in by_level), None)
        if not parents or target is None or not len(target.units):
            continue
        known = set(target.units["unit_id"])
        for i, parent in enumerate(layer.units["parent_id"].tolist()):
            if parent is not None and parent not in known:
                rows = layer.units.attrs.get("rows")
                raise InputError(f"unit '{layer.units['unit_id'].iat[i]}' names parent '{parent}', which is not a "
                                 f"{LEVELS[target.level]} in {target.source}", file=layer.source,
                                 row=rows[i] if rows else None, column=layer.units.attrs.get("parent_column"),
                                 expected=f"the id of a {level_label(target.level)} unit",
                                 fix="correct the parent id, or leave it blank to have the parent found by location")


def _id_key(unit_id: str) -> tuple:
    """Sort key of unit ids: numeric ids as numbers first, then text ids as text (the boundary tie-break)."""
    text = str(unit_id)
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def _points(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """The point used for each row (polygons: a point inside them), as for walking."""
    geom = frame.geometry
    return geom.where(geom.geom_type == "Point", geom.representative_point())


def assign_units(points: gpd.GeoDataFrame, layers: Iterable[UnitLayer]) -> tuple[gpd.GeoDataFrame, dict[str, list[int]]]:
    """`points` with a `unit_<level>` column per polygon layer (the id of the unit covering the point, None outside
    all); on a shared boundary the lowest id wins. Also returns, per level, the positions of the points outside
    every unit. Layers without polygons leave an existing `unit_<level>` column (read from the file) as it is."""
    out = points.copy()
    outside: dict[str, list[int]] = {}
    pts = gpd.GeoDataFrame({"pos": np.arange(len(out))}, geometry=_points(out).to_numpy(), crs=out.crs or "EPSG:4326")
    for layer in layers:
        column = f"unit_{layer.level}"
        if not layer.has_geometry:
            if column in out.columns:
                outside[layer.level] = np.flatnonzero(out[column].isna().to_numpy()).tolist()
            else:  # no boundaries to place it by (facilities, candidates): in no unit of this level
                out[column] = pd.Series([None] * len(out), index=out.index, dtype=object)
            continue
        units = layer.units[["unit_id", "geometry"]].to_crs(pts.crs)
        hits = gpd.sjoin(pts, units, how="inner", predicate="intersects")
        hits = hits.assign(key=[_id_key(u) for u in hits["unit_id"]]).sort_values(["pos", "key"], kind="stable")
        first = hits.drop_duplicates("pos", keep="first")
        values = np.full(len(out), None, dtype=object)
        values[first["pos"].to_numpy(dtype=np.int64)] = first["unit_id"].to_numpy(dtype=object)
        out[column] = pd.Series(values, index=out.index, dtype=object)  # None outside (not NaN): the contract
        outside[layer.level] = np.flatnonzero(pd.isna(values)).tolist()
    return out, outside


def facility_levels(facilities: pd.DataFrame) -> np.ndarray:
    """Each facility's level (FACILITY_LEVELS keys): nurseries are `nursery`; an elderly facility's level comes from
    its `level` cell, else its type label (街道综合养老服务中心 → street_centre, 小区养老服务用房 → xiaoqu_room), else
    `community_station` (a 日间照料站 is the default elderly facility)."""
    from ..inputs.columns import normalise_header

    out = np.empty(len(facilities), dtype=object)
    level_cells = facilities["level"].tolist() if "level" in facilities.columns else [""] * len(facilities)
    labels = facilities["type_label"].tolist() if "type_label" in facilities.columns else [""] * len(facilities)
    names = facilities["name"].tolist() if "name" in facilities.columns else [""] * len(facilities)
    for i, kind in enumerate(facilities["kind"].tolist()):
        if kind == NURSERY:
            out[i] = "nursery"
            continue
        out[i] = "community_station"
        for text in (level_cells[i], labels[i], names[i]):
            key = normalise_header(text or "") if isinstance(text, str) else ""
            if key in FACILITY_LEVELS or key in FACILITY_LEVELS.values():
                out[i] = key if key in FACILITY_LEVELS else next(k for k, v in FACILITY_LEVELS.items() if v == key)
                break
            hit = next((level for word, level in _FACILITY_LEVEL_WORDS if word in key), None)
            if hit is not None:
                out[i] = hit
                break
    return out


@dataclass
class UnitsStage:
    """Residences and facilities with their `unit_<level>` columns (facilities also `facility_level`), the unit
    layers, and the sentences the run reports (points outside every unit, units without residences)."""

    layers: list[UnitLayer]
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def levels(self) -> list[str]:
        return [layer.level for layer in self.layers]


def apply_units(layers: Sequence[UnitLayer], residences: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *,
                residences_source: str = "residences", facilities_source: str = "facilities") -> UnitsStage:
    """Assign residences and facilities to the units of every layer; a block without a path takes its units from
    the residences column. Residences or facilities outside every unit and units without residences are reported
    in `warnings` (not fatal: the planner may have drawn only part of the city)."""
    residences = residences.copy()
    for column in [c for c in residences.columns if c.startswith("unit_") and c[5:] in LEVELS]:
        residences[column] = pd.Series([str(v) if pd.notna(v) else None for v in residences[column]],
                                       index=residences.index, dtype=object)
    filled = [units_from_column(residences, layer.level, layer.source) if not layer.has_geometry else layer
              for layer in layers]
    levels = {layer.level for layer in filled}
    for column in [c for c in residences.columns if c.startswith("unit_") and c[5:] in LEVELS and c[5:] not in levels]:
        filled.append(units_from_column(residences, column[5:], residences_source))  # a 所属社区 column alone
    filled.sort(key=lambda layer: list(LEVELS).index(layer.level))
    check_parents(filled)
    res, res_out = assign_units(residences, filled)
    fac, fac_out = assign_units(facilities, filled)
    fac["facility_level"] = facility_levels(fac)
    warnings: list[str] = []
    for layer in filled:
        if res_out.get(layer.level):
            ids = res.iloc[res_out[layer.level]]["res_id"].astype(str).tolist()
            warnings.append(f"warning: {residences_source}: {len(ids)} residences lie outside every "
                            f"{level_label(layer.level)} unit of {layer.source}: {listed(ids)}. They count in the "
                            f"city-wide figures but in no unit; extend the unit layer if they belong to the plan area")
        if fac_out.get(layer.level):
            ids = fac.iloc[fac_out[layer.level]]["fac_id"].astype(str).tolist()
            warnings.append(f"warning: {facilities_source}: {len(ids)} facilities lie outside every "
                            f"{level_label(layer.level)} unit of {layer.source}: {listed(ids)}. They serve residents "
                            f"within their walk but count in no unit")
        column = f"unit_{layer.level}"
        empty = sorted(set(layer.units["unit_id"]) - set(res[column].dropna()), key=_id_key) if column in res else []
        if empty:
            warnings.append(f"warning: {layer.source}: {len(empty)} {LEVELS[layer.level]} units contain no residence: "
                            f"{listed(empty)}. Their figures are blank; check the residences cover them")
    return UnitsStage(filled, res, fac, warnings)


def parent_of(layers: Sequence[UnitLayer], level: str, parent_level: str,
              residences: pd.DataFrame | None = None) -> dict[str, str | None]:
    """{unit id: id of its `parent_level` unit}: the parent column where given, else the parent unit containing the
    unit's representative point, else (units named by residences columns) the parent unit holding most of the
    unit's households."""
    by_level = {layer.level: layer for layer in layers}
    child, parent = by_level.get(level), by_level.get(parent_level)
    if child is None or parent is None:
        return {}
    out: dict[str, str | None] = {}
    pending = []
    for uid, pid, geom in zip(child.units["unit_id"], child.units["parent_id"], child.units.geometry):
        if pid is not None and parent_level == PARENT_LEVELS[level][0]:
            out[uid] = pid
        elif geom is not None and parent.has_geometry:
            pending.append((uid, geom))
        else:
            out[uid] = None
    if pending:
        pts = gpd.GeoDataFrame({"unit_id_child": [u for u, _ in pending]},
                               geometry=gpd.GeoSeries([g for _, g in pending], crs=child.units.crs).representative_point(),
                               crs=child.units.crs)
        assigned, _ = assign_units(pts, [parent])
        out.update(dict(zip(assigned["unit_id_child"], assigned[f"unit_{parent_level}"])))
    columns = [f"unit_{level}", f"unit_{parent_level}"]
    if residences is not None and set(columns) <= set(residences.columns):
        votes = residences.dropna(subset=columns).groupby(columns)["households"].sum().reset_index()
        votes = votes.sort_values([columns[0], "households", columns[1]], ascending=[True, False, True], kind="stable")
        for uid, pid in votes.drop_duplicates(columns[0])[columns].itertuples(index=False, name=None):
            if out.get(uid) is None:
                out[uid] = pid
    return out


def units_for_project(project, inputs, say) -> UnitsStage | None:
    """The units stage of a project run: read the `[[units]]` layers, assign `inputs`' residences and facilities
    (replaced in place with their unit columns) and report what does not fit. None when the project names no units
    and the residences name none."""
    from pathlib import Path

    named = [c for c in inputs.residences.columns if c.startswith("unit_") and c[5:] in LEVELS]
    if not project.units and not named:
        return None
    layers = read_unit_layers(project)
    res_source = str(project.residences["label"]) if "frame" in project.residences else \
        Path(str(project.residences.get("path", "residences"))).name
    stage = apply_units(layers, inputs.residences, inputs.facilities, residences_source=res_source,
                        facilities_source="facilities")
    for layer in stage.layers:
        say(f"units: {len(layer.units)} {level_label(layer.level)} units from "
            f"{Path(layer.source).name if layer.has_geometry else 'the residences column unit_' + layer.level}")
    for line in stage.warnings:
        say(line)
    inputs.residences, inputs.facilities = stage.residences, stage.facilities
    inputs.unit_layers = list(stage.layers)  # candidate sites are placed in the same units (siting.plan)
    return stage
