"""The online basemaps a map may offer (OpenStreetMap, 天地图 Tianditu, 高德 AutoNavi) and the `tiles` setting that
picks them: read with the project file and the command-line flags, before any work, so that an unknown name or a
missing Tianditu key stops a run at once. Drawing them is siting.reports.basemaps.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import ConfigError


@dataclass(frozen=True)
class Basemap:
    key: str
    name: str  # bilingual, as the layer switcher shows it
    urls: tuple[str, ...]  # drawn bottom to top (Tianditu: the map, then its labels)
    subdomains: str
    attribution: str
    gcj02: bool = False  # tiles drawn in GCJ-02: overlays must move with them
    needs_key: bool = False
    max_zoom: int = 19


_TDT = "https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
_TDT_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a> (国家地理信息公共服务平台)'
BASEMAPS: dict[str, tuple[Basemap, ...]] = {
    "osm": (Basemap("osm", "OpenStreetMap", ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",), "",
                    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'),),
    "tianditu": (
        Basemap("tianditu_vec", "天地图 Tianditu 矢量 vector", (_TDT % ("vec", "vec"), _TDT % ("cva", "cva")), "01234567", _TDT_ATTR,
                needs_key=True, max_zoom=18),
        Basemap("tianditu_img", "天地图 Tianditu 影像 imagery", (_TDT % ("img", "img"), _TDT % ("cia", "cia")), "01234567", _TDT_ATTR,
                needs_key=True, max_zoom=18),
    ),
    "amap": (Basemap("amap", "高德 AutoNavi (GCJ-02)",
                     ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",), "1234",
                     '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a>', gcj02=True, max_zoom=18),),
}


def parse_tiles(value: str | Sequence[str] | None, *, file: Any = None) -> tuple[str, ...]:
    """`tiles` from the project file or `--tiles`: none, one name, a comma-separated string or a list; 'all' = every one."""
    if value is None or value == "" or value is False:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if name == "all":
            names += [n for n in BASEMAPS if n not in names]
        elif name in BASEMAPS:
            names += [name] if name not in names else []
        elif name:
            raise ConfigError(f"unknown basemap {item!r}", file=file, column="tiles",
                              expected=f"no basemap (offline, the default) or any of {', '.join(BASEMAPS)}, all; e.g. tiles = [\"osm\", \"amap\"]",
                              fix="leave tiles unset for an offline map, or name basemaps from the list (they need internet)")
    return tuple(names)


def resolve_tianditu_key(tiles: Sequence[str], project_key: str | None = None) -> str | None:
    """The Tianditu key: TIANDITU_KEY from the environment, else [project] tianditu_key. It ends up in the HTML."""
    if "tianditu" not in tiles:
        return None
    key = os.environ.get("TIANDITU_KEY") or project_key
    if not key:
        raise ConfigError("the Tianditu basemap needs a key, and none is set", column="tianditu_key",
                          expected="a 天地图 key (apply at https://console.tianditu.gov.cn/)",
                          fix="set the environment variable TIANDITU_KEY or tianditu_key in [project], or drop 'tianditu' from tiles")
    return str(key)
