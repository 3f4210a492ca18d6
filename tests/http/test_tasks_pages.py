"""我的待办 and the case page's work panel through TestClient: each party's first page lists
what waits on it, the menu's count agrees with the list after every act, and 指派/签收 and 督办
are done from the case page."""

from __future__ import annotations

import re
from datetime import datetime

from fundflow.domain.tz import SHANGHAI
from fundflow.http.deps import get_now
from fundflow.service.usecases import alerts
from tests.support.flows import add_user
from tests.support.web import Web, csrf_of


def nav_count(html: str) -> int:
    m = re.search(r'id="nav-tasks"[^>]*><span class="skip-text">待办 </span>(\d+)</span>', html)
    return int(m.group(1)) if m else 0


def rows(html: str) -> list[tuple[str, str]]:
    """(kind, case id) of each row of the task table."""
    return re.findall(r'<tr class="[a-z]*" data-kind="([a-z_]+)" data-case="(\d+)">', html)


def first_page(web: Web, who: str, scope: str = "") -> str:
    r = web.as_(who).get("/" + (f"?scope={scope}" if scope else ""))
    assert r.status_code == 200
    html = r.text
    assert nav_count(html) == len(rows(html)) or scope == "mine"  # the count is the list's length
    return html


def post(web: Web, who: str, path: str, data: dict, case_id: int):
    token = csrf_of(web.as_(who).get(f"/cases/{case_id}").text)
    return web.as_(who).post(path, data={"csrf_token": token, **data})


def test_the_owners_committee_sees_the_signature_and_signs_from_its_list(web):
    case_id = web.flow.open()
    web.flow.advance(case_id, "acceptance")
    for who in ("fr", "so", "fc"):
        web.flow.fire(who, case_id, "sign_acceptance")
    html = first_page(web, "oc")
    assert ("signature", str(case_id)) in rows(html) and "签署验收意见" in html
    assert f'href="/cases/{case_id}#actions"' in html
    case_page = web.as_("oc").get(f"/cases/{case_id}").text
    assert f'action="/cases/{case_id}/actions/sign_acceptance"' in case_page
    r = post(web, "oc", f"/cases/{case_id}/actions/sign_acceptance", {"opinion": "同意"}, case_id)
    assert r.status_code == 303
    html = first_page(web, "oc")
    assert ("signature", str(case_id)) not in rows(html) and nav_count(html) == len(rows(html))


def test_assign_and_claim_from_the_case_page(web):
    case_id = web.flow.open()
    web.flow.advance(case_id, "site_survey")
    add_user(web.world, "so2", "street_office", "HT-YT")
    page = web.as_("so").get(f"/cases/{case_id}").text
    assert 'id="assignment"' in page and "尚未指派" in page and "签收本环节" in page
    r = post(web, "so", f"/cases/{case_id}/assignment", {"assignee_id": str(web.ids["user_so2"])}, case_id)
    assert r.status_code == 303 and r.headers["location"].endswith("#assignment")
    assert rows(first_page(web, "so2", "mine")) == [("stage", str(case_id))]
    assert rows(first_page(web, "so", "mine")) == []
    org = first_page(web, "so")
    assert "待签收" in org and "指派给我（0）" in org
    r = post(web, "so2", f"/cases/{case_id}/claim", {}, case_id)
    assert r.status_code == 303
    page = web.as_("so").get(f"/cases/{case_id}").text
    assert "已签收" in page and "签收：现场查勘" in page  # on the timeline too
    # claiming what a colleague holds is refused, on the page, in Chinese
    r = post(web, "so", f"/cases/{case_id}/claim", {}, case_id)
    assert r.status_code == 409 and "已指派给so2" in r.text


def test_the_bureau_issues_a_supervision_and_closes_it_from_the_case_page(web):
    web.flow.now = datetime(2026, 9, 14, 10, tzinfo=SHANGHAI)
    case_id = web.flow.open()
    now = datetime(2026, 9, 29, 10, tzinfo=SHANGHAI)
    alerts.scan(web.svc, now)
    web.app.dependency_overrides[get_now] = lambda: now
    html = first_page(web, "hb")
    assert rows(html) == [("supervision_issue", str(case_id))] and nav_count(html) == 1
    page = web.as_("hb").get(f"/cases/{case_id}").text
    assert 'id="issue-supervision"' in page
    r = post(
        web,
        "hb",
        f"/cases/{case_id}/supervisions",
        {"content": "请尽快完成消防认定", "reply_working_days": "2"},
        case_id,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("#supervision")
    assert nav_count(first_page(web, "hb")) == 0
    fr = first_page(web, "fr")
    assert ("supervision_reply", str(case_id)) in rows(fr) and "2026-10-08" in fr
    page = web.as_("fr").get(f"/cases/{case_id}").text
    [sid] = re.findall(r'action="/supervisions/(\d+)/reply"', page)
    r = post(web, "fr", f"/supervisions/{sid}/reply", {"case_id": str(case_id), "reply": "已安排复核"}, case_id)
    assert r.status_code == 303
    assert ("supervision_reply", str(case_id)) not in rows(first_page(web, "fr"))
    assert rows(first_page(web, "hb")) == [("supervision_review", str(case_id))]
    r = post(web, "hb", f"/supervisions/{sid}/close", {"case_id": str(case_id), "note": "同意销号"}, case_id)
    assert r.status_code == 303
    page = web.as_("hb").get(f"/cases/{case_id}").text
    assert "已销号" in page and "督办销号" in page and "同意销号" in page
    assert 'id="issue-supervision"' not in page  # closed since the latest escalation
    assert rows(first_page(web, "hb")) == []
    dashboard = web.as_("hb").get("/dashboard").text
    assert 'id="kpi-supervision">0 / 1<' in dashboard


def test_a_supervision_reply_takes_attachments_shown_beside_it_and_among_the_documents(web):
    web.flow.now = datetime(2026, 9, 14, 10, tzinfo=SHANGHAI)
    case_id = web.flow.open()
    now = datetime(2026, 9, 29, 10, tzinfo=SHANGHAI)
    alerts.scan(web.svc, now)
    web.app.dependency_overrides[get_now] = lambda: now
    post(
        web,
        "hb",
        f"/cases/{case_id}/supervisions",
        {"content": "请尽快完成消防认定", "reply_working_days": "2"},
        case_id,
    )
    page = web.as_("fr").get(f"/cases/{case_id}").text
    [sid] = re.findall(r'action="/supervisions/(\d+)/reply" enctype="multipart/form-data"', page)
    token = csrf_of(page)
    files = [
        ("files", ("复核记录.pdf", b"%PDF-1.4 site check", "application/pdf")),
        ("files", ("现场照片.jpg", b"\xff\xd8\xff photo", "image/jpeg")),
    ]
    data = {"csrf_token": token, "case_id": str(case_id), "reply": "已现场复核，附复核记录"}
    r = web.as_("fr").post(f"/supervisions/{sid}/reply", data=data, files=files)
    assert r.status_code == 303, r.text
    page = web.as_("hb").get(f"/cases/{case_id}").text
    beside = re.search(r'<ul class="reply-documents".*?</ul>', page, re.S).group(0)
    assert "复核记录.pdf" in beside and "现场照片.jpg" in beside
    docs = web.as_("hb").get(f"/api/v1/cases/{case_id}/documents").json()
    assert [(d["doc_type_label"], d["filename"]) for d in docs][-2:] == [
        ("督办反馈材料", "复核记录.pdf"),
        ("督办反馈材料", "现场照片.jpg"),
    ]
    [link] = re.findall(rf'href="(/cases/{case_id}/documents/\d+)">复核记录.pdf', beside)
    assert web.as_("hb").get(link).content == b"%PDF-1.4 site check"
    assert "督办反馈（附材料 2 份）" in page


def test_an_empty_attachment_refuses_the_reply_beside_the_form(web):
    web.flow.now = datetime(2026, 9, 14, 10, tzinfo=SHANGHAI)
    case_id = web.flow.open()
    now = datetime(2026, 9, 29, 10, tzinfo=SHANGHAI)
    alerts.scan(web.svc, now)
    web.app.dependency_overrides[get_now] = lambda: now
    post(
        web,
        "hb",
        f"/cases/{case_id}/supervisions",
        {"content": "请尽快完成消防认定", "reply_working_days": "2"},
        case_id,
    )
    page = web.as_("fr").get(f"/cases/{case_id}").text
    [sid] = re.findall(r'action="/supervisions/(\d+)/reply"', page)
    data = {"csrf_token": csrf_of(page), "case_id": str(case_id), "reply": "已复核"}
    r = web.as_("fr").post(
        f"/supervisions/{sid}/reply", data=data, files=[("files", ("空.pdf", b"", "application/pdf"))]
    )
    assert r.status_code == 422 and "为空" in r.text
    assert f'action="/supervisions/{sid}/reply"' in r.text  # not replied: the form is still there


def test_a_refused_supervision_step_is_explained_on_the_page(web):
    case_id = web.flow.open()
    r = post(web, "hb", f"/cases/{case_id}/supervisions", {"content": "督办", "reply_working_days": "2"}, case_id)
    assert r.status_code == 409 and "尚未逾期报请督办" in r.text
    r = post(web, "hb", f"/cases/{case_id}/supervisions", {"content": "督办", "reply_working_days": "x"}, case_id)
    assert r.status_code == 422 and "反馈期限" in r.text


def test_the_first_page_without_tasks_says_so(web):
    html = first_page(web, "pc")
    assert "目前没有待您办理的事项" in html and nav_count(html) == 0


def test_the_tasklist_names_every_kind_of_task_in_chinese():
    """No raw identifier in the 类别 column: every kind a task source returns has its label."""
    import ast
    import inspect

    from fundflow.http.web.pages.tasks import KIND_LABELS
    from fundflow.service.reads import handoff_tasks, tasks

    kinds = set()
    for module in (tasks, handoff_tasks):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Dict):  # {"kind": "objection_answer", ...}
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value == "kind" and isinstance(v, ast.Constant):
                        kinds.add(v.value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_task" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    kinds.add(first.value)
    assert {"stage", "objection_answer", "extension_decision"} <= kinds
    assert kinds - set(KIND_LABELS) == set()
