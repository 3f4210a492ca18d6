"""The case page's hand-offs and objection records (issue 11b), through forms as a browser posts
them (TestClient): each form shows only to the party the definition names, writes through the
same use case as the API, and a refusal comes back beside its form with what was typed."""

from __future__ import annotations

from fundflow.service.usecases import cases as case_uc
from fundflow.service.usecases import objections
from tests.support.flows import DEF, load_user
from tests.support.web import Web, csrf_of
from tests.support.world import NOW


def _page(web: Web, who: str, case_id: int):
    r = web.as_(who).get(f"/cases/{case_id}")
    assert r.status_code == 200, r.text
    return r.text


def _post(web: Web, who: str, case_id: int, path: str, data: dict, htmx: bool = False):
    token = csrf_of(_page(web, who, case_id))
    headers = {"HX-Request": "true"} if htmx else {}
    return web.as_(who).post(f"/cases/{case_id}{path}", data={"csrf_token": token, **data}, headers=headers)


def _transfer_from_page(web: Web, case_id: int) -> str:
    r = _post(web, "so", case_id, "/transfer", {"to_org_id": str(web.ids["office_jn"]), "reason": "误报，属建宁街道"})
    assert r.status_code == 303 and r.headers["location"].startswith("/transfers?done=")
    return r.headers["location"]


def _decide(web: Web, who: str, transfer_id: str, decision: str, note: str = ""):
    token = csrf_of(web.as_(who).get("/transfers").text)
    return web.as_(who).post(
        f"/transfers/{transfer_id}/decision", data={"csrf_token": token, "decision": decision, "note": note}
    )


def test_the_street_office_transfers_a_case_from_its_page_and_the_receiver_accepts_it(web):
    case_id = web.flow.open()
    page = _page(web, "so", case_id)
    assert 'id="action-transfer"' in page and "建宁街道" in page and "月塘街道</option>" not in page
    assert 'id="action-transfer"' not in _page(web, "pc", case_id)  # not a transferable role
    target = _transfer_from_page(web, case_id)
    tid = target.split("=")[1]
    listed = web.as_("so").get(target).text  # its transfer is listed, waiting
    assert "已转办" in listed and "转出" in listed and "误报，属建宁街道" in listed and "待签收" in listed
    assert f'action="/transfers/{tid}/decision"' not in listed  # the sender does not decide it
    page = _page(web, "so", case_id)  # the case stays with the sender until accepted
    assert 'id="pending-transfer"' in page and 'id="action-transfer"' not in page
    # the receiver: a task on its first page, the form on the transfers page, no case page yet
    assert web.as_("so_other").get(f"/cases/{case_id}").status_code == 404
    first = web.as_("so_other").get("/").text
    assert "转办待签收" in first and f'href="/transfers#transfer-{tid}"' in first
    incoming = web.as_("so_other").get("/transfers").text
    assert "转入" in incoming and f'action="/transfers/{tid}/decision"' in incoming
    r = _decide(web, "so_other", tid, "accept")
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}?done=1"
    assert web.as_("so").get(f"/cases/{case_id}").status_code == 404  # the other office's now
    page = _page(web, "so_other", case_id)
    assert "转办：月塘街道 → 建宁街道" in page and "签收转办：建宁街道" in page
    assert "转办待签收" not in web.as_("so_other").get("/").text
    assert "已签收" in web.as_("so").get("/transfers").text


def test_the_receiver_declines_a_transfer_with_a_reason_beside_its_form(web):
    case_id = web.flow.open()
    tid = _transfer_from_page(web, case_id).split("=")[1]
    r = _decide(web, "so_other", tid, "decline")
    assert r.status_code == 422 and "未能办理" in r.text and "请写明不予签收的理由" in r.text
    r = _decide(web, "so_other", tid, "decline", "不属本街道辖区")
    assert r.status_code == 303 and r.headers["location"] == f"/transfers?declined={tid}"
    shown = web.as_("so_other").get(r.headers["location"]).text
    assert "已不予签收" in shown and "不属本街道辖区" in shown
    page = _page(web, "so", case_id)  # the case stays; the sender may transfer it again
    assert 'id="pending-transfer"' not in page and 'id="action-transfer"' in page
    assert "不予签收转办" in page
    assert _decide(web, "fr", tid, "accept").status_code in (404, 409)


def test_the_nav_links_the_transfers_for_the_roles_that_transfer(web):
    for who, shown in (("so", True), ("fr", True), ("pc", False), ("fc", False)):
        nav = web.as_(who).get("/").text
        assert ('href="/transfers"' in nav) is shown, who


def test_a_transfer_without_a_reason_is_refused_beside_its_form(web):
    case_id = web.flow.open()
    r = _post(web, "so", case_id, "/transfer", {"to_org_id": str(web.ids["office_jn"]), "reason": "x"}, htmx=True)
    assert r.status_code == 422
    assert "未能转办" in r.text and "请写明转办理由" in r.text and 'id="action-transfer" open' in r.text


def test_an_extension_is_asked_for_and_approved_from_the_case_page(web):
    case_id = web.flow.open()
    assert 'id="action-extension"' in _page(web, "fr", case_id)
    assert 'id="action-extension"' not in _page(web, "so", case_id)  # not responsible for the finding
    r = _post(web, "fr", case_id, "/extensions", {"working_days": "3", "reason": "需等待第三方检测报告"})
    assert r.status_code == 303
    fc_page = _page(web, "fc", case_id)
    assert "审批延期申请（3 个工作日）" in fc_page and "需等待第三方检测报告" in fc_page
    ext_id = int(fc_page.split('id="decide-')[1].split('"')[0])
    r = _post(web, "fc", case_id, f"/extensions/{ext_id}/decision", {"decision": "refuse", "opinion": ""}, htmx=True)
    assert r.status_code == 422 and "不予批准的理由" in r.text  # refusing needs a reason
    r = _post(web, "fc", case_id, f"/extensions/{ext_id}/decision", {"decision": "approve", "opinion": "同意"})
    assert r.status_code == 303
    page = _page(web, "fr", case_id)
    assert "2026-03-09 → 2026-03-12" in page and "已批准" in page
    assert 'id="action-extension"' in page  # another may be asked for now


def test_the_owners_committee_withdraws_its_own_case_from_the_page(web):
    oc = load_user(web.svc, web.ids["user_oc"])
    case_id = case_uc.open_case(
        web.svc,
        oc,
        definition=DEF,
        community_id=web.ids["community_a"],
        title="消防水泵无法启动",
        data={},
        buildings=None,
        now=NOW,
    ).body["id"]
    assert 'id="action-withdraw-opener"' in _page(web, "oc", case_id)
    assert 'id="action-withdraw-opener"' not in _page(web, "pc", case_id)  # it did not open it
    assert 'id="action-withdraw-opener"' not in _page(web, "so", case_id)  # it has the declared action
    r = _post(web, "oc", case_id, "/withdraw", {"reason": "业主已自筹资金维修"})
    assert r.status_code == 303
    assert "已撤回" in _page(web, "oc", case_id)


def test_the_responsible_party_returns_a_case_with_the_declared_action(web):
    case_id = web.flow.open()
    web.flow.advance(case_id, "site_survey")
    page = _page(web, "so", case_id)
    assert 'id="action-return_to_previous"' in page and "退回消防认定" in page
    r = _post(web, "so", case_id, "/actions/return_to_previous", {"reason": "认定要素与现场不符"})
    assert r.status_code == 303
    assert "隐患上报，待消防认定" in _page(web, "fr", case_id)


def test_objections_are_recorded_and_answered_on_the_page(web):
    case_id = web.flow.open()
    web.flow.advance(case_id, "public_notice")
    assert 'id="action-objection"' in _page(web, "oc", case_id)
    assert 'id="action-objection"' not in _page(web, "pc", case_id)
    r = _post(web, "oc", case_id, "/objections", {"owner_name": "李四", "room": "2栋1单元102", "text": "分摊面积有误"})
    assert r.status_code == 303
    page = _page(web, "so", case_id)
    assert "2栋1单元102 李四" in page and "待答复" in page and "答复异议" in page
    assert "答复异议</button>" not in _page(web, "oc", case_id)  # the owners' committee does not answer
    with web.svc.sessions() as s:
        from fundflow.service.tables import Case

        (only,) = objections.objections_of(s, s.get(Case, case_id))
    r = _post(web, "so", case_id, f"/objections/{only['id']}/answer", {"answer": "x"}, htmx=True)
    assert r.status_code == 422 and "未能答复" in r.text
    r = _post(web, "so", case_id, f"/objections/{only['id']}/answer", {"answer": "已按不动产登记面积复核"})
    assert r.status_code == 303
    page = _page(web, "so", case_id)
    assert "已按不动产登记面积复核" in page and "已答复" in page


def test_a_case_without_hand_offs_for_the_user_shows_no_panel(web):
    case_id = web.flow.open()
    # the panel shows what handoffs.handoff_options offers the user: nothing to the residents committee
    assert 'id="handoffs"' not in _page(web, "rc", case_id)


def test_the_convener_records_the_sitting_and_a_revote_shows_in_the_history(web):
    case_id = web.flow.open()
    web.flow.advance(case_id, "joint_meeting")
    assert 'id="action-session"' in _page(web, "so", case_id)
    assert 'id="action-session"' not in _page(web, "fc", case_id)
    r = _post(web, "so", case_id, "/meeting-sessions", {"held_on": "2026-03-02", "venue": "街道三楼会议室"})
    assert r.status_code == 303
    vote = {"party": "fund_center", "attended": "yes", "attendees": "王科长（审核科）"}
    _post(web, "fc", case_id, "/votes", {**vote, "vote": "disagree", "opinion": "预算偏高"})
    _post(web, "fc", case_id, "/votes", {**vote, "vote": "agree", "opinion": "核减后同意"})
    page = _page(web, "so", case_id)
    assert "第 1 次会议：2026-03-02，街道三楼会议室" in page
    assert "表决记录（2 条，含重新表决前的记录）" in page and "（已重新表决）" in page and "王科长（审核科）" in page


def test_the_acceptance_signatures_show_who_signed_for_which_party(web):
    case_id = web.flow.open()
    web.flow.advance(case_id, "acceptance")
    r = _post(web, "fr", case_id, "/actions/sign_acceptance", {"signer": "张建军（大队长）", "opinion": "同意验收"})
    assert r.status_code == 303
    page = _page(web, "so", case_id)
    assert 'id="signatures"' in page and "张建军（大队长）" in page and "同意验收" in page
