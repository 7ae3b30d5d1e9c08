"""Cells and columns of planners' tables: headers matched against the accepted names (ALIASES, Chinese and English),
cells parsed into numbers, ids, names, area types and facility kinds, and every problem an InputError naming the
file, the spreadsheet row (header = row 1) and the column.

Every reader of planner tables uses these (siting.inputs.layers for residences and facilities, siting.measures.units, siting.checks.sync's
development workbooks), so that every table gives the same messages whatever its schema.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from .schema import ELDERLY, NURSERY

log = logging.getLogger(__name__)

#: Accepted column headers per schema field, compared after NFKC normalisation, lower case, without spaces.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "res_id", "fac_id", "编号", "序号", "代码"),
    "name": ("name", "名称", "小区名称", "设施名称", "小区名", "名字"),
    "households": ("households", "hh", "户数", "住户数", "总户数"),
    "population": ("population", "pop", "人口", "人口数", "常住人口"),
    "area_type": ("area_type", "type", "小区类型", "新旧"),
    "floor_area_m2": ("floor_area_m2", "area", "面积", "建筑面积", "建筑面积(m2)", "建筑面积(㎡)", "建筑面积(平方米)"),
    "seats": ("seats", "托位", "托位数"),
    "places": ("places", "床位", "床位数"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "kind": ("kind", "类型", "设施类型"),
    # optional, kept when present (siting.measures.units reads them): the unit a residence lies in, residents by age,
    # a facility's level in the hierarchy and its nursing-type beds
    "unit_xiaoqu": ("unit_xiaoqu", "所属小区"),
    "unit_community": ("unit_community", "所属社区", "社区"),
    "unit_street": ("unit_street", "所属街道", "街道", "所属乡镇", "乡镇", "所属街道(乡镇)", "街道(乡镇)"),
    "unit_village": ("unit_village", "所属行政村", "行政村", "所属建制村", "建制村"),
    "unit_district": ("unit_district", "所属区县", "区县", "所属区"),
    "elderly": ("elderly", "老年人口", "老年人", "60岁以上人口", "60岁及以上人口"),
    "infants": ("infants", "children_0_3", "婴幼儿", "0-3岁", "0-3岁人口", "3岁以下婴幼儿"),
    "level": ("level", "facility_level", "级别", "设施级别", "层级"),
    "nursing_beds": ("nursing_beds", "护理型床位", "护理型床位数"),
}
#: Keys a project file may use in `columns = {...}`, mapped to the field they name.
_MAPPING_KEYS: dict[str, str] = {**{field: field for field in ALIASES}, "res_id": "id", "fac_id": "id", "x": "lon", "y": "lat",
                                  "xiaoqu": "unit_xiaoqu", "community": "unit_community", "street": "unit_street",
                                  "village": "unit_village", "district": "unit_district"}

AREA_TYPE_VALUES: dict[str, str] = {
    "new": "new", "新建": "new", "新": "new", "新建居住区": "new", "新区": "new",
    "existing": "existing", "old": "existing", "既有": "existing", "老旧": "existing", "老城区": "existing",
    "已建成": "existing", "旧": "existing", "老旧小区": "existing", "既有居住区": "existing",
}
KIND_VALUES: dict[str, str] = {
    ELDERLY: ELDERLY, "elderly": ELDERLY, "elderly day care": ELDERLY, "day care": ELDERLY, "daycare": ELDERLY,
    "日间照料": ELDERLY, "日间照料站": ELDERLY, "日间照料中心": ELDERLY, "养老": ELDERLY, "养老服务": ELDERLY,
    NURSERY: NURSERY, "kindergarten": NURSERY, "childcare": NURSERY, "托育": NURSERY, "托儿所": NURSERY,
    "托育园": NURSERY, "托育机构": NURSERY, "幼儿园": NURSERY,
}
#: Substrings that decide the kind of a longer label such as 社区日间照料中心 or 普惠托育中心.
_KIND_KEYWORDS: dict[str, str] = {"日间照料": ELDERLY, "养老": ELDERLY, "老年": ELDERLY, "托育": NURSERY,
                                  "托儿": NURSERY, "幼儿园": NURSERY}

DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical-bar"}


def normalise_header(text: str) -> str:
    """A header (or a label cell) as compared against ALIASES: NFKC (full-width → ASCII), no spaces, lower case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


_ALIAS_INDEX: dict[str, dict[str, str]] = {
    field: {normalise_header(a): a for a in aliases} for field, aliases in ALIASES.items()
}


def resolve_columns(frame: pd.DataFrame, source: str, columns: dict[str, str] | None,
                    fields: Iterable[str], aliases: dict[str, tuple[str, ...]] | None = None) -> dict[str, str]:
    """{field: file column} for the schema `fields`: the project mapping `columns` first, then the ALIASES (exact,
    then without a unit in brackets such as 户数(户)). Fields without a column are left out; callers decide which are
    required. ConfigError/InputError for a mapping key or mapped column that does not exist. Another layer type
    (siting.measures.units) passes its own `aliases`, whose keys are then the mapping keys."""
    present = [c for c in frame.columns if c != geometry_column_name(frame)]
    mapping_keys = _MAPPING_KEYS if aliases is None else {field: field for field in aliases}
    alias_index = _ALIAS_INDEX if aliases is None else {
        field: {normalise_header(a): a for a in names} for field, names in aliases.items()}
    found: dict[str, str] = {}
    for key, file_column in (columns or {}).items():
        field = mapping_keys.get(str(key).strip().lower())
        if field is None:
            raise ConfigError(f"unknown column key '{key}' in the column mapping", file=source,
                              expected="one of " + ", ".join(sorted(mapping_keys)),
                              fix="use the schema names on the left: columns = { households = \"户数\" }")
        if file_column not in present:
            raise InputError(f"column '{file_column}' (mapped to {field}) is not in the file; found: "
                             + ", ".join(map(str, present)), file=source, column=file_column,
                             fix="correct the column mapping in the project file")
        found[field] = file_column
    wanted = [f for f in fields if f not in found]
    for strip_unit in (False, True):
        for column in present:
            key = normalise_header(column)
            if strip_unit:
                key = re.sub(r"\([^()]*\)$", "", key)
            for field in wanted:
                if field not in found and column not in found.values() and key in alias_index[field]:
                    found[field] = column
    return found


def geometry_column_name(frame: pd.DataFrame) -> str | None:
    """Name of the active geometry column of a GeoDataFrame, None for a plain table (CSV, Excel)."""
    if isinstance(frame, gpd.GeoDataFrame):
        name = frame._geometry_column_name
        if name is not None and name in frame.columns:
            return name
    return None


def missing_column_error(frame: pd.DataFrame, source: str, field: str, also: str | None = None,
                    fix: str | None = None) -> InputError:
    present = [str(c) for c in frame.columns if c != geometry_column_name(frame)]
    fields = [field] + ([also] if also else [])
    accepted = "; ".join(f"{f}: " + ", ".join(ALIASES[f]) for f in fields)
    what = " or ".join(f"'{f}'" for f in fields)
    expected = f"a column named one of ({accepted})"
    header_row = _header_row_below(frame, fields)
    delimiter = frame.attrs.get("delimiter")
    if header_row is not None:
        fix = f"the header seems to be on row {header_row}; set header_row = {header_row} for this layer in the project file"
    elif delimiter is not None and len(present) == 1:
        name = DELIMITER_NAMES[delimiter]
        return InputError(f"no {what} column; the file reads as one column ('{present[0]}'), so the cells are not "
                          f"separated by {name}s", file=source, column=field,
                          expected=f"cells separated by commas, semicolons, tabs or vertical bars, and {expected}",
                          fix="the delimiter is the likely problem: save the sheet from Excel or WPS as "
                              "'CSV UTF-8 (comma delimited)'")
    return InputError(f"no {what} column; found: " + ", ".join(present), file=source, column=field, expected=expected,
                      fix=fix or f"rename the column, or map it in the project file: columns = {{ {field} = \"…\" }}")


def _header_row_below(frame: pd.DataFrame, fields: list[str], rows: int = 10) -> int | None:
    """The spreadsheet row of one of the first data rows that reads as a header row (a sheet with a title row above
    its table, the title read as the header): it names one of `fields` and at least one other known column. None
    when no row does."""
    wanted = {key for f in fields for key in _ALIAS_INDEX[f]}
    known = {key for index in _ALIAS_INDEX.values() for key in index}
    for i in range(min(rows, len(frame))):
        cells = {re.sub(r"\([^()]*\)$", "", normalise_header(v)) for v in frame.iloc[i] if not is_blank(v)}
        if cells & wanted and len(cells & known) >= 2:
            return spreadsheet_row(frame, i)
    return None


def check_not_empty(frame: pd.DataFrame, source: str) -> None:
    if len(frame) == 0:
        raise InputError("the table has no data rows", file=source, expected="a header row and at least one data row")


def spreadsheet_row(frame: pd.DataFrame, i: int) -> int:
    """Spreadsheet row (header = row 1) of the i-th data row, as messages must name it: read_table records the rows
    when it drops blank lines, so numbers stay those the planner sees in Excel."""
    rows = frame.attrs.get("spreadsheet_rows")
    return int(rows[i]) if rows is not None and len(rows) == len(frame) else i + 2


def is_blank(value) -> bool:
    """None, NaN, pandas NA or a string of spaces: an empty cell in any of the readers."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def parse_numbers(frame: pd.DataFrame, source: str, column: str | None) -> np.ndarray:
    """Cells of `column` as a float64 array, NaN for blank cells (all NaN when `column` is None). Thousands
    separators are accepted ("1,200"); text such as "12户", "NaN" or "inf" is an InputError at its row, because a
    silently dropped figure would change the coverage result."""
    if column is None:
        return np.full(len(frame), np.nan)
    fast = _numbers_at_once(frame[column])
    if fast is not None:
        return fast
    out = np.full(len(frame), np.nan)
    for i, value in enumerate(frame[column].tolist()):
        if is_blank(value):
            continue
        try:
            number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not np.isfinite(number):  # NaN from a blank spatial field was caught by is_blank
            raise InputError(f"'{value}' is not a number", file=source, row=spreadsheet_row(frame, i), column=column,
                             expected="a number (digits only, no units)", fix="correct the cell or leave it blank")
        out[i] = number
    return out


def _numbers_at_once(column: pd.Series) -> np.ndarray | None:
    """parse_numbers for a whole column at once: a numeric column as it is, a text column through Python's own float
    parsing (numpy calls it per string, so every figure is the exact float the per-cell path gives). None when any
    cell is not a finite number or not plain text: the per-cell path then names the first bad cell."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return None if np.isinf(values).any() else values
    cells = column.to_numpy(dtype=object)
    if not _all_text(cells):
        return None
    texts = np.array([v.strip().replace(",", "") for v in cells.tolist()], dtype=object)
    blank = texts == ""
    texts[blank] = "nan"
    try:
        values = texts.astype(np.float64)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(values[~blank]).all():
        return None
    values[blank] = np.nan
    return values


def check_non_negative(frame: pd.DataFrame, values: np.ndarray, source: str, column: str | None, field: str) -> None:
    """InputError at the first negative value of `values` (as read from `column` by parse_numbers); NaN passes."""
    negative = values < 0
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise InputError(f"{field} is negative ({values[i]:g})", file=source, row=spreadsheet_row(frame, i), column=column,
                         expected="zero or a positive number", fix="correct the cell")


def parse_ids(frame: pd.DataFrame, source: str, column: str | None, prefix: str) -> list[str]:
    """Ids of `column` as text ("007" stays "007", Excel's 7.0 becomes "7"); blank or repeated ids are an InputError
    naming both rows. Without a column, ids `prefix`1.. are generated in row order (and logged)."""
    if column is None:
        log.info("%s: no id column; ids %s1..%s%d generated in row order", source, prefix, prefix, len(frame))
        return [f"{prefix}{i + 1}" for i in range(len(frame))]
    cells = frame[column].to_numpy(dtype=object)
    if _all_text(cells):
        texts = [v.strip() for v in cells.tolist()]
        if all(texts) and not pd.Series(texts, dtype=object).duplicated().any():
            return texts
    ids: list[str] = []
    first_row: dict[str, int] = {}
    for i, value in enumerate(frame[column].tolist()):
        if is_blank(value):
            raise InputError("blank id", file=source, row=spreadsheet_row(frame, i), column=column, expected="a unique id in every row",
                             fix="fill in the id, or delete the id column to have ids generated")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Excel stores 7 as 7.0
        text = str(value).strip()
        if text in first_row:
            raise InputError(f"id '{text}' appears twice, in rows {first_row[text]} and {spreadsheet_row(frame, i)}", file=source,
                             row=spreadsheet_row(frame, i), column=column, expected="unique ids", fix="give one of the two rows another id")
        first_row[text] = spreadsheet_row(frame, i)
        ids.append(text)
    return ids


def parse_names(frame: pd.DataFrame, column: str | None) -> list[str]:
    """Names of `column` as text, "" for blank cells or when there is no name column."""
    if column is None:
        return [""] * len(frame)
    cells = frame[column].to_numpy(dtype=object)
    if _all_text(cells):
        return cells.tolist()
    return ["" if is_blank(v) and not isinstance(v, str) else str(v) for v in cells.tolist()]


def _all_text(cells: np.ndarray) -> bool:
    """Every cell a str (a CSV column): the vectorised paths below apply."""
    return pd.api.types.infer_dtype(cells, skipna=False) in ("string", "empty")


def parse_area_types(frame: pd.DataFrame, source: str, column: str | None, default: str) -> np.ndarray:
    out = np.full(len(frame), default, dtype=object)
    if column is None:
        return out
    codes, labels = pd.factorize(pd.Series(frame[column].to_numpy(dtype=object), dtype=object))
    mapped = [None if is_blank(label) else AREA_TYPE_VALUES.get(normalise_header(label)) for label in labels]
    if all(m is not None or is_blank(label) for m, label in zip(mapped, labels)):  # each distinct label once
        lookup = np.array([default if m is None else m for m in mapped] + [default], dtype=object)
        return lookup[codes]  # code -1 (a missing cell) takes the last entry, the default
    for i, value in enumerate(frame[column].tolist()):
        if is_blank(value):
            continue
        mapped = AREA_TYPE_VALUES.get(normalise_header(value))
        if mapped is None:
            raise InputError(f"area type '{value}' is not recognised", file=source, row=spreadsheet_row(frame, i), column=column,
                             expected="新建/新/new for new districts, 既有/老旧/老城区/已建成/old/existing for existing ones",
                             fix=f"use one of those values, or leave blank for the default '{default}'")
        out[i] = mapped
    return out


def kind_of(value) -> str | None:
    key = normalise_header(value).replace("_", " ").strip()
    kind = KIND_VALUES.get(key) or KIND_VALUES.get(key.replace(" ", "_"))
    if kind is not None:
        return kind
    hits = {k for word, k in _KIND_KEYWORDS.items() if word in key}
    return hits.pop() if len(hits) == 1 else None


def check_kind_column_agrees(frame: pd.DataFrame, source: str, column: str, whole: str) -> None:
    """The project's `kind` for a whole file must not contradict a recognised kind in the file's own kind column
    (labels it does not recognise, e.g. 公办/民办, are not kinds and pass)."""
    for i, value in enumerate(frame[column].tolist()):
        kind = None if is_blank(value) else kind_of(value)
        if kind is not None and kind != whole:
            raise ConfigError(f"the project sets kind = \"{whole}\" for this file, but its column '{column}' says "
                              f"'{value}' ({kind})", file=source, row=spreadsheet_row(frame, i), column=column,
                              expected="the same kind in the project file and in the file's kind column",
                              fix="remove kind from this [[facilities]] block to use the file's column, or correct the "
                                  "column or the project's kind")


def parse_kinds(frame: pd.DataFrame, source: str, column: str) -> np.ndarray:
    """Facility kinds (ELDERLY / NURSERY) from labels such as 日间照料, 托育, 幼儿园 or 社区日间照料中心; an
    unrecognised or blank label is an InputError at its row."""
    out = np.empty(len(frame), dtype=object)
    for i, value in enumerate(frame[column].tolist()):
        kind = None if is_blank(value) else kind_of(value)
        if kind is None:
            raise InputError(f"facility type '{'' if is_blank(value) else value}' is not recognised", file=source,
                             row=spreadsheet_row(frame, i), column=column,
                             expected="日间照料/养老/elderly for elderly day care, 托育/托儿所/幼儿园/nursery for nurseries",
                             fix="use one of those values, or give kind for the whole file in the project file")
        out[i] = kind
    return out
