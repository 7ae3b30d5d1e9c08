"""Optional online download of a walking network through osmnx (needs internet; never used by tests or the demo).

The downloaded graph goes through the same conversion as a GraphML file, so an online run and an offline run on
the saved file give the same network.
"""
from __future__ import annotations

import numpy as np

from .errors import NetworkError
from .network import WalkNetwork, network_from_arrays


def network_from_osmnx_graph(graph, *, metric_crs: str = "utm", source: str = "osmnx graph") -> WalkNetwork:
    """Convert an osmnx MultiDiGraph (unprojected, node x/y in degrees, edge `length` in metres)."""
    import pyproj

    if graph.number_of_nodes() == 0:
        raise NetworkError("the osmnx graph has no nodes", file=source)
    keys = list(graph.nodes)
    index = {k: i for i, k in enumerate(keys)}
    x = np.array([graph.nodes[k]["x"] for k in keys], dtype=np.float64)
    y = np.array([graph.nodes[k]["y"] for k in keys], dtype=np.float64)
    lon, lat = pyproj.Transformer.from_crs(graph.graph.get("crs", "EPSG:4326"), "EPSG:4326", always_xy=True).transform(x, y)
    u, v, length, highway = [], [], [], []
    for a, b, data in graph.edges(data=True):
        u.append(index[a])
        v.append(index[b])
        length.append(float(data.get("length", np.nan)))
        hw = data.get("highway", "")
        highway.append(hw if isinstance(hw, str) else ",".join(map(str, hw)))
    length_arr = np.array(length)
    try:
        osmid = np.array([int(k) for k in keys], dtype=np.int64)
    except (TypeError, ValueError):
        osmid = None
    return network_from_arrays(
        np.asarray(lon), np.asarray(lat), np.array(u), np.array(v), osmid=osmid,
        edge_length_m=None if np.isnan(length_arr).any() else length_arr,
        edge_highway=np.array(highway, dtype=object), metric_crs=metric_crs, source=source,
    )


def network_from_place(place: str, *, metric_crs: str = "utm") -> WalkNetwork:
    """Download the walking network of a named place (e.g. "红山区, 赤峰市, 中国") with osmnx. Online only."""
    import osmnx as ox

    try:
        graph = ox.graph_from_place(place, network_type="walk", simplify=False, retain_all=True)
    except Exception as exc:  # network errors, geocoding misses
        raise NetworkError(
            f"could not download the walking network of {place!r} ({exc})",
            fix="work offline: export an .osm.pbf of the area (e.g. from a Geofabrik extract) and set [network] path",
        ) from None
    return network_from_osmnx_graph(graph, metric_crs=metric_crs, source=f"osmnx download: {place}")
