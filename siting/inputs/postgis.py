"""PostgreSQL/PostGIS as a source of input layers and a sink of results.

Planning departments keep their layers in PostGIS. A layer is named by a connection URL
(``postgresql://user:password@host:port/database``) plus a table name. Results are written in one
transaction, so a failed run never leaves half-replaced tables behind. Every message shows the URL
with its password hidden.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import geopandas as gpd
import pandas as pd
import shapely

from ..errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: URL schemes a user may write; all are served by the psycopg 3 driver.
_SCHEMES = ("postgresql", "postgres")
_DRIVER_SCHEME = "postgresql+psycopg"
#: PostgreSQL silently truncates longer identifiers (NAMEDATALEN - 1 bytes).
_MAX_IDENTIFIER_BYTES = 63
_CONNECT_TIMEOUT_S = 10
#: Relation kinds a layer may be read from: table, view, materialized view, partitioned table, foreign table.
_READABLE_KINDS = ("r", "v", "m", "p", "f")
#: PostGIS catalogue relations that are not planners' layers.
_POSTGIS_CATALOGUE = ("spatial_ref_sys", "geometry_columns", "geography_columns", "raster_columns", "raster_overviews")
_MAX_TABLES_LISTED = 40
#: shapely geometry type id -> PostGIS type name.
_GEOMETRY_TYPE_NAMES = {
    0: "POINT", 1: "LINESTRING", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT",
    5: "MULTILINESTRING", 6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION",
}


def is_postgis_url(text: str) -> bool:
    """True for ``postgresql://…``, ``postgres://…`` and ``postgresql+driver://…`` (what a layer path may be)."""
    scheme, sep, _ = str(text).strip().partition("://")
    scheme = scheme.lower()
    return bool(sep) and (scheme in _SCHEMES or scheme.startswith("postgresql+"))


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (also a ``password=`` query parameter), for messages."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if sep:
        query_at = rest.find("?")
        at = rest.rfind("@", 0, query_at if query_at >= 0 else len(rest))
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            rest = f"{user}:***{rest[at:]}"
        text = scheme + sep + rest
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", text)


def read_postgis_table(
    url: str, table: str, *, geometry_column: str | None = None, schema: str | None = None
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read a table (or view) as a GeoDataFrame, or a DataFrame when it has no geometry column.

    `table` may be written ``schema.table``; without a schema the server's current schema (usually
    ``public``) is used. The geometry column is found in PostGIS's ``geometry_columns``; when there are
    several, ``geometry``/``geom`` wins or `geometry_column` must choose. The active geometry column is
    always called ``geometry`` in the result, as for file layers. Rows come back in storage order,
    which for tables written by :func:`write_postgis_tables` is the order they were written in.
    """
    from sqlalchemy import text

    if schema is None and "." in table:
        schema, table = table.split(".", 1)
    with _connection(url) as conn:
        if schema is None:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        where = f"{redact_url(url)} table {schema}.{table}"
        kind = conn.execute(
            text(
                "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relname = :table AND c.relkind = ANY(:kinds)"
            ),
            {"schema": schema, "table": table, "kinds": list(_READABLE_KINDS)},
        ).scalar_one_or_none()
        if kind is None:
            present = _list_tables(conn)
            listed = ", ".join(present[:_MAX_TABLES_LISTED]) + (" …" if len(present) > _MAX_TABLES_LISTED else "")
            raise InputError(
                f"table '{schema}.{table}' not found in the database",
                file=where,
                expected=f"one of the tables present: {listed}" if present else "a table, but the database has none",
                fix="check the spelling (PostgreSQL names are case-sensitive) and the schema, "
                "or load the layer into the database first",
            )
        geometry_columns = _geometry_columns(conn, schema, table)
        chosen = _choose_geometry_column(geometry_columns, geometry_column, where)
        quoted = f"{_quote(schema)}.{_quote(table)}"
        # ctid is the physical row position: stable for an unchanged table, and the insertion order of a fresh one.
        order = " ORDER BY ctid" if kind in ("r", "m") else ""
        sql = text(f"SELECT * FROM {quoted}{order}")
        if chosen is None:
            return pd.read_sql(sql, conn)
        frame = gpd.read_postgis(sql, conn, geom_col=chosen)
        srid = geometry_columns[chosen]
        if frame.crs is None and srid > 0:
            frame = frame.set_crs(epsg=srid)
    if chosen != "geometry" and "geometry" not in frame.columns:
        frame = frame.rename_geometry("geometry")
    return frame


def write_postgis_tables(
    url: str, tables: dict[str, gpd.GeoDataFrame | pd.DataFrame], *, schema: str = "public"
) -> None:
    """Create or replace every table of `tables` in one transaction: all are replaced, or none is.

    Each frame is first written under a temporary name, then the old tables are dropped and the new
    ones renamed, all before the single COMMIT; readers see the old tables until then. Geometry
    columns get a GiST index (``idx_<table>_<column>``). Rows keep the frame's order; the frame's
    index is not written (ids belong in columns). A table that views depend on is not dropped: the
    write fails and nothing changes.
    """
    import psycopg
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    _check_tables(tables, url, schema)
    token = secrets.token_hex(6)
    with _connection(url) as conn:
        current = next(iter(tables), "")
        try:
            with conn.begin():
                schema_exists = conn.execute(
                    text("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :schema)"), {"schema": schema}
                ).scalar_one()
                if not schema_exists:
                    conn.execute(text(f"CREATE SCHEMA {_quote(schema)}"))
                staged: list[tuple[str, str, str | None]] = []
                for number, (name, frame) in enumerate(tables.items()):
                    current = name
                    staging_name = f"_siting_new_{token}_{number}"
                    geometry = _write_frame(conn, frame, staging_name, schema)
                    staged.append((name, staging_name, geometry))
                for name, staging_name, geometry in staged:
                    current = name
                    conn.execute(text(f"DROP TABLE IF EXISTS {_quote(schema)}.{_quote(name)}"))
                    conn.execute(text(f"ALTER TABLE {_quote(schema)}.{_quote(staging_name)} RENAME TO {_quote(name)}"))
                    if geometry is not None:
                        conn.execute(
                            text(
                                f"CREATE INDEX {_quote(_index_name(name, geometry))} "
                                f"ON {_quote(schema)}.{_quote(name)} USING GIST ({_quote(geometry)})"
                            )
                        )
        except (SQLAlchemyError, psycopg.Error, pd.errors.DatabaseError) as exc:
            raise InputError(
                f"writing table '{schema}.{current}' failed ({_reason(exc, url)}); the transaction was rolled back "
                "and no table was changed",
                file=redact_url(url),
                expected="a database user allowed to create and drop these tables, and values PostgreSQL accepts",
                fix="read the database's reason above; drop views that depend on the table, "
                "or remove NUL characters from text",
            ) from None


def _write_frame(conn: Connection, frame: pd.DataFrame, name: str, schema: str) -> str | None:
    """Write one frame as a new table; return its geometry column name (None for a plain table).

    Rows go in with COPY through psycopg, which keeps '' and NULL apart (geopandas' CSV COPY merges them).
    """
    dtype = None
    geometry = None
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        from geoalchemy2 import Geometry

        geometry = frame.geometry.name
        srid = _srid(frame)
        shapes = frame.geometry.to_numpy()
        present = shapes[~shapely.is_missing(shapes)]
        kinds = {_GEOMETRY_TYPE_NAMES[type_id] for type_id in shapely.get_type_id(present).tolist()}
        geometry_type = kinds.pop() if len(kinds) == 1 else "GEOMETRY"
        if shapely.has_z(present).any():
            geometry_type += "Z"
        frame = pd.DataFrame(frame, copy=False).assign(
            **{geometry: shapely.to_wkb(shapely.set_srid(shapes, srid), hex=True, include_srid=True)}
        )
        # The spatial index is made after the rename, so that it carries the final table name.
        dtype = {geometry: Geometry(geometry_type=geometry_type, srid=srid, spatial_index=False)}
    pd.DataFrame(frame).to_sql(name, conn, schema=schema, if_exists="fail", index=False, dtype=dtype, method=_copy_rows)
    return geometry


def _copy_rows(table, conn: Connection, keys: list[str], rows) -> int:
    """pandas `to_sql` insertion method: COPY with psycopg's own value adaptation."""
    columns = ", ".join(_quote(key) for key in keys)
    target = f"{_quote(table.schema)}.{_quote(table.name)}" if table.schema else _quote(table.name)
    count = 0
    with conn.connection.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _srid(frame: gpd.GeoDataFrame, where: str = "") -> int:
    """The EPSG code PostGIS stores as SRID; 0 when the frame has no CRS.

    Confidence 70 (pyproj's default): lower confidences match unrelated CRSs.
    """
    if frame.crs is None:
        return 0
    code = frame.crs.to_epsg(min_confidence=70)
    if code is None:
        raise InputError(
            f"the coordinate reference system has no EPSG code ({frame.crs.name})",
            file=where or None,
            expected="a CRS with an EPSG code, such as EPSG:4326 (WGS 84) or EPSG:4490 (CGCS2000)",
            fix="reproject the layer to EPSG:4326 before writing it to PostGIS",
        )
    return int(code)


def _check_tables(tables: dict[str, pd.DataFrame], url: str, schema: str) -> None:
    """Refuse names PostgreSQL would truncate or frames it cannot hold, before touching the database."""
    where = redact_url(url)
    if not tables:
        raise InputError("no tables to write", file=where, expected="at least one table", fix="pass tables to write")
    for name in [schema, *tables]:
        if not isinstance(name, str) or not name or len(name.encode("utf-8")) > _MAX_IDENTIFIER_BYTES:
            raise InputError(
                f"table or schema name {name!r} is not usable",
                file=where,
                expected=f"a non-empty name of at most {_MAX_IDENTIFIER_BYTES} bytes (PostgreSQL truncates longer names)",
                fix="choose a shorter name",
            )
    for name, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise InputError(
                f"table '{name}' is a {type(frame).__name__}",
                file=where,
                expected="a pandas DataFrame or geopandas GeoDataFrame",
                fix="convert it to a DataFrame before writing",
            )
        if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
            _srid(frame, f"{where} table {schema}.{name}")
        for column in frame.columns:
            if not isinstance(column, str) or len(column.encode("utf-8")) > _MAX_IDENTIFIER_BYTES:
                raise InputError(
                    f"table '{name}' has a column name PostgreSQL cannot keep",
                    file=where,
                    column=str(column),
                    expected=f"a text name of at most {_MAX_IDENTIFIER_BYTES} bytes",
                    fix="rename the column",
                )


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    """A connection through psycopg 3; an unreachable server becomes a planner-readable InputError."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    if not is_postgis_url(url):
        raise InputError(
            "not a PostgreSQL connection URL",
            file=redact_url(url),
            expected="postgresql://user:password@host:port/database",
            fix="write the layer as a postgresql:// URL, or as a file path",
        )
    try:
        engine = create_engine(
            _driver_url(url),
            poolclass=NullPool,
            connect_args={"connect_timeout": _CONNECT_TIMEOUT_S, "application_name": "siting"},
        )
    except (SQLAlchemyError, ValueError) as exc:
        raise InputError(
            f"the connection URL cannot be parsed ({_reason(exc, url)})",
            file=redact_url(url),
            expected="postgresql://user:password@host:port/database (percent-encode @ : / in the password)",
            fix="correct the URL",
        ) from None
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise InputError(
                f"cannot connect to the PostgreSQL server ({_reason(exc, url)})",
                file=redact_url(url),
                expected="a running PostgreSQL server with PostGIS, reachable from this machine, "
                "and a valid database, user and password",
                fix="check host, port, database, user and password in the URL, and that the server is running "
                "and accepts connections from this machine",
            ) from None
        with conn:
            yield conn
    finally:
        engine.dispose()


def _driver_url(url: str) -> str:
    """Users write postgresql:// or postgres://; SQLAlchemy needs the psycopg 3 driver named."""
    _, _, rest = str(url).strip().partition("://")
    return f"{_DRIVER_SCHEME}://{rest}"


def _reason(exc: BaseException, url: str) -> str:
    """The server's first lines of complaint, with the password scrubbed in case a driver echoed it."""
    original: BaseException = exc
    while original.__cause__ is not None:  # pandas wraps SQLAlchemy, which wraps psycopg
        original = original.__cause__
    original = getattr(original, "orig", None) or original
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    reason = "; ".join(line for line in lines[:3] if not line.startswith(("[SQL:", "(Background on")))
    password = _password(url)
    if password:
        reason = reason.replace(password, "***")
    return redact_url(reason)


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(_driver_url(url)).password
    except Exception:
        return None


def _list_tables(conn: Connection) -> list[str]:
    """Layers a user could have meant: tables and views outside the system schemas, as schema.name."""
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = ANY(:kinds) AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%' AND NOT (c.relname = ANY(:catalogue)) "
            "ORDER BY n.nspname, c.relname"
        ),
        {"kinds": list(_READABLE_KINDS), "catalogue": list(_POSTGIS_CATALOGUE)},
    ).all()
    return [f"{schema}.{name}" for schema, name in rows]


def _geometry_columns(conn: Connection, schema: str, table: str) -> dict[str, int]:
    """Geometry column name -> SRID (0 = undeclared), in column order; empty without PostGIS."""
    from sqlalchemy import text

    has_postgis = conn.execute(text("SELECT to_regclass('geometry_columns') IS NOT NULL")).scalar_one()
    if not has_postgis:
        return {}
    rows = conn.execute(
        text(
            "SELECT g.f_geometry_column, g.srid FROM geometry_columns g "
            "JOIN pg_attribute a ON a.attrelid = format('%I.%I', g.f_table_schema, g.f_table_name)::regclass "
            "AND a.attname = g.f_geometry_column "
            "WHERE g.f_table_schema = :schema AND g.f_table_name = :table ORDER BY a.attnum"
        ),
        {"schema": schema, "table": table},
    ).all()
    return {str(name): int(srid or 0) for name, srid in rows}


def _choose_geometry_column(columns: dict[str, int], wanted: str | None, where: str) -> str | None:
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise InputError(
            f"geometry column '{wanted}' not found" if columns else "the table has no geometry column",
            file=where,
            column=wanted,
            expected=f"one of the geometry columns: {', '.join(columns)}" if columns else "a PostGIS geometry column",
            fix="name an existing geometry column, or point at a table with geometry",
        )
    if len(columns) <= 1:
        return next(iter(columns), None)
    for preferred in ("geometry", "geom", "the_geom"):
        if preferred in columns:
            return preferred
    raise InputError(
        f"the table has several geometry columns ({', '.join(columns)})",
        file=where,
        expected="one geometry column, or the one to use named",
        fix="name the geometry column to use (geometry_column)",
    )


def _index_name(table: str, column: str) -> str:
    """The spatial index name (GeoAlchemy2's convention), hashed when PostgreSQL would otherwise truncate it."""
    name = f"idx_{table}_{column}"
    if len(name.encode("utf-8")) <= _MAX_IDENTIFIER_BYTES:
        return name
    return f"idx_{hashlib.sha1(name.encode('utf-8')).hexdigest()[:20]}"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
