"""Uploads as a browser makes them: a presigned POST straight to the bucket, and the
bucket's notification that follows."""
from __future__ import annotations

import json

import requests

from tests.support.accounts import bearer

OWNER = bearer("tester")


def upload(live, data: bytes, **options) -> str:
    """Ask for a presigned POST and send the file straight to the bucket; returns its key."""
    answer = live.post("/api/imports/uploads", headers=OWNER,
                       json={"dataset": "customers", "filename": "顧客.csv", **options})
    assert answer.status_code == 201, answer.get_json()
    post = answer.get_json()["upload"]
    sent = requests.post(post["url"], data=post["fields"], files={"file": ("顧客.csv", data)},
                         timeout=30)
    assert sent.status_code in (200, 204), sent.text
    return answer.get_json()["key"]


def object_event(sqs, url: str):
    """The next object-created message (the emulator first sends a test event)."""
    for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
        if "Records" in json.loads(message["Body"]):
            return message
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return None
