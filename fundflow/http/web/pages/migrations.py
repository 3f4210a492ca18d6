"""The version migration page (admins): the plan of a declared migration, shown before it is
applied; apply it; the batches, each with its revert. The same use case as
``POST /api/v1/migrations`` and ``fundflow migrate``."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query

from fundflow.http.web.pages.common import Page, form_page, page
from fundflow.http.web.render import PageRoute
from fundflow.service.errors import InvalidInput
from fundflow.service.usecases import migration

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _declared(p: Page) -> list[dict]:
    return [
        {
            "definition": m.definition_id,
            "from_version": m.from_version,
            "to_version": m.to_version,
            "title": p.svc.registry.get(m.definition_id, m.to_version).title,
        }
        for m in p.svc.registry.migrations()
    ]


def _int(p: Page, name: str) -> int:
    raw = p.text(name)
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise InvalidInput(f"{name} 应为正整数", code="invalid_input", detail={"field": name})
    return int(raw)


@router.get("/migrations")
def migrations_page(
    p: Page = Depends(page),
    definition: str | None = Query(None, max_length=64),
    from_version: int | None = Query(None, alias="from", ge=1, le=10_000),
    to_version: int | None = Query(None, alias="to", ge=1, le=10_000),
):
    migration.require_admin(p.user)
    shown = None
    if definition and from_version and to_version:
        shown = migration.request(
            p.svc, p.user, "plan", now=p.now, definition=definition, from_version=from_version, to_version=to_version
        )
    return p.render(
        "migrations.html",
        {
            "active": "migrations",
            "declared": _declared(p),
            "plan": shown,
            "expected": json.dumps(shown["versions"]) if shown else "",
            "batches": migration.batches(p.svc),
            "report": None,
        },
    )


@router.post("/migrations/apply")
def migrations_apply(p: Page = Depends(form_page)):
    try:
        expected = {int(k): int(v) for k, v in json.loads(p.text("expected") or "{}").items()}
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput("迁移计划已损坏，请重新预览", code="invalid_input") from None
    report = p.write(
        migration.request,
        "apply",
        now=p.now,
        definition=p.text("definition"),
        from_version=_int(p, "from_version"),
        to_version=_int(p, "to_version"),
        expected=expected,
    )
    return _after(p, report, "已迁移")


@router.post("/migrations/{batch_id}/revert")
def migrations_revert(batch_id: int, p: Page = Depends(form_page)):
    report = p.write(migration.request, "revert", now=p.now, batch=batch_id)
    return _after(p, report, "已撤销")


def _after(p: Page, report: dict, verb: str):
    return p.render(
        "migrations.html",
        {
            "active": "migrations",
            "declared": _declared(p),
            "plan": None,
            "expected": "",
            "batches": migration.batches(p.svc),
            "report": report,
            "verb": verb,
        },
    )
