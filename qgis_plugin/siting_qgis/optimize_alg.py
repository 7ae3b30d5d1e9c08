"""Siting optimisation: `siting optimize` on QGIS layers (siting.plan.run_optimize, the command line's call)."""
from __future__ import annotations

from qgis.core import QgsProcessing, QgsProcessingParameterEnum, QgsProcessingParameterNumber

from . import styles
from .common import progress_callback, write_sink
from .coverage_alg import COVERAGE_STAGES, UNIT_LEVELS, CoverageAlgorithm

MODELS = ("mclp", "lscp", "pmedian", "pcenter", "capacitated")
MODEL_LABELS = ("MCLP: most households covered by p new sites", "LSCP: fewest sites covering every household",
                "p-median: least total walking", "p-center: shortest longest walk",
                "capacitated: most households served under the space standards")
SOLVERS = ("cbc", "highs")
OPTIMIZE_STAGES = {**COVERAGE_STAGES, "writing tables": 60, "writing map": 62, "optimise": 70}


class OptimizeAlgorithm(CoverageAlgorithm):
    def name(self):
        return "optimize"

    def displayName(self):  # noqa: N802
        return "Siting optimisation (new sites)"

    def shortHelpString(self):  # noqa: N802
        return ("Chooses new sites for elderly day-care stations and nurseries among the candidate sites, per kind, "
                "with the existing facilities always open: the same models, reductions and solvers as `siting "
                "optimize` (true solver status and gap in plan_summary.json). The folder receives the coverage "
                "tables, new_sites.csv, plan_summary.json and the HTML map with the proposals. Keys beyond these "
                "(joint siting, expansions, objective) are set in a project file for the command line. Site by unit "
                "(社区, 街道, …; the unit layers given): every unit without the service gets a site, one ≥ 1,000 m² "
                "centre per 街道, as `siting optimize --by-unit`; the units_plan table shows each unit before and after.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_coverage_inputs()
        self.add_candidate_inputs(optional=False)
        self.addParameter(QgsProcessingParameterEnum("MODEL", "Model", options=list(MODEL_LABELS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("P", "New sites per kind (p)", QgsProcessingParameterNumber.Integer,
                                                       defaultValue=2, minValue=0))
        self.addParameter(QgsProcessingParameterNumber("BUDGET", "Budget (in the cost field's unit; empty: none)",
                                                       QgsProcessingParameterNumber.Double, optional=True, minValue=0))
        self.addParameter(QgsProcessingParameterEnum("SOLVER", "Solver", options=["CBC", "HiGHS"], defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("TIME_LIMIT", "Solver time limit, s (empty: none)",
                                                       QgsProcessingParameterNumber.Double, optional=True, minValue=1))
        self.addParameter(QgsProcessingParameterNumber("GAP_REL", "Stop within this share of the optimum, e.g. 0.01",
                                                       QgsProcessingParameterNumber.Double, optional=True, minValue=0,
                                                       maxValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            "SITE_BY_UNIT", "Site by unit: every unit of these levels without the service gets a site (MCLP, LSCP, "
            "capacitated; needs their unit layers)", options=[label for _, _, label in UNIT_LEVELS],
            allowMultiple=True, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "UNIT_REACH_SHARE", "A unit also has the service when one site reaches this share of its households "
            "(empty: only a site inside it)", QgsProcessingParameterNumber.Double, optional=True, minValue=0.01,
            maxValue=1))
        self.add_folder_and_map("HTML map with the proposed sites")
        self.add_sink("NEW_SITES_OUT", "New sites", QgsProcessing.TypeVectorPoint)
        self.add_sink("NEWLY_COVERED_OUT", "Residences newly covered", QgsProcessing.TypeVectorAnyGeometry)
        self.add_sink("UNITS_PLAN_OUT", "Units before and after the plan (units_plan)", QgsProcessing.TypeVector)

    def _run(self, parameters, context, feedback):
        import geopandas as gpd
        from siting.plan import run_optimize
        from siting.inputs.validate import MODEL_KEYS

        project = self.coverage_project(parameters, context, feedback,
                                        candidates=self.candidates_block(parameters, context, feedback))
        # the model and the unit levels as a project file's [optimize] table: siting then checks them together
        # (siting by unit with another model is refused with the command line's message)
        project.optimize = {"model": MODELS[self.parameterAsEnum(parameters, "MODEL", context)]}
        chosen = parameters.get("SITE_BY_UNIT")  # QGIS 3.22 answers [0] for an optional enum left empty: ask first
        levels = [UNIT_LEVELS[i][1] for i in self.parameterAsEnums(parameters, "SITE_BY_UNIT", context)] \
            if chosen not in (None, "", []) else []
        if levels:
            project.optimize["units"] = levels
            share = self.optional_number(parameters, "UNIT_REACH_SHARE", context)
            if share is not None:
                project.optimize["unit_reach_share"] = share
        limits = {"p": self.parameterAsInt(parameters, "P", context),
                  "budget": self.optional_number(parameters, "BUDGET", context)}
        used = MODEL_KEYS[project.optimize["model"]]  # p has a default in the form; LSCP takes neither
        _, plan, paths = run_optimize(
            project, progress=progress_callback(feedback, OPTIMIZE_STAGES),
            **{key: value for key, value in limits.items() if key in used},
            solver=SOLVERS[self.parameterAsEnum(parameters, "SOLVER", context)],
            time_limit_s=self.optional_number(parameters, "TIME_LIMIT", context),
            gap_rel=self.optional_number(parameters, "GAP_REL", context))
        for kind, info in plan.summaries.items():
            feedback.pushInfo(f"{kind}: {info.get('model')} status {info.get('status')}, new sites "
                              f"{', '.join(info.get('chosen_ids', [])) or '-'}")
        sites = gpd.GeoDataFrame(plan.new_sites, geometry=gpd.points_from_xy(plan.new_sites["lon"], plan.new_sites["lat"]),
                                 crs="EPSG:4326")
        outputs = {"OUTPUT_FOLDER": str(project.output), "MAP": str(paths["plan_map"])}
        tables = (("NEW_SITES_OUT", sites), ("NEWLY_COVERED_OUT", plan.newly_covered))
        for name, frame in tables + ((("UNITS_PLAN_OUT", plan.units),) if levels else ()):
            dest = write_sink(self, parameters, name, context, frame)
            if dest is not None:
                outputs[name] = dest
        styles.on_load(context, outputs.get("NEW_SITES_OUT"), styles.new_sites)
        styles.on_load(context, outputs.get("NEWLY_COVERED_OUT"), styles.uncovered)
        feedback.setProgress(100)
        return outputs
