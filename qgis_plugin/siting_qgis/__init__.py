"""QGIS plugin entry point: QGIS calls classFactory; the plugin only registers the siting Processing provider."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import SitingPlugin

    return SitingPlugin(iface)
