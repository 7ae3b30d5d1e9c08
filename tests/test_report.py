"""The printable report without a browser: its tables are the summary's figures as DataFrames, its charts are SVG
with text kept as text, it is byte-identical on a rerun, and --pdf without Chromium is one clear line (exit 2)."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import copy_sample_project

from siting.cli import main
from siting.reports import report
from siting.reports.charts import bar_chart, histogram_chart

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from siting.pipeline import run_coverage

    root = tmp_path_factory.mktemp("report")
    return root, run_coverage(copy_sample_project(root))


def test_report_tables_are_the_summary_figures(sample_run):
    root, run = sample_run
    summary = run.result.summary
    import json

    written = json.loads((root / "out" / "summary.json").read_text(encoding="utf-8"))
    built = report.coverage_report(written, run.result.residences, run.result.facilities, map_path=None)
    tables = built.tables()
    assert set(tables) >= {"shares", "indicators", "facilities", "profile_figures", "sources"}
    indicators = tables["indicators"]
    expected = [(v["check"], v["verdict"]) for k in ("elderly_day_care", "nursery") for v in summary["kinds"][k]["verdicts"]]
    assert list(zip(indicators["check"], indicators["verdict"])) == expected
    coverage = indicators[indicators["check"].str.startswith("share of households within the 15-minute walk")]
    assert coverage["value"].tolist() == pytest.approx([100 * summary["kinds"][k]["coverage_rate"] for k in ("elderly_day_care", "nursery")])
    sources = tables["sources"].set_index("role")
    assert sources.loc["residences", "sha256"] == run.inputs.sources["residences"].split("sha256:")[1]
    assert len(tables["facilities"]) == len(run.result.facilities)
    assert "map" not in [s.section_id for s in built.sections]  # no map given, no map section
    units = report.Section("units", "单元指标 Indicators per unit", [report.Table("units", "单元 Units", pd.DataFrame({"unit": ["U1"]}), {"unit": "单元 Unit"})])
    extended = report.coverage_report(written, run.result.residences, run.result.facilities, map_path=None, extra_sections=[units])
    assert [s.section_id for s in extended.sections][:4] == ["summary", "indicators", "units", "charts"]
    assert extended.tables()["units"]["unit"].tolist() == ["U1"]
    assert '<table id="units">' in report.render_html(extended)


def test_report_is_byte_identical_on_a_rerun(sample_run, tmp_path):
    from siting.pipeline import run_coverage

    root, _ = sample_run
    first = (root / "out" / "report.html").read_bytes()
    run_coverage(root / "project.toml")
    assert (root / "out" / "report.html").read_bytes() == first
    text = first.decode("utf-8")
    assert text.count('class="siting-chart"') == 10  # the run's four, and shortfall ×2 and share within per 社区 and per 街道
    assert 'srcdoc="' in text and "<script src=" not in text.split('srcdoc="')[0]  # self-contained: no external script
    assert not re.search(r'(?:src|href)="https?://', text)


class _TableRows(HTMLParser):
    """The cell texts of one <table id=…> of a page (the data table a report prints under each chart)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table_rows(page: str, table_id: str) -> pd.DataFrame:
    parser = _TableRows(table_id)
    parser.feed(page)
    assert parser.rows, f"no table {table_id}"
    return pd.DataFrame(parser.rows[1:], columns=parser.rows[0])


def test_unit_charts_equal_the_unit_tables(sample_run):
    """The run report's unit section draws, per 社区 and per 街道, the capacity shortfall (m², seats) and the share of
    households within the walk: the numbers printed under each chart equal units_<level>.csv read back, unit by unit;
    and the 社区 shortfall in m² is recounted here from residences.csv, facilities.csv and the 社区 polygons."""
    from shapely import contains_xy, intersects_xy

    from siting.inputs.profiles import load_profile
    from siting.reports.unit_report import unit_charts

    root, run = sample_run
    out = root / "out"
    page = (out / "report.html").read_text(encoding="utf-8")
    section = page.split('id="section-unit_indicators"')[1].split("</section>")[0]
    walk = run.result.summary["walk_minutes"]
    number = lambda text: float(text.replace(",", "").replace("—", "nan"))  # noqa: E731
    for level in ("community", "street"):
        units = pd.read_csv(out / f"units_{level}.csv", encoding="utf-8-sig", dtype={"unit_id": str})
        for kind, column in (("elderly_day_care", "shortfall_m2"), ("nursery", "shortfall_seats")):
            drawn = table_rows(section, f"unit_shortfall_{kind}_{level}-data")
            assert [c.split()[0] for c in drawn["category"]] == units["unit_id"].tolist()
            assert [number(v) for v in drawn.iloc[:, 1]] == pytest.approx(units[column].tolist(), abs=0.0005)
        drawn = table_rows(section, f"unit_share_within_{level}-data")
        for j, kind in enumerate(("elderly_day_care", "nursery")):
            expected = 100 * units[f"share_within_{walk:g}min_{kind}"]
            assert [number(v) for v in drawn.iloc[:, 1 + j]] == pytest.approx(expected.tolist(), abs=0.0005)
    charts = {c.chart_id: c for c in unit_charts(run.indicators.units, walk)}
    assert list(charts) == [f"unit_{what}_{level}" for level in ("community", "street")
                            for what in ("shortfall_elderly_day_care", "shortfall_nursery", "share_within")]
    # recount: m² the standard asks of each 社区's households minus the floor area of the day care inside it
    import geopandas as gpd

    res = pd.read_csv(out / "residences.csv", encoding="utf-8-sig")
    fac = pd.read_csv(out / "facilities.csv", encoding="utf-8-sig")
    day = fac[fac["kind"] == "elderly_day_care"]
    profile = load_profile("chifeng")
    per_100 = np.where(res["area_type"] == "new", profile.value("elderly_m2_per_100_households_new"),
                       profile.value("elderly_m2_per_100_households_existing"))
    communities = gpd.read_file(root / "example_communities.geojson")
    drawn = charts["unit_shortfall_elderly_day_care_community"].data
    for code, poly, shown in zip(communities["社区代码"], communities.geometry, drawn.iloc[:, 1]):
        required = (res["households"] * per_100 / 100)[intersects_xy(poly, res["lon"], res["lat"])].sum()
        inside = day.loc[contains_xy(poly, day["lon"], day["lat"]), "floor_area_m2"].sum()
        assert shown == pytest.approx(max(required - inside, 0.0)), code
    assert drawn.iloc[0, 1] == pytest.approx(1308 * 20 / 100)  # C01: 1,308 households, no day care inside


def test_chart_svg_keeps_text_as_text_and_ids_on_bars():
    chart = bar_chart("c", "标题 Title", ["甲", "乙"], {"系列 A": [1.0, 3.0], "B": [2.0, 0.0]}, value_label="户数")
    assert "<text" in chart.svg and "甲" in chart.svg and "户数" in chart.svg  # no glyph outlines
    assert all(f'id="c-s{j}-c{i}"' in chart.svg for j in range(2) for i in range(2))
    assert chart.data["系列 A"].tolist() == [1.0, 3.0]


def test_histogram_counts_every_weight_once_with_unreachable_last():
    values = np.array([0.0, 2.4, 2.5, 7.0, 31.0, np.inf, np.nan])
    weights = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
    chart = histogram_chart("h", "t", {"k": values}, {"k": weights}, bin_edges=[0, 2.5, 5, 30], value_label="v", unit="min")
    assert chart.data["k"].tolist() == [3.0, 4.0, 8.0, 112.0]  # [0,2.5) [2.5,5) [5,30] beyond/unreachable
    assert chart.data["k"].sum() == weights.sum()


def test_pdf_without_chromium_is_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("SITING_CHROMIUM", str(tmp_path / "no-chromium"))
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path / "out"), "--pdf"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: --pdf needs headless Chromium, and there is none at ")
    assert "Fix: install it (apt-get install chromium fonts-wqy-zenhei" in lines[-1]
    assert not (tmp_path / "out" / "residences.csv").exists()


def test_unit_charts_of_a_large_city_draw_the_units_most_in_need():
    """With more units than MAX_BARS, the shortfall chart draws the MAX_BARS largest shortfalls and the share chart the
    lowest shares, each value still the unit's own; a 街道 table beside the 社区 table gets its own charts."""
    from siting.reports.unit_report import MAX_BARS, unit_charts

    n = MAX_BARS + 5
    rng = np.random.default_rng(3)
    community = pd.DataFrame({"unit_id": [f"C{i:03d}" for i in range(n)], "name": "社区", "shortfall_m2": rng.permutation(n) * 10.0,
                              "shortfall_seats": np.zeros(n), "share_within_15min_elderly_day_care": rng.random(n),
                              "share_within_15min_nursery": rng.random(n)})
    street = community.head(2).assign(unit_id=["S1", "S2"])
    charts = {c.chart_id: c for c in unit_charts({"street": street, "community": community}, 15.0)}
    assert list(charts) == [f"unit_{what}_{level}" for level in ("community", "street")
                            for what in ("shortfall_elderly_day_care", "shortfall_nursery", "share_within")]
    drawn = charts["unit_shortfall_elderly_day_care_community"]
    assert f"{MAX_BARS} of {n}" in drawn.title
    assert sorted(drawn.data.iloc[:, 1]) == sorted(community["shortfall_m2"].nlargest(MAX_BARS))
    shares = charts["unit_share_within_community"].data
    lowest = community.nsmallest(MAX_BARS, "share_within_15min_elderly_day_care")
    assert [c.split()[0] for c in shares["category"]] == lowest["unit_id"].tolist()
    assert shares.iloc[:, 2].tolist() == pytest.approx((100 * lowest["share_within_15min_nursery"]).tolist())
    assert len(charts["unit_shortfall_nursery_street"].data) == 2
