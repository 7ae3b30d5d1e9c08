"""Coverage analysis: `siting run` on QGIS layers (siting.pipeline.run_coverage, the command line's call)."""
from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingParameterEnum,
    QgsProcessingParameterString,
)

from . import styles
from .common import SitingAlgorithm, progress_callback, run_core, write_sink

#: Progress-bar positions of the core's stage messages.
COVERAGE_STAGES = {"reading walking network": 5, "reading residences": 15, "snapping": 25, "catchments within": 40,
                   "catchment polygons": 55, "writing tables": 85, "writing map": 92}
FACILITY_KIND_OPTIONS = ("from the type field (类型)", "all elderly day-care stations", "all nurseries")
FACILITY_KINDS = (None, "elderly_day_care", "nursery")
#: Unit levels the algorithms take as polygon layers: (parameter prefix, siting's level, label), in toolbox order.
UNIT_LEVELS = (("COMMUNITY", "community", "社区"), ("STREET", "street", "街道/乡镇"), ("XIAOQU", "xiaoqu", "小区"),
               ("VILLAGE", "village", "行政村/建制村"))


class CoverageAlgorithm(SitingAlgorithm):
    def name(self):
        return "coverage"

    def displayName(self):  # noqa: N802
        return "Coverage analysis (15-minute walk)"

    def shortHelpString(self):  # noqa: N802
        return ("For every residence: walking minutes along the streets to the nearest elderly day-care station and "
                "nursery, covered or not within the walk, and for every facility the households it serves against the "
                "profile's standard (m² per 100 households, seats per 1,000 residents). The same computation as "
                "`siting run`; the folder receives the same tables, coverage.gpkg, summary.json and HTML map. Field "
                "pickers left empty: siting finds 户数/households, 人口/population, 类型/kind, 建筑面积, 托位 … by name. "
                "With unit polygons (社区, 街道, 小区, 行政村) it also gives the plan's indicator table (规划指标表), the "
                "problem ledger (问题台账), one layer per level coloured pass / fail and indicators.xlsx; with "
                "candidate sites, the ledger names the site that would close each gap best.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_coverage_inputs()
        self.add_candidate_inputs(optional=True)
        self.add_folder_and_map("HTML coverage map")
        self.add_sink("RESIDENCES_OUT", "Residences by walking time", QgsProcessing.TypeVectorAnyGeometry)
        self.add_sink("UNCOVERED_OUT", "Residences outside the walk", QgsProcessing.TypeVectorAnyGeometry)
        self.add_sink("FACILITIES_OUT", "Facilities by verdict", QgsProcessing.TypeVectorAnyGeometry)
        self.add_sink("CATCHMENTS_OUT", "Catchments", QgsProcessing.TypeVectorPolygon)
        for prefix, _, label in UNIT_LEVELS:
            self.add_sink(f"UNITS_{prefix}_OUT", f"{label} units by indicator verdict", QgsProcessing.TypeVectorPolygon)
        self.add_sink("INDICATORS_OUT", "Indicator table 规划指标表", QgsProcessing.TypeVector)
        self.add_sink("LEDGER_OUT", "Problem ledger 问题台账", QgsProcessing.TypeVector)
        self.addOutput(QgsProcessingOutputFile("INDICATORS_XLSX", "Indicator workbook (indicators.xlsx)"))
        self.addOutput(QgsProcessingOutputFile("WORKBOOK", "Run workbook (coverage.xlsx)"))

    def add_coverage_inputs(self) -> None:
        """Residences, facilities, units, network, profile and walk: the inputs of `siting run` (also of siting
        optimize)."""
        self.add_layer("RESIDENCES", "Residences (points or polygons, any CRS)")
        self.add_field("RES_ID_FIELD", "Residence id field (编号)", "RESIDENCES")
        self.add_field("HOUSEHOLDS_FIELD", "Households field (户数)", "RESIDENCES", numeric=True)
        self.add_field("POPULATION_FIELD", "Population field (人口)", "RESIDENCES", numeric=True)
        self.add_field("AREA_TYPE_FIELD", "Area type field (小区类型: 新建 / 既有)", "RESIDENCES")
        self.addParameter(QgsProcessingParameterEnum(
            "DEFAULT_AREA_TYPE", "Area type where the field is empty", options=["existing 既有", "new 新建"],
            defaultValue=0))
        self.add_layer("FACILITIES", "Existing facilities (any CRS)")
        self.add_field("FAC_ID_FIELD", "Facility id field (编号)", "FACILITIES")
        self.add_field("KIND_FIELD", "Facility type field (类型: 日间照料 / 托育)", "FACILITIES")
        self.addParameter(QgsProcessingParameterEnum(
            "FACILITY_KIND", "Facility kind", options=list(FACILITY_KIND_OPTIONS), defaultValue=0))
        self.add_field("FLOOR_AREA_FIELD", "Floor area field, m² (建筑面积)", "FACILITIES", numeric=True)
        self.add_field("SEATS_FIELD", "Childcare seats field (托位)", "FACILITIES", numeric=True)
        for prefix, _, label in UNIT_LEVELS:
            parameter = f"UNITS_{prefix}"
            self.add_layer(parameter, f"{label} unit polygons (any CRS; optional)", optional=True)
            self.add_field(f"{prefix}_ID_FIELD", f"{label} id field (代码)", parameter)
            self.add_field(f"{prefix}_NAME_FIELD", f"{label} name field (名称)", parameter)
            self.add_field(f"{prefix}_PARENT_FIELD", f"{label} parent unit id field (所属…代码)", parameter)
        self.add_field("XIAOQU_AREA_TYPE_FIELD", "小区 area type field (类型: 新建 / 既有)", "UNITS_XIAOQU")
        self.add_network_and_profile()
        self.add_walk()
        self.addParameter(QgsProcessingParameterString(
            "THRESHOLDS", "Extra rings, minutes (comma separated)", defaultValue="5,10,15", optional=True))

    def add_candidate_inputs(self, *, optional: bool) -> None:
        """Candidate sites: what siting optimisation chooses among, and for coverage (optional) the ledger's best site."""
        what = "Candidate sites (any CRS)" if not optional else \
            "Candidate sites (any CRS; optional: the ledger names the best one per failing unit)"
        self.add_layer("CANDIDATES", what, optional=optional)
        self.add_field("CAND_ID_FIELD", "Candidate id field (编号)", "CANDIDATES")
        self.add_field("COST_FIELD", "Cost field (费用; empty: every site costs 1)", "CANDIDATES", numeric=True)
        self.add_field("MAX_CAPACITY_FIELD", "Largest size field, m² or seats (最大面积)", "CANDIDATES", numeric=True)

    def candidates_block(self, parameters, context, feedback) -> dict | None:
        """The [candidates] block of the candidate layer and its pickers; None when the optional layer is not given."""
        if self.parameterAsSource(parameters, "CANDIDATES", context) is None:  # QGIS checks a required one is given
            return None
        candidates = self.layer_block(parameters, "CANDIDATES", context, feedback, {"id": "CAND_ID_FIELD"})
        for key, picker in (("cost", "COST_FIELD"), ("max_capacity", "MAX_CAPACITY_FIELD")):
            picked = self.parameterAsFields(parameters, picker, context)
            if picked:
                candidates[key] = picked[0]
        return candidates

    def unit_blocks(self, parameters, context, feedback) -> list[dict]:
        """One [[units]] block per unit layer given (frame, label, level, picked columns), as the project file has."""
        blocks = []
        for prefix, level, _ in UNIT_LEVELS:
            if self.parameterAsSource(parameters, f"UNITS_{prefix}", context) is None:
                continue
            fields = {"id": f"{prefix}_ID_FIELD", "name": f"{prefix}_NAME_FIELD", "parent": f"{prefix}_PARENT_FIELD"}
            if level == "xiaoqu":
                fields["area_type"] = "XIAOQU_AREA_TYPE_FIELD"
            blocks.append(self.layer_block(parameters, f"UNITS_{prefix}", context, feedback, fields, level=level))
        return blocks

    def coverage_project(self, parameters, context, feedback, candidates: dict | None = None):
        """The siting Project of these parameters: layers in memory, everything else as `siting run` takes it."""
        residences = self.layer_block(parameters, "RESIDENCES", context, feedback, {
            "id": "RES_ID_FIELD", "households": "HOUSEHOLDS_FIELD", "population": "POPULATION_FIELD",
            "area_type": "AREA_TYPE_FIELD"},
            default_area_type=("existing", "new")[self.parameterAsEnum(parameters, "DEFAULT_AREA_TYPE", context)])
        facilities = self.layer_block(parameters, "FACILITIES", context, feedback, {
            "id": "FAC_ID_FIELD", "kind": "KIND_FIELD", "floor_area_m2": "FLOOR_AREA_FIELD", "seats": "SEATS_FIELD"})
        kind = FACILITY_KINDS[self.parameterAsEnum(parameters, "FACILITY_KIND", context)]
        if kind is not None:
            facilities["kind"] = kind
        text = self.parameterAsString(parameters, "THRESHOLDS", context).strip()
        try:
            thresholds = [float(t) for t in text.split(",") if t.strip()] if text else [5.0, 10.0, 15.0]
        except ValueError:
            raise QgsProcessingException(f"extra rings '{text}' are not minutes. Expected numbers separated by commas, "
                                         "e.g. 5,10,15") from None
        return self.project(parameters, context, residences=residences, facilities=[facilities],
                            candidates=candidates, units=self.unit_blocks(parameters, context, feedback),
                            thresholds_min=thresholds)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        return run_core(feedback, lambda: self._run(parameters, context, feedback))

    def _run(self, parameters, context, feedback):
        from siting.pipeline import run_coverage

        project = self.coverage_project(parameters, context, feedback,
                                        candidates=self.candidates_block(parameters, context, feedback))
        run = run_coverage(project, progress=progress_callback(feedback, COVERAGE_STAGES))
        return {"OUTPUT_FOLDER": str(project.output), "MAP": str(run.outputs["map"]),
                "WORKBOOK": str(run.outputs["workbook"]), **self.unit_layers(parameters, context, run),
                **self.coverage_layers(parameters, context, feedback, run)}

    def unit_layers(self, parameters, context, run) -> dict:
        """With units: per level the unit polygons carrying the columns of units_<level>.csv (units named only by a
        residences column have no polygon), styled by the level's first verdict column as the HTML map's first
        layer; the indicator table and the ledger as tables; indicators.xlsx."""
        import geopandas as gpd

        indicators = run.indicators
        if indicators is None:
            return {}
        outputs = {"INDICATORS_XLSX": str(run.outputs["indicators_xlsx"])}
        boundaries = {layer.level: dict(zip(layer.units["unit_id"], layer.units.geometry))
                      for layer in indicators.layers if layer.has_geometry}
        for prefix, level, _ in UNIT_LEVELS:
            table = indicators.units.get(level)
            if table is None:
                continue
            shapes = boundaries.get(level, {})
            frame = gpd.GeoDataFrame(table, geometry=[shapes.get(u) for u in table["unit_id"]], crs="EPSG:4326")
            name = f"UNITS_{prefix}_OUT"
            dest = write_sink(self, parameters, name, context, frame)
            if dest is not None:
                outputs[name] = dest
                checks = indicators.map_checks.get(level)
                if checks:
                    styles.on_load(context, dest, styles.units_by_verdict, *checks[0])
        for name, frame in (("INDICATORS_OUT", indicators.table), ("LEDGER_OUT", indicators.ledger)):
            dest = write_sink(self, parameters, name, context, frame)
            if dest is not None:
                outputs[name] = dest
        return outputs

    def coverage_layers(self, parameters, context, feedback, run) -> dict:
        """The result frames as the output layers (residences sorted by id, as in residences.csv), styled on load."""
        result = run.result
        walk = float(result.summary["walk_minutes"])
        residences = result.residences.sort_values("res_id", kind="stable")
        covered = residences[[c for c in residences.columns if c.startswith("covered_")]].all(axis=1)
        outputs = {}
        feedback.setProgressText("writing layers")
        for name, frame in (("RESIDENCES_OUT", residences), ("UNCOVERED_OUT", residences[~covered]),
                            ("FACILITIES_OUT", result.facilities.sort_values(["kind", "fac_id"], kind="stable")),
                            ("CATCHMENTS_OUT", result.catchments)):
            dest = write_sink(self, parameters, name, context, frame)
            if dest is not None:
                outputs[name] = dest
        rings = sorted(set(run.project.thresholds_min) | {walk})
        styles.on_load(context, outputs.get("RESIDENCES_OUT"), styles.walk_minutes, "walk_min_elderly_day_care",
                       [r for r in rings if r <= walk])
        styles.on_load(context, outputs.get("UNCOVERED_OUT"), styles.uncovered)
        styles.on_load(context, outputs.get("FACILITIES_OUT"), styles.facilities_by_verdict)
        styles.on_load(context, outputs.get("CATCHMENTS_OUT"), styles.catchments)
        feedback.setProgress(100)
        return outputs
