"""Styles of the output layers, applied when QGIS loads them (a layer post-processor; qgis_process loads nothing):
residences graduated by walking minutes, uncovered residences in red, facilities by verdict, catchments by kind,
new sites as stars, developments by 四同步 status, unit polygons by their indicator verdict. Colours follow the HTML maps of siting.reports.maps."""
from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsGraduatedSymbolRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRendererCategory,
    QgsRendererRange,
    QgsSingleSymbolRenderer,
    QgsSymbol,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtGui import QColor

#: Walking-time classes, nearest first (green → red), and the colour of "farther / not reachable".
WALK_COLOURS = ("#1a9641", "#a6d96a", "#fdae61", "#f46d43")
FAR_COLOUR = "#d7191c"
KIND_COLOURS = {"elderly_day_care": "#7b3294", "nursery": "#008837"}
STATUS_COLOURS = {"pass": ("#1a9641", "pass 合格"), "not_yet_due": ("#bababa", "not yet due 未到期"),
                  "missing_data": ("#fdae61", "missing data 数据缺失"), "fail": ("#d7191c", "fail 不合格")}


def _symbol(layer: QgsVectorLayer, colour: str, *, size: float | None = None, shape: str | None = None,
            opacity: float = 1.0) -> QgsSymbol:
    symbol = QgsSymbol.defaultSymbol(layer.geometryType())
    symbol.setColor(QColor(colour))
    symbol.setOpacity(opacity)
    if layer.geometryType() == QgsWkbTypes.PointGeometry:
        if size is not None:
            symbol.setSize(size)
        if shape is not None:
            from qgis.core import QgsSimpleMarkerSymbolLayerBase

            symbol.symbolLayer(0).setShape(getattr(QgsSimpleMarkerSymbolLayerBase, shape))
    return symbol


def walk_minutes(layer: QgsVectorLayer, field: str, edges_min: list[float]) -> None:
    """Graduated by walking minutes: one class per ring (e.g. ≤5, 5–10, 10–15) and a red class beyond the circle."""
    edges = sorted({float(e) for e in edges_min if e > 0})
    ranges, lower = [], 0.0
    for i, upper in enumerate(edges):
        colour = WALK_COLOURS[min(i, len(WALK_COLOURS) - 1)]
        ranges.append(QgsRendererRange(lower, upper, _symbol(layer, colour, size=1.8), f"{lower:g}–{upper:g} min"))
        lower = upper
    ranges.append(QgsRendererRange(lower, 1e9, _symbol(layer, FAR_COLOUR, size=1.8), f"> {lower:g} min or no route"))
    renderer = QgsGraduatedSymbolRenderer(f'coalesce("{field}", 1e9)', ranges)  # no route (NULL) is drawn red too
    renderer.setSourceSymbol(_symbol(layer, FAR_COLOUR, size=1.8))
    layer.setRenderer(renderer)


def uncovered(layer: QgsVectorLayer) -> None:
    layer.setRenderer(QgsSingleSymbolRenderer(_symbol(layer, FAR_COLOUR, size=2.4, shape="Cross2")))


def facilities_by_verdict(layer: QgsVectorLayer) -> None:
    """Each facility coloured by its verdict in facilities.csv: green meets the profile's standard for the households
    in its catchment, red below it; grey, orange and purple where it could not be assessed."""
    verdicts = {"meets standard": ("#1a9641", "meets the standard 达标"),
                "below standard": ("#d7191c", "below the standard 不达标"),
                "no households in reach": ("#969696", "no households in reach 步行范围内无居民"),
                "capacity missing": ("#fdae61", "capacity missing 缺少规模数据"),
                "off network": ("#7b3294", "off the walking network 未接入路网")}
    categories = [QgsRendererCategory(value, _symbol(layer, colour, size=4.0, shape="Square"), label)
                  for value, (colour, label) in verdicts.items()]
    layer.setRenderer(QgsCategorizedSymbolRenderer("verdict", categories))


def catchments(layer: QgsVectorLayer) -> None:
    categories = [QgsRendererCategory(kind, _symbol(layer, colour, opacity=0.35), kind)
                  for kind, colour in KIND_COLOURS.items()]
    layer.setRenderer(QgsCategorizedSymbolRenderer("kind", categories))


#: A unit's verdict on an indicator (the verdict_* / provision_verdict_* columns of units_<level>.csv).
UNIT_VERDICTS = {"pass": ("#1a9641", "pass 达标"), "fail": ("#d7191c", "fail 未达标"),
                 "no residents": ("#bababa", "no residents 无居民")}


def units_by_verdict(layer: QgsVectorLayer, field: str, indicator: str) -> None:
    """A unit choropleth: each unit coloured by its verdict on `indicator` (the column `field`), as the HTML map's
    unit layer draws it."""
    categories = [QgsRendererCategory(value, _symbol(layer, colour, opacity=0.6), f"{indicator}: {label}")
                  for value, (colour, label) in UNIT_VERDICTS.items()]
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))


def new_sites(layer: QgsVectorLayer) -> None:
    layer.setRenderer(QgsSingleSymbolRenderer(_symbol(layer, "#2b83ba", size=6.0, shape="Star")))


def sync_status(layer: QgsVectorLayer) -> None:
    categories = [QgsRendererCategory(status, _symbol(layer, colour, size=4.0), label)
                  for status, (colour, label) in STATUS_COLOURS.items()]
    layer.setRenderer(QgsCategorizedSymbolRenderer("status", categories))


class _Styler(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, style, args):
        super().__init__()
        self.style, self.args = style, args

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        if isinstance(layer, QgsVectorLayer):
            self.style(layer, *self.args)
            layer.triggerRepaint()


_KEEP: list[_Styler] = []  # QGIS holds post-processors by pointer only: keep the Python objects alive


def on_load(context, dest_id: str | None, style, *args) -> None:
    """Style the output `dest_id` with `style(layer, *args)` when QGIS loads it into the project."""
    if dest_id and context.willLoadLayerOnCompletion(dest_id):
        styler = _Styler(style, args)
        _KEEP.append(styler)
        context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(styler)
