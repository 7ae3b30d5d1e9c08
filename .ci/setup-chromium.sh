#!/bin/sh
# Installs the system pieces tests/test_maps_browser.py and bench/bench_maps.py need: Debian's Chromium and a CJK font
# (so screenshots and PDFs show Chinese labels), and poppler-utils (pdftoppm renders PDF pages to PNG in tests).
# Playwright for Python, which drives the system Chromium, is a declared test dependency (pyproject.toml [test]).
# Idempotent: installs only what is missing. Never runs `playwright install` (no browser download).
set -eu

need_apt=""
[ -x /usr/bin/chromium ] || need_apt="$need_apt chromium"
command -v pdftoppm >/dev/null 2>&1 || need_apt="$need_apt poppler-utils"
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || need_apt="$need_apt fonts-wqy-zenhei"
if [ -n "$need_apt" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $need_apt
fi

/usr/bin/chromium --version 2>/dev/null || true
