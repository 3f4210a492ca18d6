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


def test_0012_marks_the_earlier_transfers_accepted_and_downgrades(services, world):
    """0012 adds the transfer's decision (a transfer made before it took effect at once: accepted)
    and a 督办 reply's documents; its downgrade drops them, and upgrading again gives the schema."""
    from sqlalchemy import inspect, text

    from fundflow.domain.tz import SHANGHAI
    from tests.support.flows import Flow

    flow = Flow(world)
    case_id = flow.open()
    try:
        _downgrade(services.db, "0011")
        assert "status" not in {c["name"] for c in inspect(services.db).get_columns("case_transfers")}
        assert "reply_documents" not in {c["name"] for c in inspect(services.db).get_columns("supervisions")}
        with services.db.begin() as conn:  # a transfer as the code before 0012 wrote it
            conn.execute(
                text(
                    "INSERT INTO case_transfers (case_id, role, level, from_org_id, from_org_name, to_org_id,"
                    " to_org_name, reason, transferred_by, transferred_at, event_seq) VALUES (:c, 'street_office',"
                    " 'street_office', :f, '月塘街道', :t, '建宁街道', '误报', :u, :at, 2)"
                ),
                {
                    "c": case_id,
                    "f": world.ids["office_yt"],
                    "t": world.ids["office_jn"],
                    "u": world.ids["user_so"],
                    "at": flow.now.astimezone(SHANGHAI),
                },
            )
    finally:
        upgrade(services.db)
    with services.db.connect() as conn:
        assert conn.execute(text("SELECT status FROM case_transfers")).scalars().all() == ["accepted"]
    test_migrated_schema_matches_the_tables(services)
