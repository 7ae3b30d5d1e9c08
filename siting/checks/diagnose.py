"""Checks of a layer against the network that catch the commonest silent mistakes before any walking time is computed:
points in the wrong coordinate system (far outside the network), and GCJ-02 (Amap/Tencent) or BD-09 (Baidu) points
not declared as such, which land a few hundred metres off the OpenStreetMap streets in a systematic direction."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from ..errors import InputError
from ..inputs.coords import bd09_to_wgs84, gcj02_to_wgs84
from ..network import WalkNetwork
from ..network.snap import snap_points, walking_points


def _lonlat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geom = frame.geometry.to_crs("EPSG:4326")
    pts = walking_points(geom)
    return pts.x.to_numpy(), pts.y.to_numpy()


def _snap_m(net: WalkNetwork, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Straight metres from each point to its nearest street."""
    import pyproj

    x, y = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True).transform(lon, lat)
    return snap_points(net, np.asarray(x), np.asarray(y), max_snap_m=np.inf).off_network_m


def _consistently_closer(as_given_m: np.ndarray, converted_m: np.ndarray) -> float:
    """One-sided p-value (Wilcoxon signed rank on log distances) that conversion brings the points of a layer closer
    to the streets. Points a few metres off a street in dense streets defeat a comparison of medians (a shifted point
    lands near another street), but not this paired test: true WGS84 points move away when "converted", shifted points
    come back to where they were, point after point. 1.0 when there is too little to test."""
    from scipy.stats import wilcoxon

    change = np.log1p(converted_m) - np.log1p(as_given_m)
    if np.count_nonzero(change) < 8:
        return 1.0
    return float(wilcoxon(change, alternative="less").pvalue)


#: A paired test this certain (p below it) that conversion brings a layer's points closer to the streets is taken
#: as proof of an undeclared shift: 0 of 160 true WGS84 layers of 8–16 points were flagged on the BUPT and Tsim Sha
#: Tsui networks, 95–97 % of GCJ-02 layers of 16 points 5–20 m off the streets were (bench of the tests' data).
CONSISTENT_SHIFT_P = 0.001


def check_layer_against_network(net: WalkNetwork, frame: gpd.GeoDataFrame, *, source: str, max_snap_m: float,
                                declared: str = "wgs84") -> None:
    """Raise an InputError when the layer as a whole cannot be where the network is, or is shifted like GCJ-02/BD-09."""
    if len(frame) == 0:
        return
    lon, lat = _lonlat(frame)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    hull = shapely.box(net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max())
    inside = shapely.contains_xy(shapely.buffer(hull, 0.05), lon, lat)  # ~5 km margin
    if inside.mean() < 0.5:
        raise InputError(
            f"{(~inside).sum()} of {lon.size} points lie more than ~5 km outside the walking network "
            f"(points around lon {np.median(lon):.4f}, lat {np.median(lat):.4f}; network spans lon "
            f"{net.lon.min():.4f}–{net.lon.max():.4f}, lat {net.lat.min():.4f}–{net.lat.max():.4f})",
            file=source,
            expected="points inside the area of the network extract",
            fix="check the layer's coordinate system (crs = \"EPSG:…\" for x/y columns), swapped longitude/latitude, "
                "or use a network extract covering the study area",
        )
    if declared not in ("wgs84", "cgcs2000") or lon.size < 5:
        return
    sample = np.linspace(0, lon.size - 1, min(lon.size, 400)).astype(int)
    given_m = _snap_m(net, lon[sample], lat[sample])
    as_given = float(np.median(given_m))
    trials = {}
    for system, convert in (("gcj02", gcj02_to_wgs84), ("bd09", bd09_to_wgs84)):
        converted_m = _snap_m(net, *convert(lon[sample], lat[sample]))
        trials[system] = (float(np.median(converted_m)), _consistently_closer(given_m, converted_m),
                          int((converted_m < given_m).sum()))
    consistent = [name for name in trials if trials[name][1] < CONSISTENT_SHIFT_P]  # BD-09 data pass both: the
    system = min(consistent or trials, key=lambda name: trials[name][0])  # closer median tells the system
    converted, p_value, closer = trials[system]
    # true WGS84 points move ~500 m away from the streets when "converted", so only shifted data gets closer:
    # by half the median distance, or point after point
    by_median = as_given >= 25 and converted < 0.5 * as_given
    if by_median or (p_value < CONSISTENT_SHIFT_P and converted <= as_given):
        raise InputError(
            f"the points look like {system.upper()} coordinates: as given they sit a median {as_given:.0f} m from the "
            f"nearest street, converted from {system.upper()} a median {converted:.0f} m; {closer} of {sample.size} "
            f"points lie closer to a street once converted",
            file=source,
            expected="WGS84 coordinates, or a declared coordinate system",
            fix=f"add coords = \"{system}\" to this layer in the project file (Amap/Tencent = gcj02, Baidu = bd09)",
        )
