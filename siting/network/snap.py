"""Attach points (residences, facilities, candidate sites) to the walking network.

A point is attached to the nearest point of the nearest edge; the straight walk from the point to that foot point
(`off_network_m`) is added to every walking distance. Points farther than `max_snap_m` are flagged, never silently moved.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from . import kernels, snap_kernels
from .graph import WalkNetwork


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


def _edge_samples(net: WalkNetwork, main_only: bool = False):
    """A k-d tree over the midpoints of pieces ≤ `_SAMPLE_SPACING_M` long cut along every edge (`main_only`: every
    edge of the largest connected piece), so every point of an edge lies within spacing / 2 of one of its own
    samples; and each sample's edge (cached on the network)."""
    cache_key = "edge_samples_main" if main_only else "edge_samples"
    cached = net._extra.get(cache_key)
    if cached is None:
        from scipy.spatial import cKDTree

        xu, yu, xv, yv = net.edge_xy()
        edges = np.flatnonzero(net.component[net.edge_u] == 0) if main_only else np.arange(net.n_edges, dtype=np.int64)
        pieces = np.maximum(1, np.ceil(np.hypot(xv - xu, yv - yu)[edges] / _SAMPLE_SPACING_M)).astype(np.int64)
        sample_edge = np.repeat(edges.astype(np.int64), pieces)
        starts = np.concatenate([[0], np.cumsum(pieces)[:-1]])
        t = (np.arange(sample_edge.size) - np.repeat(starts, pieces) + 0.5) / np.repeat(pieces, pieces)
        sx = xu[sample_edge] + t * (xv - xu)[sample_edge]
        sy = yu[sample_edge] + t * (yv - yu)[sample_edge]
        cached = (cKDTree(np.column_stack([sx, sy]), balanced_tree=False, compact_nodes=False), sample_edge,
                  (xu, yu, xv, yv))
        net._extra[cache_key] = cached
    return cached


def _edge_grid(net: WalkNetwork, main_only: bool = False):
    """A uniform grid over the edges (`main_only`: the edges of the largest connected piece), cached on the network:
    each edge listed in every cell its bounding box overlaps, as a CSR (cell_ptr, cell_edges); cells about 25 m or
    larger, at most ~4 per edge in all."""
    cache_key = "edge_grid_main" if main_only else "edge_grid"
    cached = net._extra.get(cache_key)
    if cached is None:
        xu, yu, xv, yv = ends = net.edge_xy()
        edges = np.flatnonzero(net.component[net.edge_u] == 0) if main_only else np.arange(net.n_edges, dtype=np.int64)
        xu, yu, xv, yv = xu[edges], yu[edges], xv[edges], yv[edges]
        x0, y0 = float(min(xu.min(), xv.min())), float(min(yu.min(), yv.min()))
        width = float(max(xu.max(), xv.max())) - x0
        height = float(max(yu.max(), yv.max())) - y0
        cell_m = max(25.0, float(np.sqrt(max(width * height, 1.0) / (4.0 * max(1, edges.size)))))
        nx, ny = int(width // cell_m) + 1, int(height // cell_m) + 1
        ix0 = np.floor((np.minimum(xu, xv) - x0) / cell_m).astype(np.int64)
        ix1 = np.floor((np.maximum(xu, xv) - x0) / cell_m).astype(np.int64)
        iy0 = np.floor((np.minimum(yu, yv) - y0) / cell_m).astype(np.int64)
        iy1 = np.floor((np.maximum(yu, yv) - y0) / cell_m).astype(np.int64)
        wx, wy = ix1 - ix0 + 1, iy1 - iy0 + 1
        count = wx * wy
        local = np.repeat(np.arange(edges.size, dtype=np.int64), count)  # position in `edges`
        k = np.arange(local.size) - np.repeat(np.cumsum(count) - count, count)  # position within the edge's box
        cell = (ix0[local] + k // wy[local]) * ny + (iy0[local] + k % wy[local])
        e = edges.astype(np.int64)[local]
        order = np.argsort(cell, kind="stable")
        cell_ptr = np.searchsorted(cell[order], np.arange(nx * ny + 1)).astype(np.int64)
        cached = (x0, y0, cell_m, nx, ny, cell_ptr, e[order], ends)
        net._extra[cache_key] = cached
    return cached


def _nearest_edges(net: WalkNetwork, x: np.ndarray, y: np.ndarray,
                   main_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest edge to each point, exactly (ties go to the lowest edge index), the foot point's fraction t along
    it, and the straight metres to the foot point: by rings of a uniform grid over the edges (`_edge_grid`,
    `snap_kernels.grid_nearest_edges`), all compiled. The k-d tree search over edge samples
    (`_nearest_edges_by_samples`) gives the same answer bit for bit; it stays for the cases the grid does not take. Why: the k-d tree left 46 % of 3.57 M household points unsettled after its first
    4 samples and took 7.8 s to snap them; the grid takes a fraction of that."""
    if net.n_edges == 0 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return _nearest_edges_by_samples(net, x, y, main_only)  # which refuses non-finite coordinates, as it always did
    x0, y0, cell_m, nx, ny, cell_ptr, cell_edges, ends = _edge_grid(net, main_only)
    return snap_kernels.grid_nearest_edges(x, y, x0, y0, cell_m, nx, ny, cell_ptr, cell_edges, *ends)


def _nearest_edges_by_samples(net: WalkNetwork, x: np.ndarray, y: np.ndarray,
                              main_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest edge to each point, exactly (ties go to the lowest edge index), the foot point's fraction t along
    it, and the straight metres to the foot point.

    Every point of an edge lies within h = spacing / 2 of one of its samples, so an edge at distance d has a sample
    within d + h. Taking the k nearest samples' edges, the best exact distance `best` is final once the k-th sample
    is farther than best + h (no unseen edge can come closer); points that fail the check are retried with more
    samples. Much faster than building shapely geometries for every edge, and exact wherever the point lies."""
    tree, sample_edge, ends = _edge_samples(net, main_only)
    edge = np.full(x.size, -1, dtype=np.int64)
    foot_t, off_m = np.zeros(x.size), np.zeros(x.size)
    pending = np.arange(x.size)
    k = 4
    while pending.size:
        k = min(k, tree.n)
        dk, ik = tree.query(np.column_stack([x[pending], y[pending]]), k=k, workers=-1 if pending.size > 20_000 else 1)
        dk, ik = dk.reshape(pending.size, k), ik.reshape(pending.size, k)
        cand = np.where(ik < tree.n, sample_edge[np.minimum(ik, tree.n - 1)], -1)
        e, t, d, final = snap_kernels.best_candidate_edges(x[pending], y[pending], cand, dk[:, -1], *ends,
                                                      _SAMPLE_SPACING_M / 2 + 1e-9)
        final |= k == tree.n
        done = pending[final]
        edge[done], foot_t[done], off_m[done] = e[final], t[final], d[final]
        pending = pending[~final]
        k *= 4
    return edge, foot_t, off_m


def snap_points(net: WalkNetwork, x: np.ndarray, y: np.ndarray, *, max_snap_m: float = 500.0,
                main_only: bool = False) -> Snapped:
    """Snap points given in the network's metric CRS (metres) to their nearest edge (`main_only`: the nearest edge
    of the largest connected piece, for points that would otherwise land on a fragment and reach nobody)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        empty = np.zeros(0)
        return Snapped(empty.astype(np.int64), empty, empty, empty.astype(np.int32), empty.astype(bool))
    edge, t, off = _nearest_edges(net, x, y, main_only)
    return _snapped(net, edge, t, off, max_snap_m)


def _snapped(net: WalkNetwork, edge: np.ndarray, foot_t: np.ndarray, off_m: np.ndarray, max_snap_m: float) -> Snapped:
    """The `Snapped` of points whose nearest edge, foot fraction along it and straight metres to it are known."""
    along = foot_t * net.edge_length_m[edge]  # edge length may exceed the chord for curved GraphML edges
    return Snapped(
        edge=edge,
        along_m=along,
        off_network_m=off_m,
        component=net.component[net.edge_u[edge]],
        too_far=off_m > max_snap_m,
    )


def walking_points(geometry):
    """The point each feature walks from: points as they are, polygons a point guaranteed to lie inside them
    (computed for the polygons only: on a million points `representative_point` for all cost a second per call)."""
    not_point = (geometry.geom_type != "Point").to_numpy()
    if not not_point.any():
        return geometry
    out = geometry.copy()
    out[not_point] = geometry[not_point].representative_point()
    return out


def _project_xy(from_crs, to_crs, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates from one CRS to another; large arrays in chunks on the kernels' threads (PROJ releases the GIL;
    one Transformer per chunk, as they are not shared between threads). Each point is projected on its own, so the
    result is the single call's bit for bit (0.4 s for 3.57 M points on one core)."""
    from pyproj import Transformer

    n = x.size
    if kernels.THREADS == 1 or n < 200_000:
        return Transformer.from_crs(from_crs, to_crs, always_xy=True).transform(x, y)
    out_x, out_y = np.empty(n), np.empty(n)
    bounds = np.linspace(0, n, kernels.THREADS + 1).astype(np.int64)

    def run(c: int) -> None:
        lo, hi = bounds[c], bounds[c + 1]
        out_x[lo:hi], out_y[lo:hi] = Transformer.from_crs(from_crs, to_crs, always_xy=True).transform(x[lo:hi], y[lo:hi])

    list(kernels.thread_pool().map(run, range(kernels.THREADS)))
    return out_x, out_y


def snap_geoseries(net: WalkNetwork, geometry, *, max_snap_m: float = 500.0, main_only: bool = False) -> Snapped:
    """Snap a GeoSeries (any CRS); polygons are represented by a point guaranteed to lie inside them."""
    geoms = np.asarray(geometry.values, dtype=object)
    if kernels.THREADS > 1 and geoms.size >= 2 * _PIECE and net.n_edges > 0:
        snapped = _snap_in_pieces(net, geometry, geoms, max_snap_m, main_only)
        if snapped is not None:
            return snapped
    x, y, not_point = _point_xy(geoms)
    if geometry.crs is not None and geometry.crs != net.crs:  # project coordinates, not geometry objects
        x, y = _project_xy(geometry.crs, net.crs, x, y)
    x, y = _inside_points(net, geometry, not_point, x, y)
    return snap_points(net, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), max_snap_m=max_snap_m,
                       main_only=main_only)


def _point_xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y of each geometry (NaN for a non-point) and which ones are not points."""
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    # only a NaN x can be a non-point (or an empty point, kept as a point): type ids of those alone, where asking
    # every one of 3.57 M points cost ≈ 0.1 s
    maybe = np.flatnonzero(np.isnan(x))
    not_point = np.zeros(geoms.size, dtype=bool)
    not_point[maybe] = shapely.get_type_id(geoms[maybe]) != 0
    return x, y, not_point


def _inside_points(net: WalkNetwork, geometry, not_point: np.ndarray, x: np.ndarray,
                   y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y (in the network's CRS) with each non-point replaced by a point guaranteed to lie inside it."""
    if not not_point.any():
        return x, y
    inside = geometry[not_point].to_crs(net.crs).representative_point()
    x, y = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
    x[not_point], y[not_point] = inside.x.to_numpy(), inside.y.to_numpy()
    return x, y


#: Points per piece when reading coordinates, projecting and searching overlap (`_snap_in_pieces`).
_PIECE = 200_000


def _snap_in_pieces(net: WalkNetwork, geometry, geoms: np.ndarray, max_snap_m: float,
                    main_only: bool) -> Snapped | None:
    """`snap_geoseries` for many points, piece by piece: this thread reads a piece's coordinates from the geometry
    objects (shapely holds the GIL: ≈ 0.2 s for 3.57 M points) while the kernel threads project and search the
    pieces before it. Each point is projected and searched on its own, so the answer is the one-piece run's bit for
    bit. None when a coordinate is not finite (the caller then takes the one-piece path and its message)."""
    from pyproj import Transformer

    n = geoms.size
    grid = _edge_grid(net, main_only)
    x0, y0, cell_m, nx, ny, cell_ptr, cell_edges, ends = grid
    project = geometry.crs is not None and geometry.crs != net.crs
    edge, foot_t, off_m = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n)

    def search(lo: int, hi: int, x: np.ndarray, y: np.ndarray, not_point: np.ndarray) -> bool:
        if project:
            x, y = Transformer.from_crs(geometry.crs, net.crs, always_xy=True).transform(x, y)
        if not_point.any():  # GIL-bound, but rare: polygons given as residences
            x, y = _inside_points(net, geometry.iloc[lo:hi], not_point, x, y)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return False
        edge[lo:hi], foot_t[lo:hi], off_m[lo:hi] = snap_kernels.grid_nearest_edges(
            x, y, x0, y0, cell_m, nx, ny, cell_ptr, cell_edges, *ends, parallel=False)
        return True

    jobs = []
    for lo in range(0, n, _PIECE):
        hi = min(n, lo + _PIECE)
        x, y, not_point = _point_xy(geoms[lo:hi])
        jobs.append(kernels.thread_pool().submit(search, lo, hi, x, y, not_point))
    if not all([job.result() for job in jobs]):
        return None
    return _snapped(net, edge, foot_t, off_m, max_snap_m)
