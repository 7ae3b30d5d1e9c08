"""PostGIS source and sink, against a real server (SITING_TEST_POSTGIS_URL; `.ci/setup-postgis.sh` starts one).

Expected values are checked through separate SQL (pg_indexes, pg_class) or by hand, never through the
module's own reader alone.
"""
from __future__ import annotations

import os
import secrets
import socket

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon

from siting.errors import InputError
from siting.inputs.postgis import (
    is_postgis_url,
    read_postgis_table,
    redact_url,
    write_postgis_tables,
)

NO_SERVER = "no PostGIS server: set SITING_TEST_POSTGIS_URL, .ci/run starts one (.ci/setup-postgis.sh)"


# ---------------------------------------------------------------- no server needed


@pytest.mark.parametrize(
    "text, expected",
    [
        ("postgresql://u:p@host:5432/db", True),
        ("postgres://host/db", True),
        ("POSTGRESQL://host/db", True),
        ("postgresql+psycopg://u@host/db", True),
        ("  postgresql://host/db  ", True),
        ("data/residences.gpkg", False),
        ("C:\\data\\postgresql.gpkg", False),
        ("postgresql:/host/db", False),
        ("mysql://u:p@host/db", False),
    ],
)
def test_is_postgis_url(text: str, expected: bool) -> None:
    assert is_postgis_url(text) is expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql://planner:s3cret@10.0.0.5:5432/city", "postgresql://planner:***@10.0.0.5:5432/city"),
        # unescaped @ and / in the password: everything up to the last @ before the query is userinfo
        ("postgresql://planner:p@ss/w0rd@db.local/city", "postgresql://planner:***@db.local/city"),
        ("postgresql://planner@db.local/city", "postgresql://planner@db.local/city"),
        ("postgres://db.local/city?user=a&password=topsecret&sslmode=require",
         "postgres://db.local/city?user=a&password=***&sslmode=require"),
        ("postgresql://db.local/city", "postgresql://db.local/city"),
    ],
)
def test_redact_url_hides_password(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_unreachable_server_message_names_url_without_password() -> None:
    # A loopback port nobody listens on: bind, read the port, close.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://planner:Hidden-Pa55@127.0.0.1:{port}/city"
    with pytest.raises(InputError) as caught:
        read_postgis_table(url, "residences")
    message = str(caught.value)
    assert "Hidden-Pa55" not in message
    assert f"postgresql://planner:***@127.0.0.1:{port}/city" in message
    assert "cannot connect" in message


def test_not_a_postgres_url_is_refused() -> None:
    with pytest.raises(InputError, match="not a PostgreSQL connection URL"):
        read_postgis_table("mysql://u:pw@host/db", "t")


def test_overlong_table_name_refused_before_connecting() -> None:
    # 22 Chinese characters = 66 UTF-8 bytes > 63: PostgreSQL would silently truncate it.
    name = "居" * 22
    with pytest.raises(InputError, match="63 bytes"):
        write_postgis_tables("postgresql://u:pw@127.0.0.1:1/db", {name: pd.DataFrame({"a": [1]})})


def test_crs_without_epsg_code_refused_before_connecting() -> None:
    # A local transverse Mercator (as city surveys use): pyproj only "matches" it to EPSG:8016 at 25 % confidence.
    local = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(500, 300)], crs="+proj=tmerc +lon_0=116.1 +ellps=GRS80")
    with pytest.raises(InputError, match="no EPSG code"):
        write_postgis_tables("postgresql://u:pw@127.0.0.1:1/db", {"local": local})


# ---------------------------------------------------------------- real server


@pytest.fixture(scope="module")
def server_url() -> str:
    url = os.environ.get("SITING_TEST_POSTGIS_URL")
    if not url:
        pytest.skip(NO_SERVER)
    from sqlalchemy import create_engine, text

    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1], connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT postgis_version()"))
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable server
        pytest.skip(f"{NO_SERVER} ({redact_url(url)} not usable: {type(exc).__name__})")
    finally:
        engine.dispose()
    return url


@pytest.fixture()
def schema(server_url: str):
    """A fresh schema per test, dropped afterwards, so tests never see each other's tables."""
    name = f"siting_test_{secrets.token_hex(4)}"
    yield name
    _sql(server_url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _sql(url: str, statement: str, params: dict | None = None) -> list[tuple]:
    """Independent access to the server (plain SQLAlchemy), to check what the module did."""
    from sqlalchemy import create_engine, text

    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params or {})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _residences() -> gpd.GeoDataFrame:
    """Residences per the schema contract, ids deliberately not sorted, a polygon among points, a gap."""
    return gpd.GeoDataFrame(
        {
            "res_id": ["R-003", "R-001", "R-002"],
            "name": ["幸福里小区（一期）", "和平街道 3号院", ""],
            "households": [412.0, 96.0, np.nan],
            "population": [1153.6, 268.8, 540.0],
            "area_type": ["new", "existing", "existing"],
        },
        geometry=[
            Point(116.397128, 39.916527),
            Polygon([(116.40, 39.90), (116.401, 39.90), (116.401, 39.901), (116.40, 39.90)]),
            Point(116.3912345678901, 39.9087654321098),
        ],
        crs="EPSG:4326",
    )


@pytest.mark.postgis
def test_round_trip_residences(server_url: str, schema: str) -> None:
    residences = _residences()
    write_postgis_tables(server_url, {"residences": residences}, schema=schema)

    back = read_postgis_table(server_url, "residences", schema=schema)

    assert isinstance(back, gpd.GeoDataFrame)
    assert back.crs == residences.crs
    assert list(back.columns) == list(residences.columns)
    assert back["res_id"].tolist() == ["R-003", "R-001", "R-002"]  # written order, not sorted
    assert back["name"].tolist() == ["幸福里小区（一期）", "和平街道 3号院", ""]
    assert back["area_type"].tolist() == residences["area_type"].tolist()
    np.testing.assert_array_equal(back["households"].to_numpy(), [412.0, 96.0, np.nan])
    np.testing.assert_array_equal(back["population"].to_numpy(), [1153.6, 268.8, 540.0])
    # WKB carries IEEE doubles: coordinates come back bit for bit.
    assert shapely.equals_exact(back.geometry.to_numpy(), residences.geometry.to_numpy(), tolerance=0).all()

    # The same rows seen through plain SQL, not through the module's reader.
    rows = _sql(
        server_url,
        f'SELECT res_id, name, ST_AsText(geometry), ST_SRID(geometry) FROM "{schema}".residences ORDER BY res_id',
    )
    assert rows[0] == ("R-001", "和平街道 3号院",
                       "POLYGON((116.4 39.9,116.401 39.9,116.401 39.901,116.4 39.9))", 4326)
    assert rows[2][:2] == ("R-003", "幸福里小区（一期）")

    indexes = _sql(server_url, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s", {"s": schema})
    assert [name for name, _ in indexes] == ["idx_residences_geometry"]
    assert "USING gist (geometry)" in indexes[0][1]


@pytest.mark.postgis
def test_schema_qualified_name_and_geom_column_renamed(server_url: str, schema: str) -> None:
    # A planner's table whose geometry column is called geom, written outside siting.
    _sql(server_url, f'CREATE SCHEMA "{schema}"')
    _sql(server_url, f'CREATE TABLE "{schema}"."托育设施" (fac_id text, seats double precision, geom geometry(Point, 4326))')
    _sql(server_url, f"""INSERT INTO "{schema}"."托育设施" VALUES ('N2', 60, ST_SetSRID(ST_MakePoint(116.5, 39.8), 4326)),
                                                             ('N1', NULL, ST_SetSRID(ST_MakePoint(116.6, 39.7), 4326))""")

    back = read_postgis_table(server_url, f"{schema}.托育设施")

    assert back.geometry.name == "geometry" and "geom" not in back.columns
    assert back["fac_id"].tolist() == ["N2", "N1"]
    assert back.geometry.to_numpy().tolist() == [Point(116.5, 39.8), Point(116.6, 39.7)]
    assert back.crs.to_epsg() == 4326


@pytest.mark.postgis
def test_plain_table_reads_as_dataframe(server_url: str, schema: str) -> None:
    summary = pd.DataFrame({"kind": ["elderly_day_care", "nursery"], "covered_share": [0.8125, 0.5], "stations": [13, 4]})
    write_postgis_tables(server_url, {"summary": summary}, schema=schema)

    back = read_postgis_table(server_url, "summary", schema=schema)

    assert type(back) is pd.DataFrame
    pd.testing.assert_frame_equal(back, summary, check_dtype=False)
    with pytest.raises(InputError, match="has no geometry column"):
        read_postgis_table(server_url, "summary", schema=schema, geometry_column="geometry")


@pytest.mark.postgis
def test_row_order_is_written_order(server_url: str, schema: str) -> None:
    order = np.random.default_rng(7).permutation(3000)
    frame = gpd.GeoDataFrame(
        {"res_id": [f"R{i:05d}" for i in order]},
        geometry=gpd.points_from_xy(116 + order / 1e4, 39.9 + order / 1e5),
        crs="EPSG:4326",
    )
    write_postgis_tables(server_url, {"many": frame}, schema=schema)

    back = read_postgis_table(server_url, "many", schema=schema)

    assert back["res_id"].tolist() == frame["res_id"].tolist()


def _old_and_new(schema: str, server_url: str) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Write the 'old' A (residences) and B (summary) tables; return them for comparison."""
    old_a = _residences()
    old_b = pd.DataFrame({"kind": ["nursery"], "covered_share": [0.25]})
    write_postgis_tables(server_url, {"A": old_a, "B": old_b}, schema=schema)
    return old_a, old_b


def _assert_unchanged(server_url: str, schema: str, old_a: gpd.GeoDataFrame, old_b: pd.DataFrame) -> None:
    a = read_postgis_table(server_url, "A", schema=schema)
    b = read_postgis_table(server_url, "B", schema=schema)
    assert a["res_id"].tolist() == old_a["res_id"].tolist()
    assert list(a.columns) == list(old_a.columns)
    pd.testing.assert_frame_equal(b, old_b, check_dtype=False)
    # No staging tables left behind, checked in the catalogue.
    tables = _sql(server_url, "SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1", {"s": schema})
    assert tables == [("A",), ("B",)]


@pytest.mark.postgis
def test_failed_write_rejected_by_server_keeps_old_tables(server_url: str, schema: str) -> None:
    old_a, old_b = _old_and_new(schema, server_url)
    new_a = _residences().iloc[:1].assign(res_id="NEW")
    # PostgreSQL text cannot hold NUL characters: the server rejects B' after A' was already written.
    new_b = pd.DataFrame({"kind": ["nursery\x00"], "covered_share": [0.9]})

    with pytest.raises(InputError) as caught:
        write_postgis_tables(server_url, {"A": new_a, "B": new_b}, schema=schema)

    assert f"'{schema}.B'" in str(caught.value)
    assert "no table was changed" in str(caught.value)
    _assert_unchanged(server_url, schema, old_a, old_b)


@pytest.mark.postgis
def test_unserialisable_value_midway_keeps_old_tables(server_url: str, schema: str) -> None:
    old_a, old_b = _old_and_new(schema, server_url)
    new_a = _residences().assign(res_id="NEW")
    # psycopg has no way to send a Python set: the COPY of B' fails after A' was written.
    new_b = gpd.GeoDataFrame({"kind": [{"nursery"}]}, geometry=[Point(0, 0)], crs="EPSG:4326")

    with pytest.raises(InputError, match="cannot adapt"):
        write_postgis_tables(server_url, {"A": new_a, "B": new_b}, schema=schema)

    _assert_unchanged(server_url, schema, old_a, old_b)


@pytest.mark.postgis
def test_dependent_view_blocks_replacement_of_all(server_url: str, schema: str) -> None:
    old_a, old_b = _old_and_new(schema, server_url)
    _sql(server_url, f'CREATE VIEW "{schema}".b_view AS SELECT * FROM "{schema}"."B"')

    with pytest.raises(InputError, match="depend"):
        write_postgis_tables(server_url, {"A": _residences().assign(res_id="NEW"), "B": old_b}, schema=schema)

    _sql(server_url, f'DROP VIEW "{schema}".b_view')
    _assert_unchanged(server_url, schema, old_a, old_b)


@pytest.mark.postgis
def test_successful_replacement_replaces_all(server_url: str, schema: str) -> None:
    _old_and_new(schema, server_url)
    new_a = _residences().iloc[[2, 0]]
    new_b = pd.DataFrame({"kind": ["elderly_day_care", "nursery"], "covered_share": [1.0, 0.75]})

    write_postgis_tables(server_url, {"A": new_a, "B": new_b}, schema=schema)

    assert read_postgis_table(server_url, "A", schema=schema)["res_id"].tolist() == ["R-002", "R-003"]
    pd.testing.assert_frame_equal(read_postgis_table(server_url, "B", schema=schema), new_b, check_dtype=False)
    indexes = _sql(server_url, "SELECT indexname FROM pg_indexes WHERE schemaname = :s", {"s": schema})
    assert indexes == [("idx_A_geometry",)]


@pytest.mark.postgis
def test_missing_table_lists_present_tables(server_url: str, schema: str) -> None:
    write_postgis_tables(
        server_url, {"residences": _residences(), "facilities": pd.DataFrame({"fac_id": ["F1"]})}, schema=schema
    )

    with pytest.raises(InputError) as caught:
        read_postgis_table(server_url, "residence", schema=schema)

    message = str(caught.value)
    assert f"table '{schema}.residence' not found" in message
    assert f"{schema}.facilities" in message and f"{schema}.residences" in message
    assert "spatial_ref_sys" not in message
    assert redact_url(server_url) in message
    password = server_url.split("://", 1)[1].split("@")[0].partition(":")[2]
    if password:
        assert password not in message


@pytest.mark.postgis
def test_wrong_password_message_hides_password(server_url: str) -> None:
    scheme, rest = server_url.split("://", 1)
    user = rest.split("@")[0].split(":")[0]
    host_and_db = rest.rsplit("@", 1)[1]
    url = f"{scheme}://{user}:Wrong-Pa55-xyz@{host_and_db}"

    with pytest.raises(InputError) as caught:
        read_postgis_table(url, "residences")

    message = str(caught.value)
    assert "Wrong-Pa55-xyz" not in message
    assert "cannot connect" in message
    assert f"{user}:***@" in message
