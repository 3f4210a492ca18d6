"""Generated documents (GET /cases/{id}/generated/{kind}.docx|.pdf) on both databases: read
back with python-docx and pdftotext, kept on the case with their sha256, a new version only
when what they say changed, and an event for each version."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal

import docx
import pytest

from tests.support.drivers import API, CaseDriver
from tests.support.offline import NOW, record_to_the_notice


@pytest.fixture
def drv(world) -> CaseDriver:
    d = CaseDriver(world)
    d.clock.now = NOW
    return d


@pytest.fixture
def case_id(drv) -> int:
    return record_to_the_notice(drv, date(2026, 3, 5))  # settled at 58,000.00; the notice posted on the 8th


def get(drv, case_id: int, name: str, who: str = "so"):
    return drv.client.get(f"{API}/cases/{case_id}/generated/{name}", headers=drv.world.h(who))


def docx_text(content: bytes) -> tuple[str, list[list[str]]]:
    d = docx.Document(io.BytesIO(content))
    text = "\n".join(p.text for p in d.paragraphs)
    rows = [[c.text for c in r.cells] for t in d.tables for r in t.rows]
    return text, rows


def pdf_text(content: bytes, tmp_path) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is installed by scripts/test"
    path = tmp_path / "doc.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_the_public_notice_lists_each_households_share_and_the_total(world, drv, case_id, tmp_path):
    share = drv.client.get(f"{API}/cases/{case_id}/apportionment", headers=world.h("so")).json()
    r = get(drv, case_id, "notice.docx")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert r.headers["x-document-sha256"] == hashlib.sha256(r.content).hexdigest()
    text, rows = docx_text(r.content)
    assert "住宅专项维修资金应急使用公示" in text and "58,000.00" in text and "月塘新村" in text
    assert "公示期不少于 7 日，自 2026年3月8日 起" in text  # the definition's 7 days, the posting date
    assert rows[0] == ["楼栋", "单元", "房号", "建筑面积（㎡）", "分摊金额（元）"]
    body = rows[1:-1]
    assert len(body) == share["households"]
    assert sum(Decimal(row[4].replace(",", "")) for row in body) == Decimal(share["total"])
    assert rows[-1][0] == "合计" and rows[-1][4] == "58,000.00"
    for row, expected in zip(body, share["rows"]):
        assert (row[0], row[2], row[4].replace(",", "")) == (expected["building"], expected["room"], expected["share"])
    # the PDF says the same, in text a machine can read (the CJK font is embedded)
    pdf = get(drv, case_id, "notice.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    words = pdf_text(pdf.content, tmp_path)
    assert "住宅专项维修资金应急使用公示" in words and "合计" in words and "58,000.00" in words
    for expected in share["rows"]:
        assert f"{Decimal(expected['share']):,.2f}" in words


def test_a_document_is_kept_once_until_what_it_says_changes(world, drv, case_id):
    first = get(drv, case_id, "notice.docx")
    again = get(drv, case_id, "notice.docx")
    assert first.content == again.content  # deterministic: same data, same bytes
    assert first.headers["x-document-id"] == again.headers["x-document-id"]
    assert again.headers["x-document-version"] == "1"
    docs = drv.client.get(f"{API}/cases/{case_id}/documents", headers=world.h("so")).json()
    kept = [d for d in docs if d["doc_type"] == "generated_notice"]
    assert len(kept) == 1 and kept[0]["sha256"] == first.headers["x-document-sha256"]
    assert kept[0]["doc_type_label"] == "维修资金使用公示（系统生成）"
    # the stored file is the one served
    stored = drv.client.get(f"{API}/cases/{case_id}/documents/{kept[0]['id']}", headers=world.h("so"))
    assert stored.content == first.content
    events = drv.client.get(f"{API}/cases/{case_id}/events", headers=world.h("so")).json()
    generated = [e for e in events if e["trigger"] == "generate_document"]
    assert len(generated) == 1 and generated[0]["data"]["version"] == 1
    assert generated[0]["data"]["sha256"] == first.headers["x-document-sha256"]


def test_a_changed_settlement_makes_a_new_version(world, drv, case_id):
    from fundflow.service.db import transaction
    from fundflow.service.tables import Case

    v1 = get(drv, case_id, "notice.pdf")
    with transaction(world.svc.sessions) as s:  # what a supplementary settlement would change
        s.get(Case, case_id).settled_amount = Decimal("57000.00")
    v2 = get(drv, case_id, "notice.pdf")
    assert v2.headers["x-document-version"] == "2" and v2.content != v1.content
    assert v2.headers["x-document-id"] != v1.headers["x-document-id"]
    number = drv.get(case_id)["number"]
    docs = drv.client.get(f"{API}/cases/{case_id}/documents", headers=world.h("so")).json()
    names = [d["filename"] for d in docs if d["doc_type"] == "generated_notice"]
    assert names == [f"维修资金使用公示-{number}-第1版.pdf", f"维修资金使用公示-{number}-第2版.pdf"]


def test_the_minutes_name_the_parties_votes_and_the_decision(world, drv, case_id, tmp_path):
    r = get(drv, case_id, "minutes.docx")
    assert r.status_code == 200, r.text
    text, rows = docx_text(r.content)
    assert "联席会议纪要" in text and "会议时间：2026年3月6日" in text
    assert "会议决定：联席会议议定启动应急使用" in text  # the deciding act's label, from the definition
    assert "分摊（出资）范围：1栋（理由：1栋自用水泵）" in text
    parties = {row[0]: row for row in rows[1:]}
    assert {"街道办事处", "维修资金管理中心", "消防救援机构"} <= set(parties)
    assert all(row[1] == "出席" and row[2] == "同意" for row in rows[1:])
    assert "联席会议纪要" in pdf_text(get(drv, case_id, "minutes.pdf").content, tmp_path)


def test_documents_that_cannot_be_made_yet_say_why(world, drv):
    case = drv.open()
    r = get(drv, case["id"], "minutes.docx")
    assert r.status_code == 422 and r.json()["code"] == "no_meeting_yet"
    r = get(drv, case["id"], "notice.docx")
    assert r.status_code == 422 and r.json()["code"] == "no_amount_to_apportion"
    r = get(drv, case["id"], "top_up.pdf")
    assert r.status_code == 422 and r.json()["code"] == "no_top_up_needed"
    assert get(drv, case["id"], "ballot.docx").status_code == 404
    assert get(drv, case["id"], "notice.exe").status_code == 422
    # another street office does not see the case, nor its documents
    assert get(drv, case["id"], "notice.docx", "so_other").status_code == 404


def test_a_city_edits_the_wording_not_the_code(world, drv, case_id, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "notice.yaml").write_text(
        'title: 荷塘区维修资金使用公示\nbefore:\n  - "{{ community }}业主：本次共 {{ households }} 户分摊。"\n',
        encoding="utf-8",
    )
    world.svc.settings.document_templates_dir = folder
    text, _ = docx_text(get(drv, case_id, "notice.docx").content)
    assert text.startswith("荷塘区维修资金使用公示") and "月塘新村业主：本次共" in text


def test_the_top_up_notice_names_the_households_below_the_line(flow, tmp_path):
    from fundflow.service.household_import import HouseholdRow
    from tests.support.flows import new_community

    rows = [
        HouseholdRow("1栋", "1单元", "101", None, Decimal("100"), "张三", Decimal("1000.00"), Decimal("3000.00")),
        HouseholdRow("1栋", "1单元", "102", None, Decimal("100"), "李四", Decimal("9000.00"), Decimal("3000.00")),
    ]
    case_id = flow.open(new_community(flow.world, rows))
    flow.advance(case_id, "fund_review", approved="1000.00")
    flow.doc(case_id, "application_form")
    flow.fire("fc", case_id, "approve", {"approved_amount": "1000.00", "approval_opinion": "同意"})
    r = flow.world.client.get(f"{API}/cases/{case_id}/generated/top_up.docx", headers=flow.world.h("so"))
    assert r.status_code == 200, r.text
    text, table = docx_text(r.content)
    assert "续交通知" in text and "下列 1 户" in text and "合计人民币 400.00 元" in text
    assert table[1][0].endswith("101") and table[1][-1] == "400.00" and table[-1] == ["合计", "", "", "", "400.00"]
    assert "张三" not in text + str(table)  # a notice to post: rooms and amounts, no names


def test_the_minutes_take_the_sittings_date_venue_and_who_came(world, drv, tmp_path):
    """With the meeting recorded as a sitting (issue 11's records), the minutes give its date and
    venue and, per party, who came."""
    from tests.support.offline import ok, open_offline, upload

    cid = open_offline(drv, "2026-03-05")
    upload(drv, cid, "so", "hazard_photos")
    upload(drv, cid, "fr", "fire_notice")
    ok(
        drv,
        cid,
        "fr",
        "confirm_major",
        {"notice_no": "株荷消隐字〔2026〕8号", "finding_route": "direct", "hazard_elements": "水泵"},
        "2026-03-05",
    )
    upload(drv, cid, "so", "site_record")
    ok(drv, cid, "so", "complete_survey", {"survey_date": "2026-03-06", "survey_findings": "电机烧毁"}, "2026-03-06")
    r = drv.client.post(
        f"{API}/cases/{cid}/meeting-sessions",
        json={"held_on": "2026-03-09", "venue": "月塘街道办事处三楼会议室"},
        headers=world.h("so"),
    )
    assert r.status_code == 201, r.text
    r = drv.client.post(
        f"{API}/cases/{cid}/votes",
        json={"party": "fire_rescue", "attended": True, "vote": "agree", "attendees": "李某（防火监督员）"},
        headers=world.h("fr"),
    )
    assert r.status_code == 200, r.text
    text, rows = docx_text(get(drv, cid, "minutes.docx").content)
    assert "会议时间：2026年3月9日" in text and "会议地点：月塘街道办事处三楼会议室" in text
    fire = next(row for row in rows if row[0] == "消防救援机构")
    assert fire[1] == "出席（李某（防火监督员））" and fire[2] == "同意"
    assert "会议决定：（尚未决定）" in text
