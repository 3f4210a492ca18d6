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


def _downgrade(engine, revision: str) -> None:
    from alembic import command

    from fundflow.service.migrate import alembic_config

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _stage_indexes(engine) -> set[str]:
    from sqlalchemy import inspect

    return {ix["name"] for ix in inspect(engine).get_indexes("stages")}


def test_0007_drops_the_unused_stage_indexes_and_downgrades(services):
    """0007 drops the (left_at, warn_at) and (left_at, escalate_at) indexes, which no query
    uses; its downgrade puts them back, and upgrading again gives the declared schema."""
    unused = {"ix_stages_open_warn", "ix_stages_open_escalate"}
    assert not unused & _stage_indexes(services.db)
    try:
        _downgrade(services.db, "0006")
        assert check_current(services.db) == "0006"
        assert unused <= _stage_indexes(services.db)
    finally:
        upgrade(services.db)
    assert not unused & _stage_indexes(services.db)
    assert {"ix_stages_open_due", "ix_stages_open_next_alert"} <= _stage_indexes(services.db)
    test_migrated_schema_matches_the_tables(services)
