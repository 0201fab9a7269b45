#!/usr/bin/env bash
# `make release-check`: builds the release products and proves the crash tests' fault hook
# (ROTOR_FAULT_KILL_AT, debug builds only) is not in them.
set -euo pipefail
cd "$(dirname "$0")/.."
for product in rotor bootstrap; do
    swift build -c release --product "$product"
    binary=".build/release/$product"
    if grep -a -q -e ROTOR_FAULT_KILL_AT -e KillSwitch "$binary"; then
        echo "release-check: $binary contains the test-only fault hook" >&2
        exit 1
    fi
    echo "release-check: $binary has no fault hook"
done
