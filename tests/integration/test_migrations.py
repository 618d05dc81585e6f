"""The migrations build exactly the schema the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from store import models


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _ours})
        diff = compare_metadata(context, models.Base.metadata)
    assert diff == []


def _ours(name, type_, parent_names):
    return not (type_ == "table" and name in ("alembic_version", "test_executions"))
