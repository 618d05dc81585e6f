"""The batch job's pure parts: its parameters, names and keys, and rates."""
from __future__ import annotations

import pytest

from core import pdfbatch
from core.errors import ConfigurationError, InvalidRequest
from core.ratelimit import Rate, parse_limits, parse_rate
from core.settings import Settings
from tasks.pdf import process
from tasks.ratelimit import MemoryTokenBucket


@pytest.mark.parametrize("params, field", [
    ({"rows": [{}]}, "params.template"),
    ({"template": "invoice", "rows": [{}]}, "params.template"),
    ({"template": "letter"}, "params"),
    ({"template": "letter", "rows": [{}], "csv": "a.csv"}, "params"),
    ({"template": "letter", "rows": []}, "params.rows"),
    ({"template": "letter", "rows": [{}, "x"]}, "params.rows[1]"),
    ({"template": "letter", "csv": ""}, "params.csv"),
    ({"template": "letter", "table": "jobs; DROP TABLE jobs"}, "params.table"),
    ({"template": "letter", "rows": [{}], "colour": "red"}, "params.colour"),
])
def test_a_bad_batch_request_names_the_field_to_fix(params, field):
    with pytest.raises(InvalidRequest) as error:
        pdfbatch.validate(params)
    assert error.value.field == field


@pytest.mark.parametrize("params", [
    {"template": "statement", "rows": [{"name": "山田"}]},
    {"template": "letter", "csv": "uploads/recipients.csv"},
    {"template": "letter", "table": "customers"},
])
def test_a_good_batch_request_passes_unchanged(params):
    assert pdfbatch.validate(params) == params


def test_document_keys_depend_only_on_job_and_number():
    assert pdfbatch.document_key("j1", 7) == pdfbatch.document_key("j1", 7) == "pdf/j1/000007.pdf"


@pytest.mark.parametrize("recipient, name", [
    ("山田 太郎", "000008-山田太郎.pdf"),
    ("../../etc/passwd", "000008-....etcpasswd.pdf"),
    ("", "000008.pdf"),
])
def test_file_names_keep_japanese_and_drop_path_characters(recipient, name):
    assert pdfbatch.file_name(7, recipient) == name


def test_chunks_cover_every_document_once():
    bounds = [pdfbatch.chunk_bounds(pdfbatch.chunk_of(seq, 20), 20) for seq in (0, 19, 20, 45)]
    assert bounds == [(0, 20), (0, 20), (20, 40), (40, 60)]


@pytest.mark.parametrize("text, rate", [("600/m", Rate(600, 60)), ("10/s", Rate(10, 1)),
                                        ("5", Rate(5, 1)), ("7200/h", Rate(7200, 3600))])
def test_rates_read_like_celery_rate_limits(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text, rate", [("10/minute", Rate(10, 60)), ("30/minutes", Rate(30, 60)),
                                        ("5/hour", Rate(5, 3600)), ("2/sec", Rate(2, 1))])
def test_rates_may_name_their_unit_in_words(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["10/ms", "10/minutely", "10/day", "0/minute"])
def test_a_rate_with_an_unknown_unit_says_what_a_rate_looks_like(text):
    with pytest.raises(ValueError, match="10/minute"):
        parse_rate(text)


@pytest.mark.parametrize("pairs", [["pdf_batch"], ["pdf_batch=fast"], ["=10/s"], ["x=0/s"]])
def test_a_malformed_limit_names_its_variable(pairs):
    with pytest.raises(ConfigurationError, match="CLUSTER_RATE_LIMITS"):
        parse_limits(pairs, "CLUSTER_RATE_LIMITS")


def test_a_token_bucket_grants_its_burst_then_one_token_per_interval():
    now = [0.0]
    bucket = MemoryTokenBucket(parse_rate("2/s"), clock=lambda: now[0])
    assert [bucket.take().granted for _ in range(3)] == [True, True, False]
    assert bucket.take().wait == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take().granted and not bucket.take().granted


@pytest.mark.parametrize("limits, chunk_size, celery_rate", [
    ({"pdf_batch": "600/m"}, 20, "30/m"),
    ({"pdf_batch": "10/s"}, 4, "2.5/s"),
    ({"pdf_batch": "7200/h"}, 1, "7200/h"),
    ({"canary": "1/s"}, 20, None),
    ({}, 20, None),
])
def test_the_per_worker_limit_is_per_kind_and_counted_in_documents(limits, chunk_size,
                                                                   celery_rate):
    settings = Settings(worker_rate_limits=limits, pdf_chunk_size=chunk_size)
    assert process.chunk_rate_limit(settings) == celery_rate


def test_an_uploaded_recipients_file_gets_a_fresh_key_with_a_safe_name():
    first = pdfbatch.recipients_key("../宛先 一覧.csv", "alice")
    second = pdfbatch.recipients_key(None, "alice")
    assert first.startswith("pdf/recipients/alice/") and first.endswith("/宛先_一覧.csv")
    assert ".." not in first and second.endswith("/recipients.csv")
    assert pdfbatch.recipients_key("a.csv", "alice") != pdfbatch.recipients_key("a.csv", "alice")
