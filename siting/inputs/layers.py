"""Planners' residence and facility files (CSV, Excel, GeoPackage, Shapefile, GeoJSON) into the schema of
`siting.inputs.schema`, with every problem reported as an InputError naming file, spreadsheet row and column.

Reading (`read_table`) is kept apart from normalising (`residences_from_frame`, `facilities_from_frame`) so that
frames from other sources (PostGIS tables, scenario additions) go through exactly the same checks.

Row numbers in messages are spreadsheet rows: the header is row 1 and the first data row is row 2. For spatial
files the same numbering is used for features (feature n is row n + 1, as in an exported attribute table).
"""
from __future__ import annotations

import codecs
import io
import logging
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ..errors import ConfigError, InputError
from .columns import (
    DELIMITER_NAMES,
    DELIMITERS,
    KIND_VALUES,
    check_kind_column_agrees,
    check_non_negative,
    check_not_empty,
    geometry_column_name,
    is_blank,
    kind_of,
    missing_column_error,
    normalise_header,
    parse_area_types,
    parse_ids,
    parse_kinds,
    parse_names,
    parse_numbers,
    resolve_columns,
    spreadsheet_row,
)
from .schema import (
    AREA_TYPES,
    ELDERLY,
    FACILITY_COLUMNS,
    KINDS,
    NURSERY,
    RESIDENCE_COLUMNS,
)
from .textfile import ENCODINGS, Undecodable, decode_text, decodes, line_of

log = logging.getLogger(__name__)

#: More households than this in one row is taken as a typing error (a large compound has a few thousand).
MAX_HOUSEHOLDS_PER_ROW = 20_000

_UNIT_FIELDS = ("unit_xiaoqu", "unit_community", "unit_street", "unit_village", "unit_district")
_RESIDENCE_FIELDS = ("id", "name", "households", "population", "area_type", "lon", "lat", *_UNIT_FIELDS, "elderly", "infants")
_FACILITY_FIELDS = ("id", "name", "kind", "floor_area_m2", "seats", "places", "lon", "lat", "level", "nursing_beds")

_SPATIAL_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".kml", ".shp.zip", ".zip")
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")


# ---------------------------------------------------------------------------------------------------- reading


def read_table(
    path: str | os.PathLike, *, layer: str | None = None, encoding: str | None = None, sheet: str | int | None = None,
    header_row: int | None = None,
) -> pd.DataFrame | gpd.GeoDataFrame:
    """Read a table as the planner saved it. CSV cells come back as strings (blank = ""), so that ids such as
    "007" survive and numbers are checked with row numbers later; `frame.attrs["encoding"]` and
    `frame.attrs["delimiter"]` say how a CSV was read. `header_row`: the spreadsheet row holding the column names
    (default 1), for sheets with a title above the table."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path, fix="check the path in the project file")
    name = path.name.lower()
    if path.is_dir():
        raise InputError("this is a folder, not a file", file=path, expected="a CSV, Excel, GeoPackage, Shapefile or "
                         "GeoJSON file", fix="give the path of the file inside the folder in the project file")
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=path, expected="a header row and at least one data row")
    if name.endswith(_TEXT_SUFFIXES):
        frame = _read_csv(path, encoding, header_row or 1)
    elif name.endswith(_EXCEL_SUFFIXES):
        frame = _read_excel(path, sheet, header_row or 1)
    elif name.endswith(".xls"):
        raise InputError("old Excel .xls files are not read", file=path, expected="an .xlsx workbook or a CSV file",
                         fix="open it in Excel or WPS and save it as .xlsx")
    elif name.endswith(_SPATIAL_SUFFIXES):
        frame = _read_spatial(path, layer, encoding)
    else:
        raise InputError("unknown file type", file=path,
                         expected="CSV, Excel .xlsx, GeoPackage .gpkg, Shapefile .shp or GeoJSON .geojson")
    if len(frame) == 0:
        raise InputError("the file has no data rows", file=path, expected="a header row and at least one data row")
    return frame


def read_options(block: dict) -> dict:
    """The `read_table` settings of a project layer block (layer, encoding, sheet, header_row)."""
    return {key: block.get(key) for key in ("layer", "encoding", "sheet", "header_row")}


#: Cell separators a CSV may use: Excel writes ';' where the decimal mark is a comma, a tab for 'Text (Tab delimited)'.
def sniff_delimiter(text: str, default: str = ",") -> str:
    """The cell separator of a CSV. A header line with the default separator keeps it (names may hold a ';'); else
    csv.Sniffer on the first lines decides among the separators the header holds (, ; tab |), and failing that the
    one the header holds most often."""
    import csv

    lines = [line for line in text.splitlines() if line.strip()][:20]
    if not lines or default in lines[0]:
        return default
    present = [d for d in DELIMITERS if d in lines[0]]
    if not present:
        return default
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters="".join(present)).delimiter
    except csv.Error:
        return max(present, key=lines[0].count)


def _read_csv(path: Path, encoding: str | None, header_row: int = 1) -> pd.DataFrame:
    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("the file is saved as UTF-16 (Excel's 'Unicode Text'), not as CSV", file=path,
                         expected="a CSV file saved as UTF-8 or GBK",
                         fix="open it in Excel or WPS and save it as 'CSV UTF-8 (comma delimited)'")
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            guess = next((c for c in ENCODINGS if decodes(raw, c)), None)
            looks = f" (it decodes as {'UTF-8' if guess == 'utf-8-sig' else guess.upper()})" if guess else ""
            raise InputError(f"bytes cannot be decoded as {encoding}{looks}", file=path, row=line_of(raw, exc.start),
                             expected=f"a file saved as {encoding}",
                             fix="remove the encoding setting to let siting detect UTF-8 or GBK") from None
        except LookupError:
            raise ConfigError(f"unknown encoding '{encoding}'", file=path, expected="e.g. utf-8, gbk, gb18030") from None
        used = encoding
    else:
        text, used = _decode_guess(path, raw)
    if not text.strip():
        raise InputError("the file is empty", file=path, expected="a header row and at least one data row")
    sep = sniff_delimiter(text, "\t" if path.name.lower().endswith(".tsv") else ",")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, skip_blank_lines=False,
                            header=header_row - 1)
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())  # pandas' message ends in a newline; the planner gets one line
        match = re.search(r"line (\d+)", detail)
        raise InputError(f"the CSV cannot be parsed ({detail})", file=path, row=int(match.group(1)) if match else None,
                         expected=f"the same number of {DELIMITER_NAMES[sep]}-separated cells in every row",
                         fix="quote cells that contain commas, or re-export the sheet as CSV") from None
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", file=path, expected="a header row and at least one data row") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = _drop_blank_rows(frame, header_row)
    frame.attrs["encoding"] = used
    frame.attrs["delimiter"] = sep
    return frame


def _decode_guess(path: Path, raw: bytes) -> tuple[str, str]:
    """UTF-8 first; else GBK (Excel on Chinese Windows) or its superset GB18030."""
    try:
        decoded = decode_text(raw)
    except Undecodable as exc:
        first_bad = exc.first_bad
        raise InputError(
            f"bytes cannot be decoded as UTF-8 (first bad row {first_bad['utf-8-sig']}) nor as GBK/GB18030 "
            f"(first bad row {first_bad['gb18030']})",
            file=path, row=first_bad["utf-8-sig"], expected="text saved as UTF-8 or GBK",
            fix="open the file in Excel or WPS and save it as 'CSV UTF-8', or give encoding = \"...\" in the project file",
        ) from None
    if decoded.encoding != "utf-8-sig":
        log.warning("%s: not UTF-8 (first non-UTF-8 text in row %d), read as %s; if names look garbled, save the "
                    "file as 'CSV UTF-8' or set encoding for this layer in the project file",
                    path, decoded.first_non_utf8_line, decoded.encoding.upper())
    return decoded.text, decoded.encoding


def _read_excel(path: Path, sheet: str | int | None, header_row: int = 1) -> pd.DataFrame:
    try:
        workbook = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # corrupt zip / not a workbook
        raise InputError(f"cannot read the workbook ({exc})", file=path, expected="an Excel .xlsx file",
                         fix="open it in Excel or WPS and save it again as .xlsx") from None
    with workbook:
        names = [str(n) for n in workbook.sheet_names]
        if sheet is not None and sheet not in names and not (isinstance(sheet, int) and 0 <= sheet < len(names)):
            raise InputError(f"the workbook has no sheet {sheet!r}; its sheets are: {', '.join(names)}", file=path,
                             expected="the name of one of those sheets",
                             fix="correct `sheet` for this layer in the project file")
        frame = pd.read_excel(workbook, sheet_name=0 if sheet is None else sheet, dtype=object, header=header_row - 1)
    frame.columns = [str(c).strip() for c in frame.columns]
    return _drop_blank_rows(frame, header_row)


def _drop_blank_rows(frame: pd.DataFrame, header_row: int = 1) -> pd.DataFrame:
    """Drop wholly blank rows (separators, formatted rows at the end of a sheet) but remember the spreadsheet row
    of every kept row, so that messages still point at the right line."""
    candidate = np.arange(len(frame)) if len(frame.columns) else np.zeros(0, dtype=np.int64)
    for position in range(len(frame.columns)):  # only rows blank so far are looked at in the next column
        if not candidate.size:
            break
        cells = frame.iloc[candidate, position].to_numpy(dtype=object)
        blank_text = np.fromiter((isinstance(v, str) and not v.strip() for v in cells), dtype=bool, count=cells.size)
        candidate = candidate[blank_text | pd.isna(cells)]
    blank = np.zeros(len(frame), dtype=bool)
    blank[candidate] = True
    kept = frame.loc[~blank].reset_index(drop=True) if blank.any() else frame
    # an array, not a list: pandas deep-copies attrs on every column access, which for a list of a million rows
    # took seconds per column
    kept.attrs["spreadsheet_rows"] = np.flatnonzero(~blank) + header_row + 1
    return kept


def _read_spatial(path: Path, layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    kwargs = {"engine": "pyogrio"}
    if layer is not None:
        kwargs["layer"] = layer
    if encoding is not None:
        kwargs["encoding"] = encoding
    try:
        return gpd.read_file(path, **kwargs)
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError etc.
        raise InputError(f"cannot read the spatial file ({exc})", file=path,
                         expected="a GeoPackage, Shapefile or GeoJSON readable by GDAL",
                         fix="check the `layer` name and that all parts of a Shapefile (.shp .shx .dbf .prj) are present") from None


def read_residences(
    path: str | os.PathLike,
    *,
    columns: dict[str, str] | None = None,
    crs: str | None = None,
    coords: str = "wgs84",
    household_size: float,
    layer: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
    default_area_type: str = "existing",
) -> gpd.GeoDataFrame:
    frame = read_table(path, layer=layer, encoding=encoding, sheet=sheet, header_row=header_row)
    return residences_from_frame(frame, source=str(path), columns=columns, crs=crs, coords=coords,
                                 household_size=household_size, default_area_type=default_area_type)


def read_facilities(
    path: str | os.PathLike,
    *,
    kind: str | None = None,
    columns: dict[str, str] | None = None,
    crs: str | None = None,
    coords: str = "wgs84",
    layer: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
) -> gpd.GeoDataFrame:
    frame = read_table(path, layer=layer, encoding=encoding, sheet=sheet, header_row=header_row)
    return facilities_from_frame(frame, source=str(path), kind=kind, columns=columns, crs=crs, coords=coords)


# ---------------------------------------------------------------------------------------------------- normalising


def residences_from_frame(
    frame: pd.DataFrame | gpd.GeoDataFrame,
    *,
    source: str,
    columns: dict[str, str] | None = None,
    crs: str | None = None,
    coords: str = "wgs84",
    household_size: float,
    default_area_type: str = "existing",
) -> gpd.GeoDataFrame:
    """Residences in the schema (EPSG:4326); households and population each derived from the other where missing."""
    if not (np.isfinite(household_size) and household_size > 0):
        raise ConfigError(f"household size {household_size} is not a positive number", file=source,
                          expected="people per household, e.g. 2.62", fix="set household_size in the profile")
    if default_area_type not in AREA_TYPES:
        raise ConfigError(f"default area type '{default_area_type}' is unknown", file=source,
                          expected=" or ".join(AREA_TYPES), fix="set default_area_type = \"existing\" or \"new\"")
    check_not_empty(frame, source)
    found = resolve_columns(frame, source, columns, _RESIDENCE_FIELDS)
    if "households" not in found and "population" not in found:
        raise missing_column_error(frame, source, "households", also="population")
    geometry = parse_geometry(frame, source, found, crs, coords)
    households = parse_numbers(frame, source, found.get("households"))
    population = parse_numbers(frame, source, found.get("population"))
    both_missing = np.isnan(households) & np.isnan(population)
    if both_missing.any():
        i = int(np.flatnonzero(both_missing)[0])
        column = found.get("households") or found.get("population")
        raise InputError("households and population are both blank", file=source, row=spreadsheet_row(frame, i), column=column,
                         expected="a number of households (户数) or residents (人口) in every row",
                         fix="fill in either figure; the other is derived with the household size")
    for field, values in (("households", households), ("population", population)):
        check_non_negative(frame, values, source, found.get(field), field)
    households = np.where(np.isnan(households), population / household_size, households)
    population = np.where(np.isnan(population), households * household_size, population)
    too_many = households > MAX_HOUSEHOLDS_PER_ROW
    if too_many.any():
        i = int(np.flatnonzero(too_many)[0])
        column = found["households"] if "households" in found and not is_blank(frame[found["households"]].iat[i]) \
            else found.get("population")
        raise InputError(f"{households[i]:,.0f} households in one row is more than the plausible "
                         f"{MAX_HOUSEHOLDS_PER_ROW:,}", file=source, row=spreadsheet_row(frame, i), column=column,
                         expected=f"at most {MAX_HOUSEHOLDS_PER_ROW:,} households per row (one building or compound)",
                         fix="check for a typing error (extra digits) or split the district into compounds")

    area_type = parse_area_types(frame, source, found.get("area_type"), default_area_type)
    result = gpd.GeoDataFrame(
        {
            "res_id": parse_ids(frame, source, found.get("id"), "R"),
            "name": parse_names(frame, found.get("name")),
            "households": households.astype(np.float64),
            "population": population.astype(np.float64),
            "area_type": area_type,
        },
        geometry=geometry,
        crs="EPSG:4326",
    )
    result = result[list(RESIDENCE_COLUMNS)]
    for field in ("elderly", "infants"):  # residents by age, where the file gives them
        if field in found:
            values = parse_numbers(frame, source, found[field])
            check_non_negative(frame, values, source, found[field], field)
            result[field] = values
    for field in _UNIT_FIELDS:  # the unit a residence lies in, where the file names it (所属社区, 所属街道)
        if field in found:
            result[field] = pd.Series([None if is_blank(v) else str(int(v) if isinstance(v, float) and v.is_integer() else v).strip()
                                       for v in frame[found[field]].tolist()], index=result.index, dtype=object)
    return with_unit_columns(result, frame)


def facilities_from_frame(
    frame: pd.DataFrame | gpd.GeoDataFrame,
    *,
    source: str,
    kind: str | None = None,
    columns: dict[str, str] | None = None,
    crs: str | None = None,
    coords: str = "wgs84",
) -> gpd.GeoDataFrame:
    """Facilities in the schema (EPSG:4326). `kind` applies to the whole file; else a kind column is required."""
    check_not_empty(frame, source)
    found = resolve_columns(frame, source, columns, _FACILITY_FIELDS)
    geometry = parse_geometry(frame, source, found, crs, coords)
    if kind is not None:
        whole = kind_of(kind)
        if whole is None:
            raise ConfigError(f"unknown facility kind '{kind}'", file=source, expected=" or ".join(KINDS),
                              fix="set kind = \"elderly_day_care\" or \"nursery\"")
        if "kind" in found:
            check_kind_column_agrees(frame, source, found["kind"], whole)
        kinds = np.full(len(frame), whole, dtype=object)
    elif "kind" in found:
        kinds = parse_kinds(frame, source, found["kind"])
    else:
        raise missing_column_error(frame, source, "kind",
                              fix=f"add a 类型 column (values such as 日间照料 or 托育) or set kind = \"{ELDERLY}\" "
                                  f"or \"{NURSERY}\" for this file in the project file")
    values = {}
    for field in ("floor_area_m2", "places", "seats"):
        values[field] = parse_numbers(frame, source, found.get(field))
        check_non_negative(frame, values[field], source, found.get(field), field)
    result = gpd.GeoDataFrame(
        {"fac_id": parse_ids(frame, source, found.get("id"), "F"), "name": parse_names(frame, found.get("name")),
         "kind": kinds, **values},
        geometry=geometry,
        crs="EPSG:4326",
    )
    result = result[list(FACILITY_COLUMNS)]
    labels = parse_names(frame, found["kind"]) if "kind" in found else []
    if any(normalise_header(v) not in KIND_VALUES for v in labels if v):  # 街道综合养老服务中心: says more than the kind
        result["type_label"] = labels  # siting.measures.units reads the facility level from it
    if "level" in found:
        result["level"] = parse_names(frame, found["level"])
    if "nursing_beds" in found:
        result["nursing_beds"] = parse_numbers(frame, source, found["nursing_beds"])
        check_non_negative(frame, result["nursing_beds"].to_numpy(), source, found["nursing_beds"], "nursing_beds")
    return with_unit_columns(result, frame)


def with_unit_columns(result: gpd.GeoDataFrame, frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """The units contract's `unit_<level>` columns (e.g. unit_community) of a table kept as they are: a table may name
    the unit of each row directly, and siting by unit (`siting.optimisation.units`) reads them."""
    for column in frame.columns:
        if str(column).startswith("unit_") and column not in result.columns:
            result[column] = frame[column].to_numpy()
    return result


# ---------------------------------------------------------------------------------------------------- geometry


def _as_crs(crs: str, source: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise ConfigError(f"'{crs}' is not a coordinate reference system pyproj knows ({exc})", file=source,
                          expected="a code such as EPSG:4326 or EPSG:4548", fix="check the code on epsg.io") from None


def parse_geometry(frame: pd.DataFrame, source: str, found: dict[str, str], crs: str | None,
                   coords: str) -> gpd.GeoSeries:
    """WGS84 geometry per row, from the frame's geometry column or from the lon/lat columns named in `found` (as
    returned by resolve_columns). `crs` is the layer's coordinate system when the file has none (x/y columns, a
    Shapefile without .prj); `coords` the web-map system of degree coordinates (wgs84, cgcs2000, gcj02, bd09), which
    is converted to WGS84. Empty, invalid or unusable geometries, out-of-range and swapped coordinates are an
    InputError at their row."""
    from .coords import canonical_system, to_wgs84

    try:
        system = canonical_system(coords)
    except ConfigError as exc:
        raise exc.located(file=source) from None
    geom_name = geometry_column_name(frame)
    if geom_name is not None and any(g is not None for g in frame.geometry.values):
        series = _spatial_geometry(frame, source, crs)
        column = "geometry"
    else:
        series = _point_geometry(frame, source, found, crs, system)
        column = f"{found['lon']}/{found['lat']}"
    if not series.crs.is_geographic:
        if system != "wgs84":
            raise ConfigError(f"coords = \"{coords}\" cannot apply to projected coordinates ({series.crs.name})",
                              file=source, expected="coords = \"wgs84\" or \"cgcs2000\" with a projected crs",
                              fix="remove coords, or give longitude/latitude degrees without a projected crs")
        return gpd.GeoSeries(series.to_crs("EPSG:4326").values, crs="EPSG:4326")
    if not series.crs.equals(pyproj.CRS.from_epsg(4326)):
        series = series.to_crs("EPSG:4326")  # e.g. EPSG:4490 (CGCS2000 degrees)
    _check_swapped(frame, series, source, column)
    if system != "wgs84":
        def _shift(xy: np.ndarray) -> np.ndarray:
            lon, lat = to_wgs84(xy[:, 0], xy[:, 1], system)
            return np.column_stack([lon, lat])

        series = gpd.GeoSeries(shapely.transform(np.asarray(series.values), _shift), crs="EPSG:4326")
    return gpd.GeoSeries(np.asarray(series.values), crs="EPSG:4326").reset_index(drop=True)


def _spatial_geometry(frame: gpd.GeoDataFrame, source: str, crs: str | None) -> gpd.GeoSeries:
    series = frame.geometry.reset_index(drop=True)
    if series.crs is None:
        if crs is None:
            minx, miny, maxx, maxy = series.total_bounds
            if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
                raise InputError("the layer has no coordinate system and its coordinates are not degrees",
                                 file=source, expected="a layer with a CRS (.prj for Shapefiles)",
                                 fix="give crs = \"EPSG:xxxx\" for this layer in the project file")
            crs = "EPSG:4326"
        series = series.set_crs(_as_crs(crs, source))
    types = series.geom_type
    for i, geom in enumerate(series.values):
        if geom is None or geom.is_empty:
            raise InputError("empty geometry", file=source, row=spreadsheet_row(frame, i), column="geometry",
                             expected="a point or polygon", fix="draw the feature or delete the row")
    kinds = {"Point": "point", "MultiPoint": "point", "Polygon": "polygon", "MultiPolygon": "polygon"}
    families = types.map(kinds)
    if families.isna().any():
        i = int(np.flatnonzero(families.isna().to_numpy())[0])
        mixed = sorted(set(types))
        raise InputError(f"geometry type {types.iat[i]} cannot be used (types in the layer: {', '.join(mixed)})",
                         file=source, row=spreadsheet_row(frame, i), column="geometry", expected="points or polygons only",
                         fix="keep only points (entrances) or polygons (building/compound outlines) in this layer")
    invalid = ~shapely.is_valid(np.asarray(series.values))
    if invalid.any():
        i = int(np.flatnonzero(invalid)[0])
        reason = shapely.is_valid_reason(series.values[i])
        raise InputError(f"invalid polygon ({reason})", file=source, row=spreadsheet_row(frame, i), column="geometry",
                         expected="a polygon whose outline does not cross itself",
                         fix="repair it in QGIS (Vector > Geometry Tools > Fix Geometries, i.e. make_valid) and reload")
    return series


def _point_geometry(frame: pd.DataFrame, source: str, found: dict[str, str], crs: str | None,
                    system: str) -> gpd.GeoSeries:
    if "lon" not in found or "lat" not in found:
        raise missing_column_error(frame, source, "lon" if "lon" not in found else "lat",
                              also=("lat" if "lon" not in found else None),
                              fix="add longitude/latitude columns (经度, 纬度), or x/y columns and crs = \"EPSG:xxxx\", "
                                  "or use a GeoPackage/Shapefile/GeoJSON with geometry")
    x = parse_numbers(frame, source, found["lon"])
    y = parse_numbers(frame, source, found["lat"])
    for values, column in ((x, found["lon"]), (y, found["lat"])):
        blank = np.isnan(values)
        if blank.any():
            raise InputError("blank coordinate", file=source, row=spreadsheet_row(frame, int(np.flatnonzero(blank)[0])), column=column,
                             expected="a coordinate in every row", fix="fill it in or delete the row")
    if crs is not None and not _as_crs(crs, source).is_geographic:
        return gpd.GeoSeries(gpd.points_from_xy(x, y), crs=crs)
    lat_out = np.abs(y) > 90
    if lat_out.any():
        i = int(np.flatnonzero(lat_out)[0])
        swap = " — the longitude and latitude columns look swapped" if np.abs(x[i]) <= 90 else ""
        raise InputError(f"latitude {y[i]:g} is outside -90..90{swap}", file=source, row=spreadsheet_row(frame, i), column=found["lat"],
                         expected="latitude in degrees (China: about 18..54)",
                         fix="swap the longitude and latitude columns" if swap
                         else "for projected x/y give crs = \"EPSG:xxxx\" in the project file")
    lon_out = np.abs(x) > 180
    if lon_out.any():
        i = int(np.flatnonzero(lon_out)[0])
        raise InputError(f"longitude {x[i]:g} is outside -180..180", file=source, row=spreadsheet_row(frame, i), column=found["lon"],
                         expected="longitude in degrees (China: about 73..135)",
                         fix="for projected x/y give crs = \"EPSG:xxxx\" in the project file")
    return gpd.GeoSeries(gpd.points_from_xy(x, y), crs=crs or "EPSG:4326")


def _check_swapped(frame: pd.DataFrame, series: gpd.GeoSeries, source: str, column: str) -> None:
    """A lon/lat pair outside China whose swap falls inside it was almost surely typed the wrong way round."""
    from .coords import out_of_china

    points = np.asarray(series.values)
    if not (shapely.get_type_id(points) == 0).all():  # point_on_surface costs a second per million points
        points = shapely.point_on_surface(points)
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    suspicious = out_of_china(lon, lat) & ~out_of_china(lat, lon) & (np.abs(lon) <= 90)
    if suspicious.any():
        i = int(np.flatnonzero(suspicious)[0])
        raise InputError(f"point ({lon[i]:g}, {lat[i]:g}) lies outside China, but swapped ({lat[i]:g}, {lon[i]:g}) "
                         "lies inside: longitude and latitude look swapped", file=source, row=spreadsheet_row(frame, i), column=column,
                         expected="longitude first (China: 73..135), latitude second (18..54)",
                         fix="swap the longitude and latitude columns (or the axis order of the export)")


# ---------------------------------------------------------------------------------------------------- buildings


def parse_levels(value, default: float) -> float:
    """OSM building:levels ("6", "5;6", "3.5", "") as a number of storeys; `default` where absent or unusable."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float(default)
    match = re.match(r"\s*(\d+(?:\.\d+)?)", str(value))
    if not match or float(match.group(1)) <= 0:
        return float(default)
    return float(match.group(1))


def footprint_area_m2(geometry: gpd.GeoSeries) -> np.ndarray:
    """Polygon areas in m², measured in the UTM zone of the layer (points have area 0)."""
    from .crs import metric_crs_for

    geometry = geometry.to_crs("EPSG:4326") if geometry.crs is not None else geometry.set_crs("EPSG:4326")
    if len(geometry) == 0:
        return np.zeros(0)
    centres = shapely.point_on_surface(np.asarray(geometry.values))
    metric = metric_crs_for(shapely.get_x(centres), shapely.get_y(centres), "utm")
    return geometry.to_crs(metric).area.to_numpy(dtype=np.float64)


def estimate_households_from_buildings(
    buildings_gdf: gpd.GeoDataFrame,
    dwelling_size_m2: float,
    default_levels: float,
    household_size: float,
    *,
    default_area_type: str = "existing",
) -> gpd.GeoDataFrame:
    """Residences from bare building outlines: footprint (m²) × storeys ÷ dwelling size, rounded half up to whole
    dwellings and at least one; population = households × household size. Storeys come from a `levels` or
    `building:levels` column, else `default_levels`. Extra columns footprint_m2, levels and levels_assumed (True where
    the default was used) show the working; a `building` column (the OSM building type) is kept."""
    for label, value in (("dwelling size", dwelling_size_m2), ("default levels", default_levels),
                         ("household size", household_size)):
        if not (np.isfinite(value) and value > 0):
            raise ConfigError(f"{label} {value} is not a positive number", expected="a positive number",
                              fix="check the profile")
    level_column = next((c for c in ("levels", "building:levels") if c in buildings_gdf.columns), None)
    tagged = np.array([parse_levels(v, np.nan) for v in buildings_gdf[level_column]], dtype=np.float64) \
        if level_column else np.full(len(buildings_gdf), np.nan)
    levels_assumed = np.isnan(tagged)
    levels = np.where(levels_assumed, float(default_levels), tagged)
    footprint = footprint_area_m2(buildings_gdf.geometry)
    households = np.maximum(1.0, np.floor(footprint * levels / dwelling_size_m2 + 0.5))
    if "osm_id" in buildings_gdf.columns:
        ids = [str(v) for v in buildings_gdf["osm_id"]]
    else:
        ids = [f"R{i + 1}" for i in range(len(buildings_gdf))]
    names = parse_names(buildings_gdf, "name" if "name" in buildings_gdf.columns else None)
    result = gpd.GeoDataFrame(
        {"res_id": ids, "name": names, "households": households, "population": households * household_size,
         "area_type": np.full(len(buildings_gdf), default_area_type, dtype=object),
         "footprint_m2": footprint, "levels": levels, "levels_assumed": levels_assumed},
        geometry=buildings_gdf.geometry.to_crs("EPSG:4326").reset_index(drop=True).values,
        crs="EPSG:4326",
    )
    extra = ["footprint_m2", "levels", "levels_assumed"]
    if "building" in buildings_gdf.columns:
        result["building"] = buildings_gdf["building"].astype(str).to_numpy()
        extra.insert(0, "building")
    return result[list(RESIDENCE_COLUMNS[:-1]) + extra + ["geometry"]]
