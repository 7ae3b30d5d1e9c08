"""The 四同步 compliance report: one HTML page (summary, charts, a table per development with coloured verdicts, the
date checks, the figures the verdicts rest on, the map inside; printable, --pdf through siting.reports.report), a CSV with one
row per development × phase × kind × check, a CSV of the date checks (implausible dates treated as missing), and a JSON
summary with the city-level indicator and the profile figures used. Every verdict names the clause it is judged by and,
in `basis`, any figure it rests on that is inherited from another profile or unconfirmed. Every string from an input
file is html.escape'd."""
from __future__ import annotations

import datetime as dt
import html
import os
from pathlib import Path
from typing import Any

import folium
import numpy as np
import pandas as pd
from branca.element import Element
from folium.utilities import JsCode

from ..inputs.schema import KIND_LABEL, KINDS
from ..inputs.tiles import parse_tiles, resolve_tianditu_key
from ..output import ensure_writable_dir, file_sha256, write_csv, write_json
from ..reports import basemaps, report
from ..reports.charts import bar_chart
from ..reports.map_parts import BOX_CSS, BoxControl, feature, geojson_layer, map_points
from ..reports.maps import CATCHMENT_COLORS, save_map
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


def write_report(result: SyncResult, out_dir: str | os.PathLike, *, network=None, tiles=None,
                 pdf: bool = False) -> dict[str, Path]:
    """Write the HTML page (charts, tables, the map inside), its map, the CSV tables and the JSON summary into
    `out_dir` (with `pdf`, also sync_report.pdf); returns {role: path}."""
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
        "map": save_map(sync_map(result, network=network, tiles=tiles), out / FILES["map"]),
    }
    written = report.write_report(sync_report(result, checks, paths["map"]), out, name=FILES["html"], pdf=pdf)
    paths["html"] = written["report"]
    if "report_pdf" in written:
        paths["pdf"] = written["report_pdf"]
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


def sync_report(result: SyncResult, checks: pd.DataFrame, map_path: str | os.PathLike | None) -> report.Report:
    """The 四同步 report as sections: summary (indicator, status per development), charts, the checks per development,
    the map, method and sources."""
    s = result.summary
    ind = s["indicator"]
    rate = "–" if ind["value"] is None else f"{ind['value']:.0%}"
    strict = "–" if ind["strict_value"] is None else f"{ind['strict_value']:.0%}"
    subtitle = (f"截至 As of <b>{html.escape(s['as_of'])}</b> · 标准 Profile <b>{html.escape(str(s['profile_title']))}</b>"
                f" · 交付规则 Delivery rule <b>{html.escape(s['delivery_rule'])}</b> · 容许天数 Tolerance {s['tolerance_days']:g} d")
    legend = "<p class='legend'>" + "".join(f"<span style='background:{VERDICT_COLOR[v]};padding:2px 8px;margin-right:6px'>{html.escape(label)}</span>"
                                            for v, label in VERDICT_LABEL.items()) + "</p>"
    status = result.developments.copy()
    status["kind_label"] = status["kind"].map(KIND_LABEL)
    summary = report.Section("summary", "摘要 Summary", [
        f"<p><b>{html.escape(INDICATOR)}</b> (share of new developments meeting the elderly-care facility standard): "
        f"<b id='sync-indicator'>{rate}</b> (全部检查通过 all checks passed: {strict}) — {html.escape(ind['definition'])}</p>", legend,
        report.Table("developments", "开发项目结论 Verdict per development and kind", status,
                     {"development_id": "编号 Id", "development_name": "名称 Name", "kind_label": "类型 Kind", "status": "结论 Verdict",
                      "households": "户数 Households", "n_pass": "达标 Pass", "n_fail": "不达标 Fail",
                      "n_not_yet_due": "未到期 Not yet due", "n_missing_data": "缺少数据 Missing data"}, verdict_column="status"),
    ])
    sections = [summary, report.Section("charts", "图表 Charts", _sync_charts(checks))]
    if not result.date_checks.empty:
        sections.append(report.Section("date_checks", f"日期核查 Date checks: {len(result.date_checks)}",
                                       _date_checks_html(result.date_checks)))
    parts = []
    for dev, group in checks.groupby("development_id", sort=False):
        name = group["development_name"].iat[0]
        parts.append(f"<h3>{_cell(dev)} {_cell(name)}</h3><p>")
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
    sections.append(report.Section("checks", "逐项检查 Checks per development", ["\n".join(parts)]))
    if map_path is not None:
        sections.append(report.Section("map", "地图 Map", [report.map_html(map_path)]))
    inputs = {role: (f"{path} sha256:{file_sha256(path)}" if path and Path(path).is_file() else str(path))
              for role, path in s.get("inputs", {}).items() if path}
    sections.append(report.method_section(
        [html.escape("四同步 Four synchronizations: each development's elderly day-care station and nursery must be planned, built, "
                     "accepted and delivered no later than its housing (同步规划、同步建设、同步验收、同步交付), meet the new-area "
                     "standards and lie within the walk. Verdicts: see the siting.checks.sync module documentation."),
         f"数据 Data: {html.escape(FILES['csv'])}, {html.escape(FILES['developments_csv'])}, {html.escape(FILES['json'])}."],
        [report.figures_table({"figures": s.get("profile_figures", {}), "title": s.get("profile_title"), "name": s.get("profile")}),
          report.sources_table(inputs)]))
    return report.Report("新建居住区配套养老托育设施“四同步”检查 Four-synchronizations check of new residential developments", subtitle, sections)


def _date_checks_html(date_checks: pd.DataFrame) -> list:
    if date_checks.empty:
        return []
    return ["<p>These dates cannot be right; the checks that need "
            "them are reported as missing data (缺少数据), never as days late. Correct the cells and run again.</p>",
            report.Table("date_checks", "不可信的日期 Implausible dates", date_checks, dict(_DATE_COLUMNS))]


def _sync_charts(checks: pd.DataFrame) -> list:
    """Verdicts per check (count of development × phase × kind rows) and days late per development."""
    order = list(dict.fromkeys(checks["check"]))
    labels = [checks.loc[checks["check"] == c, "check_label"].iat[0] for c in order]
    counts = {VERDICT_LABEL[v]: [int(((checks["check"] == c) & (checks["verdict"] == v)).sum()) for c in order] for v in VERDICT_LABEL}
    charts = [bar_chart("verdicts", "各项检查结论 Verdicts per check (rows: development × phase × kind)", labels, counts,
                        value_label="检查数 Checks", horizontal=True, colors=[_STRONG[v] for v in VERDICT_LABEL])]
    late = checks[pd.to_numeric(checks["days_late"], errors="coerce").fillna(0) > 0]
    if len(late):
        per_dev = late.groupby(["development_id", "kind"], sort=True)["days_late"].max().unstack("kind").reindex(columns=KINDS)
        charts.append(bar_chart("days_late", "最长逾期天数 Longest delay per development (days late)",
                                [str(d) for d in per_dev.index], {KIND_LABEL[k]: per_dev[k].fillna(0).to_numpy() for k in KINDS},
                                value_label="逾期天数 Days late", colors=[CATCHMENT_COLORS[k] for k in KINDS]))
    return charts


_STRONG = {"pass": "#1a9850", "fail": "#d73027", "not_yet_due": "#4575b4", "missing_data": "#fdae61"}


STATUS_COLOR = _STRONG


def sync_map(result: SyncResult, *, network=None, tiles=None, tianditu_key: str | None = None) -> folium.Map:
    """Developments (outline or point, coloured by elderly-care status), facilities and their walking catchments.

    Built from the same GeoJSON layers as the coverage map (popups bound in Leaflet, no jQuery, no marker plugin),
    over the street layer and the optional basemaps of siting.reports.basemaps."""
    phases, facilities = result.phases, result.facilities
    tiles = parse_tiles(tiles)
    tianditu_key = tianditu_key or resolve_tianditu_key(tiles)
    located = [g for g in list(phases.geometry) + list(facilities.geometry) if g is not None]
    bounds = None
    if located:
        import shapely

        minx, miny, maxx, maxy = shapely.GeometryCollection(located).bounds
        bounds = [[miny, minx], [maxy, maxx]]
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [0.0, 0.0]
    m = folium.Map(location=center, zoom_start=14, tiles=None, control_scale=True)
    m.get_root().title = "四同步 Four-synchronizations"
    basemaps.add_base_layers(m, tiles, tianditu_key)
    if network is not None:
        basemaps.add_street_layer(m, network)
    if result.catchments is not None and len(result.catchments):
        for kind in KINDS:
            sub = result.catchments[result.catchments["kind"] == kind].to_crs(4326)
            features = [feature(i, g, {"tip": html.escape(str(sid))}) for i, (g, sid) in enumerate(zip(sub.geometry, sub["source_id"]))
                        if g is not None and not g.is_empty]
            if features:
                color = CATCHMENT_COLORS[kind]
                geojson_layer(features, name=f"步行范围 Catchment: {KIND_LABEL[kind]}",
                         style=lambda _f, c=color, k=kind: {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.12, "className": f"siting-catchment-{k}"},
                         on_each_feature=_TOOLTIP).add_to(m)
    status = result.developments[result.developments["kind"] == KINDS[0]].set_index("development_id")["status"]
    features = []
    for _, ph in phases.iterrows():
        if ph.geometry is None:
            continue
        color = STATUS_COLOR[status.get(ph["development_id"], "missing_data")]
        popup = html.escape(f"{ph['development_id']} {ph['name']} · 分期 phase {ph['phase']} · {ph['households']:g} 户 households")
        style = {"radius": 7, "weight": 2, "color": color, "fillColor": color, "fillOpacity": 0.5, "className": "siting-development"}
        features.append(feature(len(features), ph.geometry, {"popup": popup, "tip": popup, "style": style}))
    if features:
        geojson_layer(features, name="开发项目 Developments", style=lambda f: f["properties"]["style"], on_each_feature=_POPUP).add_to(m)
    features = []
    for pt, (_, f) in zip(map_points(facilities), facilities.iterrows()):
        if pt is None:
            continue
        popup = html.escape(f"{f['fac_id']} {f['name']} · {KIND_LABEL[f['kind']]} · {';'.join(f['development_ids'])}")
        color = CATCHMENT_COLORS[f["kind"]]
        style = {"radius": 6, "weight": 3, "color": "#222222", "fillColor": color, "fillOpacity": 0.95, "className": f"siting-fac-{f['kind']}"}
        features.append(feature(len(features), pt, {"popup": popup, "tip": popup, "style": style}))
    if features:
        geojson_layer(features, name="配套设施 Facilities", style=lambda f: f["properties"]["style"], on_each_feature=_POPUP).add_to(m)
    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    m.get_root().header.add_child(Element(BOX_CSS), name="siting_box_style")
    BoxControl(_sync_legend_html(), box_id="siting-legend", position="bottomright").add_to(m)
    basemaps.add_basemap_switch(m, control, tiles, bounds)
    if bounds is not None:
        m.fit_bounds(bounds)
    return m


_POPUP = JsCode("function(feature, layer) { layer.bindPopup(feature.properties.popup, {maxWidth: 340}); layer.bindTooltip(feature.properties.tip); }")
_TOOLTIP = JsCode("function(feature, layer) { layer.bindTooltip(feature.properties.tip, {sticky: true}); }")


def _sync_legend_html() -> str:
    dot = '<i style="display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle;border-radius:50%;background:{}"></i>'
    rows = ["<b>开发项目 Developments</b> (养老 elderly care)"]
    rows += [f"{dot.format(STATUS_COLOR[v])}{html.escape(label)}" for v, label in VERDICT_LABEL.items()]
    rows += ["<b>配套设施 Facilities</b>"] + [f"{dot.format(CATCHMENT_COLORS[k])}{html.escape(KIND_LABEL[k])}" for k in KINDS]
    return "<br>".join(rows)
