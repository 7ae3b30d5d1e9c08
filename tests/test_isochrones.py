"""Catchment segments and polygons against a brute force on real OpenStreetMap extracts: networkx single-source
Dijkstra from each facility, then every edge of the network cut by hand at the walking limit."""
from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from conftest import SAMPLE, shared_file

from siting.network import load_network
from siting.network.isochrones import catchment_polygons, iter_reached_segments
from siting.network.snap import snap_points

REPO = Path(__file__).resolve().parents[1]
BUFFER_M = 25.0


def _facilities(net, n: int, seed: int):
    """n random points over the extract (up to 40 m off its edge), plus one 2 km out: too far to reach anything."""
    rng = np.random.default_rng(seed)
    x = np.append(rng.uniform(net.x.min() - 40, net.x.max() + 40, n), net.x.max() + 2000.0)
    y = np.append(rng.uniform(net.y.min() - 40, net.y.max() + 40, n), net.y.max())
    return snap_points(net, x, y, max_snap_m=5000.0)


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals [a, b] on a line."""
    total, end = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of intervals as disjoint intervals, leaving out those of zero length (a limit met exactly at a
    node)."""
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out if b - a > 1e-12]


def _brute_force(net, src, k: int, limit_m: float) -> dict[int, list[tuple[float, float]]]:
    """Edge → reached intervals (metres from the edge's u end) for facility k, by networkx and hand cutting.

    The facility joins its edge's two ends through legs of off-network + along-edge metres (plus the routing
    kernel's 1 µm, routing._EPS_M, which keeps zero legs in the sparse matrix). Along an edge of length L whose
    ends are du and dv metres away, the walker covers [0, limit − du] from u and [L − (limit − dv), L] from v, and
    on its own edge [along − r, along + r] with r = limit − off-network metres, each clipped to [0, L]."""
    graph = net.to_networkx()
    e = int(src.edge[k])
    u, v = int(net.edge_u[e]), int(net.edge_v[e])
    off, along, length_e = float(src.off_network_m[k]), float(src.along_m[k]), float(net.edge_length_m[e])
    graph.add_edge("S", u, length=off + along + 1e-6)
    graph.add_edge("S", v, length=off + (length_e - along) + 1e-6)
    dist = nx.single_source_dijkstra_path_length(graph, "S", cutoff=limit_m, weight="length")
    reached: dict[int, list[tuple[float, float]]] = {}
    for edge, (a, b, length) in enumerate(zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length_m.tolist())):
        pieces = []
        if a in dist:
            pieces.append((0.0, min(length, limit_m - dist[a])))
        if b in dist:
            pieces.append((max(0.0, length - (limit_m - dist[b])), length))
        if edge == e and off < limit_m:
            r = limit_m - off
            pieces.append((max(0.0, along - r), min(length, along + r)))
        if _merged(pieces):
            reached[edge] = _merged(pieces)
    return reached


def _chord_m(net) -> np.ndarray:
    """Straight length of each edge in the projected CRS (segments are drawn there; edge_length_m is geodesic)."""
    return np.hypot(net.x[net.edge_v] - net.x[net.edge_u], net.y[net.edge_v] - net.y[net.edge_u])


def _along_fraction(net, edge: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Where points lie along their edges, as fractions from the u end (projection onto the chord)."""
    xu, yu = net.x[net.edge_u[edge]], net.y[net.edge_u[edge]]
    dx, dy = net.x[net.edge_v[edge]] - xu, net.y[net.edge_v[edge]] - yu
    return ((px - xu) * dx + (py - yu) * dy) / (dx * dx + dy * dy)


EXTRACTS = [
    pytest.param(lambda: SAMPLE / "sample.osm.pbf", 600.0, id="finnish-town-pbf"),
    pytest.param(lambda: shared_file("hk_osm_tst", "hong-kong_china_tst.osm"), 450.0, id="tsim-sha-tsui"),
]


@pytest.mark.parametrize(("path", "limit_m"), EXTRACTS)
def test_reached_segments_equal_networkx_and_hand_cutting(path, limit_m):
    net = load_network(path())
    src = _facilities(net, 12, seed=4)
    limits = [limit_m * 2 / 3, limit_m]
    chord = _chord_m(net)
    got: dict[tuple[int, int], dict[int, list[tuple[float, float]]]] = {}
    for batch in iter_reached_segments(net, src, limits):
        t0 = _along_fraction(net, batch.edge, batch.segments[:, 0, 0], batch.segments[:, 0, 1])
        t1 = _along_fraction(net, batch.edge, batch.segments[:, 1, 0], batch.segments[:, 1, 1])
        for s, j, e, a, b in zip(batch.source.tolist(), batch.limit_index.tolist(), batch.edge.tolist(),
                                 t0.tolist(), t1.tolist()):
            got.setdefault((s, j), {}).setdefault(e, []).append((min(a, b), max(a, b)))
    reached = 0
    for k in range(len(src)):
        for j, limit in enumerate(limits):
            expected = _brute_force(net, src, k, limit)
            mine = got.get((k, j), {})
            # reached street metres per facility (drawn in the projected CRS): lengths agree to 1e-6 m
            expected_m = sum(_union_length(p) / net.edge_length_m[e] * chord[e] for e, p in expected.items())
            got_m = sum(_union_length(p) * chord[e] for e, p in mine.items())
            assert got_m == pytest.approx(expected_m, abs=1e-6)
            # and edge by edge: the same edges, the same stretches of them (metres from u)
            mine_m = {e: [(a * net.edge_length_m[e], b * net.edge_length_m[e]) for a, b in _merged(p)]
                      for e, p in mine.items()}
            mine_m = {e: p for e, p in mine_m.items() if p}
            assert set(mine_m) == set(expected)
            for e, p in expected.items():
                np.testing.assert_allclose(np.array(mine_m[e]), np.array(p), atol=1e-6)
            reached += expected_m > 0
    assert reached >= len(src)  # of 2 × 13 (facility, limit) pairs; the facility 2 km out reaches nothing
    assert not got.get((len(src) - 1, 0)) and not got.get((len(src) - 1, 1))


@pytest.mark.parametrize(("path", "limit_m"), EXTRACTS)
def test_catchment_polygon_area_equals_buffered_brute_force_segments(path, limit_m):
    net = load_network(path())
    src = _facilities(net, 8, seed=9)
    seen = []
    frame = catchment_polygons(net, src, {10.0: limit_m * 2 / 3, 15.0: limit_m}, buffer_m=BUFFER_M,
                               progress=lambda done, total: seen.append((done, total)))
    frame = frame.to_crs(net.crs)
    assert list(frame.source_id) == [str(k) for k in range(len(src)) for _ in (10.0, 15.0)]
    assert list(frame.threshold_min) == [10.0, 15.0] * len(src)
    assert seen[-1] == (len(src), len(src))
    xu, yu, xv, yv = net.edge_xy()
    for (k, minutes), geom in zip(zip(frame.source_id.astype(int), frame.threshold_min), frame.geometry):
        limit = limit_m * 2 / 3 if minutes == 10.0 else limit_m
        pieces = [(e, a / net.edge_length_m[e], b / net.edge_length_m[e])
                  for e, p in _brute_force(net, src, k, limit).items() for a, b in p if b > a]
        if not pieces:
            assert geom is None or geom.is_empty  # the facility 2 km out
            continue
        e, t0, t1 = (np.array(c) for c in zip(*pieces))
        lines = shapely.linestrings(np.stack([
            np.stack([xu[e] + t0 * (xv[e] - xu[e]), yu[e] + t0 * (yv[e] - yu[e])], 1),
            np.stack([xu[e] + t1 * (xv[e] - xu[e]), yu[e] + t1 * (yv[e] - yu[e])], 1)], 1))
        # every two-point piece buffered as it is (no merging into long lines), same arc resolution
        expected = shapely.buffer(shapely.multilinestrings(lines), BUFFER_M, quad_segs=2)
        assert geom.area == pytest.approx(expected.area, rel=1e-3)
        assert geom.symmetric_difference(expected).area < 2e-3 * expected.area


def test_no_facilities_give_an_empty_frame():
    net = load_network(SAMPLE / "sample.osm.pbf")
    src = snap_points(net, np.zeros(0), np.zeros(0))
    frame = catchment_polygons(net, src, {15.0: 600.0})
    assert len(frame) == 0 and list(frame.columns) == ["source_id", "threshold_min", "geometry"]
