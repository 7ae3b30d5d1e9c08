"""The main job end to end on the embedded sample: outputs agree with an independent recomputation, reruns are
byte-identical, a failed run keeps the previous results, and the CLI has help on every command."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import SAMPLE, copy_sample_project

from siting.cli import main
from siting.errors import ConfigError, InputError
from siting.inputs.project import load_project
from siting.pipeline import run_coverage

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def project_copy(tmp_path):
    """The sample project copied to a scratch folder, so tests can break its inputs."""
    return copy_sample_project(tmp_path)


def test_sample_run_outputs_agree_with_an_independent_recount(project_copy):
    run = run_coverage(project_copy)
    out = project_copy.parent / "out"
    residences = pd.read_csv(out / "residences.csv")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    profile = run.inputs.profile
    for kind, speed_key in (("elderly_day_care", "elderly_walk_speed_m_per_min"), ("nursery", "walk_speed_m_per_min")):
        minutes = residences[f"walk_min_{kind}"].fillna(np.inf)
        covered = minutes <= profile.value("walk_minutes")
        rate = residences.loc[covered, "households"].sum() / residences["households"].sum()
        assert summary["kinds"][kind]["coverage_rate"] == pytest.approx(rate)
        assert summary["kinds"][kind]["walk_m"] == pytest.approx(15 * profile.value(speed_key))
    # households read from the Chinese 户数 column, population derived with the profile's household size
    source = pd.read_csv(SAMPLE / "example_residences.csv")
    assert residences["households"].sum() == source["户数"].sum()
    assert residences["population"].sum() == pytest.approx(source["户数"].sum() * profile.value("household_size"))
    assert summary["profile"] == "chifeng"
    assert summary["kinds"]["nursery"]["walk_clause"]["source"]
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "<script src=\"http" not in html and "leaflet" in html.lower()


def test_csv_keeps_full_precision(project_copy):
    """residences.csv reads back the computed numbers exactly: lon/lat to 7 decimals (~1 cm; six significant digits
    used to cut them to ~10 m) and walking minutes bit for bit."""
    run = run_coverage(project_copy)
    csv = pd.read_csv(project_copy.parent / "out" / "residences.csv", encoding="utf-8-sig")
    frame = run.result.residences
    points = frame.geometry.where(frame.geometry.geom_type == "Point", frame.geometry.representative_point())
    assert (csv["lon"].to_numpy() == points.x.round(7).to_numpy()).all()
    assert (csv["lat"].to_numpy() == points.y.round(7).to_numpy()).all()
    assert (csv["lon"].map(lambda v: len(repr(v).split(".")[1])) > 4).any()
    minutes = frame["walk_min_nursery"].to_numpy(dtype=float)
    assert np.array_equal(csv["walk_min_nursery"].to_numpy(dtype=float), minutes, equal_nan=True)


def test_rerun_gives_byte_identical_tables(project_copy):
    out = project_copy.parent / "out"
    run_coverage(project_copy)
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    run_coverage(project_copy)
    second = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], f"{name} differs between two identical runs"


def test_failed_run_keeps_previous_results(project_copy):
    out = project_copy.parent / "out"
    run_coverage(project_copy)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = project_copy.parent / "example_residences.csv"
    text = bad.read_text(encoding="utf-8").splitlines()
    cells = text[3].split(",")
    cells[2] = "abc"  # households of the third data row (spreadsheet row 4)
    text[3] = ",".join(cells)
    bad.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_coverage(project_copy)
    assert "row 4" in str(err.value) and "户数" in str(err.value)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.is_file()]  # no temporary leftovers


def test_unknown_project_key_is_named(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[project]\nprofle = "chifeng"\n[network]\npath = "x.osm.pbf"\n[residences]\npath = "r.csv"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_project(path)
    assert "'profle'" in str(err.value) and "profile" in str(err.value) and str(path) in str(err.value)


def test_cli_run_and_help_on_every_command(project_copy):
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(project_copy), "--profile", "jixi", "--walk-minutes", "10"])
    assert result.exit_code == 0, result.output
    summary = json.loads((project_copy.parent / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["profile"] == "jixi" and summary["walk_minutes"] == 10

    def commands(group, prefix):
        for name, cmd in group.commands.items():
            yield prefix + [name]
            if hasattr(cmd, "commands"):
                yield from commands(cmd, prefix + [name])

    for path in [[]] + list(commands(main, [])):
        help_result = runner.invoke(main, path + ["--help"])
        assert help_result.exit_code == 0 and "Usage:" in help_result.output, path


def test_cli_reports_planner_errors_without_traceback(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[project]\nname = "x"\n[network]\npath = "missing.osm.pbf"\n[residences]\npath = "r.csv"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.output and "missing.osm.pbf" in result.output and "Traceback" not in result.output


def test_layers_from_postgis_and_results_back(project_copy):
    """Residences read from a PostGIS table; result tables written back in one transaction (real server)."""
    import os

    from siting.inputs.layers import read_residences
    from siting.inputs.postgis import read_postgis_table, write_postgis_tables

    url = os.environ.get("SITING_TEST_POSTGIS_URL")
    if not url:
        pytest.skip("no PostGIS server: set SITING_TEST_POSTGIS_URL, .ci/run starts one")
    folder = project_copy.parent
    residences = read_residences(folder / "example_residences.csv", household_size=2.62)
    write_postgis_tables(url, {"pipeline_residences": residences})
    text = project_copy.read_text(encoding="utf-8").replace(
        'path = "example_residences.csv"', f'path = "{url}"\ntable = "pipeline_residences"'
    ).replace("[project]\n", f'[project]\npostgis_url = "{url}"\npostgis_schema = "siting_results"\n', 1)
    project_copy.write_text(text, encoding="utf-8")
    run = run_coverage(project_copy)
    back = read_postgis_table(url, "siting_results.siting_residences")
    assert len(back) == len(residences)
    csv = pd.read_csv(folder / "out" / "residences.csv")
    np.testing.assert_allclose(back.sort_values("res_id")["walk_min_nursery"].to_numpy(),
                               csv.sort_values("res_id")["walk_min_nursery"].to_numpy(), rtol=1e-5)  # CSV keeps 6 digits
    assert run.inputs.sources["residences"].endswith("table pipeline_residences") and "***" in run.inputs.sources["residences"]
