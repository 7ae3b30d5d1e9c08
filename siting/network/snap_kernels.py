"""Compiled nearest-edge searches for snapping points to the network (numba): a uniform grid searched ring by ring
outwards, and the check of k-d tree candidates. Exact: ties go to the lowest edge index. Metres throughout.

Why compiled: shapely's distance to every candidate edge and numpy's gathers over 3.57 M household points took
seconds; these kernels run chunks on the kernel threads without the GIL (`kernels.thread_pool`)."""
from __future__ import annotations

import numpy as np
from numba import njit

from . import kernels


@njit(cache=True, nogil=True, inline="always")
def _segment_t(px, py, e, xu, yu, xv, yv):
    """The fraction t along straight edge e of the foot point of (px, py) (0 for a zero-length edge)."""
    dx, dy = xv[e] - xu[e], yv[e] - yu[e]
    seg2 = dx * dx + dy * dy
    t = ((px - xu[e]) * dx + (py - yu[e]) * dy) / seg2 if seg2 > 0 else 0.0
    return min(1.0, max(0.0, t))


@njit(cache=True, nogil=True, inline="always")
def _segment_foot(px, py, e, xu, yu, xv, yv):
    """Metres from (px, py) to straight edge e and the foot point's fraction t along it (0 for a zero-length edge)."""
    t = _segment_t(px, py, e, xu, yu, xv, yv)
    return np.hypot(px - (xu[e] + t * (xv[e] - xu[e])), py - (yu[e] + t * (yv[e] - yu[e]))), t


@njit(cache=True, nogil=True)
def _best_candidate_chunk(x, y, cand, kth_m, xu, yu, xv, yv, half_spacing_m, edge, foot_t, off_m, final):
    for i in range(x.size):
        best, best_edge, best_t = np.inf, -1, 0.0
        for j in range(cand.shape[1]):
            e = cand[i, j]
            if e < 0:
                continue
            d, t = _segment_foot(x[i], y[i], e, xu, yu, xv, yv)
            if d < best or (d == best and e < best_edge):
                best, best_edge, best_t = d, e, t
        edge[i], foot_t[i], off_m[i] = best_edge, best_t, best
        final[i] = kth_m[i] > best + half_spacing_m


def best_candidate_edges(x, y, cand, kth_m, xu, yu, xv, yv, half_spacing_m: float):
    """Per point, the nearest of its candidate edges (ties → lowest edge index): (edge, foot fraction t along the
    edge, metres to the foot point, final). `final` says no other edge can be nearer: the k-th candidate sample
    lies farther than best + half the sample spacing. Candidates < 0 are ignored."""
    n = x.size
    edge = np.empty(n, dtype=np.int64)
    foot_t, off_m = np.empty(n), np.empty(n)
    final = np.empty(n, dtype=np.bool_)
    bounds = np.linspace(0, n, kernels.THREADS + 1).astype(np.int64)

    def run(c: int) -> None:
        a, b = bounds[c], bounds[c + 1]
        _best_candidate_chunk(x[a:b], y[a:b], cand[a:b], kth_m[a:b], xu, yu, xv, yv, float(half_spacing_m),
                              edge[a:b], foot_t[a:b], off_m[a:b], final[a:b])

    if kernels.THREADS == 1 or n < 10_000:
        _best_candidate_chunk(x, y, cand, kth_m, xu, yu, xv, yv, float(half_spacing_m), edge, foot_t, off_m, final)
    else:
        list(kernels.thread_pool().map(run, range(kernels.THREADS)))
    return edge, foot_t, off_m, final


@njit(cache=True, nogil=True, inline="always")
def _cell_gap(gx, gy, jx, jy):
    """Distance, in cells, from grid point (gx, gy) to cell (jx, jy)'s square (0 inside it)."""
    dx = max(jx - gx, 0.0, gx - (jx + 1))
    dy = max(jy - gy, 0.0, gy - (jy + 1))
    return np.sqrt(dx * dx + dy * dy)


@njit(cache=True, nogil=True)
def _grid_nearest_chunk(x, y, x0, y0, cell_m, nx, ny, cell_ptr, cell_edges, xu, yu, xv, yv, edge, foot_t, off_m):
    for i in range(x.size):
        gx, gy = (x[i] - x0) / cell_m, (y[i] - y0) / cell_m
        cx, cy = int(np.floor(gx)), int(np.floor(gy))
        best, best_edge, best_t = np.inf, -1, 0.0
        best_sq = np.inf  # best² with room for rounding: fx² + fy² above it means hypot(fx, fy) > best
        # first ring that can hold an edge: the point's Chebyshev distance to the grid, in cells
        r = max(0, -cx, cx - (nx - 1), -cy, cy - (ny - 1))
        while True:
            for jx in range(max(cx - r, 0), min(cx + r, nx - 1) + 1):
                on_side = jx == cx - r or jx == cx + r
                jy = cy - r
                while jy <= cy + r:
                    # a cell wholly farther than the best so far holds no nearer (or tying) foot point: the
                    # nearest edge's foot point lies in a cell the edge is listed in (its bounding box)
                    # (two in three cells are empty at 10 M: looked up before the gap is computed)
                    c = jx * ny + jy
                    if (0 <= jy < ny and cell_ptr[c] < cell_ptr[c + 1]
                            and _cell_gap(gx, gy, jx, jy) * cell_m <= best + 1e-7 * (1.0 + best)):
                        for k in range(cell_ptr[c], cell_ptr[c + 1]):
                            e = cell_edges[k]
                            t = _segment_t(x[i], y[i], e, xu, yu, xv, yv)
                            fx = x[i] - (xu[e] + t * (xv[e] - xu[e]))
                            fy = y[i] - (yu[e] + t * (yv[e] - yu[e]))
                            # squared first: hypot (exact, slow) only for an edge that may be as near as the best
                            if fx * fx + fy * fy > best_sq:
                                continue
                            d = np.hypot(fx, fy)
                            if d < best or (d == best and e < best_edge):
                                best, best_edge, best_t = d, e, t
                                best_sq = d * d * (1.0 + 1e-9) + 1e-300
                    jy = jy + 1 if on_side else (cy + r if jy == cy - r else cy + r + 1)
            # an edge not seen lies wholly outside the block of rings 0..r: at least this far
            bound = min(gx - (cx - r), (cx + r + 1) - gx, gy - (cy - r), (cy + r + 1) - gy) * cell_m
            if best < bound - 1e-7 * (1.0 + bound):
                break
            if cx - r <= 0 and cy - r <= 0 and cx + r >= nx - 1 and cy + r >= ny - 1:
                break  # every cell seen
            r += 1
        edge[i], foot_t[i], off_m[i] = best_edge, best_t, best


def grid_nearest_edges(x, y, x0: float, y0: float, cell_m: float, nx: int, ny: int, cell_ptr, cell_edges,
                       xu, yu, xv, yv, *, parallel: bool = True):
    """Per point, the nearest straight edge (ties → lowest edge index): (edge, foot fraction t along it, metres to
    the foot point), exactly: rings of grid cells are searched outwards until no unseen edge can be nearer (every
    edge is listed in each cell its bounding box overlaps, cell (jx, jy) = cell_edges[cell_ptr[jx·ny + jy]:…]).
    Points must be finite. Chunks run on the kernel threads (`parallel=False`: on the calling thread, e.g. a job
    already running on `kernels.thread_pool()`)."""
    n = x.size
    edge = np.empty(n, dtype=np.int64)
    foot_t, off_m = np.empty(n), np.empty(n)
    bounds = np.linspace(0, n, kernels.THREADS * 4 + 1).astype(np.int64)  # several chunks per thread: dense parts vary

    def run(c: int) -> None:
        a, b = bounds[c], bounds[c + 1]
        _grid_nearest_chunk(x[a:b], y[a:b], float(x0), float(y0), float(cell_m), int(nx), int(ny), cell_ptr,
                            cell_edges, xu, yu, xv, yv, edge[a:b], foot_t[a:b], off_m[a:b])

    if kernels.THREADS == 1 or n < 10_000 or not parallel:
        _grid_nearest_chunk(x, y, float(x0), float(y0), float(cell_m), int(nx), int(ny), cell_ptr, cell_edges,
                            xu, yu, xv, yv, edge, foot_t, off_m)
    else:
        list(kernels.thread_pool().map(run, range(bounds.size - 1)))
    return edge, foot_t, off_m
