"""The compiled kernels against independent computations on real OSM extracts: nearest-edge snapping against a
shapely brute force over every edge, and sparse bounded searches against scipy's whole-graph Dijkstra."""
from __future__ import annotations

import numpy as np
import pytest
import scipy_reference
import shapely
from conftest import shared_file

from siting.network import kernels, load_network, routing
from siting.network.snap import snap_points

EXTRACTS = [("bupt_beijing", "map.osm"), ("hk_osm_tst", "hong-kong_china_tst.osm")]


def _points(net, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points over the extract, every node exactly (ties between edges), and points 100 km away."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(net.x.min() - 300, net.x.max() + 300, 400)
    y = rng.uniform(net.y.min() - 300, net.y.max() + 300, 400)
    nodes = rng.choice(net.n_nodes, 50, replace=False)
    far_x = net.x.mean() + np.array([1e5, -1e5, 0.0])
    far_y = net.y.mean() + np.array([0.0, 3e4, -1e5])
    return np.concatenate([x, net.x[nodes], far_x]), np.concatenate([y, net.y[nodes], far_y])


@pytest.mark.parametrize("parts", EXTRACTS)
def test_snapping_finds_the_nearest_edge_of_a_brute_force_search(parts):
    net = load_network(shared_file(*parts))
    x, y = _points(net, 3)
    xu, yu, xv, yv = net.edge_xy()
    lines = shapely.linestrings(np.stack([np.stack([xu, yu], 1), np.stack([xv, yv], 1)], 1))
    brute = shapely.distance(shapely.points(x, y)[:, None], lines[None, :]).min(axis=1)  # points × every edge
    snapped = snap_points(net, x, y)
    np.testing.assert_allclose(snapped.off_network_m, brute, rtol=0, atol=1e-6)
    # the foot point lies on the chosen edge at the reported distance
    foot = shapely.line_interpolate_point(lines[snapped.edge], snapped.along_m / net.edge_length_m[snapped.edge],
                                          normalized=True)
    np.testing.assert_allclose(shapely.distance(shapely.points(x, y), foot), brute, atol=1e-6)


@pytest.mark.parametrize("parts", EXTRACTS)
def test_grid_snapping_equals_the_sample_search_and_breaks_ties_by_lowest_edge(parts):
    """The grid search (`snap._nearest_edges`) gives bit for bit what the k-d tree search over edge samples gives
    (edge, foot fraction, metres); at the nodes (several edges at distance 0) the edge is the
    lowest-indexed of those a shapely brute force finds at the minimum distance."""
    from siting.network import snap

    net = load_network(shared_file(*parts))
    x, y = _points(net, 5)
    grid = snap._nearest_edges(net, x, y)
    samples = snap._nearest_edges_by_samples(net, x, y)
    for a, b in zip(grid, samples):
        np.testing.assert_array_equal(a, b)
    xu, yu, xv, yv = net.edge_xy()
    lines = shapely.linestrings(np.stack([np.stack([xu, yu], 1), np.stack([xv, yv], 1)], 1))
    at_nodes = slice(400, 450)
    d = shapely.distance(shapely.points(x[at_nodes], y[at_nodes])[:, None], lines[None, :])
    lowest = np.argmax(d <= d.min(axis=1, keepdims=True), axis=1)
    np.testing.assert_array_equal(grid[0][at_nodes], lowest)


@pytest.mark.parametrize("parts", EXTRACTS)
def test_snapping_to_the_main_network_only_is_the_nearest_main_edge(parts):
    """`main_only` (project `snap_to = "main"`): the grid and the sample search agree bit for bit, every edge lies on
    the largest connected piece, and its distance is the minimum over that piece's edges (shapely brute force)."""
    from siting.network import snap

    net = load_network(shared_file(*parts))
    x, y = _points(net, 9)
    grid = snap._nearest_edges(net, x, y, main_only=True)
    for a, b in zip(grid, snap._nearest_edges_by_samples(net, x, y, main_only=True)):
        np.testing.assert_array_equal(a, b)
    main = np.flatnonzero(net.component[net.edge_u] == 0)
    assert np.isin(grid[0], main).all()
    xu, yu, xv, yv = net.edge_xy()
    lines = shapely.linestrings(np.stack([np.stack([xu, yu], 1), np.stack([xv, yv], 1)], 1))[main]
    brute = shapely.distance(shapely.points(x, y)[:, None], lines[None, :]).min(axis=1)
    np.testing.assert_allclose(grid[2], brute, rtol=0, atol=1e-6)


@pytest.mark.parametrize("parts", EXTRACTS)
def test_sparse_bounded_search_equals_scipy_whole_graph_dijkstra(parts):
    net = load_network(shared_file(*parts))
    rng = np.random.default_rng(5)
    src = snap_points(net, rng.uniform(net.x.min(), net.x.max(), 40), rng.uniform(net.y.min(), net.y.max(), 40))
    limit = 600.0
    leg_u, leg_v = routing.source_legs(net, src)
    s, node, dist = kernels.bounded_node_distances(*routing.csr_arrays(net), net.n_nodes, net.edge_u[src.edge],
                                                   net.edge_v[src.edge], leg_u, leg_v, limit)
    expected = np.vstack([block for _, block in scipy_reference.iter_source_node_distances(net, src, limit)])
    rows, cols = np.nonzero(np.isfinite(expected))
    assert np.array_equal(s, rows) and np.array_equal(node, cols)  # same pairs, sorted by source then node
    np.testing.assert_allclose(dist, expected[rows, cols], rtol=0, atol=1e-9)


@pytest.mark.parametrize("parts", EXTRACTS)
def test_nearest_source_per_node_equals_scipy_min_only(parts):
    from scipy.sparse.csgraph import dijkstra

    net = load_network(shared_file(*parts))
    rng = np.random.default_rng(9)
    src = snap_points(net, rng.uniform(net.x.min(), net.x.max(), 25), rng.uniform(net.y.min(), net.y.max(), 25))
    leg_u, leg_v = routing.source_legs(net, src)
    dist, owner = kernels.nearest_node_source(*routing.csr_arrays(net), net.n_nodes, net.edge_u[src.edge],
                                              net.edge_v[src.edge], leg_u, leg_v)
    n = net.n_nodes
    graph = scipy_reference.augmented_graph(net, src)
    expected, _, sources = dijkstra(graph, directed=True, indices=np.arange(n, n + len(src)), min_only=True,
                                    return_predecessors=True)
    np.testing.assert_allclose(dist, expected[:n], rtol=0, atol=1e-9)
    reached = np.isfinite(dist)
    assert np.array_equal(owner < 0, ~reached)
    # the owner is a nearest source: its own distance to the node equals the minimum (ties may pick either)
    per_source = np.vstack([b for _, b in scipy_reference.iter_source_node_distances(net, src)])
    np.testing.assert_allclose(per_source[owner[reached], np.flatnonzero(reached)], dist[reached], atol=1e-9)


def test_by_node_both_ends_is_the_stable_counting_sort_of_both_ends():
    """The compiled node → destination lists equal counting_order over the concatenated ends (what routing built
    before), bit for bit."""
    rng = np.random.default_rng(4)
    n_nodes, n = 300, 5000
    u, v = rng.integers(0, n_nodes, n), rng.integers(0, n_nodes, n)
    to_u, to_v = rng.random(n) * 100, rng.random(n) * 100
    indptr, item, metres = kernels.by_node_both_ends(u, v, to_u, to_v, n_nodes)
    order, want_ptr = kernels.counting_order(np.concatenate([u, v]), n_nodes)
    assert np.array_equal(indptr, want_ptr)
    assert np.array_equal(item, np.concatenate([np.arange(n), np.arange(n)])[order])
    assert np.array_equal(metres, np.concatenate([to_u, to_v])[order])
    assert np.array_equal(order, np.argsort(np.concatenate([u, v]), kind="stable"))


def test_pair_sums_equal_bincount_bit_for_bit():
    rng = np.random.default_rng(8)
    n_src, n_dst, k = 40, 2000, 30000
    src, dst = np.sort(rng.integers(0, n_src, k)), rng.integers(0, n_dst, k)
    values = rng.random((3, n_dst)) * 10.0 ** rng.integers(-3, 6, (3, 1))
    for rows in (values, tuple(values)):  # a 2-D array or a tuple of rows
        got = kernels.pair_sums(src, dst, n_src, rows)
        for j in range(3):
            assert got[j].tobytes() == np.bincount(src, weights=values[j][dst], minlength=n_src).tobytes()
    # the other way round (per destination, from its sources: the 2SFCA sum), pairs not sorted by the sum's key
    per_src = rng.random(n_src)
    got = kernels.pair_sums(dst, src, n_dst, (per_src,))[0]
    assert got.tobytes() == np.bincount(dst, weights=per_src[src], minlength=n_dst).tobytes()


def test_projection_in_chunks_equals_one_call():
    from pyproj import Transformer

    from siting.network.snap import _project_xy

    rng = np.random.default_rng(1)
    lon, lat = 116 + rng.random(250_000), 39 + rng.random(250_000)
    want = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(lon, lat)
    got = _project_xy("EPSG:4326", "EPSG:32650", lon, lat)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@pytest.mark.parametrize("n_bits", [1, 9, 11, 12, 22, 23, 33])
def test_radix_sort_of_ids_equals_np_sort(n_bits):
    """The reach kernel's per-facility sort (1, 2 or 3 radix passes, np.sort below 256 items)."""
    rng = np.random.default_rng(n_bits)
    for n in (0, 1, 255, 256, 5000):
        ids = rng.choice(2**n_bits, size=min(n, 2**n_bits), replace=False).astype(np.int64)
        a = np.concatenate([ids, np.full(7, -1)])  # items past n stay untouched
        kernels._sort_ids(a, ids.size, np.empty(max(ids.size, 1), dtype=np.int64),
                          np.empty(kernels._RADIX + 1, dtype=np.int64), n_bits)
        assert np.array_equal(a[:ids.size], np.sort(ids)) and np.all(a[ids.size:] == -1)


@pytest.mark.parametrize("main_only", [False, True])
def test_snapping_in_pieces_equals_the_one_piece_run(monkeypatch, main_only):
    """`snap_geoseries` on many points reads coordinates piece by piece while the kernel threads project and search
    the pieces before (`snap._snap_in_pieces`): the same Snapped bit for bit as one piece, for WGS84 points with
    polygons among them (their inside points) and for points already in the network's CRS."""
    import geopandas as gpd

    from siting.network import snap

    net = load_network(shared_file("bupt_beijing", "map.osm"))
    x, y = _points(net, 11)
    geoms = list(shapely.points(x, y))
    for k in (3, 200, 401):  # polygons in several pieces: snapped from a point inside them
        geoms[k] = shapely.Point(x[k], y[k]).buffer(30.0)
    metric = gpd.GeoSeries(geoms, crs=net.crs)
    monkeypatch.setattr(kernels, "THREADS", 2)
    for series in (metric, metric.to_crs("EPSG:4326")):
        monkeypatch.setattr(snap, "_PIECE", 10**9)
        whole = snap.snap_geoseries(net, series, main_only=main_only)
        monkeypatch.setattr(snap, "_PIECE", 37)
        assert snap._snap_in_pieces(net, series, np.asarray(series.values), 500.0, main_only) is not None
        pieces = snap.snap_geoseries(net, series, main_only=main_only)
        for field in ("edge", "along_m", "off_network_m", "component", "too_far"):
            np.testing.assert_array_equal(getattr(pieces, field), getattr(whole, field), err_msg=field)
    # a coordinate that is not finite: the pieces step aside and the one-piece path decides (as it always did)
    infinite = gpd.GeoSeries(geoms[:100] + [shapely.Point(np.inf, y[0])], crs=net.crs)
    assert snap._snap_in_pieces(net, infinite, np.asarray(infinite.values), 500.0, main_only) is None
