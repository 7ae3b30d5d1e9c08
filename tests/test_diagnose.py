"""Undeclared GCJ-02 / BD-09 points and points in the wrong CRS are caught against a real Beijing network."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from siting.coords import wgs84_to_bd09, wgs84_to_gcj02
from siting.diagnose import check_layer_against_network
from siting.errors import InputError
from siting.network import load_network
from siting.osm_features import read_osm_residential_buildings
from conftest import shared_file


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
