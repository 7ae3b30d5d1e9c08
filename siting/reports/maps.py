"""Offline HTML maps of walking coverage for planners.

The map must open on a machine with no network (a planning office laptop, an e-mail attachment), so
save_map inlines the vendored Leaflet instead of folium's CDN links, and it must be reproducible, so
folium's random element ids are replaced by a counter. Every string that comes from an input file is
HTML-escaped before it reaches a popup, tooltip or legend: Leaflet renders those as HTML.
"""
from __future__ import annotations

import base64
import html
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, Figure
from folium.utilities import JsCode
from shapely.geometry import box

from ..errors import InputError
from ..inputs.schema import CAPACITY_COLUMN, CAPACITY_UNIT, KIND_LABEL, KINDS
from ..inputs.tiles import parse_tiles, resolve_tianditu_key
from ..output import atomic_path
from . import basemaps
from .map_parts import BOX_CSS, BoxControl, feature, geojson_layer, map_points

STATIC_LEAFLET = Path(__file__).resolve().parent / "static" / "leaflet"

#: Fill colours of the four walking-time classes (fastest first) and of the covered-share classes.
CLASS_COLORS: tuple[str, ...] = ("#1a9850", "#a6d96a", "#fdae61", "#d73027")
UNCOVERED_COLOR = "#c51b7d"
CATCHMENT_COLORS: dict[str, str] = {KINDS[0]: "#2c7fb8", KINDS[1]: "#e6550d"}
PROPOSED_COLOR = "#6a3d9a"
NEWLY_COVERED_COLOR = "#00bcd4"

UNCOVERED_LABEL = "未覆盖 Uncovered"
CANVAS_ABOVE_FEATURES = 5000  # SVG slows down past a few thousand paths; canvas does not
LOST_COLOR = "#000000"


def coverage_map(
    residences: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    catchments: gpd.GeoDataFrame,
    *,
    title: str,
    threshold_min: float = 15,
    profile_name: str = "",
    proposed: gpd.GeoDataFrame | None = None,
    newly_covered: gpd.GeoDataFrame | None = None,
    lost: gpd.GeoDataFrame | None = None,
    tiles: str | Iterable[str] | None = None,
    tianditu_key: str | None = None,
    network=None,
    max_points: int = 20000,
) -> folium.Map:
    """Coverage, catchments and facility adequacy on one map; one residence layer per facility kind.

    `network` (a WalkNetwork) is drawn as the street layer under everything; `tiles` names optional online basemaps
    (siting.reports.basemaps: osm, tianditu, amap), offered in the switcher with "no basemap" the default. `lost` are
    residences that lose coverage in a scenario (drawn as their own layer, as `newly_covered` are).

    Above `max_points` residences the points are summed into a square grid in metres (see
    aggregate_to_grid) so that the HTML stays light; the legend says so.
    """
    kinds = [k for k in KINDS if f"walk_min_{k}" in residences.columns]
    if not kinds:
        raise InputError(
            "residences carry no walking-time column",
            column=f"walk_min_{KINDS[0]}",
            expected=f"one of {', '.join('walk_min_' + k for k in KINDS)} from the coverage stage",
            fix="run the coverage stage before drawing the map",
        )
    _require(residences, ["res_id", "households", "geometry"] + [f"covered_{k}" for k in kinds], "residences")
    _require(facilities, ["fac_id", "kind", "geometry"], "facilities")
    _require(catchments, ["kind", "geometry"], "catchments")
    tiles = parse_tiles(tiles)
    tianditu_key = tianditu_key or resolve_tianditu_key(tiles)
    residences, facilities, catchments = (_to_wgs84(f) for f in (residences, facilities, catchments))
    proposed = _to_wgs84(proposed) if proposed is not None else None
    newly_covered = _to_wgs84(newly_covered) if newly_covered is not None else None
    lost = _to_wgs84(lost) if lost is not None else None

    aggregated = len(residences) > max_points
    cells, cell_m = aggregate_to_grid(residences, kinds, max_points) if aggregated else (None, 0.0)
    n_drawn = (len(cells) if aggregated else len(residences)) * 2 * len(kinds)
    m = folium.Map(location=_center(residences, facilities), zoom_start=14, tiles=None, prefer_canvas=n_drawn > CANVAS_ABOVE_FEATURES, control_scale=True)
    m.get_root().title = html.escape(title)
    basemaps.add_base_layers(m, tiles, tianditu_key)
    if network is not None:
        basemaps.add_street_layer(m, network)

    edges = (threshold_min / 3, 2 * threshold_min / 3, threshold_min)
    # open on the first kind that has facilities: a kind with none would show every residence as uncovered
    shown = next((k for k in kinds if (facilities["kind"] == k).any()), kinds[0])
    for kind in kinds:
        show = kind == shown
        for threshold, group in _catchment_groups(catchments, kind):
            _catchment_layer(group, kind, threshold, show=show).add_to(m)
        if aggregated:
            for layer in _cell_layers(cells, kind, cell_m, show=show):
                layer.add_to(m)
        else:
            for layer in _residence_layers(residences, kind, edges, show=show):
                layer.add_to(m)
        fac = facilities[facilities["kind"] == kind]
        if len(fac):
            _facility_layer(fac, kind).add_to(m)
    if proposed is not None and len(proposed):
        _proposed_layer(proposed).add_to(m)
    if newly_covered is not None and len(newly_covered):
        _newly_covered_layer(newly_covered).add_to(m)
    if lost is not None and len(lost):
        _lost_layer(lost).add_to(m)

    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    m.get_root().header.add_child(Element(BOX_CSS), name="siting_box_style")
    BoxControl(_legend_html(kinds, edges, cell_m if aggregated else None, changes=(newly_covered, lost)), box_id="siting-legend",
                position="bottomright").add_to(m)
    BoxControl(
        _info_html(residences, facilities, kinds, title=title, threshold_min=threshold_min, profile_name=profile_name),
        box_id="siting-info",
        position="topleft",
    ).add_to(m)
    bounds = _bounds([residences, facilities, proposed, cells])
    basemaps.add_basemap_switch(m, control, tiles, _union_bounds(bounds, basemaps.network_bounds(network)))
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    return m


def save_map(m: folium.Map, path: str | os.PathLike) -> Path:
    """Write `m` as one self-contained HTML file (Leaflet inlined, no CDN), atomically and deterministically."""
    _inline_leaflet(m)
    _number_elements(m.get_root())
    text = m.get_root().render()
    leftover = re.search(r'<(?:script|link)[^>]+(?:src|href)="https?://', text)
    if leftover:  # a folium piece we did not vendor: fail loudly rather than ship a map that is blank offline
        raise RuntimeError(f"map still loads a remote asset: {text[leftover.start():leftover.start() + 160]}")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def aggregate_to_grid(residences: gpd.GeoDataFrame, kinds: Iterable[str], max_cells: int) -> tuple[gpd.GeoDataFrame, float]:
    """Sum households into square cells (metres, UTM), doubling the cell from 50 m until at most `max_cells` are occupied.

    Returns one row per occupied cell, EPSG:4326 squares, with households, residences and, per kind,
    covered_households_{k}, uncovered_households_{k} and covered_share_{k} (0–1, households-weighted),
    and the cell size in metres.
    """
    kinds = list(kinds)
    metric = residences.to_crs(residences.estimate_utm_crs())
    points = metric.geometry.representative_point()
    x, y = points.x.to_numpy(), points.y.to_numpy()
    households = residences["households"].fillna(0).to_numpy(dtype=float)
    cell_m = 50.0
    while True:
        ix, iy = np.floor(x / cell_m).astype(np.int64), np.floor(y / cell_m).astype(np.int64)
        keys, inverse = np.unique(np.stack([iy, ix], axis=1), axis=0, return_inverse=True)
        if len(keys) <= max(max_cells, 1):
            break
        cell_m *= 2
    inverse = inverse.ravel()
    columns: dict[str, Any] = {
        "households": np.bincount(inverse, weights=households, minlength=len(keys)),
        "residences": np.bincount(inverse, minlength=len(keys)),
    }
    for kind in kinds:
        covered = households * residences[f"covered_{kind}"].fillna(False).to_numpy(dtype=bool)
        covered_sum = np.bincount(inverse, weights=covered, minlength=len(keys))
        columns[f"covered_households_{kind}"] = covered_sum
        columns[f"uncovered_households_{kind}"] = columns["households"] - covered_sum
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"covered_share_{kind}"] = np.where(columns["households"] > 0, covered_sum / columns["households"], 0.0)
    squares = [box(cx * cell_m, cy * cell_m, (cx + 1) * cell_m, (cy + 1) * cell_m) for cy, cx in keys]
    cells = gpd.GeoDataFrame(columns, geometry=squares, crs=metric.crs).to_crs(4326)
    return cells, cell_m


# ---------------------------------------------------------------- layers


def _residence_layers(residences: gpd.GeoDataFrame, kind: str, edges: tuple[float, float, float], show: bool) -> list[folium.GeoJson]:
    label = _short_kind(kind)
    minutes = residences[f"walk_min_{kind}"].to_numpy(dtype=float)
    covered = residences[f"covered_{kind}"].fillna(False).to_numpy(dtype=bool)
    classes = np.searchsorted(np.asarray(edges), np.where(np.isfinite(minutes), minutes, np.inf), side="left")
    classes = np.minimum(classes, 3)
    points = map_points(residences)
    names = residences["name"].fillna("").astype(str) if "name" in residences else pd.Series("", index=residences.index)
    res_ids = residences["res_id"].astype(str)
    households = residences["households"].fillna(0).to_numpy(dtype=float)
    features = []
    for i, (pt, name, res_id) in enumerate(zip(points, names, res_ids)):
        props = {
            "n": html.escape(name or res_id),
            "h": _num(households[i]),
            "m": round(float(minutes[i]), 1) if math.isfinite(minutes[i]) else None,
            "c": int(covered[i]),
            "k": int(classes[i]),
        }
        features.append(feature(i, pt, props))
    popup = JsCode(
        "function(feature, layer) { var p = feature.properties; layer.bindPopup(function() { return '<b>' + p.n + '</b><br>户数 Households: ' + p.h"
        " + '<br>步行时间 Walking time: ' + (p.m === null ? '不可达 unreachable' : p.m + ' min')"
        " + '<br>' + (p.c ? '已覆盖 Covered' : '未覆盖 Uncovered'); }); }"
    )
    all_layer = geojson_layer(
        features,
        name=f"居民点 Residences · {label} — 步行时间 Walking time",
        style=lambda f, k=kind: {"radius": 4, "weight": 0.5, "color": "#333333", "fillColor": CLASS_COLORS[f["properties"]["k"]], "fillOpacity": 0.85, "className": f"siting-res-{k}"},
        on_each_feature=popup,
        show=show,
    )
    uncovered = [f for f in features if not f["properties"]["c"]]
    uncovered_layer = geojson_layer(
        uncovered,
        name=f"{UNCOVERED_LABEL} · {label}",
        style=lambda f, k=kind: {"radius": 7, "weight": 2, "color": UNCOVERED_COLOR, "fill": False, "className": f"siting-uncovered-{k}"},
        on_each_feature=popup,
        show=show,
    )
    return [all_layer, uncovered_layer]


def _cell_layers(cells: gpd.GeoDataFrame, kind: str, cell_m: float, show: bool) -> list[folium.GeoJson]:
    label = _short_kind(kind)
    share = cells[f"covered_share_{kind}"].to_numpy(dtype=float)
    classes = np.where(share >= 0.75, 0, np.where(share >= 0.5, 1, np.where(share >= 0.25, 2, 3)))
    features = []
    for i, geom in enumerate(cells.geometry):
        props = {
            "h": _num(cells["households"].iat[i]),
            "r": int(cells["residences"].iat[i]),
            "u": _num(cells[f"uncovered_households_{kind}"].iat[i]),
            "s": round(float(share[i]) * 100, 1),
            "k": int(classes[i]),
        }
        features.append(feature(i, geom, props))
    popup = JsCode(
        f"function(feature, layer) {{ var p = feature.properties; layer.bindPopup(function() {{ return '<b>{int(cell_m)} m 网格 grid cell</b>"
        "<br>户数 Households: ' + p.h + '<br>居民点 Residences: ' + p.r + '<br>已覆盖 Covered: ' + p.s + '%'"
        " + '<br>未覆盖户数 Uncovered households: ' + p.u; }); }"
    )
    all_layer = geojson_layer(
        features,
        name=f"居民点(网格) Residences (grid) · {label} — 已覆盖比例 Covered share",
        style=lambda f, k=kind: {"weight": 0, "fillColor": CLASS_COLORS[f["properties"]["k"]], "fillOpacity": 0.7, "className": f"siting-res-{k}"},
        on_each_feature=popup,
        show=show,
    )
    uncovered = [f for f in features if f["properties"]["u"] > 0]
    uncovered_layer = geojson_layer(
        uncovered,
        name=f"{UNCOVERED_LABEL} · {label}",
        style=lambda f, k=kind: {"weight": 2, "color": UNCOVERED_COLOR, "fill": False, "className": f"siting-uncovered-{k}"},
        on_each_feature=popup,
        show=show,
    )
    return [all_layer, uncovered_layer]


def _facility_layer(facilities: gpd.GeoDataFrame, kind: str) -> folium.GeoJson:
    capacity_column = CAPACITY_COLUMN[kind]
    radii = _sqrt_radii(_column(facilities, capacity_column).to_numpy(dtype=float), smallest_px=4.0)
    meets = _column(facilities, "meets_standard")
    features = []
    for i, (pt, (_, row)) in enumerate(zip(map_points(facilities), facilities.iterrows())):
        verdict = meets.iat[i]
        color = "#1a9850" if verdict is True or verdict == 1 else ("#d73027" if verdict is False or verdict == 0 else "#777777")
        props = {
            "popup": _facility_popup(row, kind),
            "tip": html.escape(str(row.get("name") or row["fac_id"])),
            "style": {"radius": radii[i], "weight": 2, "color": "#222222", "fillColor": color, "fillOpacity": 0.9, "className": f"siting-fac-{kind}"},
        }
        features.append(feature(i, pt, props))
    return geojson_layer(
        features,
        name=f"设施 Facilities · {_short_kind(kind)} (大小 size ∝ √{CAPACITY_UNIT[kind]})",
        style=lambda f: f["properties"]["style"],
        on_each_feature=JsCode("function(feature, layer) { layer.bindPopup(feature.properties.popup, {maxWidth: 340}); layer.bindTooltip(feature.properties.tip); }"),
    )


def _facility_popup(row: pd.Series, kind: str) -> str:
    unit = CAPACITY_UNIT[kind]
    measure = "m²/100户 per 100 households" if kind == KINDS[0] else "托位/千人 seats per 1,000 residents"
    verdict = row.get("meets_standard")
    if verdict is True or verdict == 1:
        verdict_text = "达标 Meets standard"
    elif verdict is False or verdict == 0:
        verdict_text = f"不达标 Below standard (缺口 shortfall {_fmt(row.get('shortfall'))} {unit})"
    else:
        reason = row.get("verdict")
        verdict_text = "未评估 Not assessed" + (f" ({html.escape(str(reason))})" if isinstance(reason, str) and reason else "")
    lines = [
        f"<b>{html.escape(str(row.get('name') or ''))}</b> ({html.escape(str(row['fac_id']))})",
        html.escape(KIND_LABEL.get(kind, kind)),
        f"规模 Capacity: {_fmt(row.get(CAPACITY_COLUMN[kind]))} {unit}",
        f"服务户数 Households served: {_fmt(row.get('households_served'))}",
        f"服务人口 Residents served: {_fmt(row.get('population_served'))}",
        f"配置水平 Provision: {_fmt(row.get('provision'))} / 标准 standard {_fmt(row.get('standard_value'))} {measure}",
        f"<b>{verdict_text}</b>",
    ]
    return "<br>".join(lines)


def _catchment_groups(catchments: gpd.GeoDataFrame, kind: str) -> list[tuple[float | None, gpd.GeoDataFrame]]:
    """Largest threshold first so that the smaller rings stay clickable on top."""
    own = catchments[catchments["kind"] == kind]
    if not len(own):
        return []
    if "threshold_min" not in own:
        return [(None, own)]
    return [(float(t), own[own["threshold_min"] == t]) for t in sorted(own["threshold_min"].unique(), reverse=True)]


def _catchment_layer(catchments: gpd.GeoDataFrame, kind: str, threshold: float | None, show: bool) -> folium.GeoJson:
    fac_ids = _column(catchments, "fac_id").fillna("").astype(str)
    features = [
        feature(i, geom, {"tip": html.escape(f"{fac_id} · {_fmt(threshold)} min" if threshold is not None else fac_id)})
        for i, (geom, fac_id) in enumerate(zip(catchments.geometry, fac_ids))
        if geom is not None and not geom.is_empty
    ]
    minutes = f" {_fmt(threshold)} min" if threshold is not None else ""
    color = CATCHMENT_COLORS.get(kind, "#555555")
    return geojson_layer(
        features,
        name=f"服务范围 Catchments · {_short_kind(kind)}{minutes}",
        style=lambda f, k=kind: {"weight": 1, "color": color, "fillColor": color, "fillOpacity": 0.08, "className": f"siting-catchment-{k}"},
        on_each_feature=JsCode("function(feature, layer) { layer.bindTooltip(feature.properties.tip, {sticky: true}); }"),
        show=show,
    )


def _proposed_layer(proposed: gpd.GeoDataFrame) -> folium.GeoJson:
    radii = _sqrt_radii(_column(proposed, "size").to_numpy(dtype=float), smallest_px=5.0)
    features = []
    for i, (pt, (_, row)) in enumerate(zip(map_points(proposed), proposed.iterrows())):
        kind = str(row.get("kind", ""))
        popup = "<br>".join(
            [
                f"<b>拟建 Proposed: {html.escape(str(row.get('name') or row.get('site_id', '')))}</b>",
                html.escape(KIND_LABEL.get(kind, kind)),
                f"规模 Size: {_fmt(row.get('size'))} {CAPACITY_UNIT.get(kind, '')}",
                f"新覆盖户数 Households newly covered: {_fmt(row.get('households_newly_covered'))}",
            ]
        )
        style = {"radius": radii[i], "weight": 3, "color": PROPOSED_COLOR, "dashArray": "4 3", "fillColor": PROPOSED_COLOR, "fillOpacity": 0.5, "className": "siting-proposed"}
        features.append(feature(i, pt, {"popup": popup, "tip": html.escape(str(row.get("name") or row.get("site_id", ""))), "style": style}))
    return geojson_layer(
        features,
        name="拟建 Proposed sites",
        style=lambda f: f["properties"]["style"],
        on_each_feature=JsCode("function(feature, layer) { layer.bindPopup(feature.properties.popup, {maxWidth: 340}); layer.bindTooltip(feature.properties.tip); }"),
    )


def _newly_covered_layer(residences: gpd.GeoDataFrame) -> folium.GeoJson:
    names = _column(residences, "name").fillna("").astype(str)
    res_ids = _column(residences, "res_id").fillna("").astype(str)
    features = [
        feature(i, pt, {"tip": html.escape(name or res_id)}) for i, (pt, name, res_id) in enumerate(zip(map_points(residences), names, res_ids))
    ]
    return geojson_layer(
        features,
        name="新覆盖 Newly covered",
        style=lambda f: {"radius": 5, "weight": 2, "color": NEWLY_COVERED_COLOR, "fillColor": NEWLY_COVERED_COLOR, "fillOpacity": 0.6, "className": "siting-newly-covered"},
        on_each_feature=JsCode("function(feature, layer) { layer.bindTooltip(feature.properties.tip); }"),
    )


def _lost_layer(residences: gpd.GeoDataFrame) -> folium.GeoJson:
    """Residences that lose coverage in a scenario, one marker per residence and kind (the rows of coverage_changes)."""
    features = []
    for i, (pt, (_, row)) in enumerate(zip(map_points(residences), residences.iterrows())):
        kind = str(row.get("kind", ""))
        label = f"{row.get('name') or row.get('res_id', '')} · {_short_kind(kind)}: 失去覆盖 lost coverage"
        features.append(feature(i, pt, {"tip": html.escape(label)}))
    return geojson_layer(
        features,
        name="失去覆盖 Lost coverage",
        style=lambda f: {"radius": 5, "weight": 2, "color": LOST_COLOR, "fillColor": UNCOVERED_COLOR, "fillOpacity": 0.7, "className": "siting-lost"},
        on_each_feature=JsCode("function(feature, layer) { layer.bindTooltip(feature.properties.tip); }"),
    )


# ---------------------------------------------------------------- legend and info box

def _legend_html(kinds: list[str], edges: tuple[float, float, float], cell_m: float | None, changes: tuple = (None, None)) -> str:
    swatch = '<i style="display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle;background:{}"></i>'
    ring = '<i style="display:inline-block;width:10px;height:10px;margin-right:6px;vertical-align:middle;border:2px solid {};border-radius:50%"></i>'
    if cell_m is None:
        rows = [
            "<b>步行时间 Walking time</b>",
            *(f"{swatch.format(CLASS_COLORS[i])}{_fmt(lo)}–{_fmt(hi)} min" for i, (lo, hi) in enumerate(zip((0,) + edges[:2], edges))),
            f"{swatch.format(CLASS_COLORS[3])}&gt;{_fmt(edges[2])} min / 不可达 unreachable",
        ]
    else:
        rows = [
            f"<b>已聚合 Aggregated</b> to a {int(cell_m)} m grid (too many residences to draw one by one)",
            "<b>已覆盖户数比例 Covered share of households</b>",
            *(f"{swatch.format(CLASS_COLORS[i])}{text}" for i, text in enumerate(("75–100%", "50–75%", "25–50%", "0–25%"))),
        ]
    rows += [
        f"{ring.format(UNCOVERED_COLOR)}{UNCOVERED_LABEL}",
        *(f"{swatch.format(CATCHMENT_COLORS.get(k, '#555'))}服务范围 Catchment · {html.escape(_short_kind(k))}" for k in kinds),
        f"{ring.format('#1a9850')}设施达标 Facility meets standard",
        f"{ring.format('#d73027')}设施不达标 Facility below standard",
        "设施大小 ∝ √规模 Facility size ∝ √capacity",
    ]
    gained, lost = changes
    if gained is not None and len(gained):
        rows.append(f"{swatch.format(NEWLY_COVERED_COLOR)}新覆盖 Newly covered ({len(gained):,})")
    if lost is not None and len(lost):
        rows.append(f"{ring.format(LOST_COLOR)}失去覆盖 Lost coverage ({len(lost):,})")
    return "<br>".join(rows)


def _info_html(
    residences: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, kinds: list[str], *, title: str, threshold_min: float, profile_name: str
) -> str:
    households = residences["households"].fillna(0).to_numpy(dtype=float)
    total = households.sum()
    rows = [f"<b>{html.escape(title)}</b>"]
    if profile_name:
        rows.append(f"标准 Profile: {html.escape(profile_name)}")
    rows.append(f"步行阈值 Walking threshold: {_fmt(threshold_min)} min")
    rows.append(f"居民点 Residences: {len(residences):,} · 户数 Households: {_fmt(total)}")
    for kind in kinds:
        covered = households[residences[f"covered_{kind}"].fillna(False).to_numpy(dtype=bool)].sum()
        rate = f"{100 * covered / total:.1f}%" if total > 0 else "—"
        own = facilities[facilities["kind"] == kind]
        meets = int((_column(own, "meets_standard") == True).sum())  # noqa: E712  (NaN-safe)
        rows.append(
            f'<span class="siting-rate" data-kind="{kind}">{html.escape(_short_kind(kind))}: 已覆盖 Covered {rate}</span>'
            f" ({_fmt(covered)}/{_fmt(total)} 户) · 设施 {len(own)} facilities, 达标 {meets} meet standard"
        )
    return "<br>".join(rows)


# ---------------------------------------------------------------- offline, deterministic output


def _inline_leaflet(m: folium.Map) -> None:
    """Replace every CDN link by the vendored Leaflet; nothing else folium links (jQuery, Bootstrap, awesome-markers) is used here."""
    for element in _walk(m):
        if hasattr(element, "default_js"):
            element.default_js = []
            element.default_css = []
    header = m.get_root().header
    header.add_child(Element(f"<style>{_leaflet_css()}</style>"), name="siting_leaflet_css", index=0)
    header.add_child(Element(f"<script>{(STATIC_LEAFLET / 'leaflet.js').read_text(encoding='utf-8')}</script>"), name="siting_leaflet_js", index=1)


def _leaflet_css() -> str:
    """leaflet.css with its images turned into data: URIs, so the layer-control icon shows offline too."""
    css = (STATIC_LEAFLET / "leaflet.css").read_text(encoding="utf-8")

    def to_data_uri(match: re.Match) -> str:
        image = STATIC_LEAFLET / match.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(image.read_bytes()).decode('ascii')})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", to_data_uri, css)


def _number_elements(root: Figure) -> None:
    """folium names elements with random hex ids; a counter in tree order makes the HTML byte-reproducible."""
    for number, element in enumerate(_walk(root)):
        element._id = f"{number:05d}"


def _walk(element: Element) -> Iterable[Element]:
    yield element
    for part in ("header", "html", "script"):
        child = getattr(element, part, None) if isinstance(element, Figure) else None
        if child is not None:
            yield from _walk(child)
    for child in element._children.values():
        yield from _walk(child)


# ---------------------------------------------------------------- small helpers


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise InputError(
                f"{what} have no column '{column}'",
                column=column,
                expected=f"the {what} columns produced by the coverage stage",
                fix="run the coverage stage first, or add the column",
            )


def _to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        return frame.to_crs(4326)
    return frame


def _sqrt_radii(capacity: np.ndarray, smallest_px: float, largest_px: float = 18.0) -> list[float]:
    """Marker radius in pixels ∝ √capacity, so that marker *area* reads as capacity; unknown capacity gets the smallest."""
    known = np.isfinite(capacity) & (capacity > 0)
    if not known.any():
        return [smallest_px] * len(capacity)
    scaled = largest_px * np.sqrt(np.where(known, capacity, 0.0) / capacity[known].max())
    return [max(smallest_px, round(float(r), 1)) if k else smallest_px for r, k in zip(scaled, known)]


def _column(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column] if column in frame.columns else pd.Series(np.nan, index=frame.index, dtype=object)


def _short_kind(kind: str) -> str:
    return {KINDS[0]: "养老 Elderly day care", KINDS[1]: "托育 Nursery"}.get(kind, kind)


def _num(value: Any) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 3)


def _fmt(value: Any) -> str:
    """A number for people: no trailing .0, '—' when missing."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—" if value is None else html.escape(str(value))
    if not math.isfinite(value):
        return "—"
    return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def _center(*frames: gpd.GeoDataFrame) -> list[float]:
    bounds = _bounds(list(frames))
    if bounds is None:
        return [0.0, 0.0]
    (s, w), (n, e) = bounds
    return [(s + n) / 2, (w + e) / 2]


def _union_bounds(*boxes: list[list[float]] | None) -> list[list[float]] | None:
    given = [b for b in boxes if b is not None]
    if not given:
        return None
    return [[min(b[0][0] for b in given), min(b[0][1] for b in given)], [max(b[1][0] for b in given), max(b[1][1] for b in given)]]


def _bounds(frames: list[gpd.GeoDataFrame | None]) -> list[list[float]] | None:
    boxes = [f.total_bounds for f in frames if f is not None and len(f) and not f.geometry.is_empty.all()]
    if not boxes:
        return None
    stacked = np.vstack(boxes)
    w, s = np.nanmin(stacked[:, 0]), np.nanmin(stacked[:, 1])
    e, n = np.nanmax(stacked[:, 2]), np.nanmax(stacked[:, 3])
    return [[float(s), float(w)], [float(n), float(e)]]


# ---------------------------------------------------------------- unit choropleth (siting.measures.units / siting.measures.indicators)

UNIT_VERDICT_COLORS = {"pass": "#1a9850", "fail": "#d73027", "no residents": "#bdbdbd"}
UNIT_VERDICT_LABELS = {"pass": "达标 Pass", "fail": "未达标 Fail", "no residents": "无居民 No residents"}


def add_unit_choropleth(m: folium.Map, layers: list, units: dict[str, pd.DataFrame],
                        checks: dict[str, list[tuple[str, str]]], *, walk_minutes: float = 15) -> folium.Map:
    """Unit boundaries coloured by verdict, one layer per level × check (`checks[level]` = [(verdict column of the
    unit table, label)]), popups with the unit's figures, and a legend. Only the first layer is shown at first."""
    from ..measures.units import LEVELS

    first = True
    for layer in layers:
        table = units.get(layer.level)
        if not layer.has_geometry or table is None or not checks.get(layer.level):
            continue
        shapes = _to_wgs84(layer.units)[["unit_id", "geometry"]].merge(table, on="unit_id", how="left")
        for column, label in checks[layer.level]:
            features = []
            for i, (_, row) in enumerate(shapes.iterrows()):
                verdict = str(row.get(column) or "no residents")
                props = {"popup": _unit_popup(row, label, verdict, walk_minutes), "tip": html.escape(f"{row.get('name') or row['unit_id']} · {UNIT_VERDICT_LABELS.get(verdict, verdict)}"),
                         "color": UNIT_VERDICT_COLORS.get(verdict, "#777777"), "unit_id": str(row["unit_id"]), "verdict": verdict}
                features.append(feature(i, row.geometry, props))
            geojson_layer(
                features,
                name=f"单元 Units · {LEVELS[layer.level]} · {html.escape(label)}",
                style=lambda f: {"weight": 2, "color": "#333333", "fillColor": f["properties"]["color"], "fillOpacity": 0.35,
                                 "className": "siting-unit"},
                on_each_feature=JsCode("function(feature, layer) { layer.bindPopup(feature.properties.popup, {maxWidth: 360}); layer.bindTooltip(feature.properties.tip, {sticky: true}); }"),
                show=first,
            ).add_to(m)
            first = False
    if not first:
        # the layer control lists the layers defined before it in the page: move it after the unit layers
        for key in [k for k, child in m._children.items() if isinstance(child, folium.LayerControl)]:
            m._children.move_to_end(key)
        swatch = '<i style="display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle;opacity:0.6;background:{}"></i>'
        legend = "<b>单元指标 Unit indicators</b><br>" + "<br>".join(
            swatch.format(UNIT_VERDICT_COLORS[k]) + UNIT_VERDICT_LABELS[k] for k in UNIT_VERDICT_COLORS)
        BoxControl(legend, box_id="siting-unit-legend", position="bottomleft").add_to(m)
    return m


def _unit_popup(row: pd.Series, label: str, verdict: str, walk_minutes: float) -> str:
    lines = [f"<b>{html.escape(str(row.get('name') or ''))}</b> ({html.escape(str(row['unit_id']))})",
             f"{html.escape(label)}: <b>{UNIT_VERDICT_LABELS.get(verdict, verdict)}</b>",
             f"户数 Households: {_fmt(row.get('households'))} · 人口 Residents: {_fmt(row.get('population'))}"]
    for kind in KINDS:
        share = row.get(f"share_within_{walk_minutes:g}min_{kind}")
        lines.append(f"{_short_kind(kind)}: 单元内设施 inside {_fmt(row.get(f'facilities_inside_{kind}'))}, "
                     f"步行圈内户数 within walk {_fmt(None if share is None else 100 * share)}%")
    lines.append(f"每百户面积 m²/100 households: {_fmt(row.get('m2_per_100_households'))} / 标准 standard "
                 f"{_fmt(row.get('standard_m2_per_100_households'))}; 缺口 shortfall {_fmt(row.get('shortfall_m2'))} m²")
    lines.append(f"每千人托位 seats/1,000: {_fmt(row.get('seats_per_1000_residents'))} / 标准 standard "
                 f"{_fmt(row.get('standard_seats_per_1000_residents'))}; 缺口 shortfall {_fmt(row.get('shortfall_seats'))}")
    if row.get("best_candidate_elderly_day_care") is not None and not pd.isna(row.get("best_candidate_elderly_day_care")):
        lines.append(f"建议候选点 Best candidate: {html.escape(str(row.get('best_candidate_elderly_day_care')))}")
    return "<br>".join(lines)
