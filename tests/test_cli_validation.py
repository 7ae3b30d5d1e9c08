"""The command line's rough edges, as a planner meets them (issue 15): every flag and project value is checked before
any work, with the usual one-line message and exit code 2 and nothing written; flags a model does not use are refused
and settings it cannot honour are said; warnings are one line each and solver banners silent; project files saved as
GBK or with a byte-order mark, CSV files delimited by ';' or tabs, and sheets with a title row above the header read.

The study area is test_bad_inputs' street grid with its residences and facilities, plus three candidate sites. Values
inside messages are worked out here by hand (comments) or by reading the same data another way."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from test_bad_inputs import (
    FAC_HEADER,
    FACILITIES,
    GRID_LAT,
    GRID_LON,
    RES_HEADER,
    RESIDENCES,
    csv_text,
    edit,
    run_cli,
    snapshot,
    write_study_area,
)

#: Candidate sites on grid nodes: id, name, cost, largest floor area (m²) / seats, lon, lat.
CANDIDATES = [
    ("C1", "社区用房一", 200, 400, GRID_LON[0], GRID_LAT[0]),
    ("C2", "社区用房二", 300, 500, GRID_LON[4], GRID_LAT[4]),
    ("C3", "社区用房三", 250, 300, GRID_LON[4], GRID_LAT[0]),
]
CAND_HEADER = "编号,名称,费用,最大面积,经度,纬度\n"
SITING = """
[candidates]
path = "candidates.csv"
cost = "费用"
max_capacity = "最大面积"

[optimize]
model = "mclp"
p = 1
"""


@pytest.fixture()
def area(tmp_path) -> Path:
    """The study area with candidates and an [optimize] table, never run: `out/` does not exist."""
    folder = tmp_path / "area"
    project = write_study_area(folder)
    (folder / "candidates.csv").write_text(csv_text(CAND_HEADER, CANDIDATES), encoding="utf-8")
    project.write_text(project.read_text(encoding="utf-8") + SITING, encoding="utf-8")
    return folder


def refused(folder: Path, *args: str) -> str:
    """Run the CLI; assert exit 2, one clean error line on the terminal (after progress lines, if the check needed
    the file read), nothing written or changed in the folder, and no output folder. Returns the message without
    'error: ' and the folder prefix."""
    before = snapshot(folder)
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and all(line.startswith("[") for line in lines[:-1]), result.stderr
    lines = lines[-1:]
    assert snapshot(folder) == before  # no file written or changed, so no output file either
    if all(line.startswith("error: ") for line in result.stderr.strip().splitlines()):  # refused before any work
        assert not (folder / "out").exists()
    return lines[0][len("error: "):].replace(str(folder.resolve()) + "/", "").replace(str(folder) + "/", "")


def project_of(folder: Path) -> str:
    return str(folder / "project.toml")


# ------------------------------------------------------------------------------------------------ flags, before any work

P_RULE = "Expected zero or a positive whole number (new sites per kind), e.g. --p 2. Fix: correct --p"
MINUTES = "Expected positive numbers of minutes separated by commas, e.g. --thresholds 5,10,15"
LSCP_WHAT = ("LSCP opens the least-cost set of sites that reaches every household it can; it takes no p and no "
             "budget")

FLAG_CASES = [
    ("thresholds not a number", ["run", "{p}", "--thresholds", "5,abc"],
     f"--thresholds '5,abc': 'abc' is not a number. {MINUTES}. Fix: correct --thresholds"),
    ("thresholds with an empty entry", ["run", "{p}", "--thresholds", "5,,10"],
     f"--thresholds '5,,10' has an empty entry. {MINUTES}. Fix: remove the extra comma (or fill in the missing number)"),
    ("thresholds negative", ["run", "{p}", "--thresholds", "5,-10"],
     f"--thresholds '5,-10': '-10' is not a positive number. {MINUTES}. Fix: correct --thresholds"),
    ("walk minutes zero", ["run", "{p}", "--walk-minutes", "0"],
     "--walk-minutes 0 is not a positive number. Expected a positive number of minutes, e.g. --walk-minutes 15. "
     "Fix: correct --walk-minutes"),
    ("p negative", ["optimize", "{p}", "--model", "mclp", "--p", "-1"], f"--p -1 is not zero or a positive whole number. {P_RULE}"),
    ("p fractional", ["optimize", "{p}", "--p", "2.5"], f"--p 2.5 is not zero or a positive whole number. {P_RULE}"),
    ("budget negative", ["optimize", "{p}", "--budget", "-5"],
     "--budget -5 is not zero or a positive number. Expected zero or a positive number in the candidates' cost unit, "
     "e.g. --budget 100000. Fix: correct --budget"),
    ("time limit zero", ["optimize", "{p}", "--time-limit", "0"],
     "--time-limit 0 is not a positive number. Expected a positive number of seconds, e.g. --time-limit 60. "
     "Fix: correct --time-limit"),
    ("gap above 1", ["optimize", "{p}", "--gap-rel", "1.5"],
     "--gap-rel 1.5 is not a number from 0 to 1. Expected a number from 0 to 1 (the share of the optimum a plan may "
     "miss), e.g. --gap-rel 0.01. Fix: correct --gap-rel"),
    ("budget with lscp", ["optimize", "{p}", "--model", "lscp", "--budget", "100"],
     f"--budget is not used by model 'lscp' ({LSCP_WHAT}). Expected --budget only with --model mclp or capacitated. "
     "Fix: leave out --budget, or choose one of those models"),
    ("p with lscp", ["optimize", "{p}", "--model", "lscp", "--p", "2"],
     f"--p is not used by model 'lscp' ({LSCP_WHAT}). Expected --p only with --model mclp or pmedian or pcenter or "
     "capacitated. Fix: leave out --p, or choose one of those models"),
    ("budget with p-median", ["optimize", "{p}", "--model", "pmedian", "--budget", "100"],
     "--budget is not used by model 'pmedian' (p-median opens p new sites with the least total walking; it takes no "
     "budget). Expected --budget only with --model mclp or capacitated. Fix: leave out --budget, or choose one of "
     "those models"),
    ("budget with p-center", ["optimize", "{p}", "--model", "pcenter", "--p", "1", "--budget", "100"],
     "--budget is not used by model 'pcenter' (p-center opens p new sites with the shortest longest walk; it takes no "
     "budget). Expected --budget only with --model mclp or capacitated. Fix: leave out --budget, or choose one of "
     "those models"),
    ("batch without workers", ["batch", "{p}", "--workers", "0", "--output", "{f}/batch"],
     "--workers 0 is not a positive whole number. Expected a positive whole number (worker processes of the local "
     "cluster), e.g. --workers 2. Fix: correct --workers"),
    ("batch negative retries", ["batch", "{p}", "--retries", "-1", "--output", "{f}/batch"],
     "--retries -1 is not zero or a positive whole number. Expected zero or a positive whole number (retries of a "
     "failed job), e.g. --retries 1. Fix: correct --retries"),
    ("negative existing seats", ["projection", "{f}/projection.csv", "--existing-seats", "-100",
                                 "--beds-per-1000-elderly", "-5", "--output", "{f}/p.csv"],
     "--existing-seats -100 is not zero or a positive number. Expected zero or a positive number of childcare seats, "
     "e.g. --existing-seats 1270. Fix: correct --existing-seats"),
    ("negative bed rate", ["projection", "{f}/projection.csv", "--beds-per-1000-elderly", "-5", "--output", "{f}/p.csv"],
     "--beds-per-1000-elderly -5 is not a positive number. Expected a positive number of beds per 1,000 residents "
     "aged 60+, e.g. --beds-per-1000-elderly 27.65. Fix: correct --beds-per-1000-elderly"),
]


@pytest.mark.parametrize("args, expected", [c[1:] for c in FLAG_CASES], ids=[c[0] for c in FLAG_CASES])
def test_a_bad_flag_is_one_line_before_any_work(area, args, expected):
    (area / "projection.csv").write_text("year,age_group,population\n2025,0-2,1000\n2025,60+,500\n", encoding="utf-8")
    given = [a.replace("{p}", project_of(area)).replace("{f}", str(area)) for a in args]
    assert refused(area, *given) == expected
    assert not (area / "p.csv").exists() and not (area / "batch").exists()


# ------------------------------------------------------------------------------------------------ project values

def _set(folder: Path, old: str, new: str) -> None:
    edit(folder / "project.toml", old, new)


OPTIMIZE_CASES = [
    ("p fractional", lambda f: _set(f, "p = 1", "p = 2.5"),
     "project.toml, column 'optimize.p': p = 2.5 is not zero or a positive whole number. Expected zero or a positive "
     "whole number (new sites per kind), e.g. p = 2. Fix: correct p in [optimize] (or the --p flag)"),
    ("p negative", lambda f: _set(f, "p = 1", "p = -1"),
     "project.toml, column 'optimize.p': p = -1 is not zero or a positive whole number. Expected zero or a positive "
     "whole number (new sites per kind), e.g. p = 2. Fix: correct p in [optimize] (or the --p flag)"),
    ("budget as words", lambda f: _set(f, "p = 1", 'p = 1\nbudget = "much"'),
     "project.toml, column 'optimize.budget': budget = 'much' is not zero or a positive number. Expected zero or a "
     "positive number in the candidates' cost unit, e.g. budget = 100000. Fix: correct budget in [optimize] (or the "
     "--budget flag)"),
    ("budget with lscp in the file", lambda f: _set(f, 'model = "mclp"\np = 1', 'model = "lscp"\nbudget = 500'),
     f"project.toml, column 'optimize.budget': budget is not used by model 'lscp' ({LSCP_WHAT}). Expected budget "
     "only with model = \"mclp\" or \"capacitated\". Fix: remove budget from [optimize], or set model to one of those"),
    ("p-median without p", lambda f: _set(f, 'model = "mclp"\np = 1', 'model = "pmedian"'),
     "project.toml, column 'optimize.p': model 'pmedian' needs the number of new sites p. Expected p in [optimize] or "
     "--p on the command line. Fix: add p = … to [optimize], or give --p"),
    ("mclp without a limit", lambda f: _set(f, "p = 1", ""),
     "project.toml, column 'optimize.p': model 'mclp' needs a limit: p new sites and/or a budget. Expected p and/or "
     "budget in [optimize], or --p / --budget on the command line. Fix: add p = … or budget = … to [optimize], or "
     "give --p or --budget"),
    ("unknown model", lambda f: _set(f, '"mclp"', '"mclpp"'),
     "project.toml, column 'optimize.model': unknown model 'mclpp'. Expected mclp | lscp | pmedian | pcenter | "
     "capacitated. Fix: correct model in [optimize]"),
    ("time limit zero", lambda f: _set(f, "p = 1", "p = 1\ntime_limit_s = 0"),
     "project.toml, column 'optimize.time_limit_s': time_limit_s = 0 is not a positive number. Expected a positive "
     "number of seconds, e.g. time_limit_s = 60. Fix: correct time_limit_s in [optimize] (or the --time-limit flag)"),
    ("joint as text", lambda f: _set(f, 'model = "mclp"', 'model = "capacitated"\njoint = "yes"'),
     "project.toml, column 'optimize.joint': joint = 'yes' is not true or false. Expected joint = true or "
     "joint = false. Fix: correct joint in [optimize]"),
    ("p per kind with mclp", lambda f: _set(f, "p = 1", "p = { nursery = 1 }"),
     "project.toml, column 'optimize.p': p per kind is used by model = \"capacitated\" only, not 'mclp'. Expected one "
     "number, e.g. p = 2. Fix: give p as one number"),
    ("no [candidates]", lambda f: _set(f, '[candidates]\npath = "candidates.csv"\ncost = "费用"\nmax_capacity = "最大面积"\n', ""),
     "project.toml, column 'candidates.path': no candidate sites given. Fix: add a [candidates] section with the path "
     "of a candidate-site table"),
    ("candidate cost as words", lambda f: (f / "candidates.csv").write_text(
        csv_text(CAND_HEADER, [CANDIDATES[0], ("C2", "x", "贵", 500, GRID_LON[4], GRID_LAT[4])]), encoding="utf-8"),
     "candidates.csv, row 3, column '费用': cost '贵' is not a non-negative number"),
]


@pytest.mark.parametrize("break_it, expected", [c[1:] for c in OPTIMIZE_CASES], ids=[c[0] for c in OPTIMIZE_CASES])
def test_a_bad_optimize_value_stops_the_job_before_any_work(area, break_it, expected):
    break_it(area)
    assert refused(area, "optimize", project_of(area)) == expected


def test_a_bad_optimize_value_stops_a_coverage_run_too(area):
    _set(area, "p = 1", "p = 2.5")
    assert refused(area, "run", project_of(area)).startswith("project.toml, column 'optimize.p': p = 2.5 is not")


def test_header_row_must_be_a_row_number(area):
    edit(area / "project.toml", 'path = "residences.csv"', 'path = "residences.csv"\nheader_row = 0')
    assert refused(area, "run", project_of(area)) == (
        "project.toml, column 'residences.header_row': header_row = 0 is not a positive whole number. Expected a "
        "positive whole number (the spreadsheet row of the column names), e.g. header_row = 2. Fix: correct "
        "header_row in [residences]")


def test_a_job_that_fails_in_the_solver_writes_nothing(area):
    """p-median with p = 0 and no nursery at all is infeasible only once solved: by then the coverage analysis has
    run, but its tables wait for the plan, so the folder keeps no file."""
    _set(area, 'model = "mclp"\np = 1', 'model = "pmedian"\np = 0')
    (area / "facilities.csv").write_text(csv_text(FAC_HEADER, FACILITIES[:1]), encoding="utf-8")  # no nursery at all
    result = run_cli("optimize", project_of(area))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: PMedian has no feasible plan: p=0 allows no new site and there is no existing facility, yet every "
        "demand row must be assigned")
    assert not [p for p in (area / "out").rglob("*") if p.is_file()]


# ------------------------------------------------------------------------------------------------ said, not ignored

def _run_ok(*args: str):
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _progress_lines(result) -> list[str]:
    return [line.split("] ", 1)[1] if line.startswith("[") else line for line in result.stderr.splitlines()]


def test_switching_model_sets_the_files_settings_aside_with_a_note(area):
    result = _run_ok("optimize", project_of(area), "--model", "lscp")
    note = "p = 1 in [optimize] is not used by model 'lscp' (chosen with --model); it is set aside"
    assert f"optimise: {note}" in _progress_lines(result)
    summary = json.loads((area / "out" / "plan_summary.json").read_text(encoding="utf-8"))
    assert summary["notes"] == [note] and "p" not in summary["optimize"]
    assert summary["kinds"]["nursery"]["model"] == "LSCP"


def test_more_sites_than_candidates_is_said(area):
    result = _run_ok("optimize", project_of(area), "--p", "7")
    said = _progress_lines(result)
    summary = json.loads((area / "out" / "plan_summary.json").read_text(encoding="utf-8"))
    for kind in ("elderly_day_care", "nursery"):
        note = f"p = 7 is more than the 3 candidate sites for {kind}: at most 3 can open"
        assert f"optimise {kind}: {note}" in said
        assert summary["kinds"][kind]["notes"][0] == note
        assert summary["kinds"][kind]["new_sites"] <= 3


def test_warnings_are_one_line_each_and_highs_prints_no_banner(area):
    """A real process: the MCLP's 'no candidate within reach' warning arrives as one progress line (no source line
    echoed), and HiGHS, the MILP solver here and the LP engine of the capacitated model, prints no banner."""
    far = ("R9", "远郊小区", 70, "既有", GRID_LON[4] + 0.02, GRID_LAT[4])  # 1.7 km east of the grid: no site reaches it
    (area / "residences.csv").write_text(csv_text(RES_HEADER, RESIDENCES + [far]), encoding="utf-8")
    _set(area, "max_snap_m = 300", "max_snap_m = 3000")
    for model in ("mclp", "capacitated"):
        done = subprocess.run([sys.executable, "-m", "siting", "optimize", project_of(area), "--model", model,
                               "--solver", "highs", "--output", str(area / model)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert "Running HiGHS" not in done.stdout + done.stderr and "Copyright" not in done.stdout + done.stderr
        assert "sol = m.solve" not in done.stderr and "UserWarning" not in done.stderr
        if model == "mclp":
            warned = [line for line in done.stderr.splitlines() if line.startswith("warning: MCLP")]
            assert len(warned) == 2 and all("R9" in line for line in warned)  # one per kind


def test_min_station_above_every_candidate_is_said(area):
    _set(area, 'model = "mclp"', 'model = "capacitated"\nkinds = ["elderly_day_care"]\nmin_station_m2 = 600')
    result = _run_ok("optimize", project_of(area))
    # the largest candidate is C2 with 500 m²
    note = ("no candidate can host a new elderly_day_care: min_station_m2 = 600 m² is above every candidate's "
            "max_capacity (largest 500 m²); lower min_station_m2 in [optimize] or add larger candidates")
    assert f"optimise elderly_day_care: {note}" in _progress_lines(result)
    summary = json.loads((area / "out" / "plan_summary.json").read_text(encoding="utf-8"))
    assert summary["kinds"]["elderly_day_care"]["notes"][0] == note
    assert summary["kinds"]["elderly_day_care"]["new_sites"] == 0


def test_all_capacities_zero_is_said(area):
    rows = [c[:3] + (0,) + c[4:] for c in CANDIDATES]
    (area / "candidates.csv").write_text(csv_text(CAND_HEADER, rows), encoding="utf-8")
    _set(area, 'model = "mclp"', 'model = "capacitated"\nkinds = ["nursery"]')
    result = _run_ok("optimize", project_of(area))
    note = ("no candidate can host a new nursery: every candidate's max_capacity is 0 or blank (check the "
            "max_capacity column of [candidates])")
    assert f"optimise nursery: {note}" in _progress_lines(result)


def test_pulp_calls_raise_no_deprecation_warning():
    """The CBC route (pulp's model, CBC through COIN_CMD) and the time-phased plan use pulp's current API: with
    deprecation warnings turned into errors both still solve, to the optimum found by brute force."""
    from siting.optimisation.projection import phase_openings
    from siting.optimize import MCLP

    reach_m = np.array([[100.0, np.inf, 300.0], [np.inf, 200.0, 250.0], [400.0, np.inf, np.inf]])
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("error", category)
        warnings.filterwarnings("ignore", "MCLP: .* no candidate", UserWarning)
        mclp = MCLP.from_cost_matrix(reach_m, 500.0, p=1, weights=[5.0, 3.0, 4.0]).solve("cbc")
        plan = phase_openings(pd.DataFrame({"site_id": ["a", "b"], "capacity": [10.0, 30.0], "cost": [1.0, 2.5]}),
                              {2025: 10.0, 2026: 30.0})
    # site 0 reaches rows 0 and 2 (9), site 1 row 1 (3), site 2 rows 0 and 1 (8)
    assert mclp.chosen.tolist() == [0] and mclp.covered_after == 9.0
    # 30 by 2026: 'b' alone (2.5) beats 'a' + 'b' (3.5); it must open in 2025 to cover 10 then
    assert plan.openings[["site_id", "year"]].values.tolist() == [["b", 2025]]


# ------------------------------------------------------------------------------------------------ how files were saved

def _names_in(folder: Path) -> list[str]:
    out = pd.read_csv(folder / "out" / "residences.csv", encoding="utf-8-sig", dtype={"res_id": str})
    return out.sort_values("res_id")["name"].tolist()


def test_project_file_saved_as_gbk_is_read_with_a_warning(area):
    text = (area / "project.toml").read_text(encoding="utf-8").replace('name = "bad inputs"', 'name = "鸡西 测试"')
    (area / "project.toml").write_bytes(text.encode("gbk"))
    done = subprocess.run([sys.executable, "-m", "siting", "run", project_of(area)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    # the first non-ASCII byte is in 鸡西 on line 2
    assert (f"WARNING siting.inputs.project: {(area / 'project.toml').resolve()}: not UTF-8 (first non-UTF-8 text on line 2), "
            "read as GBK; save it as UTF-8 to be sure every name reads right") in done.stderr.splitlines()
    assert json.loads((area / "out" / "summary.json").read_text(encoding="utf-8"))["project"] == "鸡西 测试"


def test_project_file_with_a_byte_order_mark_is_read(area):
    (area / "project.toml").write_bytes(b"\xef\xbb\xbf" + (area / "project.toml").read_bytes())
    result = _run_ok("run", project_of(area))
    assert "WARNING" not in result.stderr
    assert _names_in(area) == [r[1] for r in RESIDENCES]  # ids R1..R6 sort in file order


def test_project_file_in_neither_encoding_is_one_line(area):
    (area / "project.toml").write_bytes((area / "project.toml").read_bytes() + b"# \xff\xfe\n")
    line = (area / "project.toml").read_bytes().count(b"\n")  # the last line
    assert refused(area, "run", project_of(area)) == (
        f"project.toml: line {line}: bytes that are neither UTF-8 nor GBK. Expected a project file saved as UTF-8. "
        "Fix: open it in a text editor and save it with the encoding UTF-8")


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "bar"])
def test_csv_delimited_otherwise_is_read_like_the_comma_file(area, delimiter):
    """The same residences and facilities saved with another delimiter give the same tables, value for value."""
    _run_ok("run", project_of(area))
    comma = pd.read_csv(area / "out" / "residences.csv", encoding="utf-8-sig").sort_values("res_id")
    for name, header, rows in (("residences.csv", RES_HEADER, RESIDENCES), ("facilities.csv", FAC_HEADER, FACILITIES)):
        text = csv_text(header, rows).replace(",", delimiter)
        (area / name).write_text(text, encoding="utf-8")
    _run_ok("run", project_of(area))
    other = pd.read_csv(area / "out" / "residences.csv", encoding="utf-8-sig").sort_values("res_id")
    pd.testing.assert_frame_equal(comma.reset_index(drop=True), other.reset_index(drop=True))


def test_csv_that_still_reads_as_one_column_names_the_delimiter(area):
    (area / "residences.csv").write_text(csv_text(RES_HEADER, RESIDENCES).replace(",", "，"), encoding="utf-8")
    assert refused(area, "run", project_of(area)) == (
        "residences.csv, column 'households': no 'households' or 'population' column; the file reads as one column "
        "('编号，名称，户数，小区类型，经度，纬度'), so the cells are not separated by commas. Expected cells separated by "
        "commas, semicolons, tabs or vertical bars, and a column named one of (households: households, hh, 户数, 住户数, "
        "总户数; population: population, pop, 人口, 人口数, 常住人口). Fix: the delimiter is the likely problem: save "
        "the sheet from Excel or WPS as 'CSV UTF-8 (comma delimited)'")


def _titled_workbook(path: Path, bad_households: str | None = None) -> None:
    """The residences as a workbook: a merged title across row 1, the column names on row 2, data from row 3."""
    book = Workbook()
    sheet = book.active
    sheet.title = "小区"
    sheet["A1"] = "海淀区示例小区户数统计表（2024年）"
    sheet.merge_cells("A1:F1")
    sheet.append(RES_HEADER.strip().split(","))
    for i, row in enumerate(RESIDENCES):
        cells = list(row)
        if bad_households is not None and i == 2:
            cells[2] = bad_households
        sheet.append(cells)
    book.save(path)
    assert [r.coord for r in load_workbook(path).active.merged_cells.ranges] == ["A1:F1"]


def test_excel_header_under_a_merged_title_row(area):
    _titled_workbook(area / "residences.xlsx")
    edit(area / "project.toml", 'path = "residences.csv"', 'path = "residences.xlsx"')
    message = refused(area, "run", project_of(area))
    assert message.startswith("residences.xlsx, column 'households': no 'households' or 'population' column; found: "
                              "海淀区示例小区户数统计表（2024年）, Unnamed: 1, ")
    assert message.endswith("Fix: the header seems to be on row 2; set header_row = 2 for this layer in the project file")
    edit(area / "project.toml", 'path = "residences.xlsx"', 'path = "residences.xlsx"\nheader_row = 2')
    _run_ok("run", project_of(area))
    out = pd.read_csv(area / "out" / "residences.csv", encoding="utf-8-sig").set_index("res_id")
    assert out.loc[[r[0] for r in RESIDENCES], "households"].tolist() == [r[2] for r in RESIDENCES]


def test_rows_are_counted_from_the_top_of_the_sheet_with_header_row(area):
    """With the header on row 2 the third residence sits on spreadsheet row 5 (title 1, header 2, data 3, 4, 5)."""
    _titled_workbook(area / "residences.xlsx", bad_households="12户")
    edit(area / "project.toml", 'path = "residences.csv"', 'path = "residences.xlsx"\nheader_row = 2')
    assert refused(area, "run", project_of(area)) == (
        "residences.xlsx, row 5, column '户数': '12户' is not a number. Expected a number (digits only, no units). "
        "Fix: correct the cell or leave it blank")
