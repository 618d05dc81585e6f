"""Messages no worker can run, among good ones, on a real worker, moto SQS and PostgreSQL."""
from __future__ import annotations

import uuid

import pytest

from broker.dead_letter import DeadLetterMover
from core import deadletters, lifecycle, poison
from stack.services import ChildExited, wait_for
from tests.support.jobs import Sender, create, queue_depth, row, wait_status
from tests.support.messages import envelope, malformed, sqs_body, task_body

VISIBILITY = 40
DEADLINE = 20  # shorter than the visibility timeout: nothing may wait for a second receive


def _malformed_shapes(job_id: str) -> dict[str, tuple[str, str]]:
    shapes = malformed(job_id)
    # Passes the transport's screen; only Celery finds it invalid.
    shapes["ETA that is not a date"] = (
        sqs_body(envelope("canary.run", [str(uuid.uuid4())], eta="not a date")),
        "invalid ETA value")
    return shapes


def _dead_letters(sqs, url: str, count: int) -> dict[str, dict]:
    """The ``count`` messages of a dead-letter queue by their source message id."""
    found: dict[str, dict] = {}

    def all_read():
        for message in sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0,
                MessageAttributeNames=["All"]).get("Messages", []):
            source = message["MessageAttributes"][poison.SOURCE_MESSAGE_ID]["StringValue"]
            found.setdefault(source, {})[message["MessageId"]] = message
        return len(found) >= count

    wait_for(all_read, DEADLINE, f"{count} messages in {url}")
    return found


@pytest.mark.settings(visibility=VISIBILITY, max_receive_count=5, worker_concurrency=3)
def test_malformed_messages_go_to_the_dead_letter_queue_at_once_and_good_jobs_run(
        app, engine, settings, sqs, queue_urls, start_worker):
    main = queue_urls[settings.queue_name("default")]
    dead = queue_urls[settings.dead_letter_name("default")]
    sender = Sender(settings, queue_urls)
    named_job = create(app, "canary")  # a job some malformed messages name
    shapes = _malformed_shapes(named_job)
    canaries = [create(app, "canary") for _ in shapes]
    hand_built = create(app, "canary")  # proves the malformed ones differ only where meant
    sent: dict[str, str] = {}  # message id -> shape
    for canary, (shape, (body, _)) in zip(canaries, shapes.items()):
        sender.send("canary.run", canary)
        sent[sqs.send_message(QueueUrl=main, MessageBody=body)["MessageId"]] = shape
    sqs.send_message(QueueUrl=main, MessageBody=task_body("canary.run", hand_built))

    worker = start_worker()
    pid = worker.pid
    wait_for(lambda: _succeeded(engine, worker, canaries + [hand_built]), DEADLINE,
             "every good job to succeed")
    letters = _dead_letters(sqs, dead, len(sent))
    wait_for(lambda: queue_depth(sqs, main) == (0, 0, 0), DEADLINE, "the queue to be empty")

    assert worker.alive() and worker.pid == pid, worker.tail()
    assert set(letters) == set(sent), "every malformed message is in the dead-letter queue"
    assert all(len(copies) == 1 for copies in letters.values()), "each moved once"
    log = worker.log_path.read_text(errors="replace")
    for message_id, shape in sent.items():
        lines = [line for line in log.splitlines() if message_id in line]
        assert len(lines) == 1, (shape, lines)
        assert shapes[shape][1] in lines[0] and settings.queue_name("default") in lines[0]
        assert f"moved to {settings.dead_letter_name('default')}" in lines[0], lines[0]
    assert "Received and deleted unknown message" not in log
    assert "ignored and discarded" not in log
    assert "dead-letter-sweep failed" not in log
    failed = wait_status(engine, named_job, lifecycle.FAILED, timeout=DEADLINE)
    assert failed["error"].startswith("Its message could not be run ("), failed["error"]


def _succeeded(engine, worker, job_ids) -> bool:
    if not worker.alive():
        raise ChildExited(f"the worker stopped:\n{worker.tail()}")
    return all(row(engine, job_id)["status"] == lifecycle.SUCCEEDED for job_id in job_ids)


def test_redrive_leaves_messages_no_worker_can_run_in_the_dead_letter_queue(
        app, settings, sqs, queue_urls):
    main = queue_urls[settings.queue_name("default")]
    dead = queue_urls[settings.dead_letter_name("default")]
    job_id = create(app, "canary")
    sqs.send_message(QueueUrl=main, MessageBody="not a task")
    sqs.send_message(QueueUrl=dead, MessageBody=task_body("canary.run", job_id))
    refused = sqs.receive_message(QueueUrl=main, WaitTimeSeconds=1)["Messages"][0]
    DeadLetterMover().move(sqs, settings.queue_name("default"), main, refused, "not JSON")

    peeked = {letter.job_id: letter.reason for letter in deadletters.peek(sqs, dead)}
    moved = deadletters.redrive(sqs, dead, main)

    assert peeked == {job_id: None, None: "not JSON"}
    assert [letter.job_id for letter in moved] == [job_id]
    left = sqs.receive_message(QueueUrl=dead, WaitTimeSeconds=1,
                               MessageAttributeNames=["All"])["Messages"]
    assert [(m["Body"], poison.reason_of(m)) for m in left] == [("not a task", "not JSON")]
