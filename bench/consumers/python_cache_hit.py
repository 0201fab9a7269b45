"""ns per cache hit of AWS's Python caching library (aws-secretsmanager-caching, PyPI), the same
measurement as rotor-bench's SecretsClient: one secret, read again and again within its TTL.
The client is a stand-in object answering describe_secret/get_secret_value from memory, so only the
library's hit path is measured (hits never call it). Prints: name ns-per-hit reads."""
import sys
import time

from aws_secretsmanager_caching import SecretCache, SecretCacheConfig


class MemoryClient:
    """What the library calls on a miss or a refresh; counted."""

    def __init__(self):
        self.calls = 0
        self.meta = type("Meta", (), {"config": type("Config", (), {"user_agent_extra": ""})()})()

    def describe_secret(self, SecretId):
        self.calls += 1
        return {"ARN": "arn", "Name": SecretId, "VersionIdsToStages": {"v1": ["AWSCURRENT"]}}

    def get_secret_value(self, SecretId, VersionStage=None, VersionId=None):
        self.calls += 1
        return {"ARN": "arn", "Name": SecretId, "VersionId": "v1", "SecretString": '{"apiKey":"sk-bench","model":"m"}',
                "VersionStages": ["AWSCURRENT"]}


def main():
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    client = MemoryClient()
    cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=3600), client=client)
    secret_id = "/prod/orders/api-key/vendor"
    cache.get_secret_string(secret_id)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(reads):
            cache.get_secret_string(secret_id)
        best = min(best, (time.perf_counter_ns() - start) / reads)
    print(f"python-aws-secretsmanager-caching {best:10.1f} {reads}")


if __name__ == "__main__":
    main()
