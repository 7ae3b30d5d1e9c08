"""The walking network: read OpenStreetMap (.osm.pbf, .osm, .osm.xml, .osm.bz2) or GraphML into a compiled,
projected, undirected graph held as plain arrays (CSR adjacency, edge lengths in metres).

Every OSM format is read by one parser (pyosmium), so a .pbf and a .bz2 of the same extract give identical graphs.
The graph is *not* simplified: each edge is the straight segment between two consecutive way nodes, so a point on an
edge is an exact linear interpolation and catchment polygons follow the real street shape.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pyproj
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..errors import NetworkError

log = logging.getLogger(__name__)

#: highway=* values a person can walk along. Motorways, trunk roads and their links are left out (no footway),
#: as are ways under construction or proposed.
WALKABLE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "footway", "path", "steps", "pedestrian", "living_street", "residential", "service", "unclassified",
        "tertiary", "tertiary_link", "secondary", "secondary_link", "primary", "primary_link", "track",
        "cycleway", "corridor", "road", "bridleway", "crossing",
    }
)
#: Tag values that forbid walking. access=private is *kept*: residents walk inside their own gated compound
#: (封闭小区), which OSM commonly tags access=private.
_NO_FOOT = frozenset({"no", "use_sidepath"})

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.xml", ".xml", ".osm.bz2", ".osm.gz", ".bz2")
GRAPHML_SUFFIXES = (".graphml", ".graphml.xml")
_CACHE_VERSION = "1"


@dataclass(eq=False)
class WalkNetwork:
    """An undirected walking graph in a metric CRS. Node arrays have one entry per node, edge arrays one per edge."""

    crs: pyproj.CRS
    x: np.ndarray  # metres, in `crs`
    y: np.ndarray
    lon: np.ndarray  # degrees, WGS84
    lat: np.ndarray
    osmid: np.ndarray  # int64 OSM node id (or GraphML node key when numeric; else the row number)
    edge_u: np.ndarray  # int64 node index
    edge_v: np.ndarray
    edge_length_m: np.ndarray  # float64 metres along the street
    edge_highway: np.ndarray  # str highway tag per edge ("" when unknown)
    source: str = ""
    _extra: dict = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_u.shape[0])

    @cached_property
    def adjacency(self) -> sp.csr_matrix:
        """Symmetric CSR matrix of edge lengths (metres). Zero-length edges get 1 mm so that csgraph keeps them."""
        length = np.maximum(self.edge_length_m, 1e-3)
        rows = np.concatenate([self.edge_u, self.edge_v])
        cols = np.concatenate([self.edge_v, self.edge_u])
        data = np.concatenate([length, length])
        return sp.csr_matrix((data, (rows, cols)), shape=(self.n_nodes, self.n_nodes))

    @cached_property
    def component(self) -> np.ndarray:
        """Connected-component label per node; label 0 is the largest piece."""
        _, labels = connected_components(self.adjacency, directed=False)
        sizes = np.bincount(labels)
        order = np.argsort(-sizes, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return rank[labels].astype(np.int32)

    @cached_property
    def node_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Edges incident to each node as CSR arrays (indptr, edge indices): node i's edges are
        edges[indptr[i]:indptr[i + 1]]. Lets a search touch only the edges at its reached nodes instead of scanning
        every edge of the city. A self-loop is listed once."""
        ends = np.concatenate([self.edge_u, np.where(self.edge_v != self.edge_u, self.edge_v, -1)])
        edge = np.concatenate([np.arange(self.n_edges), np.arange(self.n_edges)])
        keep = ends >= 0
        order = np.argsort(ends[keep], kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(ends[keep], minlength=self.n_nodes))]).astype(np.int64)
        return indptr, edge[keep][order]

    def components_summary(self) -> dict:
        """How many disconnected pieces the network has and how big they are (nodes, street metres)."""
        comp = self.component
        nodes = np.bincount(comp)
        metres = np.bincount(comp[self.edge_u], weights=self.edge_length_m, minlength=nodes.size)
        return {
            "n_components": int(nodes.size),
            "largest_nodes": int(nodes[0]) if nodes.size else 0,
            "largest_share_of_street_length": float(metres[0] / metres.sum()) if metres.sum() > 0 else 1.0,
            "other_component_nodes": int(nodes[1:].sum()),
        }

    def edge_xy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Segment end coordinates (metres) of every edge: x_u, y_u, x_v, y_v."""
        return self.x[self.edge_u], self.y[self.edge_u], self.x[self.edge_v], self.y[self.edge_v]

    def to_networkx(self):
        """A networkx Graph with the same nodes (0..n-1) and `length` (metres); for cross-checks and peers."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(self.n_nodes))
        for u, v, length in zip(self.edge_u.tolist(), self.edge_v.tolist(), self.edge_length_m.tolist()):
            graph.add_edge(u, v, length=length)
        return graph

    def summary(self) -> dict:
        return {
            "source": self.source,
            "crs": self.crs.to_string(),
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "street_length_km": round(float(self.edge_length_m.sum()) / 1000.0, 3),
            **self.components_summary(),
        }


def load_network(
    path: str | os.PathLike,
    *,
    metric_crs: str = "utm",
    cache_dir: str | os.PathLike | None = None,
) -> WalkNetwork:
    """Read a walking network from a local file. `metric_crs` is "utm", "cgcs2000" or an explicit projected "EPSG:…".

    With `cache_dir`, the compiled arrays are stored there keyed by the file's size, modification time and the
    settings, and a second run skips parsing.
    """
    path = Path(path)
    if not path.exists():
        raise NetworkError("network file not found", file=path, fix="check the [network] path in the project file")
    name = path.name.lower()
    cache_file = _cache_file(path, metric_crs, cache_dir) if cache_dir is not None else None
    if cache_file is not None and cache_file.exists():
        try:
            return _read_cache(cache_file, path)
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("ignoring unreadable network cache %s (%s)", cache_file, exc)
    if name.endswith(GRAPHML_SUFFIXES):
        net = _from_graphml(path, metric_crs)
    elif name.endswith(OSM_SUFFIXES):
        net = _from_osm(path, metric_crs)
    else:
        raise NetworkError(
            "unknown network file type",
            file=path,
            expected="an OpenStreetMap file (.osm.pbf, .osm, .osm.xml, .osm.bz2) or GraphML (.graphml)",
        )
    if cache_file is not None:
        try:
            _write_cache(cache_file, net)
        except OSError as exc:  # a read-only home or a full disk costs the next run some seconds, nothing more
            log.warning("network cache not written to %s (%s); set SITING_CACHE_DIR to a writable folder",
                        cache_file.parent, exc.strerror or exc)
    return net


def network_from_arrays(
    lon: np.ndarray,
    lat: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    *,
    osmid: np.ndarray | None = None,
    edge_length_m: np.ndarray | None = None,
    edge_highway: np.ndarray | None = None,
    metric_crs: str = "utm",
    source: str = "",
) -> WalkNetwork:
    """Build a network from node coordinates (WGS84) and edge index pairs; lengths default to the projected
    straight-line segment length. Duplicate edges keep the shortest; self-loops are dropped."""
    from ..inputs.crs import metric_crs_for

    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    crs = metric_crs_for(lon, lat, metric_crs)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    u = np.asarray(edge_u, dtype=np.int64)
    v = np.asarray(edge_v, dtype=np.int64)
    length = np.hypot(x[u] - x[v], y[u] - y[v]) if edge_length_m is None else np.asarray(edge_length_m, dtype=np.float64)
    highway = np.full(u.shape, "", dtype=object) if edge_highway is None else np.asarray(edge_highway, dtype=object)
    keep = u != v
    u, v, length, highway = u[keep], v[keep], length[keep], highway[keep]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((length, hi, lo))
    lo, hi, length, highway = lo[order], hi[order], length[order], highway[order]
    first = np.ones(lo.shape, dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return WalkNetwork(
        crs=crs,
        x=x,
        y=y,
        lon=lon,
        lat=lat,
        osmid=np.arange(lon.size, dtype=np.int64) if osmid is None else np.asarray(osmid, dtype=np.int64),
        edge_u=lo[first],
        edge_v=hi[first],
        edge_length_m=length[first],
        edge_highway=highway[first].astype(str),
        source=source,
    )


def is_walkable(tags) -> bool:
    """The walking filter applied to each OSM way's tags (a mapping)."""
    highway = tags.get("highway")
    if highway not in WALKABLE_HIGHWAYS:
        return False
    if tags.get("area") == "yes" and highway != "pedestrian":
        return False
    foot = tags.get("foot")
    if foot in _NO_FOOT:
        return False
    if tags.get("access") == "no" and foot not in ("yes", "designated", "permissive"):
        return False
    return True


def _from_osm(path: Path, metric_crs: str) -> WalkNetwork:
    import osmium

    refs: list[np.ndarray] = []
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    highways: list[str] = []
    n_ways = 0
    not_walkable: dict[str, int] = {}  # highway value -> ways left out, to explain an empty result
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            n_ways += 1
            if not is_walkable(way.tags):
                value = way.tags.get("highway")
                not_walkable[value] = not_walkable.get(value, 0) + 1
                continue
            nodes = [(n.ref, n.lon, n.lat) for n in way.nodes if n.location.valid()]
            if len(nodes) < 2:
                continue
            arr = np.asarray(nodes, dtype=np.float64)
            refs.append(np.asarray([n[0] for n in nodes], dtype=np.int64))
            lons.append(arr[:, 1])
            lats.append(arr[:, 2])
            highways.append(way.tags.get("highway"))
    except RuntimeError as exc:
        raise NetworkError(f"cannot read OpenStreetMap data ({exc})", file=path, expected="a valid .osm.pbf/.osm/.osm.bz2 file") from None
    if not refs:
        if n_ways == 0:
            found = "the file has no ways tagged highway=*"
        else:
            tags = ", ".join(f"highway={k} ×{v}" for k, v in sorted(not_walkable.items(), key=lambda kv: (-kv[1], kv[0])))
            found = f"{n_ways} ways have a highway tag, none of them walkable: {tags}" if tags else \
                f"{n_ways} ways have a highway tag but fewer than two located nodes"
        raise NetworkError(
            f"no walkable ways in the file ({found})",
            file=path,
            expected="OpenStreetMap ways tagged highway=footway, path, residential, service, … (motorways and trunk "
                     "roads are not walked)",
            fix="use an extract that covers the study area with all its streets (not only the main roads), "
                "e.g. from download.geofabrik.de or osmnx",
        )
    all_refs = np.concatenate(refs)
    osmid, first_index, inverse = np.unique(all_refs, return_index=True, return_inverse=True)
    lon = np.concatenate(lons)[first_index]
    lat = np.concatenate(lats)[first_index]
    # consecutive node pairs within each way
    way_len = np.fromiter((r.size for r in refs), dtype=np.int64, count=len(refs))
    pair_mask = np.ones(all_refs.size, dtype=bool)
    pair_mask[np.cumsum(way_len) - 1] = False  # last node of each way starts no edge
    idx = np.flatnonzero(pair_mask)
    edge_highway = np.repeat(np.asarray(highways, dtype=object), way_len - 1)
    net = network_from_arrays(
        lon, lat, inverse[idx], inverse[idx + 1], osmid=osmid, edge_highway=edge_highway,
        metric_crs=metric_crs, source=str(path),
    )
    log.info("read %s: %d walkable ways, %d nodes, %d edges", path.name, len(refs), net.n_nodes, net.n_edges)
    return net


def _from_graphml(path: Path, metric_crs: str) -> WalkNetwork:
    """GraphML as written by osmnx (node x/y in the graph's CRS, edge `length` in metres)."""
    import networkx as nx

    try:
        graph = nx.read_graphml(path)
    except Exception as exc:
        raise NetworkError(f"cannot read GraphML ({exc})", file=path, expected="a GraphML file as written by osmnx.save_graphml") from None
    return network_from_nx_graph(graph, metric_crs=metric_crs, source=str(path))


def network_from_nx_graph(graph, *, metric_crs: str = "utm", source: str = "networkx graph") -> WalkNetwork:
    """Convert a networkx/osmnx graph (node x/y in `graph.graph["crs"]`, default WGS84; edge `length` in metres).
    Where any edge lacks a length, all lengths fall back to projected straight segments."""
    if graph.number_of_nodes() == 0:
        raise NetworkError("the graph has no nodes", file=source)
    keys = list(graph.nodes)
    index = {k: i for i, k in enumerate(keys)}
    try:
        xs = np.array([float(graph.nodes[k]["x"]) for k in keys])
        ys = np.array([float(graph.nodes[k]["y"]) for k in keys])
    except KeyError:
        raise NetworkError("graph nodes lack x/y attributes", file=source, expected="node attributes x and y (lon/lat)") from None
    lon, lat = pyproj.Transformer.from_crs(graph.graph.get("crs", "EPSG:4326"), "EPSG:4326", always_xy=True).transform(xs, ys)
    u, v, length, highway = [], [], [], []
    for a, b, data in graph.edges(data=True):
        u.append(index[a])
        v.append(index[b])
        length.append(float(data["length"]) if "length" in data else np.nan)
        hw = data.get("highway", "")
        highway.append(hw if isinstance(hw, str) else ",".join(map(str, hw)))
    length_arr = np.array(length, dtype=np.float64)
    try:
        osmid = np.array([int(k) for k in keys], dtype=np.int64)
    except (TypeError, ValueError):
        osmid = None
    return network_from_arrays(
        np.asarray(lon), np.asarray(lat), np.array(u), np.array(v), osmid=osmid,
        edge_length_m=None if np.isnan(length_arr).any() else length_arr,
        edge_highway=np.array(highway, dtype=object), metric_crs=metric_crs, source=source,
    )


def network_cache_dir() -> Path:
    """Where compiled networks are kept between runs: $SITING_CACHE_DIR, else the user's cache folder
    (~/.cache/siting, $XDG_CACHE_HOME/siting, or %LOCALAPPDATA%\\siting\\cache on Windows). Never the output folder,
    so a run that fails writes nothing there."""
    explicit = os.environ.get("SITING_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "siting" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "siting"


def _cache_file(path: Path, metric_crs: str, cache_dir: str | os.PathLike) -> Path:
    stat = path.stat()
    key = f"{_CACHE_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{metric_crs}|{sorted(WALKABLE_HIGHWAYS)}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return Path(cache_dir) / f"network-{digest}.npz"


def _write_cache(cache_file: Path, net: WalkNetwork) -> None:
    from ..output import atomic_path

    with atomic_path(cache_file) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh, crs=np.array(net.crs.to_wkt()), x=net.x, y=net.y, lon=net.lon, lat=net.lat, osmid=net.osmid,
                edge_u=net.edge_u, edge_v=net.edge_v, edge_length_m=net.edge_length_m,
                edge_highway=net.edge_highway.astype(str),
            )


def _read_cache(cache_file: Path, path: Path) -> WalkNetwork:
    with np.load(cache_file, allow_pickle=False) as data:
        return WalkNetwork(
            crs=pyproj.CRS.from_wkt(str(data["crs"])), x=data["x"], y=data["y"], lon=data["lon"], lat=data["lat"],
            osmid=data["osmid"], edge_u=data["edge_u"], edge_v=data["edge_v"], edge_length_m=data["edge_length_m"],
            edge_highway=data["edge_highway"], source=str(path),
        )
