"""Milestone dates of the 四同步 check: reading a date cell, and the date check that catches dates which parse but
cannot be right, so that no verdict counts "days late" from them.

Errors (the run stops before any work, one line naming file, row and column): a cell that is not a date at all
(text, 2023-13-01, a bare number that is no Excel day number).

Flagged (the run goes on; every flagged cell is one row of `date_checks` and of sync_date_checks.csv, and the
checks that need it say missing_data with the date check's message, never a count of days late):
    too early     before EARLIEST_PLAUSIBLE (1990-01-01). The 四同步 rule dates from 2013; a year such as 1902 is
                  what Excel shows when a number (e.g. 1001) was typed into a date-formatted cell.
    too late      more than FUTURE_YEARS (20) years after as_of: a mistyped year (2204 for 2024), not a schedule.
    out of order  a record's milestones must run 规划批准 ≤ 开工 ≤ 竣工验收 ≤ 交付; a facility delivered before it
                  was planned cannot be judged. The date involved in most inverted pairs is the suspect; on a tie
                  every tied date is (both dates of a single inverted pair).
One bad cell should not hide the other 199 developments' verdicts, and the planner sees every bad cell at once
instead of one error per run.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..inputs.columns import is_blank

MILESTONES: tuple[str, ...] = ("planning_approval", "construction_start", "completion_acceptance", "delivery")
MILESTONE_LABEL: dict[str, str] = {
    "planning_approval": "规划批准 Planning approval", "construction_start": "开工 Construction start",
    "completion_acceptance": "竣工验收 Completion acceptance", "delivery": "交付 Delivery",
}
EARLIEST_PLAUSIBLE = dt.date(1990, 1, 1)
FUTURE_YEARS = 20
DATE_CHECK_COLUMNS = ("table", "development_id", "record", "file", "row", "column", "milestone", "value", "problem",
                      "fix", "message")

_DATE_RE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def parse_date(value: Any, *, file: str | os.PathLike | None = None, row: int | None = None,
               column: str | None = None) -> dt.date | None:
    """A milestone date from a cell: ISO, 2023/5/1, 2023.5.1, 2023年5月1日, a datetime or an Excel serial number;
    None for a blank cell."""
    if is_blank(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if 20000 <= float(value) <= 80000:  # Excel serial day numbers: 1954 .. 2119
            return _EXCEL_EPOCH + dt.timedelta(days=int(value))
    match = _DATE_RE.match(str(value))
    if match:
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise InputError(f"'{value}' is not a date", file=file, row=row, column=column,
                     expected="a date such as 2023-05-01, 2023/5/1 or 2023年5月1日 (blank if it has not happened)",
                     fix="correct the cell, or leave it blank")


def check_dates(frame: pd.DataFrame, table: str, as_of: dt.date) -> tuple[pd.DataFrame, list[dict]]:
    """`frame` (normalized phases or facilities) with implausible dates blanked and named per row in the column
    `invalid_dates` (a tuple of milestones), and one date-check record per flagged cell."""
    out = frame.copy()
    latest = as_of.replace(year=as_of.year + FUTURE_YEARS) if not (as_of.month == 2 and as_of.day == 29) \
        else dt.date(as_of.year + FUTURE_YEARS, 2, 28)
    invalid: list[tuple[str, ...]] = []
    records: list[dict] = []
    for i in range(len(frame)):
        rec = frame.iloc[i]
        dates = {m: rec[m] for m in MILESTONES if rec[m] is not None}
        flagged: dict[str, tuple[str, str]] = {}
        for m, d in dates.items():
            if d < EARLIEST_PLAUSIBLE:
                flagged[m] = (f"{d} is before {EARLIEST_PLAUSIBLE}, not a date of a new development (Excel shows a "
                              "number typed into a date cell as a day in 1900–1927)",
                              "type the date, e.g. 2022-09-01, or leave the cell blank if it has not happened")
            elif d > latest:
                flagged[m] = (f"{d} is more than {FUTURE_YEARS} years after the as-of date {as_of}",
                              "correct the year, or leave the cell blank if no schedule is known")
        order = {m: d for m, d in dates.items() if m not in flagged}
        for m, other in _out_of_order(order):
            flagged[m] = (f"{MILESTONE_LABEL[m]} {order[m]} is out of order with {MILESTONE_LABEL[other]} "
                          f"{order[other]} of the same {'phase' if table == 'phases' else 'facility'}",
                          "correct whichever date is wrong: milestones run 规划批准 ≤ 开工 ≤ 竣工验收 ≤ 交付")
        for m, (problem, fix) in flagged.items():
            out.at[out.index[i], m] = None
            records.append(_record(rec, table, m, problem, fix))
        invalid.append(tuple(m for m in MILESTONES if m in flagged))
    out["invalid_dates"] = invalid
    return out, records


def _out_of_order(dates: dict[str, dt.date]) -> list[tuple[str, str]]:
    """(suspect milestone, the milestone it contradicts) until no pair of `dates` is inverted."""
    dates = dict(dates)
    suspects: list[tuple[str, str]] = []
    while True:
        keys = [m for m in MILESTONES if m in dates]
        pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:] if dates[a] > dates[b]]
        if not pairs:
            return suspects
        counts = {m: sum(m in p for p in pairs) for m in keys}
        worst = max(counts.values())
        for m in [m for m in keys if counts[m] == worst]:
            other = next(b if a == m else a for a, b in pairs if m in (a, b))
            suspects.append((m, other))
            del dates[m]


def _record(rec: pd.Series, table: str, milestone: str, problem: str, fix: str) -> dict:
    source = rec.get("source") or table
    columns = rec.get("headers")  # the planner's column headers (siting.checks.sync._dates)
    column = columns.get(milestone, MILESTONE_LABEL[milestone]) if isinstance(columns, dict) else MILESTONE_LABEL[milestone]
    row = int(rec["row"]) if not is_blank(rec.get("row")) else None
    if table == "phases":
        dev, what = rec["development_id"], _record_name(table, (rec["development_id"], rec["phase"]))
    else:
        dev, what = ";".join(rec["development_ids"]), _record_name(table, rec["fac_id"])
    message = str(InputError(f"date check: {what}: {problem}; treated as missing", file=source, row=row, column=column,
                             fix=fix))
    return {"table": table, "development_id": dev, "record": what, "file": source, "row": row, "column": column,
            "milestone": milestone, "value": rec[milestone].isoformat(), "problem": problem, "fix": fix,
            "message": message}


def date_check_note(records: list[dict], table: str, key: Any, milestone: str) -> str:
    """The message of the date check that blanked `milestone` of a record (phase (dev, phase) or facility id)."""
    for r in records:
        if r["table"] == table and r["milestone"] == milestone and r["record"] == _record_name(table, key):
            return r["message"]
    return ""


def _record_name(table: str, key: Any) -> str:
    return f"development {key[0]} phase {key[1]}" if table == "phases" else f"facility {key}"
