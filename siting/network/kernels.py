"""Compiled graph kernels (numba): bounded walking searches with sparse output, nearest-edge snapping, and the
servable share's pooling of destinations by source set and bipartite max flow.

Why compiled code here: scipy's `csgraph.dijkstra(limit=…)` returns a dense (sources × nodes) block, so a search that
touches a few hundred nodes around a facility still allocates and scans the whole city. These kernels settle only
the nodes within the limit, emit (source, node, metres) triples, reset only what they touched, and release the GIL
so source chunks run on every core. Compiled once per machine (`cache=True` keeps the machine code next to this file).

All arrays are plain numpy; distances are metres; the graph is the symmetric CSR adjacency of `WalkNetwork`.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

#: Worker threads for the compiled searches (defaults to the machine's cores).
THREADS = max(1, int(os.environ.get("SITING_THREADS", os.cpu_count() or 1)))


@njit(cache=True, nogil=True, inline="always")
def _heap_push(heap_d, heap_n, size, d, node):
    """Binary min-heap on (metres, node); capacity is sized by the caller (one slot per arc + seed suffices)."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if heap_d[parent] <= d:
            break
        heap_d[i] = heap_d[parent]
        heap_n[i] = heap_n[parent]
        i = parent
    heap_d[i] = d
    heap_n[i] = node
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _heap_pop(heap_d, heap_n, size):
    d0, n0 = heap_d[0], heap_n[0]
    size -= 1
    d, node = heap_d[size], heap_n[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_d[child + 1] < heap_d[child]:
            child += 1
        if heap_d[child] >= d:
            break
        heap_d[i] = heap_d[child]
        heap_n[i] = heap_n[child]
        i = child
    if size > 0:
        heap_d[i] = d
        heap_n[i] = node
    return d0, n0, size


@njit(cache=True, nogil=True, inline="always")
def _lower(values, listed, count, i, metres):
    """values[i] = min(values[i], metres); the first time i gets a finite value it is appended to `listed` (so the
    caller can reset exactly what it touched). Returns the new list length and whether values[i] was lowered."""
    if metres >= values[i]:
        return count, False
    if values[i] == np.inf:
        listed[count] = i
        count += 1
    values[i] = metres
    return count, True


@njit(cache=True, nogil=True)
def _search(indptr, indices, weights, seeds, seed_m, seed_owner, limit, dist, owner, touched, heap_d, heap_n):
    """Dijkstra from several seed nodes (each `seed_m` metres from its source point) up to `limit` metres.

    Leaves final metres in `dist` and the source reaching each node first in `owner` for the `touched` nodes (the
    first `count` entries; every one within the limit). Callers reset `dist` on the touched nodes afterwards."""
    count = 0
    size = 0
    for i in range(seeds.size):
        node, d = seeds[i], seed_m[i]
        if d <= limit:
            count, lowered = _lower(dist, touched, count, node, d)
            if lowered:
                owner[node] = seed_owner[i]
                size = _heap_push(heap_d, heap_n, size, d, node)
    while size > 0:
        d, node, size = _heap_pop(heap_d, heap_n, size)
        if d > dist[node]:
            continue
        for k in range(indptr[node], indptr[node + 1]):
            j = indices[k]
            nd = d + weights[k]
            if nd <= limit:
                count, lowered = _lower(dist, touched, count, j, nd)
                if lowered:
                    owner[j] = owner[node]
                    size = _heap_push(heap_d, heap_n, size, nd, j)
    return count


@njit(cache=True, nogil=True)
def _grow(a, need):
    if need <= a.size:
        return a
    out = np.empty(max(need, 2 * a.size), dtype=a.dtype)
    out[: a.size] = a
    return out


_RADIX_BITS = 11
_RADIX = 1 << _RADIX_BITS


@njit(cache=True, nogil=True)
def _sort_ids(a, n, tmp, count, n_bits):
    """Sort a[:n] (non-negative integers below 2**n_bits) ascending in place: LSD radix sort by 11 bits (two
    passes for 3.57 M residences), where np.sort's quicksort of each facility's few thousand residences took a
    quarter of the reach kernel; short runs go to np.sort. `tmp` holds ≥ n, `count` 2**11 + 1 items."""
    if n < 256:
        a[:n] = np.sort(a[:n])
        return
    src, dst = a, tmp
    shift, passes = 0, 0
    while shift < n_bits:
        count[:] = 0
        for i in range(n):
            count[((src[i] >> shift) & (_RADIX - 1)) + 1] += 1
        for b in range(_RADIX):
            count[b + 1] += count[b]
        for i in range(n):
            k = (src[i] >> shift) & (_RADIX - 1)
            dst[count[k]] = src[i]
            count[k] += 1
        src, dst = dst, src
        shift += _RADIX_BITS
        passes += 1
    if passes % 2 == 1:
        a[:n] = tmp[:n]


@njit(cache=True, nogil=True)
def _reach_chunk(indptr, indices, weights, sources, u, v, leg_u, leg_v, limit, node_dst_ptr, node_dst, node_dst_extra,
                 direct_ptr, direct_dst, direct_m, dist, owner, touched, best, hit, heap_d, heap_n, radix_count, tmp,
                 out_t, out_d, n_bits):
    """The pairs of `sources` (in that order), each source's destinations ascending, written from the start of
    `out_t` (destination) and `out_d` (metres); returns those two (regrown if they were too short), the number of
    pairs and the number per source. Scratch (`_ReachScratch`): `dist` and `best` are inf on entry and left so."""
    seeds = np.empty(2, dtype=np.int64)
    seed_m = np.empty(2)
    seed_owner = np.zeros(2, dtype=np.int64)
    counts = np.zeros(sources.size, dtype=np.int64)
    m = 0
    for j in range(sources.size):
        s = sources[j]
        hits = 0
        for k in range(direct_ptr[s], direct_ptr[s + 1]):  # same-edge walks, which may beat the node routes
            if direct_m[k] <= limit:
                hits, _ = _lower(best, hit, hits, direct_dst[k], direct_m[k])
        seeds[0], seeds[1], seed_m[0], seed_m[1] = u[s], v[s], leg_u[s], leg_v[s]
        count = _search(indptr, indices, weights, seeds, seed_m, seed_owner, limit, dist, owner, touched, heap_d,
                        heap_n)
        for i in range(count):
            node = touched[i]
            d = dist[node]
            dist[node] = np.inf
            for k in range(node_dst_ptr[node], node_dst_ptr[node + 1]):
                total = d + node_dst_extra[k]
                if total <= limit:
                    hits, _ = _lower(best, hit, hits, node_dst[k], total)
        if m + hits > out_t.size:
            # room for twice the projected total: pages never written are never touched
            room = max(2 * (m + hits), 2 * ((m + hits) * sources.size // (j + 1)))
            out_t = _grow(out_t, room)
            out_d = _grow(out_d, room)
        if hits > tmp.size:
            tmp = np.empty(2 * hits, dtype=np.int64)
        _sort_ids(hit, hits, tmp, radix_count, n_bits)
        for i in range(hits):
            t = hit[i]
            out_t[m] = t
            out_d[m] = best[t]
            best[t] = np.inf
            m += 1
        counts[j] = hits
    return out_t, out_d, m, counts


class _ReachScratch:
    """One thread's working arrays for `_reach_chunk`, made once per thread and search call instead of once per
    block of sources: two as long as the destinations, the search's, and the block's output buffers (reused, so a
    block's pairs are written to memory already in use, then copied once to their place in the answer)."""

    def __init__(self, n_nodes: int, n_dst: int, n_arcs: int) -> None:
        self.key = (n_nodes, n_dst, n_arcs)
        self.arrays = (np.full(n_nodes, np.inf), np.empty(n_nodes, dtype=np.int64), np.empty(n_nodes, dtype=np.int64),
                       np.full(n_dst, np.inf), np.empty(n_dst, dtype=np.int64),
                       np.empty(n_arcs + 2), np.empty(n_arcs + 2, dtype=np.int64),  # a push per arc or seed
                       np.empty(_RADIX + 1, dtype=np.int64), np.empty(4096, dtype=np.int64))
        self.out_t = np.empty(65536, dtype=np.int64)
        self.out_d = np.empty(65536)

    def run(self, sources: np.ndarray, *args) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_reach_chunk` for `sources` (args: the graph, legs, limit and destination lists, as it takes them):
        views of this scratch's buffers, valid until its next run."""
        graph, legs, lists = args[:3], args[3:8], args[8:14]
        self.out_t, self.out_d, m, counts = _reach_chunk(*graph, sources, *legs, *lists, *self.arrays, self.out_t,
                                                         self.out_d, args[14])
        return self.out_t[:m], self.out_d[:m], counts

    def detach_output(self) -> None:
        """Leave the output buffers to the caller's answer and take fresh ones."""
        self.out_t, self.out_d = np.empty(65536, dtype=np.int64), np.empty(65536)


_SCRATCH: list[_ReachScratch] = []  # free scratch, shared by the searches running at the same time
_SCRATCH_USERS = 0
_SCRATCH_LOCK = threading.Lock()


class _scratch_in_use:
    """Lend `_ReachScratch` to the chunks of one search; what is free is kept while any search runs (the coverage
    kinds run theirs side by side on the same threads) and dropped when the last one ends."""

    def __init__(self, n_nodes: int, n_dst: int, n_arcs: int) -> None:
        self.key = (n_nodes, n_dst, n_arcs)

    def __enter__(self) -> "_scratch_in_use":
        global _SCRATCH_USERS
        with _SCRATCH_LOCK:
            _SCRATCH_USERS += 1
        return self

    def __exit__(self, *exc) -> None:
        global _SCRATCH_USERS
        with _SCRATCH_LOCK:
            _SCRATCH_USERS -= 1
            if _SCRATCH_USERS == 0:
                _SCRATCH.clear()

    def take(self) -> _ReachScratch:
        with _SCRATCH_LOCK:
            for i, sc in enumerate(_SCRATCH):
                if sc.key == self.key:
                    return _SCRATCH.pop(i)
        return _ReachScratch(*self.key)

    def give_back(self, scratch: _ReachScratch) -> None:
        with _SCRATCH_LOCK:
            _SCRATCH.append(scratch)


def nearest_node_source(indptr, indices, weights, n_nodes: int, u, v, leg_u, leg_v) -> tuple[np.ndarray, np.ndarray]:
    """For every node, walking metres to the nearest source point and that source's index (inf / -1 where none
    reaches). Source k sits on edge (u[k], v[k]), leg_u[k] / leg_v[k] metres from its ends."""
    dist = np.full(n_nodes, np.inf)
    owner = np.full(n_nodes, -1, dtype=np.int64)
    sources = np.arange(len(u), dtype=np.int64)
    _search(indptr, indices, weights, np.concatenate([u, v]).astype(np.int64), np.concatenate([leg_u, leg_v]),
            np.concatenate([sources, sources]), np.inf, dist, owner, np.empty(n_nodes, dtype=np.int64),
            np.empty(indices.size + 2 * len(u)), np.empty(indices.size + 2 * len(u), dtype=np.int64))
    return dist, owner


#: Below this many sources a bounded search runs on the calling thread (thread start-up would cost more).
_PARALLEL_MIN_SOURCES = 64
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def thread_pool() -> ThreadPoolExecutor:
    """The process's THREADS worker threads, shared by every chunked job (kernels here, PROJ in `snap`)."""
    global _POOL
    with _POOL_LOCK:  # callers on several threads (the coverage kinds side by side) share one pool
        if _POOL is None:
            _POOL = ThreadPoolExecutor(THREADS, thread_name_prefix="siting-kernel")
    return _POOL


class _InOrder:
    """The answer's (source, destination, metres) arrays, filled block by block in source order while blocks of
    sources finish on the kernel threads in any order: a block whose turn has not come is kept (copied) until it has.
    The arrays are reserved at twice the projected size (pages never written are never touched) and regrown if
    that falls short; the answer is their filled part. Each pair is copied once, from a buffer already in use."""

    def __init__(self, blocks: list[np.ndarray], dst_dtype) -> None:
        self.blocks, self.dst_dtype = blocks, dst_dtype
        self.lock = threading.Lock()
        self.waiting: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.next, self.m, self.sources_done = 0, 0, 0
        self.a = np.empty(0, dtype=np.int64)
        self.b = np.empty(0, dtype=dst_dtype)
        self.d = np.empty(0)

    def put(self, k: int, t: np.ndarray, d: np.ndarray, counts: np.ndarray) -> None:
        with self.lock:
            if k != self.next:
                self.waiting[k] = (t.copy(), d.copy(), counts)
                return
            self._append(k, t, d, counts)
            while self.next in self.waiting:
                self._append(self.next, *self.waiting.pop(self.next))

    def _append(self, k: int, t: np.ndarray, d: np.ndarray, counts: np.ndarray) -> None:
        lo, hi = self.m, self.m + t.size
        self.sources_done += counts.size
        if hi > self.a.size:
            n_sources = sum(block.size for block in self.blocks)
            room = max(2 * hi, 2 * (hi * n_sources // self.sources_done))
            self.a, self.b, self.d = (_regrown(x, self.m, room) for x in (self.a, self.b, self.d))
        self.a[lo:hi] = np.repeat(self.blocks[k], counts)
        self.b[lo:hi] = t
        self.d[lo:hi] = d
        self.m, self.next = hi, k + 1

    def answer(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.a[: self.m], self.b[: self.m], self.d[: self.m]


def _regrown(values: np.ndarray, filled: int, room: int) -> np.ndarray:
    out = np.empty(room, dtype=values.dtype)
    out[:filled] = values[:filled]
    return out


def bounded_node_distances(indptr, indices, weights, n_nodes: int, u, v, leg_u, leg_v, limit_m: float):
    """(source, node, metres) for every node within `limit_m` of each source point, sorted by source then node.
    Source k sits on edge (u[k], v[k]), leg_u[k] / leg_v[k] metres from its two ends. (A reach whose destinations
    are the nodes themselves.)"""
    nodes = np.arange(n_nodes, dtype=np.int64)
    no_direct = np.zeros(len(u) + 1, dtype=np.int64)
    return bounded_reach(indptr, indices, weights, n_nodes, u, v, leg_u, leg_v, limit_m, np.arange(n_nodes + 1),
                         nodes, np.zeros(n_nodes), n_nodes, no_direct, nodes[:0], np.zeros(0))


def bounded_reach(indptr, indices, weights, n_nodes: int, u, v, leg_u, leg_v, limit_m: float,
                  node_dst_ptr, node_dst, node_dst_extra, n_dst: int, direct_ptr, direct_dst, direct_m):
    """(source, destination, metres) for every destination within `limit_m` of each source, the shortest of its
    routes: via a node (node_dst_* lists, per node, the destinations attached to it and the metres from the node to
    them) or along the shared edge (direct_* lists, per source, destinations on its own edge and the direct metres).
    Sorted by source, then destination. Blocks of consecutive sources run on THREADS threads."""
    n_src = len(u)
    n_bits = 1
    while (1 << n_bits) < n_dst:
        n_bits += 1
    args = (indptr, indices, weights, u, v, leg_u, leg_v, float(limit_m), node_dst_ptr, node_dst, node_dst_extra,
            direct_ptr, direct_dst, direct_m, n_bits)
    scratch = _scratch_in_use(n_nodes, n_dst, indices.size)
    with scratch:
        if THREADS == 1 or n_src < _PARALLEL_MIN_SOURCES:
            sc = scratch.take()
            sources = np.arange(n_src, dtype=np.int64)
            t, d, counts = sc.run(sources, *args)
            sc.detach_output()  # the answer keeps the filled buffers (no copy)
            scratch.give_back(sc)
            return np.repeat(sources, counts), t, d
        # many small blocks (a few per thread would leave one thread idle at the end: neighbouring sources cost alike)
        blocks = np.array_split(np.arange(n_src, dtype=np.int64), min(n_src, THREADS * 16))
        answer = _InOrder(blocks, np.asarray(node_dst).dtype)

        def block(k: int) -> None:
            sc = scratch.take()
            answer.put(k, *sc.run(blocks[k], *args))
            scratch.give_back(sc)  # not after an error: its arrays may not be reset

        list(thread_pool().map(block, range(len(blocks))))
        return answer.answer()


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
    bounds = np.linspace(0, n, THREADS + 1).astype(np.int64)

    def run(c: int) -> None:
        a, b = bounds[c], bounds[c + 1]
        _best_candidate_chunk(x[a:b], y[a:b], cand[a:b], kth_m[a:b], xu, yu, xv, yv, float(half_spacing_m),
                              edge[a:b], foot_t[a:b], off_m[a:b], final[a:b])

    if THREADS == 1 or n < 10_000:
        _best_candidate_chunk(x, y, cand, kth_m, xu, yu, xv, yv, float(half_spacing_m), edge, foot_t, off_m, final)
    else:
        list(thread_pool().map(run, range(THREADS)))
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
    Points must be finite. Chunks run on THREADS threads (`parallel=False`: on the calling thread, e.g. a job
    already running on `thread_pool()`)."""
    n = x.size
    edge = np.empty(n, dtype=np.int64)
    foot_t, off_m = np.empty(n), np.empty(n)
    bounds = np.linspace(0, n, THREADS * 4 + 1).astype(np.int64)  # several chunks per thread: dense parts vary

    def run(c: int) -> None:
        a, b = bounds[c], bounds[c + 1]
        _grid_nearest_chunk(x[a:b], y[a:b], float(x0), float(y0), float(cell_m), int(nx), int(ny), cell_ptr,
                            cell_edges, xu, yu, xv, yv, edge[a:b], foot_t[a:b], off_m[a:b])

    if THREADS == 1 or n < 10_000 or not parallel:
        _grid_nearest_chunk(x, y, float(x0), float(y0), float(cell_m), int(nx), int(ny), cell_ptr, cell_edges,
                            xu, yu, xv, yv, edge, foot_t, off_m)
    else:
        list(thread_pool().map(run, range(bounds.size - 1)))
    return edge, foot_t, off_m


@njit(cache=True, nogil=True)
def counting_order(keys, n_keys):
    """The stable argsort of integer `keys` in [0, n_keys) and the CSR pointer of each key's run (a counting sort:
    linear, where numpy's stable argsort of 7 M int64 node keys took about a second)."""
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    for k in keys:
        indptr[k + 1] += 1
    for k in range(n_keys):
        indptr[k + 1] += indptr[k]
    nxt = indptr[:-1].copy()
    order = np.empty(keys.size, dtype=np.int64)
    for i in range(keys.size):
        order[nxt[keys[i]]] = i
        nxt[keys[i]] += 1
    return order, indptr


@njit(cache=True, nogil=True)
def by_node_both_ends(u, v, to_u, to_v, n_nodes):
    """Each item i listed under node u[i] (metres to_u[i]) and under node v[i] (to_v[i]), as CSR (indptr, item,
    metres): by node, then u-entries before v-entries, each by item: the stable counting sort of the concatenation
    [u, v] (what `counting_order` on it gives), without building it."""
    n = u.size
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    for i in range(n):
        indptr[u[i] + 1] += 1
        indptr[v[i] + 1] += 1
    for k in range(n_nodes):
        indptr[k + 1] += indptr[k]
    nxt = indptr[:-1].copy()
    item = np.empty(2 * n, dtype=np.int64)
    metres = np.empty(2 * n, dtype=np.float64)
    for i in range(n):
        p = nxt[u[i]]
        item[p], metres[p] = i, to_u[i]
        nxt[u[i]] = p + 1
    for i in range(n):
        p = nxt[v[i]]
        item[p], metres[p] = i, to_v[i]
        nxt[v[i]] = p + 1
    return indptr, item, metres


@njit(cache=True, nogil=True)
def pair_sums(into, frm, n_into, values):
    """out[j, i] = Σ values[j][frm[k]] over the pairs k with into[k] = i, added in pair order: np.bincount(into,
    weights=values[j][frm]) bit for bit, for several value rows (a 2-D array or a tuple of equal-length arrays, so
    callers need not stack million-row arrays) in one pass over the pairs, without the gathered weights."""
    out = np.zeros((len(values), n_into), dtype=np.float64)
    for k in range(into.size):
        i, f = into[k], frm[k]
        for j in range(len(values)):
            out[j, i] += values[j][f]
    return out


@njit(cache=True, nogil=True)
def same_edge_pairs(order, by_edge, src_off, src_along, dst_edge, dst_along, dst_off):
    """Per destination (ascending), each source on its edge (sources listed by edge: `order` within CSR `by_edge`)
    and the direct walk src_off + |src_along − dst_along| + dst_off, summed in that order."""
    total = 0
    for i in range(dst_edge.size):
        total += by_edge[dst_edge[i] + 1] - by_edge[dst_edge[i]]
    src_idx = np.empty(total, dtype=np.int64)
    dst_idx = np.empty(total, dtype=np.int64)
    dist = np.empty(total, dtype=np.float64)
    k = 0
    for i in range(dst_edge.size):
        e = dst_edge[i]
        for p in range(by_edge[e], by_edge[e + 1]):
            s = order[p]
            src_idx[k], dst_idx[k] = s, i
            dist[k] = src_off[s] + abs(src_along[s] - dst_along[i]) + dst_off[i]
            k += 1
    return src_idx, dst_idx, dist


@njit(cache=True, nogil=True)
def nearest_via_ends(u, v, off_m, along_m, edge_m, node_dist, node_source):
    """Per destination on edge (u, v) `along_m` from u, `off_m` off it: metres to the nearest source via either end
    ((off + along) + node_dist[u], (off + (edge − along)) + node_dist[v], the smaller; ties to u) and that source,
    -1 where neither end is reached."""
    n = u.size
    dist = np.empty(n, dtype=np.float64)
    nearest = np.empty(n, dtype=np.int64)
    for i in range(n):
        via_u = off_m[i] + along_m[i] + node_dist[u[i]]
        via_v = off_m[i] + (edge_m[i] - along_m[i]) + node_dist[v[i]]
        dist[i] = min(via_u, via_v)
        nearest[i] = node_source[u[i]] if via_u <= via_v else node_source[v[i]]
        if not np.isfinite(dist[i]):
            nearest[i] = -1
    return dist, nearest


@njit(cache=True, nogil=True)
def _same_run(values, indptr, a, b):
    """Whether runs a and b of a CSR list hold the same values in the same order."""
    lo_a, lo_b, n = indptr[a], indptr[b], indptr[a + 1] - indptr[a]
    if indptr[b + 1] - lo_b != n:
        return False
    for p in range(n):
        if values[lo_a + p] != values[lo_b + p]:
            return False
    return True


def pool_by_source_set(dst, src, n_dst, keys):
    """Group destinations by the exact list of sources that reach them (in pair order, so source-sorted pairs give
    one pool per set). Returns `pool` (per destination, its pool id in order of first member; -1 if unreached) and
    the pools' source lists as CSR (`pool_ptr`, `pool_src`).

    Lists are hashed (sum of random 64-bit `keys` per source, plus length × keys[-1]) into an open-addressing table
    of pools (kept at most half full, so it stays small and in cache: thousands of pools for millions of
    destinations) and every match is verified element by element, so a hash collision never merges different
    lists. Linear in the pairs: numpy's stable argsort + unique + reduceat took 2 s for 7 M pairs at 10 M residents.
    The per-destination lists hold 32-bit source ids when they fit (half the memory to fill: 7 M pairs a kind)."""
    small = keys.size <= np.iinfo(np.int32).max
    runs = np.empty(len(dst), dtype=np.int32 if small else np.int64)
    pool, pool_ptr, pool_src = _pool_by_source_set(dst, src, n_dst, keys, runs)
    return pool, pool_ptr, pool_src.astype(np.asarray(src).dtype, copy=False)


@njit(cache=True, nogil=True)
def _pool_by_source_set(dst, src, n_dst, keys, runs):
    """`pool_by_source_set`, writing each destination's sources (in pair order) into `runs`."""
    indptr = np.zeros(n_dst + 2, dtype=np.int64)  # counts at d + 2, starts at d + 1, then ends at d + 1: the CSR
    for d in dst:
        indptr[d + 2] += 1
    for d in range(n_dst):
        indptr[d + 2] += indptr[d + 1]
    for k in range(dst.size):
        p = indptr[dst[k] + 1]
        runs[p] = src[k]
        indptr[dst[k] + 1] = p + 1
    indptr = indptr[: n_dst + 1]
    size = 1024
    table = np.full(size, -1, dtype=np.int64)  # pool ids
    pool_hash = np.empty(64, dtype=np.uint64)
    rep = np.empty(64, dtype=np.int64)
    pool = np.full(n_dst, -1, dtype=np.int64)
    n_pool = 0
    for d in range(n_dst):
        lo, hi = indptr[d], indptr[d + 1]
        if lo == hi:
            continue
        h = np.uint64(hi - lo) * keys[keys.size - 1]
        for p in range(lo, hi):
            h += keys[runs[p]]
        mask = np.uint64(size - 1)
        slot = h & mask
        while True:
            q = table[slot]
            if q < 0:
                if n_pool == rep.size:
                    rep = _grow(rep, n_pool + 1)
                    pool_hash = _grow(pool_hash, n_pool + 1)
                table[slot] = n_pool
                pool_hash[n_pool], rep[n_pool], pool[d] = h, d, n_pool
                n_pool += 1
                break
            if pool_hash[q] == h and _same_run(runs, indptr, rep[q], d):
                pool[d] = q
                break
            slot = (slot + np.uint64(1)) & mask
        if 2 * n_pool > size:  # rehash into a table twice the size
            size *= 2
            mask = np.uint64(size - 1)
            table = np.full(size, -1, dtype=np.int64)
            for q in range(n_pool):
                slot = pool_hash[q] & mask
                while table[slot] >= 0:
                    slot = (slot + np.uint64(1)) & mask
                table[slot] = q
    pool_ptr = np.zeros(n_pool + 1, dtype=np.int64)
    for q in range(n_pool):
        pool_ptr[q + 1] = pool_ptr[q] + indptr[rep[q] + 1] - indptr[rep[q]]
    pool_src = np.empty(pool_ptr[n_pool], dtype=runs.dtype)
    for q in range(n_pool):
        lo = indptr[rep[q]]
        for p in range(pool_ptr[q + 1] - pool_ptr[q]):
            pool_src[pool_ptr[q] + p] = runs[lo + p]
    return pool, pool_ptr, pool_src


@njit(cache=True, nogil=True, inline="always")
def _add_arc(head, rev, res, pos, v, w, capacity):
    """Arc v → w with residual `capacity` and its reverse w → v (residual 0) at the next free slots of v and w."""
    a, b = pos[v], pos[w]
    pos[v] += 1
    pos[w] += 1
    head[a], head[b], rev[a], rev[b], res[a] = w, v, b, a, capacity
    return a


@njit(cache=True, nogil=True)
def bipartite_max_flow(dst, src, n_dst, n_src, demand, capacity):
    """Flow per (dst, src) pair of a maximum flow source → destinations (arc capacity `demand`) → sources over the
    pairs (unbounded) → sink (arc capacity `capacity`); i.e. max Σx s.t. Σ_j x_ij ≤ demand_i, Σ_i x_ij ≤
    capacity_j, x ≥ 0. A greedy first pass, then Dinic (BFS levels, blocking flow by depth-first search with
    current arcs). Exact on floats: each augmentation subtracts the path's smallest residual, so that arc ends at
    exactly 0 and the combinatorial termination argument holds; sums are rounded as any float sum is. `capacity`
    may be inf; `demand` must be finite and ≥ 0. Single-threaded and deterministic (same input → same bytes)."""
    n_pairs = dst.size
    s_node, t_node = 0, n_dst + n_src + 1
    n_nodes = n_dst + n_src + 2
    start = np.zeros(n_nodes + 1, dtype=np.int64)
    start[s_node + 1] = n_dst
    for i in range(n_dst):
        start[1 + i + 1] = 1
    for j in range(n_src):
        start[1 + n_dst + j + 1] = 1
    start[t_node + 1] = n_src
    for k in range(n_pairs):
        start[1 + dst[k] + 1] += 1
        start[1 + n_dst + src[k] + 1] += 1
    for v in range(n_nodes):
        start[v + 1] += start[v]
    n_arcs = start[n_nodes]
    head = np.empty(n_arcs, dtype=np.int64)
    rev = np.empty(n_arcs, dtype=np.int64)
    res = np.zeros(n_arcs, dtype=np.float64)
    pos = start[:-1].copy()
    s_arc = np.empty(n_dst, dtype=np.int64)
    t_arc = np.empty(n_src, dtype=np.int64)
    pair_back = np.empty(n_pairs, dtype=np.int64)
    for i in range(n_dst):
        s_arc[i] = _add_arc(head, rev, res, pos, s_node, 1 + i, demand[i])
    for k in range(n_pairs):
        pair_back[k] = rev[_add_arc(head, rev, res, pos, 1 + dst[k], 1 + n_dst + src[k], np.inf)]
    for j in range(n_src):
        t_arc[j] = _add_arc(head, rev, res, pos, 1 + n_dst + j, t_node, capacity[j])
    # greedy: each destination in turn takes what its sources have left
    for k in range(n_pairs):
        a, c = s_arc[dst[k]], t_arc[src[k]]
        push = min(res[a], res[c])
        if push > 0:
            res[a] -= push
            res[rev[a]] += push
            res[pair_back[k]] += push
            res[c] -= push
            res[rev[c]] += push
    level = np.empty(n_nodes, dtype=np.int64)
    queue = np.empty(n_nodes, dtype=np.int64)
    it = np.empty(n_nodes, dtype=np.int64)
    path = np.empty(n_nodes, dtype=np.int64)
    while True:
        level[:] = -1
        level[s_node] = 0
        queue[0] = s_node
        q_head, q_tail = 0, 1
        while q_head < q_tail:
            v = queue[q_head]
            q_head += 1
            for a in range(start[v], start[v + 1]):
                w = head[a]
                if res[a] > 0 and level[w] < 0:
                    level[w] = level[v] + 1
                    queue[q_tail] = w
                    q_tail += 1
        if level[t_node] < 0:
            break
        it[:] = start[:-1]
        depth = 0
        v = s_node
        while True:
            if v == t_node:
                bottleneck = np.inf
                for p in range(depth):
                    bottleneck = min(bottleneck, res[path[p]])
                first_full = depth
                for p in range(depth):
                    a = path[p]
                    res[a] -= bottleneck
                    res[rev[a]] += bottleneck
                    if res[a] == 0 and first_full == depth:
                        first_full = p
                depth = first_full  # retreat to the tail of the first saturated arc
                v = head[rev[path[depth]]]
                continue
            advanced = False
            while it[v] < start[v + 1]:
                a = it[v]
                w = head[a]
                if res[a] > 0 and level[w] == level[v] + 1:
                    path[depth] = a
                    depth += 1
                    v = w
                    advanced = True
                    break
                it[v] += 1
            if not advanced:
                if v == s_node:
                    break
                level[v] = -1  # dead end for the rest of this phase
                depth -= 1
                v = head[rev[path[depth]]]
                it[v] += 1
    flow = np.empty(n_pairs, dtype=np.float64)
    for k in range(n_pairs):
        flow[k] = res[pair_back[k]]
    return flow


def warm_up() -> float:
    """Load (or, on a new machine, compile) every kernel on a three-node path; returns the seconds it took.

    The first call of each kernel in a process costs a fixed ~0.1–0.3 s (a few seconds on a new machine, when numba
    compiles and caches it); long-running services and benchmarks call this once up front."""
    import time

    start = time.perf_counter()
    indptr = np.array([0, 1, 3, 4], dtype=np.int64)
    indices = np.array([1, 0, 2, 1], dtype=np.int64)
    weights = np.ones(4)
    one = np.zeros(1, dtype=np.int64)
    u, v, leg = one, one + 1, np.full(1, 0.5)
    nearest_node_source(indptr, indices, weights, 3, u, v, leg, leg)
    bounded_node_distances(indptr, indices, weights, 3, u, v, leg, leg, 2.0)
    bounded_reach(indptr, indices, weights, 3, u, v, leg, leg, 2.0, np.array([0, 1, 1, 1], dtype=np.int64), one,
                  np.zeros(1), 1, np.array([0, 0], dtype=np.int64), one[:0], np.zeros(0))
    xy = np.array([0.0, 1.0])
    best_candidate_edges(xy, xy, np.zeros((2, 1), dtype=np.int64), xy, xy, xy, xy + 1, xy, 0.5)
    counting_order(one, 1)
    same_edge_pairs(one, np.array([0, 1], dtype=np.int64), leg, leg, one, leg, leg)
    nearest_via_ends(one, one, leg, leg, leg, np.zeros(1), one)
    pair_sums(one, one, 1, np.ones((1, 1)))
    row = np.ones(1)
    row.flags.writeable = False  # the read-only rows of measures.per_source_sums
    pair_sums(one, one, 1, (row, row, row))
    pair_sums(one, one, 1, (row,))
    by_node_both_ends(one, one + 1, leg, leg, 2)
    pool_by_source_set(one, one, 1, np.ones(2, dtype=np.uint64))
    bipartite_max_flow(one, one, 1, 1, np.ones(1), np.ones(1))
    grid_nearest_edges(xy, xy, 0.0, 0.0, 1.0, 2, 2, np.array([0, 1, 1, 1, 1], dtype=np.int64), one, xy, xy, xy + 1, xy)
    return time.perf_counter() - start
