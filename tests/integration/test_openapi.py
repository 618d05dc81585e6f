"""The OpenAPI document matches the app: every /api route is in it, and the app's
answers to generated requests (schemathesis) are never 5xx and fit the document."""
from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)
from schemathesis.checks import not_a_server_error

from webapp import create_app, openapi
from webapp.enqueue import MemoryEnqueuer
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
def api_app(settings, queue_urls):
    """The app on real PostgreSQL, SQS and S3 (moto); jobs are recorded, not sent.
    One app serves all of a test's examples (hence the suppressed health check)."""
    return create_app({"TESTING": True}, settings=settings, enqueuer=MemoryEnqueuer())


@schema.parametrize()
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_as_documented(case, api_app):
    case.call_and_validate(app=api_app, headers=bearer("ops"), checks=CHECKS)
