"""The scenario comparison as a printable report (siting.reports.report): the comparison table, charts of coverage, capacity
shortfall and households gained or lost per scenario, every scenario's map inside, and the scenario files and inputs
behind each result. Takes the tables `siting.scenario` computed; never imports it."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..inputs.schema import CAPACITY_UNIT, KIND_LABEL, KINDS
from . import report
from .charts import bar_chart

COMPARISON_FILE = "comparison.html"
_HEADERS = {"scenario": "情景 Scenario", "kind_label": "类型 Kind", "coverage_rate_pct": "覆盖率 Coverage (%)",
            "coverage_change_pct": "较基准 Change vs first (points)", "households_uncovered": "未覆盖户数 Households uncovered",
            "capacity_total": "现有规模 Capacity", "required_capacity": "标准要求 Required", "capacity_shortfall": "缺口 Shortfall",
            "capacity_unit": "单位 Unit", "new_sites": "新址 New sites", "new_site_ids": "新址编号 Site ids", "cost": "成本 Cost"}


def comparison_report(table: pd.DataFrame, results: Sequence[Any], maps: dict[str, tuple[Path, Path | None]],
                      changes: dict[str, pd.DataFrame], *, title: str,
                      extra_sections: Sequence[report.Section] = ()) -> report.Report:
    """`results` are siting.scenario.ScenarioResult (name, summary); `changes` the coverage_changes per scenario;
    `extra_sections` (e.g. the per-unit change of siting by unit) follow the charts."""
    frame = table.copy()
    frame["kind_label"] = frame["kind"].map(KIND_LABEL)
    frame["coverage_rate_pct"] = 100 * frame["coverage_rate"]
    frame["coverage_change_pct"] = 100 * frame["coverage_change"] if "coverage_change" in frame else 0.0
    names = [r.name for r in results]
    subtitle = html.escape(f"{len(names)} 个情景 scenarios · 基准 first: {names[0] if names else ''} · 缺口 shortfall = capacity the "
                           "standard requires for all households minus existing capacity (m² for elderly day care, seats for nurseries)")
    summary = report.Section("summary", "摘要 Summary", [report.Table("comparison", "情景比较 Scenario comparison", frame, _HEADERS)])
    charts = []
    kinds = [k for k in KINDS if (frame["kind"] == k).any()]
    colors = [report.KIND_COLORS[KINDS.index(k)] for k in kinds]
    charts.append(bar_chart("scenario_coverage", "各情景覆盖率 Coverage per scenario (%)", names,
                            {KIND_LABEL[k]: [_value(frame, n, k, "coverage_rate_pct") for n in names] for k in kinds},
                            value_label="% 户数 of households", percent=True, colors=colors))
    for i, kind in enumerate(kinds):
        unit = CAPACITY_UNIT[kind]
        charts.append(bar_chart(f"scenario_shortfall_{kind}", f"各情景容量缺口 Capacity shortfall per scenario — {KIND_LABEL[kind]} ({unit})",
                                names, {f"缺口 Shortfall ({unit})": [_value(frame, n, kind, "capacity_shortfall") for n in names]},
                                value_label=f"缺口 Shortfall ({unit})", colors=[colors[i]]))
    if changes:
        categories = [f"{name} · {KIND_LABEL[k]}" for name in changes for k in kinds]
        gained = [_households(changes[name], k, "gained") for name in changes for k in kinds]
        lost = [_households(changes[name], k, "lost") for name in changes for k in kinds]
        charts.append(bar_chart("scenario_changes", "较基准覆盖变化 Households gaining or losing coverage against the first scenario",
                                categories, {"新覆盖 Gained": gained, "失去覆盖 Lost": lost}, value_label="户数 Households",
                                horizontal=True, colors=["#00bcd4", "#c51b7d"]))
    sections = [summary, report.Section("charts", "图表 Charts", charts), *extra_sections]
    for i, name in enumerate(names):
        map_path, diff_path = maps[name]
        shown = diff_path or map_path
        what = "与基准差异 Difference from the first scenario" if diff_path else "覆盖 Coverage"
        sections.append(report.Section(f"map-{i}", f"地图 Map — {name} ({what})", [report.map_html(shown, title=name)]))
    lines = [html.escape("每个情景由情景文件修改项目文件得到，结果按内容缓存 Each scenario edits its base project; results are cached by "
                         "content (the cache key is the sha256 of the resolved scenario, profile figures and input files).")]
    tables = []
    for result in results:
        scen = result.summary.get("scenario", {})
        lines.append(html.escape(f"{result.name}: profile {result.summary.get('profile')}, {result.summary.get('walk_minutes'):g} min, "
                                 f"files {', '.join(Path(f).name for f in scen.get('files', []))}, key {str(scen.get('key', ''))[:12]}"))
    if results:
        tables.append(report.figures_table(results[0].summary.get("profile_figures", {})))
        tables.append(report.sources_table(results[0].summary.get("inputs", {})))
    sections.append(report.method_section(lines, tables))
    return report.Report(title if title != "Scenario comparison" else "情景比较 Scenario comparison", subtitle, sections)


def _value(frame: pd.DataFrame, name: str, kind: str, column: str) -> float:
    rows = frame[(frame["scenario"] == name) & (frame["kind"] == kind)]
    return float(rows[column].iat[0]) if len(rows) else float("nan")


def _households(changes: pd.DataFrame, kind: str, change: str) -> float:
    rows = changes[(changes["kind"] == kind) & (changes["change"] == change)]
    return float(rows["households"].fillna(0).sum())


def write_comparison_report(table: pd.DataFrame, results: Sequence[Any], maps: dict[str, tuple[Path, Path | None]],
                            changes: dict[str, pd.DataFrame], out: str | os.PathLike, *, title: str,
                            pdf: bool = False, extra_sections: Sequence[report.Section] = ()) -> dict[str, Path]:
    return report.write_report(comparison_report(table, results, maps, changes, title=title, extra_sections=extra_sections),
                               out, name=COMPARISON_FILE, pdf=pdf)
