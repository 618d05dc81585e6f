"""The OpenAPI document matches the app: every /api route is in it, and the app's
answers to generated requests (schemathesis) are never 5xx and fit the document."""
from __future__ import annotations

import os
import re
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)
from schemathesis.checks import not_a_server_error

from core import csvimport
from tasks.imports.samples import customers_csv
from tasks.pdf.samples import statement
from webapp import create_app, openapi
from core.enqueue import MemoryEnqueuer
from tests.support.accounts import bearer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# A fixed search keeps the suite's run short and repeatable; API_FUZZ_EXAMPLES=300 (for
# example) searches longer and with fresh randomness.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))


def _methods(rule) -> set[str]:
    return {m.lower() for m in rule.methods} - {"head", "options"}


def test_every_api_route_is_in_the_document_and_nothing_else(app, anonymous):
    answer = anonymous.get("/api/openapi.json")
    assert answer.status_code == 200, "the document needs no token"
    paths = answer.get_json()["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item
                  if method != "parameters"}
    routed = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in _methods(rule)}
    assert routed - documented == set(), "routes missing from webapp/openapi.yaml"
    assert documented - routed == set(), "documented operations the app does not have"


schema = schemathesis.openapi.from_dict(openapi.document())
schema.config.generation.update(max_examples=MAX_EXAMPLES,
                                deterministic="API_FUZZ_EXAMPLES" not in os.environ,
                                with_security_parameters=False, database="none",
                                allow_x00=True)


@pytest.fixture
def api_app(settings, queue_urls, s3):
    """The app on real PostgreSQL, SQS and S3 (moto), and ``ops``'s jobs of every kind for
    the job routes to find; jobs are recorded, not sent. One app serves all of a test's
    examples (hence the suppressed health check)."""
    app = create_app({"TESTING": True}, settings=settings, enqueuer=MemoryEnqueuer())
    return app, _seed_jobs(app.test_client(), settings, s3)


def _seed_jobs(client, settings, s3) -> list[str]:
    def made(answer) -> str:
        assert answer.status_code == 202, answer.get_json()
        return answer.get_json()["id"]

    ops = bearer("ops")
    canary = made(client.post("/api/jobs", headers=ops, json={"kind": "canary"}))
    client.post(f"/api/jobs/{canary}/cancel", headers=ops)
    batch = made(client.post("/api/jobs", headers=ops, json={
        "kind": "pdf_batch", "params": {"template": "statement", "rows": [statement(1)]}}))
    export = made(client.post("/api/jobs", headers=ops, json={
        "kind": "export", "params": {"dataset": "customers"}}))
    imported = made(client.post("/api/imports/direct?dataset=customers", headers=ops,
                                data=customers_csv(3), content_type="text/csv"))
    s3.put_object(Bucket=settings.bucket, Key=csvimport.report_key(imported),
                  Body="\ufeffline,column,value,message\r\n3,email,x,not an e-mail address\r\n"
                       "file,,,not a CSV\r\n".encode())
    return [canary, batch, export, imported]


@schema.parametrize()
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_as_documented(case, api_app):
    app, jobs = api_app
    if "job_id" in (case.path_parameters or {}):
        case.path_parameters["job_id"] = _some_job(case.path_parameters["job_id"], jobs)
    case.call_and_validate(app=app, headers=bearer("ops"), checks=CHECKS)


def _some_job(generated: str, jobs: list[str]) -> str:
    """Most of the time an existing job (the generated id is only ever a 404), chosen by
    the generated value so that a run stays repeatable."""
    pick = zlib.crc32(str(generated).encode()) % (len(jobs) + 1)
    return jobs[pick] if pick < len(jobs) else generated
