#!/usr/bin/env bash
# `make test`: installs the headless browser, starts the real services the tests use (moto_server, PostgreSQL,
# redis-server), runs every test, stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
services="$(mktemp -d /tmp/rotor-test-services.XXXXXX)"
chmod 755 "$services"
cleanup() { scripts/moto.sh stop "$services"; scripts/postgres.sh stop "$services/postgres"; scripts/redis.sh stop "$services/redis"; }
trap cleanup EXIT

swift build --build-tests
scripts/browser.sh
scripts/moto.sh start "$services"
scripts/postgres.sh start "$services/postgres"
scripts/redis.sh start "$services/redis"
# shellcheck disable=SC1091
source "$services/moto.env"
# shellcheck disable=SC1091
source "$services/postgres/postgres.env"
# shellcheck disable=SC1091
source "$services/redis/redis.env"
export ROTOR_REQUIRE_INTEGRATION=1
# At most 12 tests at once: with every test started together on two cores, the first minute starves
# the in-process servers and the tests' own time limits. It takes no longer: the tests mostly wait.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-12}"
swift test --disable-xctest
