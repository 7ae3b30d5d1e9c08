"""The printable report a planning bureau reads: one self-contained HTML page per run (and per 四同步 check and
scenario comparison) — summary, indicator table with verdicts and clauses, charts, the map, method and sources —
and, with --pdf, the same page printed to A4 by headless Chromium.

A report is data first (`Report` of `Section`s holding `Table`s — DataFrames with bilingual headers, so the same
tables can go to a workbook — `charts.Chart`s and prepared HTML), rendered once by `render_html`. Extra tables (units,
indicators) are added by appending a `Table` to a section, or a `Section`, before rendering. Everything a page needs
is inside it: CSS inline, charts as inline SVG, the map as an iframe `srcdoc` of the offline map file.
"""
from __future__ import annotations

import html
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..inputs.schema import CAPACITY_UNIT, KIND_LABEL, KINDS
from ..output import write_text
from .charts import Chart, bar_chart, histogram_chart

REPORT_FILE = "report.html"
PDF_FILE = "report.pdf"
KIND_COLORS = ("#2c7fb8", "#e6550d")  # the map's catchment colours, so a kind looks the same on chart and map
VERDICT_TEXT = {"pass": "达标 Pass", "fail": "不达标 Fail", True: "达标 Pass", False: "不达标 Fail",
                "not_yet_due": "未到期 Not yet due", "missing_data": "缺少数据 Missing data", "no data": "无数据 No data",
                # a facility's verdict (facilities.csv `verdict`)
                "meets standard": "达标 Meets standard", "below standard": "不达标 Below standard",
                "no households in reach": "步行范围内无居民 No households in reach",
                "capacity missing": "缺少规模 Capacity missing", "off network": "未接入路网 Off network"}
VERDICT_CLASS = {"pass": "pass", "fail": "fail", True: "pass", False: "fail", "not_yet_due": "due", "missing_data": "missing",
                 "no data": "missing", "meets standard": "pass", "below standard": "fail",
                 "no households in reach": "missing", "capacity missing": "missing", "off network": "missing"}
CJK_FONTS = "'WenQuanYi Zen Hei', 'Noto Sans CJK SC', 'Noto Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"


@dataclass
class Table:
    table_id: str
    title: str  # bilingual caption
    frame: pd.DataFrame  # the values, machine-readable (a workbook writer can take it as it is)
    headers: dict[str, str]  # column -> bilingual header; columns not named here are not shown
    verdict_column: str | None = None  # its cells are coloured pass / fail
    decimals: int | None = None  # numbers to this many decimals (chart data), instead of rounded for reading


Block = Union[Table, Chart, str]  # a str is prepared (already escaped) HTML


@dataclass
class Section:
    section_id: str
    title: str  # bilingual heading; each section starts a printed page
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section]

    def section(self, section_id: str) -> Section:
        return next(s for s in self.sections if s.section_id == section_id)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the report by id (for a workbook)."""
        return {b.table_id: b.frame for s in self.sections for b in s.blocks if isinstance(b, Table)}


# ---------------------------------------------------------------- rendering

_CSS = f"""
body {{ font: 13px/1.45 {CJK_FONTS}; margin: 1.5em auto; max-width: 1000px; color: #222; }}
h1 {{ font-size: 22px; margin: 0 0 .3em; }} h2 {{ font-size: 17px; border-bottom: 2px solid #2c7fb8; padding-bottom: 2px; }}
h3 {{ font-size: 14px; margin: 1em 0 .3em; }}
table {{ border-collapse: collapse; margin: .4em 0 1em; font-size: 12px; }}
td, th {{ border: 1px solid #bbb; padding: 2px 6px; vertical-align: top; }} th {{ background: #eee; text-align: left; }}
td.num {{ text-align: right; white-space: nowrap; }} td.pass {{ background: #c7e9c0; }} td.fail {{ background: #fcbba1; }}
td.due {{ background: #deebf7; }} td.missing {{ background: #fdd49e; }}
caption {{ text-align: left; font-weight: bold; padding: 2px 0; }}
figure {{ margin: .5em 0 1em; break-inside: avoid; }} figcaption {{ font-weight: bold; }}
.siting-chart {{ max-width: 720px; height: auto; display: block; }}
details.chart-data summary {{ cursor: pointer; color: #555; font-size: 12px; }}
iframe.map {{ width: 100%; height: 620px; border: 1px solid #bbb; }}
.lead {{ color: #444; }} .kpi {{ display: inline-block; border: 1px solid #ccc; border-radius: 4px; padding: 6px 10px; margin: 0 8px 8px 0; }}
.kpi b {{ font-size: 18px; }}
@page {{ size: A4; margin: 14mm 12mm 16mm; }}
@media print {{
  body {{ margin: 0; max-width: none; font-size: 11px; }}
  table {{ font-size: 9px; width: 100%; }} td, th {{ padding: 1px 4px; overflow-wrap: anywhere; }}
  section.page {{ break-before: page; }} section.page:first-of-type {{ break-before: auto; }}
  iframe.map {{ height: 200mm; }} details.chart-data {{ display: none; }} tr, figure {{ break-inside: avoid; }}
  .siting-chart {{ max-height: 56mm; width: auto; max-width: 100%; }}
}}
"""


def render_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
    ]
    for i, section in enumerate(report.sections):
        parts.append(f'<section class="page" id="section-{html.escape(section.section_id, quote=True)}">')
        if i == 0:
            parts.append(f"<h1>{html.escape(report.title)}</h1><p class='lead'>{report.subtitle}</p>")
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [_block_html(block) for block in section.blocks]
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _block_html(block: Block) -> str:
    if isinstance(block, Table):
        return table_html(block)
    if isinstance(block, Chart):
        return chart_html(block)
    return block


def table_html(table: Table) -> str:
    columns = [c for c in table.headers if c in table.frame.columns]
    head = "".join(f"<th>{html.escape(table.headers[c])}</th>" for c in columns)
    rows = []
    for record in table.frame[columns].to_dict(orient="records"):
        cells = []
        for c in columns:
            value = record[c]
            css = "num" if _is_number(value) else ""
            if c == table.verdict_column:
                css = VERDICT_CLASS.get(value, "")
                value = VERDICT_TEXT.get(value, "见设施表 see the facility table" if str(value).startswith("see facilities table") else value)
            text = cell_text(value, table.decimals)
            cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table id="{html.escape(table.table_id, quote=True)}"><caption>{html.escape(table.title)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def chart_html(chart: Chart) -> str:
    data = Table(f"{chart.chart_id}-data", "", chart.data, {c: str(c) for c in chart.data.columns}, decimals=3)
    return (f'<figure class="chart" id="{html.escape(chart.chart_id, quote=True)}"><figcaption>{html.escape(chart.title)}</figcaption>'
            f'{chart.svg}<details class="chart-data"><summary>数据 Data</summary>{table_html(data)}</details></figure>')


def map_html(map_path: str | os.PathLike, title: str = "地图 Map") -> str:
    """The saved offline map inside the report (iframe srcdoc): one file to send, still interactive on screen."""
    text = Path(map_path).read_text(encoding="utf-8")
    return (f'<iframe class="map" title="{html.escape(title, quote=True)}" srcdoc="{html.escape(text, quote=True)}"></iframe>'
            f"<p>交互式地图另存为 The interactive map is also saved as <code>{html.escape(Path(map_path).name)}</code>.</p>")


def cell_text(value: Any, decimals: int | None = None) -> str:
    """A number for people (thousands separators, no trailing .0, '—' when missing; `decimals` fixes the precision);
    text escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "是 yes" if value else "否 no"
    if _is_number(value):
        value = float(value)
        if not math.isfinite(value):
            return "∞" if value > 0 else "—"
        if decimals is not None:
            return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
        if value.is_integer() or abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return html.escape(str(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def write_report(report: Report, out_dir: str | os.PathLike, *, name: str = REPORT_FILE, pdf: bool = False) -> dict[str, Path]:
    """report.html (atomically) and, with `pdf`, report.pdf printed from it; returns {role: path}."""
    paths = {"report": write_text(Path(out_dir) / name, render_html(report))}
    if pdf:
        paths["report_pdf"] = print_pdf(paths["report"], paths["report"].with_suffix(".pdf"))
    return paths


# ---------------------------------------------------------------- PDF through headless Chromium

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
_FOOTER = (f'<div style="width:100%;font-size:8px;font-family:{CJK_FONTS};color:#555;text-align:center">'
           '第 <span class="pageNumber"></span> / <span class="totalPages"></span> 页 · page <span class="pageNumber"></span>'
           ' of <span class="totalPages"></span></div>')


def chromium_path() -> str:
    return os.environ.get("SITING_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def check_pdf_printer() -> None:
    """--pdf needs Playwright and a Chromium binary: say so before any work starts, in one line."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise InputError("--pdf needs Playwright for Python, which is not installed", expected="the playwright package",
                         fix='pip install "siting[pdf]" (or pip install playwright; no browser download is needed)') from None
    if not Path(chromium_path()).exists():
        raise InputError(f"--pdf needs headless Chromium, and there is none at {chromium_path()}",
                         expected="a Chromium binary", fix="install it (apt-get install chromium fonts-wqy-zenhei, as "
                         ".ci/setup-chromium.sh does) or set SITING_CHROMIUM to its path; or leave out --pdf")


def print_pdf(html_path: str | os.PathLike, pdf_path: str | os.PathLike) -> Path:
    """Print the report to A4 with page numbers, offline (every non-file request is refused), atomically."""
    import tempfile

    from ..output import atomic_path

    check_pdf_printer()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="siting-pdf-") as profile:
        context = playwright.chromium.launch_persistent_context(profile, executable_path=chromium_path(), headless=True,
                                                                args=CHROMIUM_ARGS, offline=True)
        try:
            context.route(lambda url: not url.startswith(("file:", "data:", "about:")), lambda route: route.abort())
            page = context.new_page()
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
            page.emulate_media(media="print")
            page.wait_for_timeout(300)  # the map iframe lays out for print width
            with atomic_path(pdf_path) as tmp:
                page.pdf(path=str(tmp), format="A4", print_background=True, display_header_footer=True,
                         header_template="<span></span>", footer_template=_FOOTER, prefer_css_page_size=True)
        finally:
            context.close()
    return Path(pdf_path)


# ---------------------------------------------------------------- shared sections


def sources_table(inputs: dict[str, str]) -> Table:
    """Input files with their content hashes ('path sha256:…' as the summaries record them)."""
    rows = []
    for role, text in inputs.items():
        location, _, digest = str(text).partition(" sha256:")
        rows.append({"role": role, "file": location, "sha256": digest or "—"})
    return Table("sources", "输入文件 Input files", pd.DataFrame(rows, columns=["role", "file", "sha256"]),
                 {"role": "用途 Role", "file": "文件 File", "sha256": "SHA-256"})


def figures_table(profile_figures: dict, used: Iterable[str] | None = None) -> Table:
    """The profile figures behind the verdicts: value with unit, which profile set it (its own or inherited), whether
    it is confirmed (unconfirmed figures are enforced and flagged), clause and source. `profile_figures` is
    `Profile.to_dict()` (figures, name, title), as summary.json holds it."""
    figures = profile_figures.get("figures", {})
    names = [n for n in (used or figures) if n in figures]
    own = str(profile_figures.get("name") or profile_figures.get("title") or "")
    rows = []
    for name in names:
        f = figures[name]
        value = f.get("value")
        value = "/".join(map(str, value)) if isinstance(value, (list, tuple)) else (
            f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value))
        rows.append({"figure": name, "value": f"{value} {f.get('unit') or ''}".strip(),
                     "set_by": f"inherited from {f['inherited_from']}" if f.get("inherited_from") else own,
                     "confirmed": "no: unconfirmed, enforced and flagged" if f.get("confirmed") is False else "yes",
                     "clause": f.get("clause"), "source": f.get("source")})
    title = f"标准 Profile: {profile_figures.get('title') or profile_figures.get('name', '')}"
    return Table("profile_figures", title,
                 pd.DataFrame(rows, columns=["figure", "value", "set_by", "confirmed", "clause", "source"]),
                 {"figure": "指标 Figure", "value": "数值 Value", "set_by": "来源标准 Set by",
                  "confirmed": "已核实 Confirmed", "clause": "条款 Clause", "source": "来源 Source"})


def method_section(summary_lines: Sequence[str], tables: Sequence[Table]) -> Section:
    text = "".join(f"<p>{line}</p>" for line in summary_lines)
    return Section("method", "方法与来源 Method and sources", [text, *tables,
                   f"<p>siting {html.escape(__version__)} · 开源 open source (MIT) · OpenStreetMap 数据 data © OpenStreetMap contributors (ODbL)</p>"])


# ---------------------------------------------------------------- the coverage run report


def coverage_report(summary: dict, residences: pd.DataFrame, facilities: pd.DataFrame, *, map_path: str | os.PathLike | None,
                    title: str | None = None, plan: dict | None = None, extra_sections: Sequence[Section] = ()) -> Report:
    """The report of `siting run`/`demo` (and, with `plan` = plan_summary kinds, of `siting optimize`). `extra_sections`
    (e.g. per-unit indicator tables and their charts) go after the indicators, before the charts."""
    kinds = [k for k in KINDS if k in summary.get("kinds", {})]
    walk = float(summary["walk_minutes"])
    profile = summary.get("profile_figures", {})
    subtitle = html.escape(f"标准 Profile {profile.get('title') or summary.get('profile')} · 步行 {walk:g} 分钟 minute walk · "
                           f"{summary.get('residences', len(residences)):,} 居民点 residences · {summary['households']:,.0f} 户 households")
    kpis = []
    for i, kind in enumerate(kinds):
        info = summary["kinds"][kind]
        kpis.append(f'<div class="kpi" data-kind="{kind}">{html.escape(KIND_LABEL[kind])}<br>覆盖率 Coverage <b>{info["coverage_rate"]:.1%}</b>'
                    f' · 设施 {info["facilities"]} facilities, {info["facilities_meeting_standard"]} 达标 meet the standard'
                    f' · 可服务比例 Servable share {info["servable_share"]:.1%}</div>')
    summary_section = Section("summary", "摘要 Summary", ["".join(kpis), shares_table(summary, kinds)])
    charts = [walk_time_chart(residences, kinds, walk), share_within_chart(summary, kinds)]
    charts += [c for kind in kinds if (c := shortfall_chart(facilities, kind)) is not None]
    if plan:
        charts.append(before_after_chart(plan))
    sections = [
        summary_section,
        Section("indicators", "指标与结论 Indicators and verdicts", [indicator_table(summary, kinds), facility_table(facilities)]),
        *extra_sections,
        Section("charts", "图表 Charts", charts),
    ]
    if map_path is not None:
        sections.append(Section("map", "地图 Map", [map_html(map_path)]))
    method = [html.escape(f"步行网络 Walking network: OpenStreetMap, {summary.get('network', {}).get('street_length_km', 0):,.1f} km of "
                          f"walkable ways; walking time along streets at each kind's speed; 覆盖 covered = within {walk:g} min."),
              html.escape("配置水平 Provision: floor area (m²) per 100 households and seats per 1,000 residents in each facility's "
                          "catchment, against the profile figure below; 可服务比例 servable share: the largest share of demand "
                          "assignable within the walk without exceeding capacities (an exact LP).")]
    sections.append(method_section(method, [figures_table(profile, _used_figures(summary, kinds)),
                                            sources_table(summary.get("inputs", {}))]))
    return Report(title or f"步行圈覆盖报告 Walking coverage report — {summary.get('project', '')}", subtitle, sections)


def _used_figures(summary: dict, kinds: list[str]) -> list[str]:
    names = ["walk_minutes", "walk_speed_m_per_min", "elderly_walk_speed_m_per_min", "household_size"]
    for kind in kinds:
        names += [v["figure"] for v in summary["kinds"][kind].get("verdicts", []) if v.get("figure")]
    return list(dict.fromkeys(names))


def shares_table(summary: dict, kinds: list[str]) -> Table:
    """Share of households within each ring, per kind (from summary.json)."""
    rows = []
    for kind in kinds:
        for minutes, ring in sorted(summary["kinds"][kind].get("by_threshold", {}).items(), key=lambda kv: float(kv[0])):
            rows.append({"kind": KIND_LABEL[kind], "minutes": float(minutes), "walk_m": ring.get("walk_m"),
                         "households_covered": ring["households_covered"], "coverage_rate": 100 * ring["coverage_rate"]})
    return Table("shares", "步行圈覆盖 Households within each walking ring", pd.DataFrame(rows),
                 {"kind": "类型 Kind", "minutes": "步行 Walk (min)", "walk_m": "距离 Distance (m)",
                  "households_covered": "覆盖户数 Households covered", "coverage_rate": "覆盖率 Coverage (%)"})


def indicator_table(summary: dict, kinds: list[str]) -> Table:
    rows = []
    for kind in kinds:
        for v in summary["kinds"][kind].get("verdicts", []):
            value = v.get("value")
            target = v.get("target", v.get("standard"))
            share = v.get("unit") == "share" or v.get("target") == 1.0
            rows.append({"kind": KIND_LABEL[kind], "check": v.get("check"),
                         "value": 100 * value if share and value is not None else value,
                         "target": 100 * target if share and target is not None else target,
                         "unit": "%" if share else v.get("unit"),
                         "verdict": v.get("verdict"), "clause": v.get("clause") or "", "source": v.get("source") or "",
                         "note": "; ".join(x for x in (f"继承 inherited from {v['inherited_from']}" if v.get("inherited_from") else "",
                                                       "未确认 unconfirmed figure" if v.get("confirmed") is False else "") if x)})
    return Table("indicators", "指标 Indicators", pd.DataFrame(rows, columns=["kind", "check", "value", "target", "unit", "verdict",
                                                                            "clause", "source", "note"]),
                 {"kind": "类型 Kind", "check": "检查 Check", "value": "数值 Value", "target": "标准 Target", "unit": "单位 Unit",
                  "verdict": "结论 Verdict", "clause": "依据 Clause", "source": "来源 Source", "note": "说明 Note"}, verdict_column="verdict")


def facility_table(facilities: pd.DataFrame) -> Table:
    frame = pd.DataFrame(facilities.drop(columns="geometry", errors="ignore")).copy()
    frame["kind_label"] = frame["kind"].map(KIND_LABEL).fillna(frame["kind"])
    frame["capacity"] = [row.get("floor_area_m2") if row["kind"] == KINDS[0] else row.get("seats") for _, row in frame.iterrows()]
    frame["unit"] = frame["kind"].map(CAPACITY_UNIT)
    frame = frame.sort_values(["kind", "fac_id"], kind="stable")
    return Table("facilities", "设施 Facilities", frame,
                 {"fac_id": "编号 Id", "name": "名称 Name", "kind_label": "类型 Kind", "capacity": "规模 Capacity", "unit": "单位 Unit",
                  "households_served": "服务户数 Households served", "provision": "配置水平 Provision",
                  "standard_value": "标准 Standard", "shortfall": "缺口 Shortfall",
                  **({"verdict": "结论 Verdict"} if "verdict" in frame else {"meets_standard": "结论 Verdict"})},
                 verdict_column="verdict" if "verdict" in frame else "meets_standard")


def walk_time_chart(residences: pd.DataFrame, kinds: list[str], walk_minutes: float) -> Chart:
    step = walk_minutes / 6
    edges = np.arange(0, 2 * walk_minutes + step / 2, step)
    households = residences["households"].fillna(0).to_numpy(dtype=float)
    return histogram_chart(
        "walk_time", f"步行时间分布 Walking time to the nearest facility (households; {walk_minutes:g} min circle)",
        {KIND_LABEL[k]: residences[f"walk_min_{k}"].to_numpy(dtype=float) for k in kinds},
        {KIND_LABEL[k]: households for k in kinds}, bin_edges=edges, value_label="户数 Households", unit="min",
        colors=[KIND_COLORS[KINDS.index(k)] for k in kinds])


def share_within_chart(summary: dict, kinds: list[str]) -> Chart:
    rings = sorted({float(t) for k in kinds for t in summary["kinds"][k].get("by_threshold", {})})
    series = {KIND_LABEL[k]: [100 * summary["kinds"][k]["by_threshold"].get(_ring_key(summary["kinds"][k]["by_threshold"], t), {}).get("coverage_rate", np.nan)
                              for t in rings] for k in kinds}
    return bar_chart("share_within", "步行圈内户数比例 Share of households within 5 / 10 / 15 minutes (%)",
                     [f"{t:g} min" for t in rings], series, value_label="% 户数 of households", percent=True,
                     colors=[KIND_COLORS[KINDS.index(k)] for k in kinds])


def _ring_key(rings: dict, minutes: float) -> str:
    return next((key for key in rings if float(key) == minutes), "")


def shortfall_chart(facilities: pd.DataFrame, kind: str) -> Chart | None:
    own = facilities[facilities["kind"] == kind].sort_values("fac_id", kind="stable")
    if not len(own):
        return None
    labels = [f"{fid} {name}" if name and str(name) != "nan" else str(fid) for fid, name in zip(own["fac_id"], own.get("name", own["fac_id"]))]
    unit = CAPACITY_UNIT[kind]
    return bar_chart(f"shortfall_{kind}", f"设施容量缺口 Capacity shortfall per facility — {KIND_LABEL[kind]} ({unit})",
                     [label[:28] for label in labels], {f"缺口 Shortfall ({unit})": own["shortfall"].fillna(0).to_numpy(dtype=float)},
                     value_label=f"缺口 Shortfall ({unit})", horizontal=True, colors=[KIND_COLORS[KINDS.index(kind)]])


def before_after_chart(plan: dict) -> Chart:
    """Covered share before and after the chosen sites, per kind (plan_summary.json 'kinds')."""
    kinds = [k for k in KINDS if k in plan]
    before = [100 * float(plan[k].get("covered_share_before") or 0) for k in kinds]
    after = [100 * float(plan[k].get("covered_share_after") or 0) for k in kinds]
    return bar_chart("before_after", "选址前后覆盖率 Coverage before and after the new sites (%)", [KIND_LABEL[k] for k in kinds],
                     {"现状 Before": before, "新址后 After": after}, value_label="% 户数 of households", percent=True,
                     colors=["#969696", "#31a354"])


def write_coverage_report(out_dir: str | os.PathLike, summary: dict, residences: pd.DataFrame, facilities: pd.DataFrame, *,
                          map_path: str | os.PathLike | None, pdf: bool = False, plan: dict | None = None,
                          name: str = REPORT_FILE, title: str | None = None,
                          extra_sections: Sequence[Section] = ()) -> dict[str, Path]:
    """Write report.html (and report.pdf) for a coverage run into `out_dir`."""
    report = coverage_report(summary, residences, facilities, map_path=map_path, plan=plan, title=title, extra_sections=extra_sections)
    return write_report(report, out_dir, name=name, pdf=pdf)
