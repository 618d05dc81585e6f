"""Fixtures shared by the integration tests of imports and exports."""
from __future__ import annotations

import pytest
from sqlalchemy import text


def _drop_customers(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS customers"))
        conn.execute(text("DROP FUNCTION IF EXISTS slow_row() CASCADE"))
        conn.execute(text("TRUNCATE import_uploads"))


@pytest.fixture
def clean_imports(engine):
    """No customers table and no recorded uploads, before and after the test."""
    _drop_customers(engine)
    yield
    _drop_customers(engine)  # the schema test compares tables with the models
