#!/usr/bin/env python3
"""The same rotation rotor performs, driven by boto3 the way AWS's Python rotation Lambda template
does it (SecretsManagerRotationTemplate/lambda_function.py): for each step, DescribeSecret plus the
prologue checks, then createSecret (GetSecretValue current, GetSecretValue pending -> not found,
GetRandomPassword, PutSecretValue AWSPENDING), setSecret (a no-op for a generated password),
testSecret (GetSecretValue pending), finishSecret (UpdateSecretVersionStage AWSCURRENT), then the
AWSPENDING clean-up Secrets Manager's backend does.

Usage: boto3_rotation.py ENDPOINT ROTATIONS   (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
Prints one line: "boto3-template ROTATIONS rotations/s API-calls-per-rotation API=N,..." (per rotation, by API).
"""
import sys, time, uuid
import boto3

endpoint, rotations = sys.argv[1], int(sys.argv[2])
client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=endpoint)
calls = {}
def count(model=None, **_):
    calls[model.name] = calls.get(model.name, 0) + 1
client.meta.events.register("before-call.secretsmanager", count)

def prologue(arn, token):
    metadata = client.describe_secret(SecretId=arn)
    versions = metadata["VersionIdsToStages"]
    if token not in versions:
        raise ValueError("Secret version %s has no stage for rotation of secret %s." % (token, arn))
    if "AWSCURRENT" in versions[token]:
        return False
    if "AWSPENDING" not in versions[token]:
        raise ValueError("Secret version %s not set as AWSPENDING for rotation of secret %s." % (token, arn))
    return True

def create_secret(arn, token):
    client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    try:
        client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    except client.exceptions.ResourceNotFoundException:
        password = client.get_random_password(ExcludeCharacters="/@\"'\\")["RandomPassword"]
        client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=password, VersionStages=["AWSPENDING"])

def test_secret(arn, token):
    client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")

def finish_secret(arn, token):
    metadata = client.describe_secret(SecretId=arn)
    current = next(v for v, stages in metadata["VersionIdsToStages"].items() if "AWSCURRENT" in stages)
    if current == token:
        return
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current)

def rotate(arn):
    token = str(uuid.uuid4())
    # Mode (a): the orchestrator creates the pending version; createSecret runs before the prologue.
    create_secret(arn, token)
    for step in (lambda a, t: None, test_secret, finish_secret):  # setSecret is a no-op here
        if prologue(arn, token):
            step(arn, token)
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)

name = "/bench%s/boto3/api-key/secret" % uuid.uuid4().hex[:10]
arn = client.create_secret(Name=name, SecretString="initial")["ARN"]
calls.clear()
start = time.perf_counter()
for _ in range(rotations):
    rotate(arn)
elapsed = time.perf_counter() - start
total = sum(calls.values())
by_api = ",".join("%s=%g" % (api, n / rotations) for api, n in sorted(calls.items()))
print("boto3-template %d %.1f %.1f %s" % (rotations, rotations / elapsed, total / rotations, by_api))
