"""The numbers a planner types, checked before any work starts: command-line flags and project-file values.

Each setting has one rule here (`SETTINGS`), read by the CLI's flag types and by the project loader alike, so that
`--p -1` and `p = -1` in `[optimize]` are refused in the same words, before a network is read or a file written:

    --p -1 is not zero or a positive whole number. Expected zero or a positive whole number (new sites per kind), e.g. --p 2. Fix: correct --p
    project.toml, column 'optimize.p': p = 2.5 is not zero or a positive whole number. Expected … e.g. p = 2. Fix: correct p in [optimize] (or the --p flag)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """What a number must be: at least (or above) `low`, at most `high`, and whole when `whole`."""

    text: str
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    whole: bool = False

    def admits(self, number: float) -> bool:
        if not math.isfinite(number) or (self.whole and not float(number).is_integer()):
            return False
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return False
        return self.high is None or number <= self.high


POSITIVE = Rule("a positive number", low=0.0, low_open=True)
NON_NEGATIVE = Rule("zero or a positive number", low=0.0)
WHOLE = Rule("zero or a positive whole number", low=0.0, whole=True)
COUNT = Rule("a positive whole number", low=1.0, whole=True)
SHARE = Rule("a number from 0 to 1", low=0.0, high=1.0)


@dataclass(frozen=True)
class Setting:
    """One number a planner sets: as `key` in the project file's `[section]` and/or as the command-line `flag`.
    `meaning` completes the rule's text ("of minutes", "(new sites per kind)"); the examples are as typed."""

    key: str
    section: str | None
    flag: str | None
    rule: Rule
    meaning: str
    example_key: str = ""
    example_flag: str = ""


_ALL = (
    Setting("walk_minutes", "project", "--walk-minutes", POSITIVE, "of minutes", "15", "15"),
    Setting("thresholds_min", "project", "--thresholds", POSITIVE, "of minutes", "[5, 10, 15]", "5,10,15"),
    Setting("max_snap_m", "project", None, POSITIVE, "of metres", "300"),
    Setting("header_row", "layer", None, COUNT, "(the spreadsheet row of the column names)", "2"),
    Setting("p", "optimize", "--p", WHOLE, "(new sites per kind)", "2", "2"),
    Setting("budget", "optimize", "--budget", NON_NEGATIVE, "in the candidates' cost unit", "100000", "100000"),
    Setting("time_limit_s", "optimize", "--time-limit", POSITIVE, "of seconds", "60", "60"),
    Setting("gap_rel", "optimize", "--gap-rel", SHARE, "(the share of the optimum a plan may miss)", "0.01", "0.01"),
    Setting("min_station_m2", "optimize", None, NON_NEGATIVE, "of m² (the smallest new elderly station)", "350"),
    Setting("m2_per_seat", "optimize", None, POSITIVE, "of m² per nursery seat", "8"),
    Setting("colocation_bonus", "optimize", None, NON_NEGATIVE, "in the objective's unit", "500"),
    Setting("workers", None, "--workers", COUNT, "(worker processes of the local cluster)", "", "2"),
    Setting("retries", None, "--retries", WHOLE, "(retries of a failed job)", "", "1"),
    Setting("beds_per_1000_elderly", None, "--beds-per-1000-elderly", POSITIVE, "of beds per 1,000 residents aged 60+",
            "", "27.65"),
    Setting("existing_seats", None, "--existing-seats", NON_NEGATIVE, "of childcare seats", "", "1270"),
    Setting("existing_beds", None, "--existing-beds", NON_NEGATIVE, "of elderly-care beds", "", "10059"),
    Setting("existing_floor_area_m2", None, "--existing-floor-area", NON_NEGATIVE, "of m²", "", "5000"),
)
#: Every setting by its flag ("--p") and by its project-file key ("optimize.p"; "layer.header_row" for any layer).
SETTINGS: dict[str, Setting] = {**{f"{s.section}.{s.key}": s for s in _ALL if s.section},
                                **{s.flag: s for s in _ALL if s.flag}}


def _as_number(value: Any) -> float | None:
    """A number from TOML (int, float, or digits in a string) or from a flag's text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return float(value) if isinstance(value, (int, float)) else None


def _refuse(s: Setting, what: str, *, flag: bool, file: str | PathLike | None, section: str | None,
            expected: str | None = None, fix: str | None = None) -> ConfigError:
    if flag:
        return ConfigError(what, expected=expected or f"{s.rule.text} {s.meaning}, e.g. {s.flag} {s.example_flag}",
                           fix=fix or f"correct {s.flag}")
    section = section or s.section
    also = f" (or the {s.flag} flag)" if s.flag else ""
    return ConfigError(what, file=file, column=f"{section}.{s.key}",
                       expected=expected or f"{s.rule.text} {s.meaning}, e.g. {s.key} = {s.example_key}",
                       fix=fix or f"correct {s.key} in [{section}]{also}")


def check_number(name: str, value: Any, *, flag: bool = False, file: str | PathLike | None = None,
                 section: str | None = None) -> float | int:
    """`value` checked against the rule of setting `name` ("--p" for a flag, "optimize.p" for a key); an int for a
    whole-number rule. ConfigError naming the flag, or the file, section and key (`section` for layer keys)."""
    s = SETTINGS[name]
    number = _as_number(value)
    if number is None or not s.rule.admits(number):
        shown = f"{s.flag} {value}" if flag else f"{s.key} = {value!r}"
        raise _refuse(s, f"{shown} is not {s.rule.text}", flag=flag, file=file, section=section)
    return int(number) if s.rule.whole else number


def minutes_list(name: str, value: Any, *, flag: bool = False, file: str | PathLike | None = None) -> list[float]:
    """Walking times in minutes: "5,10,15" from a flag, [5, 10, 15] (or one number) from the project file."""
    s = SETTINGS[name]
    if not flag:
        items = value if isinstance(value, list) else [value]
        return [float(check_number(name, item, file=file)) for item in items]
    entries = str(value).split(",")
    expected = f"{s.rule.text.removeprefix('a ')}s {s.meaning} separated by commas, e.g. {s.flag} {s.example_flag}"
    for entry in entries:
        if not entry.strip():
            raise _refuse(s, f"{s.flag} '{value}' has an empty entry", flag=True, file=None, section=None,
                          expected=expected, fix="remove the extra comma (or fill in the missing number)")
        number = _as_number(entry)
        if number is None or not s.rule.admits(number):
            said = "is not a number" if number is None else f"is not {s.rule.text}"
            raise _refuse(s, f"{s.flag} '{value}': '{entry.strip()}' {said}", flag=True, file=None, section=None,
                          expected=expected)
    return [float(e) for e in entries]


# ------------------------------------------------------------------------------------------------ [optimize]

MODELS = ("mclp", "lscp", "pmedian", "pcenter", "capacitated")
SOLVERS = ("cbc", "highs")
OBJECTIVES = ("max_covered", "min_cost")
KINDS = ("elderly_day_care", "nursery")  # siting.inputs.schema.KINDS, repeated to keep this module free of imports

#: What each model does, for messages that say why a setting means nothing to it.
MODEL_WHAT = {
    "mclp": "MCLP covers the most households with p new sites and/or a budget",
    "lscp": "LSCP opens the least-cost set of sites that reaches every household it can; it takes no p and no budget",
    "pmedian": "p-median opens p new sites with the least total walking; it takes no budget",
    "pcenter": "p-center opens p new sites with the shortest longest walk; it takes no budget",
    "capacitated": "capacitated siting serves the most households under the space standards",
}
_CAPACITATED_ONLY = {"objective", "joint", "colocation_bonus", "min_station_m2", "m2_per_seat", "expand_existing",
                     "expansion_cost", "expansion_max"}
#: The [optimize] keys each model reads beyond model, kinds, solver, time_limit_s and gap_rel (which every model reads).
_BY_UNIT = {"units", "per_unit", "unit_reach_share"}  # siting by unit (siting.optimisation.units)
MODEL_KEYS: dict[str, set[str]] = {"mclp": {"p", "budget"} | _BY_UNIT, "lscp": _BY_UNIT, "pmedian": {"p"},
                                   "pcenter": {"p"}, "capacitated": {"p", "budget"} | _CAPACITATED_ONLY | _BY_UNIT}
_FLAGS = {"model": "--model", "p": "--p", "budget": "--budget", "solver": "--solver", "time_limit_s": "--time-limit",
          "gap_rel": "--gap-rel", "per_unit": "--by-unit"}


def check_optimize_values(cfg: dict[str, Any], *, file: str | PathLike | None = None,
                          command_line: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """Each [optimize] value on its own: numbers in range, names known, `p` a whole number (or, per kind, a table).
    Keys in `command_line` came from flags and are named as flags. Returns the table with numbers as numbers."""
    out = dict(cfg)

    def choice(key: str, allowed: tuple[str, ...]) -> None:
        if key in cfg and str(cfg[key]).lower() not in allowed:
            raise ConfigError(f"unknown {key} {cfg[key]!r}", file=file, column=f"optimize.{key}",
                              expected=" | ".join(allowed), fix=f"correct {key} in [optimize]")
        if key in cfg:
            out[key] = str(cfg[key]).lower()

    choice("model", MODELS)
    choice("solver", SOLVERS)
    choice("objective", OBJECTIVES)
    for key in ("p", "budget", "time_limit_s", "gap_rel", "min_station_m2", "m2_per_seat", "colocation_bonus"):
        if key not in cfg or (key == "p" and isinstance(cfg[key], dict)):
            continue
        flag = key in command_line
        out[key] = check_number(_FLAGS[key] if flag else f"optimize.{key}", cfg[key], flag=flag, file=file)
    if isinstance(cfg.get("p"), dict):
        unknown = sorted(set(cfg["p"]) - set(KINDS))
        if unknown:
            raise ConfigError(f"unknown kind {unknown[0]!r} in p", file=file, column="optimize.p",
                              expected="p = { elderly_day_care = …, nursery = … }", fix="correct the kind's name")
        out["p"] = {kind: check_number("optimize.p", n, file=file) for kind, n in cfg["p"].items()}
    for key in ("joint", "expand_existing"):
        if key in cfg and not isinstance(cfg[key], bool):
            raise ConfigError(f"{key} = {cfg[key]!r} is not true or false", file=file, column=f"optimize.{key}",
                              expected=f"{key} = true or {key} = false", fix=f"correct {key} in [optimize]")
    kinds = cfg.get("kinds")
    if kinds is not None:
        listed = kinds if isinstance(kinds, list) else [kinds]
        bad = [k for k in listed if k not in KINDS]
        if bad or not listed:
            raise ConfigError(f"kinds = {kinds!r} names {'no kind' if not listed else f'an unknown kind {bad[0]!r}'}",
                              file=file, column="optimize.kinds", expected=f"a list of {', '.join(KINDS)}",
                              fix="correct kinds in [optimize] (or leave it out for both kinds)")
        out["kinds"] = list(listed)
    return out


def check_optimize(file_cfg: dict[str, Any], *, command_line: dict[str, Any] | None = None,
                   file: str | PathLike | None = None) -> tuple[dict[str, Any], list[str]]:
    """The [optimize] table of the project file with the command line's settings on top, checked as the model will
    read it: (the settings the model uses, notes for the planner). A setting the model does not use is an error
    when it was given with that model (a flag, or the same table); when `--model` switched models, what the file
    set for its own model is set aside with a note. A model's missing limit (p, or p/budget) is an error too."""
    given = {k: v for k, v in (command_line or {}).items() if v is not None}
    cfg = check_optimize_values({**file_cfg, **given}, file=file, command_line=set(given))
    model = cfg.get("model", "mclp")
    notes: list[str] = []
    for key in sorted(set(cfg) - MODEL_KEYS[model] - {"model", "kinds", "solver", "time_limit_s", "gap_rel"}):
        users = [m for m in MODELS if key in MODEL_KEYS[m]]
        if key in given:
            raise ConfigError(f"{_FLAGS[key]} is not used by model '{model}' ({MODEL_WHAT[model]})",
                              expected=f"{_FLAGS[key]} only with --model {' or '.join(users)}",
                              fix=f"leave out {_FLAGS[key]}, or choose one of those models")
        if "model" in given and given["model"] != file_cfg.get("model", "mclp"):
            notes.append(f"{key} = {cfg[key]!r} in [optimize] is not used by model '{model}' (chosen with --model); "
                         "it is set aside")
            del cfg[key]
            continue
        raise ConfigError(f"{key} is not used by model '{model}' ({MODEL_WHAT[model]})", file=file,
                          column=f"optimize.{key}", expected=f"{key} only with model = "
                          + " or ".join(f'"{m}"' for m in users),
                          fix=f"remove {key} from [optimize], or set model to one of those")
    if isinstance(cfg.get("p"), dict) and model != "capacitated":
        raise ConfigError(f"p per kind is used by model = \"capacitated\" only, not {model!r}", file=file,
                          column="optimize.p", expected="one number, e.g. p = 2", fix="give p as one number")
    if cfg.get("joint"):
        if sorted(cfg.get("kinds", KINDS)) != sorted(KINDS):
            raise ConfigError("a joint run sites both kinds together", file=file, column="optimize.kinds",
                              expected=f"kinds = {list(KINDS)} (or leave kinds out)")
        if "m2_per_seat" not in cfg:
            raise ConfigError("a joint run needs the floor area one nursery seat takes", file=file,
                              column="optimize.m2_per_seat", expected="m2_per_seat = a number > 0 (practice: 6–9 m²; "
                              "no national figure)", fix="add m2_per_seat = … to [optimize]")
    needs_limit = model in ("mclp", "pmedian", "pcenter") or (model == "capacitated"
                                                             and cfg.get("objective", "max_covered") == "max_covered")
    if needs_limit and model in ("pmedian", "pcenter") and "p" not in cfg:
        raise ConfigError(f"model '{model}' needs the number of new sites p", file=file, column="optimize.p",
                          expected="p in [optimize] or --p on the command line", fix="add p = … to [optimize], or give --p")
    if needs_limit and "p" not in cfg and "budget" not in cfg:
        raise ConfigError(f"model '{model}' needs a limit: p new sites and/or a budget", file=file, column="optimize.p",
                          expected="p and/or budget in [optimize], or --p / --budget on the command line",
                          fix="add p = … or budget = … to [optimize], or give --p or --budget")
    return cfg, notes
