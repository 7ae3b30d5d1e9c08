"""Optional online download of a walking network through osmnx (needs internet; never used by tests or the demo).

The downloaded graph goes through the same conversion as a GraphML file, so an online run and an offline run on
the saved file give the same network.
"""
from __future__ import annotations

from ..errors import NetworkError
from .graph import WalkNetwork
from .graph import network_from_nx_graph as network_from_osmnx_graph


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
