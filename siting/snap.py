"""Attach points (residences, facilities, candidate sites) to the walking network.

A point is attached to the nearest point of the nearest edge; the straight walk from the point to that foot point
(`off_network_m`) is added to every walking distance. Points farther than `max_snap_m` are flagged, never silently moved.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

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


def _edge_tree(net: WalkNetwork) -> shapely.STRtree:
    tree = net._extra.get("edge_tree")
    if tree is None:
        xu, yu, xv, yv = net.edge_xy()
        coords = np.stack([np.stack([xu, yu], axis=1), np.stack([xv, yv], axis=1)], axis=1)
        tree = shapely.STRtree(shapely.linestrings(coords))
        net._extra["edge_tree"] = tree
    return tree


def snap_points(net: WalkNetwork, x: np.ndarray, y: np.ndarray, *, max_snap_m: float = 500.0) -> Snapped:
    """Snap points given in the network's metric CRS (metres) to their nearest edge."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        empty = np.zeros(0)
        return Snapped(empty.astype(np.int64), empty, empty, empty.astype(np.int32), empty.astype(bool))
    points = shapely.points(x, y)
    point_idx, edge_idx = _edge_tree(net).query_nearest(points, all_matches=False)
    edge = np.empty(x.size, dtype=np.int64)
    edge[point_idx] = edge_idx
    xu, yu, xv, yv = (a[edge] for a in net.edge_xy())
    dx, dy = xv - xu, yv - yu
    seg2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(seg2 > 0, ((x - xu) * dx + (y - yu) * dy) / seg2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    foot_x, foot_y = xu + t * dx, yu + t * dy
    off = np.hypot(x - foot_x, y - foot_y)
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
    points = points.where(points.geom_type == "Point", points.representative_point())
    return snap_points(net, points.x.to_numpy(), points.y.to_numpy(), max_snap_m=max_snap_m)
