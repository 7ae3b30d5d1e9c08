"""Building blocks of the HTML maps, shared by the coverage maps (siting.reports.maps) and the 四同步 map (siting.checks.sync_report):
GeoJSON features with coordinates rounded to about a metre, point layers drawn as circle markers, and the boxed
Leaflet control (legend, info) with its style."""
from __future__ import annotations

import folium
import geopandas as gpd
from branca.element import MacroElement
from folium.template import Template
from folium.utilities import JsCode
from shapely.geometry import mapping

COORD_DECIMALS = 5  # about 1 m: enough to draw, small enough to keep 20 000 points light


def geojson_layer(features: list[dict], *, name: str, style, on_each_feature: JsCode, show: bool = True) -> folium.GeoJson:
    """Points become CircleMarkers; the style dict may set radius and className (applied before the path is created)."""
    has_points = any(f["geometry"]["type"] == "Point" for f in features)
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=name,
        style_function=style,
        marker=folium.CircleMarker(radius=4, fill=True) if has_points else None,
        on_each_feature=on_each_feature,
        show=show,
    )


def map_points(frame: gpd.GeoDataFrame) -> list:
    """Polygons are drawn at their representative point, the same point the walking model snaps."""
    return [g if g is None or g.geom_type == "Point" else g.representative_point() for g in frame.geometry]


def feature(i: int, geometry, properties: dict) -> dict:
    return {"type": "Feature", "id": i, "properties": properties, "geometry": _round_coords(mapping(geometry)) if geometry is not None else None}


def _round_coords(geometry: dict) -> dict:
    def rnd(coords):
        if isinstance(coords[0], (int, float)):
            return [round(float(c), COORD_DECIMALS) for c in coords]
        return [rnd(c) for c in coords]

    return {"type": geometry["type"], "coordinates": rnd(geometry["coordinates"])}


_BOX_STYLE = "background: rgba(255,255,255,0.92); padding: 8px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.4); font: 12px/1.4 sans-serif; max-width: 420px;"


#: The info/legend box style, and on paper the layer switcher gives way to the map (the legend stays).
BOX_CSS = f"<style>.siting-box {{{_BOX_STYLE}}} @media print {{ .leaflet-control-layers {{ display: none; }} }}</style>"


class BoxControl(MacroElement):
    """A Leaflet control holding prepared (already escaped) HTML, so that it stacks with the zoom and layer controls."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
            var box = L.control({position: {{ this.position|tojson }}});
            box.onAdd = function() {
                var div = L.DomUtil.create("div", "siting-box");
                div.id = {{ this.box_id|tojson }};
                div.innerHTML = {{ this.box_html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            box.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}"""
    )

    def __init__(self, box_html: str, *, box_id: str, position: str) -> None:
        super().__init__()
        self._name = "BoxControl"
        self.box_html, self.box_id, self.position = box_html, box_id, position
