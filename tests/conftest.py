from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
#: The embedded sample `siting demo` runs: package data inside siting/ (see siting/sample/README.md).
SAMPLE = REPO / "siting" / "sample"


def shared_file(*parts: str) -> Path:
    """A file of tests/data (real extracts copied from the project's shared data; source and licence in its README).

    A missing file is a broken checkout, not a reason to skip: the tests run from the repository alone.
    """
    path = TEST_DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test data missing: {path} (it is part of the repository; restore it with git checkout)")
    return path


#: Files the sample project (siting/sample/sample_project.toml) reads, all next to it.
SAMPLE_FILES = ("sample.osm.pbf", "example_residences.csv", "example_facilities.csv", "example_candidates.csv",
                "example_streets.geojson", "example_communities.geojson")


def copy_sample_project(folder: Path, name: str = "project.toml") -> Path:
    """The sample project and its files copied to `folder` (outputs and map under folder/out), so that a test can
    run or break it without touching siting/sample/."""
    import shutil

    for file in SAMPLE_FILES:
        shutil.copy(SAMPLE / file, folder / file)
    text = (SAMPLE / "sample_project.toml").read_text(encoding="utf-8")
    target = folder / name
    target.write_text(text.replace("../../out/sample", "out").replace("../../maps/sample_coverage.html", "out/map.html"),
                      encoding="utf-8")
    return target
