#!/usr/bin/env python3
"""Cold start of a rotation function: from process start to the first step's response (createSecret
of a real rotation against moto), through a Lambda Runtime API emulator on loopback, and the
process's peak memory (VmHWM). Usage: cold_start.py NAME RUNS -- COMMAND...
Needs ROTOR_TEST_MOTO_ENDPOINT, ROTOR_TEST_MOTO_ACCESS_KEY_ID, ROTOR_TEST_MOTO_SECRET_ACCESS_KEY."""
import http.server, json, os, statistics, subprocess, sys, threading, time, uuid
import boto3

name, runs = sys.argv[1], int(sys.argv[2])
command = sys.argv[sys.argv.index("--") + 1:]
endpoint = os.environ["ROTOR_TEST_MOTO_ENDPOINT"]
creds = dict(aws_access_key_id=os.environ["ROTOR_TEST_MOTO_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"])
client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=endpoint, **creds)


def prepare():
    secret = "/bench%s/cold/api-key/secret" % uuid.uuid4().hex[:10]
    arn = client.create_secret(Name=secret, SecretString="initial")["ARN"]
    token = str(uuid.uuid4())
    try:  # moto leaves RotateSecret's empty AWSPENDING placeholder when it cannot invoke the function
        client.rotate_secret(SecretId=arn, ClientRequestToken=token, RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:x",
                             RotationRules={"AutomaticallyAfterDays": 30})
    except Exception:
        pass
    return {"Step": "createSecret", "SecretId": arn, "ClientRequestToken": token, "RotationToken": str(uuid.uuid4())}


def one_run():
    event = prepare()
    answered = threading.Event()
    outcome = {}

    class Runtime(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args): pass
        def do_GET(self):
            if outcome.get("served"):
                answered.wait(30)
                time.sleep(30)
                return
            outcome["served"] = True
            body = json.dumps(event).encode()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + 60) * 1000)))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            outcome["body"] = self.rfile.read(length)
            outcome["path"] = self.path
            outcome["time"] = time.perf_counter()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            answered.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % server.server_address[1], SECRETS_MANAGER_ENDPOINT=endpoint,
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID=creds["aws_access_key_id"],
               AWS_SECRET_ACCESS_KEY=creds["aws_secret_access_key"], ROTOR_ROTATOR="random-password", ROTOR_LOG_LEVEL="warning")
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not answered.wait(60):
        raise SystemExit("%s: no answer" % name)
    peak_kb = 0
    with open("/proc/%d/status" % process.pid) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak_kb = int(line.split()[1])
    process.kill()
    process.wait()
    server.shutdown()
    if not outcome["path"].endswith("/response"):
        raise SystemExit("%s: the step failed: %s" % (name, outcome["body"][:300]))
    return (outcome["time"] - start) * 1000, peak_kb / 1024


results = [one_run() for _ in range(runs)]
print("%s %.1f %.1f" % (name, statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)))
