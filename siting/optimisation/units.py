"""Siting by unit: what the 一老一小 plans count per 社区 and 街道, as constraints of a covering model.

The plans ask for a station in every 社区 (每个社区建有1处日间照料室, 社区托育覆盖率) and one comprehensive centre of at
least `elderly_street_centre_min_m2` (1,000 m²) in every 街道 (每个街道建设1个具备综合功能的养老服务中心). Household
coverage alone does not guarantee either: a 社区 can be left out because its households are few. Here each unit
without the service becomes one row that every plan must cover (`required` of `siting.optimize.MCLP` / `LSCP`), so
the models stay one implementation:

- a covering unit (小区, 社区, 行政村) without service: Σ y_j ≥ 1 over the new sites j inside it, or reaching at
  least `reach_share` of its households within the walk (when a share is given);
- a 街道 without a centre: Σ y_j ≥ 1 over the new sites inside it whose `max_capacity` can host a centre. The centre
  is a site like any other (it serves households, counts in `p`); of the sites a plan opens there, the one reaching
  the most households within the walk is named the centre.

A unit "has the service" already when an existing facility meets its row. Everything works on arrays (unit index per
residence row and per candidate column, −1 outside every unit); `siting.plan` connects them to project files. The
pre-check (`UnitNeeds.check`) names every unit that no candidate can serve, and why, before any solver runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import OptimizationError
from .reduce import Pairs

LEVEL_LABEL = {"xiaoqu": "小区", "community": "社区", "village": "行政村", "street": "街道"}
COVER_LEVELS = ("xiaoqu", "community", "village")
CENTRE_LEVEL = "street"
LEVELS = COVER_LEVELS + (CENTRE_LEVEL,)
LEVEL_ALIASES = {
    "小区": "xiaoqu", "neighbourhood": "xiaoqu", "neighborhood": "xiaoqu", "residential_compound": "xiaoqu",
    "社区": "community", "街道": "street", "乡镇": "street", "街道/乡镇": "street", "subdistrict": "street",
    "township": "street", "行政村": "village", "建制村": "village", "行政村/建制村": "village",
    "administrative_village": "village",
}
"""Level names a project file may use (the units contract); `district` (区/县) is no siting level."""


def unit_level(name: object) -> str | None:
    """The canonical level of a name in a project file ("社区", "community", "subdistrict" …), None if unknown."""
    text = str(name).strip()
    return text.lower() if text.lower() in LEVELS else LEVEL_ALIASES.get(text.lower(), LEVEL_ALIASES.get(text))


def unit_column(level: str) -> str:
    """The column the units stage gives residences, facilities and candidates (units contract): unit_<level>."""
    return f"unit_{level}"


@dataclass(frozen=True)
class UnitLevel:
    """One level's units on a model's arrays: `ids` (unit index → id), the unit index of every demand row and of every
    candidate column (existing and new), −1 outside every unit. The units are those with residences."""

    level: str
    ids: np.ndarray
    of_row: np.ndarray
    of_site: np.ndarray

    @classmethod
    def from_labels(cls, level: str, row_labels, site_labels) -> "UnitLevel":
        """From unit ids per row and per column (None / NaN / "" = outside every unit)."""
        rows = [_label(v) for v in row_labels]
        ids = np.asarray(list(dict.fromkeys(v for v in rows if v is not None)), dtype=object)
        index = {u: i for i, u in enumerate(ids)}
        of_row = np.array([index.get(v, -1) if v is not None else -1 for v in rows], dtype=np.int64)
        of_site = np.array([index.get(_label(v), -1) for v in site_labels], dtype=np.int64)
        return cls(level, ids, of_row, of_site)

    @property
    def label(self) -> str:
        return LEVEL_LABEL.get(self.level, self.level)


def _label(value: object) -> str | None:
    """A unit id as text: None for blank; 110108001.0 (an id read as a number beside blanks) → "110108001"."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or str(value).strip() == "":
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass
class UnitNeeds:
    """Every unit's state before siting and the rows a plan must cover: `status` (one row per unit: level, unit,
    households, requirement, service_before, how_before, reason), `rows` (per unit needing a site: the candidate
    columns that meet it) and `serving` (every unit's new candidates that would meet it). `reason` is set where no
    candidate can meet the unit."""

    status: pd.DataFrame
    rows: list[np.ndarray] = field(default_factory=list)
    row_units: list[tuple[str, str]] = field(default_factory=list)  # (level, unit id) per row
    serving: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # new sites meeting each unit, (level, id)

    def sizes(self, min_m2: float) -> np.ndarray:
        """Per row, the least size of the site meeting it (`KindDemand.required_size`): `min_m2` for a 街道 centre."""
        return np.array([min_m2 if level == CENTRE_LEVEL else 0.0 for level, _ in self.row_units])

    def required(self, n_cols: int) -> sp.csr_matrix:
        """The rows as `required` of MCLP / LSCP: a 0/1 matrix, one row per unit, over the candidate columns."""
        counts = [c.size for c in self.rows]
        cols = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)
        return sp.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(len(self.rows)), counts), cols)),
                             shape=(len(self.rows), n_cols))

    def check(self, what: str) -> None:
        """The pre-check: an OptimizationError naming every unit no candidate can serve, and why."""
        bad = self.status[self.status["reason"] != ""]
        if len(bad):
            raise OptimizationError(f"siting {what} by unit is infeasible: " + "; ".join(bad["reason"]) +
                                    ". Fix: add candidate sites in or near these units (or lower unit_reach_share)")


def station_needs(units: UnitLevel, pairs: Pairs, households: np.ndarray, existing: np.ndarray, site_ids,
                  reach_share: float | None, new: np.ndarray | None = None) -> UnitNeeds:
    """Covering units (小区, 社区, 行政村): a site serves a unit when it lies inside it or, with `reach_share`,
    reaches at least that share of the unit's households within the walk (`pairs`: rows × candidates in the walk).
    `existing`: the columns open already (facilities of this kind); `new`: those that may open (default: the rest)."""
    n_units, n_cols = units.ids.size, pairs.n_cols
    site_ids = np.asarray(site_ids, dtype=object)
    in_unit = units.of_row[pairs.row] >= 0
    reached = sp.csr_matrix((households[pairs.row[in_unit]], (units.of_row[pairs.row[in_unit]], pairs.col[in_unit])),
                            shape=(n_units, n_cols))  # households of unit u within the walk of site j
    reached.sum_duplicates()
    total = np.bincount(units.of_row[units.of_row >= 0], weights=households[units.of_row >= 0], minlength=n_units)
    new = ~existing if new is None else new & ~existing
    records, needs = [], UnitNeeds(pd.DataFrame())
    for u, unit in enumerate(units.ids):
        share = np.zeros(n_cols)  # one unit at a time: 5,000 小区 × 2,000 candidates stay small
        part = slice(reached.indptr[u], reached.indptr[u + 1])
        share[reached.indices[part]] = reached.data[part] / total[u] if total[u] > 0 else 0.0
        inside = units.of_site == u
        serves = inside | (share >= reach_share - 1e-9 if reach_share is not None and total[u] > 0 else False)
        have = np.flatnonzero(serves & existing)
        how = ""
        if have.size:
            j = have[np.argmax(inside[have])] if inside[have].any() else have[np.argmax(share[have])]
            how = f"{site_ids[j]} inside" if inside[j] else f"{site_ids[j]} reaches {share[j]:.0%}"
        reason = ""
        sites = needs.serving[(units.level, unit)] = np.flatnonzero(serves & new)
        if total[u] > 0 and not have.size:
            if sites.size:
                needs.rows.append(sites)
                needs.row_units.append((units.level, unit))
            else:
                reason = _no_station_reason(units.label, unit, total[u], share, new, site_ids, reach_share)
        records.append({"level": units.level, "unit": unit, "households": total[u], "requirement": "station",
                        "service_before": bool(have.size), "how_before": how, "reason": reason})
    needs.status = pd.DataFrame(records, columns=STATUS_COLUMNS)
    return needs


def _no_station_reason(label: str, unit: str, households: float, share: np.ndarray, new: np.ndarray, site_ids,
                       reach_share: float | None) -> str:
    text = f"{label} {unit} ({households:,.0f} households) has no candidate site inside it"
    if reach_share is None:
        return text + " (set unit_reach_share to count sites that reach its households from outside)"
    best = np.flatnonzero(new)[np.argmax(share[new])] if new.any() else None
    closest = "" if best is None else f" (the best, {site_ids[best]}, reaches {share[best]:.0%})"
    return text + f" and none reaching {reach_share:.0%} of its households within the walk{closest}"


def centre_needs(units: UnitLevel, households: np.ndarray, max_capacity: np.ndarray, existing: np.ndarray,
                 existing_centre: np.ndarray, site_ids, min_m2: float, new: np.ndarray | None = None) -> UnitNeeds:
    """街道: one centre of at least `min_m2` each. A 街道 has one when an `existing_centre` column lies inside it;
    otherwise a new site inside it (of `new`, default: every column not `existing`) whose `max_capacity` (m²)
    reaches `min_m2` must open."""
    site_ids = np.asarray(site_ids, dtype=object)
    total = np.bincount(units.of_row[units.of_row >= 0], weights=households[units.of_row >= 0],
                        minlength=units.ids.size)
    capacity = np.nan_to_num(np.asarray(max_capacity, dtype=np.float64), nan=0.0)
    new = ~existing if new is None else new & ~existing
    records, needs = [], UnitNeeds(pd.DataFrame())
    for u, unit in enumerate(units.ids):
        inside = units.of_site == u
        have = np.flatnonzero(inside & existing & existing_centre)
        reason = ""
        sites = needs.serving[(units.level, unit)] = np.flatnonzero(inside & new & (capacity >= min_m2))
        if not have.size:
            if sites.size:
                needs.rows.append(sites)
                needs.row_units.append((units.level, unit))
            else:
                here = np.flatnonzero(inside & new)
                reason = f"{units.label} {unit} has no candidate site inside it"
                if here.size:
                    big = here[np.argmax(capacity[here])]
                    reason += (f" able to host a {min_m2:,.0f} m² centre (the largest, {site_ids[big]}, "
                               f"{capacity[big]:,.0f} m²)")
        records.append({"level": units.level, "unit": unit, "households": total[u],
                        "requirement": f"centre ≥ {min_m2:,.0f} m²", "service_before": bool(have.size),
                        "how_before": f"{site_ids[have[0]]} inside" if have.size else "", "reason": reason})
    needs.status = pd.DataFrame(records, columns=STATUS_COLUMNS)
    return needs


STATUS_COLUMNS = ["level", "unit", "households", "requirement", "service_before", "how_before", "reason"]
PLAN_COLUMNS = ["kind", "level", "unit", "households", "requirement", "service_before", "how_before", "service_after",
                "change", "new_sites", "centre_site", "households_within_walk_before", "households_within_walk_after"]


def combine(parts: list[UnitNeeds]) -> UnitNeeds:
    """The needs of several levels as one set of rows."""
    return UnitNeeds(pd.concat([p.status for p in parts], ignore_index=True) if parts else
                     pd.DataFrame(columns=STATUS_COLUMNS),
                     [r for p in parts for r in p.rows], [u for p in parts for u in p.row_units],
                     {k: v for p in parts for k, v in p.serving.items()})


def fewest_sites(needs: UnitNeeds, n_cols: int, site_cost: np.ndarray | None = None, solver: str = "cbc") -> tuple[float, list[int]]:
    """Least number (or cost, with `site_cost`) of new sites meeting every unit's row: an LSCP on those rows alone,
    so that a `p` or budget too small is named before the full model runs. Returns (count or cost, sites)."""
    from .covering import LSCP

    rows = np.repeat(np.arange(len(needs.rows)), [r.size for r in needs.rows])
    cols = np.concatenate(needs.rows)
    result = LSCP(Pairs.build(rows, cols, np.zeros(cols.size), len(needs.rows), n_cols), site_cost=site_cost).solve(solver)
    return float(result.objective), [int(j) for j in result.chosen]


def check_limits(needs: UnitNeeds, what: str, n_cols: int, site_ids, p: int | None, budget: float | None,
                 site_cost: np.ndarray, solver: str = "cbc") -> None:
    """An OptimizationError when `p` new sites (or `budget`) cannot meet every unit's row, with the least needed."""
    if not needs.rows:
        return
    site_ids = np.asarray(site_ids, dtype=object)
    for key, limit, cost in (("p", p, None), ("budget", budget, site_cost)):
        if limit is None:
            continue
        least, sites = fewest_sites(needs, n_cols, cost, solver)
        if least > float(limit) + 1e-9:
            what_least = f"{least:g} new sites" if cost is None else f"sites costing {least:g}"
            raise OptimizationError(
                f"siting {what} by unit is infeasible: {key} = {limit:g} cannot give the {len(needs.rows)} unit(s) "
                f"without service a site; they need at least {what_least} (e.g. "
                f"{', '.join(str(site_ids[j]) for j in sites)}). Fix: raise {key} to {least:g} or more")


def units_plan(needs: UnitNeeds, levels: list[UnitLevel], kind: str, pairs: Pairs, households: np.ndarray,
               existing: np.ndarray, chosen: np.ndarray, site_ids, centre_capable: np.ndarray) -> pd.DataFrame:
    """One row per unit: its service before and after the plan, the plan's new sites that meet it (inside it or
    reaching the share; in a 街道, those able to host a centre) and, for a 街道 without a centre, the centre: of those
    sites, the one reaching the most households within the walk. Households within the walk of any open site, before
    and after."""
    site_ids = np.asarray(site_ids, dtype=object)
    opened = existing.copy()
    opened[np.asarray(chosen, dtype=np.int64)] = True
    new_open = opened & ~existing
    reach_total = np.bincount(pairs.col, weights=households[pairs.row], minlength=pairs.n_cols)
    records = []
    before, after = _within(pairs, existing), _within(pairs, opened)
    for units in levels:
        index = {unit: u for u, unit in enumerate(units.ids)}
        inside = units.of_row >= 0
        per_unit = [np.bincount(units.of_row[inside & walk], weights=households[inside & walk], minlength=units.ids.size)
                    for walk in (before, after)]
        status = needs.status[needs.status["level"] == units.level]
        for rec in status.itertuples(index=False):
            u = index[rec.unit]
            sites = needs.serving[(units.level, rec.unit)]
            serving = sites[new_open[sites]]
            centre = ""
            if units.level == CENTRE_LEVEL and serving.size and not rec.service_before:
                capable = serving[centre_capable[serving]]
                centre = str(site_ids[capable[np.argmax(reach_total[capable])]]) if capable.size else ""
            after_ok = bool(rec.service_before or serving.size)
            change = ("had service" if rec.service_before else "gains service" if serving.size else
                      "no households" if rec.households <= 0 else "remains without: " + (rec.reason or "not chosen"))
            records.append({"kind": kind, "level": units.level, "unit": rec.unit, "households": rec.households,
                            "requirement": rec.requirement, "service_before": rec.service_before,
                            "how_before": rec.how_before, "service_after": after_ok, "change": change,
                            "new_sites": ";".join(str(site_ids[j]) for j in serving), "centre_site": centre,
                            "households_within_walk_before": float(per_unit[0][u]),
                            "households_within_walk_after": float(per_unit[1][u])})
    return pd.DataFrame(records, columns=PLAN_COLUMNS)


def _within(pairs: Pairs, open_mask: np.ndarray) -> np.ndarray:
    """Rows with an open site within the walk."""
    out = np.zeros(pairs.n_rows, dtype=bool)
    out[pairs.row[open_mask[pairs.col]]] = True
    return out
