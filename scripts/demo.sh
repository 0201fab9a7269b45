#!/usr/bin/env bash
# `make run`: the ADR-0016 example secrets on the embedded defaults (state and encrypted store in
# ./.rotor, master key in ./.rotor/master.key). Creates the secrets on first run, rotates what can be
# rotated for real without a cloud account (the encryption keys), shows status, history and the plan
# (with the reminders of the assisted secrets), then runs the daemon on schedules/ until Ctrl-C.
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
# Only what rotor can rotate for real here, with no cloud account, is rotated: the encryption keys.
# The other credentials of ADR-0016 are rotated at their real systems (GitHub, Cognito, PostgreSQL),
# which this demo does not have; they appear as what they are: assisted secrets with reminders,
# and policies with the runbook that rotates them against a real target.
create /prod/template-management/encryption-key/template-key --rotator encryption-key
create /staging/template-management/encryption-key/template-key --rotator encryption-key
# A GitHub personal access token is made by a person; rotor checks and installs the next one
# (rotor rotate ID --value-stdin) and reminds before it is due. This placeholder is never sent anywhere.
echo '{"token":"ghp_placeholder_for_the_demo_000000000000","login":"github-user","permissions":["repo"]}' |
    create /prod/github-integration/api-token/personal-access-token --rotator github-pat --value-stdin
# The Claude key is issued in Anthropic's console: a manual secret with a reminder. The shipped policy
# adds a probe of Anthropic's API to testSecret, which needs the real key and network.
echo '{"apiKey":"sk-ant-placeholder-for-the-demo-00000","baseUrl":"https://api.anthropic.com"}' |
    create /prod/claude-sdk/api-key/anthropic-key --rotator manual \
        --option field=apiKey --option 'pattern=sk-ant-[A-Za-z0-9_-]{20,}' --value-stdin

echo
echo "== rotating the encryption keys (the previous key stays readable as AWSPREVIOUS) =="
for id in /prod/template-management/encryption-key/template-key /staging/template-management/encryption-key/template-key; do
    "$rotor" rotate "$id"
done

echo
echo "== rotated at their real systems (not in this demo) =="
echo "database credentials  postgres-alternating-users   runbooks/postgres-rotation.md (make test runs it against a local PostgreSQL)"
echo "Cognito app client    cognito-app-client           runbooks/cognito-app-client.md"
echo "GitHub tokens         github-pat / github-app-token runbooks/github-tokens.md"
echo "Claude API key        manual + probe               runbooks/manual-rotation.md"

echo
echo "== status =="
"$rotor" status
echo
echo "== history of /prod/template-management/encryption-key/template-key =="
"$rotor" history /prod/template-management/encryption-key/template-key --limit 3
echo
echo "== versions of /prod/template-management/encryption-key/template-key (values never shown) =="
"$rotor" secret describe /prod/template-management/encryption-key/template-key
echo
echo "== the plan for the next year (schedules/) =="
"$rotor" plan --policies schedules --horizon 365d
echo
echo "== rotor daemon (Ctrl-C to stop; runbooks/daemon-operations.md) =="
exec "$rotor" daemon --policies schedules --listen "127.0.0.1:${ROTOR_PORT:-8080}"
