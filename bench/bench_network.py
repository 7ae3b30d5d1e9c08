"""Network loading and catchment polygons at city scale (synthetic city of bench/synthetic_city.py).

- load: the city's streets written to .osm.pbf, then `load_network(pbf, cache_dir=…)` in a fresh process (parse +
  compile + cache write), then again in another fresh process (from the npz cache). Both the call and the whole
  process (interpreter start + imports + call) are timed, since a planner's "second run" pays both.
- polygons: `catchment_polygons` for N facilities (15 min at the elderly speed, plus a 10 min ring with --rings 2),
  in a fresh process, with a breakdown: bounded searches vs segment cutting vs shapely buffering.

Run:  python bench/bench_network.py --load-size 1M --polygon-size 10M --facilities 1000  [--polygons-only]
Writes bench/results/network.md (with --polygons-only, only its polygon section; other sections are kept).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_load(pbf: str, cache: str) -> dict:
    t0 = time.perf_counter()
    from siting.network import load_network

    t1 = time.perf_counter()
    net = load_network(pbf, cache_dir=cache)
    t2 = time.perf_counter()
    return {"imports_s": t1 - t0, "load_s": t2 - t1, "nodes": net.n_nodes, "edges": net.n_edges, "peak_rss_mb": _peak_mb()}


@contextlib.contextmanager
def _timing(module, name: str, spent: dict[str, float], key: str):
    """While active, every call of module.name adds its seconds to spent[key]."""
    real = getattr(module, name)

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            spent[key] += time.perf_counter() - t

    setattr(module, name, timed)
    try:
        yield
    finally:
        setattr(module, name, real)


def worker_polygons(residents: int, n_fac: int, rings: int, seed: int) -> dict:
    """`catchment_polygons` as a planner runs it (default threads), then the breakdown: searches + cutting alone
    (`iter_reached_segments`, the searches timed inside it), and the whole call again with one buffering thread,
    summing the time of its merge + buffer tasks. CPU seconds of the first call add up all threads."""
    import numpy as np
    import pandas as pd
    from synthetic_city import make_city

    import siting.network.isochrones as iso
    from siting.inputs.profiles import load_profile
    from siting.inputs.schema import ELDERLY
    from siting.network import kernels
    from siting.network.snap import snap_geoseries

    net, _, fac, cand = make_city(residents, seed=seed)
    profile = load_profile("national")
    speed = profile.walk_speed_m_per_min(ELDERLY)
    limits = {15.0: 15 * speed} if rings == 1 else {10.0: 10 * speed, 15.0: 15 * speed}
    points = fac.geometry if len(fac) >= n_fac else pd.concat([fac.geometry, cand.geometry], ignore_index=True)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(points), min(n_fac, len(points)), replace=False))
    src = snap_geoseries(net, points.iloc[pick])
    net.adjacency  # noqa: B018  (built once per network in every real run as well)

    t0, c0 = time.perf_counter(), time.process_time()
    frame = iso.catchment_polygons(net, src, limits, buffer_m=25.0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    peak_mb = _peak_mb()  # before the breakdown below holds every segment at once

    spent = {"search": 0.0, "buffer": 0.0}
    # the searches' share of iter_reached_segments, measured inside the same run
    with _timing(kernels, "bounded_node_distances", spent, "search"):
        t0 = time.perf_counter()
        batches = list(iso.iter_reached_segments(net, src, sorted(limits.values())))
        search_cut_s = time.perf_counter() - t0
    segments = int(sum(len(b.segments) for b in batches))
    del batches
    # merge + buffer, summed over the tasks of the single buffering thread
    with _timing(iso, "_buffer_lines", spent, "buffer"):
        t0 = time.perf_counter()
        iso.catchment_polygons(net, src, limits, buffer_m=25.0, workers=1)
        one_thread_s = time.perf_counter() - t0
    search_s, buffer_s = spent["search"], spent["buffer"]
    return {"wall_s": wall, "cpu_s": cpu, "search_s": search_s, "cut_s": search_cut_s - search_s,
            "buffer_s": buffer_s, "one_thread_s": one_thread_s, "segments": segments, "polygons": len(frame),
            "threads": iso.DEFAULT_WORKERS,
            "facilities": int(pick.size), "nodes": net.n_nodes, "edges": net.n_edges, "peak_rss_mb": peak_mb,
            "mean_vertices": float(np.mean([len(g.exterior.coords) if g.geom_type == "Polygon" else
                                            sum(len(p.exterior.coords) for p in g.geoms) for g in frame.geometry]))}


def _run(args: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    info = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1][7:])
    info["process_s"] = time.perf_counter() - t0
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load-size", default="1M")
    parser.add_argument("--polygon-size", default="10M")
    parser.add_argument("--facilities", type=int, default=1000)
    parser.add_argument("--rings", type=int, choices=(1, 2), default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results" / "network.md"))
    parser.add_argument("--polygons-only", action="store_true",
                        help="run only the polygon part; keep the loading figures already in --out")
    parser.add_argument("--worker", choices=("load", "polygons"), help=argparse.SUPPRESS)
    parser.add_argument("--pbf", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--residents", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "load":
        print("RESULT " + json.dumps(worker_load(args.pbf, args.cache)))
        return
    if args.worker == "polygons":
        print("RESULT " + json.dumps(worker_polygons(args.residents, args.facilities, args.rings, args.seed)))
        return

    from synthetic_city import make_city, parse_size, write_pbf

    from siting.output import write_text

    header = ["# Network loading and catchment polygons", "",
              f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. Every figure is a fresh process.", "",
              f"Reproduce: `python bench/bench_network.py {' '.join(sys.argv[1:])}`", ""]
    sections = _read_sections(Path(args.out))
    if not args.polygons_only:
        sections["Loading"] = _load_section(args, make_city, parse_size, write_pbf)
    poly = _run(["--worker", "polygons", "--residents", str(parse_size(args.polygon_size)),
                 "--facilities", str(args.facilities), "--rings", str(args.rings), "--seed", str(args.seed)])
    sections["Catchment"] = [
        f"## Catchment polygons, {poly['facilities']} facilities on the {args.polygon_size}-resident city", "",
        f"{poly['nodes']} nodes, {poly['edges']} edges; {poly['polygons']} polygons ({args.rings} ring(s)), buffer 25 m, "
        f"{poly['segments']} reached segments, mean {poly['mean_vertices']:.0f} vertices per polygon.", "",
        f"`catchment_polygons` as run ({poly['threads']} buffering threads; CPU adds up all threads), then again with one "
        "buffering thread, with the stages timed on their own (searches + cutting without buffering; merge + buffer "
        "summed over the tasks of the one thread):", "",
        "| total s | CPU s | total s, 1 buffering thread | bounded searches s | segment cutting s | merge + buffer s "
        "| peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {poly['wall_s']:.2f} | {poly['cpu_s']:.2f} | {poly['one_thread_s']:.2f} | {poly['search_s']:.2f} | "
        f"{poly['cut_s']:.2f} | {poly['buffer_s']:.2f} | {poly['peak_rss_mb']:.0f} |", "",
        f"- {poly['polygons']} catchment polygons of {poly['facilities']} facilities: **{poly['wall_s']:.1f} s** (target < 10 s)", ""]
    order = ["Loading", "Catchment"]
    body = [line for key in order if key in sections for line in sections[key]]
    body += [line for key, text in sections.items() if key not in order for line in text]  # hand-written notes
    text = "\n".join(header + body)
    print(text)
    write_text(args.out, text.rstrip("\n") + "\n")


def _read_sections(path: Path) -> dict[str, list[str]]:
    """The `## ` sections of an earlier results file, keyed by their heading's first word, so that a partial
    run (--polygons-only) keeps the other figures and hand-written notes."""
    sections: dict[str, list[str]] = {}
    key = None
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if line.startswith("## "):
            key = line.split()[1] if len(line.split()) > 1 else line
            sections[key] = []
        if key is not None:
            sections[key].append(line)
    return sections


def _load_section(args, make_city, parse_size, write_pbf) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        city = make_city(parse_size(args.load_size), seed=args.seed)
        pbf = Path(tmp) / f"city-{args.load_size}.osm.pbf"
        t0 = time.perf_counter()
        write_pbf(city, pbf)
        write_s = time.perf_counter() - t0
        cache = str(Path(tmp) / "cache")
        first = _run(["--worker", "load", "--pbf", str(pbf), "--cache", cache])
        second = _run(["--worker", "load", "--pbf", str(pbf), "--cache", cache])
        size_mb = pbf.stat().st_size / 1e6
    return [f"## Loading the {args.load_size}-resident city from .osm.pbf", "",
            f"{first['nodes']} nodes, {first['edges']} edges; pbf {size_mb:.1f} MB (written in {write_s:.1f} s).", "",
            "| run | load_network s | imports s | whole process s | peak RSS MB |", "|---|---:|---:|---:|---:|",
            f"| first (parse .osm.pbf, compile, write cache) | {first['load_s']:.3f} | {first['imports_s']:.2f} | "
            f"{first['process_s']:.2f} | {first['peak_rss_mb']:.0f} |",
            f"| second (npz cache) | {second['load_s']:.3f} | {second['imports_s']:.2f} | {second['process_s']:.2f} | "
            f"{second['peak_rss_mb']:.0f} |", "",
            f"- second run from the cache: **{second['load_s']:.3f} s** in load_network (target < 1 s at 1 M)", ""]


if __name__ == "__main__":
    main()
