"""HTML map cost at 1k / 10k / 100k synthetic residences: build + write time, file size, and the time
headless Chromium (offline) takes to reach the load event. Prints a Markdown table and saves it to
bench/results/maps.md. Needs .ci/setup-chromium.sh for the render column (otherwise it shows "—").

    python bench/bench_maps.py [--sizes 1000,10000,100000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the synthetic inputs and the offline browser set-up of the tests

from test_maps import make_inputs  # noqa: E402

from siting.output import write_text  # noqa: E402
from siting.reports.maps import coverage_map, save_map  # noqa: E402


def render_seconds(paths: list[Path]) -> list[float | None]:
    """Navigation start to load event end, as the page's own Performance API measures it."""
    try:
        from playwright.sync_api import sync_playwright
        from test_maps_browser import CHROMIUM, open_offline_browser
    except ImportError:
        return [None] * len(paths)
    if not Path(CHROMIUM).exists():
        return [None] * len(paths)
    seconds = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="siting-chromium-") as profile:
        context = open_offline_browser(playwright, profile)
        for path in paths:
            page = context.new_page()
            page.goto(path.as_uri(), wait_until="load", timeout=300_000)
            load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
            seconds.append(load_ms / 1000)
            page.close()
        context.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="residence counts, comma-separated")
    parser.add_argument("--max-points", type=int, default=20000)
    args = parser.parse_args()
    rows, paths = [], []
    with tempfile.TemporaryDirectory(prefix="siting-bench-maps-") as folder:
        for n in (int(s) for s in args.sizes.split(",")):
            residences, facilities, catchments = make_inputs(n=n, seed=n)
            started = time.perf_counter()
            m = coverage_map(residences, facilities, catchments, title=f"bench {n}", max_points=args.max_points)
            path = save_map(m, Path(folder) / f"map_{n}.html")
            write_s = time.perf_counter() - started
            drawn = "grid (aggregated)" if n > args.max_points else "points"
            rows.append([f"{n:,}", drawn, f"{write_s:.2f}", f"{path.stat().st_size / 1e6:.2f}"])
            paths.append(path)
        for row, seconds in zip(rows, render_seconds(paths)):
            row.append("—" if seconds is None else f"{seconds:.2f}")
    header = ["residences", "drawn as", "build + write (s)", "HTML size (MB)", "Chromium load event (s)"]
    table = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    )
    print(table)
    write_text(HERE / "results" / "maps.md", f"# Map bench (max_points={args.max_points})\n\n{table}\n")


if __name__ == "__main__":
    main()
