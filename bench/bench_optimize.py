"""Run by hand: `python bench/bench_optimize.py [--quick]`. Times our models against spopt + CBC on the same
instances (the spopt San Francisco matrix and synthetic cities: points in a 10 km square, straight-line metres,
threshold 1,000 m) and writes the table to bench/results/optimize.md. Not a test: timings vary by machine."""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pulp
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from siting.optimize import LSCP, MCLP, CapacitatedCoverage  # noqa: E402
from siting.optimize_reduce import Pairs  # noqa: E402
from siting.output import write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
SF = HERE.parents[1] / "shared" / "data" / "spopt" / "SF_network_distance_candidateStore_16_censusTract_205_new.csv"


def synthetic(n_res: int, n_cand: int, seed: int = 0, threshold_m: float = 1000.0):
    rng = np.random.default_rng(seed)
    res, cand = rng.random((n_res, 2)) * 10_000, rng.random((n_cand, 2)) * 10_000
    coo = cKDTree(res).sparse_distance_matrix(cKDTree(cand), threshold_m, output_type="coo_matrix")
    pairs = Pairs.build(coo.row, coo.col, np.maximum(coo.data, 1e-9), n_res, n_cand)
    households = rng.integers(20, 400, n_res).astype(float)
    return pairs, households, coo


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def spopt_row(model: str, cost: np.ndarray, w: np.ndarray, r: float, p: int | None):
    from spopt.locate import LSCP as SL, MCLP as SM

    solver = pulp.PULP_CBC_CMD(msg=False)
    if model == "MCLP":
        out, t = timed(lambda: SM.from_cost_matrix(cost, w, r, p_facilities=p).solve(solver))
        return pulp.value(out.problem.objective), t, pulp.LpStatus[out.problem.status]
    out, t = timed(lambda: SL.from_cost_matrix(cost, r).solve(solver))
    return pulp.value(out.problem.objective), t, pulp.LpStatus[out.problem.status]


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main(quick: bool) -> None:
    warnings.simplefilter("ignore")
    rows = []
    cases = []
    if SF.exists():
        df = pd.read_csv(SF)
        cm = df.pivot_table(values="distance", index="DestinationName", columns="name")
        w = df.groupby("DestinationName")["demand"].first().loc[cm.index].to_numpy(float)
        cases.append(("SF 205x16", cm.to_numpy(), None, w, 5000.0, 4))
    sizes = [(2000, 400)] if quick else [(2000, 400), (10_000, 2000)]
    for n_res, n_cand in sizes:
        pairs, hh, coo = synthetic(n_res, n_cand)
        dense = np.full((n_res, n_cand), np.inf)
        dense[coo.row, coo.col] = coo.data
        cases.append((f"synthetic {n_res}x{n_cand}", dense, pairs, hh, 1000.0, 20))
    for name, dense, pairs, w, r, p in cases:
        for model in ("MCLP", "LSCP"):
            for solver in ("cbc", "highs"):
                def run():
                    if model == "MCLP":
                        m = MCLP(pairs, weights=w, p=p) if pairs is not None else MCLP.from_cost_matrix(dense, r, weights=w, p=p)
                    else:
                        m = LSCP(pairs) if pairs is not None else LSCP.from_cost_matrix(dense, r)
                    return m.solve(solver, time_limit_s=120)
                res, t = timed(run)
                red = res.reduction
                rows.append(dict(instance=name, model=model, tool=f"siting/{solver}", status=res.status, objective=res.objective,
                                 gap=res.gap, seconds=round(t, 2),
                                 reduction=f"{red.rows_before}x{red.columns_before} -> {red.rows_after}x{red.columns_after}"))
            finite = np.where(np.isfinite(dense), dense, 1e9)
            try:
                obj, t, status = spopt_row(model, finite, w, r, p)
                rows.append(dict(instance=name, model=model, tool="spopt/cbc", status=f"{status} (pulp status)", objective=obj,
                                 gap=None, seconds=round(t, 2), reduction="none"))
            except Exception as exc:  # spopt raises on models it finds infeasible (unreachable rows in LSCP)
                rows.append(dict(instance=name, model=model, tool="spopt/cbc", status=f"error: {str(exc)[:60]}", objective=None,
                                 gap=None, seconds=None, reduction="none"))
        if pairs is not None:
            need = w * 20 / 100
            res, t = timed(lambda: CapacitatedCoverage(pairs, need, weights=w, max_size=1500, min_size=350, p=p).solve("highs", time_limit_s=120))
            red = res.reduction
            rows.append(dict(instance=name, model="CapacitatedCoverage max_covered", tool="siting/highs", status=res.status,
                             objective=res.objective, gap=res.gap, seconds=round(t, 2),
                             reduction=f"{red.rows_before}x{red.columns_before} -> {red.rows_after}x{red.columns_after}"))
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    text = ("# Optimisation benchmark\n\n`python bench/bench_optimize.py` on this machine (2 cores). Synthetic: uniform points in "
            "a 10 km square, straight-line metres, threshold 1,000 m, p = 20; LSCP on synthetic leaves out unreachable rows "
            "(spopt instead declares the model infeasible). spopt's status is pulp's `status`, which says Optimal even for "
            "a time-limited run.\n\n" + _markdown(table) + "\n")
    write_text(HERE / "results" / "optimize.md", text)


if __name__ == "__main__":
    main("--quick" in sys.argv)
