"""Loading the compiled kernels up front (numba's cache): one call of every kernel on a three-node path."""
from __future__ import annotations

import time

import numpy as np

from .flow_kernels import bipartite_max_flow, pool_by_source_set
from .kernels import (
    bounded_node_distances,
    bounded_reach,
    by_node_both_ends,
    counting_order,
    grown,
    nearest_node_source,
    nearest_via_ends,
    pair_sums,
    same_edge_pairs,
)
from .snap_kernels import best_candidate_edges, grid_nearest_edges


def warm_up() -> float:
    """Load (or, on a new machine, compile) every kernel on a three-node path; returns the seconds it took.

    The first call of each kernel in a process costs a fixed ~0.1–0.3 s (a few seconds on a new machine, when numba
    compiles and caches it); long-running services and benchmarks call this once up front."""
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
    grown(one, 2, 1)  # called from Python too, by the reach answer's arrays
    grown(leg, 2, 1)
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
