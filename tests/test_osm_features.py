"""OSM features read with pyosmium, checked against an independent xml.etree pass over the same file, against
pyrosm on its own test extract, and (pbf vs bz2) against the same extract in the other format."""
from __future__ import annotations

import bz2
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from conftest import shared_file
from geopandas.testing import assert_geodataframe_equal

from siting.errors import InputError
from siting.inputs.osm_features import (
    RESIDENTIAL_BUILDINGS,
    read_osm_candidate_sites,
    read_osm_facilities,
    read_osm_residential_buildings,
)
from siting.inputs.schema import FACILITY_COLUMNS

TAGS_OSM = Path(__file__).resolve().parent / "fixtures" / "layers" / "osm_tags.osm"


class EtreeOsm:
    """A plain xml.etree reading of an .osm / .osm.bz2 file: node coordinates and tagged ways/relations."""

    def __init__(self, path: Path) -> None:
        opener = bz2.open if path.name.endswith(".bz2") else open
        with opener(path, "rb") as handle:
            root = ET.parse(handle).getroot()
        self.nodes = {el.get("id"): (float(el.get("lon")), float(el.get("lat"))) for el in root.iter("node")}
        self.objects: list[tuple[str, dict[str, str], list[str]]] = []
        for element in root:
            if element.tag in ("node", "way", "relation"):
                tags = {t.get("k"): t.get("v") for t in element.findall("tag")}
                refs = [nd.get("ref") for nd in element.findall("nd")]
                self.objects.append((f"{element.tag}/{element.get('id')}", tags, refs))

    def ids(self, predicate, *, areas_only: bool = False) -> set[str]:
        """Ids of nodes, closed ways and multipolygon relations whose tags pass `predicate`."""
        out = set()
        for osm_id, tags, refs in self.objects:
            if not predicate(tags):
                continue
            if osm_id.startswith("way/") and not (len(refs) >= 4 and refs[0] == refs[-1]):
                continue
            if osm_id.startswith("relation/") and tags.get("type") != "multipolygon":
                continue
            if areas_only and osm_id.startswith("node/"):
                continue
            out.add(osm_id)
        return out

    def ring(self, osm_id: str) -> np.ndarray:
        refs = next(r for i, _, r in self.objects if i == osm_id)
        return np.array([self.nodes[r] for r in refs])


def assert_identical(left: gpd.GeoDataFrame, right: gpd.GeoDataFrame) -> None:
    """Same columns and values, and byte-identical geometry (not just topologically equal)."""
    assert_geodataframe_equal(left, right)
    assert left.geometry.to_wkb().tolist() == right.geometry.to_wkb().tolist()


def _utm50_area_m2(ring_lonlat: np.ndarray) -> float:
    """Shoelace formula on the ring projected to UTM 50N (Beijing)."""
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(
        ring_lonlat[:, 0], ring_lonlat[:, 1])
    return abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2.0


# ------------------------------------------------------------------------------------------------ BUPT, Beijing


def test_bupt_residential_buildings_match_etree():
    path = shared_file("bupt_beijing", "map.osm")
    got = read_osm_residential_buildings(path)
    reference = EtreeOsm(path)
    want = reference.ids(lambda t: t.get("building") in RESIDENTIAL_BUILDINGS, areas_only=True)
    assert set(got["osm_id"]) == want
    assert len(got) == len(want)
    assert (got["building"] == "apartments").sum() == 30  # data README
    dormitory_ways = {i for i in want if i.startswith("way/")} & set(got.loc[got["building"] == "dormitory", "osm_id"])
    assert len(dormitory_ways) == 11
    assert got.crs.to_epsg() == 4326 and set(got.geom_type) <= {"Polygon", "MultiPolygon"}
    for osm_id, geom in zip(got["osm_id"], got.geometry):
        if osm_id.startswith("way/"):
            ring = reference.ring(osm_id)
            exterior = np.asarray(geom.exterior.coords)
            assert len(exterior) == len(ring)
            assert shapely.Polygon(exterior).equals(shapely.Polygon(ring))
    levels = dict(zip(got["osm_id"], got["levels"]))
    for osm_id, tags, _ in reference.objects:
        if osm_id in levels:
            assert levels[osm_id] == tags.get("building:levels", "")


def test_bupt_childcare_is_the_one_nursery_with_estimated_floor_area():
    path = shared_file("bupt_beijing", "map.osm")
    got = read_osm_facilities(path)
    reference = EtreeOsm(path)
    want = reference.ids(lambda t: t.get("amenity") in ("childcare", "kindergarten"))
    assert want == {"way/399041102"}
    assert tuple(got.columns) == FACILITY_COLUMNS[:-1] + ("capacity_source", "geometry")
    assert got["fac_id"].tolist() == ["way/399041102"]
    row = got.iloc[0]
    assert row["name"] == "北京邮电大学幼儿园" and row["kind"] == "nursery"
    assert row["capacity_source"] == "missing" and np.isnan(row["seats"])  # no capacity tag
    # no building:levels: one storey x footprint
    assert row["floor_area_m2"] == pytest.approx(_utm50_area_m2(reference.ring("way/399041102")), rel=1e-3)


# ------------------------------------------------------------------------------------------------ Aguascalientes


@pytest.mark.parametrize("reader", [read_osm_facilities, read_osm_candidate_sites, read_osm_residential_buildings])
def test_pbf_and_bz2_give_identical_frames(reader):
    pbf = reader(shared_file("osmnx", "aguascalientes.osm.pbf"))
    xml = reader(shared_file("osmnx", "aguascalientes.osm.bz2"))
    assert_identical(pbf, xml)


def test_aguascalientes_kindergartens_and_schools_match_etree():
    path = shared_file("osmnx", "aguascalientes.osm.bz2")
    reference = EtreeOsm(path)
    facilities = read_osm_facilities(path)
    kindergartens = reference.ids(lambda t: t.get("amenity") == "kindergarten")
    assert len(kindergartens) == 11  # data README
    assert set(facilities["fac_id"]) == kindergartens
    assert (facilities["kind"] == "nursery").all()
    sites = read_osm_candidate_sites(path)
    schools = reference.ids(lambda t: t.get("amenity") == "school")
    assert set(sites.loc[sites["source_tag"] == "amenity=school", "site_id"]) == schools
    assert len(schools) == 15
    node = facilities.loc[facilities["fac_id"] == "node/3802274461"].iloc[0]
    assert node["name"] == "Jesus Gomez Portugal"
    assert (node.geometry.x, node.geometry.y) == reference.nodes["3802274461"]


# ------------------------------------------------------------------------------------------------ pyrosm extract


def test_pyrosm_test_extract_matches_pyrosm():
    pyrosm = pytest.importorskip("pyrosm")
    path = pyrosm.get_data("test_pbf")
    got = read_osm_facilities(path)
    assert sorted(got["name"]) == ["Malmingin päiväkoti", "Otsonkallio"]
    assert got["kind"].tolist() == ["nursery", "nursery"]
    pois = pyrosm.OSM(path).get_pois(custom_filter={"amenity": ["kindergarten", "childcare"]})
    assert sorted(pois["name"]) == sorted(got["name"])
    peer_ids = {f"{t}/{i}" for t, i in zip(pois["osm_type"], pois["id"])}
    assert peer_ids == set(got["fac_id"])


# ------------------------------------------------------------------------------------------------ tagging cases


def test_tagging_decisions_on_hand_made_file():
    got = read_osm_facilities(TAGS_OSM).set_index("fac_id")
    # node/2 (amenity=nursing_home) is residential care, not day care; way/103 is unclosed
    assert got.index.tolist() == ["node/1", "node/3", "node/5", "way/101"]
    assert got.loc["node/1", "kind"] == "elderly_day_care"  # social_facility:for = senior;disabled
    assert got.loc["node/1", "places"] == 30.0 and got.loc["node/1", "capacity_source"] == "missing"
    assert got.loc["node/3", "kind"] == "nursery"  # day_care for child
    assert got.loc["node/5", "kind"] == "elderly_day_care"  # outreach for elderly
    kindergarten = got.loc["way/101"]
    assert kindergarten["seats"] == 45.0 and kindergarten["capacity_source"] == "osm_tag"
    assert kindergarten["name"] == "<b>幼儿园</b>"  # kept as given
    reference = EtreeOsm(TAGS_OSM)
    assert kindergarten["floor_area_m2"] == pytest.approx(2 * _utm50_area_m2(reference.ring("way/101")), rel=1e-3)
    assert kindergarten.geometry.geom_type == "Polygon"

    sites = read_osm_candidate_sites(TAGS_OSM)
    assert sites[["site_id", "source_tag"]].values.tolist() == [
        ["node/4", "amenity=community_centre"], ["way/102", "landuse=brownfield"], ["way/104", "amenity=townhall"]]


def test_hand_made_file_in_bz2_gives_the_same_frames(tmp_path):
    compressed = tmp_path / "tags.osm.bz2"
    with open(TAGS_OSM, "rb") as src, bz2.open(compressed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert_identical(read_osm_facilities(compressed), read_osm_facilities(TAGS_OSM))
    assert_identical(read_osm_candidate_sites(compressed), read_osm_candidate_sites(TAGS_OSM))


def test_no_matches_give_empty_frames_with_the_columns(tmp_path):
    path = tmp_path / "empty.osm"
    path.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat="39.9" lon="116.3" version="1"/></osm>')
    buildings = read_osm_residential_buildings(path)
    assert len(buildings) == 0 and list(buildings.columns) == ["osm_id", "building", "levels", "name", "geometry"]
    facilities = read_osm_facilities(path)
    assert len(facilities) == 0 and isinstance(facilities, gpd.GeoDataFrame)


def test_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="OpenStreetMap file not found"):
        read_osm_facilities(tmp_path / "missing.osm.pbf")
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"this is not a pbf file")
    with pytest.raises(InputError, match="cannot read OpenStreetMap data"):
        read_osm_facilities(broken)
