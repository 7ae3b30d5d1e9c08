"""Undeclared GCJ-02 / BD-09 points and points in the wrong CRS are caught against a real Beijing network."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import shared_file

from siting.checks.diagnose import check_layer_against_network
from siting.errors import InputError
from siting.inputs.coords import wgs84_to_bd09, wgs84_to_gcj02
from siting.inputs.osm_features import read_osm_residential_buildings
from siting.network import load_network


@pytest.fixture(scope="module")
def campus():
    path = shared_file("bupt_beijing", "map.osm")
    net = load_network(path)
    buildings = read_osm_residential_buildings(path)
    pts = buildings.geometry.representative_point()
    return net, pts.x.to_numpy(), pts.y.to_numpy()


def _layer(lon, lat):
    return gpd.GeoDataFrame({"res_id": [str(i) for i in range(len(lon))]}, geometry=shapely.points(lon, lat), crs="EPSG:4326")


def test_true_wgs84_points_pass(campus):
    net, lon, lat = campus
    check_layer_against_network(net, _layer(lon, lat), source="r.csv", max_snap_m=300)


@pytest.mark.parametrize("system, shift", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_undeclared_shifted_points_are_detected(campus, system, shift):
    net, lon, lat = campus
    slon, slat = shift(lon, lat)
    with pytest.raises(InputError) as err:
        check_layer_against_network(net, _layer(slon, slat), source="r.csv", max_snap_m=300)
    message = str(err.value)
    assert message.startswith(f"r.csv: the points look like {system.upper()} coordinates")
    assert f'add coords = "{system}"' in message
    # declared, the same points pass (the pipeline converts them before this check)
    check_layer_against_network(net, _layer(slon, slat), source="r.csv", max_snap_m=300, declared=system)


def test_points_far_outside_the_network_name_the_fix(campus):
    net, lon, lat = campus
    with pytest.raises(InputError) as err:  # the same points moved to Chifeng, as a wrong CRS would
        check_layer_against_network(net, _layer(lon + 2.6, lat + 2.3), source="r.csv", max_snap_m=300)
    assert "lie more than ~5 km outside the walking network" in str(err.value)
    assert "coordinate system" in str(err.value)


def _near_streets(net, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points 5–20 m beside the middle part of random streets of the network: where Amap puts kindergartens."""
    import pyproj

    rng = np.random.default_rng(seed)
    xu, yu, xv, yv = net.edge_xy()
    e = rng.choice(np.flatnonzero(np.hypot(xv - xu, yv - yu) > 20), n, replace=False)
    t, off = rng.uniform(0.2, 0.8, n), rng.uniform(5, 20, n) * rng.choice([-1, 1], n)
    dx, dy = xv[e] - xu[e], yv[e] - yu[e]
    length = np.hypot(dx, dy)
    x, y = xu[e] + t * dx - off * dy / length, yu[e] + t * dy + off * dx / length
    lon, lat = pyproj.Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.asarray(lon), np.asarray(lat)


@pytest.mark.parametrize("path", [("bupt_beijing", "map.osm"), ("hk_osm_tst", "hong-kong_china_tst.osm")])
def test_a_gcj02_layer_near_dense_streets_is_caught_by_the_consistency_of_its_shift(path):
    """In dense streets a shifted point lands near another street, so the medians differ little (Tsim Sha Tsui: a
    few metres): the paired test, point by point, still sees every layer of 16 points come closer when converted."""
    from siting.inputs.coords import gcj02_to_wgs84

    net = load_network(shared_file(*path))
    for seed in range(3):
        lon, lat = _near_streets(net, 16, seed)
        check_layer_against_network(net, _layer(lon, lat), source="k.csv", max_snap_m=300)  # true WGS84 passes
        glon, glat = wgs84_to_gcj02(lon, lat)
        from siting.checks.diagnose import _snap_m

        given, converted = _snap_m(net, glon, glat), _snap_m(net, *gcj02_to_wgs84(glon, glat))
        with pytest.raises(InputError) as err:
            check_layer_against_network(net, _layer(glon, glat), source="k.csv", max_snap_m=300)
        assert str(err.value).startswith(
            f"k.csv: the points look like GCJ02 coordinates: as given they sit a median {np.median(given):.0f} m from "
            f"the nearest street, converted from GCJ02 a median {np.median(converted):.0f} m; "
            f"{(converted < given).sum()} of 16 points lie closer to a street once converted")
