#!/usr/bin/env bash
# `make lambda`: for the provided.al2023 runtime (Swift runtime linked statically, symbols stripped),
#   .build/lambda/rotor-lambda.zip           the rotation function (bootstrap)
#   .build/lambda/rotor-agent-extension.zip  rotor agent as a Lambda extension layer (bin/rotor, extensions/rotor-agent)
# ROTOR_LAMBDA_PARTS chooses (default "function extension"; `make bench` builds the function only).
set -euo pipefail
cd "$(dirname "$0")/.."
parts="${ROTOR_LAMBDA_PARTS:-function extension}"
mkdir -p .build/lambda
check_no_fault_hook() {
    if grep -a -q -e ROTOR_FAULT_KILL_AT -e KillSwitch "$1"; then
        echo "lambda: $1 contains the test-only fault hook" >&2; exit 1
    fi
}
if [[ " $parts " == *" function "* ]]; then
    swift build -c release --product bootstrap --static-swift-stdlib
    check_no_fault_hook .build/release/bootstrap
    cp .build/release/bootstrap .build/lambda/bootstrap
    strip .build/lambda/bootstrap
    rm -f .build/lambda/rotor-lambda.zip
    (cd .build/lambda && zip -q -9 rotor-lambda.zip bootstrap)
    ls -l .build/lambda/bootstrap .build/lambda/rotor-lambda.zip
    echo "dynamic dependencies:"; ldd .build/lambda/bootstrap || true
fi
if [[ " $parts " == *" extension "* ]]; then
    swift build -c release --product rotor --static-swift-stdlib
    check_no_fault_hook .build/release/rotor
    layer=.build/lambda/extension-layer
    rm -rf "$layer" && mkdir -p "$layer/bin" "$layer/extensions"
    cp .build/release/rotor "$layer/bin/rotor"
    strip "$layer/bin/rotor"
    cp examples/lambda-extension/extensions/rotor-agent "$layer/extensions/rotor-agent"
    chmod 755 "$layer/bin/rotor" "$layer/extensions/rotor-agent"
    rm -f .build/lambda/rotor-agent-extension.zip
    (cd "$layer" && zip -q -9 -r ../rotor-agent-extension.zip bin extensions)
    ls -l .build/lambda/rotor-agent-extension.zip
    unzip -l .build/lambda/rotor-agent-extension.zip
fi
