#!/usr/bin/env bash
# `make chaos`: the SIGKILL loop against PostgreSQL, both strategies, ROUNDS rounds each (default 500):
# `rotor rotate` killed at every journal point and at random instants, then recovered and checked.
# Prints "N rounds, N killed, N lost, N stuck" per strategy.
set -euo pipefail
cd "$(dirname "$0")/.."
services="$(mktemp -d /tmp/rotor-chaos-services.XXXXXX)"
chmod 755 "$services"
trap 'scripts/postgres.sh stop "$services/postgres"' EXIT
swift build --build-tests
scripts/postgres.sh start "$services/postgres"
# shellcheck disable=SC1091
source "$services/postgres/postgres.env"
export ROTOR_REQUIRE_INTEGRATION=1 ROTOR_CHAOS_ROUNDS="${ROUNDS:-500}"
swift test --skip-build --disable-xctest --filter rotationsKilledAtEveryPointRecover 2>&1 | grep -E "rounds, |chaos |Test run"
