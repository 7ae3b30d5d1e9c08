"""Regenerate data/example_developments.xlsx: INVENTED example data for the 四同步 check (`siting check`).

The developments, households, facilities, floor areas, seats and dates are all made up; only the coordinates are
placed on the street network of the real OSM extract siting/sample/sample.osm.pbf (a Finnish town, © OpenStreetMap
contributors, ODbL 1.0). Checked as of 2024-06-30 with the national profile the file gives every verdict:

    E1 全部达标        every check passes (a polygon development with its station inside)
    E2 逾期不达标      construction 100 days late, acceptance missing 212 days after the housing's, 150 m² for
                       1,000 households (50 m² short), nursery beyond the 15-minute walk, delivery scheduled late
    E3 未到期          housing not yet approved: checks not yet due; the elderly plan is ahead (pass)
    E4 缺少数据        housing planning-approval date blank though the housing is delivered, floor area blank,
                       nursery without a location
    E5, E6 共享设施    one 300 m² station shared by both, below the 350 m² station minimum (Chifeng's confirmed
                       figure; the national one, which Jixi inherits, is unconfirmed and flagged as such);
                       E6's phase 2 was delivered before phase 1

    python data/make_example_developments.py
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
OUT = HERE / "example_developments.xlsx"
AS_OF = dt.date(2024, 6, 30)

D = dt.date
E1_POLYGON = "POLYGON ((26.9432 60.526, 26.9462 60.526, 26.9462 60.5276, 26.9432 60.5276, 26.9432 60.526))"
PHASE_HEADER = ["开发项目编号", "项目名称", "分期", "户数", "人口", "规划批准", "开工", "竣工验收", "交付", "经度", "纬度", "geometry"]
PHASES = [
    ["E1", "示例 全部达标 Example all pass", 1, 600, None, D(2020, 3, 1), D(2020, 6, 1), D(2022, 6, 1), D(2022, 9, 1), None, None, E1_POLYGON],
    ["E1", "示例 全部达标 Example all pass", 2, 400, None, D(2020, 3, 1), D(2021, 4, 1), D(2023, 5, 1), D(2023, 8, 1), None, None, E1_POLYGON],
    ["E2", "示例 逾期不达标 Example late", 1, 1000, None, D(2021, 1, 10), D(2021, 5, 1), D(2023, 12, 1), D(2024, 9, 1), 26.9407, 60.5246, None],
    ["E3", "示例 未到期 Example not yet due", 1, 500, None, D(2024, 8, 1), D(2024, 9, 1), D(2026, 6, 30), D(2026, 12, 31), 26.96, 60.5351, None],
    ["E4", "示例 缺少数据 Example missing data", 1, 800, None, None, D(2019, 5, 1), D(2021, 6, 1), D(2021, 10, 1), 26.9341, 60.5364, None],
    ["E5", "示例 共享设施 Example shared A", 1, 700, None, D(2021, 3, 1), D(2021, 6, 1), D(2023, 6, 1), D(2023, 9, 1), 26.9531, 60.5302, None],
    ["E6", "示例 共享设施 Example shared B", 1, 300, None, D(2021, 3, 1), D(2021, 7, 1), D(2023, 7, 1), D(2023, 10, 1), 26.9498, 60.5335, None],
    ["E6", "示例 共享设施 Example shared B", 2, 200, None, D(2021, 3, 1), D(2021, 5, 1), D(2022, 10, 1), D(2022, 12, 1), 26.9498, 60.5335, None],
]
FACILITY_HEADER = ["设施编号", "开发项目编号", "类型", "名称", "建筑面积", "托位", "规划批准", "开工", "竣工验收", "交付", "经度", "纬度"]
FACILITIES = [
    ["F-E1-E", "E1", "日间照料", "示例 E1 日间照料站", 400, None, D(2020, 2, 1), D(2020, 6, 1), D(2022, 5, 20), D(2022, 9, 1), 26.9447, 60.5268],
    ["F-E1-N", "E1", "托育", "示例 E1 托育园", None, 30, D(2020, 2, 1), D(2020, 6, 1), D(2022, 5, 20), D(2022, 9, 1), 26.9431, 60.5262],
    ["F-E2-E", "E2", "日间照料", "示例 E2 日间照料站", 150, None, D(2021, 1, 10), D(2021, 8, 9), None, D(2024, 12, 31), 26.9407, 60.5246],
    ["F-E2-N", "E2", "托育", "示例 E2 托育园 (far away)", None, 30, D(2021, 1, 1), D(2021, 5, 1), D(2023, 11, 1), D(2024, 8, 1), 26.9652, 60.5221],
    ["F-E3-E", "E3", "日间照料", "示例 E3 日间照料站", 360, None, D(2024, 4, 1), D(2024, 9, 1), D(2026, 6, 30), D(2026, 12, 31), 26.96, 60.5351],
    ["F-E4-E", "E4", "日间照料", "示例 E4 日间照料站 (area unknown)", None, None, D(2019, 1, 1), None, D(2021, 6, 1), D(2021, 10, 1), 26.9341, 60.5364],
    ["F-E4-N", "E4", "托育", "示例 E4 托育园 (not yet sited)", None, 25, D(2019, 1, 1), D(2019, 5, 1), D(2021, 6, 1), D(2021, 10, 1), None, None],
    ["F-E56-E", "E5;E6", "日间照料", "示例 E5/E6 共享日间照料站", 300, None, D(2021, 2, 1), D(2021, 5, 1), D(2023, 2, 1), D(2023, 3, 1), 26.9498, 60.5329],
    ["F-E5-N", "E5", "托育", "示例 E5 托育园", None, 20, D(2021, 2, 1), D(2021, 6, 1), D(2023, 6, 1), D(2023, 9, 1), 26.9531, 60.5305],
    ["F-E6-N", "E6", "托育", "示例 E6 托育园", None, 10, D(2021, 2, 1), D(2021, 5, 1), D(2022, 10, 1), D(2022, 12, 1), 26.9495, 60.534],
]
README = [
    ["示例数据（虚构） INVENTED EXAMPLE DATA — not a real plan"],
    ["Developments, households, facilities and dates are made up; coordinates lie on siting/sample/sample.osm.pbf (OSM, ODbL)."],
    [f"Check it with: siting check data/example_developments.xlsx --network siting/sample/sample.osm.pbf --as-of {AS_OF}"],
    ["Regenerate with: python data/make_example_developments.py"],
]


def main() -> None:
    wb = openpyxl.Workbook()
    readme = wb.active
    readme.title = "说明 README"
    for line in README:
        readme.append(line)
    for title, header, rows in (("phases", PHASE_HEADER, PHASES), ("facilities", FACILITY_HEADER, FACILITIES)):
        ws = wb.create_sheet(title)
        ws.append(header)
        for row in rows:
            ws.append(row)
        for cells in ws.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, dt.date):
                    cell.number_format = "yyyy-mm-dd"
    fixed = dt.datetime(2024, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.save(OUT)
    print(OUT)


if __name__ == "__main__":
    main()
