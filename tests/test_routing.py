"""Walking distances from the compiled kernel equal a brute-force networkx Dijkstra on the same graph."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from conftest import shared_file

from siting.network import load_network, network_from_arrays, routing
from siting.network.snap import snap_points


def _random_points(net, n, seed):
    rng = np.random.default_rng(seed)
    pad = 50.0
    return (rng.uniform(net.x.min() - pad, net.x.max() + pad, n), rng.uniform(net.y.min() - pad, net.y.max() + pad, n))


def _brute_force(net, src, dst):
    """Insert each source as a node split into its edge, run networkx Dijkstra, and read destinations off both ends."""
    graph = net.to_networkx()
    out = np.full((len(src), len(dst)), np.inf)
    for j in range(len(src)):
        g = graph.copy()
        e = src.edge[j]
        u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), net.edge_length_m[e]
        g.add_edge("S", u, length=src.off_network_m[j] + src.along_m[j])
        g.add_edge("S", ("S", v), length=0.0)
        g.add_edge(("S", v), v, length=src.off_network_m[j] + length - src.along_m[j])
        dist = nx.single_source_dijkstra_path_length(g, "S", weight="length")
        for i in range(len(dst)):
            f = dst.edge[i]
            a, b, lf = int(net.edge_u[f]), int(net.edge_v[f]), net.edge_length_m[f]
            best = min(dist.get(a, np.inf) + dst.along_m[i], dist.get(b, np.inf) + lf - dst.along_m[i])
            if f == e:
                best = min(best, src.off_network_m[j] + abs(src.along_m[j] - dst.along_m[i]))
            out[j, i] = best + dst.off_network_m[i]
    return out


@pytest.mark.parametrize(
    "parts",
    [("bupt_beijing", "map.osm"), ("osmnx", "aguascalientes.osm.pbf"), ("hk_osm_tst", "hong-kong_china_tst.osm")],
)
def test_walking_distances_equal_networkx_dijkstra(parts):
    net = load_network(shared_file(*parts))
    src = snap_points(net, *_random_points(net, 8, 1))
    dst = snap_points(net, *_random_points(net, 120, 2))
    expected = _brute_force(net, src, dst)
    got = routing.cost_matrix_m(net, src, dst)
    finite = np.isfinite(expected)
    assert np.array_equal(finite, np.isfinite(got))
    np.testing.assert_allclose(got[finite], expected[finite], atol=1e-4)

    nearest_m, nearest = routing.nearest_source(net, src, dst)
    np.testing.assert_allclose(nearest_m[np.isfinite(nearest_m)], expected.min(axis=0)[np.isfinite(nearest_m)], atol=1e-4)
    ok = np.isfinite(nearest_m)
    np.testing.assert_allclose(expected[nearest[ok], np.flatnonzero(ok)], nearest_m[ok], atol=1e-4)

    limit = 700.0
    within = routing.reach(net, src, dst, limit)
    assert set(zip(within.src.tolist(), within.dst.tolist())) == set(zip(*np.nonzero(expected <= limit)))
    np.testing.assert_allclose(within.dist_m, expected[within.src, within.dst], atol=1e-4)


def test_pbf_and_bz2_give_identical_graphs():
    pbf = load_network(shared_file("osmnx", "aguascalientes.osm.pbf"))
    bz2 = load_network(shared_file("osmnx", "aguascalientes.osm.bz2"))
    for name in ("x", "y", "lon", "lat", "osmid", "edge_u", "edge_v", "edge_length_m", "edge_highway"):
        assert np.array_equal(getattr(pbf, name), getattr(bz2, name)), name
    assert pbf.crs == bz2.crs


def test_walking_filter_matches_an_independent_xml_read():
    """Count walkable ways and their segments with a plain xml.etree pass over the same file."""
    import xml.etree.ElementTree as ET

    from siting.network import is_walkable

    path = shared_file("bupt_beijing", "map.osm")
    pairs = set()
    for way in ET.parse(path).getroot().iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        if "highway" in tags and is_walkable(tags):
            refs = [int(nd.get("ref")) for nd in way.iter("nd")]
            pairs |= {tuple(sorted(p)) for p in zip(refs, refs[1:]) if p[0] != p[1]}
    net = load_network(path)
    got = {tuple(sorted(p)) for p in zip(net.osmid[net.edge_u].tolist(), net.osmid[net.edge_v].tolist())}
    assert got == pairs
    motorway_free = set(net.edge_highway.tolist())
    assert "motorway" not in motorway_free and "trunk" not in motorway_free


def test_edge_lengths_agree_with_geodesic_lengths():
    """Projected segment lengths (UTM) stay within 0.1 % of the WGS84 geodesic length osmnx would use."""
    from pyproj import Geod

    net = load_network(shared_file("bupt_beijing", "map.osm"))
    _, _, geodesic = Geod(ellps="WGS84").inv(net.lon[net.edge_u], net.lat[net.edge_u], net.lon[net.edge_v], net.lat[net.edge_v])
    long = geodesic > 1
    np.testing.assert_allclose(net.edge_length_m[long], geodesic[long], rtol=1e-3)


def test_disconnected_pieces_are_reported_and_unreachable():
    # two separate squares 5 km apart
    lon = np.array([116.0, 116.001, 116.001, 116.0, 116.05, 116.051])
    lat = np.array([40.0, 40.0, 40.001, 40.001, 40.0, 40.0])
    net = network_from_arrays(lon, lat, np.array([0, 1, 2, 3, 4]), np.array([1, 2, 3, 0, 5]))
    summary = net.components_summary()
    assert summary["n_components"] == 2 and summary["largest_nodes"] == 4 and summary["other_component_nodes"] == 2
    src = snap_points(net, net.x[[0]], net.y[[0]])
    dst = snap_points(net, net.x[[2, 5]], net.y[[2, 5]])
    dist, nearest = routing.nearest_source(net, src, dst)
    assert np.isfinite(dist[0]) and not np.isfinite(dist[1]) and nearest[1] == -1
    # the square's far corner: two sides (~85 m and ~111 m), hand-computed from the projected coordinates
    def side(a, b):
        return np.hypot(net.x[a] - net.x[b], net.y[a] - net.y[b])

    sides = min(side(0, 1) + side(1, 2), side(0, 3) + side(3, 2))  # either way round the square
    assert dist[0] == pytest.approx(sides, abs=1e-3)


def test_graph_cache_round_trip(tmp_path):
    path = shared_file("osmnx", "aguascalientes.osm.pbf")
    first = load_network(path, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("network-*.npz"))) == 1
    second = load_network(path, cache_dir=tmp_path)
    for name in ("x", "y", "osmid", "edge_u", "edge_v", "edge_length_m", "edge_highway"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert first.crs == second.crs


def test_graphml_round_trip_through_osmnx(tmp_path):
    """A graph written by osmnx.save_graphml reads back to the same walking distances."""
    import osmnx as ox

    net = load_network(shared_file("bupt_beijing", "map.osm"))
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(net.n_nodes):
        g.add_node(int(net.osmid[i]), x=float(net.lon[i]), y=float(net.lat[i]))
    for u, v, length in zip(net.edge_u, net.edge_v, net.edge_length_m):
        g.add_edge(int(net.osmid[u]), int(net.osmid[v]), length=float(length), highway="footway")
    path = tmp_path / "walk.graphml"
    ox.save_graphml(g, path)
    again = load_network(path)
    assert again.n_nodes == net.n_nodes and again.n_edges == net.n_edges
    pts = _random_points(net, 30, 5)
    a = routing.cost_matrix_m(net, snap_points(net, pts[0][:3], pts[1][:3]), snap_points(net, *pts))
    b = routing.cost_matrix_m(again, snap_points(again, pts[0][:3], pts[1][:3]), snap_points(again, *pts))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_osmnx_graph_from_the_same_file_gives_the_same_distances():
    """The online path (osmnx graph → network) checked offline: osmnx reads the same .osm file, unsimplified."""
    import osmnx as ox

    from siting.network.download import network_from_osmnx_graph

    path = shared_file("bupt_beijing", "map.osm")
    ours = load_network(path)
    from siting.network import is_walkable

    graph = ox.graph_from_xml(path, simplify=False, retain_all=True, bidirectional=True)
    # graph_from_xml keeps every way of the file (buildings too): apply the same walking filter to its edges
    graph.remove_edges_from([(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if not is_walkable(d)])
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    theirs = network_from_osmnx_graph(graph)
    assert theirs.n_nodes == ours.n_nodes and theirs.n_edges == ours.n_edges
    pts = _random_points(ours, 20, 11)
    a = routing.cost_matrix_m(ours, snap_points(ours, pts[0][:4], pts[1][:4]), snap_points(ours, *pts))
    b = routing.cost_matrix_m(theirs, snap_points(theirs, pts[0][:4], pts[1][:4]), snap_points(theirs, *pts))
    both = np.isfinite(a) & np.isfinite(b)
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    # osmnx uses great-circle lengths, we use UTM segment lengths: agree within 0.2 %
    np.testing.assert_allclose(a[both], b[both], rtol=2e-3, atol=1.0)


def test_pbf_and_bz2_give_identical_results_for_the_kindergartens():
    """Walking metres from every building to the nearest of the 11 OSM kindergartens, read from each format."""
    from siting.inputs.osm_features import (
        read_osm_facilities,
        read_osm_residential_buildings,
    )
    from siting.network.snap import snap_geoseries

    results = []
    for name in ("aguascalientes.osm.pbf", "aguascalientes.osm.bz2"):
        path = shared_file("osmnx", name)
        net = load_network(path)
        kinder = read_osm_facilities(path)
        assert (kinder.kind == "nursery").sum() == 11
        homes = read_osm_residential_buildings(path)
        pts = _random_points(net, 200, 3)
        dst = snap_points(net, *pts)
        results.append(routing.nearest_source(net, snap_geoseries(net, kinder.geometry), dst))
        results.append(len(homes))
    assert np.array_equal(results[0][0], results[2][0]) and np.array_equal(results[0][1], results[2][1])
    assert results[1] == results[3]
