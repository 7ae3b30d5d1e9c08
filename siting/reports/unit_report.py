"""Per-unit results drawn for the printable reports: the run report's charts per unit (capacity shortfall in m² and
seats, household share within the walk) and, across what-if scenarios, the change of every unit's verdicts
(unit_changes.csv and its section of comparison.html: which 社区 turn fail → pass or pass → fail).

Works on the unit tables siting.measures.indicators builds (units_<level>.csv, one row per unit); it takes scenario results
duck-typed (name, summary, unit_tables) and never imports siting.scenario.
"""
from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..inputs.schema import CAPACITY_UNIT, ELDERLY, KIND_LABEL, KINDS, NURSERY
from ..measures.indicators import UNIT_COUNTS, Indicators, map_checks
from ..measures.units import LEVELS
from .charts import Chart, bar_chart
from .indicator_outputs import indicators_section
from .report import KIND_COLORS, Section, Table

UNIT_CHANGES_FILE = "unit_changes.csv"
#: Units drawn per chart at most (a city has hundreds of 社区): those with the largest shortfall / lowest share.
MAX_BARS = 40
#: The shortfall column of the unit tables, by kind (m² of floor area, childcare seats).
SHORTFALL_COLUMN = {ELDERLY: "shortfall_m2", NURSERY: "shortfall_seats"}


def level_label(level: str) -> str:
    """'社区 community', '街道 street', … for headings."""
    return f"{LEVELS.get(level, level).split('/')[0]} {level}"


def chart_levels(units: dict[str, pd.DataFrame]) -> list[str]:
    """The levels the report draws: the smallest given (where a planner acts) and the 街道 level when also given."""
    present = [level for level in LEVELS if level in units]
    return present[:1] + (["street"] if "street" in present[1:] else [])


def unit_labels(frame: pd.DataFrame) -> list[str]:
    """'C01 南湖社区 …' (id and name, cut to fit the chart's axis)."""
    names = frame["name"].fillna("").astype(str) if "name" in frame.columns else pd.Series("", index=frame.index)
    return [f"{uid} {name}".strip()[:26] for uid, name in zip(frame["unit_id"].astype(str), names)]


def _drawn(frame: pd.DataFrame, column: str, *, ascending: bool) -> tuple[pd.DataFrame, str]:
    """All units in table order, or the MAX_BARS most in need (largest shortfall / lowest share) when there are more."""
    if len(frame) <= MAX_BARS:
        return frame, ""
    order = frame[column].fillna(np.inf if ascending else -np.inf).sort_values(ascending=ascending, kind="stable")
    return frame.loc[order.index[:MAX_BARS]], f" — {MAX_BARS} of {len(frame)}"


def unit_charts(units: dict[str, pd.DataFrame], walk_minutes: float) -> list[Chart]:
    """Per level of `chart_levels`: capacity shortfall per unit for each kind, and the share of each unit's households
    within the walk. Each chart's data are the unit table's own values (shares ×100)."""
    charts = []
    share = {kind: f"share_within_{walk_minutes:g}min_{kind}" for kind in KINDS}
    for level in chart_levels(units):
        frame = units[level]
        for kind in KINDS:
            column, unit = SHORTFALL_COLUMN[kind], CAPACITY_UNIT[kind]
            if column not in frame.columns:
                continue
            shown, note = _drawn(frame, column, ascending=False)
            charts.append(bar_chart(
                f"unit_shortfall_{kind}_{level}",
                f"单元容量缺口 Capacity shortfall per {level_label(level)} — {KIND_LABEL[kind]} ({unit}){note}",
                unit_labels(shown), {f"缺口 Shortfall ({unit})": shown[column].to_numpy(dtype=float)},
                value_label=f"缺口 Shortfall ({unit})", horizontal=True, colors=[KIND_COLORS[KINDS.index(kind)]]))
        kinds = [kind for kind in KINDS if share[kind] in frame.columns]
        if kinds:
            shown, note = _drawn(frame, share[kinds[0]], ascending=True)
            charts.append(bar_chart(
                f"unit_share_within_{level}",
                f"单元步行圈内户数比例 Share of households within the {walk_minutes:g}-minute walk per {level_label(level)} (%){note}",
                unit_labels(shown), {KIND_LABEL[k]: 100 * shown[share[k]].to_numpy(dtype=float) for k in kinds},
                value_label="% 户数 of households", horizontal=True, percent=True,
                colors=[KIND_COLORS[KINDS.index(k)] for k in kinds]))
    return charts


def unit_section(indicators: Indicators, walk_minutes: float) -> Section:
    """The run report's unit section: the indicator table and ledger (siting.measures.indicators) followed by the unit charts."""
    section = indicators_section(indicators)
    section.blocks.extend(unit_charts(indicators.units, walk_minutes))
    return section


# ------------------------------------------------------------------------------------- change across scenarios

def _rules(summary: dict[str, Any]) -> dict[str, Any]:
    figures = summary.get("profile_figures", {}).get("figures", {})
    return {key: (fig.get("value") if isinstance(fig, dict) else fig) for key, fig in figures.items()}


def verdict_measures(frame: pd.DataFrame, level: str, rules: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(verdict column, indicator key, indicator name, measure column) of each verdict a unit table carries. The
    measure is the figure the verdict rests on: facilities inside the unit (rules 'inside', 'inside_or_reach'; the
    change table also gives the best facility's household share) or the share of its households the best facility
    reaches (rule 'reach'), the largest 街道 centre (m², 0 without one), m² per 100 households, seats per 1,000
    residents."""
    counts = {f"verdict_{key}": (key, kind, rule_key) for key, _, _, kind, _, rule_key, _ in UNIT_COUNTS}
    out = []
    for column, name in map_checks({level: frame})[level]:
        if column in counts:
            key, kind, rule_key = counts[column]
            rule = rules.get(rule_key, "inside") if rule_key else None
            measure = ("largest_centre_m2" if rule is None else
                       f"best_reach_share_{kind}" if rule == "reach" else f"facilities_inside_{kind}")
        else:
            kind = column.removeprefix("provision_verdict_")
            key = f"provision_{kind}"
            measure = "m2_per_100_households" if kind == ELDERLY else "seats_per_1000_residents"
        out.append((column, key, name, measure))
    return out


def unit_changes(results: Sequence[Any]) -> pd.DataFrame:
    """One row per scenario × unit × unit verdict: the measure's value and the verdict in that scenario, the same for
    the first scenario (base_value, base_verdict), value_change and change ('fail → pass', 'pass → fail',
    'unchanged'; 'baseline' for the first scenario's own rows); best_reach_share for the unit-count verdicts (the
    share of the unit's households the best facility reaches within the walk)."""
    columns = ["scenario", "level", "unit_id", "name", "parent_id", "indicator", "indicator_name", "measure", "value",
               "verdict", "base_value", "base_verdict", "value_change", "change", "best_reach_share"]
    if not results:
        return pd.DataFrame(columns=columns)
    rules = _rules(results[0].summary)
    parts = []
    for result in results:
        for level, frame in result.unit_tables.items():
            for column, key, name, measure in verdict_measures(frame, level, rules):
                value = pd.to_numeric(frame[measure], errors="coerce") if measure in frame else pd.Series(np.nan, frame.index)
                kind = next((k for k in KINDS if measure.endswith(k)), None)
                reach = f"best_reach_share_{kind}"
                parts.append(pd.DataFrame({
                    "scenario": result.name, "level": level, "unit_id": frame["unit_id"].astype(str),
                    "name": frame["name"], "parent_id": frame.get("parent_id"), "indicator": key, "indicator_name": name,
                    "measure": measure,
                    "value": value.fillna(0.0) if measure == "largest_centre_m2" else value,
                    "verdict": frame[column].astype(str),
                    "best_reach_share": frame[reach] if kind and reach in frame else np.nan}))
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)
    keys = ["level", "unit_id", "indicator"]
    base = table[table["scenario"] == results[0].name][keys + ["value", "verdict"]]
    table = table.merge(base.rename(columns={"value": "base_value", "verdict": "base_verdict"}), on=keys, how="left")
    table["value_change"] = table["value"] - table["base_value"]
    table["change"] = np.where(table["scenario"] == results[0].name, "baseline",
                               np.where(table["verdict"] == table["base_verdict"], "unchanged",
                                        table["base_verdict"].fillna("not in the first scenario") + " → " + table["verdict"]))
    return table[columns]


_CHANGE_HEADERS = {"scenario": "情景 Scenario", "level_label": "层级 Level", "unit_id": "编号 Id", "name": "名称 Name",
                   "indicator_name": "指标 Indicator", "change": "变化 Change", "base_value": "基准值 First scenario",
                   "value": "情景值 Scenario value", "measure": "依据 Measure"}


def unit_changes_section(changes: pd.DataFrame, names: Sequence[str]) -> Section:
    """comparison.html's per-unit change: the units whose verdicts change against the first scenario (a table) and,
    per unit verdict, the units passing in each scenario (a chart); the same rows as unit_changes.csv."""
    first = names[0] if names else ""
    flips = changes[(changes["change"] != "baseline") & (changes["change"] != "unchanged")].copy()
    flips["level_label"] = flips["level"].map(level_label)
    lines = []
    for name in names[1:]:
        own = flips[flips["scenario"] == name]
        up, down = int((own["change"] == "fail → pass").sum()), int((own["change"] == "pass → fail").sum())
        lines.append(f"{name}: {up} 项转为达标 unit verdict(s) fail → pass, {down} 项转为不达标 pass → fail"
                     + (f", {len(own) - up - down} other" if len(own) > up + down else ""))
    text = "".join(f"<p>{html.escape(line)}</p>" for line in lines) or "<p>只有一个情景 One scenario only.</p>"
    blocks: list = [text + f"<p>{html.escape(f'基准 First scenario: {first} · all rows in {UNIT_CHANGES_FILE}')}</p>"]
    blocks.append(Table("unit_flips", f"判定变化的单元 Units whose verdict changes against {first} ({len(flips)} rows)",
                        flips, _CHANGE_HEADERS, verdict_column=None))
    checks = changes.drop_duplicates(["level", "indicator"])[["level", "indicator", "indicator_name"]]
    if len(checks):
        categories = [f"{level_label(r.level).split()[0]} · {r.indicator_name}"[:30] for r in checks.itertuples(index=False)]
        series = {}
        for name in names:
            own = changes[(changes["scenario"] == name) & (changes["verdict"] == "pass")]
            passing = own.groupby(["level", "indicator"]).size()
            series[name] = [float(passing.get((r.level, r.indicator), 0)) for r in checks.itertuples(index=False)]
        blocks.append(bar_chart("unit_passing", "各情景达标单元数 Units passing each unit verdict, per scenario", categories,
                                series, value_label="达标单元数 Units passing", horizontal=True))
    return Section("unit_changes", "单元判定变化 Per-unit change against the first scenario", blocks)
