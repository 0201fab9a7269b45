#!/usr/bin/env bash
# Installs the headless browser the status page's tests drive (Debian's chromium and its driver,
# Selenium from PyPI), if missing.
set -euo pipefail
missing=()
for package in chromium chromium-driver; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -c "import selenium" >/dev/null 2>&1 || python3 -m pip install --quiet selenium==4.51.0
