#!/bin/sh
# Installs Debian's QGIS (3.22 LTR on bookworm, with Debian's Python 3.11) for tests/test_qgis.py, which runs the
# siting Processing algorithms headless through /usr/bin/qgis_process.bin (QT_QPA_PLATFORM=offscreen).
# Idempotent: installs only what is missing. --no-install-recommends keeps it to the processing engine, PyQGIS and the
# data providers (no desktop extras).
set -eu

need_apt=""
[ -x /usr/bin/qgis_process.bin ] || need_apt="$need_apt qgis"
dpkg -s python3-qgis >/dev/null 2>&1 || need_apt="$need_apt python3-qgis"
dpkg -s qgis-providers >/dev/null 2>&1 || need_apt="$need_apt qgis-providers"
if [ -n "$need_apt" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $need_apt
fi

QT_QPA_PLATFORM=offscreen /usr/bin/qgis_process.bin --version 2>/dev/null | head -n 2 || true
