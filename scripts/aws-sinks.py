#!/usr/bin/env python3
"""Destinations for rotor's audit and alert sinks on a moto_server, for the tests (boto3, as an admin).

  aws-sinks.py setup ENDPOINT GROUP BUS TOPIC
      Creates the log group, the event bus with a rule sending source "rotor" to an SQS queue, and
      the SNS topic with an SQS subscription. Prints {"topicArn", "eventsQueue", "snsQueue"}.
  aws-sinks.py read ENDPOINT GROUP EVENTS-QUEUE SNS-QUEUE
      Prints {"streams": {name: [messages]}, "events": [EventBridge envelopes], "sns": [SNS envelopes]}.
Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
"""
import json
import sys

import boto3


def clients(endpoint):
    make = lambda name: boto3.client(name, region_name="us-east-1", endpoint_url=endpoint)
    return make("logs"), make("events"), make("sns"), make("sqs")


def setup(endpoint, group, bus, topic):
    logs, events, sns, sqs = clients(endpoint)
    logs.create_log_group(logGroupName=group)
    events.create_event_bus(Name=bus)
    queues = {}
    for name in ("events", "sns"):
        url = sqs.create_queue(QueueName=f"{bus}-{name}")["QueueUrl"]
        queues[name] = (url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    events.put_rule(Name=f"{bus}-alerts", EventBusName=bus, EventPattern=json.dumps({"source": ["rotor"]}))
    events.put_targets(Rule=f"{bus}-alerts", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queues["events"][1]}])
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queues["sns"][1])
    print(json.dumps({"topicArn": topic_arn, "eventsQueue": queues["events"][0], "snsQueue": queues["sns"][0]}))


def read(endpoint, group, events_queue, sns_queue):
    logs, _, _, sqs = clients(endpoint)
    streams = {}
    for stream in logs.describe_log_streams(logGroupName=group).get("logStreams", []):
        name = stream["logStreamName"]
        streams[name] = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)["events"]]
    received = {}
    for name, url in (("events", events_queue), ("sns", sns_queue)):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        received[name] = [json.loads(m["Body"]) for m in messages]
    print(json.dumps({"streams": streams, **received}))


if __name__ == "__main__":
    {"setup": setup, "read": read}[sys.argv[1]](*sys.argv[2:])
