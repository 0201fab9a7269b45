#!/usr/bin/env python3
"""AWS's generic Python rotation function (SecretsManagerRotationTemplate/lambda_function.py, with
GetRandomPassword in createSecret) behind a minimal custom-runtime loop, so that it can be invoked
through the same Runtime API emulator as rotor's bootstrap. For the cold-start benchmark only."""
import json, os, urllib.request
import boto3

service_client = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])


def lambda_handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    metadata = service_client.describe_secret(SecretId=arn)
    if not metadata["RotationEnabled"]:
        raise ValueError("Secret %s is not enabled for rotation" % arn)
    versions = metadata["VersionIdsToStages"]
    if token not in versions:
        raise ValueError("Secret version %s has no stage for rotation of secret %s." % (token, arn))
    if "AWSCURRENT" in versions[token]:
        return
    elif "AWSPENDING" not in versions[token]:
        raise ValueError("Secret version %s not set as AWSPENDING for rotation of secret %s." % (token, arn))
    if step == "createSecret":
        create_secret(service_client, arn, token)
    elif step in ("setSecret", "testSecret"):
        pass
    elif step == "finishSecret":
        finish_secret(service_client, arn, token)
    else:
        raise ValueError("Invalid step parameter")


def create_secret(client, arn, token):
    client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    try:
        client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    except client.exceptions.ResourceNotFoundException:
        passwd = client.get_random_password(ExcludeCharacters=os.environ.get("EXCLUDE_CHARACTERS", "/@\"'\\"))
        client.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=passwd["RandomPassword"], VersionStages=["AWSPENDING"])


def finish_secret(client, arn, token):
    metadata = client.describe_secret(SecretId=arn)
    current_version = None
    for version in metadata["VersionIdsToStages"]:
        if "AWSCURRENT" in metadata["VersionIdsToStages"][version]:
            if version == token:
                return
            current_version = version
            break
    client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current_version)


api = "http://%s/2018-06-01/runtime" % os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(api + "/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    try:
        lambda_handler(event, None)
        urllib.request.urlopen(urllib.request.Request(api + "/invocation/%s/response" % request_id, data=b"null", method="POST"))
    except Exception as error:
        body = json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
        urllib.request.urlopen(urllib.request.Request(api + "/invocation/%s/error" % request_id, data=body, method="POST"))
