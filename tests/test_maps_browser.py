"""The saved maps opened in a real headless Chromium with networking off: what a planner would see offline.

Needs Debian's chromium (/usr/bin/chromium) and Playwright for Python (pip install playwright; no
`playwright install`: we drive the system browser). Screenshots go to $SITING_ARTIFACTS (default tests/artifacts/).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from test_maps import EVIL, make_inputs

from siting.inputs.schema import KINDS
from siting.reports.maps import aggregate_to_grid, coverage_map, save_map

pytestmark = pytest.mark.browser

ELDERLY, NURSERY = KINDS
CHROMIUM = os.environ.get("SITING_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# --headless comes from Playwright's headless=True (it picks the mode that matches the browser build).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("SITING_ARTIFACTS") or Path(__file__).resolve().parent / "artifacts")


def open_offline_browser(playwright, profile_dir: str | os.PathLike):
    """A fresh-profile Chromium context with the network cut: offline, and every non-file request aborted and recorded."""
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, offline=True, viewport={"width": 1280, "height": 800}
    )
    context.remote_requests = []

    def block(route):
        context.remote_requests.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(("file:", "data:", "about:")), block)
    return context


class PageLog:
    """Console errors, uncaught exceptions and dialogs (alert/confirm/prompt) of one page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))


@pytest.fixture(scope="module")
def browser_context():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium binary at {CHROMIUM}: run .ci/setup-chromium.sh (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: pip install playwright")
    with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="siting-chromium-") as profile:
        context = open_offline_browser(playwright, profile)
        yield context
        context.close()


@pytest.fixture
def page(browser_context):
    """A fresh tab, closed even when the test fails (a tab left open would throttle the next one)."""
    tab = browser_context.new_page()
    tab.log = PageLog(tab)
    yield tab
    tab.close()


def open_map(page, path: Path) -> None:
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_selector(".leaflet-control-layers-overlays label", state="attached")


def count(page, css: str) -> int:
    return page.locator(css).count()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    page.screenshot(path=str(target), full_page=False)
    return target


def test_point_map_shows_layers_counts_and_escaped_names_offline(browser_context, page, tmp_path):
    residences, facilities, catchments = make_inputs()
    path = save_map(coverage_map(residences, facilities, catchments, title=f"示例 {EVIL}", profile_name="GB 50180"), tmp_path / "points.html")
    open_map(page, path)

    labels = [text.strip() for text in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    assert labels == [
        "服务范围 Catchments · 养老 Elderly day care 15 min",
        "居民点 Residences · 养老 Elderly day care — 步行时间 Walking time",
        "未覆盖 Uncovered · 养老 Elderly day care",
        "设施 Facilities · 养老 Elderly day care (大小 size ∝ √m²)",
        "服务范围 Catchments · 托育 Nursery 15 min",
        "居民点 Residences · 托育 Nursery — 步行时间 Walking time",
        "未覆盖 Uncovered · 托育 Nursery",
        "设施 Facilities · 托育 Nursery (大小 size ∝ √seats)",
    ]
    # first kind shown, second kind's residences hidden until ticked
    assert count(page, "path.siting-res-elderly_day_care") == len(residences)
    assert count(page, "path.siting-uncovered-elderly_day_care") == int((~residences[f"covered_{ELDERLY}"]).sum())
    assert count(page, "path.siting-fac-elderly_day_care") == int((facilities["kind"] == ELDERLY).sum())
    assert count(page, "path.siting-catchment-elderly_day_care") == int((catchments["kind"] == ELDERLY).sum())
    assert count(page, "path.siting-fac-nursery") == int((facilities["kind"] == NURSERY).sum())
    assert count(page, "path.siting-res-nursery") == 0
    page.locator(".leaflet-control-layers-overlays label", has_text="居民点 Residences · 托育 Nursery").locator("input").check()
    assert count(page, "path.siting-res-nursery") == len(residences)

    # info box rate, recomputed here: households-weighted share covered
    households = residences["households"]
    rate = 100 * households[residences[f"covered_{ELDERLY}"]].sum() / households.sum()
    assert f"已覆盖 Covered {rate:.1f}%" in page.locator('.siting-rate[data-kind="elderly_day_care"]').inner_text()
    assert EVIL in page.locator("#siting-info").inner_text()  # the title, shown as text

    # the facility named <script>…: its popup shows the name as text and runs nothing
    page.locator("path.siting-fac-elderly_day_care").first.dispatch_event("click")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert EVIL in popup.inner_text()
    assert "达标 Meets standard" in popup.inner_text()
    assert popup.locator("script").count() == 0
    page.locator("path.siting-res-elderly_day_care").first.dispatch_event("click")  # residence r0 has the same name
    assert EVIL in page.locator(".leaflet-popup-content").last.inner_text()
    assert "户数 Households" in page.locator(".leaflet-popup-content").last.inner_text()

    assert screenshot(page, "map_points.png").stat().st_size > 0
    assert page.log.dialogs == []
    assert page.log.errors == []
    assert browser_context.remote_requests == []


def test_aggregated_map_draws_one_square_per_cell(browser_context, page, tmp_path):
    residences, facilities, catchments = make_inputs(n=400, seed=7)
    path = save_map(coverage_map(residences, facilities, catchments, title="聚合 grid", max_points=30), tmp_path / "grid.html")
    open_map(page, path)
    cells, cell_m = aggregate_to_grid(residences, KINDS, max_cells=30)
    assert count(page, "path.siting-res-elderly_day_care") == len(cells)
    assert count(page, "path.siting-uncovered-elderly_day_care") == int((cells[f"uncovered_households_{ELDERLY}"] > 0).sum())
    assert f"已聚合 Aggregated to a {int(cell_m)} m grid" in page.locator("#siting-legend").inner_text()
    page.locator("path.siting-res-elderly_day_care").first.dispatch_event("click")
    first = cells.iloc[0]  # same order as drawn: cells sorted by row, then column
    assert f"户数 Households: {first['households']:g}" in page.locator(".leaflet-popup-content").inner_text()
    assert f"居民点 Residences: {first['residences']}" in page.locator(".leaflet-popup-content").inner_text()
    assert screenshot(page, "map_grid.png").stat().st_size > 0
    assert page.log.dialogs == [] and page.log.errors == []
    assert browser_context.remote_requests == []
