"""The coverage run as an Excel workbook (覆盖分析结果.xlsx): the tables a planner copies into a plan.

Sheets: 概要 Summary (one row per kind), 判定 Verdicts (each check with its figure, clause and source), 设施 Facilities
(the per-facility table), then whatever later stages add (per-unit indicator tables, the problem ledger). Values are
the same numbers as the CSV tables and summary.json; only headers (Chinese, with units) and formats differ.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .workbook import Column, Sheet, write_workbook

WORKBOOK_FILE = "coverage.xlsx"

KIND_LABELS = {"elderly_day_care": "日间照料 elderly day care", "nursery": "托育 nursery"}

#: Known per-facility columns: Chinese header with unit, number format. Columns not listed keep their own name.
FACILITY_COLUMNS: dict[str, tuple[str, str | None]] = {
    "fac_id": ("设施编号", None),
    "name": ("名称", None),
    "kind": ("类型", None),
    "facility_level": ("设施层级", None),
    "floor_area_m2": ("建筑面积 (m²)", "float1"),
    "seats": ("托位 (个)", "int"),
    "places": ("床位 (张)", "int"),
    "snap_m": ("距步行路网 (m)", "float1"),
    "snap_ok": ("接入路网", None),
    "walk_speed_m_per_min": ("步行速度 (m/min)", "float1"),
    "households_served": ("15分钟内服务户数 (户)", "int"),
    "population_served": ("15分钟内服务人口 (人)", "int"),
    "provision": ("供给水平 (m²/百户 或 托位/千人)", "float2"),
    "standard_value": ("标准 (m²/百户 或 托位/千人)", "float2"),
    "meets_standard": ("是否达标", None),
    "verdict": ("结论", None),
    "network_component": ("路网连通块", "int"),
    "on_main_network": ("位于主路网", None),
    "shortfall": ("缺口 (m² 或 托位)", "float1"),
    "capacity_used_servable": ("可服务使用量 (m² 或 托位)", "float1"),
    "lon": ("经度", "0.0000000"),
    "lat": ("纬度", "0.0000000"),
}


def summary_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per kind: coverage within each ring, capacity, requirement and servable share (from summary.json)."""
    rows = []
    for kind, info in summary.get("kinds", {}).items():
        row = {
            "kind": KIND_LABELS.get(kind, kind),
            "facilities": info.get("facilities"),
            "facilities_meeting_standard": info.get("facilities_meeting_standard"),
            "households": summary.get("households"),
            "households_covered": info.get("households_covered"),
            "coverage_rate": info.get("coverage_rate"),
            "capacity_unit": info.get("unit"),
            "capacity_total": info.get("capacity_total"),
            "required_capacity_total": info.get("required_capacity_total"),
            "facility_shortfall_total": info.get("facility_shortfall_total"),
            "servable_share": info.get("servable_share"),
        }
        for minutes, ring in sorted(info.get("by_threshold", {}).items(), key=lambda kv: float(kv[0])):
            row[f"coverage_{minutes}min"] = ring.get("coverage_rate")
        rows.append(row)
    return pd.DataFrame(rows)


def _summary_columns(frame: pd.DataFrame, walk_minutes: float) -> list[Column]:
    fixed = [
        Column("kind", "类型"), Column("facilities", "设施数 (处)", "int"),
        Column("facilities_meeting_standard", "达标设施数 (处)", "int"), Column("households", "总户数 (户)", "int"),
        Column("households_covered", f"{walk_minutes:g}分钟内户数 (户)", "int"),
        Column("coverage_rate", f"{walk_minutes:g}分钟覆盖率 (%)", "percent"),
        Column("capacity_unit", "容量单位"), Column("capacity_total", "现状容量", "float1"),
        Column("required_capacity_total", "按标准需求", "float1"),
        Column("facility_shortfall_total", "设施缺口合计", "float1"),
        Column("servable_share", "可服务比例 (%)", "percent"),
    ]
    rings = [Column(c, f"{c.removeprefix('coverage_').removesuffix('min')}分钟覆盖率 (%)", "percent")
             for c in frame.columns if c.startswith("coverage_") and c.endswith("min")]
    return fixed + rings


def verdicts_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Every verdict of summary.json, one row each, with the figure it rests on and where that figure comes from."""
    rows = []
    for kind, info in summary.get("kinds", {}).items():
        for v in info.get("verdicts", []):
            rows.append({
                "kind": KIND_LABELS.get(kind, kind), "check": v.get("check"), "figure": v.get("figure"),
                "value": v.get("value"), "target": v.get("target", v.get("standard")), "unit": v.get("unit"),
                "verdict": v.get("verdict"), "clause": v.get("clause"), "source": v.get("source"),
                "inherited_from": v.get("inherited_from"), "confirmed": v.get("confirmed"),
            })
    return pd.DataFrame(rows, columns=["kind", "check", "figure", "value", "target", "unit", "verdict", "clause",
                                       "source", "inherited_from", "confirmed"])


VERDICT_COLUMNS = [
    Column("kind", "类型"), Column("check", "检查项"), Column("figure", "指标代码"), Column("value", "现状值", "float2"),
    Column("target", "目标/标准", "float2"), Column("unit", "单位"), Column("verdict", "判定"), Column("clause", "条文"),
    Column("source", "来源"), Column("inherited_from", "继承自"), Column("confirmed", "已核实"),
]


def facilities_sheet(facilities: pd.DataFrame) -> Sheet:
    frame = facilities.drop(columns="geometry", errors="ignore")
    columns = [Column(key, *FACILITY_COLUMNS.get(key, (key, None))) for key in frame.columns]
    return Sheet("设施 Facilities", frame, columns)


def coverage_sheets(summary: dict[str, Any], facilities: pd.DataFrame) -> list[Sheet]:
    """The coverage run's sheets: summary per kind, verdicts, facilities."""
    frame = summary_frame(summary)
    return [
        Sheet("概要 Summary", frame, _summary_columns(frame, float(summary.get("walk_minutes", 15)))),
        Sheet("判定 Verdicts", verdicts_frame(summary), VERDICT_COLUMNS),
        facilities_sheet(facilities),
    ]


def write_run_workbook(target: str | os.PathLike, summary: dict[str, Any], facilities: pd.DataFrame,
                       extra_sheets: Sequence[Sheet] = ()) -> Path:
    """Write the coverage run's workbook (plus `extra_sheets`, e.g. unit indicator tables and the ledger)."""
    return write_workbook(target, [*coverage_sheets(summary, facilities), *extra_sheets])
