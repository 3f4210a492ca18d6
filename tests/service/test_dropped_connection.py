"""A pooled connection that died (server restart, idle timeout, a killed backend) is not
pinged at checkout: the transition that finds it dead runs once more on a fresh connection,
and answers as if nothing had happened. Nothing is written twice."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from fundflow.service.audit import verify_all
from fundflow.service.db import transaction
from tests.support.flows import event_count


def _kill_pooled_connections(svc) -> None:
    """Break every connection the pool holds, the way a dropped server connection breaks it:
    the pool does not know until it uses them."""
    held = [svc.db.raw_connection() for _ in range(svc.db.pool.checkedin())]
    pids = []
    for c in held:
        cur = c.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pids.append(cur.fetchone()[0])
        cur.close()
        c.commit()
    for c in held:
        c.close()  # back to the pool, alive
    killer = create_engine(svc.db.url, poolclass=NullPool)
    with killer.connect() as conn:
        for pid in pids:  # with a timeout, it waits until the backend is gone
            conn.execute(text("SELECT pg_terminate_backend(:p, 10000)"), {"p": pid})
    killer.dispose()


@pytest.mark.postgresql_only  # a server connection; SQLite's is a file handle in this process
def test_a_transition_on_a_dropped_connection_recovers(world, flow):
    svc = world.svc
    case_id = flow.open()
    flow.doc(case_id, "hazard_photos", "fire_notice")
    before = event_count(svc, case_id)
    _kill_pooled_connections(svc)
    assert svc.db.pool.checkedin() >= 1
    body = flow.fire(
        "fr",
        case_id,
        "confirm_major",
        {"notice_no": "株消隐字〔2026〕9号", "finding_route": "direct", "hazard_elements": "消防给水设施损坏"},
    )
    assert body["state"] == "site_survey"
    assert event_count(svc, case_id) == before + 1
    with transaction(svc.sessions) as s:
        checked, breaks = verify_all(s)
    assert checked >= 1 and breaks == []
