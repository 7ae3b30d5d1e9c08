"""Choose the metric CRS a study area is measured in (metres for snapping, buffers and straight-line bounds).

Chinese planning data is commonly in the CGCS2000 3-degree Gauss–Krüger zones; the codes used here are the
"CM-only" ones without the zone prefix in the false easting (EPSG:4534–4554, central meridians 75°E..135°E),
whose axes are northing, easting in the EPSG definition — GeoPandas/pyproj with always_xy handle that.
"""
from __future__ import annotations

import numpy as np
import pyproj
from numpy.typing import ArrayLike

from ..errors import ConfigError

#: EPSG code of the CGCS2000 3-degree Gauss–Krüger zone with central meridian 75°E (zone 25); +1 per 3 degrees.
_CGCS2000_GK3_FIRST_EPSG = 4534
_CGCS2000_GK3_FIRST_ZONE = 25
_CGCS2000_GK3_LAST_ZONE = 45

_SYSTEMS = ("utm", "cgcs2000", "EPSG:xxxx")


def _centroid(lon: ArrayLike, lat: ArrayLike) -> tuple[float, float]:
    lon_a = np.asarray(lon, dtype=np.float64).ravel()
    lat_a = np.asarray(lat, dtype=np.float64).ravel()
    ok = np.isfinite(lon_a) & np.isfinite(lat_a)
    if not ok.any():
        raise ConfigError(
            "cannot choose a metric coordinate system: the study area has no valid coordinates",
            expected="at least one longitude/latitude pair in degrees",
            fix="check that the input layers are not empty and their coordinates are filled in",
        )
    centre_lon, centre_lat = float(lon_a[ok].mean()), float(lat_a[ok].mean())
    if not (-180.0 <= centre_lon <= 180.0 and -90.0 <= centre_lat <= 90.0):
        raise ConfigError(
            f"study-area centre ({centre_lon:.3f}, {centre_lat:.3f}) is not a longitude/latitude in degrees",
            expected="WGS84 degrees (longitude -180..180, latitude -90..90)",
            fix="convert projected coordinates to WGS84 before choosing the metric system",
        )
    return centre_lon, centre_lat


def utm_epsg(lon: float, lat: float) -> int:
    """WGS84 / UTM zone of a point (no Norway/Svalbard exceptions: irrelevant for China)."""
    zone = min(int(np.floor((lon + 180.0) / 6.0)) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def cgcs2000_gk3_epsg(lon: float) -> int:
    """CGCS2000 3-degree Gauss–Krüger zone (CM-only code) whose central meridian is nearest `lon`."""
    zone = int(np.floor(lon / 3.0 + 0.5))
    if not _CGCS2000_GK3_FIRST_ZONE <= zone <= _CGCS2000_GK3_LAST_ZONE:
        raise ConfigError(
            f"longitude {lon:.3f}°E lies outside the CGCS2000 3-degree Gauss–Krüger zones",
            expected="a study area between 73.5°E and 136.5°E (central meridians 75°E..135°E, EPSG:4534–4554)",
            fix="use --crs utm, or give an explicit projected EPSG code",
        )
    return _CGCS2000_GK3_FIRST_EPSG + zone - _CGCS2000_GK3_FIRST_ZONE


def _explicit_crs(text: str) -> pyproj.CRS:
    try:
        crs = pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        raise ConfigError(
            f"'{text}' is not a coordinate reference system pyproj knows ({exc})",
            expected="'utm', 'cgcs2000' or a projected code such as 'EPSG:4549'",
            fix="check the EPSG code on epsg.io",
        ) from None
    if not crs.is_projected:
        raise ConfigError(
            f"{text} ({crs.name}) is a geographic system in degrees; walking distances need metres",
            expected="a projected CRS with metre units, e.g. EPSG:4549 (CGCS2000 / 3-degree GK CM 120E) or a UTM zone",
            fix="use 'utm' or 'cgcs2000' to choose one automatically",
        )
    units = {axis.unit_name.lower() for axis in crs.axis_info}
    if not units <= {"metre", "meter", "m"}:
        raise ConfigError(
            f"{text} ({crs.name}) measures in {', '.join(sorted(units))}, not metres",
            expected="a projected CRS with metre units",
            fix="use 'utm' or 'cgcs2000' to choose one automatically",
        )
    return crs


def metric_crs_for(lon: ArrayLike, lat: ArrayLike, system: str = "utm") -> pyproj.CRS:
    """The projected CRS (metres) for a study area given by WGS84 lon/lat arrays.

    system: "utm" (zone of the centroid), "cgcs2000" (3-degree GK zone, CM-only code), or an explicit CRS string
    such as "EPSG:4549", which must be projected with metre units.
    """
    key = str(system).strip()
    if key.lower() == "utm":
        return pyproj.CRS.from_epsg(utm_epsg(*_centroid(lon, lat)))
    if key.lower() == "cgcs2000":
        return pyproj.CRS.from_epsg(cgcs2000_gk3_epsg(_centroid(lon, lat)[0]))
    if ":" in key:
        return _explicit_crs(key)
    raise ConfigError(
        f"unknown metric coordinate system '{system}'",
        expected="one of " + ", ".join(_SYSTEMS),
        fix="use 'utm' (default), 'cgcs2000', or a projected code such as 'EPSG:4549'",
    )
