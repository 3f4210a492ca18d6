"""Votes and documents on the lean path (usecases/lean.py), on both databases: a bounded number
of statements, the case row at its next version, the rows as read back, and ``audit verify``
clean (their facts digested as the ORM rows were)."""

from __future__ import annotations

from sqlalchemy import select

from fundflow.service.integrity.verify import verify_state
from fundflow.service.tables import Case, Document, MeetingBallot, MeetingVote
from fundflow.service.usecases import documents, meetings
from tests.support.statements import traced


def _version(svc, case_id: int) -> int:
    with svc.sessions() as s:
        return s.get(Case, case_id).version


def test_a_vote_and_a_revote_are_lean_and_verify(flow):
    case_id = flow.open()
    flow.advance(case_id, "joint_meeting")
    before = _version(flow.svc, case_id)
    vote = dict(party="fund_center", attended=True, now=flow.now)
    first, sent = traced(
        flow.svc.db,
        lambda: meetings.record_vote(flow.svc, flow.u["fc"], case_id, vote="disagree", opinion="预算偏高", **vote),
    )
    # the locked read, the sitting, the vote row (UPDATE, then INSERT), ballot, case, event, the votes
    assert len(sent) <= 8, sent
    assert first.body["version"] == before + 1
    again, sent = traced(
        flow.svc.db,
        lambda: meetings.record_vote(flow.svc, flow.u["fc"], case_id, vote="agree", opinion=None, **vote),
    )
    assert len(sent) <= 7, sent  # the vote row is updated: no INSERT of it
    assert again.body["version"] == before + 2
    assert [(v["party"], v["vote"], v["opinion"]) for v in again.body["votes"]] == [("fund_center", "agree", None)]
    with flow.svc.sessions() as s:
        rows = s.exec(select(MeetingVote).where(MeetingVote.case_id == case_id)).scalars().all()
        assert [(r.party, r.vote, r.recorded_by) for r in rows] == [("fund_center", "agree", flow.u["fc"].id)]
        ballots = s.exec(select(MeetingBallot.vote).where(MeetingBallot.case_id == case_id)).scalars().all()
        assert sorted(ballots) == ["agree", "disagree"]
        report = verify_state(
            s, flow.svc.settings, signer=flow.svc.signer, verifier=flow.svc.signer.verifier if flow.svc.signer else None
        )
    assert report.ok, [str(f) for f in report.findings]


def test_a_document_is_lean_its_id_is_the_row_and_it_verifies(flow):
    case_id = flow.open()
    before = _version(flow.svc, case_id)
    body, sent = traced(
        flow.svc.db,
        lambda: documents.attach_document(
            flow.svc,
            flow.u["so"],
            case_id,
            doc_type="site_record",
            filename="现场/记录.pdf",
            content_type="application/pdf",
            content=b"%PDF-1.4 lean",
            now=flow.now,
        ),
    )
    assert len(sent) <= 4, sent  # the locked read, the document, the case, the event
    assert _version(flow.svc, case_id) == before + 1
    with flow.svc.sessions() as s:
        row = s.get(Document, body["id"])
        assert (row.case_id, row.doc_type, row.filename, row.size) == (case_id, "site_record", "记录.pdf", 13)
        report = verify_state(
            s, flow.svc.settings, signer=flow.svc.signer, verifier=flow.svc.signer.verifier if flow.svc.signer else None
        )
    assert report.ok, [str(f) for f in report.findings]
