"""What every siting algorithm shares: the common parameters (network, profile, walk, coordinates), QGIS layers →
the (Geo)DataFrames the siting core takes, result frames → feature sinks, progress/cancel through the feedback, and
siting's planner errors → QgsProcessingException with the command line's text.

The siting package is imported inside functions only, so the toolbox still lists the algorithms (and says how to
install siting) when QGIS's Python cannot import it.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QTime, QVariant

WGS84 = "EPSG:4326"
#: Built-in profiles when siting itself cannot be imported (the algorithm then fails with the install hint anyway).
_FALLBACK_PROFILES = ("chifeng", "huzhong", "jingdezhen", "jixi", "national", "shangzhi")
#: Coordinate systems of degree coordinates, as siting's `coords` key names them.
COORDS = ("wgs84", "gcj02", "bd09")
COORDS_LABELS = ("WGS84 / CGCS2000 (as the layer's CRS says)", "GCJ-02 (Amap, Tencent)", "BD-09 (Baidu)")
INSTALL_HINT = ("the siting Python package cannot be imported by QGIS's Python {python} ({error}). Expected siting "
                "installed for that Python. Fix: Linux: install siting into a venv of Python {python} and put its "
                "site-packages on PYTHONPATH (Settings > Options > System > Environment); Windows: in the OSGeo4W "
                "Shell, python -m pip install siting; then restart QGIS (README, section QGIS)")


class Cancelled(Exception):
    """Raised from the progress callback when the user cancels: the core stops at its next stage."""


def profile_names() -> list[str]:
    try:
        import_siting()
        from siting.inputs.profiles import list_profiles
    except ImportError:
        return list(_FALLBACK_PROFILES)
    return list_profiles()


class SitingAlgorithm(QgsProcessingAlgorithm):
    """Base class: shared parameters and plumbing. Subclasses declare their layers and call the siting core."""

    _group = "siting"

    def group(self):
        return "siting"

    def groupId(self):  # noqa: N802
        return self._group

    def createInstance(self):  # noqa: N802
        return type(self)()

    # -------------------------------------------------------------------------------------------- parameters

    def add_layer(self, name: str, description: str, *, optional: bool = False) -> None:
        """A vector layer in any CRS, or a table with 经度/纬度 columns. Any geometry type is accepted so that a wrong
        one (lines) gets siting's own message, as the command line gives it."""
        self.addParameter(QgsProcessingParameterFeatureSource(name, description, [QgsProcessing.TypeVector],
                                                              optional=optional))

    def add_field(self, name: str, description: str, parent: str, *, numeric: bool = False) -> None:
        """An optional field picker; left empty, siting finds the column by its usual names (户数, households, …)."""
        kind = QgsProcessingParameterField.Numeric if numeric else QgsProcessingParameterField.Any
        self.addParameter(QgsProcessingParameterField(name, description, parentLayerParameterName=parent, type=kind,
                                                      optional=True))

    def add_network_and_profile(self, *, network_optional: bool = False) -> None:
        self.addParameter(QgsProcessingParameterFile(
            "NETWORK", "Walking network (.osm.pbf, .osm, .osm.bz2, GraphML)", optional=network_optional,
            fileFilter="OpenStreetMap or GraphML (*.pbf *.osm *.bz2 *.gz *.xml *.graphml);;All files (*.*)"))
        names = profile_names()
        self.addParameter(QgsProcessingParameterEnum(
            "PROFILE", "Standard profile", options=names,
            defaultValue=names.index("national") if "national" in names else 0))
        self.addParameter(QgsProcessingParameterFile(
            "PROFILE_FILE", "Own profile file (.toml; replaces the profile above)", optional=True,
            fileFilter="Profile (*.toml)"))

    def add_walk(self) -> None:
        self.addParameter(QgsProcessingParameterNumber(
            "WALK_MINUTES", "Walking minutes (empty: the profile's, 15)", QgsProcessingParameterNumber.Double,
            optional=True, minValue=0.1))
        self.addParameter(QgsProcessingParameterNumber(
            "MAX_SNAP_M", "Farthest distance from a street to be counted, m", QgsProcessingParameterNumber.Double,
            defaultValue=500.0, minValue=1.0))
        self.addParameter(QgsProcessingParameterEnum(
            "COORDS", "Degree coordinates of the layers are", options=list(COORDS_LABELS), defaultValue=0))

    def add_folder_and_map(self, map_description: str) -> None:
        self.addParameter(QgsProcessingParameterFolderDestination(
            "OUTPUT_FOLDER", "Folder for the tables, summary and HTML map (as the command line's --output)"))
        self.addOutput(QgsProcessingOutputFile("MAP", map_description))

    def add_sink(self, name: str, description: str, kind=QgsProcessing.TypeVectorAnyGeometry, *, optional=True) -> None:
        """A result layer; optional so that qgis_process writes only those asked for (the GUI checks them all)."""
        self.addParameter(QgsProcessingParameterFeatureSink(name, description, kind, optional=optional,
                                                            createByDefault=True))

    # -------------------------------------------------------------------------------------------- reading

    def output_folder(self, parameters, context) -> Path:
        """The output folder; a temporary one when the user leaves it so (parameterAsFileOutput resolves that)."""
        return Path(self.parameterAsFileOutput(parameters, "OUTPUT_FOLDER", context)).resolve()

    def profile_value(self, parameters, context) -> str:
        own = self.parameterAsFile(parameters, "PROFILE_FILE", context)
        if own:
            return own
        return profile_names()[self.parameterAsEnum(parameters, "PROFILE", context)]

    def coords_value(self, parameters, context) -> str:
        return COORDS[self.parameterAsEnum(parameters, "COORDS", context)]

    def optional_number(self, parameters, name: str, context) -> float | None:
        if parameters.get(name) in (None, ""):
            return None
        value = self.parameterAsDouble(parameters, name, context)
        return None if math.isnan(value) else value

    def layer_label(self, parameters, name: str, context) -> str:
        """How siting's messages name the layer: the layer's name, as in the Layers panel."""
        layer = self.parameterAsVectorLayer(parameters, name, context)
        return layer.name() if layer is not None and layer.name() else name.lower()

    def layer_block(self, parameters, name: str, context, feedback, fields: dict[str, str], **extra) -> dict:
        """A siting layer block {frame, label, columns, …} from a layer parameter and its field pickers
        ({siting column: picker parameter name}); siting then checks and normalises it as it would a file."""
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, name))
        columns = {}
        for column, picker in fields.items():
            picked = self.parameterAsFields(parameters, picker, context)
            if picked:
                columns[column] = picked[0]
        label = self.layer_label(parameters, name, context)
        block = {"frame": source_frame(source, context, feedback, keep=columns.values()), "label": label,
                 "coords": self.coords_value(parameters, context), **extra}
        if columns:
            block["columns"] = columns
        return block

    def project(self, parameters, context, *, residences: dict, facilities: list[dict], candidates: dict | None = None,
                units: list[dict] = (), thresholds_min=(5.0, 10.0, 15.0)):
        """A siting Project for the layers in memory: the object the command line builds from a project file."""
        from siting.inputs.project import Project

        output = self.output_folder(parameters, context)
        return Project(
            path=None, name=str(residences.get("label", self.displayName())), output=output,
            profile=self.profile_value(parameters, context), map_path=output / "coverage_map.html",
            network={"path": str(Path(self.parameterAsFile(parameters, "NETWORK", context)).resolve()), "cache": True},
            residences=residences, facilities=facilities, candidates=candidates, units=list(units),
            thresholds_min=list(thresholds_min), walk_minutes=self.optional_number(parameters, "WALK_MINUTES", context),
            max_snap_m=self.parameterAsDouble(parameters, "MAX_SNAP_M", context),
        )


# ------------------------------------------------------------------------------------------------ layers → frames


def _python_value(value):
    """An attribute as plain Python: NULL → None, QDate → date (siting parses dates, numbers and text itself)."""
    if value is None:
        return None
    if isinstance(value, QVariant):
        return None if value.isNull() else value.value()
    if isinstance(value, QDateTime):
        return value.toPyDateTime() if value.isValid() else None
    if isinstance(value, QDate):
        return value.toPyDate() if value.isValid() else None
    if isinstance(value, QTime):
        return value.toString("HH:mm:ss")
    return value


def source_frame(source, context, feedback, keep=()):
    """A feature source as a GeoDataFrame in EPSG:4326 (QGIS reprojects from the layer's CRS), or a DataFrame for a
    table without geometry. Attribute order and names are kept; features keep their order, so siting's row numbers
    are those of the attribute table (feature n = row n + 1). The GeoPackage feature id that QGIS shows as a field
    `fid` is not the planner's data and is left out (unless picked, i.e. in `keep`), so messages list the same
    columns as for the file."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    has_geometry = source.wkbType() not in (QgsWkbTypes.NoGeometry, QgsWkbTypes.Unknown)
    request = QgsFeatureRequest()
    if has_geometry:
        request.setDestinationCrs(QgsCoordinateReferenceSystem(WGS84), context.transformContext())
    names = list(source.fields().names())
    rows, geometries = [], []
    for feature in source.getFeatures(request):
        if feedback is not None and feedback.isCanceled():
            raise Cancelled()
        rows.append([_python_value(v) for v in feature.attributes()])
        geometry = feature.geometry()
        geometries.append(None if geometry.isNull() else shapely.from_wkb(bytes(geometry.asWkb())))
    frame = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame({n: [] for n in names})
    if "fid" in frame.columns and "fid" not in set(keep):
        frame = frame.drop(columns="fid")
    if not has_geometry:
        return frame
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometries, crs=WGS84), crs=WGS84)


# ------------------------------------------------------------------------------------------------ frames → sinks


def _field_type(series) -> QVariant.Type:
    """The field type of a column; a column of objects (blanks among the values, as in the unit tables) is typed by
    its values: all true/false → Bool, all numbers → Double, else String."""
    import numbers

    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return QVariant.Bool
    if pd.api.types.is_integer_dtype(series):
        return QVariant.LongLong
    if pd.api.types.is_float_dtype(series):
        return QVariant.Double
    if pd.api.types.is_object_dtype(series):
        values = [v for v in series.tolist() if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if values and all(isinstance(v, (bool, np.bool_)) for v in values):
            return QVariant.Bool
        if values and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in values):
            return QVariant.Double
    return QVariant.String


def _sink_value(value):
    import numpy as np

    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    return value


def write_sink(alg: QgsProcessingAlgorithm, parameters, name: str, context, frame) -> str | None:
    """Write a (Geo)DataFrame in EPSG:4326 to the feature sink `name`; returns its destination id (None when the
    optional sink was switched off). Points stay points; polygons become multipolygons; no geometry stays none."""
    import shapely

    columns = [c for c in frame.columns if c != "geometry"]
    fields = QgsFields()
    for column in columns:
        fields.append(QgsField(str(column), _field_type(frame[column])))
    geoms = list(frame.geometry.values) if "geometry" in frame.columns else []
    types = {g.geom_type for g in geoms if g is not None}
    if not geoms:
        wkb = QgsWkbTypes.NoGeometry
    elif types <= {"Point"}:
        wkb = QgsWkbTypes.Point
    elif types <= {"Point", "MultiPoint"}:
        wkb = QgsWkbTypes.MultiPoint
    else:
        wkb = QgsWkbTypes.MultiPolygon
    sink, dest_id = alg.parameterAsSink(parameters, name, context, fields, wkb, QgsCoordinateReferenceSystem(WGS84))
    if sink is None:
        if parameters.get(name) is None:
            return None
        raise QgsProcessingException(alg.invalidSinkError(parameters, name))
    values = frame[columns].to_numpy(dtype=object) if columns else [[] for _ in range(len(frame))]
    for i, row in enumerate(values):
        feature = QgsFeature(fields)
        feature.setAttributes([_sink_value(v) for v in row])
        if geoms and geoms[i] is not None:
            geometry = QgsGeometry()
            geometry.fromWkb(shapely.to_wkb(geoms[i]))
            if wkb == QgsWkbTypes.MultiPolygon or wkb == QgsWkbTypes.MultiPoint:
                geometry.convertToMultiType()
            feature.setGeometry(geometry)
        sink.addFeature(feature, QgsFeatureSink.FastInsert)
    return dest_id


# ------------------------------------------------------------------------------------------------ running the core


def progress_callback(feedback, stages: dict[str, int]):
    """siting's progress callback: each message goes to the log, known stages move the bar, and a cancel raises
    Cancelled so the core stops before its next stage (the outputs are written last, each atomically)."""

    def progress(message: str) -> None:
        if feedback.isCanceled():
            raise Cancelled()
        feedback.pushInfo(message)
        for marker, percent in stages.items():
            if marker in message:
                feedback.setProgress(percent)
                break

    return progress


_NATIVE = {"isolated": False}  # whether import_siting loaded the wheels' native libraries itself


def import_siting() -> None:
    """Import siting with the native libraries of its wheels bound to themselves. On Linux, QGIS itself links the
    system GEOS, PROJ and GDAL, whose symbols would otherwise take precedence over the copies that the shapely,
    pyproj and pyogrio wheels carry, and a shapely call then mixes two GEOS builds (a crash in contains_xy with
    Debian's QGIS 3.22). RTLD_DEEPBIND makes each wheel's extension look in its own libraries first; Windows and
    macOS resolve symbols per library anyway."""
    import importlib
    import os
    import sys

    if "shapely" in sys.modules or not hasattr(os, "RTLD_DEEPBIND"):  # too late, or not needed: import as usual
        importlib.import_module("siting")
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        for module in ("shapely", "pyproj", "pyogrio"):
            try:
                importlib.import_module(module)
            except ImportError:
                pass  # siting's own import below names what is missing
    finally:
        sys.setdlopenflags(flags)
    _NATIVE["isolated"] = True
    importlib.import_module("siting")


def _warn_if_shared_geos(feedback) -> None:
    """Say so when another plugin imported shapely first: siting's GEOS calls may then reach QGIS's GEOS."""
    import os
    import sys

    if hasattr(os, "RTLD_DEEPBIND") and not _NATIVE["isolated"] and "shapely" in sys.modules:
        getattr(feedback, "pushWarning", feedback.reportError)(
            "warning: shapely was imported by another plugin before siting, without its own GEOS isolated from "
            "QGIS's; should QGIS crash in this run, disable that plugin or start QGIS with the siting plugin first")


def run_core(feedback, job):
    """Run `job()` (a call into siting) and turn what a planner can fix into QgsProcessingException carrying the
    command line's message (its `error: …` line without the prefix); anything else is a bug and keeps its traceback."""
    try:
        import_siting()
        _warn_if_shared_geos(feedback)
        from siting.errors import SitingError
    except ImportError as exc:
        import sys

        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise QgsProcessingException(INSTALL_HINT.format(python=python, error=exc)) from None
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            result = job()
        for warning in caught:  # siting's own warnings (demand out of reach, …) into the log, not onto stderr
            getattr(feedback, "pushWarning", feedback.reportError)(f"warning: {warning.message}")
        return result
    except Cancelled:
        raise QgsProcessingException("cancelled by the user") from None
    except SitingError as exc:
        raise QgsProcessingException(str(exc)) from None
    except OSError as exc:  # as the command line says it: a full disk or a file locked by Excel
        target = exc.filename2 or exc.filename
        raise QgsProcessingException(f"{target}: {exc.strerror or exc}" if target else str(exc.strerror or exc)) from None
