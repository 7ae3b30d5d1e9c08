"""Coverage, floor area per 100 households, seats per 1,000 residents, 2SFCA and servable share on a fixture small
enough to compute by hand (every expected figure is worked out in the comments)."""
from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import pytest
import shapely

from siting.coverage import analyse_coverage
from siting.inputs.profiles import load_profile
from siting.measures import servable_share
from siting.network import network_from_arrays
from siting.network.routing import Reach

UTM = "EPSG:32650"
TO_WGS = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
X0, Y0 = 500_000.0, 4_400_000.0  # a straight street in Beijing's UTM zone


def _points(xy):
    lon, lat = TO_WGS.transform([X0 + x for x, _ in xy], [Y0 + y for _, y in xy])
    return gpd.GeoSeries(shapely.points(lon, lat), crs="EPSG:4326")


def straight_street():
    """A straight 2 km street with nodes every 100 m along y = Y0 (UTM metres X0 … X0 + 2000)."""
    xs = np.arange(0, 2001, 100.0)
    lon, lat = TO_WGS.transform(X0 + xs, np.full(xs.size, Y0))
    return network_from_arrays(lon, lat, np.arange(xs.size - 1), np.arange(1, xs.size), metric_crs=UTM)


@pytest.fixture()
def street():
    return straight_street()


@pytest.fixture()
def profile():
    return load_profile("national").with_overrides(
        walk_minutes=10, walk_speed_m_per_min=60, elderly_walk_speed_m_per_min=50,
        elderly_m2_per_100_households_new=20, elderly_m2_per_100_households_existing=15,
        nursery_seats_per_1000_new=10, nursery_seats_per_1000_existing=8, nursery_seats_per_1000_city=4.5,
    )


@pytest.fixture()
def layers():
    # residences 10 m north of the street, facilities 20 m south
    residences = gpd.GeoDataFrame(
        {
            "res_id": ["R1", "R2", "R3", "R4"],
            "name": ["", "", "", ""],
            "households": [100.0, 200.0, 50.0, 300.0],
            "population": [260.0, 500.0, 120.0, 800.0],
            "area_type": ["new", "existing", "existing", "new"],
        },
        geometry=_points([(100, 10), (400, 10), (900, 10), (1800, 10)]),
    )
    facilities = gpd.GeoDataFrame(
        {
            "fac_id": ["E1", "E2", "N1"],
            "name": ["East", "West", "Nursery"],
            "kind": ["elderly_day_care", "elderly_day_care", "nursery"],
            "floor_area_m2": [30.0, 100.0, np.nan],
            "places": [np.nan] * 3,
            "seats": [np.nan, np.nan, 5.0],
        },
        geometry=_points([(200, -20), (1500, -20), (300, -20)]),
    )
    return residences, facilities


def test_hand_calculated_measures(street, profile, layers):
    residences, facilities = layers
    result = analyse_coverage(street, residences, facilities, profile, thresholds_min=[5], polygons=False)
    res = result.residences.set_index("res_id")
    fac = result.facilities.set_index("fac_id")
    el, nu = "elderly_day_care", "nursery"

    # walking metres = 10 (residence to street) + along the street + 20 (street to facility)
    # elderly speed 50 m/min: R1→E1 130 m = 2.6 min, R2→E1 230 m, R3→E2 630 m, R4→E2 330 m
    assert res.loc["R1", f"walk_min_{el}"] == pytest.approx(130 / 50, abs=1e-6)
    assert res.loc["R2", f"walk_min_{el}"] == pytest.approx(230 / 50, abs=1e-6)
    assert res.loc["R3", f"walk_min_{el}"] == pytest.approx(630 / 50, abs=1e-6)
    assert res.loc["R4", f"walk_min_{el}"] == pytest.approx(330 / 50, abs=1e-6)
    assert res.loc["R3", f"nearest_{el}"] == "E2"
    # 10-minute circle = 500 m: R3 is out; coverage = (100 + 200 + 300) / 650
    assert list(res[f"covered_{el}"]) == [True, True, False, True]
    kinds = result.summary["kinds"]
    assert kinds[el]["coverage_rate"] == pytest.approx(600 / 650)
    # 5-minute ring = 250 m: R1 (130) and R2 (230) only
    assert kinds[el]["by_threshold"]["5"]["coverage_rate"] == pytest.approx(300 / 650)

    # E1 serves R1 (new, 100 hh) and R2 (existing, 200 hh): required 100×20/100 + 200×15/100 = 50 m²; has 30
    assert fac.loc["E1", "households_served"] == 300
    assert fac.loc["E1", "provision"] == pytest.approx(30 / 300 * 100)  # 10 m² per 100 households
    assert fac.loc["E1", "standard_value"] == pytest.approx(50 / 300 * 100)  # household-weighted standard 16.67
    assert fac.loc["E1", "shortfall"] == pytest.approx(20.0)
    assert not fac.loc["E1", "meets_standard"]
    # E2 serves R4 (new, 300 hh): required 60 m², has 100
    assert fac.loc["E2", "provision"] == pytest.approx(100 / 300 * 100)
    assert fac.loc["E2", "meets_standard"] and fac.loc["E2", "shortfall"] == 0

    # nursery speed 60 m/min, 600 m: N1 reaches R1 (230 m) and R2 (130 m); R3 is 630 m away
    assert list(res[f"covered_{nu}"]) == [True, True, False, False]
    assert kinds[nu]["coverage_rate"] == pytest.approx(300 / 650)
    # seats required 260×10/1000 + 500×8/1000 = 6.6; has 5; provision 5/760×1000 seats per 1,000 residents
    assert fac.loc["N1", "population_served"] == 760
    assert fac.loc["N1", "provision"] == pytest.approx(5 / 760 * 1000)
    assert fac.loc["N1", "shortfall"] == pytest.approx(1.6)
    # city-wide: 5 seats for 1,680 residents = 2.98 per 1,000 < 4.5
    assert kinds[nu]["provision_overall"] == pytest.approx(5 / 1680 * 1000)
    city = [v for v in kinds[nu]["verdicts"] if v["check"].startswith("childcare seats")][0]
    assert city["verdict"] == "fail" and city["target"] == 4.5

    # 2SFCA: R_E1 = 30/300 m² per household, R_E2 = 100/300; access per 100 households
    assert res.loc["R1", f"access_2sfca_{el}"] == pytest.approx(10.0)
    assert res.loc["R4", f"access_2sfca_{el}"] == pytest.approx(100 / 3)
    assert res.loc["R3", f"access_2sfca_{el}"] == 0
    # servable share: demand 20 + 30 + 7.5 + 60 = 117.5 m²; E1 can give 30 to R1/R2, E2 gives 60 to R4 → 90
    assert kinds[el]["servable_share"] == pytest.approx(90 / 117.5)
    # nursery demand 2.6 + 4 + 0.96 + 8 = 15.56 seats; N1 gives its 5
    assert kinds[nu]["servable_share"] == pytest.approx(5 / 15.56)


def test_residence_far_from_network_is_reported_not_moved(street, profile, layers):
    residences, facilities = layers
    residences = residences.copy()
    residences.loc[2, "geometry"] = _points([(900, 800)]).iloc[0]  # 800 m off the street
    result = analyse_coverage(street, residences, facilities, profile, max_snap_m=500, polygons=False)
    assert result.summary["residences_too_far_from_network"] == ["R3"]
    row = result.residences.set_index("res_id").loc["R3"]
    assert not row["snap_ok"] and not row["covered_elderly_day_care"] and np.isnan(row["walk_min_elderly_day_care"])


def test_catchment_polygons_follow_the_street(street, profile, layers):
    residences, facilities = layers
    result = analyse_coverage(street, residences, facilities, profile, polygons=True, polygon_buffer_m=25)
    poly = result.catchments[(result.catchments.fac_id == "E1") & (result.catchments.threshold_min == 10)]
    geom = gpd.GeoSeries(poly.geometry, crs="EPSG:4326").to_crs(UTM).iloc[0]
    # E1 sits at x=200, 20 m off the street: reaches 480 m either way along it, clipped at x=0 → x ∈ [0, 680]
    minx, miny, maxx, maxy = geom.bounds
    assert minx - X0 == pytest.approx(-25, abs=1)
    assert maxx - X0 == pytest.approx(680 + 25, abs=1)
    assert maxy - Y0 == pytest.approx(25, abs=1)  # a band along the street, not a circle


def test_servable_share_equals_networkx_max_flow():
    rng = np.random.default_rng(7)
    for _ in range(20):
        n_src, n_dst = rng.integers(1, 6), rng.integers(1, 12)
        pairs = [(s, d) for s in range(n_src) for d in range(n_dst) if rng.random() < 0.4]
        if not pairs:
            continue
        src = np.array([p[0] for p in pairs])
        dst = np.array([p[1] for p in pairs])
        reach = Reach(src, dst, np.zeros(len(pairs)), int(n_src), int(n_dst))
        capacity = rng.integers(0, 50, n_src).astype(float)
        demand = rng.integers(0, 40, n_dst).astype(float)
        got = servable_share(reach, capacity, demand)
        g = nx.DiGraph()
        for s in range(n_src):
            g.add_edge("source", ("f", s), capacity=capacity[s])
        for d in range(n_dst):
            g.add_edge(("r", d), "sink", capacity=demand[d])
        for s, d in pairs:
            g.add_edge(("f", s), ("r", d))  # no capacity attribute = unbounded
        flow, _ = nx.maximum_flow(g, "source", "sink")
        assert got.served_total == pytest.approx(flow, abs=1e-6)
        # the per-residence and per-facility split is a feasible flow of the same value (pools shared pro rata)
        assert np.all(got.served_per_destination <= demand + 1e-9)
        assert np.all(got.used_per_source <= capacity + 1e-9)
        assert got.served_per_destination.sum() == pytest.approx(flow, abs=1e-6)
        assert got.used_per_source.sum() == pytest.approx(flow, abs=1e-6)
        if demand.sum() > 0:
            assert got.share == pytest.approx(flow / demand.sum(), abs=1e-9)
