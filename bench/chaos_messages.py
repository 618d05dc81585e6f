"""Bad messages: a task that kills its own process every time, malformed messages
of every shape sent raw next to good jobs, and the same task message delivered
twice. Workers must stay up, good jobs must finish promptly, poison must end in
the dead-letter queue (its job failed, naming why), and a job runs once.
"""
from __future__ import annotations

import base64
import json
import uuid

from botocore.exceptions import ClientError

from bench.chaos_rig import (TEST_TASKS, Bystanders, Outcome, Rig, Supervised,
                              seconds_between, wait_all)
from core import lifecycle
from stack import services
from tests.support.jobs import executions, queue_depth

SQS_MAX_BYTES = 256 * 1024


def _b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def task_message(task: str | None, args: list, *, headers: bool = True,
                 body: str | None = None) -> str:
    """An SQS body as kombu's SQS transport writes a Celery task message (protocol 2):
    base64 of a JSON envelope whose own body is base64 JSON ``[args, kwargs, embed]``."""
    task_id = str(uuid.uuid4())
    payload = json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None,
                                     "chord": None}])
    envelope = {
        "body": body if body is not None else _b64(payload),
        "content-encoding": "utf-8", "content-type": "application/json",
        "properties": {"correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
                       "delivery_info": {"exchange": "", "routing_key": "default"},
                       "priority": 0, "body_encoding": "base64",
                       "delivery_tag": str(uuid.uuid4())},
    }
    if headers:
        envelope["headers"] = {"lang": "py", "task": task, "id": task_id, "root_id": task_id,
                               "parent_id": None, "group": None, "retries": 0, "eta": None,
                               "expires": None, "argsrepr": repr(args), "kwargsrepr": "{}",
                               "origin": "chaos-bench", "ignore_result": True}
    return _b64(json.dumps(envelope))


NOT_DEAD_LETTERED = ("oversized", "job id of no job")


def malformed_shapes(rig: Rig) -> dict[str, str]:
    """Every shape of bad message, each body unique (so its fate can be told apart)."""
    mark = uuid.uuid4().hex[:8]
    no_job = str(uuid.uuid4())
    return {
        "not JSON": f"this is not a task message {mark} {{",
        "bad base64 body": task_message("canary.run", [no_job], body=f"!!not base64 {mark}!!"),
        "unknown task": task_message("no.such.task", [rig.create("canary")]),
        "job id not a UUID": task_message("canary.run", [f"not-a-uuid-{mark}"]),
        "job id of no job": task_message("canary.run", [no_job]),
        "missing headers": task_message("canary.run", [rig.create("canary")], headers=False),
        "oversized": task_message("canary.run", [rig.create("canary")], body="A" * SQS_MAX_BYTES),
    }


def crashing_task(rig: Rig, timeout: float = 300) -> Outcome:
    """Experiment 4: a task that SIGKILLs its own process on every delivery."""
    out = Outcome("poison_crash", "a task that kills its own process, every time")
    worker = rig.worker(("default",), WORKER_EXTRA_IMPORTS=TEST_TASKS)
    with Bystanders(rig) as bystanders:
        job_id = rig.create("test.crash")
        rig.send("test.crash", job_id)
        final = rig.finished(job_id, timeout)
    out.add_bystanders(bystanders.count())
    runs = executions(rig.engine, job_id)
    dead = sum(queue_depth(rig.sqs, rig.url("default", dead=True))[:2])
    limit = rig.settings.max_receive_count
    out.raw = {"runs": len(runs), "max_receive_count": limit, "in_dead_letter_queue": dead,
               "worker_alive": worker.alive(), "status": final and final["status"],
               "error": final and final["error"]}
    if final is None:
        out.jobs_lost += 1
        return out
    named = rig.settings.dead_letter_name("default") in (final["error"] or "")
    out.wrong_results += (final["status"] != lifecycle.FAILED) + (not named) + (dead != 1)
    out.jobs_run_twice += max(0, len(runs) - limit)  # more runs than receives allowed
    out.also_zero["workers_died"] = int(not worker.alive())
    out.recovery_seconds = seconds_between(runs[0]["started_at"] if runs else None,
                                           final["finished_at"])
    return out


def malformed_messages(rig: Rig, prompt: float = 5.0, timeout: float = 120) -> Outcome:
    """Experiment 5: malformed messages sent raw next to good jobs."""
    out = Outcome("malformed", "malformed messages of every shape next to good jobs")
    worker = Supervised(rig, ("default",))
    with Bystanders(rig, every=1.0, slow_after=prompt) as bystanders:
        sent, refused, good_ids = _send_shapes(rig)
        goods = wait_all(rig, worker, good_ids, timeout)
    fates = _fates(rig, worker, sent, _deadline(rig))
    out.add_bystanders(bystanders.count())
    late = [g for g in goods.values() if g is None or g["status"] != lifecycle.SUCCEEDED
            or seconds_between(g["created_at"], g["finished_at"]) > prompt]
    out.jobs_lost += sum(g is None for g in goods.values())
    out.wrong_results += sum(g is not None and g["status"] != lifecycle.SUCCEEDED
                             for g in goods.values())
    # SQS refuses the oversized one; where the emulator takes it, its fate is only noted.
    # A well-formed message naming no job is no job's: the worker drops it, saying so.
    out.also_zero["malformed_not_dead_lettered"] = sum(
        f != "dead-letter queue" for shape, f in fates.items() if shape not in NOT_DEAD_LETTERED)
    out.also_zero["good_jobs_late"] = len(late)
    out.also_zero["workers_died"] = worker.deaths
    out.raw = {"fates": {**fates, **{s: f"refused by SQS ({c})" for s, c in refused.items()}},
               "good_raw_jobs": len(good_ids), "oversized_refused": "oversized" in refused,
               "oversized_bytes": len(sent.get("oversized", ""))}
    return out


def _send_shapes(rig: Rig) -> tuple[dict, dict, list]:
    """Each malformed shape, then a good job sent the same raw way."""
    url = rig.url("default")
    sent, refused, good_ids = {}, {}, []
    for shape, body in malformed_shapes(rig).items():
        try:
            rig.sqs.send_message(QueueUrl=url, MessageBody=body)
            sent[shape] = body
        except ClientError as exc:
            refused[shape] = exc.response["Error"]["Code"]
        good_ids.append(rig.create("canary"))
        rig.sqs.send_message(QueueUrl=url, MessageBody=task_message("canary.run",
                                                                    [good_ids[-1]]))
    return sent, refused, good_ids


def _deadline(rig: Rig) -> float:
    """Long enough for a message rejected at every receive to reach the dead-letter queue."""
    return rig.settings.visibility_timeouts["default"] * (rig.settings.max_receive_count + 1) + 30


def _fates(rig: Rig, worker: Supervised, sent: dict[str, str],
           timeout: float) -> dict[str, str]:
    """Where each sent body ended: the dead-letter queue, deleted, or still in the queue."""
    dead_url, url = rig.url("default", dead=True), rig.url("default")
    found: set[str] = set()

    def settled() -> bool:
        worker.check()
        found.update(_bodies(rig.sqs, dead_url) & set(sent.values()))
        return len(found) == len(sent) or sum(queue_depth(rig.sqs, url)) == 0
    try:
        services.wait_for(settled, timeout, "every malformed message to settle", interval=1)
    except TimeoutError:
        pass  # what is still in the queue is reported as such
    found.update(_bodies(rig.sqs, dead_url) & set(sent.values()))
    empty = sum(queue_depth(rig.sqs, url)) == 0
    return {shape: "dead-letter queue" if body in found else
            "deleted" if empty else "still in the queue" for shape, body in sent.items()}


def _bodies(sqs, url: str) -> set[str]:
    """The bodies in a queue, each message visible again after a moment."""
    seen: dict[str, str] = {}
    for _ in range(5):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                    VisibilityTimeout=1).get("Messages", [])
        fresh = {m["MessageId"]: m["Body"] for m in batch if m["MessageId"] not in seen}
        if not fresh:
            break
        seen.update(fresh)
    return set(seen.values())


def duplicate_delivery(rig: Rig, seconds: float = 2.0, timeout: float = 120) -> Outcome:
    """Experiment 6: one task message delivered twice, and again once its job finished."""
    out = Outcome("duplicates", "the same message twice, and again after the job ended")
    workers = [rig.worker(("default",), WORKER_EXTRA_IMPORTS=TEST_TASKS) for _ in range(2)]
    url = rig.url("default")
    with Bystanders(rig) as bystanders:
        job_id = rig.create("test.sleep", {"seconds": seconds})
        body = task_message("test.sleep", [job_id])
        for _ in range(2):
            rig.sqs.send_message(QueueUrl=url, MessageBody=body)
        final = rig.finished(job_id, timeout)
        rig.sqs.send_message(QueueUrl=url, MessageBody=body)
        services.wait_for(lambda: sum(queue_depth(rig.sqs, url)) == 0, timeout, "the queue")
    out.add_bystanders(bystanders.count())
    runs = executions(rig.engine, job_id)
    after = rig.job(job_id)
    out.raw = {"body_runs": len(runs), "attempts": after["attempts"], "status": after["status"]}
    if final is None:
        out.jobs_lost += 1
        return out
    out.jobs_run_twice += max(0, len(runs) - 1, after["attempts"] - 1)
    out.wrong_results += (after["status"] != lifecycle.SUCCEEDED) + \
        (after["finished_at"] != final["finished_at"])
    out.also_zero["workers_died"] = sum(not w.alive() for w in workers)
    return out
