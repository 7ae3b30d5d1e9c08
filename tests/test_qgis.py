"""The QGIS Processing algorithms (qgis_plugin/siting_qgis) run by a real QGIS through qgis_process on the sample
project: their output layers must equal the command line's tables for the same project (run here with
`python -m siting`), and a bad layer must give the command line's message, not a traceback.

QGIS runs as a subprocess (Debian's /usr/bin/qgis_process.bin; the /usr/bin/qgis_process wrapper passes
--noversioncheck, which 3.22 rejects), with this venv's siting and site-packages on its PYTHONPATH: both are CPython
3.11, so the compiled wheels load in QGIS's Python. The layers are GeoPackages written here from the sample CSVs,
in three coordinate systems, with the households field renamed so that the field picker is exercised."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import SAMPLE

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")

pytestmark = pytest.mark.skipif(
    not QGIS_PROCESS.exists(),
    reason="QGIS is not installed (no /usr/bin/qgis_process.bin); .ci/run installs Debian's QGIS 3.22 with "
           ".ci/setup-qgis.sh (apt-get install qgis python3-qgis qgis-providers)")


def _qgis_env(home: Path) -> dict[str, str]:
    """qgis_process's environment: headless, a throwaway profile, the plugin folder, and this venv's siting and
    packages for QGIS's Python. The venv is taken off PATH and PYTHONHOME pinned to QGIS's prefix: QGIS's embedded
    Python otherwise finds the venv's python3 on PATH and takes its standard library instead of Debian's."""
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(Path(sys.prefix).resolve()))
    packages = dict.fromkeys([str(REPO), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), QT_QPA_PLATFORM="offscreen",
               QGIS_PLUGINPATH=str(REPO / "qgis_plugin"), PYTHONHOME=str(QGIS_PROCESS.parents[1]),
               PYTHONPATH=os.pathsep.join(packages), PYTHONFAULTHANDLER="1")
    return env


@pytest.fixture(scope="module")
def qgis(tmp_path_factory):
    """Run `qgis_process.bin ARGS…` with the siting plugin enabled; returns (exit code, stdout, stderr)."""
    home = tmp_path_factory.mktemp("qgis_home")
    env = _qgis_env(home)
    version = subprocess.run([QGIS_PROCESS, "--version"], env=env, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"Python version (\d+)\.(\d+)", version)
    if found and (int(found[1]), int(found[2])) != sys.version_info[:2]:
        pytest.skip(f"QGIS's Python is {found[1]}.{found[2]}, this venv's {sys.version_info[0]}.{sys.version_info[1]}: "
                    "compiled packages cannot be shared; run the tests in a venv of QGIS's Python version")

    def run(*args: str, timeout: float = 600) -> tuple[int, str, str]:
        done = subprocess.run([str(QGIS_PROCESS), *args], env=env, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr

    code, out, err = run("plugins", "enable", "siting_qgis")
    assert code == 0, err
    return run


def _points(frame: pd.DataFrame) -> gpd.GeoSeries:
    # Python's float() of the CSV text, as the command line parses it, so both see the same coordinates
    return gpd.GeoSeries(shapely.points([float(v) for v in frame["经度"]], [float(v) for v in frame["纬度"]]),
                         crs="EPSG:4326")


@pytest.fixture(scope="module")
def layers(tmp_path_factory) -> dict[str, Path]:
    """The sample project's three CSV layers as GeoPackages in three CRSs; households renamed HH_TOTAL."""
    folder = tmp_path_factory.mktemp("qgis_layers")
    paths = {}
    res = pd.read_csv(SAMPLE / "example_residences.csv", dtype=str, keep_default_na=False)
    residences = gpd.GeoDataFrame(res.drop(columns=["经度", "纬度"]).assign(户数=res["户数"].astype(float))
                                  .rename(columns={"户数": "HH_TOTAL"}), geometry=_points(res))
    fac = pd.read_csv(SAMPLE / "example_facilities.csv", dtype=str, keep_default_na=False)
    facilities = gpd.GeoDataFrame(fac.drop(columns=["经度", "纬度"]).assign(
        建筑面积=pd.to_numeric(fac["建筑面积"]), 托位=pd.to_numeric(fac["托位"])), geometry=_points(fac))
    cand = pd.read_csv(SAMPLE / "example_candidates.csv", dtype=str, keep_default_na=False)
    candidates = gpd.GeoDataFrame(cand.drop(columns=["经度", "纬度"]).assign(
        费用=cand["费用"].astype(float), 最大面积=cand["最大面积"].astype(float)), geometry=_points(cand))
    for name, frame in (("residences", residences), ("facilities", facilities.to_crs("EPSG:32635")),
                        ("candidates", candidates.to_crs("EPSG:3857"))):
        paths[name] = folder / f"{name}.gpkg"
        frame.to_file(paths[name])
    # the sample's unit polygons in two other CRSs, with their id fields renamed (the id pickers name them)
    communities = gpd.read_file(SAMPLE / "example_communities.geojson").rename(columns={"社区代码": "COMM_NO"})
    streets = gpd.read_file(SAMPLE / "example_streets.geojson").rename(columns={"街道代码": "STREET_NO"})
    for name, frame in (("communities", communities.to_crs("EPSG:32635")), ("streets", streets.to_crs("EPSG:3857")),
                        ("community_points", communities.assign(geometry=communities.representative_point()))):
        paths[name] = folder / f"{name}.gpkg"
        frame.to_file(paths[name])
    paths["no_households"] = folder / "no_households.gpkg"
    residences.drop(columns=["HH_TOTAL"]).to_file(paths["no_households"])
    lines = residences.rename(columns={"HH_TOTAL": "户数"})
    lines["geometry"] = [shapely.LineString([(p.x, p.y), (p.x + 0.0005, p.y)]) for p in residences.geometry]
    paths["lines"] = folder / "lines.gpkg"
    lines.to_file(paths["lines"])
    return paths


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "siting", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def _chifeng() -> str:
    from siting.inputs.profiles import list_profiles

    return str(list_profiles().index("chifeng"))  # the sample project's profile, as the enum's index


def _coverage_args(layers, out: Path) -> list[str]:
    return [f"RESIDENCES={layers['residences']}", "HOUSEHOLDS_FIELD=HH_TOTAL", f"FACILITIES={layers['facilities']}",
            f"NETWORK={SAMPLE / 'sample.osm.pbf'}", f"PROFILE={_chifeng()}", "MAX_SNAP_M=300", "THRESHOLDS=5,10,15",
            f"OUTPUT_FOLDER={out}"]


def test_algorithm_list(qgis):
    code, out, err = qgis("list")
    assert code == 0, err
    ids = set(re.findall(r"siting:\w+", out))
    assert {"siting:coverage", "siting:optimize", "siting:sync_check"} <= ids


@pytest.fixture(scope="module")
def cli_coverage(tmp_path_factory) -> Path:
    """`siting run` on the sample project: the folder of its tables."""
    folder = tmp_path_factory.mktemp("cli_coverage")
    cli = _cli("run", str(SAMPLE / "sample_project.toml"), "--output", str(folder))
    assert cli.returncode == 0, cli.stderr
    return folder


def test_coverage_layers_equal_the_command_line(qgis, layers, cli_coverage, tmp_path):
    expected = pd.read_csv(cli_coverage / "residences.csv", dtype={"res_id": str})
    expected_fac = pd.read_csv(cli_coverage / "facilities.csv", dtype={"fac_id": str})
    out = tmp_path / "qgis"
    code, stdout, err = qgis("--json", "run", "siting:coverage", "--", *_coverage_args(layers, out),
                             f"RESIDENCES_OUT={out / 'residences.gpkg'}", f"UNCOVERED_OUT={out / 'uncovered.gpkg'}",
                             f"FACILITIES_OUT={out / 'facilities.gpkg'}", f"CATCHMENTS_OUT={out / 'catchments.gpkg'}")
    assert code == 0, err
    results = json.loads(stdout)["results"]
    got = gpd.read_file(results["RESIDENCES_OUT"].split("|")[0])
    assert list(got["res_id"]) == list(expected["res_id"])  # the same residences in the same order
    for kind in ("elderly_day_care", "nursery"):
        # facilities came in UTM, so their points differ from the CSV's in the last bits: minutes within 1e-6
        np.testing.assert_allclose(got[f"walk_min_{kind}"], expected[f"walk_min_{kind}"], rtol=0, atol=1e-6)
        assert list(got[f"covered_{kind}"].astype(bool)) == list(expected[f"covered_{kind}"].astype(bool))
        assert list(got[f"nearest_{kind}"].fillna("")) == list(expected[f"nearest_{kind}"].fillna("").astype(str))
    np.testing.assert_array_equal(got["households"], expected["households"])
    # the residences layer is in EPSG:4326 at the CSV's coordinates
    np.testing.assert_allclose(got.geometry.x, expected["lon"], atol=1e-7)
    uncovered = gpd.read_file(results["UNCOVERED_OUT"].split("|")[0])
    outside = ~(expected["covered_elderly_day_care"].astype(bool) & expected["covered_nursery"].astype(bool))
    assert sorted(uncovered["res_id"]) == sorted(expected.loc[outside, "res_id"])
    facilities = gpd.read_file(results["FACILITIES_OUT"].split("|")[0])
    assert list(facilities["fac_id"]) == list(expected_fac["fac_id"])
    np.testing.assert_allclose(facilities["households_served"], expected_fac["households_served"], atol=1e-6)
    assert list(facilities["verdict"]) == list(expected_fac["verdict"])
    catchments = gpd.read_file(results["CATCHMENTS_OUT"].split("|")[0])
    assert set(catchments["fac_id"]) == set(expected_fac["fac_id"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    cli_summary = json.loads((cli_coverage / "summary.json").read_text(encoding="utf-8"))
    for kind in ("elderly_day_care", "nursery"):
        assert summary["kinds"][kind]["coverage_rate"] == pytest.approx(cli_summary["kinds"][kind]["coverage_rate"])
    assert Path(results["MAP"]).read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html>")


def _unit_args(layers) -> list[str]:
    """The sample's 社区 and 街道 layers with their fields picked (as sample_project.toml maps them), and its
    candidate sites (the ledger names the best one per failing unit)."""
    return [f"UNITS_COMMUNITY={layers['communities']}", "COMMUNITY_ID_FIELD=COMM_NO", "COMMUNITY_NAME_FIELD=社区名称",
            "COMMUNITY_PARENT_FIELD=所属街道代码", f"UNITS_STREET={layers['streets']}", "STREET_ID_FIELD=STREET_NO",
            "STREET_NAME_FIELD=街道名称", f"CANDIDATES={layers['candidates']}", "COST_FIELD=费用",
            "MAX_CAPACITY_FIELD=最大面积"]


@pytest.fixture(scope="module")
def qgis_units(qgis, layers, tmp_path_factory) -> tuple[dict, Path]:
    """siting:coverage with the unit layers and candidates, every unit output written: (results, output folder)."""
    out = tmp_path_factory.mktemp("qgis_units")
    sinks = {name: out / f"{name.lower()}.gpkg" for name in ("UNITS_COMMUNITY_OUT", "UNITS_STREET_OUT",
                                                             "INDICATORS_OUT", "LEDGER_OUT")}
    code, stdout, err = qgis("--json", "run", "siting:coverage", "--", *_coverage_args(layers, out), *_unit_args(layers),
                             *(f"{name}={path}" for name, path in sinks.items()))
    assert code == 0, err
    return json.loads(stdout)["results"], out


def _cell(value) -> str:
    """A layer's attribute as the CSV writes it: blank for NULL, True/False for booleans."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    return str(value)


def _assert_layer_equals_csv(got: pd.DataFrame, csv: Path) -> None:
    """Every column of `csv` (a table the command line wrote) in the layer's attributes, in order, value by value:
    numbers to 1e-9, true/false and text exactly."""
    expected = pd.read_csv(csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    got = pd.DataFrame(got.drop(columns="geometry", errors="ignore"))
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) > 0
    for column in expected.columns:
        want = expected[column]
        filled = want[want != ""]
        numbers = pd.to_numeric(filled, errors="coerce")
        if len(filled) and numbers.notna().all():
            np.testing.assert_allclose(pd.to_numeric(got[column]).astype(float),
                                       pd.to_numeric(want.replace("", np.nan)).astype(float),
                                       rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=column)
        elif len(filled) and set(filled) <= {"True", "False"}:
            assert [_cell(None if pd.isna(v) else bool(v)) for v in got[column]] == list(want), column
        else:
            assert [_cell(v) for v in got[column]] == list(want), column


def test_unit_layers_equal_the_command_line(qgis_units, cli_coverage, layers):
    """The 社区 and 街道 layers (given in UTM and Web Mercator, ids through the pickers) carry units_<level>.csv of
    `siting run` on the sample project, row by row, on the unit polygons in EPSG:4326."""
    results, _ = qgis_units
    for level, name, source in (("community", "UNITS_COMMUNITY_OUT", "example_communities.geojson"),
                                ("street", "UNITS_STREET_OUT", "example_streets.geojson")):
        got = gpd.read_file(results[name].split("|")[0])
        _assert_layer_equals_csv(got, cli_coverage / f"units_{level}.csv")
        assert got.crs.to_epsg() == 4326
        drawn = gpd.read_file(SAMPLE / source)
        original = drawn.set_index(drawn.columns[0]).loc[got["unit_id"]].geometry.to_numpy()
        # the same polygons, back from UTM / Web Mercator: symmetric difference below 1e-9 of the area
        assert (shapely.area(shapely.symmetric_difference(got.geometry.to_numpy(), original))
                < 1e-9 * shapely.area(original)).all()
    verdicts = set(gpd.read_file(results["UNITS_COMMUNITY_OUT"].split("|")[0])["verdict_community_day_care_coverage"])
    assert verdicts == {"pass", "fail"}  # the sample has both; the layer is styled by this column when loaded


def test_indicator_table_and_ledger_equal_the_command_line(qgis_units, cli_coverage):
    """The indicator table and the problem ledger as tables (no geometry) hold indicators.csv and ledger.csv; the
    workbooks are the files of the run, with the command line's sheets and cells."""
    import openpyxl

    results, out = qgis_units
    for name, csv in (("INDICATORS_OUT", "indicators.csv"), ("LEDGER_OUT", "ledger.csv")):
        got = gpd.read_file(results[name].split("|")[0])
        assert "geometry" not in got.columns or got.geometry.isna().all()
        _assert_layer_equals_csv(got, cli_coverage / csv)
    assert Path(results["INDICATORS_XLSX"]) == out / "indicators.xlsx"
    assert Path(results["WORKBOOK"]) == out / "coverage.xlsx"
    unit_sheets = ["指标表", "指标表（分单元）", "社区", "街道", "问题台账"]
    for book in ("indicators.xlsx", "coverage.xlsx"):
        mine, theirs = openpyxl.load_workbook(out / book), openpyxl.load_workbook(cli_coverage / book)
        assert mine.sheetnames == theirs.sheetnames
        assert mine.sheetnames[-len(unit_sheets):] == unit_sheets
        for sheet in unit_sheets:  # cell by cell (coverage.xlsx's facility sheet differs by the UTM round trip)
            assert [[c.value for c in row] for row in mine[sheet].iter_rows()] == \
                [[c.value for c in row] for row in theirs[sheet].iter_rows()], (book, sheet)


def test_bad_unit_layer_gives_the_command_line_message(qgis, layers, tmp_path):
    """社区 given as points: the command line's message, naming the layer where it names the file."""
    points = layers["community_points"]
    project = tmp_path / "bad_units.toml"
    project.write_text(f'[project]\nprofile = "chifeng"\noutput = "out"\n[network]\npath = "{SAMPLE / "sample.osm.pbf"}"\n'
                       f'[residences]\npath = "{layers["residences"]}"\ncolumns = {{ households = "HH_TOTAL" }}\n'
                       f'[[facilities]]\npath = "{layers["facilities"]}"\n'
                       f'[[units]]\npath = "{points}"\nlevel = "社区"\n'
                       f'columns = {{ id = "COMM_NO", name = "社区名称", parent = "所属街道代码" }}\n', encoding="utf-8")
    cli = _cli("run", str(project))
    assert cli.returncode == 2, cli.stderr
    cli_message = cli.stderr.strip().splitlines()[-1]
    assert cli_message.startswith(f"error: {points}, row 2, column 'geometry': unit 'C01' is a Point, not a polygon")
    code, stdout, err = qgis("run", "siting:coverage", "--", *_coverage_args(layers, tmp_path / "qgis"),
                             f"UNITS_COMMUNITY={points}", "COMMUNITY_ID_FIELD=COMM_NO",
                             "COMMUNITY_NAME_FIELD=社区名称", "COMMUNITY_PARENT_FIELD=所属街道代码")
    assert code != 0
    assert "Traceback" not in err + stdout
    assert cli_message.replace(f"error: {points}", "community_points") in err.splitlines()
    assert not (tmp_path / "qgis" / "residences.csv").exists()


def test_siting_layer_equals_the_command_line(qgis, layers, tmp_path):
    cli = _cli("optimize", str(SAMPLE / "sample_project.toml"), "--output", str(tmp_path / "cli"))
    assert cli.returncode == 0, cli.stderr
    expected = pd.read_csv(tmp_path / "cli" / "new_sites.csv", dtype={"site_id": str})
    out = tmp_path / "qgis"
    code, stdout, err = qgis("--json", "run", "siting:optimize", "--", *_coverage_args(layers, out),
                             f"CANDIDATES={layers['candidates']}", "COST_FIELD=费用", "MAX_CAPACITY_FIELD=最大面积",
                             "MODEL=0", "P=2", "SOLVER=0", f"NEW_SITES_OUT={out / 'new_sites.gpkg'}")
    assert code == 0, err
    results = json.loads(stdout)["results"]
    got = gpd.read_file(results["NEW_SITES_OUT"].split("|")[0])
    assert list(zip(got["kind"], got["site_id"])) == list(zip(expected["kind"], expected["site_id"]))
    assert len(got) == 4  # MCLP, p = 2 per kind on the sample
    np.testing.assert_allclose(got["households_newly_covered"], expected["households_newly_covered"])
    np.testing.assert_allclose(got.geometry.x, expected["lon"], atol=1e-6)
    plan = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    cli_plan = json.loads((tmp_path / "cli" / "plan_summary.json").read_text(encoding="utf-8"))
    for kind, info in cli_plan["kinds"].items():
        assert plan["kinds"][kind]["status"] == info["status"] == "optimal"
        assert plan["kinds"][kind]["objective"] == pytest.approx(info["objective"])


def test_lscp_runs_with_the_form_default_p(qgis, layers, tmp_path):
    """The form always has a p (default 2), which LSCP does not take: the algorithm leaves it out, as the command line
    does without --p, and the new sites equal `siting optimize --model lscp`."""
    cli = _cli("optimize", str(SAMPLE / "sample_project.toml"), "--model", "lscp", "--output", str(tmp_path / "cli"))
    assert cli.returncode == 0, cli.stderr
    out = tmp_path / "qgis"
    code, stdout, err = qgis("--json", "run", "siting:optimize", "--", *_coverage_args(layers, out),
                             f"CANDIDATES={layers['candidates']}", "MODEL=1", f"NEW_SITES_OUT={out / 'new_sites.gpkg'}")
    assert code == 0, err
    got = gpd.read_file(json.loads(stdout)["results"]["NEW_SITES_OUT"].split("|")[0])
    expected = pd.read_csv(tmp_path / "cli" / "new_sites.csv", dtype={"site_id": str})
    assert list(zip(got["kind"], got["site_id"])) == list(zip(expected["kind"], expected["site_id"]))
    assert len(got) > 0


def test_siting_by_unit_equals_the_command_line(qgis, layers, tmp_path):
    """Site by 社区 (p = 3: the sample's three 社区 without a nursery each need one): the units_plan table and the
    new sites equal `siting optimize` with units = ["社区"] in [optimize]."""
    from conftest import copy_sample_project

    project = copy_sample_project(tmp_path)
    project.write_text(project.read_text(encoding="utf-8").replace("p = 2", 'p = 2\nunits = ["社区"]'), encoding="utf-8")
    cli = _cli("optimize", str(project), "--p", "3", "--output", str(tmp_path / "cli"))
    assert cli.returncode == 0, cli.stderr
    out = tmp_path / "qgis"
    code, stdout, err = qgis("--json", "run", "siting:optimize", "--", *_coverage_args(layers, out), *_unit_args(layers),
                             "MODEL=0", "P=3", "SOLVER=0", "SITE_BY_UNIT=0", f"NEW_SITES_OUT={out / 'new_sites.gpkg'}",
                             f"UNITS_PLAN_OUT={out / 'units_plan.gpkg'}")
    assert code == 0, err
    results = json.loads(stdout)["results"]
    plan = gpd.read_file(results["UNITS_PLAN_OUT"].split("|")[0])
    _assert_layer_equals_csv(plan, tmp_path / "cli" / "units_plan.csv")
    assert set(plan["change"]) == {"gains service", "had service"}  # every 社区 has both services after the plan
    got = gpd.read_file(results["NEW_SITES_OUT"].split("|")[0])
    expected = pd.read_csv(tmp_path / "cli" / "new_sites.csv", dtype={"site_id": str})
    assert list(zip(got["kind"], got["site_id"])) == list(zip(expected["kind"], expected["site_id"]))


def test_cancel_stops_and_loaded_layers_are_styled(qgis, layers, cli_coverage, tmp_path):
    """In a QGIS session (PyQGIS): Cancel at a progress message stops the run with nothing written; the toolbox's
    run-and-load styles the residences by walking time, and each class holds the residences the CLI's table puts
    there (≤ 5, 5–10, 10–15 min, beyond or no route); the 社区 and 街道 layers are coloured by their first verdict
    column, each unit in the colour of its verdict in units_<level>.csv."""
    params = {"RESIDENCES": str(layers["residences"]), "HOUSEHOLDS_FIELD": "HH_TOTAL",
              "FACILITIES": str(layers["facilities"]), "NETWORK": str(SAMPLE / "sample.osm.pbf"),
              "PROFILE": int(_chifeng()), "MAX_SNAP_M": 300,
              **dict(arg.split("=", 1) for arg in _unit_args(layers))}
    config = {"plugin_dir": str(REPO / "qgis_plugin"), "cancel_at": "reading residences", "params": params,
              "cancel_folder": str(tmp_path / "cancelled"), "folder": str(tmp_path / "loaded"),
              "outputs": ["RESIDENCES_OUT", "UNCOVERED_OUT", "FACILITIES_OUT", "CATCHMENTS_OUT", "UNITS_COMMUNITY_OUT",
                          "UNITS_STREET_OUT"]}
    done = subprocess.run([str(QGIS_PROCESS.with_name("python3")), str(REPO / "tests" / "pyqgis_coverage_session.py"),
                           json.dumps(config)], env=_qgis_env(tmp_path / "home"), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["cancelled_run_ok"] is False
    assert report["errors"] == ["cancelled by the user"]
    assert report["info"][-1].endswith("reading residences")  # no stage after the cancel
    assert not any((tmp_path / "cancelled").glob("*.csv"))
    expected = pd.read_csv(cli_coverage / "residences.csv")
    minutes = expected["walk_min_elderly_day_care"].fillna(np.inf)
    want = {"#1a9641": int((minutes <= 5).sum()), "#a6d96a": int(((minutes > 5) & (minutes <= 10)).sum()),
            "#fdae61": int(((minutes > 10) & (minutes <= 15)).sum()), "#d7191c": int((minutes > 15).sum())}
    loaded = report["layers"]
    assert loaded["Residences by walking time"]["renderer"] == "graduatedSymbol"
    assert loaded["Residences by walking time"]["features_by_colour"] == {k: v for k, v in want.items() if v}
    assert loaded["Residences outside the walk"]["features"] == int(
        (~(expected["covered_elderly_day_care"] & expected["covered_nursery"])).sum())
    assert loaded["Facilities by verdict"]["categories"] == ["meets standard", "below standard", "no households in reach",
                                                             "capacity missing", "off network"]
    # every verdict facilities.csv gives has its category (the renderer reads the same `verdict` column)
    verdicts = set(pd.read_csv(cli_coverage / "facilities.csv", encoding="utf-8-sig")["verdict"])
    assert verdicts <= set(loaded["Facilities by verdict"]["categories"])
    assert loaded["Catchments"]["categories"] == ["elderly_day_care", "nursery"]
    colours = {"pass": "#1a9641", "fail": "#d7191c", "no residents": "#bababa"}
    for level, label, column in (("community", "社区", "verdict_community_day_care_coverage"),
                                 ("street", "街道/乡镇", "verdict_street_centre_coverage")):
        layer = loaded[f"{label} units by indicator verdict"]
        assert (layer["renderer"], layer["field"], layer["categories"]) == \
            ("categorizedSymbol", column, ["pass", "fail", "no residents"])
        verdicts = pd.read_csv(cli_coverage / f"units_{level}.csv", encoding="utf-8-sig")[column]
        assert layer["features_by_colour"] == {colours[v]: n for v, n in verdicts.value_counts().items()}


def test_without_siting_the_algorithms_list_and_say_how_to_install(layers, tmp_path):
    env = _qgis_env(tmp_path / "home")
    env["PYTHONPATH"] = ""  # QGIS's Python alone, as after installing only the plugin zip: no siting
    for args in (["plugins", "enable", "siting_qgis"], ["list"]):
        done = subprocess.run([str(QGIS_PROCESS), *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert "siting:coverage" in done.stdout
    done = subprocess.run([str(QGIS_PROCESS), "run", "siting:coverage", "--", f"RESIDENCES={layers['residences']}",
                           f"FACILITIES={layers['facilities']}", f"NETWORK={SAMPLE / 'sample.osm.pbf'}", "PROFILE=0",
                           f"OUTPUT_FOLDER={tmp_path / 'out'}"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "the siting Python package cannot be imported by QGIS's Python 3." in done.stderr
    assert "Fix: Linux: install siting into a venv" in done.stderr


@pytest.mark.parametrize("bad", ["no_households", "lines"])
def test_bad_layer_gives_the_command_line_message(qgis, layers, tmp_path, bad):
    project = tmp_path / "bad.toml"
    project.write_text(f'[project]\nprofile = "chifeng"\noutput = "out"\n[network]\npath = "{SAMPLE / "sample.osm.pbf"}"\n'
                       f'[residences]\npath = "{layers[bad]}"\n[[facilities]]\npath = "{layers["facilities"]}"\n',
                       encoding="utf-8")
    cli = _cli("run", str(project))
    assert cli.returncode == 2
    cli_message = cli.stderr.strip().splitlines()[-1]
    assert cli_message.startswith(f"error: {layers[bad]}")
    code, stdout, err = qgis("run", "siting:coverage", "--", f"RESIDENCES={layers[bad]}",
                             f"FACILITIES={layers['facilities']}", f"NETWORK={SAMPLE / 'sample.osm.pbf'}",
                             f"PROFILE={_chifeng()}", f"OUTPUT_FOLDER={tmp_path / 'qgis'}")
    assert code != 0
    assert "Traceback" not in err + stdout
    # the same message; QGIS names the layer (as in the Layers panel) where the command line names the file
    assert cli_message.replace(f"error: {layers[bad]}", bad) in err.splitlines()
    assert not (tmp_path / "qgis" / "residences.csv").exists()


def test_sync_check_equals_the_command_line(qgis, tmp_path):
    workbook = DATA / "example_developments.xlsx"
    cli = _cli("check", str(workbook), "--network", str(SAMPLE / "sample.osm.pbf"), "--profile", "chifeng",
               "--as-of", "2024-06-30", "--output", str(tmp_path / "cli"))
    assert cli.returncode == 0, cli.stderr
    expected = pd.read_csv(tmp_path / "cli" / "sync_developments.csv", dtype=str, keep_default_na=False)
    # the workbook's two sheets as GeoPackage layers: phases with their polygons, facilities as points (or none)
    phases = pd.read_excel(workbook, sheet_name="phases")
    facilities = pd.read_excel(workbook, sheet_name="facilities")
    paths = {}
    for name, frame in (("phases", phases), ("facilities", facilities)):
        wkt = frame.pop("geometry") if "geometry" in frame else pd.Series([np.nan] * len(frame))
        geometry = [shapely.from_wkt(w) if not pd.isna(w) else None if pd.isna(x) else shapely.Point(x, y)
                    for w, x, y in zip(wkt, frame.pop("经度"), frame.pop("纬度"))]  # a row has WKT or lon/lat
        for column in ("规划批准", "开工", "竣工验收", "交付"):
            frame[column] = [None if pd.isna(d) else d.date() for d in pd.to_datetime(frame[column])]
        paths[name] = tmp_path / f"{name}.gpkg"
        gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326").to_file(paths[name])
    out = tmp_path / "qgis"
    code, stdout, err = qgis("--json", "run", "siting:sync_check", "--", f"PHASES={paths['phases']}",
                             f"DEV_FACILITIES={paths['facilities']}", f"NETWORK={SAMPLE / 'sample.osm.pbf'}",
                             f"PROFILE={_chifeng()}", "AS_OF=2024-06-30", f"OUTPUT_FOLDER={out}",
                             f"DEVELOPMENTS_OUT={out / 'developments_layer.gpkg'}")
    assert code == 0, err
    results = json.loads(stdout)["results"]
    got = gpd.read_file(results["DEVELOPMENTS_OUT"].split("|")[0])
    assert list(zip(got["development_id"], got["kind"], got["status"])) == \
        list(zip(expected["development_id"], expected["kind"], expected["status"]))
    assert got.geometry.notna().all()
    assert (out / "sync_developments.csv").read_text(encoding="utf-8") == \
        (tmp_path / "cli" / "sync_developments.csv").read_text(encoding="utf-8")


def test_plugin_zip_installs_and_lists_the_algorithms(tmp_path):
    """The zip of qgis_plugin/build_zip.py, unpacked as QGIS's plugin installer does, loads in a fresh profile."""
    import zipfile

    sys.path.insert(0, str(REPO / "qgis_plugin"))
    try:
        import build_zip
    finally:
        sys.path.pop(0)
    archive = build_zip.build(tmp_path / "dist")
    assert archive.read_bytes() == build_zip.build(tmp_path / "again").read_bytes()  # reproducible
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert {"siting_qgis/metadata.txt", "siting_qgis/__init__.py", "siting_qgis/LICENSE"} <= set(names)
        assert not any("__pycache__" in n for n in names)
        zipped.extractall(tmp_path / "plugins")
    env = {**_qgis_env(tmp_path / "home"), "QGIS_PLUGINPATH": str(tmp_path / "plugins")}
    for args in (["plugins", "enable", "siting_qgis"], ["list"]):
        done = subprocess.run([str(QGIS_PROCESS), *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert {"siting:coverage", "siting:optimize", "siting:sync_check"} <= set(re.findall(r"siting:\w+", done.stdout))
