"""Checks: 四同步 compliance per development (sync, sync_dates, with its report sync_report) and the layer-against-network
diagnostics (diagnose)."""
