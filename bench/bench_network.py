"""Network loading and catchment polygons at city scale (synthetic city of bench/synthetic_city.py).

- load: the city's streets written to .osm.pbf, then `load_network(pbf, cache_dir=…)` in a fresh process (parse +
  compile + cache write), then again in another fresh process (from the npz cache). Both the call and the whole
  process (interpreter start + imports + call) are timed, since a planner's "second run" pays both.
- polygons: `catchment_polygons` for N facilities (15 min at the elderly speed, plus a 10 min ring with --rings 2),
  in a fresh process, with a breakdown: bounded searches vs segment cutting vs shapely buffering.

Run:  python bench/bench_network.py --load-size 1M --polygon-size 10M --facilities 1000
Writes bench/results/network.md.
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


def worker_polygons(residents: int, n_fac: int, rings: int, seed: int) -> dict:
    import numpy as np
    import pandas as pd

    import siting.isochrones as iso
    from siting.profiles import load_profile
    from siting.schema import ELDERLY
    from siting.snap import snap_geoseries
    from synthetic_city import make_city

    net, _, fac, cand = make_city(residents, seed=seed)
    profile = load_profile("national")
    speed = profile.walk_speed_m_per_min(ELDERLY)
    limits = {15.0: 15 * speed} if rings == 1 else {10.0: 10 * speed, 15.0: 15 * speed}
    points = fac.geometry if len(fac) >= n_fac else pd.concat([fac.geometry, cand.geometry], ignore_index=True)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(points), min(n_fac, len(points)), replace=False))
    src = snap_geoseries(net, points.iloc[pick])
    net.adjacency  # noqa: B018  (built once per network in every real run as well)

    # breakdown: wrap the two inner steps with timers
    spent = {"segments_s": 0.0, "buffer_s": 0.0}
    real_segments, real_buffer = iso.reached_segments, iso.shapely.buffer

    def timed_segments(*a, **k):
        t = time.perf_counter()
        out = real_segments(*a, **k)
        spent["segments_s"] += time.perf_counter() - t
        return out

    class _TimedShapely:
        def __getattr__(self, name):
            return getattr(real_shapely, name)

        @staticmethod
        def buffer(*a, **k):
            t = time.perf_counter()
            out = real_buffer(*a, **k)
            spent["buffer_s"] += time.perf_counter() - t
            return out

    real_shapely = iso.shapely
    iso.reached_segments, iso.shapely = timed_segments, _TimedShapely()
    t0 = time.perf_counter()
    frame = iso.catchment_polygons(net, src, limits, buffer_m=25.0)
    wall = time.perf_counter() - t0
    iso.reached_segments, iso.shapely = real_segments, real_shapely
    return {"wall_s": wall, **spent, "other_s": wall - spent["segments_s"] - spent["buffer_s"], "polygons": len(frame),
            "facilities": int(pick.size), "nodes": net.n_nodes, "edges": net.n_edges, "peak_rss_mb": _peak_mb(),
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

    from siting.output import write_text
    from synthetic_city import make_city, parse_size, write_pbf

    lines = ["# Network loading and catchment polygons", "",
             f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. Every figure is a fresh process.", "",
             f"Reproduce: `python bench/bench_network.py {' '.join(sys.argv[1:])}`", ""]
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
        lines += [f"## Loading the {args.load_size}-resident city from .osm.pbf", "",
                  f"{first['nodes']} nodes, {first['edges']} edges; pbf {size_mb:.1f} MB (written in {write_s:.1f} s).", "",
                  "| run | load_network s | imports s | whole process s | peak RSS MB |", "|---|---:|---:|---:|---:|",
                  f"| first (parse .osm.pbf, compile, write cache) | {first['load_s']:.3f} | {first['imports_s']:.2f} | "
                  f"{first['process_s']:.2f} | {first['peak_rss_mb']:.0f} |",
                  f"| second (npz cache) | {second['load_s']:.3f} | {second['imports_s']:.2f} | {second['process_s']:.2f} | "
                  f"{second['peak_rss_mb']:.0f} |", "",
                  f"- second run from the cache: **{second['load_s']:.3f} s** in load_network (target < 1 s at 1 M)", ""]
    poly = _run(["--worker", "polygons", "--residents", str(parse_size(args.polygon_size)),
                 "--facilities", str(args.facilities), "--rings", str(args.rings), "--seed", str(args.seed)])
    lines += [f"## Catchment polygons, {poly['facilities']} facilities on the {args.polygon_size}-resident city", "",
              f"{poly['nodes']} nodes, {poly['edges']} edges; {poly['polygons']} polygons ({args.rings} ring(s)), "
              f"buffer 25 m, mean {poly['mean_vertices']:.0f} vertices each.", "",
              "| total s | bounded searches + bookkeeping s | segment cutting s | shapely buffer s | peak RSS MB |",
              "|---:|---:|---:|---:|---:|",
              f"| {poly['wall_s']:.2f} | {poly['other_s']:.2f} | {poly['segments_s']:.2f} | {poly['buffer_s']:.2f} | "
              f"{poly['peak_rss_mb']:.0f} |", "",
              f"- {poly['facilities']} catchment polygons: **{poly['wall_s']:.1f} s** (target < 10 s)", ""]
    text = "\n".join(lines)
    print(text)
    write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
