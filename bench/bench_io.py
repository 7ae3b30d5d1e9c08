"""Reading and writing at scale: `siting run` on N residence rows (default 1,000,000) scattered over the embedded
sample's area (siting/sample/sample.osm.pbf, a real OSM extract), with the sample's facilities.

Prints every progress line with its time stamp, the wall time of each step (the gap to the next line), the total, and
the peak resident memory; run it twice (the first run also compiles the kernels and caches the network).

    PYTHONPATH=. python bench/bench_io.py --rows 1000000 --folder /tmp/bench_io
"""
from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "siting" / "sample"


def write_inputs(folder: Path, rows: int, seed: int = 1) -> Path:
    """residences.csv with `rows` rows (ids, Chinese names, 户数, 小区类型, 经度, 纬度) inside the sample's bounds."""
    folder.mkdir(parents=True, exist_ok=True)
    sample = pd.read_csv(SAMPLE / "example_residences.csv")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sample), rows)
    jitter = rng.normal(0.0, 0.0004, (rows, 2))  # ≈ 25-45 m around a real building
    frame = pd.DataFrame({
        "编号": [f"R{i:07d}" for i in range(rows)],
        "名称": [f"小区 {i}" for i in range(rows)],
        "户数": rng.integers(1, 60, rows),
        "小区类型": np.where(rng.random(rows) < 0.2, "新建", "既有"),
        "经度": np.round(sample["经度"].to_numpy()[pick] + jitter[:, 0], 7),
        "纬度": np.round(sample["纬度"].to_numpy()[pick] + jitter[:, 1], 7),
    })
    frame.to_csv(folder / "residences.csv", index=False, encoding="utf-8")
    for name in ("sample.osm.pbf", "example_facilities.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    (folder / "project.toml").write_text(
        '[project]\nname = "bench io"\nprofile = "chifeng"\noutput = "out"\nmax_snap_m = 300\n\n'
        '[network]\npath = "sample.osm.pbf"\n\n[residences]\npath = "residences.csv"\n\n'
        '[[facilities]]\npath = "example_facilities.csv"\n', encoding="utf-8")
    return folder / "project.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bench_io"))
    parser.add_argument("--reuse", action="store_true", help="keep an existing residences.csv of the right size")
    args = parser.parse_args()
    project = args.folder / "project.toml"
    if not (args.reuse and project.exists()):
        t = time.perf_counter()
        project = write_inputs(args.folder, args.rows)
        print(f"inputs written in {time.perf_counter() - t:.1f} s ({(args.folder / 'residences.csv').stat().st_size / 1e6:.0f} MB)")

    from siting.pipeline import run_coverage

    stamps: list[tuple[float, str]] = []
    start = time.perf_counter()

    def progress(line: str) -> None:
        stamps.append((time.perf_counter() - start, line.split("] ", 1)[-1]))
        print(line, flush=True)

    run_coverage(project, progress=progress)
    total = time.perf_counter() - start
    print("\nsteps longer than 1 s (time to the next progress line):")
    for (t0, line), (t1, _) in zip(stamps, stamps[1:] + [(total, "")]):
        if t1 - t0 > 1.0:
            print(f"  {t1 - t0:6.1f} s  {line[:100]}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {total:.1f} s, peak RSS {peak_mb:.0f} MB, rows {args.rows:,}")


if __name__ == "__main__":
    main()
