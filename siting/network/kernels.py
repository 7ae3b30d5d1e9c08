"""Compiled graph kernels (numba): bounded walking searches with sparse output, the passes over their pairs, and the
kernel threads every compiled job shares. Nearest-edge snapping is in `snap_kernels`, the servable share's pooling
and max flow in `flow_kernels`; `warm.warm_up` loads them all.

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
def grown(a, need, filled):
    """`a`, or a copy with room for at least `need` items (twice its size if that is more) holding its first `filled`
    items (only those: a buffer reserved larger than it was written keeps its unwritten pages untouched)."""
    if need <= a.size:
        return a
    out = np.empty(max(need, 2 * a.size), dtype=a.dtype)
    out[:filled] = a[:filled]
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
def _reach_chunk(sources, indptr, indices, weights, u, v, leg_u, leg_v, limit, node_dst_ptr, node_dst, node_dst_extra,
                 direct_ptr, direct_dst, direct_m, n_bits, dist, owner, touched, best, hit, heap_d, heap_n, radix_count,
                 tmp, out_t, out_d):
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
            out_t = grown(out_t, room, m)
            out_d = grown(out_d, room, m)
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
        """`_reach_chunk` for `sources` (args: the graph, legs, limit, destination lists and n_bits, as it takes
        them): views of this scratch's buffers, valid until its next run."""
        self.out_t, self.out_d, m, counts = _reach_chunk(sources, *args, *self.arrays, self.out_t, self.out_d)
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


def _take_turns(run_block, n_blocks: int) -> None:
    """run_block(k) for every k < n_blocks on the kernel threads, at most THREADS of them queued at once, each finished
    block queueing the next. Why: two searches running at once (the coverage kinds) then take turns on the threads,
    so both finish about together and their single-threaded tails overlap; with all blocks queued at once, one
    search waited for the other's whole queue and its tail ran alone at the end. Re-raises a block's error."""
    lock, finished = threading.Lock(), threading.Event()
    state = {"next": 0, "running": 0, "error": None}

    def queue_next() -> None:  # under the lock
        if state["error"] is None and state["next"] < n_blocks:
            state["running"] += 1
            thread_pool().submit(step, state["next"])
            state["next"] += 1

    def step(k: int) -> None:
        try:
            run_block(k)
        except BaseException as exc:  # noqa: BLE001 (handed to the caller)
            with lock:
                state["error"] = state["error"] or exc
        with lock:
            state["running"] -= 1
            queue_next()
            if state["running"] == 0:
                finished.set()

    if n_blocks == 0:
        return
    with lock:
        for _ in range(min(THREADS, n_blocks)):
            queue_next()
    finished.wait()
    if state["error"] is not None:
        raise state["error"]


class _InOrder:
    """The answer's (source, destination, metres) arrays, filled block by block in source order while blocks of
    sources finish on the kernel threads in any order: a block whose turn has not come is kept (copied) until it has.
    The arrays are reserved at twice the projected size (pages never written are never touched) and regrown if
    that falls short; the answer is their filled part. Each pair is copied once, from a buffer already in use."""

    def __init__(self, blocks: list[np.ndarray], dst_dtype) -> None:
        self.blocks, self.n_sources = blocks, sum(block.size for block in blocks)
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
            room = max(2 * hi, 2 * (hi * self.n_sources // self.sources_done))
            self.a, self.b, self.d = (grown(x, room, self.m) for x in (self.a, self.b, self.d))
        self.a[lo:hi] = np.repeat(self.blocks[k], counts)
        self.b[lo:hi] = t
        self.d[lo:hi] = d
        self.m, self.next = hi, k + 1

    def answer(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.a[: self.m], self.b[: self.m], self.d[: self.m]


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

        _take_turns(block, len(blocks))
        return answer.answer()


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
