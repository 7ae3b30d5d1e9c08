"""Planning standards as data: one TOML profile per city (siting/inputs/profiles/*.toml) plus a national default.

A profile lists figures (walking time, m² per 100 households, seats per 1,000 residents, ...), each with the
document and clause it comes from and whether that source was confirmed. A profile names its parent with
`inherits`; a figure it leaves out falls back to the parent and reports `inherited_from`, so a report can say
"national default" instead of pretending the city set it. Planners can write their own file inheriting from a
built-in one, and what-if scenarios use `Profile.with_overrides`.

File layout (every figure table may also be written as a bare value, e.g. `walk_minutes = 10`):

    title = "赤峰市 Chifeng"
    inherits = "national"            # a built-in name or a path relative to this file
    # name, title, inherits and document may instead sit in a [profile] table (the README's example)
    [figures.walk_minutes]
    value = 15
    unit = "min"
    source = "seed 004 ..."
    clause = "打造15分钟养老托育服务圈"
    confirmed = true
    note = "optional"
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..errors import ConfigError
from .schema import AREA_TYPES, ELDERLY, KINDS

BUILTIN_DIR = Path(__file__).resolve().parent / "profiles"

FigureValue = float | str | dict[int, float] | tuple[str, ...]


@dataclass(frozen=True)
class FigureSpec:
    unit: str
    kind: str  # "number" | "text" (one of choices) | "list" (some of choices) | "table" (year -> number)
    meaning: str
    choices: tuple[str, ...] = ()


#: How a unit counts as having a service: a facility inside it, one reaching `unit_reach_share` of its households
#: within the walk, or either.
_UNIT_RULES = ("inside", "reach", "inside_or_reach")

#: Every figure a profile may hold. Code elsewhere reads these exact keys.
FIGURES: dict[str, FigureSpec] = {
    "walk_minutes": FigureSpec("min", "number", "walking time of the service circle"),
    "walk_speed_m_per_min": FigureSpec("m/min", "number", "walking speed of general pedestrians (nursery trips)"),
    "elderly_walk_speed_m_per_min": FigureSpec("m/min", "number", "walking speed of older pedestrians (day-care trips)"),
    "household_size": FigureSpec("persons/household", "number", "persons per household, to convert households <-> population"),
    "elderly_m2_per_100_households_new": FigureSpec("m²/100 households", "number", "minimum elderly-care building area, new residential areas"),
    "elderly_m2_per_100_households_new_max": FigureSpec("m²/100 households", "number", "upper end of the new-area range"),
    "elderly_m2_per_100_households_existing": FigureSpec("m²/100 households", "number", "minimum elderly-care building area, existing areas"),
    "elderly_m2_per_100_households_existing_max": FigureSpec("m²/100 households", "number", "upper end of the existing-area range"),
    "elderly_station_min_m2": FigureSpec("m²", "number", "minimum building area of a community elderly-care station"),
    "elderly_street_centre_min_m2": FigureSpec("m²", "number", "minimum building area of a street-level elderly-care centre"),
    "nursery_seats_per_1000_city": FigureSpec("seats/1000 residents", "number", "city-wide childcare seats target"),
    "nursery_seats_per_1000_new": FigureSpec("seats/1000 residents", "number", "childcare seats in new residential areas"),
    "nursery_seats_per_1000_existing": FigureSpec("seats/1000 residents", "number", "childcare seats in existing areas"),
    "nursery_seats_per_1000_by_year": FigureSpec("seats/1000 residents", "table", "city-wide seats target by year"),
    "elderly_beds_per_1000_elderly": FigureSpec("beds/1000 elderly", "number", "elderly-care beds per 1,000 residents aged 60+"),
    "elderly_bed_demand_per_1000_elderly": FigureSpec("beds/1000 elderly", "number", "bed demand rate a plan's projection uses, where it differs from the supply target"),
    "day_care_coverage_target": FigureSpec("share", "number", "share of households within the walk of a day-care facility (0..1); the 社区 count is community_day_care_coverage_target"),
    "childcare_coverage_target": FigureSpec("share", "number", "share of households within the walk of a nursery (0..1); the 社区 count is community_childcare_coverage_target"),
    "community_day_care_coverage_target": FigureSpec("share", "number", "社区日间照料机构覆盖率: share of 社区 that have day care (a unit count, 0..1)"),
    "community_day_care_rule": FigureSpec("rule", "text", "when a 社区 has day care: a facility inside it, one reaching unit_reach_share of its households, or either", _UNIT_RULES),
    "community_childcare_coverage_target": FigureSpec("share", "number", "城市社区托育覆盖率: share of urban 社区 that have childcare (a unit count, 0..1)"),
    "community_childcare_rule": FigureSpec("rule", "text", "when a 社区 has childcare (as community_day_care_rule)", _UNIT_RULES),
    "village_elderly_care_coverage_target": FigureSpec("share", "number", "农村养老服务设施建制村/行政村覆盖率: share of villages with an elderly-care facility (0..1)"),
    "village_elderly_care_rule": FigureSpec("rule", "text", "when a village has elderly care (as community_day_care_rule)", _UNIT_RULES),
    "street_centre_coverage_target": FigureSpec("share", "number", "share of 街道 with a comprehensive elderly-care centre of at least elderly_street_centre_min_m2 (0..1)"),
    "new_residential_compliance_target": FigureSpec("share", "number", "新建居住区配套建设养老服务设施达标率: share of new 小区 whose own elderly-care floor area meets the new-area standard (0..1)"),
    "nursing_bed_share_target": FigureSpec("share", "number", "护理型床位占比: nursing-type beds as a share of elderly-care beds (0..1)"),
    "unit_reach_share": FigureSpec("share", "number", "share of a unit's households one facility must reach within the walk for the unit to have the service under the 'reach' rule (0..1)"),
    "plan_target_year": FigureSpec("year", "number", "the year the plan's targets are set for"),
    "four_sync_tolerance_days": FigureSpec("days", "number", "days a facility may lag its housing and still count as synchronous"),
    "four_sync_delivery_rule": FigureSpec("rule", "text", "which housing delivery the facility must match", ("each_phase", "first_phase")),
    "four_sync_checks": FigureSpec("checks", "list", "which of the four synchronizations the plan requires",
                                   ("plan", "build", "accept", "deliver")),
    "dwelling_size_m2": FigureSpec("m²/dwelling", "number", "gross floor area per dwelling, to estimate households of OSM buildings"),
    "default_building_levels": FigureSpec("levels", "number", "levels assumed for an OSM building without a levels tag"),
}

#: (low, high) bounds of figures whose sensible range is narrower than "not negative".
_RANGES: dict[str, tuple[float, float]] = {
    "walk_minutes": (1.0, 120.0),
    "walk_speed_m_per_min": (20.0, 120.0),
    "elderly_walk_speed_m_per_min": (20.0, 120.0),
    "household_size": (1.0, 10.0),
    "day_care_coverage_target": (0.0, 1.0),
    "childcare_coverage_target": (0.0, 1.0),
    "community_day_care_coverage_target": (0.0, 1.0),
    "community_childcare_coverage_target": (0.0, 1.0),
    "village_elderly_care_coverage_target": (0.0, 1.0),
    "street_centre_coverage_target": (0.0, 1.0),
    "new_residential_compliance_target": (0.0, 1.0),
    "nursing_bed_share_target": (0.0, 1.0),
    "unit_reach_share": (0.01, 1.0),
    "plan_target_year": (2000.0, 2100.0),
    "dwelling_size_m2": (20.0, 500.0),
    "default_building_levels": (1.0, 200.0),
}

#: (smaller, larger, why): the first must not exceed the second.
_ORDER_RULES: tuple[tuple[str, str, str], ...] = (
    ("elderly_m2_per_100_households_new", "elderly_m2_per_100_households_new_max", "a range's upper end is below its minimum"),
    ("elderly_m2_per_100_households_existing", "elderly_m2_per_100_households_existing_max", "a range's upper end is below its minimum"),
    ("elderly_m2_per_100_households_existing", "elderly_m2_per_100_households_new", "the existing-area standard is stricter than the new-area one"),
    ("nursery_seats_per_1000_existing", "nursery_seats_per_1000_new", "the existing-area standard is stricter than the new-area one"),
    ("nursery_seats_per_1000_city", "nursery_seats_per_1000_new", "the city-wide average exceeds the new-area standard"),
    ("elderly_station_min_m2", "elderly_street_centre_min_m2", "a community station is required to be larger than a street-level centre"),
)

_PROFILE_KEYS = ("name", "title", "inherits", "document", "figures")
_HEADER_KEYS = ("name", "title", "inherits", "document")  # also accepted inside a [profile] table
_FIGURE_FIELDS = ("value", "unit", "source", "clause", "confirmed", "note")


@dataclass(frozen=True)
class Figure:
    key: str
    value: FigureValue
    unit: str
    source: str
    clause: str
    confirmed: bool
    inherited_from: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": dict(self.value) if isinstance(self.value, dict) else list(self.value) if isinstance(self.value, tuple) else self.value,
            "unit": self.unit,
            "source": self.source,
            "clause": self.clause,
            "confirmed": self.confirmed,
            "inherited_from": self.inherited_from,
            "note": self.note,
        }


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    path: Path
    parent: str | None = None
    _figures: Mapping[str, Figure] = field(default_factory=dict, repr=False)
    #: where each figure was written (a file, or "<file> (override)"), for error messages
    _defined_in: Mapping[str, str] = field(default_factory=dict, repr=False)

    # --- generic access ---------------------------------------------------------------------------------------
    def figure(self, key: str) -> Figure:
        if key not in self._figures:
            chain = f" nor in the profile it inherits ({self.parent})" if self.parent else ""
            raise ConfigError(
                f"profile '{self.name}' has no figure '{key}'{chain}",
                file=self.path,
                expected=_expected_key_text() if key not in FIGURES else f"a [figures.{key}] entry ({FIGURES[key].meaning})",
                fix=f"add [figures.{key}] to {self.path.name} or set inherits = \"national\"",
            )
        return self._figures[key]

    def value(self, key: str) -> FigureValue:
        return self.figure(key).value

    def get(self, key: str, default: Any = None) -> Any:
        figure = self._figures.get(key)
        return default if figure is None else figure.value

    def keys(self) -> list[str]:
        return [key for key in FIGURES if key in self._figures]

    def __iter__(self) -> Iterator[Figure]:
        return (self._figures[key] for key in self.keys())

    def to_dict(self) -> dict[str, Any]:
        """Every figure with its source and clause, for the JSON run summary."""
        return {
            "name": self.name,
            "title": self.title,
            "path": str(self.path),
            "inherits": self.parent,
            "figures": {key: self._figures[key].to_dict() for key in self.keys()},
        }

    # --- the questions other stages ask -----------------------------------------------------------------------
    def elderly_m2_per_100_households(self, area_type: str) -> float:
        """Minimum elderly-care building area (m² per 100 households) for 'new' or 'existing' areas."""
        _check_choice(area_type, AREA_TYPES, "area_type", self.path)
        return float(self.value(f"elderly_m2_per_100_households_{area_type}"))

    def nursery_seats_per_1000(self, area_type: str) -> float:
        """Childcare seats per 1,000 residents for 'new', 'existing' areas or the 'city' average."""
        _check_choice(area_type, (*AREA_TYPES, "city"), "area_type", self.path)
        return float(self.value(f"nursery_seats_per_1000_{area_type}"))

    def walk_speed_m_per_min(self, kind: str) -> float:
        """Day-care users walk at the elderly speed; nursery trips (parents with toddlers) at the general one."""
        _check_choice(kind, KINDS, "kind", self.path)
        key = "elderly_walk_speed_m_per_min" if kind == ELDERLY else "walk_speed_m_per_min"
        return float(self.value(key))

    def walk_limit_m(self, kind: str, minutes: float | None = None) -> float:
        """Network distance (m) reachable in `minutes` (default: the profile's walk_minutes)."""
        minutes = float(self.value("walk_minutes")) if minutes is None else float(minutes)
        return minutes * self.walk_speed_m_per_min(kind)

    def with_overrides(self, **figures: Any) -> "Profile":
        """A what-if copy with some values replaced; each replaced figure records source 'override'."""
        where = f"{self.path} (override)"
        updated = dict(self._figures)
        defined_in = dict(self._defined_in)
        for key, raw in figures.items():
            value = _parse_value(key, raw, where)
            old = self._figures.get(key)
            clause = f"what-if: was {old.value!r} ({old.source})" if old else "what-if: new figure"
            updated[key] = Figure(key, value, FIGURES[key].unit, "override", clause, False, None, None)
            defined_in[key] = where
        profile = replace(self, title=f"{self.title} [what-if: {', '.join(sorted(figures))}]", _figures=updated,
                          _defined_in=defined_in)
        _validate(profile, set(figures))
        return profile


# --- loading ----------------------------------------------------------------------------------------------------

def list_profiles() -> list[str]:
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name ('chifeng') or any profile file by path."""
    return _build(_resolve(name_or_path, base=None, referrer=None), chain=())


def _resolve(ref: str | Path, base: Path | None, referrer: Path | None) -> Path:
    text = str(ref).strip()
    looks_like_path = isinstance(ref, Path) or text.endswith(".toml") or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ConfigError(
                f"profile file {'named by inherits ' if referrer else ''}does not exist: {path}",
                file=referrer or path,
                expected="an existing .toml profile file or a built-in name: " + ", ".join(list_profiles()),
                fix="check the path (relative paths in 'inherits' are relative to the file that names them)",
            )
        return path.resolve()
    path = BUILTIN_DIR / f"{text}.toml"
    if not path.is_file():
        raise ConfigError(
            f"unknown {'parent ' if referrer else ''}profile '{text}'" + (" in key 'inherits'" if referrer else ""),
            file=referrer,
            expected="a built-in profile (" + ", ".join(list_profiles()) + ") or a path to a .toml file",
            fix="use one of the built-in names or give the profile file's path",
        )
    return path.resolve()


def _read_toml(path: Path) -> dict[str, Any]:
    from .textfile import Undecodable, decode_text

    try:
        return tomllib.loads(decode_text(path.read_bytes()).text)  # UTF-8 with or without a byte-order mark, or GBK
    except Undecodable as exc:
        raise ConfigError(f"line {exc.first_bad['utf-8-sig']}: bytes that are neither UTF-8 nor GBK", file=path,
                          expected="a profile file saved as UTF-8", fix="save it with the encoding UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", file=path, expected="a TOML profile file",
                          fix="compare with a built-in profile in siting/inputs/profiles/") from None
    except OSError as exc:
        raise ConfigError(f"cannot read profile ({exc.strerror or exc})", file=path) from None


def _build(path: Path, chain: tuple[Path, ...]) -> Profile:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ConfigError(f"profiles inherit from each other in a cycle: {cycle}", file=chain[-1],
                          expected="a chain of 'inherits' that ends at a profile without 'inherits'",
                          fix="remove 'inherits' from one of them (the national profile inherits nothing)")
    raw = _profile_table(_read_toml(path), path)
    unknown = sorted(set(raw) - set(_PROFILE_KEYS))
    if unknown:
        hint = " (figures go under [figures.<key>])" if set(unknown) & set(FIGURES) else ""
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)}{hint}", file=path,
                          expected="only " + ", ".join(_PROFILE_KEYS), fix="remove or rename them")
    name = str(raw.get("name") or path.stem)
    figures_raw = raw.get("figures", {})
    if not isinstance(figures_raw, dict):
        raise ConfigError("'figures' must be a table of figures", file=path, expected="[figures.<key>] tables")

    figures: dict[str, Figure] = {}
    defined_in: dict[str, str] = {}
    parent_name = None
    if raw.get("inherits"):
        parent = _build(_resolve(raw["inherits"], base=path.parent, referrer=path), chain=(*chain, path))
        parent_name = parent.name
        for key, figure in parent._figures.items():
            figures[key] = replace(figure, inherited_from=figure.inherited_from or parent.name)
        defined_in.update(parent._defined_in)
    for key, entry in figures_raw.items():
        figures[key] = _parse_figure(key, entry, path)
        defined_in[key] = str(path)

    profile = Profile(name=name, title=str(raw.get("title") or name), path=path, parent=parent_name,
                      _figures=figures, _defined_in=defined_in)
    _validate(profile, set(figures_raw))
    return profile


def _profile_table(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Lift a [profile] table (name, title, inherits, document) to the top level, where the loader reads them."""
    if "profile" not in raw:
        return raw
    header = raw["profile"]
    if not isinstance(header, dict):
        raise ConfigError("'profile' must be a table", file=path, expected="[profile] with name, title, inherits",
                          fix="write [profile] on its own line above name = ..., or drop it and put the keys at the top")
    unknown = sorted(set(header) - set(_HEADER_KEYS))
    if unknown:
        hint = " (figures go under [figures.<key>])" if set(unknown) & set(FIGURES) else ""
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [profile]{hint}", file=path,
                          expected="only " + ", ".join(_HEADER_KEYS), fix="remove or rename them")
    twice = sorted(set(header) & set(raw))
    if twice:
        raise ConfigError(f"{', '.join(twice)} given both in [profile] and at the top of the file", file=path,
                          expected="each of name, title, inherits, document once", fix="keep one of them")
    return {**{k: v for k, v in raw.items() if k != "profile"}, **header}


def _parse_figure(key: str, entry: Any, path: Path) -> Figure:
    if key not in FIGURES:
        raise ConfigError(f"unknown figure key '{key}'", file=path, expected=_expected_key_text(),
                          fix="correct the spelling; figure keys are fixed because other stages read them")
    spec = FIGURES[key]
    bare_table = spec.kind == "table" and isinstance(entry, dict) and entry and not set(entry) & set(_FIGURE_FIELDS)
    if not isinstance(entry, dict) or bare_table:
        entry = {"value": entry}  # shorthand: key = value (or key = { 2025 = 4.5 })
    extra = sorted(set(entry) - set(_FIGURE_FIELDS))
    if extra:
        raise ConfigError(f"figure '{key}' has unknown field(s) {', '.join(extra)}", file=path,
                          expected="fields " + ", ".join(_FIGURE_FIELDS), fix="remove or rename them")
    if "value" not in entry:
        raise ConfigError(f"figure '{key}' has no value", file=path,
                          expected=f"value = <{spec.kind}> in {spec.unit}", fix=f"add 'value = ...' under [figures.{key}]")
    value = _parse_value(key, entry["value"], str(path))
    unit = str(entry.get("unit", spec.unit))
    if _normal_unit(unit) != _normal_unit(spec.unit):
        raise ConfigError(f"figure '{key}' is given in '{unit}'", file=path, expected=f"unit '{spec.unit}'",
                          fix=f"convert the value to {spec.unit}")
    confirmed = entry.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise ConfigError(f"figure '{key}': confirmed must be true or false, not {confirmed!r}", file=path,
                          expected="confirmed = true | false")
    note = entry.get("note")
    return Figure(key, value, spec.unit, str(entry.get("source", path.name)), str(entry.get("clause", "")),
                  confirmed, None, None if note is None else str(note))


def _parse_value(key: str, raw: Any, where: str) -> FigureValue:
    if key not in FIGURES:
        raise ConfigError(f"unknown figure key '{key}'", file=where, expected=_expected_key_text())
    spec = FIGURES[key]
    if spec.kind == "text":
        if raw not in spec.choices:
            raise ConfigError(f"figure '{key}' is {raw!r}", file=where, expected="one of " + ", ".join(spec.choices))
        return str(raw)
    if spec.kind == "list":
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not items or any(item not in spec.choices for item in items):
            raise ConfigError(f"figure '{key}' is {raw!r}", file=where,
                              expected="a list of some of " + ", ".join(f'"{c}"' for c in spec.choices) + ', e.g. ["accept", "deliver"]')
        return tuple(c for c in spec.choices if c in items)
    if spec.kind == "table":
        if not isinstance(raw, Mapping) or not raw:
            raise ConfigError(f"figure '{key}' must be a table of year = value", file=where,
                              expected="e.g. value = { 2024 = 4.0, 2025 = 4.5 }")
        table: dict[int, float] = {}
        for year, number in raw.items():
            try:
                year_int = int(str(year))
            except ValueError:
                year_int = -1
            if not 1900 <= year_int <= 2200:
                raise ConfigError(f"figure '{key}' has '{year}' where a year belongs", file=where,
                                  expected="four-digit years as keys, e.g. 2025 = 4.5")
            table[year_int] = _number(f"{key}[{year}]", number, where)
        return dict(sorted(table.items()))
    return _number(key, raw, where)


def _number(label: str, raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ConfigError(f"figure '{label}' is {raw!r}, not a number", file=where,
                          expected="a number without quotes or units, e.g. 20", fix="write the unit in 'unit', not in 'value'")
    value = float(raw)
    if value != value or value < 0:
        raise ConfigError(f"figure '{label}' is {raw!r}", file=where, expected="a number that is not negative",
                          fix="correct the value")
    return value


def _validate(profile: Profile, changed: set[str]) -> None:
    """`changed`: the keys this file (or override) sets, which an error about a pair of figures blames first."""
    figures, where = profile._figures, profile._defined_in
    for key, (low, high) in _RANGES.items():
        if key in figures and not low <= float(figures[key].value) <= high:  # type: ignore[arg-type]
            raise ConfigError(f"figure '{key}' is {figures[key].value:g} {figures[key].unit}",
                              file=where.get(key, profile.path), expected=f"between {low:g} and {high:g} {figures[key].unit}",
                              fix=f"correct the value of [figures.{key}] ({FIGURES[key].meaning})")
    for smaller, larger, why in _ORDER_RULES:
        if smaller in figures and larger in figures and figures[smaller].value > figures[larger].value:  # type: ignore[operator]
            blamed = where.get(smaller if smaller in changed else larger, "")
            raise ConfigError(
                f"contradictory figures: '{smaller}' = {figures[smaller].value:g} > '{larger}' = "
                f"{figures[larger].value:g} ({why})",
                file=blamed or profile.path,
                expected=f"'{smaller}' <= '{larger}'",
                fix="correct one of the two figures (an inherited one can be overridden in this file)",
            )


def _check_choice(value: str, choices: tuple[str, ...], what: str, path: Path) -> None:
    if value not in choices:
        raise ConfigError(f"{what} '{value}' has no standard in this profile", file=path,
                          expected="one of " + ", ".join(choices))


def _expected_key_text() -> str:
    return "one of " + ", ".join(FIGURES)


def _normal_unit(unit: str) -> str:
    return unit.replace("m2", "m²").replace("^2", "²").replace(" ", "").replace("‰", "/1000").lower()
