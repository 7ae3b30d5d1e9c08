"""Bad input, end to end as a planner meets it: a small study area (an OSM XML street grid in Beijing, residences
and facilities tables, a project file) is written into a scratch folder, one thing is broken, and `siting run` is
invoked through the CLI. Each case asserts

* the exact one-line message the planner reads (file, row, column, what was expected, how to fix it), no traceback,
  exit code 2;
* that nothing was written: the output folder still holds the previous run's files byte for byte (or stays empty on
  a first run), and no input file was modified (every file of the folder is compared before and after).

Figures inside messages (distances, medians, coordinates) are recomputed here another way: shapely distances in the
UTM zone, pyproj transforms, or hand arithmetic in comments.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from click.testing import CliRunner

from siting.cli import main

# ---------------------------------------------------------------------------------------------------- the study area

#: Street grid: 5 x 5 nodes 0.0047° (≈ 400 m) east-west and 0.0036° (≈ 400 m) north-south apart, south-west corner at
#: lon 116.3400, lat 39.9500 (Haidian, Beijing). Streets this far apart keep an undeclared GCJ-02 shift (≈ 520 m east,
#: 145 m north here) well away from every street, so the offset check has something to see.
LON0, LAT0, DLON, DLAT, N = 116.34, 39.95, 0.0047, 0.0036, 5
GRID_LON = [round(LON0 + i * DLON, 7) for i in range(N)]
GRID_LAT = [round(LAT0 + j * DLAT, 7) for j in range(N)]

#: Residences: id, name, households, area type, lon, lat; each a few metres off a street (on a grid line).
RESIDENCES = [
    ("R1", "北区一号院", 120, "既有", GRID_LON[0] + 0.0010, GRID_LAT[0] + 0.00003),
    ("R2", "北区二号院", 80, "既有", GRID_LON[1] + 0.00004, GRID_LAT[1] + 0.0012),
    ("R3", "新建小区", 300, "新建", GRID_LON[2] + 0.0020, GRID_LAT[2] - 0.00002),
    ("R4", "学府家园", 150, "既有", GRID_LON[3] - 0.00003, GRID_LAT[3] + 0.0020),
    ("R5", "花园小区", 60, "既有", GRID_LON[4] - 0.0015, GRID_LAT[4] + 0.00004),
    ("R6", "东区宿舍", 90, "既有", GRID_LON[2] + 0.00002, GRID_LAT[4] - 0.0010),
]
RES_HEADER = "编号,名称,户数,小区类型,经度,纬度\n"
FAC_HEADER = "编号,名称,类型,建筑面积,托位,经度,纬度\n"
FACILITIES = [
    ("E1", "社区日间照料站", "日间照料", "350", "", GRID_LON[2], GRID_LAT[2]),
    ("N1", "普惠托育园", "托育", "", "40", GRID_LON[1], GRID_LAT[3]),
]

PROJECT = """\
[project]
name = "bad inputs"
profile = "national"
output = "out"
map = "out/map.html"
thresholds_min = [5, 10, 15]
max_snap_m = 300

[network]
path = "streets.osm"
cache = false

[residences]
path = "residences.csv"

[[facilities]]
path = "facilities.csv"
"""


def osm_xml(ways: list[tuple[list[tuple[float, float]], dict[str, str]]]) -> str:
    """An OSM XML file with the given ways (node coordinates, tags); nodes at the same coordinates are shared."""
    ids: dict[tuple[float, float], int] = {}
    node_lines, way_lines = [], []
    for w, (points, tags) in enumerate(ways):
        refs = []
        for lon, lat in points:
            if (lon, lat) not in ids:
                ids[(lon, lat)] = len(ids) + 1
                node_lines.append(f'  <node id="{ids[(lon, lat)]}" version="1" lat="{lat}" lon="{lon}"/>')
            refs.append(f'    <nd ref="{ids[(lon, lat)]}"/>')
        tag_lines = [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        way_lines.append(f'  <way id="{1000 + w}" version="1">\n' + "\n".join(refs + tag_lines) + "\n  </way>")
    return ("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"siting tests\">\n"
            + "\n".join(node_lines + way_lines) + "\n</osm>\n")


def grid_ways(highway: str = "residential") -> list:
    rows = [([(lon, lat) for lon in GRID_LON], {"highway": highway, "name": f"纬{j}路"}) for j, lat in enumerate(GRID_LAT)]
    cols = [([(lon, lat) for lat in GRID_LAT], {"highway": "footway"}) for lon in GRID_LON]
    return rows + cols


def csv_text(header: str, rows) -> str:
    return header + "".join(",".join(str(c) for c in row) + "\n" for row in rows)


def write_study_area(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "streets.osm").write_text(osm_xml(grid_ways()), encoding="utf-8")
    (folder / "residences.csv").write_text(csv_text(RES_HEADER, RESIDENCES), encoding="utf-8")
    (folder / "facilities.csv").write_text(csv_text(FAC_HEADER, FACILITIES), encoding="utf-8")
    (folder / "project.toml").write_text(PROJECT, encoding="utf-8")
    return folder / "project.toml"


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file below `folder` (hidden and temporary files included)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def good_area(tmp_path_factory) -> Path:
    """The study area after one successful run: out/ holds the results a failed run must leave alone."""
    folder = tmp_path_factory.mktemp("area")
    project = write_study_area(folder)
    result = run_cli("run", str(project))
    assert result.exit_code == 0, result.output
    assert (folder / "out" / "residences.csv").exists()
    return folder


@pytest.fixture()
def area(good_area, tmp_path) -> Path:
    """A private copy of the study area (with the previous results in out/)."""
    folder = tmp_path / "area"
    shutil.copytree(good_area, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def fails_cleanly(folder: Path, *, fresh: bool = False, project: str = "project.toml") -> str:
    """Run `siting run` on the broken folder; assert exit 2, one clean message and nothing written or changed.
    Returns the message with the folder prefix removed. `fresh`: without previous results (a first run)."""
    if fresh:
        shutil.rmtree(folder / "out", ignore_errors=True)
    before = snapshot(folder)
    result = run_cli("run", str(folder / project))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # sys.exit(2), not a crash
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert result.stdout == ""  # no summary printed for a failed run
    assert snapshot(folder) == before, "a failed run wrote or changed files"
    if fresh:
        assert not (folder / "out").exists() or not [p for p in (folder / "out").rglob("*") if p.is_file()]
    return last[len("error: "):].replace(str(folder.resolve()) + "/", "").replace(str(folder) + "/", "")


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def residences_with(*rows) -> str:
    """The residences table with its first row kept and `rows` appended (so the bad row is spreadsheet row 3)."""
    return csv_text(RES_HEADER, [RESIDENCES[0], *rows])


def facilities_with(*rows) -> str:
    return csv_text(FAC_HEADER, [FACILITIES[0], *rows])


def layer_setting(folder: Path, setting: str, layer: str = "residences.csv") -> None:
    """Add `setting` (a TOML line) to the block of the layer read from `layer`."""
    edit(folder / "project.toml", f'path = "{layer}"', f'path = "{layer}"\n{setting}')


def own_profile(folder: Path, text: str) -> None:
    write(folder, "my_profile.toml", text)
    edit(folder / "project.toml", 'profile = "national"', 'profile = "my_profile.toml"')


def _xlsx_with_sheet(folder: Path) -> None:
    pd.read_csv(folder / "residences.csv", dtype=str).to_excel(folder / "residences.xlsx", index=False, sheet_name="小区")
    edit(folder / "project.toml", 'path = "residences.csv"', 'path = "residences.xlsx"\nsheet = "住宅"')


def _spatial(folder: Path, name: str, geometries: list) -> None:
    gpd.GeoDataFrame({"编号": ["A1", "A2"], "户数": [10, 20]}, geometry=geometries, crs="EPSG:4326").to_file(folder / name)
    edit(folder / "project.toml", 'path = "residences.csv"', f'path = "{name}"')


POINT = shapely.Point(GRID_LON[1], GRID_LAT[1])
BOWTIE = shapely.Polygon([(116.345, 39.955), (116.346, 39.956), (116.346, 39.955), (116.345, 39.956)])
MISSING_HH = csv_text("编号,名称,小区类型,经度,纬度\n", [r[:2] + r[3:] for r in RESIDENCES])
ALIASES_HH = ("households: households, hh, 户数, 住户数, 总户数; population: population, pop, 人口, 人口数, 常住人口")
RANGE_PROFILE = 'title = "mine"\ninherits = "national"\n[figures.walk_speed_m_per_min]\nvalue = 0\nunit = "m/min"\n'

#: (case, how the study area is broken, the exact message). Row numbers are spreadsheet rows: header = 1, the kept
#: first residence = 2, the appended bad row = 3.
CASES = [
    ("empty residences file", lambda f: write(f, "residences.csv", ""),
     "residences.csv: the file is empty. Expected a header row and at least one data row"),
    ("header row only", lambda f: write(f, "residences.csv", RES_HEADER),
     "residences.csv: the file has no data rows. Expected a header row and at least one data row"),
    ("no households column", lambda f: write(f, "residences.csv", MISSING_HH),
     "residences.csv, column 'households': no 'households' or 'population' column; found: 编号, 名称, 小区类型, 经度, "
     f"纬度. Expected a column named one of ({ALIASES_HH}). "
     "Fix: rename the column, or map it in the project file: columns = { households = \"…\" }"),
    ("no coordinate columns", lambda f: write(f, "residences.csv", "编号,户数\nA1,10\n"),
     "residences.csv, column 'lon': no 'lon' or 'lat' column; found: 编号, 户数. Expected a column named one of "
     "(lon: lon, lng, long, longitude, x, 经度; lat: lat, latitude, y, 纬度). Fix: add longitude/latitude columns "
     "(经度, 纬度), or x/y columns and crs = \"EPSG:xxxx\", or use a GeoPackage/Shapefile/GeoJSON with geometry"),
    ("GBK file declared as UTF-8", lambda f: ((f / "residences.csv").write_bytes(
        csv_text(RES_HEADER, RESIDENCES).encode("gbk")), layer_setting(f, 'encoding = "utf-8"')),
     # the header 编号 is already GBK bytes, so the first undecodable byte is in row 1
     "residences.csv, row 1: bytes cannot be decoded as utf-8 (it decodes as GBK). Expected a file saved as utf-8. "
     "Fix: remove the encoding setting to let siting detect UTF-8 or GBK"),
    ("UTF-16 'Unicode Text' export", lambda f: (f / "residences.csv").write_bytes(
        csv_text(RES_HEADER, RESIDENCES).encode("utf-16")),
     "residences.csv: the file is saved as UTF-16 (Excel's 'Unicode Text'), not as CSV. Expected a CSV file saved as "
     "UTF-8 or GBK. Fix: open it in Excel or WPS and save it as 'CSV UTF-8 (comma delimited)'"),
    ("bytes neither UTF-8 nor GBK", lambda f: (f / "residences.csv").write_bytes(
        csv_text(RES_HEADER, RESIDENCES[:1]).encode() + b"R2,\xff\xfe,5,,116.35,39.96\n"),
     # UTF-8 fails at the \xff of row 3; read as GB18030 the UTF-8 bytes of 北区一号院 in row 2 already fail
     "residences.csv, row 3: bytes cannot be decoded as UTF-8 (first bad row 3) nor as GBK/GB18030 (first bad row 2). "
     "Expected text saved as UTF-8 or GBK. Fix: open the file in Excel or WPS and save it as 'CSV UTF-8', or give "
     "encoding = \"...\" in the project file"),
    ("ragged CSV row", lambda f: write(f, "residences.csv", residences_with(("R2", "a,b", 5, "既有", 116.35, 39.96))),
     "residences.csv, row 3: the CSV cannot be parsed (Error tokenizing data. C error: Expected 6 fields in line 3, "
     "saw 7). Expected the same number of comma-separated cells in every row. Fix: quote cells that contain commas, "
     "or re-export the sheet as CSV"),
    ("latitude and longitude swapped", lambda f: write(f, "residences.csv", csv_text(
        "编号,名称,户数,小区类型,纬度,经度\n", RESIDENCES)),
     # R1's longitude 116.341 now sits in the 纬度 column: |116.341| > 90 but |39.95003| <= 90
     "residences.csv, row 2, column '纬度': latitude 116.341 is outside -90..90 — the longitude and latitude columns "
     "look swapped. Expected latitude in degrees (China: about 18..54). Fix: swap the longitude and latitude columns"),
    ("longitude out of range", lambda f: write(f, "residences.csv", residences_with(("R2", "x", 5, "既有", 200, 39.96))),
     "residences.csv, row 3, column '经度': longitude 200 is outside -180..180. Expected longitude in degrees "
     "(China: about 73..135). Fix: for projected x/y give crs = \"EPSG:xxxx\" in the project file"),
    ("blank coordinate", lambda f: write(f, "residences.csv", residences_with(("R2", "x", 5, "既有", "", 39.96))),
     "residences.csv, row 3, column '经度': blank coordinate. Expected a coordinate in every row. "
     "Fix: fill it in or delete the row"),
    ("households with a unit", lambda f: write(f, "residences.csv", residences_with(("R2", "x", "12户", "既有", 116.35, 39.96))),
     "residences.csv, row 3, column '户数': '12户' is not a number. Expected a number (digits only, no units). "
     "Fix: correct the cell or leave it blank"),
    ("households NaN", lambda f: write(f, "residences.csv", residences_with(("R2", "x", "NaN", "既有", 116.35, 39.96))),
     "residences.csv, row 3, column '户数': 'NaN' is not a number. Expected a number (digits only, no units). "
     "Fix: correct the cell or leave it blank"),
    ("negative households", lambda f: write(f, "residences.csv", residences_with(("R2", "x", -5, "既有", 116.35, 39.96))),
     "residences.csv, row 3, column '户数': households is negative (-5). Expected zero or a positive number. "
     "Fix: correct the cell"),
    ("absurd households", lambda f: write(f, "residences.csv", residences_with(("R2", "x", 250000, "既有", 116.35, 39.96))),
     "residences.csv, row 3, column '户数': 250,000 households in one row is more than the plausible 20,000. "
     "Expected at most 20,000 households per row (one building or compound). "
     "Fix: check for a typing error (extra digits) or split the district into compounds"),
    ("duplicate residence id", lambda f: write(f, "residences.csv", residences_with(("R1", "x", 5, "既有", 116.35, 39.96))),
     "residences.csv, row 3, column '编号': id 'R1' appears twice, in rows 2 and 3. Expected unique ids. "
     "Fix: give one of the two rows another id"),
    ("blank residence id", lambda f: write(f, "residences.csv", residences_with(("", "x", 5, "既有", 116.35, 39.96))),
     "residences.csv, row 3, column '编号': blank id. Expected a unique id in every row. "
     "Fix: fill in the id, or delete the id column to have ids generated"),
    ("unknown area type", lambda f: write(f, "residences.csv", residences_with(("R2", "x", 5, "半新", 116.35, 39.96))),
     "residences.csv, row 3, column '小区类型': area type '半新' is not recognised. Expected 新建/新/new for new "
     "districts, 既有/老旧/老城区/已建成/old/existing for existing ones. "
     "Fix: use one of those values, or leave blank for the default 'existing'"),
    ("self-intersecting polygon (GeoJSON)", lambda f: _spatial(f, "homes.geojson", [POINT, BOWTIE]),
     "homes.geojson, row 3, column 'geometry': invalid polygon (Self-intersection[116.3455 39.9555]). "
     "Expected a polygon whose outline does not cross itself. "
     "Fix: repair it in QGIS (Vector > Geometry Tools > Fix Geometries, i.e. make_valid) and reload"),
    ("empty geometry (GeoPackage)", lambda f: _spatial(f, "homes.gpkg", [POINT, shapely.Polygon()]),
     "homes.gpkg, row 3, column 'geometry': empty geometry. Expected a point or polygon. "
     "Fix: draw the feature or delete the row"),
    ("points mixed with lines (GeoJSON)", lambda f: _spatial(
        f, "homes.geojson", [POINT, shapely.LineString([(116.345, 39.955), (116.346, 39.956)])]),
     "homes.geojson, row 3, column 'geometry': geometry type LineString cannot be used (types in the layer: "
     "LineString, Point). Expected points or polygons only. "
     "Fix: keep only points (entrances) or polygons (building/compound outlines) in this layer"),
    ("GeoPackage layer name wrong", lambda f: (_spatial(f, "homes.gpkg", [POINT, POINT]),
                                              layer_setting(f, 'layer = "houses"', "homes.gpkg")),
     "homes.gpkg: cannot read the spatial file (Layer 'houses' could not be opened). Expected a GeoPackage, "
     "Shapefile or GeoJSON readable by GDAL. Fix: check the `layer` name and that all parts of a Shapefile "
     "(.shp .shx .dbf .prj) are present"),
    ("xlsx sheet missing", _xlsx_with_sheet,
     "residences.xlsx: the workbook has no sheet '住宅'; its sheets are: 小区. Expected the name of one of those "
     "sheets. Fix: correct `sheet` for this layer in the project file"),
    ("old .xls workbook", lambda f: ((f / "homes.xls").write_bytes(b"\xd0\xcf\x11\xe0"),
                                     edit(f / "project.toml", '"residences.csv"', '"homes.xls"')),
     "homes.xls: old Excel .xls files are not read. Expected an .xlsx workbook or a CSV file. "
     "Fix: open it in Excel or WPS and save it as .xlsx"),
    ("wrong file extension", lambda f: ((f / "homes.docx").write_bytes(b"PK"),
                                        edit(f / "project.toml", '"residences.csv"', '"homes.docx"')),
     "homes.docx: unknown file type. Expected CSV, Excel .xlsx, GeoPackage .gpkg, Shapefile .shp or GeoJSON .geojson"),
    ("residences path is a folder", lambda f: ((f / "homes.csv").mkdir(),
                                               edit(f / "project.toml", '"residences.csv"', '"homes.csv"')),
     "homes.csv: this is a folder, not a file. Expected a CSV, Excel, GeoPackage, Shapefile or GeoJSON file. "
     "Fix: give the path of the file inside the folder in the project file"),
    ("residences file not found", lambda f: edit(f / "project.toml", '"residences.csv"', '"residence.csv"'),
     "residence.csv: file not found. Fix: check the path in the project file"),
    ("column mapping names a missing column", lambda f: layer_setting(f, 'columns = { households = "总户数" }'),
     "residences.csv, column '总户数': column '总户数' (mapped to households) is not in the file; found: 编号, 名称, "
     "户数, 小区类型, 经度, 纬度. Fix: correct the column mapping in the project file"),
    ("unknown coordinate system name", lambda f: layer_setting(f, 'coords = "gcj"'),
     "residences.csv: unknown coordinate system 'gcj'. Expected one of amap, baidu, bd-09, bd09, cgcs2000, "
     "epsg:4326, epsg:4490, gaode, gcj-02, gcj02, gps, tencent, wgs84. Fix: say which map the coordinates were "
     "copied from: Amap/Tencent = gcj02, Baidu = bd09, GPS/OpenStreetMap/天地图 = wgs84 or cgcs2000"),
    ("unknown facility type", lambda f: write(f, "facilities.csv", facilities_with(("N1", "x", "医院", "", 40, 116.35, 39.96))),
     "facilities.csv, row 3, column '类型': facility type '医院' is not recognised. Expected 日间照料/养老/elderly for "
     "elderly day care, 托育/托儿所/幼儿园/nursery for nurseries. "
     "Fix: use one of those values, or give kind for the whole file in the project file"),
    ("negative floor area", lambda f: write(f, "facilities.csv", facilities_with(("E2", "x", "日间照料", -20, "", 116.35, 39.96))),
     "facilities.csv, row 3, column '建筑面积': floor_area_m2 is negative (-20). Expected zero or a positive number. "
     "Fix: correct the cell"),
    ("negative seats", lambda f: write(f, "facilities.csv", facilities_with(("N1", "x", "托育", "", -40, 116.35, 39.96))),
     "facilities.csv, row 3, column '托位': seats is negative (-40). Expected zero or a positive number. "
     "Fix: correct the cell"),
    ("facility ids repeat across files", lambda f: (
        write(f, "more.csv", csv_text(FAC_HEADER, FACILITIES[:1])),
        edit(f / "project.toml", 'path = "facilities.csv"', 'path = "facilities.csv"\n\n[[facilities]]\npath = "more.csv"')),
     "project.toml: facility ids repeat across the facility files facilities.csv, more.csv: E1. Expected ids unique "
     "over all [[facilities]] files. Fix: give every facility a unique id (编号), e.g. a prefix per file"),
    ("network without walkable ways", lambda f: write(f, "streets.osm", osm_xml(
        [(points, {"highway": "motorway"}) for points, _ in grid_ways()])),
     "streets.osm: no walkable ways in the file (10 ways have a highway tag, none of them walkable: "
     "highway=motorway ×10). Expected OpenStreetMap ways tagged highway=footway, path, residential, service, … "
     "(motorways and trunk roads are not walked). Fix: use an extract that covers the study area with all its "
     "streets (not only the main roads), e.g. from download.geofabrik.de or osmnx"),
    ("network without any highway", lambda f: write(f, "streets.osm", osm_xml(
        [(points, {"building": "yes"}) for points, _ in grid_ways()])),
     "streets.osm: no walkable ways in the file (the file has no ways tagged highway=*). Expected OpenStreetMap ways "
     "tagged highway=footway, path, residential, service, … (motorways and trunk roads are not walked). Fix: use an "
     "extract that covers the study area with all its streets (not only the main roads), e.g. from "
     "download.geofabrik.de or osmnx"),
    ("network file not found", lambda f: edit(f / "project.toml", '"streets.osm"', '"street.osm"'),
     "street.osm: network file not found. Fix: check the [network] path in the project file"),
    ("unknown project key", lambda f: edit(f / "project.toml", "profile =", "profle ="),
     "project.toml: unknown key 'profle' (did you mean 'profile'?) in [project]. Expected one of map, max_snap_m, "
     "metric_crs, name, output, polygons, postgis_schema, postgis_url, profile, thresholds_min, tianditu_key, tiles, "
     "walk_minutes. "
     "Fix: correct the spelling or remove the key"),
    ("unknown basemap", lambda f: edit(f / "project.toml", "profile =", 'tiles = ["osm", "google"]\nprofile ='),
     "project.toml, column 'tiles': unknown basemap 'google'. Expected no basemap (offline, the default) or any of osm, "
     "tianditu, amap, all; e.g. tiles = [\"osm\", \"amap\"]. Fix: leave tiles unset for an offline map, or name basemaps "
     "from the list (they need internet)"),
    ("unknown project section", lambda f: edit(f / "project.toml", "[residences]", "[residence]"),
     "project.toml: unknown section 'residence' (did you mean 'residences'?). Expected sections [project], "
     "[network], [residences], [facilities], [candidates], [units], [optimize]. Fix: correct the spelling or remove the section"),
    ("negative threshold", lambda f: edit(f / "project.toml", "[5, 10, 15]", "[-5, 15]"),
     "project.toml, column 'project.thresholds_min': thresholds_min = -5 is not a positive number. Expected a "
     "positive number of minutes, e.g. thresholds_min = [5, 10, 15]. "
     "Fix: correct thresholds_min in [project] (or the --thresholds flag)"),
    ("walking time zero", lambda f: edit(f / "project.toml", "max_snap_m = 300", "max_snap_m = 300\nwalk_minutes = 0"),
     "project.toml, column 'project.walk_minutes': walk_minutes = 0 is not a positive number. Expected a positive "
     "number of minutes, e.g. walk_minutes = 15. Fix: correct walk_minutes in [project] (or the --walk-minutes flag)"),
    ("snap distance as text", lambda f: edit(f / "project.toml", "max_snap_m = 300", 'max_snap_m = "far"'),
     "project.toml, column 'project.max_snap_m': max_snap_m = 'far' is not a positive number. Expected a positive "
     "number of metres, e.g. max_snap_m = 300. Fix: correct max_snap_m in [project]"),
    ("geographic metric CRS", lambda f: edit(f / "project.toml", "max_snap_m = 300", 'max_snap_m = 300\nmetric_crs = "EPSG:4326"'),
     "project.toml, column 'project.metric_crs': EPSG:4326 (WGS 84) is a geographic system in degrees; walking "
     "distances need metres. Expected a projected CRS with metre units, e.g. EPSG:4549 (CGCS2000 / 3-degree GK CM "
     "120E) or a UTM zone. Fix: use 'utm' or 'cgcs2000' to choose one automatically"),
    ("project file not valid TOML", lambda f: edit(f / "project.toml", 'name = "bad inputs"', 'name = "bad inputs'),
     "project.toml: not valid TOML (Illegal character '\\n' (at line 2, column 19)). "
     "Fix: check quotes, brackets and '=' on the line named"),
    ("output folder under a file", lambda f: (write(f, "blocker", "a file, not a folder"),
                                              edit(f / "project.toml", 'output = "out"', 'output = "blocker/out"')),
     "blocker/out: output folder is not writable (blocker is a file, not a folder). Expected a folder this user can "
     "create files in. Fix: choose another folder with --output or fix its permissions"),
    ("unknown profile name", lambda f: edit(f / "project.toml", '"national"', '"beijing"'),
     "project.toml, column 'project.profile': unknown profile 'beijing'. Expected a built-in profile (chifeng, "
     "huzhong, jingdezhen, jixi, national, shangzhi) or a path to a .toml file. "
     "Fix: use one of the built-in names or give the profile file's path"),
    ("profile missing a figure", lambda f: own_profile(
        f, 'title = "mine"\n[figures]\nwalk_minutes = 15\nwalk_speed_m_per_min = 60\nelderly_walk_speed_m_per_min = 50\n'),
     "my_profile.toml: profile 'my_profile' has no figure 'household_size'. Expected a [figures.household_size] entry "
     "(persons per household, to convert households <-> population). "
     "Fix: add [figures.household_size] to my_profile.toml or set inherits = \"national\""),
    ("new-area standard below existing-area", lambda f: own_profile(
        f, 'title = "mine"\ninherits = "national"\n[figures]\nelderly_m2_per_100_households_new = 10\n'),
     # national: existing areas 15 m² per 100 households; 10 for new areas would ask less of new districts
     "my_profile.toml: contradictory figures: 'elderly_m2_per_100_households_existing' = 15 > "
     "'elderly_m2_per_100_households_new' = 10 (the existing-area standard is stricter than the new-area one). "
     "Expected 'elderly_m2_per_100_households_existing' <= 'elderly_m2_per_100_households_new'. "
     "Fix: correct one of the two figures (an inherited one can be overridden in this file)"),
    ("range maximum below minimum", lambda f: own_profile(
        f, 'title = "mine"\ninherits = "national"\n[figures]\nelderly_m2_per_100_households_new_max = 10\n'),
     "my_profile.toml: contradictory figures: 'elderly_m2_per_100_households_new' = 20 > "
     "'elderly_m2_per_100_households_new_max' = 10 (a range's upper end is below its minimum). "
     "Expected 'elderly_m2_per_100_households_new' <= 'elderly_m2_per_100_households_new_max'. "
     "Fix: correct one of the two figures (an inherited one can be overridden in this file)"),
    ("walking speed zero", lambda f: own_profile(f, RANGE_PROFILE),
     "my_profile.toml: figure 'walk_speed_m_per_min' is 0 m/min. Expected between 20 and 120 m/min. "
     "Fix: correct the value of [figures.walk_speed_m_per_min] (walking speed of general pedestrians (nursery trips))"),
]


@pytest.mark.parametrize("break_it, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_message_and_changes_nothing(area, break_it, expected):
    break_it(area)
    assert fails_cleanly(area) == expected


def test_first_run_that_fails_leaves_the_output_folder_empty(area):
    write(area, "residences.csv", residences_with(("R2", "x", "12户", "既有", 116.35, 39.96)))
    assert fails_cleanly(area, fresh=True).startswith("residences.csv, row 3, column '户数': '12户' is not a number")


def test_distinct_bad_inputs():
    assert len({c[0] for c in CASES}) == len(CASES) >= 30


# ---------------------------------------------------------------------------------------------------- read, but said


def test_gbk_csv_without_declared_encoding_is_read_and_the_planner_is_told(area):
    """Excel on a Chinese Windows saves CSV as GBK. It is read (names intact), with a warning the planner sees on
    the terminal of a real `siting` process."""
    import subprocess
    import sys

    (area / "residences.csv").write_bytes(csv_text(RES_HEADER, RESIDENCES).encode("gbk"))
    before = hashlib.sha256((area / "residences.csv").read_bytes()).hexdigest()
    done = subprocess.run([sys.executable, "-m", "siting.cli", "run", str(area / "project.toml")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    warning = (f"WARNING siting.inputs.layers: {(area / 'residences.csv').resolve()}: not UTF-8 (first non-UTF-8 text in "
               "row 1), read as GBK; if names look garbled, save the file as 'CSV UTF-8' or set encoding for this "
               "layer in the project file")
    assert warning in done.stderr.splitlines()
    out = pd.read_csv(area / "out" / "residences.csv", encoding="utf-8-sig", dtype={"res_id": str})
    assert out.sort_values("res_id")["name"].tolist() == [r[1] for r in RESIDENCES]
    assert hashlib.sha256((area / "residences.csv").read_bytes()).hexdigest() == before


def test_disconnected_network_and_a_facility_no_one_reaches_are_reported_not_fatal(area):
    # the grid plus two short footways 1 km east of it: island A carries residence R7, island B facility E2
    island_a = [(116.3700, 39.9550), (116.3720, 39.9550)]
    island_b = [(116.3700, 39.9600), (116.3720, 39.9600)]
    write(area, "streets.osm", osm_xml(grid_ways() + [(island_a, {"highway": "footway"}), (island_b, {"highway": "path"})]))
    write(area, "residences.csv", csv_text(RES_HEADER, RESIDENCES + [("R7", "岛上小区", 40, "既有", 116.3710, 39.95503)]))
    write(area, "facilities.csv", csv_text(FAC_HEADER, FACILITIES + [("E2", "孤立照料站", "日间照料", "200", "", 116.3710, 39.9600)]))
    result = run_cli("run", str(area / "project.toml"))
    assert result.exit_code == 0, result.output
    said = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if line.startswith("[")]
    # 3 pieces: the grid (25 nodes) and two islands of 2 nodes each
    assert "network: 29 nodes, 42 edges, 3 connected pieces, CRS EPSG:32650" in said
    assert ("warning: 2 small pieces are disconnected from the main network (4 nodes); residences on them are "
            "reported in the summary") in said
    assert "warning: 1 facilities reach no residence within 15 min (E2); see households_served in facilities.csv" in said
    summary = json.loads((area / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["network"]["n_components"] == 3 and summary["network"]["other_component_nodes"] == 4
    assert summary["residences_on_network_islands"] == ["R7"]
    facilities = pd.read_csv(area / "out" / "facilities.csv", encoding="utf-8-sig").set_index("fac_id")
    assert facilities.at["E2", "households_served"] == 0
    residences = pd.read_csv(area / "out" / "residences.csv", encoding="utf-8-sig").set_index("res_id")
    assert residences.at["R7", "walk_min_elderly_day_care"] == np.inf and not residences.at["R7", "covered_elderly_day_care"]


# ---------------------------------------------------------------------------------------------------- checked against the network


UTM_50N = "EPSG:32650"  # the UTM zone of lon 116.34 (zone 50 = 114°E..120°E), in which siting measures distances


def _street_distances_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance (m) from each point to the nearest street of the grid, by shapely in UTM 50N (not siting's snap)."""
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM_50N, always_xy=True)
    lines = []
    for points, _ in grid_ways():
        x, y = to_utm.transform(*np.array(points).T)
        lines.append(shapely.LineString(np.column_stack([x, y])))
    x, y = to_utm.transform(lon, lat)
    return shapely.distance(shapely.MultiLineString(lines), shapely.points(x, y))


def test_undeclared_gcj02_points_are_detected_against_the_streets(area):
    from siting.inputs.coords import gcj02_to_wgs84, wgs84_to_gcj02

    lon = np.array([r[4] for r in RESIDENCES])
    lat = np.array([r[5] for r in RESIDENCES])
    glon, glat = wgs84_to_gcj02(lon, lat)  # as copied from Amap: ≈ 520 m east, 145 m north of the truth here
    rows = [(*r[:4], round(float(x), 7), round(float(y), 7)) for r, x, y in zip(RESIDENCES, glon, glat)]
    write(area, "residences.csv", csv_text(RES_HEADER, rows))
    glon, glat = np.array([r[4] for r in rows]), np.array([r[5] for r in rows])
    given_m, converted_m = _street_distances_m(glon, glat), _street_distances_m(*gcj02_to_wgs84(glon, glat))
    as_given, converted = np.median(given_m), np.median(converted_m)
    assert as_given > 50 and converted < 15  # the premise: shifted points are off the streets, converted ones on them
    assert fails_cleanly(area) == (
        f"residences.csv: the points look like GCJ02 coordinates: as given they sit a median {as_given:.0f} m from "
        f"the nearest street, converted from GCJ02 a median {converted:.0f} m; {(converted_m < given_m).sum()} of "
        f"{len(RESIDENCES)} points lie closer to a street once converted. Expected WGS84 coordinates, or a "
        "declared coordinate system. Fix: add coords = \"gcj02\" to this layer in the project file "
        "(Amap/Tencent = gcj02, Baidu = bd09)")
    layer_setting(area, 'coords = "gcj02"')  # declared, the same file runs
    assert run_cli("run", str(area / "project.toml")).exit_code == 0


def test_a_wrong_crs_that_puts_points_far_outside_the_network(area):
    # x/y metres in CGCS2000 3-degree GK zone CM 117°E (EPSG:4548), but declared as zone CM 114°E (EPSG:4547)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True).transform(
        [r[4] for r in RESIDENCES], [r[5] for r in RESIDENCES])
    rows = [(r[0], r[1], r[2], f"{a:.2f}", f"{b:.2f}") for r, a, b in zip(RESIDENCES, x, y)]
    write(area, "residences.csv", csv_text("编号,名称,户数,x,y\n", rows))
    layer_setting(area, 'crs = "EPSG:4547"')
    wrong_lon, wrong_lat = pyproj.Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True).transform(
        [float(r[3]) for r in rows], [float(r[4]) for r in rows])
    assert np.all(np.array(wrong_lon) < 114)  # ≈ 3° west of the truth, about 250 km
    assert fails_cleanly(area) == (
        f"residences.csv: 6 of 6 points lie more than ~5 km outside the walking network (points around lon "
        f"{np.median(wrong_lon):.4f}, lat {np.median(wrong_lat):.4f}; network spans lon {GRID_LON[0]:.4f}–"
        f"{GRID_LON[-1]:.4f}, lat {GRID_LAT[0]:.4f}–{GRID_LAT[-1]:.4f}). Expected points inside the area of the "
        "network extract. Fix: check the layer's coordinate system (crs = \"EPSG:…\" for x/y columns), swapped "
        "longitude/latitude, or use a network extract covering the study area")


# ---------------------------------------------------------------------------------------------------- the rest of the edge


def test_missing_project_file_is_a_usage_error(tmp_path):
    result = run_cli("run", str(tmp_path / "projet.toml"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Invalid value for 'PROJECT_FILE': File '{tmp_path / 'projet.toml'}' does not exist.")


def test_python_api_raises_the_same_error_with_its_parts(area):
    """A planner scripting siting gets the message's parts as attributes, and the same nothing-written guarantee."""
    from siting.errors import InputError
    from siting.pipeline import run_coverage

    write(area, "residences.csv", residences_with(("R2", "x", "12户", "既有", 116.35, 39.96)))
    before = snapshot(area)
    with pytest.raises(InputError) as err:
        run_coverage(area / "project.toml")
    assert (Path(err.value.file).name, err.value.row, err.value.column) == ("residences.csv", 3, "户数")
    assert err.value.expected == "a number (digits only, no units)" and err.value.fix == "correct the cell or leave it blank"
    assert snapshot(area) == before


def test_infeasible_siting_model_says_why():
    from siting.optimize import OptimizationError, PMedian

    # 3 households, 2 candidate sites, no existing facility, and p = 0 new sites: no plan can assign anyone
    cost = np.array([[100.0, 300.0], [250.0, 120.0], [400.0, 90.0]])
    for solver in ("cbc", "highs"):
        with pytest.raises(OptimizationError) as err:
            PMedian.from_cost_matrix(cost, 0).solve(solver)
        assert str(err.value) == ("PMedian has no feasible plan: p=0 allows no new site and there is no existing "
                                  "facility, yet every demand row must be assigned")


def test_solver_time_limit_returns_the_best_plan_with_its_true_status_and_gap():
    """A weighted set cover CBC cannot usually close within 1 s. Whatever the machine manages, the plan returned
    must be a real cover, its cost the sum of its sites, and its gap consistent with the LP lower bound (scipy)."""
    import warnings

    from scipy.optimize import linprog

    from siting.optimize import LSCP

    rng = np.random.default_rng(0)
    within = rng.random((400, 120)) < 0.05
    site_cost = rng.integers(1, 10, 120).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows no site reaches are reported and left out
        res = LSCP.from_cost_matrix(np.where(within, 1.0, np.inf), 1.0, site_cost=site_cost).solve("cbc", time_limit_s=1)
    assert res.status in ("feasible (time limit)", "optimal")
    chosen = np.zeros(120, dtype=bool)
    chosen[np.asarray(res.chosen, dtype=int)] = True
    coverable = within.any(axis=1)
    assert within[coverable][:, chosen].any(axis=1).all()  # every row some site reaches is covered
    assert res.objective == pytest.approx(site_cost[chosen].sum())
    lp = linprog(site_cost, A_ub=-within[coverable].astype(float), b_ub=-np.ones(coverable.sum()), bounds=(0, 1))
    assert res.objective >= lp.fun - 1e-6
    if res.status == "optimal":
        assert res.gap == 0.0
    else:  # stopped by the limit: a positive gap, and the solver's bound obj·(1 − gap) is at least the LP bound
        assert res.gap is not None and res.gap > 0
        assert res.objective * (1 - res.gap) >= lp.fun - 1e-6


def test_an_os_error_while_writing_is_one_line_too(area):
    """The map path taken by a folder: the tables are written (each atomically), then renaming the map onto a folder
    fails; the planner gets the OS's reason in one line, not a traceback, and no temporary file is left behind."""
    (area / "out" / "map.html").unlink()
    (area / "out" / "map.html").mkdir()
    result = run_cli("run", str(area / "project.toml"))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == f"error: {(area / 'out' / 'map.html').resolve()}: Is a directory"
    assert not [p for p in (area / "out").iterdir() if p.name.startswith(".") and p.is_file()]  # no temporary left
