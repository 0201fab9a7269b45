#!/usr/bin/env bash
# `make bench`: every benchmark, figures printed.
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmarks are a package of their own (bench/Package.swift), so `make test` never builds them.
swift build -c release --package-path bench --product rotor-bench --disable-build-manifest-caching
bench=bench/.build/release/rotor-bench
echo "== embedded store: durable rotations per second, commits per rotation, beside the raw commit rate =="
"$bench" "${ROTOR_BENCH_ROTATIONS:-2000}"
echo
echo "== embedded store: one batch (rotor rotate --environment ENV) of many secrets, beside one at a time =="
"$bench" batch "${ROTOR_BENCH_BATCH_SECRETS:-1000}"

echo
echo "== fleet: planning, one tick (10 due), a reconcile pass, /metrics and an API page at 1k, 100k and 1M secrets =="
"$bench" scheduler ${ROTOR_BENCH_SCHEDULER_SIZES:-1000 100000 1000000}

echo
echo "== Consumers: an in-process cache hit, the agent under wrk (2 cores), and a rotation's way to readers =="
python3 -c "import aws_secretsmanager_caching" 2>/dev/null || python3 -m pip install --quiet aws-secretsmanager-caching
if ! command -v wrk >/dev/null; then
    as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq wrk >/dev/null
fi
printf '%-36s %14s %22s\n' "cache hit, one core" "ns per read" "floor (ns, Mutex+Dict)"
while read -r name ns floor _; do
    printf '%-36s %14s %22s\n' "$name" "$ns" "$floor"
done <<<"$("$bench" consumers client 5000000)"
read -r name ns _ <<<"$(python3 bench/consumers/python_cache_hit.py 300000)"
printf '%-36s %14s %22s\n' "$name" "$ns" "-"
agent_out="$(mktemp)"
"$bench" consumers serve >"$agent_out" &
agent_pid=$!
for _ in $(seq 1 100); do [ -s "$agent_out" ] && break; sleep 0.1; done
read -r port token secret <"$agent_out"
wrk_run() { wrk -t"${threads:-2}" -c"${connections:-64}" -d10s --latency -H "X-Aws-Parameters-Secrets-Token: $token" "$1" | awk '
    /Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 } END { printf "%s %s %s", rps, p50, p99 }'; }
printf '%-36s %14s %10s %10s\n' "agent over loopback HTTP (wrk -t2 -c64)" "requests/s" "p50" "p99"
read -r rps p50 p99 <<<"$(wrk_run "http://127.0.0.1:$port/secretsmanager/get?secretId=$secret")"
printf '%-36s %14s %10s %10s\n' "rotor agent, cache hits" "$rps" "$p50" "$p99"
read -r rps p50 p99 <<<"$(wrk_run "http://127.0.0.1:$port/ping")"
printf '%-36s %14s %10s %10s\n' "same server's /ping (machine floor)" "$rps" "$p50" "$p99"
read -r rps p50 p99 <<<"$(threads=1 connections=4 wrk_run "http://127.0.0.1:$port/secretsmanager/get?secretId=$secret")"
printf '%-36s %14s %10s %10s\n' "rotor agent, cache hits, wrk -t1 -c4" "$rps" "$p50" "$p99"
kill "$agent_pid"; rm -f "$agent_out"
echo "(wrk and the agent share this machine's cores; /ping is the HTTP stack with no cache and no token check)"
"$bench" consumers upstream
printf '%-36s %10s %10s %10s\n' "rotation finished -> agent serves it" "p50 (ms)" "p99 (ms)" rotations
read -r name p50 p99 count <<<"$("$bench" consumers notice 50)"
printf '%-36s %10s %10s %10s\n' "$name (signed POST)" "$p50" "$p99" "$count"
printf '%-36s %10s %10s %10s\n' "TTL only (AWS's agent)" "up to 300000" "-" "-"
echo
echo "== Secrets Manager (moto_server on loopback): rotor vs boto3 (AWS's Python template logic) =="
services="$(mktemp -d /tmp/rotor-bench-services.XXXXXX)"
chmod 755 "$services"
trap 'scripts/moto.sh stop "$services"; scripts/postgres.sh stop "$services/postgres"' EXIT
scripts/moto.sh start "$services"
# shellcheck disable=SC1091
source "$services/moto.env"
export AWS_ACCESS_KEY_ID="$ROTOR_TEST_MOTO_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"
export AWS_REGION=us-east-1 AWS_ENDPOINT_URL_SECRETS_MANAGER="$ROTOR_TEST_MOTO_ENDPOINT"
rotations="${ROTOR_BENCH_AWS_ROTATIONS:-200}"
printf '%-30s %10s %12s %12s  %s\n' client rotations rotations/s calls/rot "calls per rotation by API"
for run in rotor rotor-unlimited rotor-lambda boto3; do
    case "$run" in
        rotor) line="$("$bench" aws "$rotations")" ;;
        rotor-unlimited) line="$("$bench" aws "$rotations" --no-rate-limit)" ;;
        rotor-lambda) line="$("$bench" aws "$rotations" --lambda)" ;;
        boto3) line="$(python3 bench/aws/boto3_rotation.py "$ROTOR_TEST_MOTO_ENDPOINT" "$rotations")" ;;
    esac
    read -r name count rate calls apis <<<"$line"
    printf '%-30s %10s %12s %12s  %s\n' "$name" "$count" "$rate" "$calls" "$apis"
done
echo "(rotor-cli: rotor rotate / the daemon, one run per rotation; rotor-lambda: the rotation function's four"
echo " invocations, each starting from nothing, after RotateSecret made the version; boto3-template: AWS's"
echo " generic Python template's calls, including GetRandomPassword, which rotor replaces by the local CSPRNG)"
echo "(rotor keeps PutSecretValue + UpdateSecretVersionStage under Secrets Manager's 50 TPS write quota;"
echo " boto3 has no such limit and would be throttled by real AWS at that rate)"
echo "(moto_server with request authentication on; both clients sign every request with SigV4)"
echo
echo "== Secrets Manager (moto_server): one batch of many secrets through one client and its 50 TPS write limit =="
"$bench" batch-aws "${ROTOR_BENCH_BATCH_SECRETS:-1000}"

echo
echo "== Lambda cold start: process start to the first step's response, and peak memory (median of 9) =="
ROTOR_LAMBDA_PARTS=function scripts/lambda.sh >/dev/null
printf '%-34s %16s %16s\n' function "cold start (ms)" "peak RSS (MiB)"
for run in rotor python; do
    case "$run" in
        rotor) line="$(python3 bench/lambda/cold_start.py rotor-bootstrap 9 -- .build/lambda/bootstrap)" ;;
        python) line="$(python3 bench/lambda/cold_start.py python-template-boto3 9 -- python3 bench/lambda/python_bootstrap.py)" ;;
    esac
    read -r name ms mib <<<"$line"
    printf '%-34s %16s %16s\n' "$name" "$ms" "$mib"
    declare "cold_$run=$ms"
done
awk -v r="$cold_rotor" -v p="$cold_python" 'BEGIN { printf "rotor answers its first step %.1fx sooner than the Python template, in this run\n", p / r }'

echo
echo "== PostgreSQL (local server, scram-sha-256): time per rotation of each strategy =="
scripts/postgres.sh start "$services/postgres"
# shellcheck disable=SC1091
source "$services/postgres/postgres.env"
"$bench" postgres "${ROTOR_BENCH_PG_ROTATIONS:-50}"

echo
echo "== Several daemons on one PostgreSQL state and one Secrets Manager (moto_server, no write limit) =="
"$bench" daemons "${ROTOR_BENCH_FLEET_SECRETS:-600}"
