"""Candidate sites for siting: the project's `[candidates]` table (or OSM features) read into the schema, one table
per facility kind, read once per run.

A siting run needs the candidates in four places (the early check before any work, the by-unit column check, the
models, and the indicator ledger's best candidate); `CandidateTables` reads each kind once and hands the same frame
to all of them, so a run reads its candidate file once per kind.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import ConfigError
from .layers import facilities_from_frame, read_options, read_table
from .osm_features import read_osm_candidate_sites
from .schema import CAPACITY_COLUMN


def read_candidates(project, kind: str) -> gpd.GeoDataFrame:
    """The project's candidate sites for one kind: site_id, name, cost, max_capacity (and any `unit_<level>` columns
    of the table), geometry (EPSG:4326). Placing them in the run's units is the units stage's job (assign_units)."""
    block = project.candidates
    if block and block.get("source") == "osm":
        sites = read_osm_candidate_sites(project.resolve(block.get("path", project.network["path"])))
        sites = sites.assign(cost=1.0, max_capacity=float(block.get("default_capacity", np.nan)))
        return sites[["site_id", "name", "cost", "max_capacity", "geometry"]]
    if not block or ("path" not in block and "frame" not in block):
        raise ConfigError("no candidate sites given", file=project.path, column="candidates.path",
                          fix="add a [candidates] section with the path of a candidate-site table")
    if "frame" in block:  # a table already in memory (a QGIS layer), named by its label in messages
        path, frame = str(block.get("label", "candidates")), block["frame"]
    else:
        path = project.resolve(block["path"])
        frame = read_table(path, **read_options(block))
    columns = dict(block.get("columns", {}))
    cap_col = block.get("max_capacity")
    if cap_col:
        columns[CAPACITY_COLUMN[kind]] = cap_col
    sites = facilities_from_frame(frame, source=str(path), kind=kind, columns=columns or None,
                                  crs=block.get("crs"), coords=block.get("coords", "wgs84"))
    cost_col = block.get("cost")
    if cost_col:
        if cost_col not in frame.columns:
            raise ConfigError(f"cost column {cost_col!r} not in the candidate file", file=path, column=cost_col,
                              expected="one of " + ", ".join(map(str, frame.columns)))
        cost = pd.to_numeric(frame[cost_col], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(cost) | (cost < 0))
        if bad.size:
            raise ConfigError(f"cost {frame[cost_col].iloc[bad[0]]!r} is not a non-negative number", file=path,
                              row=int(bad[0]) + 2, column=cost_col)
    else:
        cost = np.ones(len(sites))
    sites = sites.rename(columns={"fac_id": "site_id"})
    sites["cost"] = cost
    sites["max_capacity"] = sites[CAPACITY_COLUMN[kind]]
    units = [c for c in sites.columns if str(c).startswith("unit_")]  # the units contract's unit_<level> columns
    return sites[["site_id", "name", "cost", "max_capacity", *units, "geometry"]]


class CandidateTables:
    """A run's candidate sites per kind, each read on first use (`read_candidates`) and then shared. The frames are
    read-only to their users: place them in units with `siting.measures.units.assign_units`, which copies."""

    def __init__(self, project) -> None:
        self.project = project
        self._by_kind: dict[str, gpd.GeoDataFrame] = {}

    def __call__(self, kind: str) -> gpd.GeoDataFrame:
        if kind not in self._by_kind:
            self._by_kind[kind] = read_candidates(self.project, kind)
        return self._by_kind[kind]
