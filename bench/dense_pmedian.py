"""Dense metric p-median instances (issue 20, target 2): `n` random points in a square, a sparse planar-ish street
graph over them (the Delaunay triangulation with a share of its edges dropped, kept connected), and the all-pairs
shortest-path metres between every pair of points. Every point is both a demand row (weight: households 50–500) and
a candidate site, and every pair is allowed: n² pairs, no existing site. Seeded, so a run repeats.

    from dense_pmedian import dense_instance
    inst = dense_instance(900, seed=0)      # dict: cost (n×n metres), weights, pairs (siting Pairs)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, shortest_path
from scipy.spatial import Delaunay

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from siting.optimisation.reduce import Pairs  # noqa: E402


def dense_instance(n: int = 900, seed: int = 0, side_m: float = 6000.0, drop_share: float = 0.35) -> dict:
    """The instance: points, street edges, the n × n shortest-path cost matrix (metres), weights and Pairs."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, side_m, size=(n, 2))
    tri = Delaunay(xy).simplices
    edges = np.unique(np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1), axis=0)
    length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T)
    # drop a share of the edges, longest first among a random pick (streets are short), keeping the graph connected
    keep = np.ones(len(edges), dtype=bool)
    for e in rng.permutation(len(edges))[: int(drop_share * len(edges))]:
        keep[e] = False
        g = sp.coo_matrix((np.ones(keep.sum()), tuple(edges[keep].T)), shape=(n, n))
        if connected_components(g, directed=False)[0] > 1:
            keep[e] = True
    e, w = edges[keep], length[keep] * rng.uniform(1.0, 1.3, keep.sum())  # detours: streets are not straight
    graph = sp.coo_matrix((w, tuple(e.T)), shape=(n, n)).tocsr()
    cost = shortest_path(graph, directed=False)
    weights = rng.integers(50, 501, size=n).astype(float)
    rows, cols = np.divmod(np.arange(n * n), n)
    pairs = Pairs.build(rows, cols, cost.ravel(), n, n)
    return {"xy": xy, "edges": e, "cost": cost, "weights": weights, "pairs": pairs, "n": n, "seed": seed}


def run_child(code: str, failed: dict) -> tuple[dict, float]:
    """Run `code` in a fresh Python process with this checkout first on the path; its last line starting with RESULT
    carries a JSON dict (`failed` plus the child's stderr tail when it printed none). Returns (dict, the 1-minute load
    average at the start)."""
    import json
    import os
    import subprocess

    load = os.getloadavg()[0]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT")]
    return (json.loads(line[-1][6:]) if line else dict(failed, error=proc.stderr[-300:])), load


if __name__ == "__main__":
    import time

    t = time.perf_counter()
    inst = dense_instance(int(sys.argv[1]) if len(sys.argv) > 1 else 900)
    print(f"n={inst['n']} edges={len(inst['edges'])} max cost {inst['cost'].max():.0f} m "
          f"({time.perf_counter() - t:.1f} s)")
