"""Run by hand: `python bench/bench_pmedian_dense.py [--ps 5,10,20] [--limit 60]`. Issue 20, target 2: the
uncapacitated p-median on the dense instance of `dense_pmedian.py` (n = 900 points, all-pairs shortest paths of a
sparse planar graph, every point a demand row and a candidate), CBC and HiGHS, one fresh process per run: status, gap,
wall time and where it went (the run's notes). Writes bench/results/pmedian-dense.md, keeping its hand-written
"## Reading" section."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dense_pmedian import run_child  # noqa: E402

CHILD = r"""
import json, sys, time, warnings
sys.path.insert(0, {bench!r})
warnings.simplefilter("ignore")
from dense_pmedian import dense_instance
from siting.optimize import PMedian
inst = dense_instance({n}, seed={seed})
m = PMedian.from_cost_matrix(inst["cost"], {p}, weights=inst["weights"])
t0 = time.perf_counter()
r = m.solve({solver!r}, time_limit_s={limit!r})
print("RESULT" + json.dumps(dict(status=r.status, objective=r.objective, gap=r.gap, wall_s=time.perf_counter() - t0,
                                 notes=list(r.reduction.notes) + r.notes)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ps", default="5,10,20")
    parser.add_argument("--n", type=int, default=900)
    parser.add_argument("--seeds", default="0", help="instance seeds (0 is the instance of issue 20)")
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--solvers", default="highs,cbc")
    parser.add_argument("--out", default=str(HERE / "results" / "pmedian-dense.md"))
    args = parser.parse_args()
    rows = []
    for seed in [int(v) for v in args.seeds.split(",")]:
        for p in [int(v) for v in args.ps.split(",")]:
            for solver in args.solvers.split(","):
                code = CHILD.format(bench=str(HERE), n=args.n, seed=seed, p=p, solver=solver, limit=args.limit)
                res, load = run_child(code, dict(status="CRASH", objective=None, gap=None, wall_s=None, notes=[]))
                rows.append((seed, p, solver, res, load))
                print(seed, p, solver, res["status"], res["objective"], res["gap"], res["wall_s"], f"load {load:.2f}",
                      flush=True)
    lines = ["# p-median, dense instances with few sites (issue 20, target 2)", "",
             f"`python bench/bench_pmedian_dense.py --ps {args.ps} --limit {args.limit:g} --seeds {args.seeds}` — "
             f"`bench/dense_pmedian.py` (n = {args.n}; seed 0 is issue 20's instance), time limit {args.limit:g} s "
             "per run, one fresh process each, 2-core machine shared with other jobs (1-minute load at each run's "
             "start).", "",
             "| seed | p | solver | status | objective | gap | wall (s) | load |", "|---|---|---|---|---|---|---|---|"]
    for seed, p, solver, res, load in rows:
        gap = "" if res["gap"] is None else f"{100 * res['gap']:.3f} %"
        wall = "" if res["wall_s"] is None else f"{res['wall_s']:.1f}"
        obj = "" if res["objective"] is None else f"{res['objective']:.10g}"
        lines.append(f"| {seed} | {p} | {solver} | {res['status']} | {obj} | {gap} | {wall} | {load:.2f} |")
    lines += ["", "Where the time went (each run's notes):", ""]
    for seed, p, solver, res, _ in rows:
        lines.append(f"- seed {seed}, p = {p}, {solver}: " + "; ".join(res["notes"]))
    out = Path(args.out)
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    reading = old[old.index("\n## Reading"):] if "\n## Reading" in old else ""  # hand-written: kept
    out.write_text("\n".join(lines) + "\n" + reading, encoding="utf-8")


if __name__ == "__main__":
    main()
