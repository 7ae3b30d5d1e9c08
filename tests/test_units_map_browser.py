"""The unit choropleth of the coverage map opened in headless Chromium (offline): each unit drawn in the colour of
its verdict, its popup showing its own figures, the legend present, no script errors."""
from __future__ import annotations

import pytest
from test_maps_browser import browser_context, page  # noqa: F401  (fixtures)
from test_units import net, profile, run, unit_files  # noqa: F401  (fixtures)

from siting.reports.maps import (
    UNIT_VERDICT_COLORS,
    add_unit_choropleth,
    coverage_map,
    save_map,
)

pytestmark = pytest.mark.browser

FIND_UNITS = """() => {
    const map = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k]).find(v => v && v.eachLayer);
    const out = [];
    map.eachLayer(l => {
        if (l.feature && l.feature.properties.verdict && l._path && l._map) {
            out.push({unit: l.feature.properties.unit_id, popup: l.feature.properties.popup, fill: l.options.fillColor});
        }
    });
    return out;
}"""


def test_unit_layer_colours_popups_and_legend(run, page, tmp_path):  # noqa: F811
    _, result, ind = run
    m = coverage_map(result.residences, result.facilities, result.catchments, title="units", threshold_min=10)
    add_unit_choropleth(m, ind.layers, ind.units, ind.map_checks, walk_minutes=10)
    path = save_map(m, tmp_path / "units.html")
    page.goto(path.as_uri())
    page.wait_for_selector(".leaflet-overlay-pane path")
    shown = page.evaluate(FIND_UNITS)  # the first layer is shown: 社区 · 社区日间照料机构覆盖率
    by_unit = {item["unit"]: item for item in shown}
    assert sorted(by_unit) == ["C1", "C2", "C3", "C4"]
    verdicts = ind.units["community"].set_index("unit_id")["verdict_community_day_care_coverage"]
    for unit_id, item in by_unit.items():
        assert item["fill"] == UNIT_VERDICT_COLORS[verdicts[unit_id]], unit_id
    # click C2 (no day-care facility inside): its popup names it, says fail, and carries its m² shortfall (22.5)
    page.evaluate("""() => {
        const map = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k]).find(v => v && v.eachLayer);
        map.eachLayer(l => { if (l.feature && l.feature.properties.unit_id === 'C2' && l._map) l.fire('click', {latlng: l.getBounds().getCenter()}); });
    }""")
    text = page.inner_text(".leaflet-popup-content")
    assert "二社区 (C2)" in text and "未达标 Fail" in text and "缺口 shortfall 22.5 m²" in text
    assert "达标 Pass" in page.inner_text("#siting-unit-legend")
    labels = page.inner_text(".leaflet-control-layers-overlays")
    assert "单元 Units · 社区 · 社区日间照料机构覆盖率" in labels and "单元 Units · 街道/乡镇 · 每千人口托位数" in labels
    assert page.log.errors == []
