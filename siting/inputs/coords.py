"""Chinese web-map coordinates (GCJ-02 of Amap/Tencent, BD-09 of Baidu) to and from WGS84, vectorised.

A point left in GCJ-02 lands a few hundred metres off the OpenStreetMap network, so every planner coordinate goes
through `to_wgs84` before snapping. The forward WGS84 -> GCJ-02 shift is the public algorithm (Krasovsky
ellipsoid constants); it has no closed-form inverse, so GCJ-02 -> WGS84 and BD-09 -> GCJ-02 solve the forward
equation by fixed-point iteration until the residual is below ~1e-10 degrees (about 0.01 mm), instead of the
one-step approximation many libraries use (1–2 m error).

All functions take (lon, lat) in degrees, as scalars or arrays, and return float64 arrays of the broadcast shape
(or Python floats when both inputs are scalars).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError

_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BAIDU_X_PI = np.pi * 3000.0 / 180.0

_TOLERANCE_DEG = 1e-10  # convergence of the iterative inverses, ~0.01 mm
_MAX_ITERATIONS = 30

#: Accepted names of coordinate systems, mapped to the canonical one.
SYSTEM_ALIASES: dict[str, str] = {
    "wgs84": "wgs84",
    "epsg:4326": "wgs84",
    "gps": "wgs84",
    "cgcs2000": "wgs84",  # differs from WGS84 by centimetres, far below a walking catchment
    "epsg:4490": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
}


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return lon_a.copy(), lat_a.copy(), scalar


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """The bounding box the public GCJ-02 algorithm uses: points outside it are not shifted."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj02_offset_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 shift (d_lon, d_lat) in degrees at a WGS84 point, without the out-of-China test."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    d_lon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_KRASOVSKY_A_M * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_KRASOVSKY_A_M / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def _gcj02_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d_lon, d_lat = _gcj02_offset_deg(lon, lat)
    return lon + d_lon, lat + d_lat


def _bd09_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _BAIDU_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BAIDU_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward, target_lon: np.ndarray, target_lat: np.ndarray, guess_lon: np.ndarray, guess_lat: np.ndarray):
    """Solve forward(x) = target by fixed-point iteration; the forward maps are near-translations, so it converges
    geometrically (each step shrinks the error by ~1e-3)."""
    lon, lat = guess_lon, guess_lat
    for _ in range(_MAX_ITERATIONS):
        f_lon, f_lat = forward(lon, lat)
        err_lon = f_lon - target_lon
        err_lat = f_lat - target_lat
        lon = lon - err_lon
        lat = lat - err_lat
        err = np.abs(np.concatenate([err_lon.ravel(), err_lat.ravel()]))
        err = err[np.isfinite(err)]
        if err.size == 0 or err.max() < _TOLERANCE_DEG:
            break
    return lon, lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike):
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    inside = ~out_of_china(lon_a, lat_a)
    g_lon, g_lat = _gcj02_forward(lon_a[inside], lat_a[inside])
    lon_a[inside], lat_a[inside] = g_lon, g_lat
    return _result(lon_a, lat_a, scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike):
    """Iterative inverse: the round trip WGS84 -> GCJ-02 -> WGS84 is exact to well under a millimetre."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    inside = ~out_of_china(lon_a, lat_a)
    t_lon, t_lat = lon_a[inside], lat_a[inside]
    d_lon, d_lat = _gcj02_offset_deg(t_lon, t_lat)
    w_lon, w_lat = _invert(_gcj02_forward, t_lon, t_lat, t_lon - d_lon, t_lat - d_lat)
    lon_a[inside], lat_a[inside] = w_lon, w_lat
    return _result(lon_a, lat_a, scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike):
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*_bd09_forward(lon_a, lat_a), scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike):
    """Iterative inverse of Baidu's shift, started from the usual closed-form approximation."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    x = lon_a - 0.0065
    y = lat_a - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BAIDU_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BAIDU_X_PI)
    g_lon, g_lat = _invert(_bd09_forward, lon_a, lat_a, z * np.cos(theta), z * np.sin(theta))
    return _result(g_lon, g_lat, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike):
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*gcj02_to_bd09(*wgs84_to_gcj02(lon_a, lat_a)), scalar)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike):
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*gcj02_to_wgs84(*bd09_to_gcj02(lon_a, lat_a)), scalar)


def canonical_system(system: str) -> str:
    """'amap' -> 'gcj02', 'baidu' -> 'bd09', 'cgcs2000' -> 'wgs84'; ConfigError naming the choices otherwise."""
    key = str(system).strip().lower()
    if key not in SYSTEM_ALIASES:
        raise ConfigError(
            f"unknown coordinate system '{system}'",
            expected="one of " + ", ".join(sorted(SYSTEM_ALIASES)),
            fix="say which map the coordinates were copied from: Amap/Tencent = gcj02, Baidu = bd09, "
            "GPS/OpenStreetMap/天地图 = wgs84 or cgcs2000",
        )
    return SYSTEM_ALIASES[key]


def to_wgs84(lon: ArrayLike, lat: ArrayLike, system: str):
    """Bring planner coordinates in any supported system to WGS84 (CGCS2000 is taken as WGS84: cm-level)."""
    canonical = canonical_system(system)
    if canonical == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if canonical == "bd09":
        return bd09_to_wgs84(lon, lat)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(lon_a, lat_a, scalar)
