"""Coverage analysis at city scale against its peers, on the same synthetic city (bench/synthetic_city.py).

For each size, every method runs in its own fresh subprocess (so peak RSS, which counts C allocations, belongs to
that method alone; the peak is reset after the city is generated and the libraries imported):
- siting      siting.coverage.analyse_coverage(polygons=False): snapping, walking minutes to the nearest facility of
              both kinds, catchment membership within 15 min, per-facility measures, 2SFCA, servable share.
- scipy_floor the raw kernel: scipy.sparse.csgraph.dijkstra(min_only=True, limit=15 min) from the facilities'
              nearest nodes, once per kind, on the prebuilt CSR graph. Nothing else; the floor.
- pandana     pandana.Network (contraction-hierarchy build), precompute(limit), set_pois + nearest_pois per kind
              (num_pois=K nearest within the limit, with ids → catchment membership), households served.
- osmnx       the osmnx recipe: a networkx graph with `length`, nearest nodes, then per facility
              single_source_dijkstra_path_length(cutoff=limit) (what ego_graph runs) → membership and nearest.
              Above --nx-full residents it runs on a seeded sample of facilities and is extrapolated linearly
              (graph build + mean time per facility × facilities), labelled "extrapolated".
Agreement: every method except siting's full analysis also reports, for the elderly kind with facilities moved to
their nearest network node, the walking metres from every node to the nearest facility (inf beyond the limit);
siting computes the same with routing.nearest_source. The report gives the largest difference per peer.

Run:  python bench/bench_coverage.py --sizes 10k,100k,1M,10M
Writes bench/results/coverage.md (and prints the same tables).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

METHODS = ("siting", "scipy_floor", "pandana", "osmnx")


# ----------------------------------------------------------------------------------------------- worker side
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak_rss() -> None:
    """Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM (peak RSS) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _limits(profile) -> dict[str, float]:
    from siting.inputs.schema import KINDS

    return {kind: profile.walk_limit_m(kind) for kind in KINDS}


def _facility_nodes(net, facilities, kind: str) -> np.ndarray:
    from scipy.spatial import cKDTree

    pts = facilities[facilities["kind"] == kind].geometry.to_crs(net.crs)
    tree = net._extra.setdefault("bench_kdtree", cKDTree(np.column_stack([net.x, net.y])))
    return tree.query(np.column_stack([pts.x, pts.y]))[1]


def _res_nodes(net, residences) -> np.ndarray:
    from scipy.spatial import cKDTree

    pts = residences.geometry.to_crs(net.crs)
    tree = net._extra.setdefault("bench_kdtree", cKDTree(np.column_stack([net.x, net.y])))
    return tree.query(np.column_stack([pts.x, pts.y]))[1]


def run_siting(city, profile, limits, args) -> dict:
    from siting.coverage import analyse_coverage
    from siting.network.warm import warm_up

    net, res, fac, _ = city
    load_s = warm_up()  # per-process, like imports: loading the compiled kernels from numba's cache
    stages: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    last = [t0, "start"]

    def say(message: str) -> None:
        now = time.perf_counter()
        stages.append((last[1], now - last[0]))
        last[0], last[1] = now, message

    result = analyse_coverage(net, res, fac, profile, polygons=False, progress=say)
    say("end")
    wall = time.perf_counter() - t0
    covered = {k: float(result.summary["kinds"][k]["coverage_rate"]) for k in limits}
    return {"wall_s": wall, "stages": [("(not timed) loading the compiled kernels, once per process", load_s)] + stages[1:], "coverage_rate": covered,
            "pairs": {k: int(result.kinds[k].reach.src.size) for k in limits}}


def answers_siting(city, limits) -> np.ndarray:
    from siting.inputs.schema import ELDERLY
    from siting.network.routing import nearest_source
    from siting.network.snap import snap_points

    net, _, fac, _ = city
    fn = _facility_nodes(net, fac, ELDERLY)
    dist, _ = nearest_source(net, snap_points(net, net.x[fn], net.y[fn]), snap_points(net, net.x, net.y))
    return np.where(dist <= limits[ELDERLY], dist, np.inf)


def run_scipy_floor(city, profile, limits, args) -> tuple[dict, np.ndarray]:
    from scipy.sparse.csgraph import dijkstra

    from siting.inputs.schema import ELDERLY

    net, _, fac, _ = city
    adj = net.adjacency
    nodes = {k: _facility_nodes(net, fac, k) for k in limits}
    t0 = time.perf_counter()
    out = {k: dijkstra(adj, directed=False, indices=nodes[k], min_only=True, limit=lim) for k, lim in limits.items()}
    wall = time.perf_counter() - t0
    return {"wall_s": wall}, out[ELDERLY]


def run_pandana(city, profile, limits, args) -> tuple[dict, np.ndarray]:
    import pandana
    import pandas as pd

    from siting.inputs.schema import ELDERLY

    net, res, fac, _ = city
    nodes = {k: _facility_nodes(net, fac, k) for k in limits}
    res_node = _res_nodes(net, res)
    households = res["households"].to_numpy(dtype=np.float64)
    k_max = args.pandana_k
    t0 = time.perf_counter()
    pnet = pandana.Network(
        pd.Series(net.x, index=np.arange(net.n_nodes)), pd.Series(net.y, index=np.arange(net.n_nodes)),
        pd.Series(net.edge_u), pd.Series(net.edge_v), pd.DataFrame({"length": net.edge_length_m}), twoway=True,
    )
    t_build = time.perf_counter()
    pnet.precompute(max(limits.values()))
    t_pre = time.perf_counter()
    saturated = {}
    answer = None
    for kind, lim in limits.items():
        pnet.set_pois(kind, lim, k_max, net.x[nodes[kind]], net.y[nodes[kind]])
        near = pnet.nearest_pois(lim, kind, num_pois=k_max, include_poi_ids=True)
        dist = near[list(range(1, k_max + 1))].to_numpy()
        ids = near[[f"poi{i}" for i in range(1, k_max + 1)]].to_numpy()
        at_res = dist[res_node]
        found = (at_res < lim) & np.isfinite(ids[res_node])
        served = np.bincount(ids[res_node][found].astype(np.int64),
                             weights=np.broadcast_to(households[:, None], found.shape)[found], minlength=nodes[kind].size)
        saturated[kind] = int(found[:, -1].sum())
        if kind == ELDERLY:
            answer = np.where(dist[:, 0] < lim, dist[:, 0], np.inf)
        del served
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "ch_build_s": t_build - t0, "precompute_s": t_pre - t_build,
            "k": k_max, "residences_with_k_facilities": saturated}, answer


def run_osmnx(city, profile, limits, args) -> tuple[dict, np.ndarray | None]:
    import networkx as nx

    from siting.inputs.schema import ELDERLY

    net, res, fac, _ = city
    res_node = _res_nodes(net, res)
    households = res["households"].to_numpy(dtype=np.float64)
    nodes = {k: _facility_nodes(net, fac, k) for k in limits}
    n_fac = sum(v.size for v in nodes.values())
    sample = n_fac if args.residents <= args.nx_full else min(n_fac, args.nx_sample)
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(n_fac, sample, replace=False).tolist())
    t0 = time.perf_counter()
    graph = nx.MultiDiGraph()  # what osmnx returns: both directions of every street, parallel edges allowed
    u, v, length = net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length_m.tolist()
    graph.add_weighted_edges_from(zip(u + v, v + u, length + length), weight="length")
    t_graph = time.perf_counter()
    res_at_node: dict[int, list[int]] = {}
    for i, node in enumerate(res_node.tolist()):
        res_at_node.setdefault(node, []).append(i)
    node_best = np.full(net.n_nodes, np.inf)
    j = 0
    t_search = 0.0
    for kind, lim in limits.items():
        nearest = np.full(len(res), np.inf)
        for f, node in enumerate(nodes[kind].tolist()):
            j += 1
            if j - 1 not in chosen:
                continue
            ts = time.perf_counter()
            if args.nx_ego:  # the osmnx isochrone notebook: the subgraph within the limit, then its nodes
                ego = nx.ego_graph(graph, node, radius=lim, distance="length")
                reached = nx.single_source_dijkstra_path_length(ego, node, weight="length")
            else:
                reached = nx.single_source_dijkstra_path_length(graph, node, cutoff=lim, weight="length")
            served = 0.0
            for n_id, metres in reached.items():
                for r in res_at_node.get(n_id, ()):
                    served += households[r]
                    if metres < nearest[r]:
                        nearest[r] = metres
            if kind == ELDERLY and sample == n_fac:
                ids = np.fromiter(reached.keys(), dtype=np.int64, count=len(reached))
                vals = np.fromiter(reached.values(), dtype=np.float64, count=len(reached))
                np.minimum.at(node_best, ids, vals)
            t_search += time.perf_counter() - ts
    wall_measured = time.perf_counter() - t0
    graph_s = t_graph - t0
    per_fac = t_search / max(sample, 1)
    wall = graph_s + per_fac * n_fac if sample < n_fac else wall_measured
    out = {"wall_s": wall, "graph_build_s": graph_s, "per_facility_ms": per_fac * 1000, "facilities": n_fac,
           "sampled": sample, "extrapolated": sample < n_fac, "ego_graph": bool(args.nx_ego)}
    return out, (node_best if sample == n_fac else None)


def worker(args) -> None:
    import gc

    if args.one_arena == "all" or (args.one_arena == "siting" and args.worker == "siting"):
        from siting.heap import share_one_arena

        share_one_arena()  # first thing, as the `siting` command does
    from synthetic_city import make_city

    from siting.inputs.profiles import load_profile

    city = make_city(args.residents, seed=args.seed, households_per_point=args.households_per_point)
    profile = load_profile("national")
    limits = _limits(profile)
    # import everything the method needs before the peak is reset
    import networkx  # noqa: F401
    import pandana  # noqa: F401
    import scipy.optimize  # noqa: F401

    import siting.coverage  # noqa: F401

    gc.collect()
    rss_before = _status_kb("VmRSS")
    _reset_peak_rss()
    answer = None
    if args.worker == "siting":
        info = run_siting(city, profile, limits, args)
    else:
        info, answer = {"scipy_floor": run_scipy_floor, "pandana": run_pandana, "osmnx": run_osmnx}[args.worker](
            city, profile, limits, args)
    info["peak_rss_mb"] = _status_kb("VmHWM") / 1024
    info["peak_above_input_mb"] = (_status_kb("VmHWM") - rss_before) / 1024
    info["input_rss_mb"] = rss_before / 1024
    net, res, fac, _ = city
    info["city"] = {"nodes": net.n_nodes, "edges": net.n_edges, "residences": len(res), "facilities": len(fac),
                    "residents": float(res["population"].sum())}
    if args.worker == "siting" and args.answers:
        answer = answers_siting(city, limits)
    if args.answers and answer is not None:
        np.save(args.answers, answer)
    sys.stdout.flush()
    print("\nRESULT " + json.dumps(info), flush=True)


# ----------------------------------------------------------------------------------------------- parent side
def run_one(method: str, size: str, args) -> dict:
    from synthetic_city import parse_size

    answers = Path(tempfile.gettempdir()) / f"bench-coverage-{method}-{size}-{args.seed}.npy"
    answers.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--residents", str(parse_size(size)),
           "--seed", str(args.seed), "--answers", str(answers), "--nx-sample", str(args.nx_sample),
           "--nx-full", str(args.nx_full), "--pandana-k", str(args.pandana_k), "--one-arena", args.one_arena] + (["--nx-ego"] if args.nx_ego else []) \
        + (["--households-per-point", str(args.households_per_point)] if args.households_per_point else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:], "process_s": time.perf_counter() - t0}
    line = [l for l in proc.stdout.splitlines() if "RESULT {" in l][-1]
    info = json.loads(line.split("RESULT ", 1)[1])
    info["answers"] = str(answers) if answers.exists() else None
    return info


def agreement(ours: np.ndarray, theirs: np.ndarray, tol_m: float = 0.01) -> str:
    both = np.isfinite(ours) & np.isfinite(theirs)
    differ_finite = int((np.isfinite(ours) != np.isfinite(theirs)).sum())
    max_diff = float(np.abs(ours[both] - theirs[both]).max()) if both.any() else 0.0
    return f"max |Δ| {max_diff:.4f} m over {int(both.sum())} nodes; reached-set mismatches {differ_finite}"


def report(results: dict, args, command: str) -> str:
    lines = ["# Coverage analysis at city scale", "",
             f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. Seed {args.seed}. "
             "Each cell is one fresh subprocess; peak RSS is the process high-water mark (C allocations included) "
             "measured after the city was generated and libraries imported (peak reset through /proc/self/clear_refs). "
             + {"siting": "siting's process shares one malloc arena, as the `siting` command does (siting/heap.py); "
                          "the peers' processes keep glibc's default.",
                "all": "Every method's process shares one malloc arena (siting/heap.py; MALLOC_ARENA_MAX=1).",
                "none": "Every process keeps glibc's default malloc arenas."}[args.one_arena],
             "", f"Reproduce: `{command}`", ""]
    for size, per in results.items():
        s = per.get("siting", {})
        city = s.get("city") or next((v.get("city") for v in per.values() if "city" in v), {})
        lines += [f"## {size} residents", "",
                  f"City: {city.get('nodes')} nodes, {city.get('edges')} edges, {city.get('residences')} residences "
                  f"({'compounds' if not args.households_per_point else f'points of ~{args.households_per_point:g} households'}), {city.get('facilities')} facilities, {city.get('residents', 0):.0f} residents.", "",
                  "| method | wall s | × siting | peak RSS MB | peak above input MB | notes |", "|---|---:|---:|---:|---:|---|"]
        base = s.get("wall_s")
        for m in METHODS:
            info = per.get(m, {})
            if "error" in info:
                lines.append(f"| {m} | failed | | | | {info['error']} |")
                continue
            if not info:
                continue
            ratio = f"{info['wall_s'] / base:.2f}" if base else ""
            note = ""
            if m == "siting":
                note = "; ".join(f"{name}: {sec:.2f}s" for name, sec in info["stages"])
            elif m == "pandana":
                note = (f"CH build {info['ch_build_s']:.2f}s, precompute {info['precompute_s']:.2f}s, "
                        f"num_pois={info['k']} (residences with all {info['k']} slots filled: "
                        f"{info['residences_with_k_facilities']})")
            elif m == "osmnx":
                note = (("ego_graph per facility; " if info.get("ego_graph") else "single_source_dijkstra_path_length(cutoff) per facility; ")
                        + f"MultiDiGraph build {info['graph_build_s']:.2f}s, {info['per_facility_ms']:.2f} ms/facility"
                        + (f"; EXTRAPOLATED from {info['sampled']} of {info['facilities']} facilities" if info["extrapolated"] else ""))
            lines.append(f"| {m} | {info['wall_s']:.3f} | {ratio} | {info['peak_rss_mb']:.0f} | "
                         f"{info['peak_above_input_mb']:.0f} | {note} |")
        floor = per.get("scipy_floor", {}).get("wall_s")
        nx_ = per.get("osmnx", {}).get("wall_s")
        lines.append("")
        if base and floor:
            lines.append(f"- siting / scipy floor: **{base / floor:.1f}×** (target ≤ 3× at 1 M)")
        if base and nx_:
            lines.append(f"- osmnx recipe / siting: **{nx_ / base:.1f}×** (target ≥ 30× at 1 M)")
        ours = s.get("answers")
        for m in ("scipy_floor", "pandana", "osmnx"):
            theirs = per.get(m, {}).get("answers")
            if ours and theirs:
                lines.append(f"- agreement, elderly nearest-facility metres on every node, siting vs {m}: "
                             f"{agreement(np.load(ours), np.load(theirs))}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10k,100k,1M,10M")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nx-sample", type=int, default=200, help="facilities timed for the osmnx recipe above --nx-full")
    parser.add_argument("--nx-full", type=int, default=100_000, help="largest city (residents) run on all facilities")
    parser.add_argument("--nx-ego", action="store_true", help="osmnx recipe via nx.ego_graph (notebook style)")
    parser.add_argument("--pandana-k", type=int, default=10, help="num_pois for pandana's catchment membership")
    parser.add_argument("--merge", action="store_true", help="rerun only --methods, keep the rest from <out>.json")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--one-arena", choices=("siting", "all", "none"), default="siting",
                        help="processes that share one malloc arena (siting.heap.share_one_arena): siting's, as the "
                             "`siting` command runs (default); every method's; or none")
    parser.add_argument("--out", default=str(HERE / "results" / "coverage.md"))
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--households-per-point", type=float,
                        help="split compounds into residence points of about this many households (1 = per household)")
    parser.add_argument("--residents", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--answers", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    command = "python bench/bench_coverage.py " + " ".join(sys.argv[1:])
    raw = Path(args.out).with_suffix(".json")
    results: dict[str, dict] = {}
    if args.merge and raw.exists():  # keep the other methods' figures from an earlier run of this same file
        results = {k: v for k, v in json.loads(raw.read_text()).items() if k in args.sizes.split(",")}
    for size in args.sizes.split(","):
        results.setdefault(size, {})
        for method in args.methods.split(","):
            print(f"{size} {method} …", file=sys.stderr, flush=True)
            results[size][method] = run_one(method, size, args)
            from siting.output import write_json

            write_json(raw, results)
            info = results[size][method]
            print(f"   {info.get('wall_s', info.get('error'))}", file=sys.stderr, flush=True)
    text = report(results, args, command)
    print(text)
    from siting.output import write_text

    write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
