"""Run by hand: `python bench/bench_optimize.py [--quick] [--spopt-limit S]`. Times our models (CBC and HiGHS) against
spopt + CBC on the same instances in one run and writes the table to bench/results/optimize.md. Not a test: timings
vary by machine.

Instances:
- the spopt San Francisco matrix (205 tracts × 16 stores, network metres; `tests/data/spopt/`);
- a synthetic city built with bench/synthetic_city.py (`make_city`: a jittered street grid with gaps, footpaths and
  cul-de-sacs around Chifeng; compounds of 100–2,000 households). Residences are the buildings of those compounds
  (10,000 points clustered inside the compounds, households split by building), candidate sites are 2,000 points
  (60 % ground-floor spaces inside compounds, 40 % anywhere: schools, public buildings, vacant parcels), and the
  city's existing elderly day-care stations are fixed open. Coverage sets are walking distances along the city's
  streets from siting's own snapping and bounded Dijkstra (`siting.network.snap`, `siting.network.routing.reach`), within the
  national profile's 15-minute elderly walk (825 m). `--quick` uses 2,000 × 400 from a smaller city.

Every model runs on the same pairs. p-median and p-center use p = the LSCP optimum (the fewest new sites that reach
every reachable residence within 825 m), so that assigning every residence within the walk is feasible; spopt gets
the same pairs as a dense matrix (pairs beyond the walk at 10⁹ m, which its p-median/p-center never pick when p is
feasible) and the existing stations as `predefined_facilities_arr` (its p counts them). spopt runs in a child process
under a wall-clock limit (model build + solve) and CBC's own time limit; its status is pulp's `sol_status` (the
plain `status` says Optimal even for a time-limited run).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_city import UTM_50N, make_city  # noqa: E402

from siting.errors import OptimizationError  # noqa: E402
from siting.inputs.profiles import load_profile  # noqa: E402
from siting.inputs.schema import ELDERLY  # noqa: E402
from siting.measures import required_capacity  # noqa: E402
from siting.network.routing import reach  # noqa: E402
from siting.network.snap import snap_geoseries  # noqa: E402
from siting.optimisation.reduce import Pairs  # noqa: E402
from siting.optimize import (  # noqa: E402
    LSCP,
    MCLP,
    CapacitatedCoverage,
    PCenter,
    PMedian,
    cbc_command,
    pulp_status_text,
)
from siting.output import write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
SF = HERE.parent / "tests" / "data" / "spopt" / "SF_network_distance_candidateStore_16_censusTract_205_new.csv"
FAR_M = 1e9  # what spopt sees for a pair beyond the walk


def city_instance(n_res: int, n_cand: int, residents: int, seed: int = 0) -> dict:
    """Residences (buildings of the synthetic compounds), candidates and existing elderly stations, and the walking
    pairs within the national profile's elderly walk (`siting.network.routing.reach` on the compiled street grid)."""
    rng = np.random.default_rng(seed)
    city = make_city(residents, seed=seed)
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM_50N, always_xy=True)
    to_wgs = pyproj.Transformer.from_crs(UTM_50N, "EPSG:4326", always_xy=True)
    comp = city.residences
    cx, cy = to_utm.transform(comp.geometry.x.to_numpy(), comp.geometry.y.to_numpy())
    hh = comp["households"].to_numpy(dtype=float)
    # buildings per compound ∝ households (largest remainder, at least one), placed inside a square of side 8·√hh m
    share = hh / hh.sum() * n_res
    count = np.maximum(1, np.floor(share).astype(int))
    extra = n_res - count.sum()
    if extra > 0:
        count[np.argsort(-(share - np.floor(share)))[:extra]] += 1
    while count.sum() > n_res:  # more compounds than buildings asked: trim the largest
        count[np.argmax(count)] -= 1
    owner = np.repeat(np.arange(len(comp)), count)
    side = 8.0 * np.sqrt(hh[owner])
    bx = cx[owner] + rng.uniform(-0.5, 0.5, owner.size) * side
    by = cy[owner] + rng.uniform(-0.5, 0.5, owner.size) * side
    b_hh = hh[owner] / count[owner]
    b_pop = comp["population"].to_numpy(dtype=float)[owner] / count[owner]
    area_type = comp["area_type"].to_numpy(dtype=object)[owner]
    # candidates: 60 % inside compounds (weighted by households), 40 % anywhere in the city
    n_in = int(round(0.6 * n_cand))
    host = rng.choice(len(comp), n_in, p=hh / hh.sum())
    kx = np.concatenate([cx[host] + rng.uniform(-0.5, 0.5, n_in) * 8.0 * np.sqrt(hh[host]),
                         rng.uniform(bx.min(), bx.max(), n_cand - n_in)])
    ky = np.concatenate([cy[host] + rng.uniform(-0.5, 0.5, n_in) * 8.0 * np.sqrt(hh[host]),
                         rng.uniform(by.min(), by.max(), n_cand - n_in)])
    floor_m2 = np.round(rng.uniform(200, 1000, n_cand))
    existing = city.facilities[city.facilities["kind"] == ELDERLY]
    points = gpd.GeoSeries(
        list(existing.geometry) + list(gpd.points_from_xy(*to_wgs.transform(kx, ky))), crs="EPSG:4326")
    res_points = gpd.GeoSeries(gpd.points_from_xy(*to_wgs.transform(bx, by)), crs="EPSG:4326")
    profile = load_profile("national")
    limit_m = profile.walk_limit_m(ELDERLY)
    t0 = time.perf_counter()
    src = snap_geoseries(city.net, points)
    dst = snap_geoseries(city.net, res_points)
    within = reach(city.net, src, dst, limit_m)
    routing_s = time.perf_counter() - t0
    n_ex = len(existing)
    pairs = Pairs.build(within.dst, within.src, within.dist_m, len(res_points), len(points))
    is_existing = np.arange(len(points)) < n_ex
    need_m2 = required_capacity(ELDERLY, b_hh, b_pop, area_type, profile)
    return dict(
        name=f"city {n_res}x{n_cand}+{n_ex} existing", pairs=pairs, households=b_hh, existing=is_existing,
        floor_m2=np.concatenate([existing["floor_area_m2"].to_numpy(dtype=float), floor_m2]), need_m2=need_m2,
        limit_m=limit_m, min_station_m2=float(profile.value("elderly_station_min_m2")), routing_s=routing_s,
        network=f"{city.net.n_nodes} nodes, {city.net.n_edges} edges", compounds=len(comp),
    )


def sf_instance() -> dict | None:
    if not SF.exists():
        return None
    df = pd.read_csv(SF)
    cm = df.pivot_table(values="distance", index="DestinationName", columns="name")
    w = df.groupby("DestinationName")["demand"].first().loc[cm.index].to_numpy(float)
    dense = cm.to_numpy()
    r, c = np.nonzero(dense <= 5000.0)
    return dict(name="SF 205x16", pairs=Pairs.build(r, c, dense[r, c], *dense.shape), households=w,
                existing=np.zeros(dense.shape[1], bool), limit_m=5000.0)


def _spopt_child(queue, model: str, dense: np.ndarray, weights, radius: float, p_total: int, predefined,
                 time_limit_s: float) -> None:
    """One spopt model in a child process (so a runaway build can be stopped); puts (objective, seconds, status, gap)."""
    warnings.simplefilter("ignore")
    import pulp
    from spopt.locate import LSCP as SL
    from spopt.locate import MCLP as SM
    from spopt.locate import PCenter as SC
    from spopt.locate import PMedian as SP

    start = time.perf_counter()
    solver = cbc_command(msg=False, timeLimit=time_limit_s)
    kw = {} if predefined is None else {"predefined_facilities_arr": predefined}
    if model == "MCLP":
        out = SM.from_cost_matrix(dense, weights, radius, p_facilities=p_total, **kw).solve(solver)
    elif model == "LSCP":
        out = SL.from_cost_matrix(dense, radius, **kw).solve(solver)
    elif model == "p-median":
        out = SP.from_cost_matrix(dense, weights, p_facilities=p_total, **kw).solve(solver)
    else:
        out = SC.from_cost_matrix(dense, p_facilities=p_total, **kw).solve(solver)
    seconds = time.perf_counter() - start
    prob = out.problem
    objective = pulp.value(prob.objective)
    queue.put((objective, seconds, pulp_status_text(prob.status, prob.sol_status), None))


def spopt_run(model: str, dense, weights, radius, p_total, predefined, wall_s: float) -> dict:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_spopt_child, args=(queue, model, dense, weights, radius, p_total, predefined, wall_s * 0.8))
    start = time.perf_counter()
    proc.start()
    proc.join(wall_s)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return dict(status=f"stopped at the {wall_s:.0f} s wall limit (no result)", objective=None, gap=None,
                    seconds=round(time.perf_counter() - start, 1))
    if queue.empty():
        return dict(status=f"failed (exit code {proc.exitcode})", objective=None, gap=None,
                    seconds=round(time.perf_counter() - start, 1))
    objective, seconds, status, gap = queue.get()
    return dict(status=status, objective=objective, gap=gap, seconds=round(seconds, 2))


def _red(res) -> str:
    r = res.reduction
    text = f"{r.rows_before}x{r.columns_before} -> {r.rows_after}x{r.columns_after}"
    labels = (("rows_merged", "rows merged"), ("rows_covered_by_existing", "covered by existing"),
              ("unreachable_rows", "unreachable"), ("rows_dominated", "rows dominated"),
              ("columns_dominated", "columns dominated"), ("columns_forced", "columns forced open"))
    details = [f"{getattr(r, key)} {label}" for key, label in labels if getattr(r, key)]
    details += [n for n in r.notes if any(key in n for key in ("pairs farther", "warm start", "LP bound", "closed by"))]
    return text + (" (" + ", ".join(details) + ")" if details else "")


def run_instance(inst: dict, rows: list, *, p_mclp: int, time_limit_s: float, spopt_wall_s: float, spopt: bool) -> None:
    pairs, w, existing = inst["pairs"], inst["households"], inst["existing"]
    name = inst["name"]
    n_ex = int(existing.sum())

    def record(model, tool, fn, extra=""):
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # unreachable rows: counted in the reduction column
                res = fn()
        except (OptimizationError, RuntimeError) as exc:  # no plan within the time limit; a solver that failed
            rows.append(dict(instance=name, model=model, tool=tool, status=f"error: {str(exc)[:90]}", objective=None,
                             gap=None, seconds=round(time.perf_counter() - start, 2), solver_s=None, new_sites=None,
                             reduction=""))
            print(rows[-1], flush=True)
            return None
        seconds = time.perf_counter() - start
        rows.append(dict(instance=name, model=model, tool=tool, status=res.status, objective=res.objective,
                         gap=None if res.gap is None else round(res.gap, 6), seconds=round(seconds, 2),
                         solver_s=round(res.solve_time_s, 2), new_sites=len(res.chosen), reduction=_red(res) + extra,
                         notes="; ".join(res.notes)))
        print(rows[-1], flush=True)
        return res

    lscp = {}
    for solver in ("cbc", "highs"):
        record("MCLP p=%d" % p_mclp, f"siting/{solver}",
               lambda: MCLP(pairs, weights=w, p=p_mclp, existing=existing).solve(solver, time_limit_s=time_limit_s))
        lscp[solver] = record("LSCP", f"siting/{solver}",
                              lambda: LSCP(pairs, existing=existing).solve(solver, time_limit_s=time_limit_s))
    p_assign = int(next(r for r in (lscp["highs"], lscp["cbc"]) if r is not None).objective)
    for solver in ("cbc", "highs"):
        record(f"p-median p={p_assign}", f"siting/{solver}",
               lambda: PMedian(pairs, p=p_assign, weights=w, existing=existing).solve(solver, time_limit_s=time_limit_s))
        record(f"p-center p={p_assign}", f"siting/{solver}",
               lambda: PCenter(pairs, p=p_assign, weights=w, existing=existing).solve(solver, time_limit_s=time_limit_s))
    if "need_m2" in inst:
        # as a planner runs it: to optimality within the time limit, and to a proved 1 % gap
        for gap_rel, label in ((None, ""), (0.01, ", gap_rel 1 %")):
            for solver in ("cbc", "highs"):
                record(f"capacitated p={p_mclp}{label}", f"siting/{solver}",
                       lambda: CapacitatedCoverage(
                           pairs, inst["need_m2"], weights=w, p=p_mclp, min_size=inst["min_station_m2"],
                           max_size=np.where(existing, 0.0, inst["floor_m2"]), existing=existing,
                           can_host=~existing & (inst["floor_m2"] >= inst["min_station_m2"]),  # room for a 350 m² station
                           existing_capacity=np.where(existing, inst["floor_m2"], 0.0)).solve(
                               solver, time_limit_s=time_limit_s, gap_rel=gap_rel))
    if not spopt:
        return
    dense = np.full((pairs.n_rows, pairs.n_cols), FAR_M)
    dense[pairs.row, pairs.col] = pairs.cost
    # spopt declares an LSCP with an unreachable row infeasible: give it the reachable rows only (for every model,
    # so that all see the same rows); our models report and leave those rows out themselves.
    keep = pairs.reach_count() > 0
    dense, wk = dense[keep], w[keep]
    predefined = existing.astype(int) if n_ex else None
    for model, p_total in (("MCLP", p_mclp + n_ex), ("LSCP", None), ("p-median", p_assign + n_ex), ("p-center", p_assign + n_ex)):
        out = spopt_run(model, dense, wk, inst["limit_m"], p_total, predefined, spopt_wall_s)
        label = {"MCLP": f"MCLP p={p_mclp}", "LSCP": "LSCP", "p-median": f"p-median p={p_assign}",
                 "p-center": f"p-center p={p_assign}"}[model]
        objective = out["objective"]
        if objective is not None and model == "LSCP" and n_ex:
            objective -= n_ex  # spopt counts the predefined sites in its objective
        rows.append(dict(instance=name, model=label, tool="spopt/cbc", status=out["status"], objective=objective,
                         gap=out["gap"], seconds=out["seconds"], solver_s=None, new_sites=None,
                         reduction=f"none ({dense.shape[0]}x{dense.shape[1]} dense)"))
        print(rows[-1], flush=True)


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 x 400 instead of 10,000 x 2,000")
    parser.add_argument("--no-spopt", action="store_true")
    parser.add_argument("--time-limit", type=float, default=120.0, help="solver time limit per siting model, s")
    parser.add_argument("--greenfield-limit", type=float, default=60.0, help="solver time limit, greenfield runs, s")
    parser.add_argument("--spopt-limit", type=float, default=300.0, help="wall-clock limit per spopt model, s")
    parser.add_argument("--out", default=str(HERE / "results" / "optimize.md"))
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # spopt builds its models with pulp's deprecated calls
    rows: list[dict] = []
    notes = []
    sf = sf_instance()
    if sf is not None:
        run_instance(sf, rows, p_mclp=4, time_limit_s=args.time_limit, spopt_wall_s=args.spopt_limit, spopt=not args.no_spopt)
    n_res, n_cand, residents = (2000, 400, 300_000) if args.quick else (10_000, 2000, 1_500_000)
    t0 = time.perf_counter()
    inst = city_instance(n_res, n_cand, residents)
    notes.append(f"{inst['name']}: synthetic city of {residents:,} residents ({inst['network']}, {inst['compounds']} "
                 f"compounds), {inst['pairs'].row.size:,} walking pairs within {inst['limit_m']:.0f} m; building the "
                 f"instance took {time.perf_counter() - t0:.1f} s of which snapping + routing {inst['routing_s']:.1f} s")
    print(notes[-1], flush=True)
    run_instance(inst, rows, p_mclp=20, time_limit_s=args.time_limit, spopt_wall_s=args.spopt_limit, spopt=not args.no_spopt)
    # the same city with no existing station: every residence is open to the models (much harder); siting only
    green = dict(inst, name=inst["name"].split("+")[0] + " greenfield", existing=np.zeros_like(inst["existing"]))
    run_instance(green, rows, p_mclp=20, time_limit_s=args.greenfield_limit, spopt_wall_s=0, spopt=False)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    Path(args.out).with_suffix(".json").write_text(json.dumps({"notes": notes, "rows": rows}, default=str, indent=1))
    text = ("# Optimisation benchmark\n\n`python bench/bench_optimize.py " + " ".join(sys.argv[1:]) + "` on this "
            "machine (2 cores shared). seconds = wall time of the whole call (reduction, model build, solve, result "
            "tables); solver_s = time inside the solver. See the script's docstring for the instances.\n\n"
            + "\n".join(f"- {n}" for n in notes) + "\n\n" + _markdown(table) + "\n")
    write_text(Path(args.out), text)


if __name__ == "__main__":
    main()
