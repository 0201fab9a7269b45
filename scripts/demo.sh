#!/usr/bin/env bash
# `make run`: the ADR-0016 example secrets on the embedded defaults (state and encrypted store in
# ./.rotor, master key in ./.rotor/master.key). Creates the secrets on first run, rotates them once,
# shows status, history and the plan, then runs the daemon on the shipped schedules/ until Ctrl-C.
# Safe to run again: existing secrets are rotated, not re-created.
set -euo pipefail

rotor="${ROTOR:-.build/debug/rotor}"
export ROTOR_HOME="${ROTOR_HOME:-.rotor}"

create() { # id, rotator, options..., with the first value on stdin when given
    local id="$1"; shift
    if "$rotor" secret describe "$id" >/dev/null 2>&1; then
        echo "exists   $id"
    else
        "$rotor" secret create "$id" "$@"
    fi
}

echo "== rotor demo (home: $ROTOR_HOME) =="
echo '{"token":"ghp_initial_demo_token_0000000000000000","username":"github-user","permissions":["repo","admin:repo_hook"]}' |
    create /prod/github-integration/api-token/personal-access-token --rotator random-password \
        --option field=token --option length=40 --option exclude-punctuation=true --value-stdin
echo '{"apiKey":"sk-ant-demo-initial-key-000000","baseUrl":"https://api.anthropic.com","model":"claude-3-sonnet-20240229"}' |
    create /prod/claude-sdk/api-key/anthropic-key --rotator manual \
        --option field=apiKey --option 'pattern=sk-ant-[A-Za-z0-9_-]{20,}' --value-stdin
create /prod/cognito/app-client/secret --rotator random-password --option length=64 --option exclude-punctuation=true
create /prod/template-management/encryption-key/template-key --rotator encryption-key
create /staging/template-management/encryption-key/template-key --rotator encryption-key
echo '{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"initial-password","dbname":"orders"}' |
    create /prod/orders-service/db-credentials/app-user --rotator random-password \
        --option field=password --option 'exclude-characters=:/@"'"'"'\' --value-stdin

echo
echo "== rotating the automatic secrets =="
for id in /prod/github-integration/api-token/personal-access-token /prod/cognito/app-client/secret \
          /prod/template-management/encryption-key/template-key /staging/template-management/encryption-key/template-key \
          /prod/orders-service/db-credentials/app-user; do
    "$rotor" rotate "$id"
done

echo
echo "== manual rotation of the Claude API key (new key supplied on stdin) =="
printf 'sk-ant-demo-%s\n' "$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)" |
    "$rotor" rotate /prod/claude-sdk/api-key/anthropic-key --value-stdin

echo
echo "== status =="
"$rotor" status
echo
echo "== history of /prod/github-integration/api-token/personal-access-token =="
"$rotor" history /prod/github-integration/api-token/personal-access-token --limit 3
echo
echo "== versions of /prod/template-management/encryption-key/template-key (values never shown) =="
"$rotor" secret describe /prod/template-management/encryption-key/template-key
echo
echo "== the plan for the next year (schedules/) =="
"$rotor" plan --policies schedules --horizon 365d
echo
echo "== rotor daemon (Ctrl-C to stop; runbooks/daemon-operations.md) =="
exec "$rotor" daemon --policies schedules --listen "127.0.0.1:${ROTOR_PORT:-8080}"
