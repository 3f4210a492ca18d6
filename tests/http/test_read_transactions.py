"""A page or an API read is ONE read transaction (the caller's token, the menu's count and the
page's rows read together); an htmx action is one write transaction, then one read.

Counted on the engine: every ``begin`` is one transaction, read-only when the read models'
``Reader`` (``fundflow.service.db.read_only``) opened it."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from fundflow.service.db import READ_ONLY
from tests.support.web import Web, csrf_of


@contextmanager
def transactions(web: Web):
    seen: list[str] = []

    def on_begin(conn):
        seen.append("read" if conn.get_execution_options().get(READ_ONLY) else "write")

    event.listen(web.svc.db, "begin", on_begin)
    try:
        yield seen
    finally:
        event.remove(web.svc.db, "begin", on_begin)


def test_a_case_page_is_one_read_transaction(web):
    case_id = web.flow.open(title="1栋消防水泵无法启动")
    client = web.as_("so")
    client.get(f"/cases/{case_id}")  # warm: nothing cached is counted
    with transactions(web) as seen:
        r = client.get(f"/cases/{case_id}")
    assert r.status_code == 200 and "1栋消防水泵无法启动" in r.text
    assert seen == ["read"]


def test_the_api_case_read_is_one_read_transaction(web):
    case_id = web.flow.open(title="1栋消防水泵无法启动")
    with transactions(web) as seen:
        r = web.world.client.get(f"/api/v1/cases/{case_id}", headers=web.world.h("so"))
    assert r.status_code == 200 and r.json()["id"] == case_id
    assert seen == ["read"]


def test_the_other_pages_are_one_read_transaction_each(web):
    case_id = web.flow.open(title="1栋消防水泵无法启动")
    client = web.as_("so")
    for path in ("/", "/cases", "/alerts", "/dashboard", f"/cases/{case_id}", "/cases/new"):
        with transactions(web) as seen:
            r = client.get(path)
        assert r.status_code == 200, path
        assert seen == ["read"], path


def test_an_htmx_action_is_one_write_then_one_read(web):
    case_id = web.flow.open(title="1栋消防水泵无法启动")
    client = web.as_("fr")
    csrf = csrf_of(client.get(f"/cases/{case_id}").text)
    with transactions(web) as seen:
        r = client.post(
            f"/cases/{case_id}/actions/not_major",
            data={"csrf_token": csrf, "reason": "经现场核查不构成重大火灾隐患"},
            headers={"HX-Request": "true"},
        )
    assert r.status_code == 200 and "<html" not in r.text
    # the caller and the action's fields; the write; the part of the page that changed
    assert seen == ["read", "write", "read"]
    with transactions(web) as seen:
        after = web.world.client.get(f"/api/v1/cases/{case_id}", headers=web.world.h("fr")).json()
    assert after["terminal"] and seen == ["read"]
