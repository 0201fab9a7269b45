#!/usr/bin/env bash
# `make test`: starts the real services the tests use (moto_server), runs every test, stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
services="$(mktemp -d /tmp/rotor-test-services.XXXXXX)"
cleanup() { scripts/moto.sh stop "$services"; }
trap cleanup EXIT

swift build --build-tests
scripts/moto.sh start "$services"
# shellcheck disable=SC1091
source "$services/moto.env"
export ROTOR_REQUIRE_INTEGRATION=1
swift test --disable-xctest
