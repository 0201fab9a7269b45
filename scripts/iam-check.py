#!/usr/bin/env python3
"""Checks rotor's generated IAM policies with maintained tools, for the tests and the IAM runbook.

  iam-check.py lint POLICIES.json
      parliament on every document: no findings. An UNKNOWN_ACTION is accepted only for an
      operation botocore's current service model has (parliament's action database is older).
  iam-check.py users ENDPOINT POLICIES.json KEYS.json
      On a moto_server whose authentication is still off: one IAM user per generated policy, with
      the policy's actions on "*" (moto grants nothing on a named ARN), and an "admin" user; the
      keys go to KEYS.json (mode 0600). Then authentication goes on and the recording restarts.
  iam-check.py evaluate ENDPOINT POLICIES.json KEYS.json RECORDING PROBES.json
      Every call in moto's recording, made with a generated policy's key, is evaluated against that
      policy's real resources and conditions; every probe ({"policy", "action", "resource",
      "region", "expect": "allow"|"deny"}) too. Prints one line per call kind, never a value.

POLICIES.json is the output of `rotor iam policy --format json`. Actions are matched by policyuniverse
(the statement's expanded actions), resources by fnmatch with IAM's * and ? (case-sensitive); the only
condition rotor writes, StringEquals on aws:RequestedRegion, is checked; any other fails the check.
"""
import base64
import fnmatch
import json
import os
import sys
import urllib.parse
import urllib.request

import boto3
import botocore.session
import parliament
from policyuniverse.statement import Statement

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's


def load_policies(path):
    return {entry["name"]: entry for entry in json.load(open(path))["policies"]}


def lint(policies_path):
    models = botocore.session.get_session()
    failures = 0
    for name, entry in sorted(load_policies(policies_path).items()):
        findings = []
        for finding in parliament.analyze_policy_string(json.dumps(entry["document"])).findings:
            action = finding.location.get("string", "") if isinstance(finding.location, dict) else ""
            if finding.issue == "UNKNOWN_ACTION" and known_to_botocore(models, action):
                print(f"{name}: {action} is newer than parliament's database; botocore's {action.split(':')[0]} model has it")
                continue
            findings.append(f"{finding.issue} {finding.detail}")
        for finding in findings:
            print(f"{name}: FINDING {finding}")
        failures += len(findings)
        print(f"{name}: parliament {'ok' if not findings else f'{len(findings)} finding(s)'}")
    return 1 if failures else 0


def known_to_botocore(models, action):
    service, _, operation = action.partition(":")
    try:
        return operation in models.get_service_model(service).operation_names
    except Exception:
        return False


def actions_on_any_resource(document):
    """The document's statements with every Resource as "*" and no Condition: what moto can enforce."""
    statements = []
    for statement in document["Statement"]:
        statements.append({"Effect": statement["Effect"], "Action": statement["Action"], "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def users(endpoint, policies_path, keys_path):
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    keys = {}
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for name, document in [("admin", everything)] + [(n, actions_on_any_resource(e["document"])) for n, e in load_policies(policies_path).items()]:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    descriptor = os.open(keys_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(keys, out)
    post(endpoint, "/moto-api/reset-auth", b"0")
    post(endpoint, "/moto-api/recorder/reset-recording", b"")
    print(f"{len(keys)} users; authentication on")
    return 0


def post(endpoint, path, body):
    # Not form-encoded: moto reads the raw body, which Flask leaves empty for a form.
    request = urllib.request.Request(endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request).read()


def allowed(document, action, resource, region):
    """Whether the identity policy allows the call: an Allow statement whose action, resource and condition match."""
    for raw in document["Statement"]:
        statement = Statement(raw)
        if statement.effect != "Allow" or action.lower() not in statement.actions_expanded:
            continue
        patterns = raw["Resource"] if isinstance(raw["Resource"], list) else [raw["Resource"]]
        if any("[" in pattern for pattern in patterns):
            raise ValueError(f"resource pattern with '[' in {raw.get('Sid')}: fnmatch would read a character class")
        if resource == "*":
            if "*" not in patterns:  # an action without resource-level permissions matches only Resource "*"
                continue
        elif not any(fnmatch.fnmatchcase(resource, pattern) for pattern in patterns):
            continue
        if condition_holds(raw.get("Condition", {}), region):
            return True
    return False


def condition_holds(condition, region):
    for operator, entries in condition.items():
        for key, values in entries.items():
            if operator != "StringEquals" or key != "aws:RequestedRegion":
                raise ValueError(f"condition {operator} {key} is not one rotor writes; this check cannot evaluate it")
            if region not in (values if isinstance(values, list) else [values]):
                return False
    return True


def recorded_calls(recording_path, owners, account):
    """(policy name, action, secret id / resource ARN / None, region) of every signed call in the recording."""
    calls = []
    for line in open(recording_path):
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        authorization = headers.get("authorization", "")
        if "Credential=" not in authorization:
            continue
        key_id, _, region, service, _ = authorization.split("Credential=")[1].split(",")[0].split("/")
        owner = owners.get(key_id)
        if owner is None or owner == "admin":
            continue
        body = entry.get("body") or ""
        body = base64.b64decode(body) if entry.get("body_encoded") else body.encode()
        target = headers.get("x-amz-target", "")
        if target:
            operation, fields = target.split(".")[-1], json.loads(body or b"{}")
        else:  # the Query protocol (SNS): a form body
            fields = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            operation = fields.get("Action", "")
        calls.append((owner, f"{service}:{operation}", resource(service, operation, fields, region, account), region))
    return calls


def resource(service, operation, fields, region, account):
    """The resource a call acts on, as IAM names it (a secret's id or ARN is resolved later)."""
    if service == "secretsmanager":
        return fields.get("SecretId") or fields.get("Name")
    if service == "logs":
        group = f"arn:aws:logs:{region}:{account}:log-group:{fields['logGroupName']}"
        return group + f":log-stream:{fields['logStreamName']}" if operation == "PutLogEvents" else group
    if service == "events":
        bus = fields["Entries"][0].get("EventBusName", "default")
        return bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}"
    if service == "sns":
        return fields.get("TopicArn")
    raise ValueError(f"no resource rule for {service}:{operation}")


def evaluate(endpoint, policies_path, keys_path, recording_path, probes_path):
    policies = load_policies(policies_path)
    keys = json.load(open(keys_path))
    owners = {key["id"]: name for name, key in keys.items()}
    admin = keys["admin"]
    secretsmanager = boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint,
                                  aws_access_key_id=admin["id"], aws_secret_access_key=admin["secret"])
    arns = {}
    for page in secretsmanager.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            arns[secret["Name"]] = secret["ARN"]
            arns[secret["ARN"]] = secret["ARN"]
    failures = 0
    seen = {}
    for owner, action, secret, region in recorded_calls(recording_path, owners, ACCOUNT):
        resource = "*" if secret is None else secret if secret.startswith("arn:") and not secret.startswith("arn:aws:secretsmanager:") else arns.get(secret)
        if resource is None:
            print(f"{owner}: {action} on a secret moto no longer lists: cannot evaluate")
            failures += 1
            continue
        verdict = "allow" if allowed(policies[owner]["document"], action, resource, region) else "DENY"
        seen.setdefault((owner, action, verdict), 0)
        seen[(owner, action, verdict)] += 1
        if verdict == "DENY":
            print(f"{owner}: {action} on {resource} in {region}: not allowed by the generated policy")
            failures += 1
    for (owner, action, verdict), count in sorted(seen.items()):
        print(f"recorded {owner}: {action} x{count}: {verdict}")
    for probe in json.load(open(probes_path)):
        verdict = "allow" if allowed(policies[probe["policy"]]["document"], probe["action"], probe["resource"], probe.get("region", REGION)) else "deny"
        ok = verdict == probe["expect"]
        failures += 0 if ok else 1
        print(f"probe {probe['policy']}: {probe['action']} on {probe['resource']} in {probe.get('region', REGION)}: {verdict}{'' if ok else ' (expected ' + probe['expect'] + ')'}")
    print(f"{'ok' if failures == 0 else str(failures) + ' failure(s)'}: {sum(seen.values())} recorded calls evaluated")
    return 1 if failures else 0


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    sys.exit({"lint": lint, "users": users, "evaluate": evaluate}[command](*arguments))
