"""Coverage analysis: `siting run` on QGIS layers (siting.pipeline.run_coverage, the command line's call)."""
from __future__ import annotations

from qgis.core import QgsProcessing, QgsProcessingException, QgsProcessingParameterEnum, QgsProcessingParameterString

from . import styles
from .common import SitingAlgorithm, progress_callback, run_core, write_sink

#: Progress-bar positions of the core's stage messages.
COVERAGE_STAGES = {"reading walking network": 5, "reading residences": 15, "snapping": 25, "catchments within": 40,
                   "catchment polygons": 55, "writing tables": 85, "writing map": 92}
FACILITY_KIND_OPTIONS = ("from the type field (类型)", "all elderly day-care stations", "all nurseries")
FACILITY_KINDS = (None, "elderly_day_care", "nursery")


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
                "pickers left empty: siting finds 户数/households, 人口/population, 类型/kind, 建筑面积, 托位 … by name.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_coverage_inputs()
        self.add_folder_and_map("HTML coverage map")
        self.add_sink("RESIDENCES_OUT", "Residences by walking time", QgsProcessing.TypeVectorAnyGeometry)
        self.add_sink("UNCOVERED_OUT", "Residences outside the walk", QgsProcessing.TypeVectorAnyGeometry)
        self.add_sink("FACILITIES_OUT", "Facilities by verdict", QgsProcessing.TypeVectorAnyGeometry)
        self.add_sink("CATCHMENTS_OUT", "Catchments", QgsProcessing.TypeVectorPolygon)

    def add_coverage_inputs(self) -> None:
        """Residences, facilities, network, profile and walk: the inputs of `siting run` (also of siting optimize)."""
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
        self.add_network_and_profile()
        self.add_walk()
        self.addParameter(QgsProcessingParameterString(
            "THRESHOLDS", "Extra rings, minutes (comma separated)", defaultValue="5,10,15", optional=True))

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
                            candidates=candidates, thresholds_min=thresholds)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        return run_core(feedback, lambda: self._run(parameters, context, feedback))

    def _run(self, parameters, context, feedback):
        from siting.pipeline import run_coverage

        project = self.coverage_project(parameters, context, feedback)
        run = run_coverage(project, progress=progress_callback(feedback, COVERAGE_STAGES))
        return {"OUTPUT_FOLDER": str(project.output), "MAP": str(run.outputs["map"]),
                **self.coverage_layers(parameters, context, feedback, run)}

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
