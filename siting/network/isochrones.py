"""Catchment polygons for display: the reached street segments (partial edges cut exactly at the limit), buffered.

Coverage itself is never read off these polygons (polygon isochrones are a known source of error in peer tools);
residences are counted from network distances. The polygons show where the streets within the limit run.

Speed (1,000 polygons on a 190k-node city, bench/bench_network.py): the compiled bounded search settles only the
nodes within the limit, only the edges incident to those nodes (`WalkNetwork.node_edges`) are cut, vectorised over
a batch of sources, and the GEOS work (merging + buffering, most of the time) runs vectorised on chunks of polygons
in a thread pool — shapely 2 releases the GIL, so chunks buffer on all cores while the next searches run.
"""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import geopandas as gpd
import numpy as np
import shapely

from . import kernels
from .arrays import concat_ranges
from .graph import WalkNetwork
from .routing import csr_arrays, source_legs
from .snap import Snapped

#: Segments per task of a buffering thread (~1 MB of coordinates, a few dozen polygons): small enough that all
#: threads stay busy to the end.
_CHUNK_SEGMENTS = 25_000
#: Sources per compiled search call: enough to spread over the kernel's threads, few enough that the segments of
#: the first batch reach the buffering threads early.
_SOURCES_PER_BATCH = 128
#: Buffering threads by default: one per core (GEOS releases the GIL), at most 4.
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


def _cut_edges(net: WalkNetwork, edge: np.ndarray, du: np.ndarray, dv: np.ndarray, limit_m: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """The stretches of `edge` within `limit_m` given the walking metres du, dv to its two ends (inf = not reached):
    the whole edge when a walker can cover it (its farthest point, (du + dv + length) / 2, is within the limit),
    else a piece from each reached end, cut exactly where the remaining metres run out. Returns the segments
    (n × 2 × 2, metres) and, for each, the position in `edge` it came from (to keep track of its source)."""
    length = net.edge_length_m[edge]
    touched = (du <= limit_m) | (dv <= limit_m)
    full = touched & ((du + dv + length) / 2 <= limit_m)
    from_u = touched & ~full & (du <= limit_m)
    from_v = touched & ~full & (dv <= limit_m)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_length = np.where(length > 0, 1.0 / length, 0.0)
    # a piece [t0, t1] of the edge (fractions from u): whole edge, [0, (limit - du) / L], [1 - (limit - dv) / L, 1]
    which = np.concatenate([np.flatnonzero(full), np.flatnonzero(from_u), np.flatnonzero(from_v)])
    n_full, n_u = int(full.sum()), int(from_u.sum())
    t0 = np.zeros(which.size)
    t1 = np.ones(which.size)
    part_u = which[n_full:n_full + n_u]
    part_v = which[n_full + n_u:]
    t1[n_full:n_full + n_u] = np.clip((limit_m - du[part_u]) * inv_length[part_u], 0, 1)
    t0[n_full + n_u:] = np.clip(1 - (limit_m - dv[part_v]) * inv_length[part_v], 0, 1)
    return _pieces(net, edge[which], t0, t1), which


def _pieces(net: WalkNetwork, edge: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Segments (n × 2 × 2, metres) from fraction t0 to t1 along each edge (fractions measured from its u end)."""
    xu, yu = net.x[net.edge_u[edge]], net.y[net.edge_u[edge]]
    dx, dy = net.x[net.edge_v[edge]] - xu, net.y[net.edge_v[edge]] - yu
    out = np.empty((edge.size, 2, 2))
    out[:, 0, 0], out[:, 0, 1] = xu + t0 * dx, yu + t0 * dy
    out[:, 1, 0], out[:, 1, 1] = xu + t1 * dx, yu + t1 * dy
    return out


def _source_edge_pieces(net: WalkNetwork, src: Snapped, ks: np.ndarray, limit_m: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Each source's stretch of its own edge, around its foot point (a node route can miss it, e.g. a source in
    the middle of a long edge whose ends are both beyond the limit). Returns segments and positions in `ks`."""
    edge = src.edge[ks]
    length = net.edge_length_m[edge]
    reach_m = limit_m - src.off_network_m[ks]
    which = np.flatnonzero((reach_m > 0) & (length > 0))
    edge, length, reach_m, along = edge[which], length[which], reach_m[which], src.along_m[ks][which]
    t0 = np.clip((along - reach_m) / length, 0, 1)
    t1 = np.clip((along + reach_m) / length, 0, 1)
    return _pieces(net, edge, t0, t1), which


def reached_segments(
    net: WalkNetwork,
    node_dist: np.ndarray,
    limit_m: float,
    src: Snapped | None = None,
    k: int = 0,
) -> np.ndarray:
    """Segments (n × 2 × 2, metres) of every street stretch within `limit_m` of a source, given its walking metres
    to every node (`node_dist`, inf where unreached); with `src`, source k's stretch of its own edge is added."""
    edge = np.arange(net.n_edges)
    segs, _ = _cut_edges(net, edge, node_dist[net.edge_u], node_dist[net.edge_v], limit_m)
    if src is not None:
        own, _ = _source_edge_pieces(net, src, np.array([k]), limit_m)
        segs = np.concatenate([segs, own])
    return segs


def _buffer_lines(segs: np.ndarray, owner: np.ndarray, n: int, buffer_m: float) -> np.ndarray:
    """`n` polygons: polygon i is the segments (metres) with owner == i, widened by `buffer_m` (empty when none).

    Why the merging: GEOS spends its buffering time where the buffers of line ends overlap, so the segments are
    joined into long lines first (4× faster than loose two-point lines). Joining all of a polygon's segments at
    once stops every line at every crossroads (line_merge only joins where exactly two lines meet), so the
    segments are joined in two classes, along and across the polygon's dominant street direction: at a crossroads
    each street then runs straight through. On a street grid that is 3–4× fewer lines and about 3× faster
    buffering. The buffered set is the same whatever the lines; only the arcs approximated at joins differ
    (< 0.1 % of the area). Vectorised shapely calls release the GIL, so chunks buffer in parallel threads."""
    if not segs.size:
        return shapely.buffer(np.full(n, shapely.MultiLineString(), dtype=object), buffer_m, quad_segs=2)
    dx, dy = segs[:, 1, 0] - segs[:, 0, 0], segs[:, 1, 1] - segs[:, 0, 1]
    theta, length = np.arctan2(dy, dx), np.hypot(dx, dy)
    # dominant direction of each polygon modulo a right angle: length-weighted circular mean of 4θ
    dominant = np.arctan2(np.bincount(owner, length * np.sin(4 * theta), minlength=n),
                          np.bincount(owner, length * np.cos(4 * theta), minlength=n)) / 4
    across = np.floor(((theta - dominant[owner]) % np.pi) / (np.pi / 2) + 0.5).astype(np.int64) % 2
    key = owner * 2 + across
    order = np.argsort(key, kind="stable")
    by_class = np.full(2 * n, shapely.MultiLineString(), dtype=object)
    shapely.multilinestrings(shapely.linestrings(segs[order]), indices=key[order], out=by_class)
    lines, line_key = shapely.get_parts(shapely.line_merge(by_class), return_index=True)
    merged = np.full(n, shapely.MultiLineString(), dtype=object)
    shapely.multilinestrings(lines, indices=line_key // 2, out=merged)
    return shapely.buffer(merged, buffer_m, quad_segs=2)


def street_buffer(segs: np.ndarray, buffer_m: float) -> shapely.Geometry:
    """The reached segments (n × 2 × 2, metres) widened by `buffer_m`: one polygon."""
    return _buffer_lines(segs, np.zeros(len(segs), dtype=np.int64), 1, buffer_m)[0]


@dataclass(frozen=True)
class ReachedBatch:
    """The reached street stretches of one search batch, for every source of the batch and every limit."""

    sources: np.ndarray  # int64 indices of the sources searched in this batch
    segments: np.ndarray  # n × 2 × 2 metres (network CRS): each a piece of one edge
    edge: np.ndarray  # int64 edge index of each segment
    source: np.ndarray  # int64 source index of each segment
    limit_index: np.ndarray  # int64 position of each segment's limit in the `limits_m` asked for


def iter_reached_segments(net: WalkNetwork, src: Snapped, limits_m: list[float]) -> Iterator[ReachedBatch]:
    """Every street stretch within each limit (metres) of each source, cut exactly where the walk runs out, one
    batch of sources at a time. The compiled bounded search (`kernels.bounded_node_distances`) settles only the
    nodes within the limit; then only the edges incident to those nodes are looked at, each once per source."""
    if not len(src) or not limits_m:
        return
    max_limit = max(limits_m)
    n = net.n_nodes
    indptr, incident = net.node_edges
    graph = csr_arrays(net)
    leg_u, leg_v = source_legs(net, src)
    src_u, src_v = net.edge_u[src.edge], net.edge_v[src.edge]
    for start in range(0, len(src), _SOURCES_PER_BATCH):
        idx = np.arange(start, min(len(src), start + _SOURCES_PER_BATCH))
        row_of, node_of, metres = kernels.bounded_node_distances(*graph, n, src_u[idx], src_v[idx], leg_u[idx],
                                                                 leg_v[idx], max_limit)
        found_key = row_of * n + node_of  # sorted: the triples come by source, then node
        counts = indptr[node_of + 1] - indptr[node_of]
        edge = incident[concat_ranges(indptr[node_of], counts)]
        row = np.repeat(row_of, counts)
        at_u = np.repeat(node_of, counts) == net.edge_u[edge]
        # metres to the edge's other end, for the same source (inf when the search did not reach it)
        other_key = row * n + np.where(at_u, net.edge_v[edge], net.edge_u[edge])
        pos = np.minimum(np.searchsorted(found_key, other_key), max(found_key.size - 1, 0))
        other_found = found_key[pos] == other_key if found_key.size else np.zeros(0, dtype=bool)
        here, there = np.repeat(metres, counts), np.where(other_found, metres[pos], np.inf)
        # an edge with both ends reached is listed under both: keep it once, from its u end
        once = at_u | ~other_found
        edge, row, at_u, here, there = edge[once], row[once], at_u[once], here[once], there[once]
        du, dv = np.where(at_u, here, there), np.where(at_u, there, here)
        segs, edges, sources, which_limit = [], [], [], []
        for j, limit in enumerate(limits_m):
            cut, which = _cut_edges(net, edge, du, dv, limit)
            own, own_which = _source_edge_pieces(net, src, idx, limit)
            segs += [cut, own]
            edges += [edge[which], src.edge[idx[own_which]]]
            sources += [idx[row[which]], idx[own_which]]
            which_limit.append(np.full(which.size + own_which.size, j, dtype=np.int64))
        yield ReachedBatch(idx, np.concatenate(segs), np.concatenate(edges).astype(np.int64),
                           np.concatenate(sources).astype(np.int64), np.concatenate(which_limit))


def catchment_polygons(
    net: WalkNetwork,
    src: Snapped,
    limits_m: dict[float, float],
    *,
    buffer_m: float = 25.0,
    source_ids: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> gpd.GeoDataFrame:
    """One polygon per source and threshold, in source order then threshold order: `limits_m` maps threshold
    minutes to metres. `buffer_m` widens the reached streets so that buildings along them fall inside. `workers`
    threads buffer (default DEFAULT_WORKERS). Returned in EPSG:4326."""
    ids = source_ids if source_ids is not None else [str(i) for i in range(len(src))]
    minutes = sorted(limits_m)
    limits = [limits_m[t] for t in minutes]
    n_lim = len(limits)
    geoms = np.full(len(src) * n_lim, None, dtype=object)  # polygon of source s, limit j at s * n_lim + j
    with ThreadPoolExecutor(max_workers=workers or DEFAULT_WORKERS) as pool:
        pending: list[tuple[np.ndarray, Future]] = []
        done = 0
        for batch in iter_reached_segments(net, src, limits):
            polygon = (batch.sources[:, None] * n_lim + np.arange(n_lim)).ravel()  # sorted: sources come in order
            owner = np.searchsorted(polygon, batch.source * n_lim + batch.limit_index)
            order = np.argsort(owner, kind="stable")
            owner, segs = owner[order], batch.segments[order]
            # hand the polygons to the threads in runs of about _CHUNK_SEGMENTS segments
            seg_end = np.cumsum(np.bincount(owner, minlength=polygon.size))
            cuts = np.unique(np.searchsorted(seg_end, np.arange(_CHUNK_SEGMENTS, seg_end[-1], _CHUNK_SEGMENTS)) + 1)
            bounds = [0, *cuts[cuts < polygon.size].tolist(), polygon.size]
            for p0, p1 in zip(bounds[:-1], bounds[1:]):
                s0, s1 = (seg_end[p0 - 1] if p0 else 0), seg_end[p1 - 1]
                pending.append((polygon[p0:p1], pool.submit(_buffer_lines, segs[s0:s1], owner[s0:s1] - p0, p1 - p0,
                                                            buffer_m)))
            done += batch.sources.size
            if progress is not None:
                progress(done, len(src))
        for polygon, future in pending:
            geoms[polygon] = future.result()
    frame = gpd.GeoDataFrame(
        {"source_id": np.repeat(np.asarray(ids, dtype=object), n_lim), "threshold_min": np.tile(minutes, len(src))},
        geometry=list(geoms), crs=net.crs,
    )
    return frame.to_crs("EPSG:4326")
