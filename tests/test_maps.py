"""HTML map content checked by parsing the embedded GeoJSON back out of the file (no browser needed)."""
from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from siting.errors import ConfigError, InputError
from siting.inputs.schema import KINDS
from siting.reports.maps import aggregate_to_grid, coverage_map, save_map

ELDERLY, NURSERY = KINDS
EVIL = "<script>alert(1)</script>"


def make_inputs(n: int = 60, seed: int = 1) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Coverage-stage output for `n` residences in a 2 km square of Beijing, three facilities, 15-min catchments."""
    rng = np.random.default_rng(seed)
    lon, lat = 116.40 + rng.uniform(0, 0.02, n), 39.90 + rng.uniform(0, 0.02, n)
    columns = {
        "res_id": [f"r{i}" for i in range(n)],
        "name": [EVIL if i == 0 else f"小区{i}" for i in range(n)],
        "households": rng.integers(10, 300, n).astype(float),
        "population": 0.0,
        "area_type": "existing",
    }
    for kind in KINDS:
        minutes = rng.uniform(0, 25, n)
        minutes[rng.random(n) < 0.1] = np.inf
        columns[f"walk_min_{kind}"] = minutes
        columns[f"nearest_{kind}"] = ""
        columns[f"covered_{kind}"] = minutes <= 15
    residences = gpd.GeoDataFrame(columns, geometry=[Point(x, y) for x, y in zip(lon, lat)], crs=4326)
    facilities = gpd.GeoDataFrame(
        {
            "fac_id": ["f1", "f2", "f3"],
            "name": [EVIL, "托育园A", "日间照料B"],
            "kind": [ELDERLY, NURSERY, ELDERLY],
            "floor_area_m2": [300.0, np.nan, 1200.0],
            "places": np.nan,
            "seats": [np.nan, 60.0, np.nan],
            "households_served": [500.0, 300.0, 900.0],
            "population_served": [1500.0, 900.0, 2700.0],
            "provision": [60.0, 66.7, 33.3],
            "standard_value": [40.0, 45.0, 40.0],
            "meets_standard": [True, True, False],
            "shortfall": [0.0, 0.0, 60.0],
        },
        geometry=[Point(116.405, 39.905), Point(116.41, 39.91), Point(116.415, 39.915)],
        crs=4326,
    )
    rings = facilities.to_crs(3857).buffer(900).to_crs(4326)
    catchments = gpd.GeoDataFrame({"fac_id": facilities["fac_id"], "kind": facilities["kind"], "threshold_min": 15.0}, geometry=rings.values, crs=4326)
    return residences, facilities, catchments


def embedded_layers(text: str) -> dict[str, dict]:
    """Layer-control label -> the GeoJSON FeatureCollection folium embedded for it, plus 'shown' (added to the map at load)."""
    block = re.search(r"overlays\s*:\s*\{(.*?)\},\s*\};", text, re.S).group(1)
    layers = {}
    for label, var in re.findall(r'^\s*("(?:[^"\\]|\\.)*")\s*:\s*(\w+),$', block, re.M):
        start = text.index(f"{var}_add(") + len(f"{var}_add(")
        data, _ = json.JSONDecoder().raw_decode(text, start)
        data["shown"] = f"{var}.addTo(" in text
        layers[json.loads(label)] = data
    return layers


def box_html(text: str, box_id: str) -> str:
    """The HTML of the legend ('siting-legend') or info box ('siting-info') as the browser will insert it."""
    literal = re.search(rf'div\.id = "{box_id}";\s*div\.innerHTML = ("(?:[^"\\]|\\.)*");', text).group(1)
    return json.loads(literal)


@pytest.fixture(scope="module")
def inputs():
    return make_inputs()


@pytest.fixture(scope="module")
def point_map(inputs, tmp_path_factory) -> str:
    residences, facilities, catchments = inputs
    m = coverage_map(residences, facilities, catchments, title=f"示例 {EVIL}", profile_name=f"profile {EVIL}")
    return save_map(m, tmp_path_factory.mktemp("map") / "map.html").read_text(encoding="utf-8")


def test_layers_and_feature_counts_match_the_input(inputs, point_map):
    residences, facilities, catchments = inputs
    layers = embedded_layers(point_map)
    for kind, label in ((ELDERLY, "养老 Elderly day care"), (NURSERY, "托育 Nursery")):
        res = layers[f"居民点 Residences · {label} — 步行时间 Walking time"]
        assert len(res["features"]) == len(residences)
        assert sorted(f["properties"]["h"] for f in res["features"]) == sorted(residences["households"])
        uncovered = layers[f"未覆盖 Uncovered · {label}"]
        assert len(uncovered["features"]) == int((~residences[f"covered_{kind}"]).sum())
        fac = next(v for k, v in layers.items() if k.startswith(f"设施 Facilities · {label}"))
        assert len(fac["features"]) == int((facilities["kind"] == kind).sum())
        assert len(layers[f"服务范围 Catchments · {label} 15 min"]["features"]) == int((catchments["kind"] == kind).sum())
        assert res["shown"] == (kind == ELDERLY)  # one kind at a time, so colours are not stacked
    # walking-time classes, recomputed by hand: 0–5, 5–10, 10–15, >15 or unreachable
    res = layers["居民点 Residences · 养老 Elderly day care — 步行时间 Walking time"]["features"]
    for feature, minutes in zip(res, residences[f"walk_min_{ELDERLY}"]):
        expected = 0 if minutes <= 5 else 1 if minutes <= 10 else 2 if minutes <= 15 else 3
        assert feature["properties"]["k"] == expected
        assert feature["properties"]["m"] == (None if np.isinf(minutes) else round(minutes, 1))


def test_facility_radius_grows_with_the_square_root_of_capacity(point_map):
    fac = next(v for k, v in embedded_layers(point_map).items() if k.startswith("设施 Facilities · 养老"))
    radius = {f["properties"]["tip"]: f["properties"]["style"]["radius"] for f in fac["features"]}
    # 300 m² and 1 200 m²: four times the area, twice the radius; the largest is drawn at 18 px
    assert radius["日间照料B"] == 18.0
    assert radius["&lt;script&gt;alert(1)&lt;/script&gt;"] == pytest.approx(9.0, abs=0.05)


def test_input_names_are_escaped_everywhere(point_map):
    assert EVIL not in point_map
    assert "alert(1)</script>" not in point_map
    fac = next(v for k, v in embedded_layers(point_map).items() if k.startswith("设施 Facilities · 养老"))
    popup = fac["features"][0]["properties"]["popup"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in popup and "<script" not in popup
    assert "达标 Meets standard" in popup and "60 / 标准 standard 40" in popup
    assert "<title>示例 &lt;script&gt;alert(1)&lt;/script&gt;</title>" in point_map
    info = box_html(point_map, "siting-info")
    assert "<b>示例 &lt;script&gt;alert(1)&lt;/script&gt;</b>" in info
    assert "标准 Profile: profile &lt;script&gt;alert(1)&lt;/script&gt;" in info


def test_no_remote_script_or_stylesheet_without_basemap(point_map, inputs, tmp_path):
    assert not re.search(r"""<(script|link)[^>]*(src|href)\s*=\s*["']?(https?:)?//""", point_map)
    assert "tile.openstreetmap.org" not in point_map
    assert "L.map(" in point_map and "leaflet-control-layers" in point_map  # Leaflet itself is inlined
    with_tiles = save_map(coverage_map(*inputs, title="t", tiles="osm"), tmp_path / "osm.html").read_text(encoding="utf-8")
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in with_tiles
    assert "openstreetmap.org/copyright" in with_tiles  # attribution is required by the tile usage policy


def test_same_input_gives_byte_identical_html(inputs, tmp_path):
    first = save_map(coverage_map(*inputs, title="t"), tmp_path / "a.html").read_bytes()
    second = save_map(coverage_map(*inputs, title="t"), tmp_path / "b.html").read_bytes()
    assert first == second
    assert not re.search(rb"[0-9a-f]{32}", first)  # no random folium ids left


def test_aggregation_keeps_every_household(inputs, tmp_path):
    residences, facilities, catchments = make_inputs(n=400, seed=7)
    m = coverage_map(residences, facilities, catchments, title="t", max_points=30)
    text = save_map(m, tmp_path / "agg.html").read_text(encoding="utf-8")
    layers = embedded_layers(text)
    cells = layers["居民点(网格) Residences (grid) · 养老 Elderly day care — 已覆盖比例 Covered share"]["features"]
    assert 0 < len(cells) <= 30
    assert sum(f["properties"]["h"] for f in cells) == pytest.approx(residences["households"].sum())
    assert sum(f["properties"]["r"] for f in cells) == len(residences)
    uncovered_hh = residences.loc[~residences[f"covered_{ELDERLY}"], "households"].sum()
    assert sum(f["properties"]["u"] for f in cells) == pytest.approx(uncovered_hh)
    assert "已聚合 Aggregated" in box_html(text, "siting-legend")


def test_grid_cells_contain_their_residences_brute_force():
    residences, _, _ = make_inputs(n=300, seed=3)
    cells, cell_m = aggregate_to_grid(residences, KINDS, max_cells=40)
    assert len(cells) <= 40 and cell_m >= 50
    # brute force: each residence lies in exactly one cell, and the cell sums are those of its members
    member = np.array([[cell.covers(pt) for cell in cells.geometry] for pt in residences.geometry])
    assert (member.sum(axis=1) >= 1).all()
    owner = member.argmax(axis=1)
    for j in range(len(cells)):
        mine = residences[owner == j]
        assert cells["households"].iat[j] == pytest.approx(mine["households"].sum())
        covered = mine.loc[mine[f"covered_{NURSERY}"], "households"].sum()
        assert cells[f"covered_households_{NURSERY}"].iat[j] == pytest.approx(covered)


def test_polygon_residences_and_proposed_sites(inputs, tmp_path):
    residences, facilities, catchments = inputs
    polygons = residences.copy()
    polygons["geometry"] = residences.to_crs(3857).buffer(20).to_crs(4326).values
    proposed = gpd.GeoDataFrame(
        {"site_id": ["p1"], "name": [EVIL], "kind": [NURSERY], "size": [80.0], "households_newly_covered": [420.0]},
        geometry=[Point(116.402, 39.918)],
        crs=4326,
    )
    m = coverage_map(polygons, facilities, catchments, title="t", proposed=proposed, newly_covered=residences.head(5))
    layers = embedded_layers(save_map(m, tmp_path / "p.html").read_text(encoding="utf-8"))
    res = layers["居民点 Residences · 养老 Elderly day care — 步行时间 Walking time"]["features"]
    assert {f["geometry"]["type"] for f in res} == {"Point"}  # drawn at the representative point
    site = layers["拟建 Proposed sites"]["features"][0]["properties"]
    assert "新覆盖户数 Households newly covered: 420" in site["popup"] and EVIL not in site["popup"]
    assert len(layers["新覆盖 Newly covered"]["features"]) == 5


def test_planner_errors_name_the_column(inputs):
    residences, facilities, catchments = inputs
    with pytest.raises(InputError, match="walk_min_elderly_day_care"):
        coverage_map(residences.drop(columns=[f"walk_min_{k}" for k in KINDS]), facilities, catchments, title="t")
    with pytest.raises(InputError, match="covered_nursery"):
        coverage_map(residences.drop(columns=[f"covered_{NURSERY}"]), facilities, catchments, title="t")
    with pytest.raises(ConfigError, match="tiles"):
        coverage_map(residences, facilities, catchments, title="t", tiles="google")
