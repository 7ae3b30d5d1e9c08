"""Planner layers into the schema: every format gives the same frame as the hand-written CSV fixture, coordinates
agree with pyproj / siting.inputs.coords applied directly, and each validation error has its exact message."""
from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from openpyxl import Workbook

from siting.errors import ConfigError, InputError
from siting.inputs import coords
from siting.inputs.layers import (
    estimate_households_from_buildings,
    facilities_from_frame,
    read_facilities,
    read_residences,
    read_table,
    residences_from_frame,
)
from siting.inputs.schema import FACILITY_COLUMNS, RESIDENCE_COLUMNS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "layers"
RESIDENCES_CSV = FIXTURES / "residences_zh.csv"
FACILITIES_CSV = FIXTURES / "facilities_zh.csv"
HOUSEHOLD_SIZE = 2.62

# The fixture, typed out again: id, name, households, population, area type, lon, lat.
EXPECTED_RESIDENCES = [
    ("A1", "北邮家属院<b>一区</b>", 320.0, 320 * 2.62, "existing", 116.3510, 39.9610),  # population derived
    ("A2", "新建小区", 1310 / 2.62, 1310.0, "new", 116.3530, 39.9590),  # 1310 / 2.62 = 500 households
    ("A3", "学生公寓", 150.0, 400.0, "existing", 116.3500, 39.9620),  # blank 小区类型 -> default
]


def _raises(exc_type, func, *args, **kwargs) -> str:
    with pytest.raises(exc_type) as info:
        func(*args, **kwargs)
    return str(info.value)


def _check_residences(frame: gpd.GeoDataFrame) -> None:
    assert tuple(frame.columns) == RESIDENCE_COLUMNS
    assert frame.crs.to_epsg() == 4326
    assert frame["res_id"].tolist() == [r[0] for r in EXPECTED_RESIDENCES]
    assert frame["name"].tolist() == [r[1] for r in EXPECTED_RESIDENCES]
    np.testing.assert_allclose(frame["households"], [r[2] for r in EXPECTED_RESIDENCES])
    np.testing.assert_allclose(frame["population"], [r[3] for r in EXPECTED_RESIDENCES])
    assert frame["households"].iloc[1] == pytest.approx(500.0)
    assert frame["area_type"].tolist() == [r[4] for r in EXPECTED_RESIDENCES]
    np.testing.assert_allclose(shapely.get_x(frame.geometry.values), [r[5] for r in EXPECTED_RESIDENCES], atol=1e-9)
    np.testing.assert_allclose(shapely.get_y(frame.geometry.values), [r[6] for r in EXPECTED_RESIDENCES], atol=1e-9)


def _fixture_frame() -> pd.DataFrame:
    return pd.read_csv(RESIDENCES_CSV, dtype=str, keep_default_na=False, encoding="utf-8")


# ------------------------------------------------------------------------------------------------ formats


def test_chinese_csv_matches_hand_values():
    _check_residences(read_residences(RESIDENCES_CSV, household_size=HOUSEHOLD_SIZE))


def test_gbk_csv_is_detected_and_read_like_utf8(tmp_path, caplog):
    gbk = tmp_path / "gbk.csv"
    gbk.write_text(RESIDENCES_CSV.read_text(encoding="utf-8"), encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        gbk.read_bytes().decode("utf-8")  # the file really is not UTF-8
    with caplog.at_level(logging.WARNING, logger="siting.inputs.layers"):
        table = read_table(gbk)
        residences = read_residences(gbk, household_size=HOUSEHOLD_SIZE)
    assert table.attrs["encoding"] == "gbk"
    assert "read as GBK" in caplog.text
    _check_residences(residences)
    assert read_table(RESIDENCES_CSV).attrs["encoding"] == "utf-8-sig"


def test_explicit_encoding_is_used(tmp_path):
    path = tmp_path / "gb18030.csv"
    path.write_text(RESIDENCES_CSV.read_text(encoding="utf-8"), encoding="gb18030")
    assert read_table(path, encoding="gb18030").attrs["encoding"] == "gb18030"
    _check_residences(read_residences(path, household_size=HOUSEHOLD_SIZE, encoding="gb18030"))


def test_xlsx_matches_csv(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "小区"
    source = _fixture_frame()
    sheet.append(list(source.columns))
    for row in source.itertuples(index=False):
        # numbers as Excel stores them, blanks as empty cells
        sheet.append([None if v == "" else (float(v) if k >= 2 and k != 4 else v) for k, v in enumerate(row)])
        sheet.append([None] * len(row))  # blank separator rows are skipped
    path = tmp_path / "residences.xlsx"
    book.save(path)
    _check_residences(read_residences(path, household_size=HOUSEHOLD_SIZE, sheet="小区"))


@pytest.mark.parametrize("suffix,driver", [(".gpkg", "GPKG"), (".shp", "ESRI Shapefile"), (".geojson", "GeoJSON")])
def test_spatial_formats_match_csv(tmp_path, suffix, driver):
    source = _fixture_frame()
    frame = gpd.GeoDataFrame(
        {"id": source["编号"], "name": source["名称"],
         "households": pd.to_numeric(source["户数"]), "population": pd.to_numeric(source["人口"]),
         "area_type": source["小区类型"]},
        geometry=gpd.points_from_xy(source["经度"].astype(float), source["纬度"].astype(float)), crs="EPSG:4326",
    )
    path = tmp_path / f"residences{suffix}"
    frame.to_file(path, driver=driver, engine="pyogrio")
    _check_residences(read_residences(path, household_size=HOUSEHOLD_SIZE))


def test_projected_spatial_layer_is_reprojected(tmp_path):
    lon, lat = 116.3510, 39.9610
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(lon, lat)
    square = shapely.box(x - 10, y - 10, x + 10, y + 10)
    path = tmp_path / "utm.gpkg"
    gpd.GeoDataFrame({"households": [40]}, geometry=[square], crs="EPSG:32650").to_file(path)
    frame = read_residences(path, household_size=HOUSEHOLD_SIZE)
    assert frame.geom_type.tolist() == ["Polygon"]  # polygons are kept
    centre = frame.geometry.iloc[0].centroid
    assert centre.x == pytest.approx(lon, abs=1e-6) and centre.y == pytest.approx(lat, abs=1e-6)
    assert frame["res_id"].tolist() == ["R1"]


def test_xy_in_cgcs2000_gk_cm117_match_pyproj(tmp_path):
    lon = np.array([116.3510, 116.3530, 116.3500])
    lat = np.array([39.9610, 39.9590, 39.9620])
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True).transform(lon, lat)
    assert np.all(x > 300_000) and np.all(x < 700_000)  # eastings near the CM117 false easting of 500 km
    path = tmp_path / "xy.csv"
    pd.DataFrame({"id": ["A1", "A2", "A3"], "户数": [1, 2, 3], "x": x, "y": y}).to_csv(path, index=False)
    frame = read_residences(path, household_size=HOUSEHOLD_SIZE, crs="EPSG:4548")
    back_lon, back_lat = pyproj.Transformer.from_crs("EPSG:4548", "EPSG:4326", always_xy=True).transform(x, y)
    np.testing.assert_allclose(shapely.get_x(frame.geometry.values), back_lon, atol=1e-12)
    np.testing.assert_allclose(shapely.get_y(frame.geometry.values), back_lat, atol=1e-12)
    np.testing.assert_allclose(back_lon, lon, atol=1e-8)


@pytest.mark.parametrize("system,inverse", [("gcj02", coords.gcj02_to_wgs84), ("bd09", coords.bd09_to_wgs84)])
def test_web_map_coordinates_are_converted_with_siting_coords(tmp_path, system, inverse):
    path = tmp_path / f"{system}.csv"
    text = FACILITIES_CSV.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    frame = read_facilities(path, coords=system)
    lon = np.array([116.3520, 116.3528])
    lat = np.array([39.9600, 39.9581])
    want_lon, want_lat = inverse(lon, lat)
    np.testing.assert_allclose(shapely.get_x(frame.geometry.values), want_lon, atol=1e-12)
    np.testing.assert_allclose(shapely.get_y(frame.geometry.values), want_lat, atol=1e-12)
    assert np.all(np.abs(want_lon - lon) > 1e-3)  # the shift is hundreds of metres, so really applied


def test_facilities_kinds_capacities_and_generated_ids(caplog):
    with caplog.at_level(logging.INFO, logger="siting.inputs.columns"):
        frame = read_facilities(FACILITIES_CSV)
    assert tuple(frame.columns) == FACILITY_COLUMNS
    assert frame["fac_id"].tolist() == ["F1", "F2"]
    assert "no id column; ids F1..F2 generated" in caplog.text
    assert frame["kind"].tolist() == ["elderly_day_care", "nursery"]
    assert frame["floor_area_m2"].iloc[0] == 350.0  # header 建筑面积（㎡） with full-width brackets
    assert np.isnan(frame["floor_area_m2"].iloc[1])
    assert frame["seats"].iloc[1] == 60.0
    assert frame["places"].isna().all()


def test_kind_for_whole_file_and_label_keywords():
    frame = pd.DataFrame({"类型": ["社区日间照料中心", "普惠托育中心", "Kindergarten"], "lon": [116.35] * 3,
                          "lat": [39.96] * 3})
    got = facilities_from_frame(frame, source="memory")
    assert got["kind"].tolist() == ["elderly_day_care", "nursery", "nursery"]
    whole = facilities_from_frame(frame.drop(columns="类型"), source="memory", kind="托育")
    assert whole["kind"].tolist() == ["nursery"] * 3


def test_column_mapping_overrides_aliases():
    frame = pd.DataFrame({"住宅户": ["10"], "常住": ["30"], "E": ["116.35"], "N": ["39.96"]})
    got = residences_from_frame(frame, source="memory", household_size=2.5,
                                columns={"households": "住宅户", "population": "常住", "lon": "E", "lat": "N"})
    assert got["households"].tolist() == [10.0] and got["population"].tolist() == [30.0]
    message = _raises(InputError, residences_from_frame, frame, source="memory", household_size=2.5,
                      columns={"households": "户数"})
    assert message == ("memory, column '户数': column '户数' (mapped to households) is not in the file; "
                       "found: 住宅户, 常住, E, N. Fix: correct the column mapping in the project file")


# ------------------------------------------------------------------------------------------------ estimate


def test_estimate_households_from_buildings_hand_calculation():
    to_wgs = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    x0, y0 = 448_000.0, 4_423_000.0  # Haidian, Beijing, in UTM 50N

    def rectangle(dx: float, dy: float, width: float, height: float) -> shapely.Polygon:
        xs = np.array([0, width, width, 0]) + x0 + dx
        ys = np.array([0, 0, height, height]) + y0 + dy
        return shapely.Polygon(np.column_stack(to_wgs.transform(xs, ys)))

    buildings = gpd.GeoDataFrame(
        {"osm_id": ["way/1", "way/2", "way/3", "way/4"], "levels": ["6", "", "5;6", "1"],
         "name": ["一号楼", "", "", ""]},
        geometry=[rectangle(0, 0, 30, 20), rectangle(100, 0, 30, 20), rectangle(200, 0, 10, 9),
                  rectangle(300, 0, 5, 5)],
        crs="EPSG:4326",
    )
    got = estimate_households_from_buildings(buildings, dwelling_size_m2=90.0, default_levels=3.0, household_size=2.62)
    # 30 m x 20 m = 600 m²: 600 x 6 / 90 = 40; default 3 storeys: 600 x 3 / 90 = 20;
    # 10 x 9 = 90 m², "5;6" -> 5 storeys: 450 / 90 = 5; 5 x 5 = 25 m² x 1 / 90 = 0.28 -> at least 1
    np.testing.assert_allclose(got["footprint_m2"], [600.0, 600.0, 90.0, 25.0], rtol=2e-3)
    assert got["levels"].tolist() == [6.0, 3.0, 5.0, 1.0]
    assert got["households"].tolist() == [40.0, 20.0, 5.0, 1.0]
    np.testing.assert_allclose(got["population"], [40 * 2.62, 20 * 2.62, 5 * 2.62, 2.62])
    assert got["res_id"].tolist() == ["way/1", "way/2", "way/3", "way/4"]
    assert got["name"].tolist() == ["一号楼", "", "", ""]
    assert got.crs.to_epsg() == 4326


# ------------------------------------------------------------------------------------------------ validation

HEADER = "编号,名称,户数,人口,经度,纬度\n"


def _residence_error(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return _raises(InputError, read_residences, path, household_size=HOUSEHOLD_SIZE).replace(str(tmp_path) + "/", "")


def test_empty_file_and_header_only(tmp_path):
    assert _residence_error(tmp_path, "e.csv", "") == \
        "e.csv: the file is empty. Expected a header row and at least one data row"
    assert _residence_error(tmp_path, "h.csv", HEADER) == \
        "h.csv: the file has no data rows. Expected a header row and at least one data row"


def test_missing_required_column_lists_found_and_aliases(tmp_path):
    assert _residence_error(tmp_path, "m.csv", "编号,名称,经度,纬度\nA1,x,116.35,39.96\n") == (
        "m.csv, column 'households': no 'households' or 'population' column; found: 编号, 名称, 经度, 纬度. "
        "Expected a column named one of (households: households, hh, 户数, 住户数, 总户数; "
        "population: population, pop, 人口, 人口数, 常住人口). "
        "Fix: rename the column, or map it in the project file: columns = { households = \"…\" }")


def test_not_a_number(tmp_path):
    assert _residence_error(tmp_path, "n.csv", HEADER + "A1,x,abc,,116.35,39.96\n") == (
        "n.csv, row 2, column '户数': 'abc' is not a number. Expected a number (digits only, no units). "
        "Fix: correct the cell or leave it blank")


def test_negative_households(tmp_path):
    assert _residence_error(tmp_path, "n.csv", HEADER + "A1,x,10,,116.35,39.96\nA2,y,-5,,116.35,39.96\n") == (
        "n.csv, row 3, column '户数': households is negative (-5). Expected zero or a positive number. "
        "Fix: correct the cell")


def test_absurd_households_names_the_bound_and_the_column_it_came_from(tmp_path):
    assert _residence_error(tmp_path, "b.csv", HEADER + "A1,x,25000,,116.35,39.96\n") == (
        "b.csv, row 2, column '户数': 25,000 households in one row is more than the plausible 20,000. "
        "Expected at most 20,000 households per row (one building or compound). "
        "Fix: check for a typing error (extra digits) or split the district into compounds")
    # derived from population: 80,000 / 2.62 = 30,534 households, blamed on 人口
    assert _residence_error(tmp_path, "p.csv", HEADER + "A1,x,,80000,116.35,39.96\n").startswith(
        "p.csv, row 2, column '人口': 30,534 households in one row is more than the plausible 20,000.")


def test_both_households_and_population_missing(tmp_path):
    assert _residence_error(tmp_path, "m.csv", HEADER + "A1,x,10,,116.35,39.96\nA2,y,,,116.35,39.96\n") == (
        "m.csv, row 3, column '户数': households and population are both blank. "
        "Expected a number of households (户数) or residents (人口) in every row. "
        "Fix: fill in either figure; the other is derived with the household size")


def test_duplicate_ids_name_both_rows(tmp_path):
    text = HEADER + "A1,x,10,,116.35,39.96\nA2,y,10,,116.35,39.96\nA1,z,10,,116.35,39.96\n"
    assert _residence_error(tmp_path, "d.csv", text) == (
        "d.csv, row 4, column '编号': id 'A1' appears twice, in rows 2 and 4. Expected unique ids. "
        "Fix: give one of the two rows another id")


def test_swapped_latitude_out_of_range(tmp_path):
    assert _residence_error(tmp_path, "s.csv", HEADER + "A1,x,10,,39.96,116.35\n") == (
        "s.csv, row 2, column '纬度': latitude 116.35 is outside -90..90 — the longitude and latitude columns look "
        "swapped. Expected latitude in degrees (China: about 18..54). Fix: swap the longitude and latitude columns")


def test_swap_that_falls_in_china(tmp_path):
    assert _residence_error(tmp_path, "s.csv", HEADER + "A1,x,10,,40.0,80.0\n") == (
        "s.csv, row 2, column '经度/纬度': point (40, 80) lies outside China, but swapped (80, 40) lies inside: "
        "longitude and latitude look swapped. Expected longitude first (China: 73..135), latitude second (18..54). "
        "Fix: swap the longitude and latitude columns (or the axis order of the export)")


def test_csv_without_coordinates(tmp_path):
    assert _residence_error(tmp_path, "c.csv", "编号,名称,户数\nA1,x,10\n") == (
        "c.csv, column 'lon': no 'lon' or 'lat' column; found: 编号, 名称, 户数. "
        "Expected a column named one of (lon: lon, lng, long, longitude, x, 经度; lat: lat, latitude, y, 纬度). "
        "Fix: add longitude/latitude columns (经度, 纬度), or x/y columns and crs = \"EPSG:xxxx\", "
        "or use a GeoPackage/Shapefile/GeoJSON with geometry")


def test_undecodable_bytes_name_the_first_bad_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes("编号,户数,经度,纬度\n".encode() + b"A1,10,116.35,39.96\nA2\xff\xfe,10,116.35,39.96\n")
    assert _raises(InputError, read_table, path).replace(str(tmp_path) + "/", "") == (
        "bad.csv, row 3: bytes cannot be decoded as UTF-8 (first bad row 3) nor as GBK/GB18030 (first bad row 3). "
        "Expected text saved as UTF-8 or GBK. Fix: open the file in Excel or WPS and save it as 'CSV UTF-8', "
        "or give encoding = \"...\" in the project file")


def _geojson_error(tmp_path: Path, geometries: list) -> str:
    path = tmp_path / "g.geojson"
    gpd.GeoDataFrame({"id": ["A1", "A2"], "households": [1, 2]}, geometry=geometries, crs="EPSG:4326").to_file(path)
    return _raises(InputError, read_residences, path, household_size=HOUSEHOLD_SIZE).replace(str(tmp_path) + "/", "")


def test_self_intersecting_polygon(tmp_path):
    bowtie = shapely.Polygon([(116.35, 39.96), (116.36, 39.97), (116.36, 39.96), (116.35, 39.97)])
    assert shapely.make_valid(bowtie).is_valid  # fixable, but reported rather than silently changed
    assert _geojson_error(tmp_path, [shapely.Point(116.35, 39.96), bowtie]) == (
        "g.geojson, row 3, column 'geometry': invalid polygon (Self-intersection[116.355 39.965]). "
        "Expected a polygon whose outline does not cross itself. "
        "Fix: repair it in QGIS (Vector > Geometry Tools > Fix Geometries, i.e. make_valid) and reload")


def test_empty_geometry(tmp_path):
    assert _geojson_error(tmp_path, [shapely.Point(116.35, 39.96), shapely.Polygon()]) == (
        "g.geojson, row 3, column 'geometry': empty geometry. Expected a point or polygon. "
        "Fix: draw the feature or delete the row")


def test_mixed_points_and_lines(tmp_path):
    line = shapely.LineString([(116.35, 39.96), (116.36, 39.97)])
    assert _geojson_error(tmp_path, [shapely.Point(116.35, 39.96), line]) == (
        "g.geojson, row 3, column 'geometry': geometry type LineString cannot be used (types in the layer: "
        "LineString, Point). Expected points or polygons only. "
        "Fix: keep only points (entrances) or polygons (building/compound outlines) in this layer")


def test_facility_errors(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("名称,设施类型,经度,纬度\nx,日间照料,116.35,39.96\ny,医院,116.35,39.96\n", encoding="utf-8")
    assert _raises(InputError, read_facilities, path).replace(str(tmp_path) + "/", "") == (
        "f.csv, row 3, column '设施类型': facility type '医院' is not recognised. "
        "Expected 日间照料/养老/elderly for elderly day care, 托育/托儿所/幼儿园/nursery for nurseries. "
        "Fix: use one of those values, or give kind for the whole file in the project file")
    frame = pd.DataFrame({"名称": ["x"], "经度": [116.35], "纬度": [39.96]})
    assert _raises(InputError, facilities_from_frame, frame, source="postgresql table public.fac") == (
        "postgresql table public.fac, column 'kind': no 'kind' column; found: 名称, 经度, 纬度. "
        "Expected a column named one of (kind: kind, 类型, 设施类型). Fix: add a 类型 column (values such as "
        "日间照料 or 托育) or set kind = \"elderly_day_care\" or \"nursery\" for this file in the project file")
    assert "unknown facility kind 'hospital'" in _raises(ConfigError, facilities_from_frame, frame, source="m",
                                                         kind="hospital")


def test_generated_residence_ids_are_logged(caplog):
    frame = pd.DataFrame({"户数": [5, 6], "经度": [116.35, 116.36], "纬度": [39.96, 39.97]})
    with caplog.at_level(logging.INFO, logger="siting.inputs.columns"):
        got = residences_from_frame(frame, source="scenario additions", household_size=3.0)
    assert got["res_id"].tolist() == ["R1", "R2"]
    assert "scenario additions: no id column; ids R1..R2 generated in row order" in caplog.text
    assert got["population"].tolist() == [15.0, 18.0]


def test_blank_separator_rows_are_skipped_but_rows_keep_their_numbers(tmp_path):
    text = HEADER + "A1,x,10,,116.35,39.96\n,,,,,\n\nA2,y,abc,,116.35,39.96\n"
    # header = 1, A1 = 2, separator = 3, empty line = 4, A2 = 5
    assert _residence_error(tmp_path, "b.csv", text).startswith("b.csv, row 5, column '户数': 'abc' is not a number")
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + "A1,x,10,,116.35,39.96\n,,,,,\nA2,y,20,,116.35,39.96\n\n", encoding="utf-8")
    assert read_residences(path, household_size=2.0)["households"].tolist() == [10.0, 20.0]
