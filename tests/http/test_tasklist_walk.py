"""One case walked in a real browser where every party acts from its own tasklist (issue 11).

Each party signs in, opens 我的待办 (the first page), clicks the task for the case and does the
act on the page it lands on: the hazard report, the fire authority's finding, the site survey,
the joint meeting (each of the six parties records its own attendance and vote from its own
"会议表决" task), the plan, the cost and fund reviews, the works, the acceptance (each signer
from its own "签署" task), the settlement and the posting of the public notice. After every act
the menu's count agrees with the list, the task done is gone from the list of the one who did
it, and the next one appears on the next party's list. On the way, a 转办 asked of the wrong
street office reaches that office's tasklist, which declines it from there. On the seeded demo
city, real clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from fundflow.domain.tz import SHANGHAI
from tests.support.browser import png, require_browser, serve
from tests.support.demo_city import seeded_demo

PARTIES = {  # the demo's users, one of each party of the joint meeting
    "street_office": "so_yuetang",
    "fund_center": "fund_center",
    "fire_rescue": "fr_hetang",
    "residents_committee": "rc_guiyuan",
    "owners_committee": "oc_guiyuan",
    "property_company": "pc_guiyuan",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_browser()
    svc = seeded_demo(tmp_path_factory, tmp_path_factory.mktemp("walk"))
    try:
        with serve(svc) as state:
            yield state
    finally:
        svc.close()


def _today() -> date:
    return datetime.now(SHANGHAI).date()


def test_every_party_acts_on_one_case_from_its_own_tasklist(live):
    today, in30 = _today().isoformat(), (_today() + timedelta(days=30)).isoformat()
    so, fc, fr = (live.as_(PARTIES[r]) for r in ("street_office", "fund_center", "fire_rescue"))
    rc, oc, pc = (live.as_(PARTIES[r]) for r in ("residents_committee", "owners_committee", "property_company"))

    def done(who, kind: str, case_id: int) -> None:
        """The act is no longer on the list of the one who did it (the count agrees, ``todo``)."""
        assert (kind, case_id) not in who.todo(), (who.username, kind)

    # 1. the street office reports the hazard
    page = so.page
    so.goto("/cases/new")
    page.select_option("#n-community", label="桂园新村（月塘街道）")
    page.get_by_label("2栋").check()
    page.fill("#n-title", "2栋火灾自动报警系统瘫痪")
    page.fill("#n-category", "火灾自动报警系统故障")
    page.fill("#n-description", "报警主机损坏，探测器大面积失效")
    page.set_input_files("#n-photos", files=[{"name": "报警主机.png", "mimeType": "image/png", "buffer": png()}])
    page.get_by_role("button", name="提交上报").click()
    page.wait_for_url(re.compile(r"/cases/\d+\?created=1$"))
    case_id = int(re.search(r"/cases/(\d+)", page.url).group(1))

    # a transfer asked of the wrong office waits on its tasklist; it declines, the case stays
    so.page.locator("#action-transfer summary").click()
    so.page.select_option("#t-org", label="建宁街道")
    so.page.fill("#t-reason", "核实小区归属，请建宁街道确认")
    so.page.locator("#action-transfer button[type=submit]").click()
    so.expect(so.page.locator(".flash.ok")).to_contain_text("待对方签收")
    jn = live.as_("so_jianning")
    assert ("transfer_accept", case_id) in jn.todo()
    row = jn.page.locator(f'#tasks tr[data-kind="transfer_accept"][data-case="{case_id}"]')
    jn.expect(row).to_contain_text("转办待签收")
    row.locator("td:nth-child(4) a").click()
    jn.page.wait_for_url(re.compile(r"/transfers#transfer-\d+$"))
    tid = jn.page.url.rsplit("-", 1)[1]
    form = jn.page.locator(f"#transfer-{tid} form")
    form.locator("textarea[name=note]").fill("桂园新村属月塘街道辖区，不予签收")
    jn.shot("35-walk-transfer-to-accept")
    form.get_by_role("button", name="不予签收").click()
    jn.expect(jn.page.locator(".flash.ok")).to_contain_text("已不予签收")
    assert ("transfer_accept", case_id) not in jn.todo()
    so.case(case_id)
    so.expect(so.page.locator("#timeline")).to_contain_text("不予签收转办")

    # 2. the fire authority: its stage task, the finding with its written notice
    fr.task("stage", case_id)
    fr.shot("30-walk-fire-authority-from-task")
    fr.upload("fire_notice", "重大火灾隐患通知书.pdf")
    fr.act(
        "confirm_major",
        "现场查勘",
        notice_no="株荷消隐字〔2026〕31号",
        finding_route="direct",
        hazard_elements="火灾自动报警系统不能正常运行",
    )
    done(fr, "stage", case_id)

    # 3. the site survey
    so.task("stage", case_id)
    so.upload("site_record")
    so.act("complete_survey", "六方联席会议", survey_date=today, survey_findings="报警主机主板烧毁")

    # 4. the joint meeting: every party records its own attendance and vote from its own task
    for role in (
        "fund_center",
        "fire_rescue",
        "residents_committee",
        "owners_committee",
        "property_company",
        "street_office",
    ):
        who = live.as_(PARTIES[role])
        who.task("vote", case_id)
        if role == "owners_committee":
            who.shot("31-walk-owners-committee-vote")
        who.vote(role)
        done(who, "vote", case_id)
    so.task("stage", case_id)
    so.expect(so.page.locator("#meeting")).not_to_contain_text("尚未登记")
    so.upload("meeting_minutes")
    so.upload("sign_in_sheet")
    so.act(
        "meeting_approve",
        "编制维修方案与预算",
        paying_scope=["2栋"],
        scope_reason="报警系统仅覆盖2栋",
        budget_estimate="56000",
        implementer="property_company",
    )

    # 5. plan and budget; 6. cost review, fund review, no advance
    pc.task("stage", case_id)
    pc.upload("repair_plan")
    pc.upload("budget")
    pc.act("submit_plan", "造价审核", budget_amount="55800.00", rectification_deadline=in30)
    fc.task("stage", case_id)
    fc.upload("cost_review_report")
    fc.act("confirm_cost", "资金审核", reviewed_amount="54900.00")
    fc.task("stage", case_id)
    fc.upload("application_form")
    fc.act("approve", "预拨资金", approved_amount="54900.00", approval_opinion="同意应急使用")
    fc.task("stage", case_id)
    fc.act("skip_advance", "整改施工")
    done(fc, "stage", case_id)

    # 7. the works
    pc.task("stage", case_id)
    pc.upload("construction_contract")
    pc.act("complete_works", "竣工验收", completion_date=today)

    # 8. acceptance: each signer from its own 签署 task; the residents' committee has none
    assert ("signature", case_id) not in rc.todo()
    for who in (fr, fc, oc, so):
        who.task("signature", case_id)
        if who is oc:
            oc.shot("32-walk-owners-committee-signature")
        who.act("sign_acceptance", opinion="验收合格")
        done(who, "signature", case_id)
    so.task("stage", case_id)
    so.upload("acceptance_report")
    so.act("pass_acceptance", "结算")

    # 9. settlement; 10. the public notice posted
    pc.task("stage", case_id)
    pc.upload("settlement_statement")
    pc.upload("invoices")
    pc.act("submit_settlement", "费用公示", settled_amount="54620.00")
    so.task("stage", case_id)
    for doc_type in ("notice_text", "notice_photos", "cost_table"):
        so.upload(doc_type)
    so.act("post_notice", notice_place="2栋单元门口公示栏")
    so.state("费用公示")
    # the notice runs 7 days: the street office's task stays, nobody else has one on the case
    assert ("stage", case_id) in so.todo()
    so.shot("33-walk-street-office-todo")
    for role in ("fund_center", "fire_rescue", "residents_committee", "owners_committee", "property_company"):
        assert [k for k, c in live.as_(PARTIES[role]).todo() if c == case_id] == [], role
    so.case(case_id)
    timeline = so.page.locator("#timeline")
    so.expect(timeline.locator("li.met")).to_have_count(10)  # ten stages, each within its deadline
    so.shot("34-walk-case-notice", full=True)
