"""Regenerate the example layers of the embedded sample (`siting/sample/`, shipped in the package so that `siting demo`
runs from a plain install) from the real OSM extract `siting/sample/sample.osm.pbf`.

The street network, building footprints and facility locations are real OpenStreetMap data (© OpenStreetMap
contributors, ODbL 1.0; the extract is pyrosm's `test.osm.pbf`, a Finnish town). Everything a planner would supply —
household counts, area types, facility names, floor areas, seats, candidate costs — is INVENTED for the example,
and labelled so in the files. Deterministic: running it twice gives identical files.

    python data/make_sample.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from siting.inputs import layers, osm_features
from siting.inputs.profiles import load_profile

#: The sample lives inside the package (package data), not in data/: see data/README.md.
SAMPLE = Path(__file__).resolve().parents[1] / "siting" / "sample"
OSM = SAMPLE / "sample.osm.pbf"


def _lonlat(geometry) -> tuple[np.ndarray, np.ndarray]:
    pts = geometry.representative_point()
    return pts.x.round(7).to_numpy(), pts.y.round(7).to_numpy()


def _spread(x: np.ndarray, y: np.ndarray, cx: float, cy: float, k: int) -> list[int]:
    """k well-spread points: the one nearest (cx, cy), then repeatedly the one farthest from those chosen."""
    chosen = [int(np.argmin(np.hypot(x - cx, y - cy)))]
    while len(chosen) < k:
        d = np.min([np.hypot(x - x[c], y - y[c]) for c in chosen], axis=0)
        chosen.append(int(np.argmax(d)))
    return chosen


def main() -> None:
    profile = load_profile("national")
    buildings = osm_features.read_osm_residential_buildings(OSM).sort_values("osm_id", kind="stable")
    est = layers.estimate_households_from_buildings(
        buildings,
        dwelling_size_m2=float(profile.value("dwelling_size_m2")),
        default_levels=float(profile.value("default_building_levels")),
        household_size=float(profile.value("household_size")),
    )
    lon, lat = _lonlat(est.geometry)
    # invented: the north-east quarter is a "new residential area" (新建居住区), the rest existing (既有)
    new_area = (lon > np.median(lon)) & (lat > np.median(lat))
    residences = pd.DataFrame({
        "编号": [f"B{i.split('/')[-1]}" for i in est["res_id"]],
        "名称": [f"住宅楼 Building {i.split('/')[-1]}" for i in est["res_id"]],
        "户数": est["households"].astype(int).to_numpy(),
        "小区类型": np.where(new_area, "新建", "既有"),
        "经度": lon,
        "纬度": lat,
    })
    residences.to_csv(SAMPLE / "example_residences.csv", index=False, encoding="utf-8", lineterminator="\n")

    osm_fac = osm_features.read_osm_facilities(OSM).sort_values("fac_id", kind="stable")
    f_lon, f_lat = _lonlat(osm_fac.geometry)
    rows = [
        # real nursery locations from OSM (amenity=kindergarten / childcare); seats invented
        {"编号": f"N{i + 1}", "名称": f"{name or '托育园'} (OSM)", "类型": "托育", "建筑面积": np.nan, "托位": seats,
         "经度": x, "纬度": y}
        for i, (name, x, y, seats) in enumerate(zip(osm_fac["name"], f_lon, f_lat, [40, 25, 30, 30]))
    ]
    # invented elderly day-care stations, placed at real public buildings of the extract
    public = osm_features.read_osm_candidate_sites(OSM).sort_values("site_id", kind="stable")
    p_lon, p_lat = _lonlat(public.geometry)
    for i, (area, k) in enumerate(zip([350.0, 180.0, 420.0], _spread(p_lon, p_lat, lon.mean(), lat.mean(), 3))):
        rows.append({"编号": f"E{i + 1}", "名称": f"社区日间照料站 Day-care station {i + 1}", "类型": "日间照料",
                     "建筑面积": area, "托位": np.nan, "经度": p_lon[k], "纬度": p_lat[k]})
    pd.DataFrame(rows).to_csv(SAMPLE / "example_facilities.csv", index=False, encoding="utf-8", lineterminator="\n")

    candidates = pd.DataFrame({
        "编号": [f"C{i + 1}" for i in range(len(public))],
        "名称": [f"{n or s} (candidate)" for n, s in zip(public["name"], public["source_tag"])],
        "来源": public["source_tag"].to_numpy(),
        "费用": (200 + 50 * (np.arange(len(public)) % 5)).astype(float),  # invented cost, 10,000 CNY
        # invented max floor area, m²: every seventh site a larger building that can host a 街道 centre (≥ 1,000 m²;
        # one in each invented 街道, so `siting optimize --by-unit` has a centre site in both)
        "最大面积": np.where(np.arange(len(public)) % 7 == 5, 1200.0, 300 + 100 * (np.arange(len(public)) % 4)).astype(float),
        "经度": p_lon,
        "纬度": p_lat,
    })
    candidates.to_csv(SAMPLE / "example_candidates.csv", index=False, encoding="utf-8", lineterminator="\n")
    print(f"{len(residences)} residences, {len(rows)} facilities, {len(candidates)} candidate sites")


if __name__ == "__main__":
    main()
