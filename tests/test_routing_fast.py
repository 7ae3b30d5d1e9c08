"""The sparse bounded search (`siting.network.kernels`, used by `reach` and catchment polygons) gives the same pairs and
metres as scipy's whole-graph search and as networkx Dijkstra."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy_reference
from conftest import shared_file

from siting.network import kernels, load_network, network_from_arrays, routing
from siting.network.isochrones import (
    catchment_polygons,
    reached_segments,
    street_buffer,
)
from siting.network.snap import snap_points


def _grid_network(seed: int, n: int = 14, spacing_m: float = 180.0, length_factor: np.ndarray | None = None):
    """A jittered n × n street grid near Chifeng with some links removed (dead ends), in WGS84."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x = (i.ravel() * spacing_m + rng.uniform(-20, 20, n * n))
    y = (j.ravel() * spacing_m + rng.uniform(-20, 20, n * n))
    node = lambda a, b: a * n + b  # noqa: E731
    hu, hv = node(i[:-1, :], j[:-1, :]).ravel(), node(i[1:, :], j[1:, :]).ravel()
    vu, vv = node(i[:, :-1], j[:, :-1]).ravel(), node(i[:, 1:], j[:, 1:]).ravel()
    u, v = np.concatenate([hu, vu]), np.concatenate([hv, vv])
    keep = rng.random(u.size) > 0.08
    u, v = u[keep], v[keep]
    lon = 118.9 + x / 82_000.0  # about 82 km per degree of longitude at 42° N
    lat = 42.27 + y / 111_000.0
    probe = network_from_arrays(lon, lat, u, v)
    length = None
    if length_factor is not None:
        length = np.hypot(probe.x[u] - probe.x[v], probe.y[u] - probe.y[v]) * length_factor[: u.size]
    return network_from_arrays(lon, lat, u, v, edge_length_m=length)


def _points(net, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(net.x.min() - 40, net.x.max() + 40, n), rng.uniform(net.y.min() - 40, net.y.max() + 40, n)


def _global_reach(net, src, dst, limit_m):
    """The same pairs from scipy's dense whole-graph Dijkstra (unbounded), cut at the limit afterwards."""
    return scipy_reference.scipy_reach(net, src, dst).within(limit_m)


def _assert_same_reach(a: routing.Reach, b: routing.Reach) -> None:
    assert np.array_equal(a.src, b.src)
    assert np.array_equal(a.dst, b.dst)
    np.testing.assert_allclose(a.dist_m, b.dist_m, atol=1e-6)


@pytest.mark.parametrize("limit_m", [150.0, 600.0, 1500.0])
def test_sparse_reach_equals_whole_graph_reach_on_a_grid(limit_m):
    net = _grid_network(3)
    src = snap_points(net, *_points(net, 40, 1))
    dst = snap_points(net, *_points(net, 300, 2))
    got = routing.reach(net, src, dst, limit_m)
    assert got.src.size > 0
    _assert_same_reach(got, _global_reach(net, src, dst, limit_m))


def test_sparse_reach_is_exact_when_edges_are_shorter_than_their_chords():
    """GraphML lengths can be below the straight chord (no straight-line pruning may be assumed)."""
    rng = np.random.default_rng(5)
    net = _grid_network(4, length_factor=np.where(rng.random(1000) < 0.3, 0.5, 1.0))
    src = snap_points(net, *_points(net, 25, 6))
    dst = snap_points(net, *_points(net, 200, 7))
    got = routing.reach(net, src, dst, 700.0)
    _assert_same_reach(got, _global_reach(net, src, dst, 700.0))
    # and against networkx: each source's virtual node joined to its edge ends, bounded Dijkstra
    graph = net.to_networkx()
    to_u, to_v = routing.source_legs(net, src)
    for k in range(len(src)):
        g = graph.copy()
        g.add_edge("S", int(net.edge_u[src.edge[k]]), length=to_u[k])
        g.add_edge("S", ("S", 1), length=0.0)
        g.add_edge(("S", 1), int(net.edge_v[src.edge[k]]), length=to_v[k])
        node_m = nx.single_source_dijkstra_path_length(g, "S", cutoff=700.0, weight="length")
        one = src.subset(np.arange(len(src)) == k)
        leg_u, leg_v = routing.source_legs(net, one)
        _, nodes, metres = kernels.bounded_node_distances(*routing.csr_arrays(net), net.n_nodes, net.edge_u[one.edge],
                                                          net.edge_v[one.edge], leg_u, leg_v, 700.0)
        assert set(nodes.tolist()) == {n for n in node_m if isinstance(n, (int, np.integer))}
        for node, m in zip(nodes.tolist(), metres.tolist()):
            assert m == pytest.approx(node_m[node], abs=1e-6)


@pytest.mark.parametrize("parts", [("bupt_beijing", "map.osm"), ("hk_osm_tst", "hong-kong_china_tst.osm")])
def test_sparse_reach_equals_whole_graph_reach_on_real_extracts(parts):
    net = load_network(shared_file(*parts))
    src = snap_points(net, *_points(net, 30, 11))
    dst = snap_points(net, *_points(net, 400, 12))
    for limit_m in (300.0, 900.0):
        _assert_same_reach(routing.reach(net, src, dst, limit_m), _global_reach(net, src, dst, limit_m))


def test_local_catchment_segments_equal_whole_graph_segments():
    """Catchment polygons built from sparse node distances equal those from whole-graph node distances."""
    net = _grid_network(8)
    src = snap_points(net, *_points(net, 12, 9))
    limits = {10.0: 550.0, 15.0: 825.0}
    got = catchment_polygons(net, src, limits, buffer_m=20.0).to_crs(net.crs)
    expected = []
    for idx, block in scipy_reference.iter_source_node_distances(net, src, 825.0):
        for row, k in enumerate(idx):
            for limit in sorted(limits.values()):
                expected.append(street_buffer(reached_segments(net, block[row], limit, src, int(k)), 20.0))
    assert len(got) == len(expected)
    for geom, ref in zip(got.geometry, expected):
        assert geom.symmetric_difference(ref).area < 1e-3 * ref.area


def test_reach_on_threads_side_by_side_equals_scipy_and_the_one_thread_run(monkeypatch):
    """Many sources (chunks on the kernel threads, working arrays lent from one pool between searches) and two
    searches at once with different limits and destinations, as the coverage kinds run them: each equals scipy's
    whole-graph answer and the one-thread run bit for bit."""
    from concurrent.futures import ThreadPoolExecutor

    net = _grid_network(4, n=18)
    src = snap_points(net, *_points(net, 150, 5))  # ≥ kernels._PARALLEL_MIN_SOURCES: chunked
    dst_a = snap_points(net, *_points(net, 900, 6))
    dst_b = snap_points(net, *_points(net, 700, 7))
    jobs = [(dst_a, 700.0), (dst_b, 1100.0), (dst_a, 400.0)]
    monkeypatch.setattr(kernels, "THREADS", 2)
    with ThreadPoolExecutor(3) as pool:
        side_by_side = list(pool.map(lambda job: routing.reach(net, src, job[0], job[1]), jobs))
    monkeypatch.setattr(kernels, "THREADS", 1)
    for (dst, limit), got in zip(jobs, side_by_side):
        _assert_same_reach(got, _global_reach(net, src, dst, limit))
        alone = routing.reach(net, src, dst, limit)
        for field in ("src", "dst", "dist_m"):
            np.testing.assert_array_equal(getattr(got, field), getattr(alone, field))
    assert not kernels._SCRATCH  # the lent working arrays are dropped when the last search ends


def test_blocks_taking_turns_run_each_block_once_and_hand_back_an_error(monkeypatch):
    """`kernels._take_turns` (blocks of two searches at once alternate on the kernel threads): every block runs
    exactly once, two callers at once both complete, and a block's error reaches its caller (no hang)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(kernels, "THREADS", 2)
    seen: dict[str, list[int]] = {"a": [], "b": []}
    lock = threading.Lock()

    def recorder(name: str):
        def run(k: int) -> None:
            with lock:
                seen[name].append(k)
        return run

    with ThreadPoolExecutor(2) as callers:
        list(callers.map(lambda name: kernels._take_turns(recorder(name), 57), ["a", "b"]))
    assert sorted(seen["a"]) == list(range(57)) and sorted(seen["b"]) == list(range(57))
    kernels._take_turns(recorder("a"), 0)  # nothing to run: returns at once

    def failing(k: int) -> None:
        if k == 5:
            raise ValueError("block 5 failed")

    with pytest.raises(ValueError, match="block 5 failed"):
        kernels._take_turns(failing, 40)
