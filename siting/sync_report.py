"""The 四同步 compliance report: one HTML page (a table per development with coloured verdicts, the map in an
iframe), a CSV with one row per development × phase × kind × check, a CSV of the date checks (implausible dates
treated as missing), and a JSON summary with the city-level indicator and the profile figures used. Every verdict
names the clause it is judged by and, in `basis`, any figure it rests on that is inherited from another profile or
unconfirmed. Every string from an input file is html.escape'd."""
from __future__ import annotations

import datetime as dt
import html
import os
from pathlib import Path
from typing import Any

import folium
import numpy as np
import pandas as pd

from .maps import CATCHMENT_COLORS, save_map
from .output import ensure_writable_dir, write_csv, write_json, write_text
from .schema import KIND_LABEL, KINDS
from .sync import INDICATOR, VERDICT_LABEL, SyncResult

VERDICT_COLOR = {"pass": "#c7e9c0", "fail": "#fcbba1", "not_yet_due": "#deebf7", "missing_data": "#fdd49e"}
FILES = {"html": "sync_report.html", "map": "sync_map.html", "csv": "sync_checks.csv",
         "developments_csv": "sync_developments.csv", "date_checks_csv": "sync_date_checks.csv", "json": "sync_report.json"}
_COLUMNS = [  # (column, bilingual header)
    ("phase", "分期 Phase"), ("check_label", "检查 Check"), ("verdict_label", "结论 Verdict"),
    ("housing_date", "住宅日期 Housing date"), ("facility_date", "设施日期 Facility date"),
    ("days_late", "逾期天数 Days late"), ("required", "标准要求 Required"), ("provided", "实际提供 Provided"),
    ("shortfall", "缺口 Shortfall"), ("unit", "单位 Unit"), ("households_outside", "步行范围外户数 Households outside"),
    ("facility_ids", "设施 Facilities"), ("note", "说明 Note"), ("clause", "依据 Clause"),
    ("basis", "依据说明 Figure inherited / unconfirmed"),
]
_DATE_COLUMNS = [("record", "记录 Record"), ("file", "文件 File"), ("row", "行 Row"), ("column", "列 Column"),
                 ("value", "日期 Date"), ("problem", "问题 Problem"), ("fix", "修改 Fix")]


def write_report(result: SyncResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the HTML page, its map, the CSV tables and the JSON summary into `out_dir`; returns {role: path}."""
    out = ensure_writable_dir(out_dir)
    checks = result.checks.copy()
    for col in ("housing_date", "facility_date"):
        if col in checks:
            checks[col] = checks[col].map(lambda d: d.isoformat() if isinstance(d, dt.date) else "")
    paths = {
        "csv": write_csv(out / FILES["csv"], checks),
        "developments_csv": write_csv(out / FILES["developments_csv"], result.developments),
        "date_checks_csv": write_csv(out / FILES["date_checks_csv"], result.date_checks),
        "json": write_json(out / FILES["json"], {**result.summary, "checks": _records(checks),
                                                   "developments": _records(result.developments),
                                                   "date_check_rows": _records(result.date_checks)}),
        "map": save_map(sync_map(result), out / FILES["map"]),
    }
    paths["html"] = write_text(out / FILES["html"], report_html(result, checks, FILES["map"]))
    return paths


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.drop(columns="geometry", errors="ignore").astype(object)
    return frame.where(pd.notna(frame), None).to_dict(orient="records")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
    return html.escape(str(value))


def report_html(result: SyncResult, checks: pd.DataFrame, map_file: str) -> str:
    s = result.summary
    ind = s["indicator"]
    rate = "–" if ind["value"] is None else f"{ind['value']:.0%}"
    strict = "–" if ind["strict_value"] is None else f"{ind['strict_value']:.0%}"
    parts = [
        "<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'>",
        "<title>四同步 配套设施检查 Four-synchronizations check</title>",
        "<style>body{font:14px/1.4 sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top}th{background:#eee}"
        "iframe{width:100%;height:520px;border:1px solid #bbb}.legend span{padding:2px 8px;margin-right:6px}</style>",
        "</head><body>",
        "<h1>新建居住区配套养老托育设施“四同步”检查<br>Four-synchronizations check of new residential developments</h1>",
        f"<p>截至 As of <b>{html.escape(s['as_of'])}</b> · 标准 Profile <b>{html.escape(str(s['profile_title']))}</b>"
        f" · 交付规则 Delivery rule <b>{html.escape(s['delivery_rule'])}</b> · 容许天数 Tolerance {s['tolerance_days']:g} d</p>",
        f"<p><b>{html.escape(INDICATOR)}</b> (share of new developments meeting the elderly-care facility standard): "
        f"<b>{rate}</b> (全部检查通过 all checks passed: {strict}) — {html.escape(ind['definition'])}</p>",
        "<p class='legend'>" + "".join(f"<span style='background:{VERDICT_COLOR[v]}'>{html.escape(label)}</span>"
                                       for v, label in VERDICT_LABEL.items()) + "</p>",
        f"<iframe src='{html.escape(map_file)}' title='map'></iframe>",
        *_date_checks_html(result.date_checks),
        *_figures_html(s),
    ]
    status = result.developments
    for dev, group in checks.groupby("development_id", sort=False):
        name = group["development_name"].iat[0]
        parts.append(f"<h2>{_cell(dev)} {_cell(name)}</h2><p>")
        for _, st in status[status["development_id"] == dev].iterrows():
            parts.append(f"<span style='background:{VERDICT_COLOR[st['status']]};padding:2px 8px'>"
                         f"{html.escape(KIND_LABEL[st['kind']])}: {html.escape(st['status_label'])}</span> ")
        parts.append("</p>")
        for kind in KINDS:
            rows = group[group["kind"] == kind]
            if rows.empty:
                continue
            parts.append(f"<table><caption>{html.escape(KIND_LABEL[kind])}</caption><tr>"
                         + "".join(f"<th>{html.escape(h)}</th>" for _, h in _COLUMNS) + "</tr>")
            for _, r in rows.iterrows():
                cells = []
                for col, _ in _COLUMNS:
                    style = f" style='background:{VERDICT_COLOR[r['verdict']]}'" if col == "verdict_label" else ""
                    title = f" title='{_cell(r.get('source'))}'" if col == "clause" else ""
                    cells.append(f"<td{style}{title}>{_cell(r.get(col))}</td>")
                parts.append("<tr>" + "".join(cells) + "</tr>")
            parts.append("</table>")
    parts.append("<p>Verdicts: see the siting.sync module documentation. 数据 CSV: "
                 f"{html.escape(FILES['csv'])}; JSON: {html.escape(FILES['json'])}.</p></body></html>")
    return "\n".join(parts)


def _table(frame: pd.DataFrame, columns: list[tuple[str, str]], caption: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c, _ in columns) + "</tr>" for _, r in frame.iterrows())
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _date_checks_html(date_checks: pd.DataFrame) -> list[str]:
    if date_checks.empty:
        return []
    return [f"<h2>日期核查 Date checks: {len(date_checks)}</h2><p>These dates cannot be right; the checks that need "
            "them are reported as missing data (缺少数据), never as days late. Correct the cells and run again.</p>",
            _table(date_checks, _DATE_COLUMNS, "不可信的日期 Implausible dates")]


def _figures_html(summary: dict) -> list[str]:
    """The profile figures the verdicts rest on, saying which are inherited and which unconfirmed."""
    rows = []
    for key, fig in summary.get("profile_figures", {}).items():
        value = fig["value"]
        value = "/".join(value) if isinstance(value, list) else f"{value:g}" if isinstance(value, (int, float)) else value
        rows.append({"key": key, "value": f"{value} {fig['unit']}",
                     "set_by": f"inherited from {fig['inherited_from']}" if fig["inherited_from"] else str(summary["profile"]),
                     "confirmed": "yes" if fig["confirmed"] else "no: unconfirmed, enforced and flagged",
                     "clause": fig["clause"], "source": fig["source"]})
    columns = [("key", "指标 Figure"), ("value", "数值 Value"), ("set_by", "来源标准 Set by"),
               ("confirmed", "已核实 Confirmed"), ("clause", "条文 Clause"), ("source", "出处 Source")]
    return ["<h2>标准依据 Figures the verdicts rest on</h2>", _table(pd.DataFrame(rows), columns, str(summary["profile_title"]))]


def sync_map(result: SyncResult) -> folium.Map:
    """Developments (outline or point, coloured by elderly-care status), facilities and their walking catchments."""
    phases, facilities = result.phases, result.facilities
    located = [g for g in list(phases.geometry) + list(facilities.geometry) if g is not None]
    if located:
        import shapely

        minx, miny, maxx, maxy = shapely.GeometryCollection(located).bounds
        center = [(miny + maxy) / 2, (minx + maxx) / 2]
    else:
        center, minx = [0.0, 0.0], None
    m = folium.Map(location=center, zoom_start=14, tiles=None, control_scale=True)
    if result.catchments is not None and len(result.catchments):
        for kind in KINDS:
            sub = result.catchments[result.catchments["kind"] == kind]
            if len(sub):
                color = CATCHMENT_COLORS[kind]
                folium.GeoJson(sub[["source_id", "geometry"]].to_json(), name=f"步行范围 Catchment: {KIND_LABEL[kind]}",
                               style_function=lambda _f, c=color: {"color": c, "weight": 1, "fillOpacity": 0.12}).add_to(m)
    status = result.developments[result.developments["kind"] == KINDS[0]].set_index("development_id")["status"]
    group = folium.FeatureGroup(name="开发项目 Developments")
    for _, ph in phases.iterrows():
        if ph.geometry is None:
            continue
        color = {"pass": "#1a9850", "fail": "#d73027", "not_yet_due": "#4575b4", "missing_data": "#fdae61"}[status.get(ph["development_id"], "missing_data")]
        popup = html.escape(f"{ph['development_id']} {ph['name']} · 分期 phase {ph['phase']} · {ph['households']:g} 户 households")
        if ph.geometry.geom_type == "Point":
            folium.CircleMarker([ph.geometry.y, ph.geometry.x], radius=7, color=color, fill=True, popup=popup).add_to(group)
        else:
            folium.GeoJson(ph.geometry.__geo_interface__, style_function=lambda _f, c=color: {"color": c, "weight": 2},
                           popup=folium.Popup(popup)).add_to(group)
    group.add_to(m)
    fgroup = folium.FeatureGroup(name="配套设施 Facilities")
    for _, f in facilities.iterrows():
        if f.geometry is None:
            continue
        pt = f.geometry if f.geometry.geom_type == "Point" else f.geometry.representative_point()
        popup = html.escape(f"{f['fac_id']} {f['name']} · {KIND_LABEL[f['kind']]} · {';'.join(f['development_ids'])}")
        folium.RegularPolygonMarker([pt.y, pt.x], number_of_sides=4, radius=6, color=CATCHMENT_COLORS[f["kind"]],
                                    fill=True, popup=popup).add_to(fgroup)
    fgroup.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if minx is not None:
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m
