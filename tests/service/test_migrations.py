"""Migrations create exactly the tables the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from fundflow.service.migrate import check_current, head_revision, upgrade
from fundflow.service.tables import metadata


def test_migrated_schema_matches_the_tables(services):
    with services.db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    assert check_current(services.db) == head_revision()


def test_upgrading_twice_changes_nothing(services):
    upgrade(services.db)
    assert check_current(services.db) == head_revision()
