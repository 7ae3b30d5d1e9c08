"""Run by tests/test_qgis.py with QGIS's own Python (/usr/bin/python3 + PyQGIS), not collected by pytest: the siting
coverage algorithm inside a QGIS session, once cancelled at a progress message and once loaded into the project as
the toolbox does (processing.runAndLoadResults), printing as JSON what the test checks: the errors reported, and
each loaded layer's renderer (and, graduated or categorised, its features per colour as QGIS draws them)."""
import json
import sys

from qgis.core import (
    QgsApplication,
    QgsExpressionContextUtils,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRenderContext,
)

app = QgsApplication([], False)
app.initQgis()
sys.path.append("/usr/share/qgis/python/plugins")
from processing.core.Processing import Processing  # noqa: E402

Processing.initialize()
import processing  # noqa: E402

cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["plugin_dir"])
from siting_qgis.provider import SitingProvider  # noqa: E402

provider = SitingProvider()
QgsApplication.processingRegistry().addProvider(provider)
report = {"errors": []}


class CancelAt(QgsProcessingFeedback):
    """The user pressing Cancel when the log shows `cancel_at`."""

    def pushInfo(self, info):  # noqa: N802
        super().pushInfo(info)
        report.setdefault("info", []).append(info)
        if cfg["cancel_at"] in info:
            self.cancel()

    def reportError(self, error, fatalError=False):  # noqa: N802
        report["errors"].append(error)
        super().reportError(error, fatalError)


algorithm = QgsApplication.processingRegistry().createAlgorithmById("siting:coverage")
_, report["cancelled_run_ok"] = algorithm.run(dict(cfg["params"], OUTPUT_FOLDER=cfg["cancel_folder"]),
                                              QgsProcessingContext(), CancelAt())
outputs = {name: "TEMPORARY_OUTPUT" for name in cfg["outputs"]}
processing.runAndLoadResults("siting:coverage", dict(cfg["params"], OUTPUT_FOLDER=cfg["folder"], **outputs))
layers = {}
for layer in QgsProject.instance().mapLayers().values():
    renderer = layer.renderer()
    info = {"renderer": renderer.type(), "features": layer.featureCount()}
    if renderer.type() == "graduatedSymbol":
        info["field"] = renderer.classAttribute()
        info["ranges"] = [[r.lowerValue(), r.upperValue()] for r in renderer.ranges()]
    if renderer.type() in ("graduatedSymbol", "categorizedSymbol"):
        symbols = {}  # features per colour, as QGIS draws them
        render = QgsRenderContext()
        render.expressionContext().appendScope(QgsExpressionContextUtils.layerScope(layer))
        renderer.startRender(render, layer.fields())
        for feature in layer.getFeatures():
            render.expressionContext().setFeature(feature)
            symbol = renderer.symbolForFeature(feature, render)
            colour = symbol.color().name() if symbol is not None else "not drawn"
            symbols[colour] = symbols.get(colour, 0) + 1
        renderer.stopRender(render)
        info["features_by_colour"] = symbols
    if renderer.type() == "categorizedSymbol":
        info["field"] = renderer.classAttribute()
        info["categories"] = [c.value() for c in renderer.categories()]
    layers[layer.name()] = info
report["layers"] = layers
print(json.dumps(report))
