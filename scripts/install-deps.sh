#!/usr/bin/env bash
# Installs the system packages rotor's build and tests need, if they are missing.
# Debian packages only; runs apt-get as root (or through sudo).
set -euo pipefail

packages=(libsqlite3-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}"
fi

command -v swift >/dev/null || { echo "error: swift is not on PATH (expected the toolchain in /opt/swift)" >&2; exit 1; }
