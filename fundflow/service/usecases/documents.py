"""Documents attached to a case: stored under the data folder by content hash."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from pathlib import Path

from sqlmodel import select

from fundflow.service.context import Services
from fundflow.service.db import lean_transaction, read_only
from fundflow.service.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from fundflow.service.integrity.facts import DOCUMENTS
from fundflow.service.paperwork.kinds import GENERATED_LABELS
from fundflow.service.reads.common import iso
from fundflow.service.reads.session import Bearer
from fundflow.service.tables import Document, User
from fundflow.service.usecases import lean
from fundflow.service.usecases.cases import event_values, load_case, locked_case

__all__ = ["attach_document", "list_documents", "open_document"]

_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")


def _safe_name(name: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = _UNSAFE.sub("_", base)[:200]
    return base or "file"


safe_name = _safe_name  # for the other writers of documents (a 督办 reply's attachments)


def _path(svc: Services, case_id: int, sha: str) -> Path:
    return svc.settings.documents_dir / str(case_id) / sha


def store_file(svc: Services, case_id: int, sha: str, content: bytes) -> None:
    """Put ``content`` under the data folder by its hash, before the row that names it commits
    (a file with that hash is already the same file)."""
    target = _path(svc, case_id, sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(content)
        os.replace(tmp, target)


def document_view(doc: Document, labels: dict[str, str], renewed: dict[str, int] | None = None) -> dict:
    """``round``: the document round it was uploaded in; ``current``: whether it still counts
    (a document of a round before its type was renewed is kept and shown, but counts no more)."""
    return {
        "id": doc.id,
        "doc_type": doc.doc_type,
        "doc_type_label": labels.get(doc.doc_type, doc.doc_type),
        "filename": doc.filename,
        "content_type": doc.content_type,
        "size": doc.size,
        "sha256": doc.sha256,
        "uploaded_at": iso(doc.uploaded_at),
        "round": doc.round,
        "current": doc.round >= int((renewed or {}).get(doc.doc_type, 0)),
    }


def attach_document(
    svc: Services,
    user: User | Bearer,
    case_id: int,
    *,
    doc_type: str,
    filename: str,
    content_type: str | None,
    content: bytes,
    now: datetime,
) -> dict:
    if len(content) > svc.settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"文件超过 {svc.settings.max_upload_bytes // (1024 * 1024)} MB 上限", code="file_too_large"
        )
    if not content:
        raise InvalidInput("文件为空", code="empty_file")
    sha = hashlib.sha256(content).hexdigest()
    with lean_transaction(svc.sessions) as s:
        # the lean path (usecases/lean.py): the case row locked and read once; the document, the
        # event and the versioned case row written with Core statements built once
        user, got = locked_case(s, svc, user, case_id, now)  # a Bearer (the API): its token read here
        conn = s.connection()
        case = got.case
        d = svc.registry.get(case.definition_id, case.definition_version)
        if doc_type not in d.documents:
            raise InvalidInput(
                f"未知的材料类型：{doc_type}",
                code="unknown_document_type",
                detail={"document_types": dict(d.documents)},
            )
        if d.states[case.state].terminal:
            raise InvalidInput("案件已办结，不能再上传材料", code="case_closed")
        if not d.may_upload(doc_type, user.role):
            who = "、".join(d.roles[r].label for r in sorted(d.document_roles[doc_type]) if r in d.roles)
            mine = d.roles[user.role].label if user.role in d.roles else "您的单位"
            raise Forbidden(
                f"{mine}不能上传“{d.documents[doc_type]}”（由{who}上传）",
                code="document_role_not_allowed",
                detail={"doc_type": doc_type},
            )
        store_file(svc, case.id, sha, content)
        doc = lean.Row(
            {
                "case_id": case.id,
                "doc_type": doc_type,
                "filename": _safe_name(filename),
                "content_type": (content_type or "application/octet-stream")[:128],
                "size": len(content),
                "sha256": sha,
                "uploaded_by": user.id,
                "uploaded_at": now,
                "round": case.doc_round or 1,
            }
        )
        event = event_values(
            s,
            case,
            user,
            "attach_document",
            f"上传材料：{d.documents[doc_type]}",
            case.state,
            case.state,
            {"doc_type": doc_type, "filename": doc.filename, "sha256": sha, "size": len(content), "round": doc.round},
            None,
            now,
            [DOCUMENTS.added([doc])],
        )
        case.updated_at = now
        if not lean.write_document(conn, case, event, doc):
            raise Conflict("案件刚被他人办理，请刷新后重试", code="concurrent_update")
        return document_view(doc, dict(d.documents), case.renewed_documents)


def list_documents(svc: Services, user: User, case_id: int) -> list[dict]:
    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
        d = svc.registry.get(case.definition_id, case.definition_version)
        rows = s.exec(select(Document).where(Document.case_id == case.id).order_by(Document.id)).all()
        from fundflow.service.usecases.supervision import REPLY_DOC_LABEL, REPLY_DOC_TYPE  # supervision imports us

        return [
            document_view(
                r, {**GENERATED_LABELS, REPLY_DOC_TYPE: REPLY_DOC_LABEL, **d.documents}, case.renewed_documents
            )
            for r in rows
        ]


def open_document(svc: Services, user: User, case_id: int, document_id: int) -> tuple[Document, Path]:
    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
        doc = s.get(Document, document_id)
        if doc is None or doc.case_id != case.id:
            raise NotFound("材料不存在", code="document_not_found")
        path = _path(svc, case.id, doc.sha256)
        if not path.exists():
            raise NotFound("材料文件缺失，请联系管理员", code="document_file_missing")
        return doc, path
