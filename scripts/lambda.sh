#!/usr/bin/env bash
# `make lambda`: a release `bootstrap` for the provided.al2023 runtime (Swift runtime linked
# statically, symbols stripped), zipped for upload: .build/lambda/rotor-lambda.zip
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product bootstrap --static-swift-stdlib
if grep -a -q -e ROTOR_FAULT_KILL_AT -e KillSwitch .build/release/bootstrap; then
    echo "lambda: the release bootstrap contains the test-only fault hook" >&2; exit 1
fi
mkdir -p .build/lambda
cp .build/release/bootstrap .build/lambda/bootstrap
strip .build/lambda/bootstrap
rm -f .build/lambda/rotor-lambda.zip
(cd .build/lambda && zip -q -9 rotor-lambda.zip bootstrap)
ls -l .build/lambda/bootstrap .build/lambda/rotor-lambda.zip
echo "dynamic dependencies:"; ldd .build/lambda/bootstrap || true
