"""Map context: the walking network as a light street layer, optional online basemaps, and the GCJ-02 switch.

A map with coloured dots on grey cannot be read, so every map draws the streets the walk was computed on (offline,
merged and simplified so the HTML stays light). Online basemaps are options in the layer switcher, never the
default: OpenStreetMap, 天地图 Tianditu (vector, imagery; CGCS2000 ≈ WGS84; needs the user's key, which then sits in
the HTML) and 高德 AutoNavi (tiles in GCJ-02). On the AutoNavi basemap every overlay is moved to GCJ-02: the offset
of siting.inputs.coords.wgs84_to_gcj02 is sampled on a grid over the map in Python and the page interpolates it
bilinearly (the offset varies over tens of kilometres, so a 1 km grid is within 10 cm), so there is one
implementation of the transform. Tiles that cannot load (offline, firewall) leave the overlays working: while the
browser is offline no tile is requested at all, and a failed tile shows a one-line note instead. Which basemaps
exist and which a project asks for is siting.inputs.tiles.
"""
from __future__ import annotations

import logging
from typing import Sequence

import folium
import geopandas as gpd
import numpy as np
import pyproj
import shapely
from branca.element import MacroElement
from folium.map import Layer
from folium.template import Template

from ..inputs.coords import wgs84_to_gcj02
from ..inputs.tiles import BASEMAPS

log = logging.getLogger(__name__)

MAJOR_HIGHWAYS = frozenset({"primary", "primary_link", "secondary", "secondary_link", "tertiary", "tertiary_link"})
STREET_COLOR = "#8c8c8c"
STREET_LAYER_NAME = "街道 Streets (步行网络 walking network)"
NO_BASEMAP_NAME = "无底图 No basemap (offline)"
STREET_SIMPLIFY_M = 2.0  # well under a snapped walk's precision, and it drops most vertices of straight streets
GCJ02_GRID_STEP_DEG = 0.01  # ~1 km: bilinear interpolation of the GCJ-02 offset stays within 10 cm


def street_lines(network, *, tolerance_m: float = STREET_SIMPLIFY_M) -> gpd.GeoDataFrame:
    """The walking network as two merged, simplified multilines (major roads, other ways) in WGS84."""
    xu, yu, xv, yv = network.edge_xy()
    segments = np.stack([np.stack([xu, yu], axis=1), np.stack([xv, yv], axis=1)], axis=1)
    major = np.isin(network.edge_highway.astype(str), list(MAJOR_HIGHWAYS))
    to_wgs84 = pyproj.Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    rows, geoms = [], []
    for is_major in (False, True):
        part = segments[major == is_major]
        if not len(part):
            continue
        merged = shapely.line_merge(shapely.multilinestrings(shapely.linestrings(part)))
        simple = shapely.simplify(merged, tolerance_m, preserve_topology=False)
        geoms.append(shapely.transform(simple, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))))
        rows.append(is_major)
    return gpd.GeoDataFrame({"major": rows}, geometry=geoms, crs="EPSG:4326")


def add_street_layer(m: folium.Map, network) -> None:
    """The walking network under everything else: thin grey lines, not clickable; first overlay of the switcher."""
    streets = street_lines(network)
    streets["geometry"] = shapely.set_precision(streets.geometry.values, 1e-5)  # ~1 m, as the other layers
    streets = streets[~streets.geometry.is_empty]
    folium.GeoJson(
        streets.to_json(drop_id=True), name=STREET_LAYER_NAME,
        style_function=lambda f: {"color": STREET_COLOR, "weight": 2.2 if f["properties"]["major"] else 1.1, "opacity": 0.55,
                                  "interactive": False, "className": "siting-streets"},
    ).add_to(m)


class _BasemapLayer(Layer):
    """A base layer of the switcher: an (empty, offline) group or tile layers that request nothing while offline."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        if (!L.TileLayer.Siting) {
            L.TileLayer.Siting = L.TileLayer.extend({
                getTileUrl: function(coords) {
                    return navigator.onLine ? L.TileLayer.prototype.getTileUrl.call(this, coords) : L.Util.emptyImageUrl;
                }
            });
        }
        var {{ this.get_name() }} = L.layerGroup([
        {%- for url in this.urls %}
            new L.TileLayer.Siting({{ url|tojson }}, {{ this.options|tojson }}),
        {%- endfor %}
        ]);
        {% endmacro %}"""
    )

    def __init__(self, name: str, urls: Sequence[str], options: dict, show: bool) -> None:
        super().__init__(name=name, overlay=False, control=True, show=show)
        self._name = "BasemapLayer"
        self.urls, self.options = list(urls), options


_noted: list[bool] = []


def add_base_layers(m: folium.Map, tiles: Sequence[str], tianditu_key: str | None = None) -> None:
    """'No basemap' (shown) plus each asked basemap as a switcher option; nothing at all when `tiles` is empty."""
    if not tiles:
        return
    _BasemapLayer(NO_BASEMAP_NAME, [], {}, show=True).add_to(m)
    if "tianditu" in tiles and not _noted:
        _noted.append(True)  # once per process, however many maps a run writes
        log.warning("note: the Tianditu key is written into the HTML map (its tile URLs carry it); "
                    "share the map only where the key may be seen")
    for name in tiles:
        for basemap in BASEMAPS[name]:
            urls = [u.replace("{key}", tianditu_key or "") for u in basemap.urls]
            options = {"attribution": basemap.attribution, "maxZoom": basemap.max_zoom, "subdomains": basemap.subdomains or "abc"}
            _BasemapLayer(basemap.name, urls, options, show=False).add_to(m)


class _Gcj02Switch(MacroElement):
    """On a GCJ-02 basemap, move every overlay by the interpolated GCJ-02 offset; back to WGS84 on any other basemap.

    Also shows a note when tiles cannot load. Exposes window.sitingMap / window.sitingLayerControl for tests."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
            var map = {{ this._parent.get_name() }}, control = {{ this.control.get_name() }};
            var grid = {{ this.grid|tojson }}, gcjNames = {{ this.gcj_names|tojson }};
            window.sitingMap = map; window.sitingLayerControl = control;
            function offset(lat, lng) {
                if (!grid) return [0, 0];
                var fx = Math.min(Math.max((lng - grid.lon0) / grid.step, 0), grid.nx - 1.000001);
                var fy = Math.min(Math.max((lat - grid.lat0) / grid.step, 0), grid.ny - 1.000001);
                var i = Math.floor(fx), j = Math.floor(fy), tx = fx - i, ty = fy - j;
                function bil(a) {
                    var k = j * grid.nx + i;
                    return (1 - tx) * (1 - ty) * a[k] + tx * (1 - ty) * a[k + 1] + (1 - tx) * ty * a[k + grid.nx] + tx * ty * a[k + grid.nx + 1];
                }
                return [bil(grid.dlat), bil(grid.dlon)];
            }
            function moved(ll, on) {
                if (Array.isArray(ll)) return ll.map(function(x) { return moved(x, on); });
                if (!on) return L.latLng(ll.lat, ll.lng);
                var d = offset(ll.lat, ll.lng);
                return L.latLng(ll.lat + d[0], ll.lng + d[1]);
            }
            function shift(layer, on) {
                if (layer.getLatLng) {
                    if (!layer._sitingWgs84) layer._sitingWgs84 = layer.getLatLng();
                    layer.setLatLng(moved(layer._sitingWgs84, on));
                } else if (layer.getLatLngs) {
                    if (!layer._sitingWgs84) layer._sitingWgs84 = layer.getLatLngs();
                    layer.setLatLngs(moved(layer._sitingWgs84, on));
                } else if (layer.eachLayer) {
                    layer.eachLayer(function(child) { shift(child, on); });
                }
            }
            var onGcj = false;
            map.on("baselayerchange", function(e) {
                var on = gcjNames.indexOf(e.name) >= 0;
                if (on !== onGcj) {
                    control._layers.forEach(function(item) { if (item.overlay) shift(item.layer, on); });
                    onGcj = on;
                }
                map.getContainer().setAttribute("data-siting-crs", on ? "gcj02" : "wgs84");
                e.layer.eachLayer && e.layer.eachLayer(function(tiles) {
                    if (tiles.on && !tiles._sitingWatched) {
                        tiles._sitingWatched = true;
                        tiles.on("tileerror", function() { note("底图无法加载 Basemap tiles could not be loaded; the overlays still work"); });
                    }
                });
                if (!navigator.onLine && e.layer.getLayers && e.layer.getLayers().length) {
                    note("离线：底图不可用 Offline: basemap not available; the overlays still work");
                }
            });
            var box = null;
            function note(text) {
                if (!box) {
                    box = L.control({position: "bottomleft"});
                    box.onAdd = function() { var d = L.DomUtil.create("div", "siting-box"); d.id = "siting-basemap-note"; return d; };
                    box.addTo(map);
                }
                box.getContainer().textContent = text;
            }
            map.getContainer().setAttribute("data-siting-crs", "wgs84");
        })();
        {% endmacro %}"""
    )

    def __init__(self, control: folium.LayerControl, grid: dict | None, gcj_names: list[str]) -> None:
        super().__init__()
        self._name = "Gcj02Switch"
        self.control, self.grid, self.gcj_names = control, grid, gcj_names


def gcj02_offset_grid(bounds: list[list[float]] | None, step_deg: float = GCJ02_GRID_STEP_DEG) -> dict | None:
    """The GCJ-02 offset (degrees) of siting.inputs.coords on a lon/lat grid covering `bounds` ([[s, w], [n, e]]) with a margin."""
    if bounds is None:
        return None
    (s, w), (n, e) = bounds
    lon0, lat0 = w - step_deg, s - step_deg
    nx = int(np.ceil((e + step_deg - lon0) / step_deg)) + 1
    ny = int(np.ceil((n + step_deg - lat0) / step_deg)) + 1
    lon, lat = np.meshgrid(lon0 + step_deg * np.arange(nx), lat0 + step_deg * np.arange(ny))  # row j = latitude
    g_lon, g_lat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    return {"lon0": lon0, "lat0": lat0, "step": step_deg, "nx": nx, "ny": ny,
            "dlon": [round(float(v), 10) for v in g_lon - lon.ravel()], "dlat": [round(float(v), 10) for v in g_lat - lat.ravel()]}


def add_basemap_switch(m: folium.Map, control: folium.LayerControl, tiles: Sequence[str], bounds: list[list[float]] | None) -> None:
    """After the layer control: the GCJ-02 switch (when a GCJ-02 basemap is offered) and the tile-failure note."""
    if not tiles:
        return
    gcj_names = [b.name for name in tiles for b in BASEMAPS[name] if b.gcj02]
    _Gcj02Switch(control, gcj02_offset_grid(bounds) if gcj_names else None, gcj_names).add_to(m)


def network_bounds(network) -> list[list[float]] | None:
    if network is None or not network.n_nodes:
        return None
    return [[float(np.min(network.lat)), float(np.min(network.lon))], [float(np.max(network.lat)), float(np.max(network.lon))]]
