"""Reports: offline HTML maps (maps, map_parts, basemaps, with Leaflet in static/), charts, the printable reports (report,
unit_report, scenario_report, indicator_outputs) and the Excel workbooks (workbook, run_workbook)."""
