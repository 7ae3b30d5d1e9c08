"""Run by hand: `python bench/bench_time_limits.py [--limits 2,10] [--n 900]`. Issue 20, target 3: the wall time of
every model's solve(time_limit_s=T), both solvers, on the dense 900-point instance (`dense_pmedian.py`), against the
promise T + max(5 s, 10 %); each run's status, objective and notes. Every run is a fresh subprocess (no warm caches
of one model helping the next). Writes bench/results/time-limits.md."""
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
import numpy as np
from dense_pmedian import dense_instance
from siting.optimize import LSCP, MCLP, PCenter, PMedian, CapacitatedCoverage
inst = dense_instance({n})
cost, w = inst["cost"], inst["weights"]
model, solver, limit = {model!r}, {solver!r}, {limit!r}
make = {{
    "PMedian p=90": lambda: PMedian.from_cost_matrix(cost, 90, weights=w),
    "PMedian p=5": lambda: PMedian.from_cost_matrix(cost, 5, weights=w),
    "PCenter p=10": lambda: PCenter.from_cost_matrix(cost, 10, weights=w),
    "LSCP 800 m": lambda: LSCP.from_cost_matrix(cost, 800.0, weights=w),
    "MCLP 800 m p=20": lambda: MCLP.from_cost_matrix(cost, 800.0, p=20, weights=w),
    "Capacitated 1500 m p=15": lambda: CapacitatedCoverage.from_cost_matrix(cost, 1500.0, w, p=15, max_size=2.5 * w.sum() / 15),
}}[model]
m = make()
t0 = time.perf_counter()
try:
    r = m.solve(solver, time_limit_s=limit)
    out = dict(status=r.status, objective=r.objective, gap=r.gap, notes=r.notes + list(r.reduction.notes))
except Exception as err:  # the bench reports it
    out = dict(status="EXCEPTION " + type(err).__name__, objective=None, gap=None, notes=[str(err)])
out["wall_s"] = time.perf_counter() - t0
print("RESULT" + json.dumps(out))
"""

MODELS = ["PMedian p=90", "PMedian p=5", "PCenter p=10", "LSCP 800 m", "MCLP 800 m p=20", "Capacitated 1500 m p=15"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", default="2,10")
    parser.add_argument("--n", type=int, default=900)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=str(HERE / "results" / "time-limits.md"))
    args = parser.parse_args()
    rows = []
    for limit in [float(v) for v in args.limits.split(",")]:
        for model in args.models.split(","):
            for solver in ("cbc", "highs"):
                code = CHILD.format(bench=str(HERE), n=args.n, model=model, solver=solver, limit=limit)
                res, load = run_child(code, dict(status="CRASH", objective=None, gap=None, notes=[], wall_s=None))
                bound = limit + max(5.0, 0.1 * limit)
                ok = res["wall_s"] is not None and res["wall_s"] <= bound
                rows.append((model, solver, limit, res, load, ok, bound))
                print(f"{model:26s} {solver:5s} T={limit:5.1f} wall={res['wall_s'] or float('nan'):6.2f} s "
                      f"(bound {bound:.1f}, {'ok' if ok else 'OVER'}) {res['status']} load {load:.2f}", flush=True)
    lines = [
        "# Time limits end to end (issue 20, target 3)", "",
        f"`python bench/bench_time_limits.py --limits {args.limits} --n {args.n}` — dense instance of "
        f"`bench/dense_pmedian.py` (n = {args.n}, every point a demand row and a candidate), one fresh process per run, "
        "2-core machine shared with other jobs (1-minute load average at each run's start in the last column).", "",
        "| model | solver | T (s) | wall (s) | T + max(5 s, 10 %) | within | status | objective | gap | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, solver, limit, res, load, ok, bound in rows:
        gap = "" if res["gap"] is None else f"{100 * res['gap']:.2f} %"
        obj = "" if res["objective"] is None else f"{res['objective']:.6g}"
        wall = "" if res["wall_s"] is None else f"{res['wall_s']:.2f}"
        lines.append(f"| {model} | {solver} | {limit:g} | {wall} | {bound:g} | {'yes' if ok else 'NO'} | {res['status']} | "
                     f"{obj} | {gap} | {load:.2f} |")
    lines += ["", "Notes per run:", ""]
    for model, solver, limit, res, *_ in rows:
        lines.append(f"- {model}, {solver}, T = {limit:g}: " + "; ".join(res["notes"])[:600])
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
