#!/usr/bin/env bash
# Starts moto_server (Secrets Manager emulator) on a free loopback port with request
# authentication switched on, and creates an IAM user whose access key the tests use.
#   scripts/moto.sh start DIR   -> writes DIR/moto.env (ROTOR_TEST_MOTO_*), DIR/moto.pid, DIR/moto.log
#   scripts/moto.sh stop DIR
set -euo pipefail
action="$1"; dir="$2"
mkdir -p "$dir"

ensure_installed() {
    if ! python3 -c "import moto.server, boto3, flask_cors" >/dev/null 2>&1; then
        echo "installing moto[server] and boto3 with pip"
        python3 -m pip install --quiet 'moto[server]' boto3
    fi
    # The AWS runbooks use the aws CLI, as operators do.
    command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet awscli
    # The Lambda runbook checks its CloudFormation template with cfn-lint.
    command -v cfn-lint >/dev/null 2>&1 || python3 -m pip install --quiet cfn-lint
    # The IAM tests and runbook judge rotor's generated policies with maintained tools.
    python3 -c "import parliament, policyuniverse, policy_sentry" >/dev/null 2>&1 \
        || python3 -m pip install --quiet parliament==1.6.4 policyuniverse==1.5.1.20231109 policy-sentry==0.15.2
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
    ensure_installed
    local port; port="$(free_port)"
    # The first 3 requests (the IAM bootstrap below) are unauthenticated; every later one is
    # checked against moto's IAM: a wrong SigV4 signature fails.
    INITIAL_NO_AUTH_ACTION_COUNT=3 nohup python3 -m moto.server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    echo $! >"$dir/moto.pid"
    for _ in $(seq 1 100); do
        python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port)))" && break
        sleep 0.1
    done
    python3 - "$port" "$dir/moto.env" <<'PY'
import json, sys, boto3
port, out = sys.argv[1], sys.argv[2]
iam = boto3.client("iam", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="rotor-test")
iam.put_user_policy(UserName="rotor-test", PolicyName="rotor-secretsmanager",
                    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
                        # runbooks/iam-policies.md creates the policy it generated, as an operator does.
                        {"Effect": "Allow", "Action": ["iam:CreatePolicy", "iam:GetPolicy", "iam:CreatePolicyVersion"], "Resource": "*"},
                        # runbooks/observability.md creates a log group, a bus and a topic, and ships to them.
                        {"Effect": "Allow", "Action": ["logs:*", "events:*", "sns:*"], "Resource": "*"}]}))
key = iam.create_access_key(UserName="rotor-test")["AccessKey"]
with open(out, "w") as f:
    f.write(f"export ROTOR_TEST_MOTO_ENDPOINT=http://127.0.0.1:{port}\n")
    f.write(f"export ROTOR_TEST_MOTO_ACCESS_KEY_ID={key['AccessKeyId']}\n")
    f.write(f"export ROTOR_TEST_MOTO_SECRET_ACCESS_KEY={key['SecretAccessKey']}\n")
PY
    echo "moto_server on 127.0.0.1:$port (authentication on)"
}

stop() {
    if [ -f "$dir/moto.pid" ]; then
        kill "$(cat "$dir/moto.pid")" 2>/dev/null || true
        rm -f "$dir/moto.pid"
    fi
}

"$action"
