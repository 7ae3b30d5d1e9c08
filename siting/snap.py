"""Attach points (residences, facilities, candidate sites) to the walking network.

A point is attached to the nearest point of the nearest edge; the straight walk from the point to that foot point
(`off_network_m`) is added to every walking distance. Points farther than `max_snap_m` are flagged, never silently moved.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from .network import WalkNetwork


@dataclass(frozen=True)
class Snapped:
    """Where each point meets the network. Arrays have one entry per point."""

    edge: np.ndarray  # int64 edge index
    along_m: np.ndarray  # metres from the edge's u node to the foot point, along the edge
    off_network_m: np.ndarray  # metres from the point to the foot point (straight line)
    component: np.ndarray  # network component of the edge (0 = largest)
    too_far: np.ndarray  # bool: off_network_m > max_snap_m

    def __len__(self) -> int:
        return int(self.edge.shape[0])

    def subset(self, mask: np.ndarray) -> "Snapped":
        return Snapped(self.edge[mask], self.along_m[mask], self.off_network_m[mask], self.component[mask], self.too_far[mask])


#: Edges are sampled at most this many metres apart for the nearest-edge search (see `_nearest_edges`).
_SAMPLE_SPACING_M = 25.0


def _edge_samples(net: WalkNetwork):
    """A k-d tree over points spaced ≤ `_SAMPLE_SPACING_M` along every edge, and each sample's edge (cached)."""
    cached = net._extra.get("edge_samples")
    if cached is None:
        from scipy.spatial import cKDTree

        xu, yu, xv, yv = net.edge_xy()
        pieces = np.maximum(1, np.ceil(np.hypot(xv - xu, yv - yu) / _SAMPLE_SPACING_M)).astype(np.int64)
        counts = pieces + 1
        sample_edge = np.repeat(np.arange(net.n_edges, dtype=np.int64), counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        t = (np.arange(sample_edge.size) - np.repeat(starts, counts)) / np.repeat(pieces, counts)
        sx = xu[sample_edge] + t * (xv - xu)[sample_edge]
        sy = yu[sample_edge] + t * (yv - yu)[sample_edge]
        cached = (cKDTree(np.column_stack([sx, sy]), balanced_tree=False, compact_nodes=False), sample_edge)
        net._extra["edge_samples"] = cached
    return cached


def _segment_distance(net: WalkNetwork, edge: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Straight metres from points to edges (broadcast), and the foot point's fraction t along each edge."""
    u, v = net.edge_u[edge], net.edge_v[edge]
    xu, yu, xv, yv = net.x[u], net.y[u], net.x[v], net.y[v]
    dx, dy = xv - xu, yv - yu
    seg2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(seg2 > 0, ((x - xu) * dx + (y - yu) * dy) / seg2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(x - (xu + t * dx), y - (yu + t * dy)), t


def _nearest_edges(net: WalkNetwork, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the nearest edge to each point, exactly (ties go to the lowest edge index).

    Every point of an edge lies within h = spacing / 2 of one of its samples, so an edge at distance d has a sample
    within d + h. Taking the k nearest samples' edges, the best exact distance `best` is final once the k-th sample
    is farther than best + h (no unseen edge can come closer); points that fail the check are retried with more
    samples. Much faster than building shapely geometries for every edge, and exact wherever the point lies."""
    tree, sample_edge = _edge_samples(net)
    half = _SAMPLE_SPACING_M / 2 + 1e-9
    edge = np.full(x.size, -1, dtype=np.int64)
    pending = np.arange(x.size)
    k = 8
    while pending.size:
        k = min(k, tree.n)
        dk, ik = tree.query(np.column_stack([x[pending], y[pending]]), k=k, workers=-1 if pending.size > 20_000 else 1)
        dk, ik = dk.reshape(pending.size, k), ik.reshape(pending.size, k)
        cand = sample_edge[ik]
        cand = np.take_along_axis(cand, np.argsort(cand, axis=1, kind="stable"), axis=1)
        dist, _ = _segment_distance(net, cand, x[pending, None], y[pending, None])
        pick = np.argmin(dist, axis=1)
        rows = np.arange(pending.size)
        final = (dk[:, -1] > dist[rows, pick] + half) | (k == tree.n)
        edge[pending[final]] = cand[rows[final], pick[final]]
        pending = pending[~final]
        k *= 4
    return edge


def snap_points(net: WalkNetwork, x: np.ndarray, y: np.ndarray, *, max_snap_m: float = 500.0) -> Snapped:
    """Snap points given in the network's metric CRS (metres) to their nearest edge."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        empty = np.zeros(0)
        return Snapped(empty.astype(np.int64), empty, empty, empty.astype(np.int32), empty.astype(bool))
    edge = _nearest_edges(net, x, y)
    off, t = _segment_distance(net, edge, x, y)
    along = t * net.edge_length_m[edge]  # edge length may exceed the chord for curved GraphML edges
    return Snapped(
        edge=edge,
        along_m=along,
        off_network_m=off,
        component=net.component[net.edge_u[edge]],
        too_far=off > max_snap_m,
    )


def snap_geoseries(net: WalkNetwork, geometry, *, max_snap_m: float = 500.0) -> Snapped:
    """Snap a GeoSeries (any CRS); polygons are represented by a point guaranteed to lie inside them."""
    points = geometry.to_crs(net.crs)
    not_point = (points.geom_type != "Point").to_numpy()
    if not_point.any():
        points = points.copy()
        points[not_point] = points[not_point].representative_point()
    return snap_points(net, points.x.to_numpy(), points.y.to_numpy(), max_snap_m=max_snap_m)
