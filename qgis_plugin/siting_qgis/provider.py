"""The siting Processing provider: one algorithm per siting job, each a thin wrapper over the siting package."""
from qgis.core import QgsProcessingProvider

from .coverage_alg import CoverageAlgorithm
from .optimize_alg import OptimizeAlgorithm
from .sync_alg import SyncCheckAlgorithm

#: Algorithm classes in toolbox order. A new siting job (e.g. scenarios) is a new module here, added to this tuple.
ALGORITHMS = (CoverageAlgorithm, OptimizeAlgorithm, SyncCheckAlgorithm)


class SitingProvider(QgsProcessingProvider):
    def id(self):
        return "siting"

    def name(self):
        return "siting (一老一小 15-minute circles)"

    def longName(self):  # noqa: N802
        return "siting: 15-minute walking coverage and siting of elderly day-care stations and nurseries"

    def loadAlgorithms(self):  # noqa: N802
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
