"""Seeded synthetic Chinese cities for the benchmarks: 10 k, 100 k, 1 M and 10 M residents.

Model (all figures are parameters of `make_city`, documented here once):
- A square city around Chifeng (118.9 E, 42.27 N), so the metric CRS is a real one (UTM 50N). Gross density
  15,000 residents per km² (Chinese urban built-up areas run 10–20 k/km²): 10 M residents → 26 km × 26 km.
- Streets: a grid whose line spacings are drawn uniformly in 150–250 m (arterial/residential blocks), intersections
  jittered by ±15 m. Each street stretch between two intersections is one OSM way of `pieces` straight segments
  (OSM keeps geometry nodes every 30–40 m), intermediate nodes jittered by ±3 m.
- Imperfections: 3 % of the stretches have one segment missing (a gap leaving two dead ends); 25 % of the blocks
  have a footpath cutting through them between the midpoints of two opposite sides; 10 % have a 40–90 m cul-de-sac
  (a service road into a compound).
- Residences: compounds (小区) of 100–2,000 households (log-uniform), household size 2.4–3.2, placed uniformly at
  random in the city; area_type "existing" with probability 0.7 within 40 % of the half-width from the centre,
  0.25 beyond (older cores, newer rims).
- Facilities: one elderly day-care station per ~3,000 households (floor area 150–900 m²) and one nursery per
  ~5,000 households (40–200 seats), at random positions; candidate sites as many again, at random positions.
Everything is in the column contract of siting/inputs/schema.py. The network is built with `network_from_arrays` from
the very ways written to .osm.pbf by `write_pbf`, so reading that file back gives the same graph.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj

from siting.inputs.schema import ELDERLY, NURSERY
from siting.network import WalkNetwork, network_from_arrays

CENTRE_LON, CENTRE_LAT = 118.9, 42.27  # Chifeng, Inner Mongolia
UTM_50N = "EPSG:32650"
SIZES: dict[str, int] = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}


@dataclass
class SyntheticCity:
    net: WalkNetwork
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    way_refs: np.ndarray  # node indices of all ways, concatenated
    way_len: np.ndarray  # nodes per way
    way_highway: np.ndarray  # highway tag per way

    def __iter__(self):
        """Unpacks as (net, residences, facilities, candidates)."""
        return iter((self.net, self.residences, self.facilities, self.candidates))


def parse_size(text: str) -> int:
    """'10k', '1M', '250000' → residents."""
    if text in SIZES:
        return SIZES[text]
    t = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1], 1)
    return int(float(t.rstrip("km")) * mult)


def make_city(
    residents: int,
    *,
    seed: int = 0,
    density_per_km2: float = 15_000.0,
    block_m: tuple[float, float] = (150.0, 250.0),
    pieces: int = 6,
    missing_link_share: float = 0.03,
    footpath_share: float = 0.25,
    cul_de_sac_share: float = 0.10,
    households_per_elderly_station: float = 3_000.0,
    households_per_nursery: float = 5_000.0,
    households_per_point: float | None = None,
) -> SyntheticCity:
    """A seeded synthetic city with about `residents` residents (see the module docstring for the model).

    `households_per_point` splits every compound into points of about that many households (1 = one point per
    household), scattered over a 200 m square around the compound: the per-residence stress test. The streets,
    compounds and facilities stay those of the unsplit city with the same seed."""
    rng = np.random.default_rng(seed)
    half = math.sqrt(residents / density_per_km2) * 1000.0 / 2.0  # metres
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM_50N, always_xy=True)
    to_wgs = pyproj.Transformer.from_crs(UTM_50N, "EPSG:4326", always_xy=True)
    cx, cy = to_utm.transform(CENTRE_LON, CENTRE_LAT)

    def lines() -> np.ndarray:
        n = int(2 * half / block_m[0]) + 3
        gaps = rng.uniform(*block_m, n)
        pos = np.concatenate([[0.0], np.cumsum(gaps)])
        pos = pos[pos <= max(2 * half, block_m[1])]
        return pos - pos[-1] / 2.0

    gx, gy = lines(), lines()
    nx_, ny_ = gx.size, gy.size
    ix, iy = np.meshgrid(np.arange(nx_), np.arange(ny_), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()
    node_x = [gx[ix] + rng.uniform(-15, 15, ix.size)]
    node_y = [gy[iy] + rng.uniform(-15, 15, iy.size)]
    n_nodes = ix.size

    def inter(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return i * ny_ + j

    def add_path(a: np.ndarray, b: np.ndarray, n_mid: int, jitter: float) -> np.ndarray:
        """New intermediate nodes on straight paths a→b (node index arrays); returns (k, n_mid + 2) node indices."""
        nonlocal n_nodes
        k = a.size
        t = np.arange(1, n_mid + 1) / (n_mid + 1)
        xa, ya = np.concatenate(node_x), np.concatenate(node_y)
        mx = xa[a][:, None] + t[None, :] * (xa[b] - xa[a])[:, None] + rng.uniform(-jitter, jitter, (k, n_mid))
        my = ya[a][:, None] + t[None, :] * (ya[b] - ya[a])[:, None] + rng.uniform(-jitter, jitter, (k, n_mid))
        ids = n_nodes + np.arange(k * n_mid).reshape(k, n_mid)
        n_nodes += k * n_mid
        node_x.append(mx.ravel())
        node_y.append(my.ravel())
        return np.concatenate([a[:, None], ids, b[:, None]], axis=1)

    # street stretches: horizontal (i,j)-(i+1,j) and vertical (i,j)-(i,j+1)
    hi, hj = np.meshgrid(np.arange(nx_ - 1), np.arange(ny_), indexing="ij")
    vi, vj = np.meshgrid(np.arange(nx_), np.arange(ny_ - 1), indexing="ij")
    h_paths = add_path(inter(hi.ravel(), hj.ravel()), inter(hi.ravel() + 1, hj.ravel()), pieces - 1, 3.0)
    v_paths = add_path(inter(vi.ravel(), vj.ravel()), inter(vi.ravel(), vj.ravel() + 1), pieces - 1, 3.0)
    streets = np.concatenate([h_paths, v_paths])
    h_index = np.arange(h_paths.shape[0]).reshape(nx_ - 1, ny_)  # stretch number of horizontal (i, j)

    ways: list[np.ndarray] = []
    highways: list[str] = []
    missing = rng.random(streets.shape[0]) < missing_link_share
    gap_at = rng.integers(1, pieces - 1, streets.shape[0])  # the missing segment never touches an intersection
    arterial = np.zeros(streets.shape[0], dtype=bool)
    arterial[: h_paths.shape[0]] = (hj.ravel() % 4) == 0
    arterial[h_paths.shape[0]:] = (vi.ravel() % 4) == 0
    for k, path in enumerate(streets):
        tag = "secondary" if arterial[k] else "residential"
        if missing[k] and not arterial[k]:
            ways += [path[: gap_at[k] + 1], path[gap_at[k] + 1:]]
            highways += [tag, tag]
        else:
            ways.append(path)
            highways.append(tag)

    # footpaths across blocks (bottom side midpoint → top side midpoint) and cul-de-sacs into blocks
    bi, bj = np.meshgrid(np.arange(nx_ - 1), np.arange(ny_ - 1), indexing="ij")
    bi, bj = bi.ravel(), bj.ravel()
    mid = pieces // 2
    foot = rng.random(bi.size) < footpath_share
    bottom = streets[h_index[bi[foot], bj[foot]], mid]
    top = streets[h_index[bi[foot], bj[foot] + 1], mid]
    for path in add_path(bottom, top, 3, 12.0):
        ways.append(path)
        highways.append("footway")
    spur = rng.random(bi.size) < cul_de_sac_share
    start = streets[h_index[bi[spur], bj[spur]], mid]
    xs, ys = np.concatenate(node_x), np.concatenate(node_y)
    end_x = xs[start] + rng.uniform(-20, 20, start.size)
    end_y = ys[start] + rng.uniform(40, 90, start.size)
    end = n_nodes + np.arange(start.size)
    n_nodes += start.size
    node_x.append(end_x)
    node_y.append(end_y)
    for path in add_path(start, end, 1, 5.0):
        ways.append(path)
        highways.append("service")

    x_m, y_m = np.concatenate(node_x) + cx, np.concatenate(node_y) + cy
    lon, lat = to_wgs.transform(x_m, y_m)
    way_len = np.fromiter((w.size for w in ways), dtype=np.int64, count=len(ways))
    refs = np.concatenate(ways)
    pair = np.ones(refs.size, dtype=bool)
    pair[np.cumsum(way_len) - 1] = False
    idx = np.flatnonzero(pair)
    way_highway = np.asarray(highways, dtype=object)
    net = network_from_arrays(
        lon, lat, refs[idx], refs[idx + 1], osmid=np.arange(1, lon.size + 1, dtype=np.int64),
        edge_highway=np.repeat(way_highway, way_len - 1), source=f"synthetic:{residents}:{seed}",
    )

    # residences
    households_total = residents / 2.8
    n_res = max(1, int(round(households_total / 700.0)))  # mean of log-uniform(100, 2000) ≈ 634 households
    hh = np.exp(rng.uniform(math.log(100), math.log(2000), n_res))
    hh = np.round(hh * households_total / hh.sum()).clip(1)
    size = rng.uniform(2.4, 3.2, n_res)
    rx, ry = rng.uniform(-half, half, n_res), rng.uniform(-half, half, n_res)
    central = np.maximum(np.abs(rx), np.abs(ry)) < 0.4 * half
    existing = rng.random(n_res) < np.where(central, 0.7, 0.25)
    residences = gpd.GeoDataFrame(
        {
            "res_id": [f"R{i:07d}" for i in range(n_res)],
            "name": [f"小区{i}" for i in range(n_res)],
            "households": hh,
            "population": np.round(hh * size),
            "area_type": np.where(existing, "existing", "new"),
        },
        geometry=gpd.points_from_xy(*to_wgs.transform(rx + cx, ry + cy)),
        crs="EPSG:4326",
    )

    hh_sum = float(hh.sum())
    n_eld = max(1, int(round(hh_sum / households_per_elderly_station)))
    n_nur = max(1, int(round(hh_sum / households_per_nursery)))
    n_fac = n_eld + n_nur
    fx, fy = rng.uniform(-half, half, n_fac), rng.uniform(-half, half, n_fac)
    kind = np.array([ELDERLY] * n_eld + [NURSERY] * n_nur, dtype=object)
    is_e = kind == ELDERLY
    facilities = gpd.GeoDataFrame(
        {
            "fac_id": [f"F{i:06d}" for i in range(n_fac)],
            "name": [f"设施{i}" for i in range(n_fac)],
            "kind": kind,
            "floor_area_m2": np.where(is_e, np.round(rng.uniform(150, 900, n_fac)), np.nan),
            "places": np.where(is_e, np.round(rng.uniform(10, 40, n_fac)), np.nan),
            "seats": np.where(is_e, np.nan, np.round(rng.uniform(40, 200, n_fac))),
        },
        geometry=gpd.points_from_xy(*to_wgs.transform(fx + cx, fy + cy)),
        crs="EPSG:4326",
    )
    kx, ky = rng.uniform(-half, half, n_fac), rng.uniform(-half, half, n_fac)
    candidates = gpd.GeoDataFrame(
        {"cand_id": [f"C{i:06d}" for i in range(n_fac)], "name": [f"候选{i}" for i in range(n_fac)],
         "floor_area_m2": np.round(rng.uniform(200, 1000, n_fac))},
        geometry=gpd.points_from_xy(*to_wgs.transform(kx + cx, ky + cy)),
        crs="EPSG:4326",
    )
    if households_per_point:
        residences = split_residences(residences, households_per_point, seed)
    return SyntheticCity(net, residences, facilities, candidates, refs, way_len, way_highway)


def split_residences(residences: gpd.GeoDataFrame, households_per_point: float, seed: int) -> gpd.GeoDataFrame:
    """Each compound → ceil(households / households_per_point) points within ±100 m, households and population
    shared out in whole numbers (totals kept exactly)."""
    rng = np.random.default_rng(seed + 1)
    hh = residences["households"].to_numpy(np.float64)
    pop = residences["population"].to_numpy(np.float64)
    parts = np.maximum(1, np.ceil(hh / households_per_point)).astype(np.int64)
    owner = np.repeat(np.arange(len(residences)), parts)
    first = np.concatenate([[0], np.cumsum(parts)[:-1]])
    rank = np.arange(owner.size) - first[owner]

    def share(total: np.ndarray) -> np.ndarray:  # whole-number split that sums to the total
        base = np.floor(total / parts)
        return base[owner] + (rank < (total - base * parts)[owner])

    xy = residences.geometry.to_crs(UTM_50N)
    x = xy.x.to_numpy()[owner] + rng.uniform(-100, 100, owner.size)
    y = xy.y.to_numpy()[owner] + rng.uniform(-100, 100, owner.size)
    out = gpd.GeoDataFrame(
        {
            "res_id": [f"P{i:08d}" for i in range(owner.size)],
            "name": residences["name"].to_numpy()[owner],
            "households": share(hh),
            "population": share(pop),
            "area_type": residences["area_type"].to_numpy()[owner],
        },
        geometry=gpd.points_from_xy(x, y),
        crs=UTM_50N,
    ).to_crs("EPSG:4326")
    return out[out["households"] > 0].reset_index(drop=True)


def write_pbf(city: SyntheticCity, path: str | Path) -> Path:
    """Write the city's street network as .osm.pbf (node ids = net.osmid, one way per street stretch / footpath)."""
    import osmium

    from siting.output import atomic_path

    path = Path(path)
    net = city.net
    with atomic_path(path) as tmp:
        writer = osmium.SimpleWriter(str(tmp))
        try:
            for i, (osmid, lon, lat) in enumerate(zip(net.osmid.tolist(), net.lon.tolist(), net.lat.tolist())):
                writer.add_node(osmium.osm.mutable.Node(id=osmid, location=(lon, lat), version=1))
            starts = np.concatenate([[0], np.cumsum(city.way_len)[:-1]])
            refs = net.osmid[city.way_refs].tolist()
            for w, (s, n, hw) in enumerate(zip(starts.tolist(), city.way_len.tolist(), city.way_highway.tolist())):
                writer.add_way(osmium.osm.mutable.Way(id=w + 1, nodes=refs[s: s + n], tags={"highway": hw}, version=1))
        finally:
            writer.close()
    return path


if __name__ == "__main__":
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Generate a synthetic city and print its size.")
    parser.add_argument("size", nargs="?", default="100k", help="10k, 100k, 1M, 10M or a number of residents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pbf", help="also write the network to this .osm.pbf")
    args = parser.parse_args()
    t0 = time.perf_counter()
    city = make_city(parse_size(args.size), seed=args.seed)
    print(f"{args.size}: {city.net.n_nodes} nodes, {city.net.n_edges} edges, {len(city.residences)} residences, "
          f"{city.residences['population'].sum():.0f} residents, {len(city.facilities)} facilities, "
          f"{len(city.candidates)} candidates ({time.perf_counter() - t0:.1f} s)")
    if args.pbf:
        write_pbf(city, args.pbf)
        print(f"wrote {args.pbf}")
