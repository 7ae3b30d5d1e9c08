"""A small batch on a local Dask cluster (2 worker processes) equals the same jobs run one by one in-process, and a
failing job is reported without losing the others."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from siting.batch import job_folder, run_batch, run_job

from conftest import shared_file
from test_scenario import write_area

OSM = shared_file("bupt_beijing", "map.osm")


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[Path]:
    folder = write_area(tmp_path_factory.mktemp("batch"))
    (folder / "broken.toml").write_text('[scenario]\nbase = "project.toml"\nremove_facilities = ["NOPE"]\n', encoding="utf-8")
    return [folder / "base.toml", folder / "broken.toml", folder / "open.toml", folder / "project.toml"]


def test_batch_on_two_workers_equals_sequential_runs(jobs, tmp_path):
    table = run_batch(jobs, output=tmp_path / "dask", n_workers=2, retries=1)
    assert table["job"].drop_duplicates().tolist() == [str(j) for j in jobs]  # submission order, whatever finished first
    failed = table[table["status"] == "failed"]
    assert failed["job"].tolist() == [str(jobs[1])] and "NOPE" in failed["error"].iloc[0]

    sequential = pd.DataFrame([row for job in (jobs[0], jobs[2], jobs[3]) for row in run_job(job, tmp_path / "seq")])
    ok = table[table["status"] == "ok"].reset_index(drop=True)
    numbers = ["coverage_rate", "households_uncovered", "capacity_total", "required_capacity", "capacity_shortfall",
               "servable_share", "facilities"]
    pd.testing.assert_frame_equal(ok[["job", "kind", "cache_key"] + numbers],
                                  sequential[["job", "kind", "cache_key"] + numbers], check_dtype=False)
    # the streamed CSV holds the same complete table
    streamed = pd.read_csv(tmp_path / "dask" / "batch_results.csv", encoding="utf-8-sig")
    assert len(streamed) == len(table) and set(streamed["status"]) == {"ok", "failed"}
    # a project file without edits is the base scenario: same numbers as base.toml
    base = ok[ok["job"] == str(jobs[0])][numbers].reset_index(drop=True)
    plain = ok[ok["job"] == str(jobs[3])][numbers].reset_index(drop=True)
    pd.testing.assert_frame_equal(base, plain)


def test_jobs_are_idempotent(jobs, tmp_path):
    first = run_job(jobs[0], tmp_path)
    entries = sorted((job_folder(tmp_path, jobs[0]) / ".siting-cache" / "scenarios").iterdir())
    second = run_job(jobs[0], tmp_path)
    assert first == second
    assert sorted((job_folder(tmp_path, jobs[0]) / ".siting-cache" / "scenarios").iterdir()) == entries
