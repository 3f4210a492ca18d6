"""Generated documents of a case (GET /cases/{id}/generated/{kind}.docx|.pdf): built from the
case's data, kept on the case as a document with its sha256, and stored again as a new version
only when what it says has changed (the files are deterministic, so an unchanged document has
the same sha256). Each new version is an event on the case."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlmodel import func, select

from fundflow.service.context import Services
from fundflow.service.db import transaction
from fundflow.service.errors import NotFound
from fundflow.service.integrity.facts import DOCUMENTS
from fundflow.service.paperwork.kinds import GENERATED_LABELS, KINDS, LABELS, build, doc_type_of
from fundflow.service.paperwork.pdf import to_pdf
from fundflow.service.paperwork.word import to_docx
from fundflow.service.tables import Document, User
from fundflow.service.usecases.cases import append_event, load_case
from fundflow.service.usecases.documents import document_view, store_file

__all__ = ["generate", "FORMATS", "GENERATED_LABELS", "doc_type_of"]

FORMATS = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def generate(svc: Services, user: User, case_id: int, kind: str, fmt: str, now: datetime) -> tuple[dict, bytes]:
    """The document's view (its id, version, sha256) and its bytes."""
    if kind not in KINDS:
        raise NotFound(f"没有这种文书：{kind[:32]}", code="unknown_document_kind", detail={"kinds": dict(LABELS)})
    if fmt not in FORMATS:
        raise NotFound(f"不支持的格式：{fmt[:8]}（可选 docx、pdf）", code="unknown_document_format")
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        paper = build(s, svc, case, kind, now)
        content = to_docx(paper) if fmt == "docx" else to_pdf(paper, svc.settings.pdf_font)
        sha = hashlib.sha256(content).hexdigest()
        doc_type, content_type = doc_type_of(kind), FORMATS[fmt]
        same_kind = (Document.case_id == case.id, Document.doc_type == doc_type, Document.content_type == content_type)
        latest = s.exec(select(Document).where(*same_kind).order_by(Document.id.desc())).first()
        labels = dict(GENERATED_LABELS)
        if latest is not None and latest.sha256 == sha:
            return {
                **document_view(latest, labels),
                "version": _version(s, same_kind, latest.id),
                "new": False,
            }, content
        version = s.exec(select(func.count()).select_from(Document).where(*same_kind)).one() + 1
        store_file(svc, case.id, sha, content)
        doc = Document(
            case_id=case.id,
            doc_type=doc_type,
            filename=f"{LABELS[kind]}-{case.number}-第{version}版.{fmt}",
            content_type=content_type,
            size=len(content),
            sha256=sha,
            uploaded_by=user.id,
            uploaded_at=now,
            round=case.doc_round or 1,
        )
        s.add(doc)
        append_event(
            s,
            case,
            user,
            "generate_document",
            f"生成文书：{LABELS[kind]}（第{version}版，{fmt.upper()}）",
            case.state,
            case.state,
            {
                "kind": kind,
                "format": fmt,
                "version": version,
                "filename": doc.filename,
                "sha256": sha,
                "size": len(content),
            },
            None,
            now,
            [DOCUMENTS.added([doc])],
        )
        case.updated_at = now
        s.add(case)
        s.flush()
        return {**document_view(doc, labels), "version": version, "new": True}, content


def _version(s, same_kind, doc_id: int) -> int:
    return s.exec(select(func.count()).select_from(Document).where(*same_kind, Document.id <= doc_id)).one()
