"""四同步 check of new residential developments: `siting check` on QGIS layers (siting.checks.sync, the command line's path
after reading the workbook: normalize_phases / normalize_facilities, then check_and_report)."""
from __future__ import annotations

import datetime as dt

from qgis.core import QgsProcessing, QgsProcessingException, QgsProcessingParameterString

from . import styles
from .common import Cancelled, SitingAlgorithm, run_core, source_frame, write_sink


class SyncCheckAlgorithm(SitingAlgorithm):
    def name(self):
        return "sync_check"

    def displayName(self):  # noqa: N802
        return "四同步 check of new developments"

    def shortHelpString(self):  # noqa: N802
        return ("Were each development's elderly day-care station and nursery planned, built, accepted and delivered "
                "no later than the housing (同步规划、建设、验收、交付), big enough under the profile's new-area "
                "standards and, with a network, within the walk? The same check as `siting check`: the phases layer "
                "has 开发项目编号, 分期, 户数, 规划批准, 开工, 竣工验收, 交付 (dates or text such as 2023/5/1); the "
                "facilities layer 设施编号, 开发项目编号 (E5;E6 when shared), 类型, 建筑面积, 托位 and the four dates. "
                "Layers may have point or polygon geometry, or 经度/纬度 columns. The folder receives the HTML report, "
                "its map, CSV tables and the JSON summary.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_layer("PHASES", "Residential phases (分期)")
        self.add_layer("DEV_FACILITIES", "Facilities of the developments (设施)")
        self.add_network_and_profile(network_optional=True)
        self.addParameter(QgsProcessingParameterString("AS_OF", "Judge as of (YYYY-MM-DD; empty: today)",
                                                       optional=True))
        self.add_folder_and_map("HTML report")
        self.add_sink("DEVELOPMENTS_OUT", "Developments by status", QgsProcessing.TypeVectorPoint)
        self.add_sink("CHECKS_OUT", "Checks (one row per development, phase, kind and check)", QgsProcessing.TypeVector)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        return run_core(feedback, lambda: self._run(parameters, context, feedback))

    def _run(self, parameters, context, feedback):
        import geopandas as gpd
        from siting.network import load_network
        from siting.output import ensure_writable_dir
        from siting.inputs.profiles import load_profile
        from siting.checks.sync import check_and_report, normalize_facilities, normalize_phases

        text = self.parameterAsString(parameters, "AS_OF", context).strip()
        try:
            as_of = dt.date.fromisoformat(text) if text else dt.date.today()
        except ValueError:
            raise QgsProcessingException(f"as of '{text}' is not a date. Expected YYYY-MM-DD, e.g. 2024-06-30") from None
        out_dir = ensure_writable_dir(self.output_folder(parameters, context))
        profile = load_profile(self.profile_value(parameters, context))
        tables = {}
        for name in ("PHASES", "DEV_FACILITIES"):
            source = self.parameterAsSource(parameters, name, context)
            if source is None:
                raise QgsProcessingException(self.invalidSourceError(parameters, name))
            tables[name] = (source_frame(source, context, feedback), self.layer_label(parameters, name, context))
        phases = normalize_phases(*tables["PHASES"])
        facilities = normalize_facilities(*tables["DEV_FACILITIES"])
        network_path = self.parameterAsFile(parameters, "NETWORK", context) or None
        feedback.setProgress(10)
        if feedback.isCanceled():
            raise Cancelled()
        network = None
        if network_path:
            feedback.pushInfo(f"reading walking network {network_path}")
            network = load_network(network_path)
        feedback.setProgress(40)
        if feedback.isCanceled():
            raise Cancelled()
        result, paths = check_and_report(phases, facilities, profile, network, out_dir, as_of,
                                         inputs={"phases": tables["PHASES"][1], "facilities": tables["DEV_FACILITIES"][1],
                                                 "network": network_path})
        indicator = result.summary["indicator"]
        feedback.pushInfo(f"{indicator['name']} ({indicator['name_en']}): {indicator['value']:.1%}")
        located = phases[phases.geometry.notna()]
        points = located.geometry.where(located.geometry.geom_type == "Point", located.geometry.representative_point())
        first = gpd.GeoDataFrame({"development_id": located["development_id"].to_numpy()}, geometry=points.values,
                                 crs="EPSG:4326").drop_duplicates("development_id")
        developments = gpd.GeoDataFrame(result.developments.merge(first, on="development_id", how="left"),
                                        geometry="geometry", crs="EPSG:4326")
        outputs = {"OUTPUT_FOLDER": str(out_dir), "MAP": str(paths["html"])}
        checks = result.checks.drop(columns=[c for c in ("geometry",) if c in result.checks.columns])
        for name, frame in (("DEVELOPMENTS_OUT", developments), ("CHECKS_OUT", checks)):
            dest = write_sink(self, parameters, name, context, frame)
            if dest is not None:
                outputs[name] = dest
        styles.on_load(context, outputs.get("DEVELOPMENTS_OUT"), styles.sync_status)
        feedback.setProgress(100)
        return outputs
