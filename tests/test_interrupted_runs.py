"""A run killed with SIGKILL (or stopped with Ctrl-C) leaves the output folder holding one run, never a mix of two:
real `python` processes are killed at a named step, and the folder is compared byte for byte with the previous run.
Leftovers of killed runs (staging folders, `.residences.csv.*.csv` temporaries of older versions) are cleaned up by
the next run."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_bad_inputs import write_study_area

from siting.output import STAGING_PREFIX, recover_output_folder
from siting.pipeline import run_coverage

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")

REPO = Path(__file__).resolve().parents[1]
FILES = {"coverage.gpkg", "facilities.csv", "map.html", "residences.csv", "summary.json"}


def run_files(folder: Path) -> set[str]:
    """The files of a run in `folder`: the tables, summary and map (and whatever else a run writes, e.g. a report),
    asserting that nothing hidden (staging folders, temporaries) is left beside them."""
    names = {p.name for p in folder.iterdir()}
    assert not [n for n in names if n.startswith(".")], names
    assert FILES <= names
    return names

#: A run that stops for good at the progress line containing argv[2] (after touching argv[3]), so that the test can
#: kill it there; walk minutes argv[4].
PAUSING_RUN = textwrap.dedent("""
    import sys, time, pathlib
    from siting.pipeline import run_coverage

    def progress(line):
        if sys.argv[2] in line:
            pathlib.Path(sys.argv[3]).write_text(line)
            time.sleep(600)

    run_coverage(sys.argv[1], progress=progress, walk_minutes=float(sys.argv[4]))
""")


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def kill_at(project: Path, step: str, tmp_path: Path, walk_minutes: float = 10, sig: int = signal.SIGKILL) -> None:
    marker = tmp_path / f"reached-{abs(hash(step))}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", PAUSING_RUN, str(project), step, str(marker), str(walk_minutes)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "the run never reached " + step
        time.sleep(0.05)
    child.send_signal(sig)
    child.wait(timeout=60)
    assert child.returncode == -sig  # after Ctrl-C Python unwinds (KeyboardInterrupt), then ends by the same signal


def test_a_run_killed_while_writing_leaves_the_previous_run_whole(tmp_path):
    project = write_study_area(tmp_path / "area")
    out = project.parent / "out"
    run_coverage(project)  # the previous run: 15 minutes
    before = digest(out)
    assert set(before) == run_files(out)

    for step in ("writing coverage.gpkg", "writing map"):  # tables staged / everything but the map staged
        kill_at(project, step, tmp_path)
        assert digest(out) == before, step  # the folder is still exactly the 15-minute run
        assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["walk_minutes"] == 15
    # what the killed runs left: the last one's staging folder (the second run removed the first's when it started)
    # and, from older versions, a temporary beside the target
    assert len(list(out.glob(f"{STAGING_PREFIX}*"))) == 1
    (out / ".residences.csv.k3x_9q2z.csv").write_text("half a table", encoding="utf-8")

    run_coverage(project, walk_minutes=10)
    assert run_files(out) == set(before)  # one run, no leftovers
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["walk_minutes"] == 10
    ten = digest(out)

    kill_at(project, "writing map", tmp_path, walk_minutes=5, sig=signal.SIGINT)  # Ctrl-C cleans up after itself
    assert run_files(out) == set(ten) and digest(out) == ten
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["walk_minutes"] == 10


def test_a_run_killed_between_renames_is_completed_by_the_next_one(tmp_path):
    """The journal is written before the first rename: a folder caught mid-way is rolled forward."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.csv", "b.csv"):
        (out / name).write_text("old\n", encoding="utf-8")
    script = textwrap.dedent("""
        import os, signal, sys
        from pathlib import Path
        from siting.output import output_set, write_text

        out = Path(sys.argv[1])
        real_replace, moved = os.replace, []

        def replace_then_die(src, dst):  # the power fails right after the first file moved
            real_replace(src, dst)
            if str(dst).endswith(".csv"):
                moved.append(dst)
                os.kill(os.getpid(), signal.SIGKILL)

        with output_set(out) as staged:
            write_text(staged.path(out / "a.csv"), "new\\n")
            write_text(staged.path(out / "b.csv"), "new\\n")
            os.replace = replace_then_die
    """)
    done = subprocess.run([sys.executable, "-c", script, str(out)], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    contents = sorted((out / n).read_text(encoding="utf-8") for n in ("a.csv", "b.csv"))
    assert contents == ["new\n", "old\n"]  # caught between the two renames
    recover_output_folder(out)
    assert [(out / n).read_text(encoding="utf-8") for n in ("a.csv", "b.csv")] == ["new\n", "new\n"]
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv"]
