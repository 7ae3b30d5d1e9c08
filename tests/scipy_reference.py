"""The reference the compiled kernels are checked against: scipy's whole-graph Dijkstra (`csgraph.dijkstra`) on
the street graph grown by one virtual node per source. Test-only; siting itself runs `siting.network.kernels`."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from siting.network import WalkNetwork, routing
from siting.network.snap import Snapped

#: Dense working memory per Dijkstra batch, in matrix cells (float64): 2e7 cells = 160 MB.
_BATCH_CELLS = 20_000_000


def augmented_graph(net: WalkNetwork, src: Snapped) -> sp.csr_matrix:
    """The network plus one virtual node per source with directed edges to its edge's two ends."""
    to_u, to_v = routing.source_legs(net, src)
    return with_virtual_sources(net.adjacency, net.edge_u[src.edge], net.edge_v[src.edge], to_u, to_v)


def with_virtual_sources(adj: sp.csr_matrix, u: np.ndarray, v: np.ndarray, to_u: np.ndarray, to_v: np.ndarray) -> sp.csr_matrix:
    """`adj` (n × n) grown by one node per source, with directed edges source→u and source→v. Virtual nodes have no
    incoming edges, so a route never passes through another source."""
    n, s = adj.shape[0], u.size
    virtual = np.arange(n, n + s)
    extra = sp.csr_matrix((np.concatenate([to_u, to_v]), (np.concatenate([virtual, virtual]), np.concatenate([u, v]))),
                          shape=(n + s, n + s))
    base = sp.csr_matrix((adj.data, adj.indices, np.concatenate([adj.indptr, np.full(s, adj.indptr[-1])])),
                         shape=(n + s, n + s))
    return (base + extra).tocsr()


def iter_source_node_distances(
    net: WalkNetwork, src: Snapped, limit_m: float = np.inf
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (source indices, node-distance block) in batches; block[k, node] is metres from source k (inf beyond
    `limit_m`). The batch size keeps the dense block near 160 MB whatever the city size."""
    n = net.n_nodes
    s = len(src)
    if s == 0:
        return
    graph = augmented_graph(net, src)
    batch = max(1, min(s, _BATCH_CELLS // (n + s)))
    for start in range(0, s, batch):
        idx = np.arange(start, min(s, start + batch))
        block = dijkstra(graph, directed=True, indices=n + idx, limit=limit_m)
        yield idx, block[:, :n]


def scipy_reach(net: WalkNetwork, src: Snapped, dst: Snapped, limit_m: float = np.inf) -> routing.Reach:
    """`routing.reach` computed from dense scipy node distances: each destination read off both ends of its edge,
    plus the direct walk along a shared edge, the shortest kept per pair."""
    u, v = net.edge_u[dst.edge], net.edge_v[dst.edge]
    to_u = dst.off_network_m + dst.along_m
    to_v = dst.off_network_m + (net.edge_length_m[dst.edge] - dst.along_m)
    parts_src, parts_dst, parts_dist = [], [], []
    for idx, block in iter_source_node_distances(net, src, limit_m):
        for end, extra in ((u, to_u), (v, to_v)):
            metres = block[:, end] + extra[None, :]
            rows, cols = np.nonzero(np.isfinite(metres) & (metres <= limit_m))
            parts_src.append(idx[rows])
            parts_dst.append(cols)
            parts_dist.append(metres[rows, cols])
    s_idx, d_idx, direct = routing._same_edge_pairs(net, src, dst)
    keep = np.isfinite(direct) & (direct <= limit_m)
    parts_src.append(s_idx[keep])
    parts_dst.append(d_idx[keep])
    parts_dist.append(direct[keep])
    all_src, all_dst, all_dist = (np.concatenate(p) for p in (parts_src, parts_dst, parts_dist))
    order = np.lexsort((all_dist, all_dst, all_src))
    all_src, all_dst, all_dist = all_src[order], all_dst[order], all_dist[order]
    first = np.ones(all_src.size, dtype=bool)
    first[1:] = (all_src[1:] != all_src[:-1]) | (all_dst[1:] != all_dst[:-1])
    return routing.Reach(all_src[first], all_dst[first], all_dist[first], len(src), len(dst))


def transport_lp_flow(dst: np.ndarray, src: np.ndarray, n_dst: int, n_src: int, demand: np.ndarray,
                      capacity: np.ndarray) -> np.ndarray:
    """The transportation LP siting solved with HiGHS before its compiled max flow: max Σx s.t. Σ_j x_ij ≤ demand_i,
    Σ_i x_ij ≤ capacity_j, x ≥ 0 over the (dst, src) pairs. Returns the flow per pair (one optimal vertex)."""
    from scipy.optimize import linprog

    n_pairs = np.asarray(dst).size
    pairs = np.arange(n_pairs)
    a_dst = sp.csr_matrix((np.ones(n_pairs), (dst, pairs)), shape=(n_dst, n_pairs))
    a_src = sp.csr_matrix((np.ones(n_pairs), (src, pairs)), shape=(n_src, n_pairs))
    res = linprog(c=-np.ones(n_pairs), A_ub=sp.vstack([a_dst, a_src]).tocsr(),
                  b_ub=np.concatenate([demand, capacity]), bounds=(0, None), method="highs",
                  # HiGHS's default 1e-7 feasibility tolerance let a 1e-7 demand through a capacity of 0 (hypothesis
                  # found it): tighter, so the reference is exact to the 1e-9 the tests hold the flow to
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        raise RuntimeError(f"transportation LP did not solve: {res.message}")
    return res.x
