"""Map context without a browser: the street layer keeps the network's geometry, basemap options parse as documented,
the Tianditu key is required and located, and the GCJ-02 offset grid interpolates siting.inputs.coords within 10 cm."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from conftest import SAMPLE
from test_maps import make_inputs

from siting.errors import ConfigError
from siting.inputs import tiles
from siting.inputs.coords import wgs84_to_gcj02
from siting.network import load_network, network_from_arrays
from siting.reports import basemaps
from siting.reports.maps import coverage_map, save_map

REPO = Path(__file__).resolve().parents[1]


def grid_network(lon0: float = 116.395, lat0: float = 39.895, n: int = 8, step_deg: float = 0.004):
    """An n × n street grid over the test_maps inputs in Beijing (inside China, so GCJ-02 shifts it)."""
    ii, jj = np.meshgrid(np.arange(n), np.arange(n))
    lon, lat = lon0 + step_deg * ii.ravel(), lat0 + step_deg * jj.ravel()
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    highway = np.where(np.arange(u.size) % 5 == 0, "primary", "footway")
    return network_from_arrays(lon, lat, u, v, edge_highway=highway)


@pytest.mark.parametrize("value, expected", [
    (None, ()), ("", ()), ("osm", ("osm",)), ("osm, amap", ("osm", "amap")), (["AMAP", "osm", "amap"], ("amap", "osm")),
    ("all", ("osm", "tianditu", "amap")),
])
def test_parse_tiles(value, expected):
    assert tiles.parse_tiles(value) == expected


def test_unknown_basemap_and_missing_tianditu_key_are_planner_errors(monkeypatch):
    with pytest.raises(ConfigError, match=r"column 'tiles': unknown basemap 'google'.*any of osm, tianditu, amap, all"):
        tiles.parse_tiles("osm,google")
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(ConfigError, match="Tianditu basemap needs a key.*TIANDITU_KEY or tianditu_key in \\[project\\]"):
        tiles.resolve_tianditu_key(("tianditu",))
    assert tiles.resolve_tianditu_key(("tianditu",), "from-project") == "from-project"
    monkeypatch.setenv("TIANDITU_KEY", "from-env")
    assert tiles.resolve_tianditu_key(("tianditu",), "from-project") == "from-env"
    assert tiles.resolve_tianditu_key(("osm",), "from-project") is None  # no Tianditu, no key in the HTML


def test_tianditu_key_lands_in_the_html_and_a_note_is_printed(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TIANDITU_KEY", "k3y-123")
    monkeypatch.setattr(basemaps, "_noted", [])  # the note is said once per process
    with caplog.at_level("WARNING", logger="siting.reports.basemaps"):
        text = save_map(coverage_map(*make_inputs(), title="t", tiles="tianditu"), tmp_path / "t.html").read_text(encoding="utf-8")
    assert "tk=k3y-123" in text and "vec_w" in text and "img_w" in text and "cva_w" in text
    assert any("Tianditu key is written into the HTML" in r.getMessage() for r in caplog.records)


def test_street_layer_keeps_every_street_of_the_sample(tmp_path):
    """Merged and simplified, the layer still runs within 3 m of every network node and keeps the street length."""
    net = load_network(SAMPLE / "sample.osm.pbf", cache_dir=tmp_path)
    streets = basemaps.street_lines(net)
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    metric = [shapely.transform(g, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1]))) for g in streets.geometry]
    xu, yu, xv, yv = net.edge_xy()
    straight_m = float(np.hypot(xu - xv, yu - yv).sum())
    drawn_m = sum(g.length for g in metric)
    assert drawn_m == pytest.approx(straight_m, rel=0.005)  # simplifying by 2 m shortens a street by far less
    union = shapely.union_all(metric)
    used = np.unique(np.concatenate([net.edge_u, net.edge_v]))
    distance = shapely.distance(shapely.points(net.x[used], net.y[used]), union)
    assert distance.max() < 3.0
    vertices = sum(shapely.get_num_coordinates(g) for g in streets.geometry)
    assert vertices < 2 * net.n_edges  # merged: far fewer than two vertices per segment


def test_offline_map_has_streets_and_no_basemap_switcher(tmp_path):
    residences, facilities, catchments = make_inputs()
    text = save_map(coverage_map(residences, facilities, catchments, title="t", network=grid_network()), tmp_path / "m.html").read_text(encoding="utf-8")
    assert "siting-streets" in text and json.dumps(basemaps.STREET_LAYER_NAME) in text  # layer names are written as JSON
    assert "tile.openstreetmap.org" not in text and "autonavi" not in text and "tianditu.gov" not in text and json.dumps(basemaps.NO_BASEMAP_NAME) not in text


def test_gcj02_grid_interpolates_coords_within_10_cm():
    """The page's bilinear interpolation, done here in numpy on the same grid, against siting.inputs.coords."""
    bounds = [[39.89, 116.39], [39.93, 116.43]]
    grid = basemaps.gcj02_offset_grid(bounds)
    dlon = np.array(grid["dlon"]).reshape(grid["ny"], grid["nx"])
    dlat = np.array(grid["dlat"]).reshape(grid["ny"], grid["nx"])
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(116.39, 116.43, 500), rng.uniform(39.89, 39.93, 500)
    fx, fy = (lon - grid["lon0"]) / grid["step"], (lat - grid["lat0"]) / grid["step"]
    i, j = np.floor(fx).astype(int), np.floor(fy).astype(int)
    tx, ty = fx - i, fy - j

    def bil(a):
        return (1 - tx) * (1 - ty) * a[j, i] + tx * (1 - ty) * a[j, i + 1] + (1 - tx) * ty * a[j + 1, i] + tx * ty * a[j + 1, i + 1]

    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    err_m = np.hypot((lon + bil(dlon) - g_lon) * 111320 * np.cos(np.radians(lat)), (lat + bil(dlat) - g_lat) * 110540)
    assert err_m.max() < 0.1  # measured: 9 cm at worst on a 1 km grid
    shift_m = np.hypot((g_lon - lon) * 111320 * np.cos(np.radians(lat)), (g_lat - lat) * 110540)
    assert shift_m.min() > 100  # the shift itself is hundreds of metres: the test would see a missing shift


def test_project_tiles_key_parses_lists(tmp_path):
    from siting.inputs.project import load_project

    text = (SAMPLE / "sample_project.toml").read_text(encoding="utf-8")
    text = text.replace('profile = "chifeng"', 'profile = "chifeng"\ntiles = ["osm", "amap"]\ntianditu_key = "abc"')
    path = tmp_path / "p.toml"
    path.write_text(re.sub(r'path = "(\w+\.\w+(?:\.\w+)?)"', lambda m: f'path = {json.dumps(str(SAMPLE / m.group(1)))}', text), encoding="utf-8")
    project = load_project(path)
    assert project.tiles == ("osm", "amap") and project.tianditu_key == "abc"
    assert load_project(path, tiles="tianditu").tiles == ("tianditu",)  # --tiles wins


def test_cli_tianditu_without_key_stops_before_any_work(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from siting.cli import main

    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path / "out"), "--tiles", "osm,tianditu"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: column 'tianditu_key': the Tianditu basemap needs a key, and none is set. Expected a 天地图 key (apply at "
        "https://console.tianditu.gov.cn/). Fix: set the environment variable TIANDITU_KEY or tianditu_key in [project], "
        "or drop 'tianditu' from tiles")
    assert not (tmp_path / "out" / "residences.csv").exists()
    bad = CliRunner().invoke(main, ["demo", "--output", str(tmp_path / "out"), "--tiles", "google"])
    assert bad.exit_code == 2 and "unknown basemap 'google'" in bad.output
