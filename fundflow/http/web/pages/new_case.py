"""A new case: the report that opens it (its form comes from the definition: ``open_form``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from fundflow.domain.errors import UnknownDefinition
from fundflow.domain.open_form import SUBJECT_KEYS
from fundflow.http.web.pages.common import (
    FORM_ERRORS,
    Page,
    _message,
    form_page,
    page,
)
from fundflow.http.web.render import PageRoute
from fundflow.service.errors import (
    Forbidden,
    status_for,
)
from fundflow.service.reads import places
from fundflow.service.usecases import cases, documents

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- a new case (the hazard report) ---------------------------------------------------------------


def _openable(p: Page) -> list[Any]:
    return [d for d in p.svc.registry.latest() if p.user.role in d.open_roles]


def _photo_type(d) -> tuple[str, str] | None:
    """The report's photos are the first document the first stage asks for."""
    docs = d.states[d.initial].documents
    return (docs[0], d.documents.get(docs[0], docs[0])) if docs else None


@router.get("/cases/new")
def new_case_form(
    p: Page = Depends(page),
    community_id: int | None = Query(None, ge=1, le=2**31 - 1),
    definition: str | None = Query(None, max_length=64),
):
    values: dict[str, Any] = {"community_id": community_id}
    if definition:
        values["definition"] = definition
    return _new_case_page(p, values, None)


def _new_case_page(p: Page, values: dict[str, Any], error: str | None, status: int = 200) -> Response:
    definitions = _openable(p)
    if not definitions:
        raise Forbidden("您的角色不能发起案件", code="role_cannot_open")
    # the chosen procedure's own form (``open_form``): its heading, labels and categories
    chosen_definition = next((d for d in definitions if d.id == values.get("definition")), definitions[0])
    about_community = chosen_definition.subject.is_community
    communities = places.visible_communities(p.s, p.user) if about_community else []
    chosen = (
        (values.get("community_id") or (communities[0]["id"] if communities else None)) if about_community else None
    )
    buildings = _buildings(p, chosen) if chosen else []
    photo_types = {d.id: _photo_type(d) for d in definitions}
    return p.render(
        "case_new.html",
        {
            "active": "new",
            "definitions": definitions,
            "communities": communities,
            "buildings": buildings,
            "values": {
                "title": "",
                "hazard_category": "",
                "description": "",
                "buildings": [],
                "fields": {},
                "subject": {},
                **values,
                "definition": chosen_definition.id,
                "community_id": chosen,
            },
            "photo_types": photo_types,
            "chosen": chosen_definition,
            "form": chosen_definition.open_form,
            "subject": chosen_definition.subject,
            "error": error,
            "upload_limit": p.svc.settings.max_upload_bytes,
        },
        status=status,
    )


def _buildings(p: Page, community_id: int) -> list[dict[str, Any]]:
    return places.community(p.s, p.user, community_id)["buildings"]


@router.get("/cases/new/buildings")
def new_case_buildings(p: Page = Depends(page), community_id: int = Query(..., ge=1, le=2**31 - 1)):
    return p.render("_buildings.html", {"buildings": _buildings(p, community_id), "values": {"buildings": []}})


@router.post("/cases/new")
def new_case_submit(p: Page = Depends(form_page)):
    form = p.form
    assert form is not None
    community = p.text("community_id")
    values = {
        "definition": p.text("definition"),
        "community_id": int(community) if community.isdigit() else None,
        "title": p.text("title"),
        "hazard_category": p.text("hazard_category"),
        "description": p.text("description"),
        "buildings": [b for b in form.getlist("buildings") if isinstance(b, str) and b.strip()],
    }
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    try:
        d = p.svc.registry.get(values["definition"] or "")
    except UnknownDefinition:
        return _new_case_page(p, values, "请选择流程。", 422)
    # the definition's own fields (open_form.fields) and the subject's, as the form names them
    values["fields"] = {f.name: p.text(f"f_{f.name}") for f in d.open_form.fields}
    values["subject"] = {k: p.text(f"subject_{k}") for k in SUBJECT_KEYS}
    if d.subject.is_community and values["community_id"] is None:
        return _new_case_page(p, values, "请选择小区。", 422)
    data = {k: values[k] for k in ("hazard_category", "description") if values[k]}
    data.update({k: v for k, v in values["fields"].items() if v})
    subject = {k: v for k, v in values["subject"].items() if v} if not d.subject.is_community else None
    try:
        reply = p.write(
            cases.open_case,
            definition=d.id,
            community_id=values["community_id"] if d.subject.is_community else None,
            subject=subject if d.subject.kind != "none" else None,
            title=values["title"],
            data=data,
            buildings=(values["buildings"] or None) if d.subject.is_community else None,
            now=p.now,
        )
    except FORM_ERRORS as exc:
        return _new_case_page(p, values, _message(exc), status_for(exc))
    case_id = reply.body["id"]
    photo_type = _photo_type(d)
    failed = []
    for f in photos:
        try:
            p.write(
                documents.attach_document,
                case_id,
                doc_type=photo_type[0] if photo_type else "",
                filename=f.filename or "photo",
                content_type=f.content_type,
                content=f.file.read(),
                now=p.now,
            )
        except FORM_ERRORS as exc:
            failed.append(f"{f.filename}：{_message(exc)}")
    target = f"/cases/{case_id}?created=1" + ("&photo_failed=1" if failed else "")
    return RedirectResponse(target, status_code=303)
