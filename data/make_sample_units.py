"""Write the INVENTED example units of the embedded sample: 5 社区 (communities) in 2 街道 (streets), drawn as simple
blocks over the sample town so that `siting demo` shows the indicator table, the problem ledger and the unit
choropleth. They are not real administrative units of any place; ids, names and boundaries are made up. Written to
`siting/sample/`, next to the project file that names them.

    python data/make_sample_units.py
"""
from __future__ import annotations

import json
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "siting" / "sample"

WEST, MID, EAST_SPLIT, EAST = 26.928, 26.950, 26.961, 26.972
SOUTH, MIDDLE, NORTH = 60.519, 60.530, 60.541

STREETS = [  # (街道代码, 街道名称, (min lon, min lat, max lon, max lat))
    ("S01", "西城街道 West street (invented)", (WEST, SOUTH, MID, NORTH)),
    ("S02", "东城街道 East street (invented)", (MID, SOUTH, EAST, NORTH)),
]
COMMUNITIES = [  # (社区代码, 社区名称, 所属街道代码, box)
    ("C01", "南湖社区 Nanhu (invented)", "S01", (WEST, SOUTH, MID, MIDDLE)),
    ("C02", "北岭社区 Beiling (invented)", "S01", (WEST, MIDDLE, MID, NORTH)),
    ("C03", "中桥社区 Zhongqiao (invented)", "S02", (MID, SOUTH, EAST_SPLIT, MIDDLE)),
    ("C04", "松园社区 Songyuan (invented)", "S02", (MID, MIDDLE, EAST_SPLIT, NORTH)),
    ("C05", "东湖社区 Donghu (invented)", "S02", (EAST_SPLIT, SOUTH, EAST, NORTH)),
]


def _box(box: tuple[float, float, float, float]) -> dict:
    x0, y0, x1, y1 = box
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _write(name: str, features: list[dict]) -> None:
    data = {"type": "FeatureCollection", "name": name,
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "features": features}
    (SAMPLE / f"{name}.geojson").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    _write("example_streets", [{"type": "Feature", "properties": {"街道代码": code, "街道名称": name},
                                "geometry": _box(box)} for code, name, box in STREETS])
    _write("example_communities", [{"type": "Feature", "properties": {"社区代码": code, "社区名称": name, "所属街道代码": parent},
                                    "geometry": _box(box)} for code, name, parent, box in COMMUNITIES])
    print(f"{len(STREETS)} streets, {len(COMMUNITIES)} communities (invented)")


if __name__ == "__main__":
    main()
