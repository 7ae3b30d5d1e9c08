"""The printable report without a browser: its tables are the summary's figures as DataFrames, its charts are SVG
with text kept as text, it is byte-identical on a rerun, and --pdf without Chromium is one clear line (exit 2)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from siting import report
from siting.charts import bar_chart, histogram_chart
from siting.cli import main

from conftest import copy_sample_project

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
    assert text.count('class="siting-chart"') == 4
    assert 'srcdoc="' in text and "<script src=" not in text.split('srcdoc="')[0]  # self-contained: no external script
    assert not re.search(r'(?:src|href)="https?://', text)


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
