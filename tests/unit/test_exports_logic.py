"""Exports without their machinery: specs, request checks, the query, encodings, e-mail."""
from __future__ import annotations

import codecs
from datetime import date
from decimal import Decimal
from email import message_from_bytes, policy

import pytest

from core import exports, mail
from core.datasets import spec_named
from core.errors import ConfigurationError, InvalidRequest
from core.exportspecs import SpecColumn, available, load_export_spec
from core.provision import lifecycle_rules
from core.settings import Settings
from tasks.csvout import Encoder, Gzip, to_cp932


@pytest.mark.parametrize("cell, shown", [
    ("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+81 3 1234", "'+81 3 1234"), ("-2+3", "'-2+3"),
    ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""),
    ("佐藤", "佐藤"), (" =1", " =1"),
])
def test_cells_a_spreadsheet_would_run_get_a_leading_apostrophe(cell, shown):
    assert exports.neutralize(cell) == shown


def test_the_query_neutralises_text_columns_only_and_binds_every_value():
    spec = load_export_spec("customers")
    filters = exports.parse_filters(spec, [
        {"column": "gender", "op": "in", "value": ["女性", "x'); DROP TABLE jobs; --"]},
        {"column": "balance", "op": "gte", "value": "-10.5"}])
    query, params = exports.select_sql(spec, ["points", "note", "balance"], filters, True)
    text = query.as_string(None)
    assert text == ('SELECT "points", CASE WHEN ascii("note") IN (61, 43, 45, 64, 9, 13) '
                    "THEN '''' || \"note\" ELSE \"note\" END, \"balance\" FROM \"customers\" "
                    'WHERE "gender" = ANY(%s) AND "balance" >= %s ORDER BY "customer_code"')
    assert params[0][1] == "x'); DROP TABLE jobs; --" and str(params[1]) == "-10.5"
    plain, _ = exports.select_sql(spec, ["note"], [], False)
    assert plain.as_string(None) == 'SELECT "note" FROM "customers" ORDER BY "customer_code"'


def test_a_filter_number_of_half_a_million_digits_is_refused_before_the_export_runs():
    spec = load_export_spec("customers")
    with pytest.raises(InvalidRequest, match="at most 1,000") as error:
        exports.parse_filters(spec, [{"column": "balance", "op": "gte", "value": "9" * 512_000}])
    assert error.value.field == "params.filters[0].value"
    with pytest.raises(InvalidRequest, match="at most 1,000"):
        exports.parse_filters(spec, [{"column": "gender", "op": "in", "value": ["x" * 1001]}])


def test_cp932_maps_jis_variants_and_refuses_or_replaces_what_it_cannot_hold():
    assert to_cp932("〜−‖") == "～－∥".encode("cp932")
    with pytest.raises(UnicodeEncodeError) as error:
        to_cp932("髙橋 𠮷")
    assert error.value.start == 3
    assert to_cp932("𠮷野", "replace") == "?野".encode("cp932")


def test_the_encoder_carries_a_character_split_between_blocks():
    encoder = Encoder("cp932")
    data = "佐藤,①\n".encode("utf-8")
    out = encoder.encode(data[:4]) + encoder.encode(data[4:], final=True)
    assert out.decode("cp932") == "佐藤,①\n"
    assert Encoder("utf-8-sig").start() == codecs.BOM_UTF8 and Encoder("utf-8").start() == b""


def test_gzip_blocks_make_one_stream():
    import gzip
    packer = Gzip()
    assert gzip.decompress(packer.encode(b"a,b\n") + packer.encode(b"1,2\n", final=True)) \
        == b"a,b\n1,2\n"


def test_the_shipped_specs_load():
    assert {"customers", "jobs"} <= set(available())
    spec = load_export_spec("customers")  # from the import spec: one declaration serves both
    assert spec.column_names == spec_named("customers").column_names
    assert spec.column("note") == SpecColumn("note", "note", "text", ("eq", "in", "like"))
    assert spec.key == ("customer_code",) and spec.table == "customers"
    assert load_export_spec("jobs").table == "jobs"


IMPORT_SPEC = """
[dataset]
name = "orders"
table = "shop_orders"
key = ["shop", "order_no"]
description = "Orders by shop."

[[columns]]
name = "order_no"
type = "integer"
required = true
aliases = ["注文番号"]

[[columns]]
name = "shop"
[[columns]]
name = "buyer_email"
type = "email"
[[columns]]
name = "total"
type = "decimal"
[[columns]]
name = "ordered_on"
type = "date"
[[columns]]
name = "paid"
type = "boolean"
"""


@pytest.fixture
def folders(tmp_path):
    imports, exports_dir = tmp_path / "datasets", tmp_path / "datasets" / "exports"
    exports_dir.mkdir(parents=True)
    (imports / "orders.toml").write_text(IMPORT_SPEC, encoding="utf-8")
    return {"folder": exports_dir, "datasets_dir": imports}


def test_an_import_spec_exports_as_its_table_columns_and_key(folders):
    spec = load_export_spec("orders", **folders)
    assert (spec.name, spec.table, spec.view) == ("orders", "shop_orders", None)
    assert spec.key == ("shop", "order_no") and spec.description == "Orders by shop."
    assert [(c.name, c.header, c.type) for c in spec.columns] == [
        ("order_no", "order_no", "integer"), ("shop", "shop", "text"),
        ("buyer_email", "buyer_email", "text"), ("total", "total", "numeric"),
        ("ordered_on", "ordered_on", "date"), ("paid", "paid", "boolean")]
    assert {c.name: c.filters for c in spec.columns} == {
        "order_no": ("eq", "in", "gte", "lte"), "shop": ("eq", "in", "like"),
        "buyer_email": ("eq", "in", "like"), "total": ("eq", "in", "gte", "lte"),
        "ordered_on": ("eq", "in", "gte", "lte"), "paid": ("eq",)}


def test_available_is_export_specs_and_import_specs(folders):
    (folders["folder"] / "sales.toml").write_text(
        'view = "SELECT 1 AS n"\n[[columns]]\nname = "n"\ntype = "integer"\n')
    assert available(**folders) == ["orders", "sales"]
    assert load_export_spec("sales", **folders).view == "SELECT 1 AS n"


def test_an_export_spec_file_wins_over_the_import_spec_of_the_same_name(folders):
    (folders["folder"] / "orders.toml").write_text(
        'table = "shop_orders"\nkey = ["order_no"]\n[[columns]]\nname = "order_no"\n'
        'header = "注文番号"\ntype = "integer"\nfilters = ["eq"]\n', encoding="utf-8")
    assert available(**folders) == ["orders"]
    spec = load_export_spec("orders", **folders)
    assert spec.column_names == ("order_no",) and spec.columns[0].header == "注文番号"


def test_a_dataset_nobody_declares_is_named_with_where_it_was_looked_for(folders):
    with pytest.raises(ConfigurationError) as error:
        load_export_spec("salaries", **folders)
    assert "no dataset 'salaries'" in str(error.value) and "salaries.toml" in str(error.value)


def test_a_derived_spec_checks_filters_by_the_import_type(folders):
    spec = load_export_spec("orders", **folders)
    parsed = exports.parse_filters(spec, [
        {"column": "total", "op": "gte", "value": "-10.5"},
        {"column": "paid", "op": "eq", "value": True},
        {"column": "ordered_on", "op": "in", "value": ["2026-11-01"]},
        {"column": "buyer_email", "op": "like", "value": "%@example.jp"}])
    assert [f.value for f in parsed] == [Decimal("-10.5"), True, [date(2026, 11, 1)],
                                         "%@example.jp"]
    with pytest.raises(InvalidRequest, match="'lte' is not allowed on paid; use one of: eq"):
        exports.parse_filters(spec, [{"column": "paid", "op": "lte", "value": True}])
    with pytest.raises(InvalidRequest, match="'like' is not allowed on total"):
        exports.parse_filters(spec, [{"column": "total", "op": "like", "value": "1%"}])


@pytest.mark.parametrize("body, words", [
    ('table = "t"\nview = "SELECT 1"\n[[columns]]\nname = "a"', "exactly one of table or view"),
    ('table = "t; drop"\n[[columns]]\nname = "a"', "not a plain table name"),
    ('view = "DELETE FROM t"\n[[columns]]\nname = "a"', "one SELECT statement"),
    ('table = "t"', "at least one [[columns]]"),
    ('table = "t"\n[[columns]]\nname = "a"\ntype = "money"', "type 'money' is not one of"),
    ('table = "t"\n[[columns]]\nname = "a"\ntype = "integer"\nfilters = ["like"]',
     "filter 'like' is not allowed on a integer column"),
    ('table = "t"\n[[columns]]\nname = "a"\n[[columns]]\nname = "a"', "declared twice"),
    ('table = "t"\nkey = ["b"]\n[[columns]]\nname = "a"', "key column 'b'"),
    ('table = "t"\n[[columns]\n', "t.toml"),
])
def test_a_malformed_spec_file_is_named_with_what_is_wrong(tmp_path, body, words):
    (tmp_path / "t.toml").write_text(body)
    with pytest.raises(ConfigurationError) as error:
        load_export_spec("t", tmp_path)
    assert words in str(error.value) and "t.toml" in str(error.value)


def test_a_request_gets_its_defaults():
    assert exports.validate({"dataset": "jobs"}) == {
        "dataset": "jobs", "columns": ["id", "kind", "owner", "status", "created_at",
                                       "finished_at"],
        "filters": [], "encoding": "utf-8", "unencodable": "error", "gzip": False}
    assert exports.validate({"dataset": "jobs", "neutralize_formulas": False})[
        "neutralize_formulas"] is False


@pytest.mark.parametrize("params, field, words", [
    ({"dataset": "customers", "sheet": 1}, "params.sheet", "is not a parameter"),
    ({}, "params.dataset", "must be one of: customers, flights, jobs"),
    ({"dataset": "customers", "columns": []}, "params.columns", "non-empty list"),
    ({"dataset": "customers", "columns": ["name", "name"]}, "params.columns", "twice"),
    ({"dataset": "customers", "filters": {"gender": "x"}}, "params.filters", "must be a list"),
    ({"dataset": "customers", "filters": [{"column": "note", "op": "gte", "value": "x"}]},
     "params.filters[0].op", "'gte' is not allowed on note; use one of: eq, in, like"),
    ({"dataset": "customers", "filters": [{"column": "secret", "op": "eq", "value": 1}]},
     "params.filters[0].column", "'secret' cannot be filtered on"),
    ({"dataset": "customers", "filters": [{"column": "customer_code", "op": "in",
                                           "value": []}]},
     "params.filters[0].value", "list of 1-1000 values"),
    ({"dataset": "customers", "filters": [{"column": "points", "op": "in", "value": [1, "2"]}]},
     "params.filters[0].value[1]", "'2' is not a whole number (column points)"),
    ({"dataset": "customers", "filters": [{"column": "balance", "op": "gte", "value": "NaN"}]},
     "params.filters[0].value", "is not a number"),
    ({"dataset": "customers", "filters": [{"column": "registered_on", "op": "lte",
                                           "value": "2026-02-30"}]},
     "params.filters[0].value", "is not a date (YYYY-MM-DD) (column registered_on)"),
    ({"dataset": "customers", "filters": [{"column": "customer_code", "op": "eq"}]},
     "params.filters[0]", "exactly column, op and value"),
    ({"dataset": "customers", "encoding": "shift_jis"}, "params.encoding", "utf-8, utf-8-sig, cp932"),
    ({"dataset": "customers", "gzip": "yes"}, "params.gzip", "true or false"),
])
def test_a_bad_request_names_the_field_and_what_to_change(params, field, words):
    with pytest.raises(InvalidRequest) as error:
        exports.validate(params)
    assert error.value.field == field and words in error.value.message


def test_the_owner_address_is_the_owner_or_owner_at_the_domain():
    assert mail.address_for("hanako@example.jp", "corp.example") == "hanako@example.jp"
    assert mail.address_for("hanako", "corp.example") == "hanako@corp.example"


def test_the_email_tells_the_outcome_counts_and_link(tmp_path):
    job = {"id": "j1", "kind": "export", "status": "succeeded", "total": 3, "done": 3,
           "failed": 0, "error": None,
           "result": {"dataset": "customers", "rows": 3, "url": "http://x/f.csv",
                      "filename": "customers.csv", "url_expires_at": "2026-11-24T00:00:00"}}
    mail.FileMailer(tmp_path).send(mail.compose(job, "jobsys@localhost", "a@b.example"))
    (path,) = tmp_path.glob("*.eml")
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg["Subject"] == "Your export job of customers finished" and msg["To"] == "a@b.example"
    body = msg.get_content()
    assert "Rows: 3" in body and "http://x/f.csv" in body and "3 done, 0 failed of 3" in body


def test_generated_files_expire_and_links_never_outlive_them():
    settings = Settings(file_retention_days=2, export_link_seconds=604800)
    rules = lifecycle_rules(settings)["Rules"]
    assert {r["Filter"]["Prefix"] for r in rules} == {"exports/", "pdf/"}
    assert all(r["Expiration"]["Days"] == 2 for r in rules)
    assert settings.link_seconds(settings.export_link_seconds) == 2 * 86400
    assert settings.link_seconds(3600) == 3600
