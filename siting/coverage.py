"""The coverage stage: for every residence, walking minutes to the nearest facility of each kind, membership of each
facility's catchment, and the capacity measures against the standard profile.

Works on a `WalkNetwork` and schema GeoDataFrames (see `siting.inputs.schema`); file reading and writing live elsewhere.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from .inputs.schema import CAPACITY_COLUMN, CAPACITY_UNIT, ELDERLY, KINDS
from .measures import capacity as measures
from .network import WalkNetwork, kernels
from .network.isochrones import catchment_polygons
from .network.routing import Reach, nearest_source, prepare_destinations, reach
from .network.snap import Snapped, snap_geoseries

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: Verdict of each facility against the space standard (facilities.csv `verdict`). Only the first two are assessed;
#: `meets_standard` is True / False for those and blank for the others, which are not a pass.
MEETS = "meets standard"
BELOW = "below standard"
NO_HOUSEHOLDS = "no households in reach"
CAPACITY_MISSING = "capacity missing"
OFF_NETWORK = "off network"
#: Verdict of a kind with no facility at all in the inputs (instead of a 0 % coverage fail).
NO_FACILITIES = "no facilities of this kind given"
#: Verdict when the residences hold no households at all: no rate can be computed (null in summary.json).
NO_HOUSEHOLDS_TOTAL = "no households in the residences"


@dataclass
class KindCoverage:
    """Everything computed for one facility kind; arrays are aligned with the residences / facilities frames."""

    kind: str
    threshold_min: float
    speed_m_per_min: float
    reach: Reach  # facility × residence pairs within the largest threshold
    facility_snap: Snapped
    servable: measures.ServableShare


@dataclass
class CoverageResult:
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    summary: dict
    residence_snap: Snapped
    kinds: dict[str, KindCoverage] = field(default_factory=dict)


def _noop(_: str) -> None:
    pass


def analyse_coverage(
    net: WalkNetwork,
    residences: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    profile,
    *,
    thresholds_min: Sequence[float] | None = None,
    walk_minutes: float | None = None,
    max_snap_m: float = 500.0,
    polygons: bool = True,
    polygon_buffer_m: float = 25.0,
    snap_to_main: bool = False,
    progress: Progress | None = None,
) -> CoverageResult:
    """Walking coverage of `residences` by `facilities` on `net` under `profile`.

    `walk_minutes` is the service circle (default: the profile's 15 minutes); `thresholds_min` adds further rings
    (e.g. 5 and 10) reported side by side. Residences and facilities farther than `max_snap_m` from any walkable
    street are kept in the tables, flagged, and counted as not covered. `snap_to_main` attaches every point to the
    largest connected piece of the network (within `max_snap_m`) instead of the nearest street, which may be a
    fragment that reaches nobody.
    """
    say = progress or _noop
    circle = float(walk_minutes if walk_minutes is not None else profile.value("walk_minutes"))
    rings = sorted({float(t) for t in (thresholds_min or [])} | {circle})

    say(f"snapping {len(residences)} residences to the network")
    res = residences.copy(deep=not _copy_on_write())  # a deep copy of 3.57 M geometries and labels took 0.3 s
    res_snap = snap_geoseries(net, res.geometry, max_snap_m=max_snap_m, main_only=snap_to_main)
    res["snap_m"] = res_snap.off_network_m
    res["snap_ok"] = ~res_snap.too_far
    res["network_component"] = res_snap.component
    households = res["households"].to_numpy(dtype=np.float64)
    population = res["population"].to_numpy(dtype=np.float64)
    usable_res = ~res_snap.too_far
    parallel = _side_by_side(len(res))
    # what both kinds share (adjacency arrays, node → residence lists: compiled, without the GIL) is built on a
    # kernel thread while this one factorizes the area types (GIL-bound)
    shared = kernels.thread_pool().submit(prepare_destinations, net, res_snap) if parallel else None
    area_type = measures.area_codes(res["area_type"].to_numpy(dtype=object))  # once for both kinds and summaries
    area_masks = _area_masks(*area_type)

    fac_by_kind = {kind: facilities[facilities["kind"] == kind].copy() for kind in KINDS}
    speeds = {kind: profile.walk_speed_m_per_min(kind) for kind in KINDS}
    for kind in KINDS:
        speed = speeds[kind]
        say(f"{kind}: {len(fac_by_kind[kind])} facilities, walking speed {speed:g} m/min, {circle:g} min = "
            f"{circle * speed:.0f} m")
    if shared is not None:
        shared.result()
    else:
        prepare_destinations(net, res_snap)
    say(f"nearest facility and catchments within {max(rings):g} min: {', '.join(KINDS)}"
        + (" side by side" if parallel else ""))

    def numbers(kind: str) -> _KindNumbers:
        return _kind_numbers(net, kind, fac_by_kind[kind], res_snap, usable_res, households, population, area_type,
                             profile, rings, circle, speeds[kind], max_snap_m, snap_to_main, area_masks)

    fac_frames, catch_frames, kinds, kind_summaries = [], [], {}, {}
    for kind, k in zip(KINDS, _per_kind(numbers, KINDS, parallel)):  # each kind's tables as soon as it is done
        say(f"{kind}: tables and summary")
        fac, speed, limits, fac_snap, usable_fac = fac_by_kind[kind], k.speed, k.limits, k.fac_snap, k.usable_fac
        res[f"walk_min_{kind}"] = k.walk_min
        res[f"walk_m_{kind}"] = k.dist_m
        res[f"nearest_{kind}"] = k.nearest_ids
        res[f"covered_{kind}"] = k.covered
        res[f"access_2sfca_{kind}"] = k.access
        res[f"servable_{kind}"] = k.servable_ratio
        servable, prov = k.servable, k.prov

        fac["snap_m"] = fac_snap.off_network_m
        fac["snap_ok"] = usable_fac
        fac["network_component"] = fac_snap.component
        fac["on_main_network"] = fac_snap.component == 0
        fac["walk_speed_m_per_min"] = speed
        for col in ("households_served", "population_served", "provision", "standard_value", "shortfall"):
            fac[col] = np.nan
        idx = np.flatnonzero(usable_fac)
        fac.iloc[idx, fac.columns.get_loc("households_served")] = k.hh_served
        fac.iloc[idx, fac.columns.get_loc("population_served")] = k.pop_served
        for col in ("provision", "standard_value", "shortfall"):
            fac.iloc[idx, fac.columns.get_loc(col)] = prov[col].to_numpy()
        fac["verdict"] = facility_verdicts(usable_fac, k.capacity_all, fac["households_served"].to_numpy(dtype=np.float64),
                                           _scatter(idx, prov["meets_standard"].to_numpy(), len(fac)))
        assessed = np.isin(fac["verdict"].to_numpy(), [MEETS, BELOW])
        fac["meets_standard"] = pd.Series(np.where(assessed, fac["verdict"].to_numpy() == MEETS, None), index=fac.index,
                                          dtype=object)
        fac.loc[~assessed, "shortfall"] = np.nan
        fac["capacity_used_servable"] = np.nan
        fac.iloc[idx, fac.columns.get_loc("capacity_used_servable")] = servable.used_per_source
        fac_frames.append(fac)

        fac_used = fac_snap.subset(usable_fac)
        if polygons and len(fac_used):
            say(f"{kind}: catchment polygons for {len(fac_used)} facilities")
            poly = catchment_polygons(net, fac_used, limits, buffer_m=polygon_buffer_m, source_ids=list(k.used_ids))
            poly = poly.rename(columns={"source_id": "fac_id"})
            poly.insert(1, "kind", kind)
            catch_frames.append(poly)

        kinds[kind] = KindCoverage(kind, circle, speed, k.within, fac_snap, servable)
        kind_summaries[kind] = _kind_summary(kind, fac, k.within, speed, circle, servable, k.capacity, profile,
                                             k.figures)

    fac_out = gpd.GeoDataFrame(pd.concat(fac_frames, ignore_index=True), geometry="geometry", crs=facilities.crs) if fac_frames else facilities.copy()
    catchments = (
        gpd.GeoDataFrame(pd.concat(catch_frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")
        if catch_frames
        else gpd.GeoDataFrame({"fac_id": [], "kind": [], "threshold_min": []}, geometry=[], crs="EPSG:4326")
    )
    summary = {
        "profile": profile.name,
        "walk_minutes": circle,
        "thresholds_min": rings,
        "network": net.summary(),
        "residences": int(len(res)),
        "households": float(households.sum()),
        "population": float(population.sum()),
        "residences_too_far_from_network": res.loc[~usable_res, "res_id"].astype(str).tolist(),
        "max_snap_m": max_snap_m,
        "snap_to": "main" if snap_to_main else "nearest",
        "kinds": kind_summaries,
    }
    island = usable_res & (res_snap.component != 0)
    summary["residences_on_network_islands"] = res.loc[island, "res_id"].astype(str).tolist()
    return CoverageResult(res, fac_out, catchments, summary, res_snap, kinds)


@dataclass
class _KindNumbers:
    """One kind's arrays (aligned with the residences, or with the facilities of the kind), computed apart from the
    frames so that the kinds can be computed side by side."""

    speed: float
    limits: dict[float, float]
    fac_snap: Snapped
    usable_fac: np.ndarray
    used_ids: np.ndarray  # ids of the facilities on the network
    dist_m: np.ndarray  # the residence columns, as written
    walk_min: np.ndarray
    nearest_ids: np.ndarray
    covered: np.ndarray
    access: np.ndarray
    servable_ratio: np.ndarray
    within: Reach
    capacity_all: np.ndarray
    capacity: np.ndarray
    hh_served: np.ndarray
    pop_served: np.ndarray
    prov: pd.DataFrame
    servable: measures.ServableShare
    figures: dict  # `_residence_figures`


def _kind_numbers(net: WalkNetwork, kind: str, fac: gpd.GeoDataFrame, res_snap: Snapped, usable_res: np.ndarray,
                  households: np.ndarray, population: np.ndarray, area_type: tuple[np.ndarray, np.ndarray], profile,
                  rings: list[float], circle: float, speed: float, max_snap_m: float, snap_to_main: bool,
                  area_masks: dict[str, np.ndarray]) -> _KindNumbers:
    """Nearest facility, catchments and measures of one kind: arrays only (no frame is touched, so two kinds can
    run on two threads; the searches and passes run in compiled code without the GIL)."""
    limits = {t: t * speed for t in rings}
    fac_snap = snap_geoseries(net, fac.geometry, max_snap_m=max_snap_m, main_only=snap_to_main)
    usable_fac = ~fac_snap.too_far
    fac_used = fac_snap.subset(usable_fac)

    dist_m, nearest = nearest_source(net, fac_used, res_snap)
    # the catchment pairs are searched on the kernel threads while this thread computes what needs only the nearest
    # facility (residence columns and sums: ≈ 0.3 s a kind at 10 M residents, which ran after the search)
    with ThreadPoolExecutor(1, thread_name_prefix="siting-reach") as waiter:
        pairs = waiter.submit(reach, net, fac_used, res_snap, max(limits.values()))
        dist_m = np.where(usable_res, dist_m, np.nan)
        walk_min = dist_m / speed
        walk_min_or_inf = _minutes_or_inf(walk_min)
        covered = walk_min_or_inf <= circle
        used_ids = fac["fac_id"].to_numpy(dtype=object)[usable_fac]
        nearest_ids = _ids_or_blank(used_ids, nearest, usable_res)
        capacity_all = fac[CAPACITY_COLUMN[kind]].to_numpy(dtype=np.float64)
        capacity = np.nan_to_num(capacity_all[usable_fac], nan=0.0)
        base = measures.demand_base(kind, households, population)
        required = measures.required_capacity(kind, households, population, area_type, profile)
        divisor = measures.standard_divisor(kind)
        figures = _residence_figures(kind, households, population, walk_min_or_inf, covered, required, usable_res,
                                     rings, limits, area_masks, circle)
        within = pairs.result()
    ok_pair = usable_res[within.dst]
    if not ok_pair.all():
        within = Reach(within.src[ok_pair], within.dst[ok_pair], within.dist_m[ok_pair], within.n_src, within.n_dst)
    circle_reach = within.within(limits[circle])

    # households, residents and required capacity per facility in one pass over the pairs (each was a bincount)
    hh_served, pop_served, req_served = measures.per_source_sums(circle_reach, households, population, required)
    base_served = measures.demand_base(kind, hh_served, pop_served)  # = per_source_sums of `base`
    prov = measures.facility_provision(circle_reach, capacity, base, required, divisor, (base_served, req_served))
    access = measures.two_step_fca(circle_reach, capacity, base, base_served) * divisor
    servable = measures.servable_share(circle_reach, capacity, np.where(usable_res, required, 0.0))
    servable_ratio = np.where(required > 0, servable.served_per_destination / np.maximum(required, 1e-12), np.nan)
    return _KindNumbers(speed, limits, fac_snap, usable_fac, used_ids, dist_m, walk_min, nearest_ids, covered,
                        np.where(usable_res, access, np.nan), servable_ratio, within, capacity_all, capacity,
                        hh_served, pop_served, prov, servable, figures)


#: Fewer residences than this: the kinds run one after the other (a thread costs more than it saves).
_SIDE_BY_SIDE_MIN_RESIDENCES = 50_000


def _side_by_side(n_residences: int) -> bool:
    """Whether the kinds run on threads of their own: only with several kernel threads and enough residences."""
    return kernels.THREADS > 1 and n_residences >= _SIDE_BY_SIDE_MIN_RESIDENCES


def _per_kind(fn: Callable[[str], _KindNumbers], kinds: Sequence[str], parallel: bool) -> Iterator[_KindNumbers]:
    """fn(kind) for every kind, yielded in `kinds` order; `parallel`: all kinds start at once, each on its own
    thread. Why: a kind's searches use both cores, but its nearest-facility search, pooling and measures run on one;
    side by side, one kind's single-threaded stages (and the caller's work on the kinds already yielded) overlap
    the other's. Results are those of the serial run, bit for bit (the kinds share nothing they write)."""
    if not parallel or len(kinds) < 2:
        yield from (fn(kind) for kind in kinds)
        return
    with ThreadPoolExecutor(len(kinds), thread_name_prefix="siting-kind") as pool:
        futures = [pool.submit(fn, kind) for kind in kinds]
        for future in futures:
            yield future.result()


def _minutes_or_inf(walk_min: np.ndarray) -> np.ndarray:
    """Walking minutes with NaN (not on the network) read as unreachable; inf stays inf (np.nan_to_num alone would
    turn it into 1.8e308, a finite number)."""
    return np.nan_to_num(np.asarray(walk_min, dtype=np.float64), nan=np.inf, posinf=np.inf)


def _scatter(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[idx] = values
    return out


def facility_verdicts(snap_ok: np.ndarray, capacity: np.ndarray, households_served: np.ndarray,
                      meets: np.ndarray) -> np.ndarray:
    """One verdict per facility: off network, capacity missing (blank or no capacity column), no households in
    reach (nothing to hold the standard against: not a pass), else meets / below the standard."""
    verdict = np.where(meets, MEETS, BELOW).astype(object)
    verdict[~(households_served > 0)] = NO_HOUSEHOLDS
    verdict[np.isnan(capacity)] = CAPACITY_MISSING
    verdict[~snap_ok] = OFF_NETWORK
    return verdict


def _clause(profile, key: str) -> dict:
    fig = profile.figure(key)
    return {
        "figure": key,
        "value": fig.value,
        "unit": fig.unit,
        "source": fig.source,
        "clause": fig.clause,
        "confirmed": fig.confirmed,
        "inherited_from": fig.inherited_from,
    }


def _ids_or_blank(ids: np.ndarray, index: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """ids[index] where index ≥ 0 and usable, else "" (an object array): one gather from the ids with "" appended
    (filling 3.57 M blanks and then scattering the ids cost ≈ 0.15 s a kind)."""
    ids_blank = np.append(np.asarray(ids, dtype=object), "")
    return ids_blank.take(np.where((index >= 0) & usable, index, ids_blank.size - 1))


def _copy_on_write() -> bool:
    """Whether pandas copies a column before changing it in place (always from pandas 3), so that a shallow copy of
    the caller's frame can take new columns without any change reaching the caller's frame."""
    return int(pd.__version__.split(".")[0]) >= 3 or pd.options.mode.copy_on_write is True


def _area_masks(codes: np.ndarray, distinct: np.ndarray) -> dict[str, np.ndarray]:
    """Residences of each area type, by name (`measures.area_codes`; a missing label is named "nan"), in name order:
    made once for every kind's summary. Each distinct value named by str(); values with the same name share a mask."""
    names = np.array([str(v) for v in distinct] + ["nan"], dtype=object)
    codes = np.where(codes < 0, distinct.size, codes)
    names = names if (codes == distinct.size).any() else names[:-1]
    masks = {}
    for area in sorted(set(names.tolist())):
        same = np.flatnonzero(names == area)
        masks[area] = codes == same[0] if same.size == 1 else np.isin(codes, same)
    return masks


def _residence_figures(kind: str, households: np.ndarray, population: np.ndarray, walk_min: np.ndarray,
                       covered: np.ndarray, required: np.ndarray, usable_res: np.ndarray, rings: list[float],
                       limits: dict[float, float], area_masks: dict[str, np.ndarray], circle: float) -> dict:
    """The summary's sums over the residences (millions of rows: computed with the kind's arrays, on its thread).
    `walk_min`: `_minutes_or_inf` of the kind's walking minutes; `covered`: within the `circle`, the residence column
    (both made once by the caller). Each sum is taken once and the rates divide those sums (`measures.share_of`, as
    `measures.coverage_rate` does; calling it summed the same selections again: ≈ 0.1 s a kind at 3.57 M residences)."""
    total = households.sum()
    covered_sum = households[covered].sum()
    by_ring = {}
    for t in rings:
        ring_sum = covered_sum if t == circle else households[walk_min <= t].sum()
        by_ring[f"{t:g}"] = {"walk_m": round(limits[t], 1), "households_covered": float(ring_sum),
                             "coverage_rate": measures.share_of(ring_sum, total)}
    by_area = {}
    for area, m in area_masks.items():
        in_area = households[m]
        area_total = in_area.sum()
        by_area[area] = {
            "households": float(area_total),
            "coverage_rate": measures.share_of(in_area[covered[m]].sum(), area_total),
            "required_capacity": float(required[m].sum()),
        }
    return {
        "households_covered": float(covered_sum),
        "households_uncovered": float(households[~covered].sum()),
        "residences_uncovered": int(covered.size - np.count_nonzero(covered)),
        "coverage_rate": measures.share_of(covered_sum, total),
        "by_threshold": by_ring,
        "by_area_type": by_area,
        "required_capacity_total": float(required[usable_res].sum()),
        "residences_with_no_reachable_facility": int(walk_min.size - np.count_nonzero(np.isfinite(walk_min))),
        "base_total": float(total if kind == ELDERLY else population.sum()),
        "households_total": float(total),
    }


def _kind_summary(kind, fac, within: Reach, speed, circle, servable, capacity, profile, figures: dict) -> dict:
    """One kind's part of summary.json; `figures`: its `_residence_figures`."""
    total_capacity = float(capacity.sum())
    divisor = measures.standard_divisor(kind)
    base_total = figures["base_total"]
    rate = figures["coverage_rate"]
    target_key = "day_care_coverage_target" if kind == ELDERLY else "childcare_coverage_target"
    target = profile.get(target_key)
    out = {
        "unit": CAPACITY_UNIT[kind],
        "facilities": int(len(fac)),
        "facilities_off_network": fac.loc[~fac["snap_ok"], "fac_id"].astype(str).tolist(),
        "facilities_on_network_islands": fac.loc[fac["snap_ok"] & ~fac["on_main_network"], "fac_id"].astype(str).tolist(),
        "facilities_capacity_missing": fac.loc[fac["verdict"] == CAPACITY_MISSING, "fac_id"].astype(str).tolist(),
        "facilities_with_no_households_in_reach": fac.loc[fac["verdict"] == NO_HOUSEHOLDS, "fac_id"].astype(str).tolist(),
        "walk_speed_m_per_min": speed,
        "walk_m": round(circle * speed, 1),
        **{key: figures[key] for key in ("households_covered", "households_uncovered", "residences_uncovered",
                                         "coverage_rate", "by_threshold", "by_area_type")},
        "capacity_total": total_capacity,
        "required_capacity_total": figures["required_capacity_total"],
        "provision_overall": (total_capacity / base_total * divisor) if base_total > 0 else None,
        "provision_unit": "m² per 100 households" if kind == ELDERLY else "seats per 1,000 residents",
        "facilities_meeting_standard": int((fac["verdict"] == MEETS).sum()),
        "facility_shortfall_total": float(np.nansum(fac["shortfall"].to_numpy(dtype=np.float64))),
        "servable_share": servable.share,
        "servable_capacity": servable.served_total,
        "reachable_pairs": int(within.src.size),
        "residences_with_no_reachable_facility": figures["residences_with_no_reachable_facility"],
        "walk_clause": _clause(profile, "walk_minutes"),
        "speed_clause": _clause(profile, "elderly_walk_speed_m_per_min" if kind == ELDERLY else "walk_speed_m_per_min"),
    }
    # a verdict needs facilities, households and (for the capacity checks) every facility's capacity
    unassessable = NO_FACILITIES if len(fac) == 0 else (NO_HOUSEHOLDS_TOTAL if not figures["households_total"] > 0 else None)
    capacity_gap = (f"missing data: capacity of {len(out['facilities_capacity_missing'])} facilities not given"
                    if out["facilities_capacity_missing"] else None)
    out["status"] = unassessable or "assessed"

    def verdict(passed: bool, needs_capacity: bool = False) -> str:
        if unassessable:
            return unassessable
        if needs_capacity and capacity_gap:
            return capacity_gap
        return "pass" if passed else "fail"

    verdicts = []
    if target is not None:
        verdicts.append({
            "check": f"share of households within the {circle:g}-minute walk (a household share; the unit count "
                     f"{'社区日间照料机构覆盖率' if kind == ELDERLY else '城市社区托育覆盖率'} is in indicators.json when units are given)",
            "value": rate,
            "target": float(target),
            "verdict": verdict(rate >= float(target)),
            **{k: v for k, v in _clause(profile, target_key).items() if k not in ("value",)},
        })
    if kind == ELDERLY:
        for area in ("new", "existing"):
            key = f"elderly_m2_per_100_households_{area}"
            verdicts.append({
                "check": f"floor area per 100 households in each catchment ({area} areas)",
                "standard": profile.value(key),
                "verdict": unassessable or "see facilities table: verdict",
                **{k: v for k, v in _clause(profile, key).items() if k not in ("value",)},
            })
    else:
        city = float(profile.value("nursery_seats_per_1000_city"))
        overall = out["provision_overall"]
        verdicts.append({
            "check": "childcare seats per 1,000 residents (city-wide)",
            "value": overall,
            "target": city,
            "verdict": verdict(overall is not None and overall >= city, needs_capacity=True),
            **{k: v for k, v in _clause(profile, "nursery_seats_per_1000_city").items() if k not in ("value",)},
        })
    verdicts.append({
        "check": "capacity meets the standard for all households within the circle (servable share)",
        "value": servable.share,
        "target": 1.0,
        "verdict": verdict(servable.share >= 1 - 1e-9, needs_capacity=True),
    })
    out["verdicts"] = verdicts
    return out
