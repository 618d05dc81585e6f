"""The batch job's pure parts: its parameters, names and keys, and rates."""
from __future__ import annotations

import io
import re

import pytest

from core import pdfbatch
from core.errors import ConfigurationError, InvalidRequest, JobFailed
from core.ratelimit import Rate, parse_limits, parse_rate
from core.settings import Settings
from tasks.pdf import process, sources
from tasks.ratelimit import MemoryTokenBucket

LIMITS = pdfbatch.RecipientLimits.of(Settings())


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


class Bucket:
    """get_object of files held in memory, counting the bytes each body gave out."""

    def __init__(self, files: dict[str, bytes], sizes: dict[str, int] | None = None):
        self.files, self.sizes, self.read = files, sizes or {}, 0

    def get_object(self, Bucket: str, Key: str) -> dict:
        body, bucket = io.BytesIO(self.files[Key]), self

        class Body:
            def read(self, n=-1):
                data = body.read(n)
                bucket.read += len(data)
                return data

            def close(self):
                body.close()
        return {"Body": Body(), "ContentLength": self.sizes.get(Key, len(self.files[Key]))}


def read_csv(data: bytes, limits=LIMITS, sizes=None) -> list[dict]:
    bucket = Bucket({"r.csv": data}, {"r.csv": sizes} if sizes is not None else None)
    return list(sources.csv_rows(bucket, "b", "r.csv", limits))


def refusal(data: bytes, limits=LIMITS, sizes=None) -> str:
    with pytest.raises(JobFailed) as error:
        read_csv(data, limits, sizes)
    return str(error.value)


def test_a_recipients_file_with_a_thousand_long_headers_is_refused():
    header = ",".join(f"{n:04d}" + "x" * 996 for n in range(1000))
    data = "\r\n".join([header] + [",".join(["v"] * 1000)] * 200).encode()
    assert refusal(data) == ("r.csv line 1, column 101: more than the 100 columns a recipients "
                             "file may have (PDF_RECIPIENTS_MAX_COLUMNS); keep only those the "
                             "template uses")


def test_a_recipients_file_with_a_long_column_name_is_refused_at_its_column():
    data = ("name," + "x" * 101 + "\r\n山田,1\r\n").encode()
    assert refusal(data) == ("r.csv line 1, column 2: a column name of 101 characters, more "
                             "than the 100 characters allowed (PDF_RECIPIENTS_MAX_HEADER_CHARS)")


def test_a_recipients_file_with_a_long_value_is_refused_at_its_line_and_column():
    data = ("name,body\r\n山田,短い\r\n佐藤," + "長" * 20_001 + "\r\n").encode()
    assert refusal(data) == ("r.csv line 3, column 'body': a value of 20,001 characters, more "
                             "than the 20,000 characters allowed (PDF_RECIPIENTS_MAX_VALUE_CHARS)")


def test_a_recipients_value_beyond_csvs_own_limit_is_refused_by_its_setting():
    data = ("name,body\r\n山田,\"" + "x" * 200_000 + "\"\r\n").encode()
    message = refusal(data)
    # csv's own field limit is process-wide (an import may have raised it): either the
    # parser or the reader's own check refuses the value, in the same words.
    assert re.match(r"r\.csv line 2(, column 'body')?: a value of [0-9,]+\+? characters, more "
                    r"than the 20,000 characters allowed \(PDF_RECIPIENTS_MAX_VALUE_CHARS\)",
                    message), message


def test_a_recipients_file_larger_than_its_limit_is_refused_before_it_is_read():
    bucket = Bucket({"big.csv": b"name\r\n" + b"x\r\n" * 100})
    small = pdfbatch.RecipientLimits(**{**LIMITS.__dict__, "bytes": 100})
    with pytest.raises(JobFailed) as error:
        sources.csv_rows(bucket, "b", "big.csv", small)
    assert str(error.value) == ("big.csv is 306 bytes, larger than the 100 bytes a recipients "
                                "file may hold (PDF_RECIPIENTS_MAX_BYTES); split it into "
                                "several batches")
    assert bucket.read == 0


def test_a_recipients_body_longer_than_its_stated_size_is_cut_off_at_the_limit():
    small = pdfbatch.RecipientLimits(**{**LIMITS.__dict__, "bytes": 100})
    message = refusal(b"name\r\n" + b"x\r\n" * 100, small, sizes=10)
    assert message.startswith("r.csv is larger than the 100 bytes a recipients file may hold")


def test_a_recipients_file_with_more_rows_than_a_batch_may_have_is_refused_at_its_line():
    few = pdfbatch.RecipientLimits(**{**LIMITS.__dict__, "rows": 3})
    assert len(read_csv(b"name\r\na\r\nb\r\n\r\nc\r\n", few)) == 3
    assert refusal(b"name\r\na\r\nb\r\nc\r\nd\r\n", few) == (
        "r.csv line 5: more than 3 recipients, the most one batch may have "
        "(PDF_RECIPIENTS_MAX_ROWS); split them into several batches")


def test_inline_rows_beyond_the_batch_limit_are_refused_by_the_same_setting():
    few = pdfbatch.RecipientLimits(**{**LIMITS.__dict__, "rows": 2})
    rows = sources.rows({"rows": [{}, {}, {}]}, s3=None, bucket="b", session=None, tables=(),
                        limits=few)
    with pytest.raises(JobFailed, match=r"^params.rows item 3: more than 2 recipients.*"
                                        r"\(PDF_RECIPIENTS_MAX_ROWS\)"):
        list(rows)


def test_a_recipients_file_reads_as_dicts_of_its_columns():
    data = "name,date\r\n山田,11月\r\n佐藤\r\n".encode("cp932")
    assert read_csv(data) == [{"name": "山田", "date": "11月"}, {"name": "佐藤", "date": None}]


@pytest.mark.parametrize("template, kept", [
    ("letter", {"name", "date", "subject", "body", "address", "sender"}),
    ("statement", {"name", "address", "invoice_number", "issue_date", "due_date",
                   "issuer_name", "items"}),
])
def test_a_template_names_the_variables_it_reads(template, kept):
    assert process.renderer().variables(template) == kept


def test_a_recipient_keeps_only_what_its_template_reads():
    row = {"name": "山田", "items_json": "[]", "x" * 1000: "y" * 1000, "notes": "n"}
    assert pdfbatch.template_data(row, {"name", "items"}) == {"name": "山田", "items_json": "[]"}
    assert pdfbatch.template_data(row, None) == row
