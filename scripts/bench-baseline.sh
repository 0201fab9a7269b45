#!/usr/bin/env bash
# `make bench-baseline`: durable rotations per second of today's code beside the code as it was when
# issue 10 set its goal (c6401f1: 1,030/s there, 2,000/s asked, so 1.94x), both built in release and
# run in turns on this machine, whose speed wanders 2-4x: only the ratio of neighbouring runs counts.
# The old code is built once (about 15 minutes) into .build-baseline/.
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${ROTOR_BENCH_BASELINE_REV:-c6401f1}"
dir=".build-baseline/$rev"
if [ ! -x "$dir/.build/release/rotor-bench" ]; then
    rm -rf "$dir"
    git clone -q . "$dir"
    git -C "$dir" checkout -q "$rev"
    swift build -c release --package-path "$dir" --product rotor-bench
fi
swift build -c release --package-path bench --product rotor-bench --disable-build-manifest-caching
rotations="${ROTOR_BENCH_ROTATIONS:-3000}"
# Rotations per second in the `synchronous=FULL`, 4-concurrent row (the old output has a column less).
old_rate() { awk '$1 == "FULL" && $2 == 4 { print $4 }'; }
new_rate() { awk '$1 == "FULL" && $2 == 4 { print $3 }'; }
printf '%-5s %14s %14s %7s\n' "pair" "$rev/s" "now/s" "ratio"
ratios=()
for pair in $(seq "${ROTOR_BENCH_PAIRS:-5}"); do
    before="$("$dir/.build/release/rotor-bench" "$rotations" | old_rate)"
    after="$(bench/.build/release/rotor-bench "$rotations" | new_rate)"
    ratio="$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a / b }')"
    ratios+=("$ratio")
    printf '%-5s %14s %14s %6sx\n' "$pair" "$before" "$after" "$ratio"
done
printf 'median ratio %sx (the goal: 1.94x)\n' "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }')"
