#!/bin/sh
# Installs what tests/test_maps_browser.py and bench/bench_maps.py need: Debian's Chromium, a CJK font
# (so screenshots show Chinese labels) and Playwright for Python, which drives the system Chromium.
# Idempotent: installs only what is missing. Never runs `playwright install` (no browser download).
set -eu

need_apt=""
[ -x /usr/bin/chromium ] || need_apt="$need_apt chromium"
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || need_apt="$need_apt fonts-wqy-zenhei"
if [ -n "$need_apt" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $need_apt
fi

python3 -c "import playwright.sync_api" 2>/dev/null || python3 -m pip install -q "playwright>=1.40"

/usr/bin/chromium --version 2>/dev/null || true
python3 -c "import playwright; from importlib.metadata import version; print('playwright', version('playwright'))"
