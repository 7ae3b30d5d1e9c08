"""A plain (non-editable) install: a real wheel built from the checkout, installed into a throwaway virtual environment
and `siting demo` run from it, against the same demo run from the checkout.

The wheel is built offline (`pip wheel --no-build-isolation --no-index`, setuptools and wheel from the test extra) from
a copy of the package, so a stale build/ folder in the checkout cannot leak into it. The throwaway environment sees the
test environment's dependencies through a .pth file (appended after its own site-packages, so the installed `siting`
wins and the checkout's editable one is never imported: `.pth` files inside those folders are not processed); nothing
is downloaded.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO, SAMPLE

PACKAGE = REPO / "siting"
BUILD_INPUTS = ("pyproject.toml", "README.md")
CACHE_LITTER = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")


def _package_files(folder: Path, base: Path = REPO) -> set[str]:
    """Files under `folder` named relative to `base` (by default as wheel members, siting/…), without bytecode and
    numba caches, which Python and numba write next to the modules they compile."""
    return {path.relative_to(base).as_posix() for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".nbi", ".nbc"}}


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / (f"{name}.exe" if os.name == "nt" else name)


def _site_packages(env: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        shutil.copy(REPO / name, source / name)
    shutil.copytree(PACKAGE, source / "siting", ignore=CACHE_LITTER)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(dist), str(source)], check=True, capture_output=True, text=True)
    (built,) = dist.glob("siting-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (no dependencies downloaded: see the module docstring)."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env)
    parents = dict.fromkeys(sysconfig.get_path(key) for key in ("purelib", "platlib"))
    (_site_packages(env) / "zz_test_dependencies.pth").write_text("\n".join(parents) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(_bin(env, "python")), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, capture_output=True, text=True)
    return env


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    return {**env, **extra}


def test_wheel_carries_profiles_leaflet_and_the_sample(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    profiles = _package_files(PACKAGE / "inputs" / "profiles")
    assert {Path(p).name for p in profiles} >= {"national.toml", "chifeng.toml", "jixi.toml"}
    assert profiles <= names
    leaflet = _package_files(PACKAGE / "reports" / "static")
    assert {"siting/reports/static/leaflet/leaflet.js", "siting/reports/static/leaflet/leaflet.css"} <= leaflet <= names
    sample = _package_files(SAMPLE)
    assert "siting/sample/sample_project.toml" in sample and "siting/sample/README.md" in sample  # licence notes too
    assert sample <= names
    with zipfile.ZipFile(wheel) as archive:  # byte for byte the checkout's files
        for name in sample | profiles:
            assert archive.read(name) == (REPO / name).read_bytes(), name
    assert not any(name.startswith("data/") for name in names)  # the generator scripts stay in the repository


def test_sample_found_inside_a_zip(wheel):
    """The fallback for a package that is not on a file system: the sample read straight out of the wheel (a zip)
    through importlib.resources' Traversable, copied to a temporary folder, loads as the checkout's does."""
    from siting.cli import sample_project_file
    from siting.inputs.project import load_project

    with zipfile.ZipFile(wheel) as archive:
        with sample_project_file(zipfile.Path(archive, "siting/sample/")) as project_file:
            assert not project_file.is_relative_to(SAMPLE)
            for path in SAMPLE.iterdir():
                assert (project_file.parent / path.name).read_bytes() == path.read_bytes()
            project = load_project(project_file)
            assert project.resolve("sample.osm.pbf") == project_file.parent / "sample.osm.pbf"
        assert not project_file.exists()  # the temporary copy is gone after the run


def test_demo_from_the_wheel_equals_the_checkout_demo(installed, tmp_path):
    from siting.cli import main

    site = _site_packages(installed)
    run_dir = tmp_path / "planner"
    run_dir.mkdir()
    env = _clean_env(SITING_CACHE_DIR=str(tmp_path / "cache"))
    where = subprocess.run([str(_bin(installed, "python")), "-c", "import siting; print(siting.__file__)"],
                           cwd=run_dir, env=env, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the wheel's siting, not the checkout's

    package_before = _package_files(site / "siting", site)
    demo = subprocess.run([str(_bin(installed, "siting")), "demo"], cwd=run_dir, env=env, capture_output=True,
                          text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert _package_files(site / "siting", site) == package_before  # nothing written into site-packages
    wheel_out = run_dir / "out" / "sample"  # the demo's default folders, under the current folder
    assert (run_dir / "maps" / "sample_coverage.html").stat().st_size > 0

    checkout_out = tmp_path / "checkout"
    result = CliRunner().invoke(main, ["demo", "--output", str(checkout_out)])
    assert result.exit_code == 0, result.output

    from_wheel, from_checkout = (json.loads((folder / "summary.json").read_text(encoding="utf-8"))
                                 for folder in (wheel_out, checkout_out))
    for name, line in from_wheel["inputs"].items():  # the wheel's own copy of the sample, byte-identical
        path, _, digest = line.partition(" ")
        assert Path(path).is_relative_to(site / "siting" / "sample"), path
        assert digest == from_checkout["inputs"][name].partition(" ")[2]
    assert Path(from_wheel["profile_figures"]["path"]).is_relative_to(site / "siting" / "inputs" / "profiles")
    for summary in (from_wheel, from_checkout):  # the rest names no path
        summary.pop("inputs")
        summary["network"].pop("source")
        summary["profile_figures"].pop("path")
    assert from_wheel == from_checkout  # coverage rates, households and residences counted, verdicts, units
    assert from_wheel["residences"] == 1145 and from_wheel["households"] == 13301
    for table in ("residences.csv", "facilities.csv", "units_community.csv", "indicators.csv", "ledger.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(wheel_out / table, encoding="utf-8-sig"),
                                      pd.read_csv(checkout_out / table, encoding="utf-8-sig"), obj=table)
