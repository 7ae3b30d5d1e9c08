"""Excel workbooks for the planning bureau: the one writer every report uses.

Planners copy figures from these sheets into a plan's indicator table (规划指标表) or the city health check's problem
ledger (问题台账), so each sheet has Chinese headers with the unit in the header, a frozen header row, number formats
(per cent, thousands, decimals) and column widths that fit the text. Header = row 1 and data from row 2, so a sheet
reads back with `pandas.read_excel` or openpyxl without skipping rows. The file is written atomically.
"""
from __future__ import annotations

import math
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..output import atomic_path

#: Number formats by name, so callers say what a column is rather than spell Excel codes.
FORMATS: dict[str, str] = {
    "int": "#,##0",
    "float1": "#,##0.0",
    "float2": "#,##0.00",
    "percent": "0.0%",
    "text": "@",
    "date": "yyyy-mm-dd",
}

#: Excel's sheet-name rules: at most 31 characters, none of these.
_BAD_SHEET_CHARS = set('[]:*?/\\')


@dataclass(frozen=True)
class Column:
    """One column of a sheet: `key` in the frame, `header` as printed (Chinese, with unit), `number_format` a key of
    FORMATS or an Excel format code."""

    key: str
    header: str
    number_format: str | None = None


@dataclass
class Sheet:
    """A sheet: `frame` rows under `columns` (all of the frame's columns, headed by their names, when empty)."""

    name: str
    frame: pd.DataFrame
    columns: Sequence[Column] = field(default_factory=tuple)

    def resolved_columns(self) -> list[Column]:
        if self.columns:
            missing = [c.key for c in self.columns if c.key not in self.frame.columns]
            if missing:
                raise KeyError(f"sheet {self.name!r}: no column(s) {missing} in the table")
            return list(self.columns)
        return [Column(str(name), str(name)) for name in self.frame.columns if name != "geometry"]


def sheet_name(name: str) -> str:
    """`name` made valid for Excel (≤ 31 characters, no []:*?/\\)."""
    cleaned = "".join("_" if ch in _BAD_SHEET_CHARS else ch for ch in name).strip("'") or "sheet"
    return cleaned[:31]


def _display_width(text: str) -> int:
    """Width in Excel character units: CJK and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell_value(value: Any) -> Any:
    """A value openpyxl writes as a number, text, bool or date; missing values (NaN, None, NaT, inf) stay empty."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if not math.isfinite(value) else value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (list, tuple, dict, set)):
        return str(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def write_workbook(target: str | os.PathLike, sheets: Sequence[Sheet]) -> Path:
    """Write `sheets` to the .xlsx `target` (replaced whole, or not at all on failure)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for sheet in sheets:
        name = sheet_name(sheet.name)
        base, n = name, 2
        while name in used:  # two sheets cut to the same 31 characters
            suffix = f"~{n}"
            name, n = base[: 31 - len(suffix)] + suffix, n + 1
        used.add(name)
        ws = book.create_sheet(name)
        columns = sheet.resolved_columns()
        ws.append([c.header for c in columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for row in sheet.frame[[c.key for c in columns]].itertuples(index=False, name=None):
            ws.append([_cell_value(v) for v in row])
        for j, column in enumerate(columns, start=1):
            fmt = FORMATS.get(column.number_format or "", column.number_format)
            letter = get_column_letter(j)
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = fmt
            texts = [column.header] + [str(v) for v in sheet.frame[column.key].head(500) if _cell_value(v) is not None]
            ws.column_dimensions[letter].width = min(60, max(8, max(_display_width(t) for t in texts) + 2))
        ws.freeze_panes = "A2"
        if ws.max_row > 1 and columns:
            ws.auto_filter.ref = ws.dimensions
    if not book.sheetnames:
        book.create_sheet("empty")
    with atomic_path(target) as tmp:
        book.save(tmp)
        _strip_timestamps(Path(tmp))
    return Path(target)


_FIXED_TIME = "2000-01-01T00:00:00Z"


def _strip_timestamps(path: Path) -> None:
    """Same sheets → byte-identical file: openpyxl stamps the save time into docProps/core.xml and every zip entry;
    both are replaced by fixed values (Excel shows no date in the file's properties then)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                              lambda m: m.group(1) + _FIXED_TIME.encode() + m.group(3), data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, data)
