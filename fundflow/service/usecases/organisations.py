"""Organisations of the kinds the definitions declare (``organisations:``): city departments,
bureaus, hotline centers; and the assignment of a case to one (an organisation field: 派单).

A case assigned to an organisation is held by it (``Case.organisation_id``); every organisation
that held it stays in ``Case.handled_by`` and ``case_organisations`` (what a ``sees: handled``
organisation sees)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Conflict, InvalidInput
from fundflow.service.tables import Case, CaseOrganisation, Organisation

__all__ = [
    "add_organisation",
    "list_organisations",
    "organisations_of",
    "hold",
    "check_organisation",
    "assign_by_fields",
]


def add_organisation(svc: Services, *, kind: str, code: str, name: str, now: datetime) -> dict[str, Any]:
    kinds = svc.registry.organisation_kinds()
    if kind not in kinds:
        raise InvalidInput(f"未知单位类型：{kind}", code="unknown_organisation_kind", detail={"kinds": sorted(kinds)})
    code, name = (code or "").strip(), (name or "").strip()
    if not code or len(code) > 32 or not name or len(name) > 128:
        raise InvalidInput("单位编码（不超过 32 字）和名称（不超过 128 字）不能为空", code="invalid_organisation")
    with transaction(svc.sessions) as s:
        if s.exec(select(Organisation).where(Organisation.code == code)).first():
            raise Conflict(f"单位编码 {code} 已存在", code="duplicate_organisation")
        row = Organisation(kind=kind, code=code, name=name, created_at=now)
        s.add(row)
        s.flush()
        return view(row, kinds[kind].label)


def view(row: Organisation, kind_label: str = "") -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "kind_label": kind_label, "code": row.code, "name": row.name}


def organisations_of(s: Session, kind: str) -> list[dict[str, Any]]:
    rows = s.exec(select(Organisation).where(Organisation.kind == kind).order_by(Organisation.code)).all()
    return [view(r) for r in rows]


def list_organisations(svc: Services, kind: str | None = None) -> list[dict[str, Any]]:
    with read_only(svc.sessions) as s:
        stmt = select(Organisation).order_by(Organisation.kind, Organisation.code)
        if kind is not None:
            stmt = stmt.where(Organisation.kind == kind)
        kinds = svc.registry.organisation_kinds()
        return [view(r, kinds[r.kind].label if r.kind in kinds else r.kind) for r in s.exec(stmt).all()]


def check_organisation(s: Session, org_id: int, kind: str, label: str) -> Organisation:
    """The organisation an organisation field names: it exists and is of the field's kind."""
    row = s.get(Organisation, org_id)
    if row is None or row.kind != kind:
        raise InvalidInput(f"{label}：找不到该单位", code="unknown_organisation", detail={"organisation_id": org_id})
    return row


def hold(s: Session, case: Any, org_id: int, now: datetime) -> None:
    """The case is now held by ``org_id``: its current organisation, and one of those that
    handled it (both the case row's list and the indexed pairs)."""
    case.organisation_id = org_id
    if org_id not in (case.handled_by or []):
        case.handled_by = [*(case.handled_by or []), org_id]
        s.add(CaseOrganisation(case_id=case.id, organisation_id=org_id, since=now))


def assign_by_fields(
    s: Session, d: Any, trigger: str, source: str | None, values: dict, case: Any, now: datetime
) -> dict:
    """An act's organisation fields (``type: organisation``) assign the case to the organisation
    named (派单): checked, then held. What the event adds: each field's organisation name."""
    t = d.transition(trigger, source) if source is not None else None
    added: dict[str, Any] = {}
    for f in t.fields if t is not None else ():
        if f.org_kind is None or values.get(f.name) is None:
            continue
        row = check_organisation(s, int(values[f.name]), f.org_kind, f.label)
        hold(s, case, row.id, now)
        added[f"{f.name}_name"] = row.name
    return added


_ = Case  # the table the assignment writes (through the caller's row)
