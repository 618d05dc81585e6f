"""A job of every kind through the stack as deployed, each process under its own role.

Every AWS call the processes make passes the IAM gate (tests/support/iam_gate.py):
a call its role does not allow is refused as AWS would refuse it, and fails the
test that caused it, naming process, action and resource.
"""
from __future__ import annotations

import base64
import email
import json
import re
from datetime import datetime, timezone

import boto3
import pytest
import requests

from core import lifecycle
from core.settings import WORKLOADS
from deploy import pools
from tasks.imports import samples
from tests.deployed.conftest import OPERATOR, SENDER
from tests.support import deployed
from tests.support.accounts import csrf_token

TERMINAL = set(lifecycle.FINISHED)


@pytest.fixture(scope="module")
def api(live_stack):
    """A session of the operator, signed in through the pages as a browser is, then an
    API token made on the tokens page (the only way to get one)."""
    user, _, password = OPERATOR
    browser = requests.Session()
    login = browser.get(live_stack.web + "/login", timeout=10)
    assert not any(c.secure for c in browser.cookies), \
        "the session cookie is Secure on a stack served over plain HTTP: browsers drop it"
    page = login.text
    answer = browser.post(live_stack.web + "/login", allow_redirects=False, timeout=10,
                          data={"username": user, "password": password,
                                "csrf_token": csrf_token(page)})
    assert answer.status_code == 302, answer.text
    tokens = browser.get(live_stack.web + "/account/tokens", timeout=10)
    assert "/login" not in tokens.url, "the session cookie did not come back: signed out again"
    made = browser.post(live_stack.web + "/account/tokens", timeout=10,
                        data={"name": "deployed", "csrf_token": csrf_token(tokens.text)})
    token = re.search(r'<code id="new-token">([^<]+)</code>', made.text)
    assert token, made.text[-2000:]
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {token.group(1)}"
    client.pages = browser  # the pages take the session, never the token
    return client


@pytest.fixture(autouse=True)
def nothing_refused(live_stack):
    """After each test: no call was refused by its role, nothing unreadable, no limit passed."""
    before = len(live_stack.gate.denials())
    yield
    refused = live_stack.gate.denials()[before:]
    assert not refused, "refused as AWS would:\n" + "\n".join(map(str, refused))


def submit(stack, api, kind: str, params: dict) -> str:
    answer = api.post(stack.web + "/api/jobs", json={"kind": kind, "params": params}, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def finished(stack, api, job_id: str, timeout: float = 120) -> dict:
    def done():
        job = api.get(f"{stack.web}/api/jobs/{job_id}", timeout=10).json()
        return job if job["status"] in TERMINAL else None
    return deployed.wait_for(done, timeout, f"job {job_id} to finish")


def follow(api, url: str) -> requests.Response:
    """An API download: a redirect to a presigned URL, fetched as a browser would."""
    answer = api.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return requests.get(answer.headers["Location"], timeout=30)


def ecs_pools(live_stack) -> list[str]:
    return [w for w in WORKLOADS if not live_stack.on_lambda(w)]


@pytest.mark.parametrize("function", ["autoscaler", "import-upload", "nightly-export",
                                      *(f"worker-{p}" for p in pools.lambda_pools())])
def test_each_functions_environment_fits_lambdas_4_kb(live_stack, function):
    """Lambda refuses a function whose variables (with the secret resolved into them) pass 4 KB."""
    process = live_stack.processes[function]
    assert process.handler, f"{function} is not a Lambda function in this stack"
    env = process.environment
    assert sum(len(k.encode()) + len(v.encode()) for k, v in env.items()) <= 4096, env


def test_a_canary_runs_on_the_default_pool(live_stack, api):
    job = finished(live_stack, api, submit(live_stack, api, "canary", {}))
    assert job["status"] == "succeeded", job
    if live_stack.on_lambda("default"):
        # Run by the pool's function, one message per invocation, its outcome reported.
        assert job["worker"].startswith(f"lambda:{live_stack.stack.prefix}worker-default"), job
        # The job's row is done a moment before the invocation answers.
        ran = deployed.wait_for(lambda: live_stack.event_sources["default"].invocations, 30,
                                "the invocation to answer")
        assert all(len(i.event["Records"]) == 1 and i.error is None and
                           i.answer == {"batchItemFailures": []} for i in ran), ran


def test_the_pipeline_check_runs_for_an_operator_and_nobody_else(live_stack, api):
    assert requests.get(live_stack.web + "/healthz/pipeline", timeout=10).status_code == 401
    answer = api.get(live_stack.web + "/healthz/pipeline?timeout=30", timeout=40)
    assert answer.status_code == 200, answer.text


def test_a_pdf_batch_renders_and_its_documents_download(live_stack, api):
    rows = [{"name": f"顧客 {i}", "address": "東京都", "date": "2026-12-02", "subject": "お知らせ",
             "paragraph": "本文", "body": "本文"} for i in range(3)]
    job = finished(live_stack, api, submit(live_stack, api, "pdf_batch",
                                           {"template": "letter", "rows": rows}))
    failed = api.get(f"{live_stack.web}/api/jobs/{job['id']}/documents?status=failed", timeout=10)
    assert job["status"] == "succeeded", failed.text
    listing = api.get(f"{live_stack.web}/api/jobs/{job['id']}/documents", timeout=10).json()
    seq = listing["documents"][0]["seq"]
    document = follow(api, f"{live_stack.web}/api/jobs/{job['id']}/documents/{seq}/download")
    assert document.status_code == 200 and document.content.startswith(b"%PDF"), listing


def upload(live_stack, api, data: bytes) -> dict:
    """The browser's presigned POST, then the bucket's notification to the import Lambda."""
    answer = api.post(live_stack.web + "/api/imports/uploads", timeout=10,
                      json={"dataset": "customers", "filename": "customers.csv"})
    assert answer.status_code == 201, answer.text
    post = answer.json()["upload"]
    sent = requests.post(post["url"], data=post["fields"],
                         files={"file": ("customers.csv", data)}, timeout=30)
    assert sent.status_code in (200, 204), sent.text
    key = answer.json()["key"]
    head = live_stack.stack.client("s3").head_object(Bucket=live_stack.stack.outputs["BucketName"],
                                                    Key=key)
    event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                          "awsRegion": deployed.REGION, "eventName": "ObjectCreated:Post",
                          "s3": {"bucket": {"name": live_stack.stack.outputs["BucketName"]},
                                 "object": {"key": key, "size": len(data),
                                            "eTag": head["ETag"].strip('"')}}}]}
    outcome = live_stack.invoke("import-upload", event)
    assert len(outcome["started"]) == 1, outcome
    return finished(live_stack, api, outcome["started"][0])


def test_an_upload_imports_through_the_bucket_notification(live_stack, api):
    job = upload(live_stack, api, samples.customers_csv(200, encoding="cp932"))
    assert job["status"] == "succeeded", job
    assert job["result"]["rows_written"] == 200


def test_a_bad_file_leaves_an_error_report_the_user_can_download(live_stack, api):
    data = samples.customers_csv(20).replace(b"@", b" at ", 1)
    job = upload(live_stack, api, data)
    assert job["status"] == "failed", job
    report = follow(api, f"{live_stack.web}/api/jobs/{job['id']}/errors.csv")
    assert report.status_code == 200 and b"email" in report.content, report.text


def sent_mail(live_stack) -> list[email.message.Message]:
    found = []
    for process, call, body in live_stack.gate.requests:
        if call.service == "ses" and call.operation == "SendEmail":
            raw = json.loads(body)["Content"]["Raw"]["Data"]
            found.append((process, email.message_from_bytes(base64.b64decode(raw))))
    return found


def test_an_export_links_its_file_and_mails_its_owner_through_ses(live_stack, api):
    job = finished(live_stack, api, submit(live_stack, api, "export", {"dataset": "customers"}))
    assert job["status"] == "succeeded", job
    download = requests.get(job["result"]["url"], timeout=30)
    assert download.status_code == 200 and download.content.count(b"\n") >= 200
    mails = deployed.wait_for(lambda: [m for p, m in sent_mail(live_stack)
                                       if job["id"] in m.get_payload(decode=False).__str__()
                                       or job["id"] in str(m)], 30, "the export's e-mail")
    assert mails[0]["From"].endswith(SENDER + ">") or mails[0]["From"] == SENDER
    assert mails[0]["To"].endswith(OPERATOR[1] + ">") or mails[0]["To"] == OPERATOR[1]
    quota = live_stack.stack.client("ses").get_send_quota()
    assert quota["SentLast24Hours"] >= 1


def test_the_nightly_export_runs_from_its_schedules_own_input(live_stack, api):
    (raw,) = deployed.schedule_inputs().values()
    text = raw["Fn::Sub"] if isinstance(raw, dict) else raw
    fired = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)  # 02:00 in Tokyo
    event = json.loads(text.replace("<aws.scheduler.scheduled-time>",
                                    fired.isoformat().replace("+00:00", "Z")))
    outcome = live_stack.invoke("nightly-export", event)
    assert outcome["date"] == "2026-12-02" and outcome["queued"], outcome
    job = finished(live_stack, api, outcome["job_id"])
    assert job["status"] == "succeeded", job


def test_the_autoscaler_rounds_from_its_schedule_and_its_wake_queue(live_stack, api):
    stack = live_stack.stack
    ecs = stack.client("ecs")
    live_stack.invoke("autoscaler", {"source": "aws.events", "detail-type": "Scheduled Event",
                                     "detail": {}})
    submit(live_stack, api, "canary", {"sleep_seconds": 0})
    # The wake trigger: Lambda's poller reads the wake queue with the function's role.
    wake = live_stack.env(live_stack.processes["autoscaler"])
    poller = boto3.client("sqs", region_name=deployed.REGION, endpoint_url=wake["AWS_ENDPOINT_URL"],
                          aws_access_key_id=wake["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=wake["AWS_SECRET_ACCESS_KEY"])
    # The event source mapping knows the queue by its ARN; it never asks for the URL.
    url = f"{wake['AWS_ENDPOINT_URL']}/123456789012/{stack.prefix}wake.fifo"
    messages = deployed.wait_for(lambda: poller.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"), 30,
        "a wake signal")
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"], "eventSource": "aws:sqs", "awsRegion": deployed.REGION,
                "eventSourceARN": f"arn:aws:sqs:{deployed.REGION}:123456789012:{stack.prefix}wake.fifo"}
               for m in messages]
    decisions = live_stack.invoke("autoscaler", {"Records": records})
    for m in messages:
        poller.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    decided = {d["pool"]: d for d in decisions}
    # A pool on Lambda is its event source's to scale.
    assert set(decided) == set(ecs_pools(live_stack))
    pool = ecs_pools(live_stack)[0]
    services = ecs.describe_services(cluster=stack.outputs["ClusterName"],
                                     services=[f"{stack.prefix}worker-{pool}"])["services"]
    # What the round decided reached ECS under the autoscaler's role.
    assert services[0]["desiredCount"] == decided[pool]["desired"], decided[pool]


@pytest.mark.parametrize("pool", ["default", "exports"])
def test_a_message_no_worker_can_run_goes_to_its_dead_letter_queue_by_its_pools_role(
        live_stack, pool):
    stack = live_stack.stack
    sqs = stack.client("sqs")
    mark = f"not a task message {datetime.now(timezone.utc).isoformat()}"
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=stack.prefix + pool)["QueueUrl"],
                     MessageBody=mark)
    dead = sqs.get_queue_url(QueueName=f"{stack.prefix}{pool}-dlq")["QueueUrl"]

    def moved():
        found = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    VisibilityTimeout=0, MessageAttributeNames=["All"])
        return [m for m in found.get("Messages", []) if m["Body"] == mark]
    (message,) = deployed.wait_for(moved, 60, "the worker to dead-letter the message")
    assert message["MessageAttributes"]["dead-letter-reason"]["StringValue"]


def test_a_job_whose_task_was_never_sent_is_sent_by_the_web_apps_relay(live_stack, api,
                                                                        stack_db):
    from core.settings import normalise_database_url
    from store import db, jobstore, outbox
    with db.unit_of_work(db.sessions(normalise_database_url(stack_db))) as session:  # as a process dying after commit
        job, _ = jobstore.create(session, kind="canary", owner=OPERATOR[0], params={})
        outbox.add(session, job.id)
    settings = live_stack.processes["web"].environment
    bound = (float(settings.get("RELAY_AFTER_SECONDS", 30)) +
             float(settings.get("RELAY_INTERVAL", 10)) + 60)
    assert finished(live_stack, api, str(job.id), timeout=bound)["status"] == "succeeded"


def test_the_operator_page_reads_dead_letters_and_decisions_and_redrives(live_stack, api):
    page = api.pages.get(live_stack.web + "/operator/", timeout=30)
    assert page.status_code == 200 and "default" in page.text, page.text[-2000:]
    redrive = api.pages.post(live_stack.web + "/operator/queues/default/redrive", timeout=30,
                             allow_redirects=False, data={"csrf_token": csrf_token(page.text)})
    assert redrive.status_code in (302, 303), redrive.text[-2000:]


def test_flower_shows_every_pool_on_ecs_behind_its_sign_in(live_stack):
    flower = live_stack.processes["flower"]
    user, password = flower.environment["FLOWER_BASIC_AUTH"].split(":", 1)
    assert requests.get(live_stack.flower + "/api/workers", timeout=10).status_code == 401
    on_ecs = ecs_pools(live_stack)

    def online():
        found = requests.get(live_stack.flower + "/api/workers?status=1", auth=(user, password),
                             timeout=30).json()
        return found if sum(found.values()) >= len(on_ecs) else None
    deployed.wait_for(online, 60, "Flower to hear the workers")
    workers = requests.get(live_stack.flower + "/api/workers?refresh=1", auth=(user, password),
                           timeout=60).json()
    queues = {q["name"] for w in workers.values() for q in w.get("active_queues") or []}
    assert set(on_ecs) <= queues, workers


#: Statements no process of this tier can exercise, and why.
NOT_EXERCISED = {
    "Logs": "the Lambda service writes a function's logs, not its code",
    "VpcNetworking": "the Lambda service manages a function's network interfaces",
    "OwnTaskProtection": "called through the ECS agent ($ECS_AGENT_URI), which only ECS runs",
    "FailureDestination": "the Lambda service publishes a failed asynchronous invocation",
}


def statement_names(policies) -> list[tuple[str, int, str]]:
    return [(name, i, s.get("Sid", f"#{i}")) for name, doc in policies
            for i, s in enumerate(doc["Statement"])]


def without(policies, policy_name: str, index: int) -> tuple:
    out = []
    for name, doc in policies:
        statements = [s for i, s in enumerate(doc["Statement"])
                      if not (name == policy_name and i == index)]
        out.append((name, {**doc, "Statement": statements}))
    return tuple(out)


def test_every_statement_of_every_role_is_needed_by_some_call(live_stack):
    """Replays every call the tier made without each statement in turn: removing any one
    statement the code needs refuses a call, so the tier would fail without it."""
    from tests.support.aws_calls import Check
    from tests.support.iam_gate import Principal

    live_stack.stop()  # Flower and the workers clean up their monitoring queues on the way out
    by_role: dict[str, set] = {}
    principals = {p.name: p for p in live_stack.gate.principals.values()}
    for d in live_stack.gate.decisions:
        if d.outcome == "Allowed":
            by_role.setdefault(principals[d.process].role_arn, set()).add(
                (d.action, d.resource, json.dumps(d.context, sort_keys=True)))
    unused, needed = [], {}
    for principal in {p.role_arn: p for p in principals.values() if p.policies}.values():
        calls = by_role.get(principal.role_arn, set())
        for policy_name, index, sid in statement_names(principal.policies):
            trimmed = Principal(principal.name, principal.role_arn,
                                without(principal.policies, policy_name, index))
            refused = [c for c in sorted(calls) if live_stack.gate.evaluator.decide(
                trimmed, Check(c[0], c[1], json.loads(c[2])))["decision"] != "Allowed"]
            role = principal.role_arn.rsplit("/", 1)[-1]
            if refused:
                needed[(role, sid)] = refused[0][:2]
            elif sid not in NOT_EXERCISED:
                unused.append(f"{role} {policy_name} {sid}")
    print("\n".join(f"{role} {sid}: needed by {action} on {resource}"
                    for (role, sid), (action, resource) in sorted(needed.items())))
    assert not unused, "statements no call of the deployed stack needed:\n" + "\n".join(unused)
