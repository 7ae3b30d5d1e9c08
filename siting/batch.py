"""Many scenarios or study areas on Dask: a local cluster by default, an existing one with `scheduler`.

A job is one project or scenario file. Each job runs in its own output folder and goes through the scenario
cache, so it is idempotent: re-submitting a finished job re-uses its result. A job that fails is retried, then
reported with its error in one line; the others carry on. A planner error (a TOML syntax error, a bad column: any
SitingError) is reported at once and never retried, since the same files would fail the same way. Job and output
paths are made absolute on the client, so workers started in any folder read the same files and write where
`batch_results.csv` says. Rows stream into one combined CSV as jobs complete.
"""
from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from .errors import SitingError
from .inputs.project import load_project, read_toml
from .inputs.validate import check_number
from .output import ensure_writable_dir, write_csv

Progress = Callable[[str], None]

JOB_COLUMNS = ("job", "status", "error")


def job_folder(output: str | os.PathLike, job: str | os.PathLike) -> Path:
    """A stable folder per job: the file's stem plus a short hash of its absolute path (two `a.toml` never clash)."""
    import hashlib

    path = Path(job).resolve()
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:8]
    return Path(output) / "jobs" / f"{path.stem}-{digest}"


def run_job(job: str | os.PathLike, output: str | os.PathLike, label: str | None = None) -> list[dict]:
    """One job, in-process: the comparison rows (one per kind) of the scenario or project file `job`; `label` is
    how the job is named in the rows (default: `job` as given)."""
    from .scenario import Scenario, compare, load_scenario, run_scenario

    path = Path(job).resolve()
    if "scenario" in read_toml(path):
        scenario = load_scenario(path)
    else:  # a plain project file is a scenario without edits
        project = load_project(path)
        spec = {"name": project.name, "description": "", "base": str(path), "year": None, "walk_minutes": None,
                "profile": None, "figures": {}, "remove_facilities": [], "add_facilities": [],
                "resize_facilities": [], "add_residences": [], "optimize": {}}
        scenario = Scenario(name=project.name, path=path, project=project, spec=spec, chain=[path])
    result = run_scenario(scenario, output=job_folder(output, path))
    rows = compare([result]).to_dict("records")
    for row in rows:
        row.update({"job": label or str(job), "status": "ok", "error": "", "result_folder": str(result.folder)})
    return rows


def run_batch(
    jobs: Sequence[str | os.PathLike],
    *,
    output: str | os.PathLike,
    scheduler: str | None = None,
    n_workers: int = 2,
    retries: int = 1,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run every job on Dask and return the combined table (also written to `<output>/batch_results.csv`).

    `scheduler`: None starts a LocalCluster of `n_workers` single-threaded processes; otherwise the address of a
    running scheduler (e.g. tcp://10.0.0.5:8786), whose workers must see the same paths. Failed jobs appear as rows
    with status "failed" and the error message.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    say = progress or (lambda _m: None)
    if scheduler is None:  # a local cluster of no workers would wait for ever
        check_number("--workers", n_workers, flag=True)
    check_number("--retries", retries, flag=True)
    out = ensure_writable_dir(output).resolve()
    combined = out / "batch_results.csv"
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    rows: list[dict] = []
    try:
        futures = {client.submit(_run_job_reporting, str(Path(job).resolve()), str(out), str(job),
                                 key=f"siting-job-{i}-{Path(job).name}", retries=retries, pure=False): str(job)
                   for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            job = futures[future]
            if future.status == "finished":
                result = future.result()
                rows.extend(result)
                if result and result[0]["status"] == "failed":
                    say(f"failed (not retried: a retry cannot fix an input or project error): {job}: {result[0]['error']}")
                else:
                    say(f"done: {job}")
            else:
                error = future.exception()
                rows.append({"job": job, "status": "failed", "error": _message(error)})
                say(f"failed after {retries} retr{'y' if retries == 1 else 'ies'}: {job}: {_message(error)}")
            write_csv(combined, _table(rows, jobs))  # atomic rewrite: the file is always a complete table
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return _table(rows, jobs)


def _run_job_reporting(job: str, output: str, label: str) -> list[dict]:
    """Worker side. A planner error comes back as a failed row (returned, so Dask does not retry it); anything else
    is raised again as one line naming the exception and where it happened, since a traceback does not survive
    pickling and the planner reads one line per job anyway."""
    try:
        return run_job(job, output, label=label)
    except SitingError as exc:
        return [{"job": label, "status": "failed", "error": _message(exc)}]
    except Exception as exc:  # noqa: BLE001
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ is not None else None
        at = f" (at {Path(where.filename).name}:{where.lineno} in {where.name})" if where is not None else ""
        raise RuntimeError(f"{type(exc).__name__}: {_message(exc)}{at}") from None


def _message(error: BaseException | None) -> str:
    """One line: the first line of the message (a planner error's message is one line already)."""
    text = str(error) if error is not None else ""
    return " ".join(text.split("\n")[0].split()) if text.strip() else repr(error)


def _table(rows: list[dict], jobs: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Jobs in submission order, kinds in schema order, whatever order they finished in."""
    table = pd.DataFrame(rows)
    if not len(table):
        return pd.DataFrame(columns=list(JOB_COLUMNS))
    order = {str(job): i for i, job in enumerate(jobs)}
    table["_order"] = table["job"].map(order)
    table = table.sort_values(["_order"] + (["kind"] if "kind" in table else []), kind="stable").drop(columns="_order")
    first = [c for c in JOB_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)
