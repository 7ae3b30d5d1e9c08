"""Registers the siting Processing provider (toolbox, models, qgis_process); no menus or docks of its own."""
from qgis.core import QgsApplication

from .provider import SitingProvider


class SitingPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name): also called by qgis_process, which has no GUI
        self.provider = SitingProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
