"""A small batch on a local Dask cluster (2 worker processes) equals the same jobs run one by one in-process, and a
failing job is reported without losing the others."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file
from test_scenario import write_area

from siting.batch import job_folder, run_batch, run_job

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


def test_a_worker_in_another_folder_gets_absolute_paths_and_planner_errors_are_not_retried(tmp_path, monkeypatch):
    """A real scheduler (LocalCluster without workers) and a `dask worker` process started in another folder: relative
    job and output paths given on the client resolve on the client, results land where batch_results.csv says, a TOML
    syntax error fails at once without a retry, and an unexpected error reaches the planner as one line."""
    import os
    import subprocess
    import sys

    from dask.distributed import Client, LocalCluster

    (tmp_path / "client").mkdir()
    client_dir = write_area(tmp_path / "client")
    (client_dir / "syntax.toml").write_text('[scenario\nbase = "project.toml"\n', encoding="utf-8")
    (client_dir / "folder.toml").mkdir()  # not a file: an OSError, not a planner error
    worker_dir = tmp_path / "worker"
    worker_dir.mkdir()
    repo = Path(__file__).resolve().parents[1]
    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as cluster:
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address, "--nthreads", "1",
             "--no-dashboard"], cwd=worker_dir, env={**os.environ, "PYTHONPATH": str(repo)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Client(cluster.scheduler_address) as client:
                client.wait_for_workers(1, timeout=120)
                assert client.run(os.getcwd) and set(client.run(os.getcwd).values()) == {str(worker_dir)}
            monkeypatch.chdir(client_dir)
            lines: list[str] = []
            table = run_batch(["base.toml", "syntax.toml", "folder.toml"], output="out",
                              scheduler=cluster.scheduler_address, retries=1, progress=lines.append)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    by_job = table.groupby("job")
    ok = by_job.get_group("base.toml")
    assert set(ok["status"]) == {"ok"}
    for folder in ok["result_folder"]:  # on the client's side, under its out/
        assert Path(folder).is_dir() and Path(folder).is_relative_to(client_dir / "out")
    assert not any(worker_dir.iterdir())  # nothing landed in the worker's folder
    syntax = by_job.get_group("syntax.toml").iloc[0]
    assert syntax["status"] == "failed" and syntax["error"].startswith(f"{client_dir / 'syntax.toml'}: not valid TOML")
    assert "\n" not in syntax["error"]
    assert (f"failed (not retried: a retry cannot fix an input or project error): syntax.toml: {syntax['error']}"
            in lines)
    crash = by_job.get_group("folder.toml").iloc[0]
    assert crash["status"] == "failed" and "\n" not in crash["error"]
    assert crash["error"].startswith("IsADirectoryError: [Errno 21] Is a directory") and "(at " in crash["error"]
    assert f"failed after 1 retry: folder.toml: {crash['error']}" in lines
    streamed = pd.read_csv(client_dir / "out" / "batch_results.csv", encoding="utf-8-sig")
    assert sorted(set(streamed["job"])) == ["base.toml", "folder.toml", "syntax.toml"]
