"""Compiled kernels of the servable share (numba): destinations pooled by the exact list of sources that reach them,
and an exact bipartite max flow (Dinic) over the pools. Amounts are in the facility kind's capacity unit.

Why compiled: numpy's argsort + unique + reduceat pooling took 2 s for 7 M pairs at 10 M residents, and an LP
solver seconds per kind; both are linear passes here (`siting.measures.capacity.servable_share` calls them)."""
from __future__ import annotations

import numpy as np
from numba import njit

from .kernels import grown


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
                    rep = grown(rep, n_pool + 1, n_pool)
                    pool_hash = grown(pool_hash, n_pool + 1, n_pool)
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
