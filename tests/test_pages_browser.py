"""Every HTML page the project writes, opened in headless Chromium with the network cut, as a planner would open it:
the coverage map and report of `siting run`, the plan map and report of `siting optimize`, the 四同步 map and report of
`siting check`, the scenario maps, difference map and comparison of `siting scenario run`; and the PDFs of --pdf.

No console errors; the layers and marker counts a page draws equal counts recomputed from the CSV outputs of the same
run (or the input workbook); chart values equal the CSVs and bar sizes are proportional to them; the basemap options
load offline without a request; on the GCJ-02 basemap every overlay lands within 1 m of siting.inputs.coords' transform of
its WGS84 position; the PDFs have the expected pages and Chinese text (pdftotext) and are rendered to PNG (pdftoppm)
into $SITING_ARTIFACTS.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from test_basemaps import grid_network
from test_maps import make_inputs
from test_maps_browser import ARTIFACTS, browser_context, count, page, screenshot  # noqa: F401  (fixtures)

from siting.inputs.coords import wgs84_to_gcj02
from siting.inputs.schema import KIND_LABEL, KINDS
from siting.reports import basemaps
from siting.reports.maps import coverage_map, save_map

pytestmark = pytest.mark.browser
from conftest import SAMPLE, SAMPLE_FILES

REPO = Path(__file__).resolve().parents[1]
ELDERLY, NURSERY = KINDS
OVERLAYS = ".leaflet-control-layers-overlays label"
POSITIONS_JS = """() => {
    const flat = (a) => Array.isArray(a) ? a.flatMap(flat) : [a];
    return window.sitingLayerControl._layers.filter(item => item.overlay).map(item => {
        const points = [];
        const walk = (layer) => {
            if (layer.getLatLng) { const p = layer.getLatLng(); points.push([p.lat, p.lng]); }
            else if (layer.getLatLngs) { flat(layer.getLatLngs()).forEach(p => points.push([p.lat, p.lng])); }
            else if (layer.eachLayer) { layer.eachLayer(walk); }
        };
        walk(item.layer);
        return {name: item.name, points: points};
    });
}"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One real run of each command on the embedded sample, with --pdf where the CLI offers it."""
    from siting.checks.sync import run_check
    from siting.pipeline import run_coverage
    from siting.plan import run_optimize
    from siting.scenario import run_scenarios

    if not Path(shutil.which("chromium") or "/usr/bin/chromium").exists():
        pytest.skip("no Chromium binary: run .ci/setup-chromium.sh")
    root = tmp_path_factory.mktemp("pages")
    for name in SAMPLE_FILES:
        shutil.copy(SAMPLE / name, root / name)
    text = (SAMPLE / "sample_project.toml").read_text(encoding="utf-8")
    (root / "project.toml").write_text(text.replace("../../out/sample", "run").replace("../../maps/sample_coverage.html", "run/coverage_map.html"),
                                       encoding="utf-8")
    coverage = run_coverage(root / "project.toml", pdf=True)
    _, plan, plan_paths = run_optimize(root / "project.toml", overrides={"output": str(root / "plan")}, pdf=True)
    _, sync_paths = run_check(REPO / "data" / "example_developments.xlsx", "chifeng", SAMPLE / "sample.osm.pbf", root / "sync",
                              dt.date(2024, 6, 30), pdf=True)
    _, scenario_paths = run_scenarios([REPO / "examples" / "baseline.toml", REPO / "examples" / "open_two_stations.toml"],
                                      output=root / "scenarios", pdf=True)
    return {"root": root, "coverage": coverage.outputs, "plan": plan, "plan_paths": plan_paths, "sync": sync_paths,
            "scenarios": scenario_paths}


def open_page(page, path: Path, *, leaflet: bool = True) -> None:
    page.goto(path.resolve().as_uri(), wait_until="load")
    if leaflet:
        page.wait_for_selector(OVERLAYS, state="attached")


def overlay_labels(page) -> list[str]:
    return [t.strip() for t in page.locator(OVERLAYS).all_inner_texts()]


def assert_clean(page, context) -> None:
    assert page.log.errors == [] and page.log.dialogs == []
    assert context.remote_requests == []


def chart_table(page, chart_id: str) -> pd.DataFrame:
    """The numbers a chart draws, read from the page's own data table under it."""
    rows = page.evaluate("""(id) => Array.from(document.querySelectorAll('#' + id + '-data tr')).map(
        tr => Array.from(tr.children).map(td => td.textContent))""", chart_id)
    return pd.DataFrame(rows[1:], columns=rows[0])


def bar_sizes(page, chart_id: str, series: int, n: int, *, horizontal: bool = False) -> np.ndarray:
    """The drawn length of each bar (SVG user units), found by the ids charts.bar_chart gives them."""
    return np.array(page.evaluate(f"""() => Array.from({{length: {n}}}, (_, i) => {{
        const g = document.getElementById('{chart_id}-s{series}-c' + i);
        const box = g.getBBox(); return {'box.width' if horizontal else 'box.height'}; }})"""))


def assert_proportional(sizes: np.ndarray, values: np.ndarray) -> None:
    values = np.asarray(values, dtype=float)
    drawn = values > 0
    assert (sizes[~drawn] < 1e-6).all()
    scale = sizes[drawn] / values[drawn]
    assert scale == pytest.approx(np.full(scale.shape, scale.mean()), rel=0.01)


def number(text: str) -> float:
    return float(text.replace(",", "").replace("—", "nan").replace("∞", "inf"))


# ---------------------------------------------------------------- maps


def test_coverage_map_draws_streets_and_every_residence_and_facility(runs, browser_context, page):
    out = runs["root"] / "run"
    residences = pd.read_csv(out / "residences.csv", encoding="utf-8-sig")
    facilities = pd.read_csv(out / "facilities.csv", encoding="utf-8-sig")
    catchments = gpd.read_file(out / "coverage.gpkg", layer="catchments")
    open_page(page, runs["coverage"]["map"])
    labels = overlay_labels(page)
    assert labels[0] == basemaps.STREET_LAYER_NAME
    for kind, short in ((ELDERLY, "养老 Elderly day care"), (NURSERY, "托育 Nursery")):
        for minutes in (15, 10, 5):
            assert f"服务范围 Catchments · {short} {minutes} min" in labels
    assert count(page, "path.siting-streets") == 2  # major roads and other ways, each one merged multiline
    assert count(page, "path.siting-res-elderly_day_care") == len(residences)
    assert count(page, "path.siting-uncovered-elderly_day_care") == int((~residences[f"covered_{ELDERLY}"]).sum())
    for kind in KINDS:
        assert count(page, f"path.siting-fac-{kind}") == int((facilities["kind"] == kind).sum())
    assert count(page, "path.siting-catchment-elderly_day_care") == int(((catchments["kind"] == ELDERLY) & ~catchments.geometry.is_empty).sum())
    page.locator(OVERLAYS, has_text="居民点 Residences · 托育 Nursery").locator("input").check()
    assert count(page, "path.siting-res-nursery") == len(residences)
    screenshot(page, "page_coverage_map.png")
    assert_clean(page, browser_context)


def test_plan_map_draws_the_proposed_sites_and_newly_covered(runs, browser_context, page):
    new_sites = pd.read_csv(runs["plan_paths"]["new_sites"], encoding="utf-8-sig")
    assert len(new_sites) > 0
    open_page(page, runs["plan_paths"]["plan_map"])
    assert "拟建 Proposed sites" in overlay_labels(page) and "新覆盖 Newly covered" in overlay_labels(page)
    assert count(page, "path.siting-proposed") == len(new_sites)
    assert count(page, "path.siting-newly-covered") == len(runs["plan"].newly_covered)
    assert count(page, "path.siting-streets") == 2
    assert_clean(page, browser_context)


def test_plan_report_before_and_after_equal_the_plan_summary(runs, browser_context, page):
    plan = json.loads(runs["plan_paths"]["plan_summary"].read_text(encoding="utf-8"))["kinds"]
    open_page(page, runs["plan_paths"]["plan_report"], leaflet=False)
    assert count(page, "figure.chart svg.siting-chart") == 11  # the run's four, six per unit and before/after
    drawn = chart_table(page, "before_after")
    kinds = [k for k in KINDS if k in plan]
    assert list(drawn["category"]) == [KIND_LABEL[k] for k in kinds]
    for j, (column, key) in enumerate((("现状 Before", "covered_share_before"), ("新址后 After", "covered_share_after"))):
        expected = [100 * plan[k][key] for k in kinds]
        assert [number(v) for v in drawn[column]] == pytest.approx(expected, abs=0.0005)
        assert_proportional(bar_sizes(page, "before_after", j, len(kinds)), np.array(expected))
    assert page.frame_locator("iframe.map").locator("path.siting-proposed").count() == len(
        pd.read_csv(runs["plan_paths"]["new_sites"], encoding="utf-8-sig"))
    assert_clean(page, browser_context)


def test_sync_map_shows_developments_facilities_and_popups(runs, browser_context, page):
    """Issue 17.1: no jQuery popups, no un-inlined marker plugin, a layer control."""
    workbook = REPO / "data" / "example_developments.xlsx"
    phases = pd.read_excel(workbook, sheet_name="phases")
    facilities = pd.read_excel(workbook, sheet_name="facilities")
    located = phases["geometry"].notna() | phases["经度"].notna()
    open_page(page, runs["sync"]["map"])
    assert overlay_labels(page) == [basemaps.STREET_LAYER_NAME, f"步行范围 Catchment: {KIND_LABEL[ELDERLY]}",
                                    f"步行范围 Catchment: {KIND_LABEL[NURSERY]}", "开发项目 Developments", "配套设施 Facilities"]
    assert count(page, "path.siting-development") == int(located.sum())
    for kind, label in ((ELDERLY, "日间照料"), (NURSERY, "托育")):
        assert count(page, f"path.siting-fac-{kind}") == int(((facilities["类型"] == label) & facilities["经度"].notna()).sum())
    page.locator("path.siting-fac-elderly_day_care").first.dispatch_event("click")
    assert "F-E1-E" in page.locator(".leaflet-popup-content").inner_text()
    assert "不达标 Fail" in page.locator("#siting-legend").inner_text()
    screenshot(page, "page_sync_map.png")
    assert_clean(page, browser_context)


def test_scenario_maps_and_difference_map(runs, browser_context, page):
    """Issue 17.2: the lost-coverage layer is in the layer control and draws one marker per lost row."""
    for folder in sorted((runs["root"] / "scenarios" / "scenarios").iterdir()):
        residences = pd.read_csv(folder / "residences.csv", encoding="utf-8-sig")
        open_page(page, folder / "coverage_map.html")
        assert count(page, "path.siting-res-elderly_day_care") == len(residences)
        assert_clean(page, browser_context)
        if not (folder / "difference_map.html").exists():
            continue
        changes = pd.read_csv(folder / "coverage_changes.csv", encoding="utf-8-sig")
        lost, gained = changes[changes["change"] == "lost"], changes[changes["change"] == "gained"]
        assert len(lost) > 0
        open_page(page, folder / "difference_map.html")
        assert overlay_labels(page)[-2:] == ["新覆盖 Newly covered", "失去覆盖 Lost coverage"]
        assert count(page, "path.siting-lost") == len(lost)
        assert count(page, "path.siting-newly-covered") == len(gained)
        assert f"失去覆盖 Lost coverage ({len(lost):,})" in page.locator("#siting-legend").inner_text()
        assert page.locator("#siting-info").count() == 1
        screenshot(page, "page_difference_map.png")
        assert_clean(page, browser_context)


# ---------------------------------------------------------------- basemaps and GCJ-02


def beijing_map(tmp_path, monkeypatch) -> tuple[Path, tuple]:
    monkeypatch.setenv("TIANDITU_KEY", "test-key")
    residences, facilities, catchments = make_inputs()
    path = save_map(coverage_map(residences, facilities, catchments, title="北京 basemaps", tiles="all", network=grid_network()),
                    tmp_path / "basemaps.html")
    return path, (residences, facilities, catchments)


def test_every_basemap_loads_offline_without_errors_or_requests(tmp_path, monkeypatch, browser_context, page):
    path, _ = beijing_map(tmp_path, monkeypatch)
    open_page(page, path)
    bases = [t.strip() for t in page.locator(".leaflet-control-layers-base label").all_inner_texts()]
    assert bases == [basemaps.NO_BASEMAP_NAME, "OpenStreetMap", "天地图 Tianditu 矢量 vector", "天地图 Tianditu 影像 imagery",
                     "高德 AutoNavi (GCJ-02)"]
    assert page.locator(".leaflet-control-layers-base input").first.is_checked()  # offline is the default
    for name in bases[1:] + bases[:1]:
        page.locator(".leaflet-control-layers-base label", has_text=name).locator("input").check()
        page.wait_for_timeout(100)
        assert count(page, "path.siting-streets") == 2  # overlays stay
    assert "Offline" in page.locator("#siting-basemap-note").inner_text()
    screenshot(page, "page_basemaps_offline.png")
    assert_clean(page, browser_context)


def test_unreachable_tiles_online_leave_a_note_and_no_script_error(tmp_path, monkeypatch, browser_context):
    """Online but blocked (a firewall): Chromium itself logs each refused tile ("Failed to load resource"), which no page
    can prevent; the page raises nothing, keeps its overlays and says why the basemap is blank."""
    path, _ = beijing_map(tmp_path, monkeypatch)
    browser_context.set_offline(False)
    tab = browser_context.new_page()
    script_errors, console = [], []
    tab.on("pageerror", lambda exc: script_errors.append(str(exc)))
    tab.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    try:
        open_page(tab, path)
        tab.locator(".leaflet-control-layers-base label", has_text="OpenStreetMap").locator("input").check()
        tab.wait_for_selector("#siting-basemap-note", state="attached")
        tab.wait_for_timeout(300)
        assert "Basemap tiles could not be loaded" in tab.locator("#siting-basemap-note").inner_text()
        assert script_errors == []
        assert console and set(console) == {"Failed to load resource: net::ERR_FAILED"}
        assert browser_context.remote_requests and all(u.startswith("https://tile.openstreetmap.org/") for u in browser_context.remote_requests)
        assert count(tab, "path.siting-streets") == 2
    finally:
        tab.close()
        browser_context.set_offline(True)
        browser_context.remote_requests.clear()


def _metres(lat1, lon1, lat2, lon2) -> np.ndarray:
    return np.hypot((lon2 - lon1) * 111320.0 * np.cos(np.radians(lat1)), (lat2 - lat1) * 110574.0)


def test_overlays_move_to_gcj02_on_the_autonavi_basemap(tmp_path, monkeypatch, browser_context, page):
    path, (residences, facilities, _) = beijing_map(tmp_path, monkeypatch)
    open_page(page, path)
    for name in ["居民点 Residences · 托育 Nursery — 步行时间 Walking time"]:  # a hidden layer moves too
        page.locator(OVERLAYS, has_text=name).locator("input").check()
    before = page.evaluate(POSITIONS_JS)
    by_name = {layer["name"]: np.array(layer["points"]) for layer in before}
    # the WGS84 positions in the page are the data's (rounded to 1e-5°, ~1 m)
    fac = by_name["设施 Facilities · 养老 Elderly day care (大小 size ∝ √m²)"]
    own = facilities[facilities["kind"] == ELDERLY]
    assert np.abs(fac - np.column_stack([own.geometry.y, own.geometry.x])).max() <= 0.5e-5 + 1e-12
    page.locator(".leaflet-control-layers-base label", has_text="高德").locator("input").check()
    after = {layer["name"]: np.array(layer["points"]) for layer in page.evaluate(POSITIONS_JS)}
    assert page.locator(".leaflet-container").get_attribute("data-siting-crs") == "gcj02"
    checked = 0
    for name, wgs in by_name.items():
        g_lon, g_lat = wgs84_to_gcj02(wgs[:, 1], wgs[:, 0])
        error_m = _metres(g_lat, g_lon, after[name][:, 0], after[name][:, 1])
        assert error_m.max() < 1.0, name
        assert _metres(wgs[:, 0], wgs[:, 1], after[name][:, 0], after[name][:, 1]).min() > 100  # really moved
        checked += len(wgs)
    assert checked > len(residences) * 2  # residences, uncovered rings, facilities, catchments and streets all checked
    page.locator(".leaflet-control-layers-base label", has_text="OpenStreetMap").locator("input").check()
    back = {layer["name"]: np.array(layer["points"]) for layer in page.evaluate(POSITIONS_JS)}
    for name, wgs in by_name.items():
        assert np.array_equal(back[name], wgs), name  # and back exactly on a WGS84 basemap
    assert_clean(page, browser_context)


# ---------------------------------------------------------------- reports


def test_run_report_charts_equal_the_csv(runs, browser_context, page):
    out = runs["root"] / "run"
    residences = pd.read_csv(out / "residences.csv", encoding="utf-8-sig")
    facilities = pd.read_csv(out / "facilities.csv", encoding="utf-8-sig")
    open_page(page, runs["coverage"]["report"], leaflet=False)
    assert [h.strip() for h in page.locator("section h2").all_inner_texts()] == [
        "摘要 Summary", "指标与结论 Indicators and verdicts", "规划指标与问题台账 Plan indicators and problem ledger", "图表 Charts",
        "地图 Map", "方法与来源 Method and sources"]
    # walking time, share within, shortfall per kind; per 社区 and per 街道: shortfall per kind, share within the walk
    assert count(page, "figure.chart svg.siting-chart") == 10
    for level in ("community", "street"):
        units = pd.read_csv(out / f"units_{level}.csv", encoding="utf-8-sig", dtype={"unit_id": str})
        for kind, column in ((ELDERLY, "shortfall_m2"), (NURSERY, "shortfall_seats")):
            chart = f"unit_shortfall_{kind}_{level}"
            drawn = chart_table(page, chart)
            assert [c.split()[0] for c in drawn["category"]] == units["unit_id"].tolist()
            assert [number(v) for v in drawn.iloc[:, 1]] == pytest.approx(units[column].tolist(), abs=0.0005)
            assert_proportional(bar_sizes(page, chart, 0, len(units), horizontal=True), units[column].to_numpy())
        assert page.locator(f"#section-unit_indicators #unit_share_within_{level} svg").count() == 1
    households = residences["households"].to_numpy(dtype=float)
    table = chart_table(page, "share_within")
    for j, kind in enumerate(KINDS):
        minutes = residences[f"walk_min_{kind}"].to_numpy(dtype=float)
        expected = [100 * households[minutes <= t].sum() / households.sum() for t in (5, 10, 15)]
        assert [number(v) for v in table[KIND_LABEL[kind]]] == pytest.approx(expected, abs=0.0005)
        assert_proportional(bar_sizes(page, "share_within", j, 3), np.array(expected))
    walk = chart_table(page, "walk_time")
    for kind in KINDS:
        assert sum(number(v) for v in walk[KIND_LABEL[kind]]) == pytest.approx(households.sum())  # every household once
    for kind in KINDS:
        own = facilities[facilities["kind"] == kind].sort_values("fac_id")
        drawn = chart_table(page, f"shortfall_{kind}")
        assert [number(v) for v in drawn.iloc[:, 1]] == pytest.approx(own["shortfall"].fillna(0).round(2).tolist(), abs=0.01)
        assert_proportional(bar_sizes(page, f"shortfall_{kind}", 0, len(own), horizontal=True), own["shortfall"].fillna(0).to_numpy())
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    verdicts = [v for kind in KINDS for v in summary["kinds"][kind]["verdicts"]]
    assert page.locator("#indicators tbody tr").count() == len(verdicts)
    assert page.locator("#indicators td.fail").count() == sum(v["verdict"] == "fail" for v in verdicts)
    assert page.locator("#indicators td.pass").count() == sum(v["verdict"] == "pass" for v in verdicts)
    for clause in {v["clause"] for v in verdicts if v.get("clause")}:
        assert clause in page.locator("#indicators").inner_text()
    assert page.frame_locator("iframe.map").locator(OVERLAYS).count() == len(overlay_labels_of(runs["coverage"]["map"], browser_context))
    screenshot(page, "page_run_report.png")
    assert_clean(page, browser_context)


def overlay_labels_of(path: Path, context) -> list[str]:
    tab = context.new_page()
    try:
        open_page(tab, path)
        return overlay_labels(tab)
    finally:
        tab.close()


def test_sync_report_charts_and_map(runs, browser_context, page):
    checks = pd.read_csv(runs["sync"]["csv"], encoding="utf-8-sig")
    open_page(page, runs["sync"]["html"], leaflet=False)
    assert count(page, "figure.chart svg.siting-chart") == 2  # verdicts per check, days late
    drawn = chart_table(page, "verdicts")
    order = list(dict.fromkeys(checks["check"]))
    from siting.checks.sync import VERDICT_LABEL

    for j, (verdict, label) in enumerate(VERDICT_LABEL.items()):
        expected = [int(((checks["check"] == c) & (checks["verdict"] == verdict)).sum()) for c in order]
        assert [number(v) for v in drawn[label]] == expected
        assert_proportional(bar_sizes(page, "verdicts", j, len(order), horizontal=True), np.array(expected))
    late = chart_table(page, "days_late")
    worst = checks.groupby("development_id")["days_late"].max()
    assert max(number(v) for v in late[KIND_LABEL[ELDERLY]]) <= worst.max()
    assert page.frame_locator("iframe.map").locator("path.siting-development").count() > 0
    assert "sync_map.html" in page.content()
    assert_clean(page, browser_context)


def names_of(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["scenario"]))


def test_comparison_report_charts_equal_the_csv(runs, browser_context, page):
    table = pd.read_csv(runs["scenarios"]["csv"], encoding="utf-8-sig")
    open_page(page, runs["scenarios"]["html"], leaflet=False)
    assert count(page, "figure.chart svg.siting-chart") == 5  # coverage, shortfall per kind, gains and losses, units passing
    unit_changes = pd.read_csv(runs["root"] / "scenarios" / "unit_changes.csv", encoding="utf-8-sig")
    passing = chart_table(page, "unit_passing")
    checks = unit_changes.drop_duplicates(["level", "indicator"])
    for name in names_of(table):
        own = unit_changes[(unit_changes["scenario"] == name) & (unit_changes["verdict"] == "pass")]
        expected = [int(((own["level"] == c.level) & (own["indicator"] == c.indicator)).sum()) for c in checks.itertuples()]
        assert [number(v) for v in passing[name]] == expected
    flips = unit_changes[~unit_changes["change"].isin(["baseline", "unchanged"])]
    assert page.locator("#unit_flips tbody tr").count() == len(flips) > 0
    drawn = chart_table(page, "scenario_coverage")
    names = list(dict.fromkeys(table["scenario"]))
    for j, kind in enumerate(KINDS):
        expected = [100 * table[(table["scenario"] == n) & (table["kind"] == kind)]["coverage_rate"].iat[0] for n in names]
        assert [number(v) for v in drawn[KIND_LABEL[kind]]] == pytest.approx(expected, abs=0.0005)
        assert_proportional(bar_sizes(page, "scenario_coverage", j, len(names)), np.array(expected))
    changes = pd.concat([pd.read_csv(p, encoding="utf-8-sig") for p in (runs["root"] / "scenarios" / "scenarios").glob("*/coverage_changes.csv")])
    moved = chart_table(page, "scenario_changes")
    assert sum(number(v) for v in moved["失去覆盖 Lost"]) == changes.loc[changes["change"] == "lost", "households"].sum()
    assert page.frame_locator("iframe.map").first.locator("path.siting-lost").count() == 0  # the first map is the baseline's
    assert page.frame_locator("iframe.map").nth(1).locator("path.siting-lost").count() == int((changes["change"] == "lost").sum())
    assert_clean(page, browser_context)


# ---------------------------------------------------------------- PDF


def pdf_pages(pdf: Path) -> list[str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    n = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    return [subprocess.run(["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout for i in range(1, n + 1)]


def render_png(pdf: Path, stem: str, page_no: int = 1) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(page_no), "-l", str(page_no), "-singlefile", str(pdf),
                    str(ARTIFACTS / stem)], check=True)
    return ARTIFACTS / f"{stem}.png"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed: run .ci/setup-chromium.sh")
def test_run_report_pdf_has_one_page_per_section_with_chinese_text(runs):
    pages = pdf_pages(runs["coverage"]["report_pdf"])
    headings = ["摘要 Summary", "指标与结论 Indicators and verdicts", "规划指标与问题台账 Plan indicators and problem ledger",
                "图表 Charts", "地图 Map", "方法与来源 Method and sources"]
    # each section starts a new page, in order; only the unit section runs on: the sample's ledger and the six charts
    # per 社区 and per 街道 take three pages
    starts = [next(i for i, text in enumerate(pages) if text.lstrip().startswith(heading) or f"\n{heading}" in text)
              for heading in headings]
    assert starts == sorted(starts) and len(set(starts)) == len(headings)
    assert len(pages) == len(headings) + 2 and starts[3] == starts[2] + 3
    assert "Capacity shortfall per 社区 community" in pages[starts[2] + 1] + pages[starts[2] + 2]
    for number_, text in enumerate(pages, start=1):
        assert f"第 {number_} / {len(pages)} 页" in text  # the page-number footer
    assert "步行圈覆盖报告" in pages[0] and "日间照料站" in pages[0]
    fonts = subprocess.run(["pdffonts", str(runs["coverage"]["report_pdf"])], capture_output=True, text=True).stdout
    assert "WenQuanYi" in fonts or "NotoSansCJK" in fonts  # Chinese glyphs set in an embedded CJK font
    for i in (1, 3):
        png = render_png(runs["coverage"]["report_pdf"], f"report_page{i}", i)
        assert png.stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed: run .ci/setup-chromium.sh")
def test_plan_sync_and_comparison_pdfs(runs):
    plan = pdf_pages(runs["plan_paths"]["plan_report_pdf"])
    assert "选址方案报告" in plan[0] and "选址前后覆盖率" in "".join(plan)
    assert len(plan) >= 5 and f"第 {len(plan)} / {len(plan)} 页" in plan[-1]
    sync = pdf_pages(runs["sync"]["pdf"])
    assert "四同步" in sync[0] and "图表 Charts" in "".join(sync) and "方法与来源" in sync[-1]
    assert len(sync) >= 5 and all(f"/ {len(sync)} 页" in text for text in sync)
    comparison = pdf_pages(runs["scenarios"]["pdf"])
    assert "情景比较" in comparison[0] and "方法与来源" in "".join(comparison)
    assert len(comparison) >= 5
    assert render_png(runs["sync"]["pdf"], "sync_report_page1").stat().st_size > 10_000
    assert render_png(runs["scenarios"]["pdf"], "comparison_page1").stat().st_size > 10_000
