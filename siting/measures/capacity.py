"""Capacity measures on top of walking reach: coverage rate, provision against the space standards, the two-step
floating catchment (2SFCA) ratio and the capacitated servable share.

Demand is always expressed in the facility kind's capacity unit, computed from the standard that applies to each
residence: an elderly day-care station needs `households × m²-per-100-households / 100` m² of floor area, a nursery
needs `population × seats-per-1000 / 1000` seats. New and existing residential areas carry different standards.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..inputs.schema import ELDERLY, NURSERY
from ..network import flow_kernels, kernels
from ..network.routing import Reach


def area_codes(area_type: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each residence's area type as (code, distinct sorted labels); -1 for a missing label. Factorize hashes the
    labels (np.unique sorted 3.57 M Python strings: seconds at 10 M household points); a coverage run does it once
    and hands the codes to every kind (≈ 0.18 s a pass)."""
    return pd.factorize(np.asarray(area_type, dtype=object).ravel(), sort=True)


def standard_per_unit(kind: str, area_type: np.ndarray | tuple[np.ndarray, np.ndarray], profile) -> np.ndarray:
    """The standard that applies to each residence: m² per 100 households (elderly) or seats per 1,000 residents.
    `area_type`: the labels, or their `area_codes`."""
    codes, values = area_type if isinstance(area_type, tuple) else area_codes(area_type)
    per_value = np.empty(values.size, dtype=np.float64)
    for k, value in enumerate(values):
        if kind == ELDERLY:
            per_value[k] = profile.elderly_m2_per_100_households(str(value))
        elif kind == NURSERY:
            per_value[k] = profile.nursery_seats_per_1000(str(value))
        else:
            raise ValueError(f"unknown facility kind {kind!r}")
    return per_value[codes] if isinstance(area_type, tuple) else per_value[codes].reshape(np.shape(area_type))


def demand_base(kind: str, households: np.ndarray, population: np.ndarray) -> np.ndarray:
    """What the standard is counted per: households for elderly care, residents for childcare."""
    return np.asarray(households if kind == ELDERLY else population, dtype=np.float64)


def standard_divisor(kind: str) -> float:
    """100 households for the elderly-care floor-area standard, 1,000 residents for the childcare seat standard."""
    return 100.0 if kind == ELDERLY else 1000.0


def required_capacity(kind: str, households: np.ndarray, population: np.ndarray,
                      area_type: np.ndarray | tuple[np.ndarray, np.ndarray], profile) -> np.ndarray:
    """Capacity each residence needs under the profile: m² of floor area (elderly) or seats (nursery). `area_type`:
    the labels, or their `area_codes`."""
    return demand_base(kind, households, population) * standard_per_unit(kind, area_type, profile) / standard_divisor(kind)


def coverage_rate(households: np.ndarray, covered: np.ndarray) -> float:
    """Share of households inside the walking circle (0..1); NaN when there are no households."""
    households = np.asarray(households, dtype=np.float64)
    return share_of(households[np.asarray(covered, dtype=bool)].sum(), households.sum())


def share_of(part: float, whole: float) -> float:
    """part / whole (a coverage rate from sums already taken); NaN when the whole is not positive."""
    return float(part / whole) if whole > 0 else float("nan")


def facility_provision(
    reach: Reach,
    capacity: np.ndarray,
    base: np.ndarray,
    required: np.ndarray,
    divisor: float,
    served_sums: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per facility: demand base served (households or residents in its catchment), capacity required there by the
    standard, provision (capacity per `divisor` units of base), the standard it is held to (base-weighted), and the
    shortfall. Overlapping catchments count a residence in each: this is the planner's per-station check.
    `served_sums`: the per-facility sums of base and required when the caller has them (`per_source_sums`)."""
    served, req = served_sums if served_sums is not None else per_source_sums(reach, base, required)
    capacity = np.asarray(capacity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        provision = np.where(served > 0, capacity / served * divisor, np.nan)
        standard = np.where(served > 0, req / served * divisor, np.nan)
    return pd.DataFrame(
        {
            "served_base": served,
            "required_capacity": req,
            "provision": provision,
            "standard_value": standard,
            "meets_standard": capacity >= req - 1e-9,
            "shortfall": np.maximum(req - capacity, 0.0),
        }
    )


def per_source_sums(reach: Reach, *values: np.ndarray) -> np.ndarray:
    """Per source, the sum of each per-destination array over the destinations it reaches (rows in argument order;
    one compiled pass over the pairs, each row bit for bit np.bincount(src, weights=values[dst]))."""
    return _pair_sums(reach.src, reach.dst, reach.n_src, values)


def _pair_sums(into: np.ndarray, frm: np.ndarray, n_into: int, values) -> np.ndarray:
    """`kernels.pair_sums` over the pairs (into[k], frm[k]) of a reach, either way round, with the value rows as
    read-only float64 arrays (not stacked: that copied 3 × 3.57 M values per kind)."""
    rows = tuple(_read_only(v) for v in values)
    return kernels.pair_sums(np.ascontiguousarray(into, dtype=np.int64), np.ascontiguousarray(frm, dtype=np.int64),
                             int(n_into), rows)


def _read_only(values: np.ndarray) -> np.ndarray:
    """A read-only float64 view (copied only if not already C-contiguous float64): rows of one type, which a
    compiled kernel takes as one tuple type whether the caller's arrays were writable or not (pandas' views are
    read-only under copy-on-write)."""
    out = np.ascontiguousarray(values, dtype=np.float64).view()
    out.flags.writeable = False
    return out


def two_step_fca(reach: Reach, supply: np.ndarray, base: np.ndarray, demand_at: np.ndarray | None = None) -> np.ndarray:
    """2SFCA (Luo & Wang 2003): R_j = S_j / Σ_{i reaches j} P_i, A_i = Σ_{j reached from i} R_j.

    Returns supply per unit of base for each destination (e.g. m² per household); multiply by 100 or 1,000 to compare
    with the standards. Facilities nobody reaches contribute nothing. `demand_at`: Σ base per facility when the caller
    has it (`per_source_sums`).
    """
    supply = np.asarray(supply, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if demand_at is None:
        demand_at = per_source_sums(reach, base)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(demand_at > 0, supply / demand_at, 0.0)
    # Σ over each destination's sources in pair order: np.bincount(dst, weights=ratio[src]) bit for bit
    return _pair_sums(reach.dst, reach.src, reach.n_dst, (ratio,))[0]


@dataclass(frozen=True)
class ServableShare:
    """The most demand that can be assigned within the walking limit without exceeding any capacity."""

    share: float  # served / total demand (0..1)
    served_total: float
    demand_total: float
    served_per_destination: np.ndarray
    used_per_source: np.ndarray
    status: str


def max_transport_flow(dst: np.ndarray, src: np.ndarray, n_dst: int, n_src: int, demand: np.ndarray,
                       capacity: np.ndarray) -> np.ndarray:
    """Flow per (dst, src) pair of max Σx s.t. each destination takes at most its `demand`, each source gives at most
    its `capacity`, x ≥ 0 (same units: m², seats, households). A bipartite max flow, solved exactly by a compiled
    Dinic (`flow_kernels.bipartite_max_flow`; the transportation LP HiGHS solved before gives the same optimum, checked in
    tests/scipy_reference.py). Optimal flows are not unique: callers may rely on the total and on feasibility, not
    on a particular split. `capacity` may be inf; ValueError for a negative or NaN amount or an infinite demand."""
    demand = np.ascontiguousarray(demand, dtype=np.float64)
    capacity = np.ascontiguousarray(capacity, dtype=np.float64)
    if not (np.all(np.isfinite(demand)) and np.all(demand >= 0) and np.all(capacity >= 0)):  # NaN fails ≥ 0
        raise ValueError("transport flow: demand must be finite and ≥ 0, capacity ≥ 0 (no NaN)")
    return flow_kernels.bipartite_max_flow(np.ascontiguousarray(dst, dtype=np.int64), np.ascontiguousarray(src, dtype=np.int64),
                                      int(n_dst), int(n_src), demand, capacity)


def servable_share(reach: Reach, capacity: np.ndarray, demand: np.ndarray) -> ServableShare:
    """Solve max Σx_ij s.t. Σ_j x_ij ≤ demand_i, Σ_i x_ij ≤ capacity_j, x ≥ 0 over reachable pairs only.

    A transportation problem, solved exactly as a bipartite max flow (`max_transport_flow`). Destinations that reach
    exactly the same facilities are pooled into one node first (same optimum: any split of a pool's flow within its
    members' demands is feasible), so the flow grows with the number of distinct catchment overlaps, not with the
    number of residence points; a pool's served amount is shared pro rata to demand. The optimum total is unique; the
    split per destination and per facility is one optimal flow among possibly many (deterministic).
    """
    demand = np.asarray(demand, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    total = float(demand.sum())
    if reach.src.size == 0 or total <= 0:
        return ServableShare(0.0 if total > 0 else float("nan"), 0.0, total, np.zeros(reach.n_dst), np.zeros(reach.n_src), "optimal")
    pool, pool_src, pool_pair = _pool_by_source_set(reach)
    in_pool = pool >= 0
    pool_demand = np.bincount(pool[in_pool], weights=demand[in_pool], minlength=int(pool_pair.max()) + 1)
    flow = max_transport_flow(pool_pair, pool_src, pool_demand.size, reach.n_src, pool_demand, capacity)
    served = float(flow.sum())
    pool_served = np.bincount(pool_pair, weights=flow, minlength=pool_demand.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(pool_demand > 0, np.minimum(pool_served / pool_demand, 1.0), 0.0)
    per_destination = np.where(in_pool, demand * fraction[np.maximum(pool, 0)], 0.0)
    return ServableShare(
        share=served / total,
        served_total=served,
        demand_total=total,
        served_per_destination=per_destination,
        used_per_source=np.bincount(pool_src, weights=flow, minlength=reach.n_src),
        status="optimal",
    )


def _pool_by_source_set(reach: Reach) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group destinations by the exact set of sources that reach them (`flow_kernels.pool_by_source_set`: hashed, every
    match verified, so a hash collision never merges different sets).

    Returns `pool` (per destination, its pool id; -1 if nothing reaches it) and the pools' (source, pool) pairs."""
    keys = np.random.default_rng(20240601).integers(0, 2**63, reach.n_src + 1, dtype=np.int64).astype(np.uint64)
    pool, pool_ptr, pool_src = flow_kernels.pool_by_source_set(np.ascontiguousarray(reach.dst, dtype=np.int64),
                                                          np.ascontiguousarray(reach.src, dtype=np.int64),
                                                          int(reach.n_dst), keys)
    pool_pair = np.repeat(np.arange(pool_ptr.size - 1), np.diff(pool_ptr))
    return pool, pool_src, pool_pair
