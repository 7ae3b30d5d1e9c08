"""The column contract between stages. Loaders produce these columns; every later stage reads only these.

Residences (one row per building, compound or point), GeoDataFrame in EPSG:4326:
    res_id       str    unique id
    name         str    may be empty
    households   float  户数; derived from population / household size where missing
    population   float  人口; derived from households x household size where missing
    area_type    str    "new" (新建居住区) or "existing" (既有/老旧居住区); decides which standard applies
    geometry     Point or Polygon (polygons are represented by their representative point for walking)

Facilities, GeoDataFrame in EPSG:4326:
    fac_id         str    unique id
    name           str
    kind           str    one of KINDS
    floor_area_m2  float  building floor area in m² (the capacity of an elderly day-care station)
    places         float  day-care places (optional, NaN when unknown)
    seats          float  childcare seats / 托位 (the capacity of a nursery)
    geometry       Point or Polygon
"""
from __future__ import annotations

ELDERLY = "elderly_day_care"
NURSERY = "nursery"
KINDS: tuple[str, ...] = (ELDERLY, NURSERY)

#: The capacity column of each kind, and its unit.
CAPACITY_COLUMN: dict[str, str] = {ELDERLY: "floor_area_m2", NURSERY: "seats"}
CAPACITY_UNIT: dict[str, str] = {ELDERLY: "m²", NURSERY: "seats"}

KIND_LABEL: dict[str, str] = {ELDERLY: "日间照料站 Elderly day-care station", NURSERY: "托育园 Nursery"}

AREA_TYPES: tuple[str, ...] = ("new", "existing")

RESIDENCE_COLUMNS: tuple[str, ...] = ("res_id", "name", "households", "population", "area_type", "geometry")
FACILITY_COLUMNS: tuple[str, ...] = ("fac_id", "name", "kind", "floor_area_m2", "places", "seats", "geometry")
