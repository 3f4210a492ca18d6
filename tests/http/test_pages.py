"""The pages through TestClient: each renders in Chinese for the right user, refuses the wrong
one, shows the engine's reasons, and takes no form POST without its CSRF token."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from fundflow.service.usecases import cases as case_uc
from fundflow.service.usecases import queries
from tests.support.flows import add_user, load_user
from tests.support.web import Web, csrf_of
from tests.support.world import NOW

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "fundflow" / "http" / "web"


def chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def open_case(web: Web, title: str = "1栋消防水泵无法启动", **kw) -> int:
    return web.flow.open(title=title, **kw)


# -- login, logout, CSRF -------------------------------------------------------------------------


def test_a_page_without_a_session_sends_the_browser_to_the_login_page(web):
    r = web.anonymous().get("/cases?q=桂园")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/cases")


def test_login_page_is_chinese_and_every_field_has_a_label(web):
    r = web.anonymous().get("/login")
    assert r.status_code == 200 and "登录" in r.text
    assert '<html lang="zh-CN">' in r.text
    for field_id in ("username", "password"):
        assert f'<label for="{field_id}">' in r.text and f'id="{field_id}"' in r.text
    assert "fundflow_csrf=" in r.headers["set-cookie"] and "httponly" in r.headers["set-cookie"].lower()


def test_a_password_login_keeps_the_token_in_an_httponly_lax_cookie(web):
    client = web.anonymous()
    token = csrf_of(client.get("/login?next=/cases").text)
    r = client.post(
        "/login", data={"username": "so", "password": "password-123", "csrf_token": token, "next": "/cases"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/cases"
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("fundflow_token=")][0].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "我的待办" in page.text and "退出登录" in page.text


def test_a_wrong_password_is_refused_in_chinese(web):
    client = web.anonymous()
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "so", "password": "wrong-password", "csrf_token": token})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert "fundflow_token=" not in r.headers.get("set-cookie", "")


def test_login_requires_the_login_forms_csrf_token(web):
    client = web.anonymous()
    client.get("/login")  # sets the pre-login cookie
    r = client.post("/login", data={"username": "so", "password": "password-123", "csrf_token": "0" * 64})
    assert r.status_code == 403 and "fundflow_token=" not in r.headers.get("set-cookie", "")
    assert "已过期" in r.text


def test_login_does_not_redirect_off_site(web):
    client = web.anonymous()
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login", data={"username": "so", "password": "password-123", "csrf_token": token, "next": "//evil.example/"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_logout_needs_the_csrf_token_and_then_clears_the_cookie(web):
    client = web.as_("so")
    assert client.post("/logout", data={}).status_code == 403
    r = client.post("/logout", data={"csrf_token": web.csrf("so")})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert any(c.startswith('fundflow_token=""') or "max-age=0" in c.lower() for c in r.headers.get_list("set-cookie"))


def test_a_failed_partial_update_replaces_the_main_content_with_the_message(web):
    case_id = open_case(web)
    r = web.as_("so").post(
        f"/cases/{case_id}/actions/withdraw", data={"reason": "业主自行维修"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 403 and r.headers["HX-Retarget"] == "#main" and r.headers["HX-Reswap"] == "innerHTML"
    assert r.text.lstrip().startswith('<div class="card" role="alert"') and "<html" not in r.text


def test_an_expired_session_under_htmx_is_sent_to_the_login_page(web):
    client = web.anonymous()
    client.cookies.set("fundflow_token", "ff_expired-or-unknown-token-0000000000000")
    r = client.get("/cases?q=1", headers={"HX-Request": "true", "HX-Target": "case-results"})
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/login?next=/cases")


def test_the_csrf_token_of_one_session_does_not_work_in_another(web):
    case_id = open_case(web)
    foreign = web.csrf("so")  # the street office's token, replayed by the fire authority
    r = web.as_("fr").post(
        f"/cases/{case_id}/actions/not_major", data={"csrf_token": foreign, "reason": "不构成重大隐患"}
    )
    assert r.status_code == 403 and "CSRF" in r.text
    assert case_uc.get_case(web.svc, load_user(web.svc, web.ids["user_fr"]), case_id, NOW)["state"] == "reported"


def test_no_form_post_is_taken_without_the_csrf_token(web):
    case_id = open_case(web)
    client = web.as_("so")
    posts = [
        (f"/cases/{case_id}/actions/withdraw", {"reason": "业主自行维修"}),
        (f"/cases/{case_id}/votes", {"party": "street_office", "vote": "agree"}),
        ("/cases/new", {"community_id": str(web.ids["community_a"]), "title": "消火栓无水"}),
    ]
    for path, data in posts:
        r = client.post(path, data=data)
        assert r.status_code == 403, path
    r = client.post(
        f"/cases/{case_id}/documents",
        data={"doc_type": "hazard_photos"},
        files={"file": ("a.jpg", b"jpeg", "image/jpeg")},
    )
    assert r.status_code == 403
    assert queries.list_cases(web.svc, load_user(web.svc, web.ids["user_so"]), now=NOW)["total"] == 1
    assert "已撤回" not in client.get(f"/cases/{case_id}").text


# -- my work, the case list ----------------------------------------------------------------------------


def test_my_work_lists_the_cases_waiting_on_my_role_by_due_date_overdue_in_red(web):
    web.flow.now = NOW - timedelta(days=14)
    late = open_case(web, "2栋应急照明损坏")  # the fire authority's 5 working days ran out
    web.flow.now = NOW
    fresh = open_case(web, "1栋消防水泵无法启动")
    page = web.as_("fr").get("/").text
    assert "我的待办" in page and "共 2 件" in page
    assert page.index(f"/cases/{late}") < page.index(f"/cases/{fresh}")  # by due date
    row = page[page.rindex("<tr", 0, page.index(f"/cases/{late}")) : page.index(f"/cases/{late}")]
    assert 'class="overdue"' in row and "已超期" in row
    assert "剩 5 个工作日" in page  # the fresh case
    # the street office's work is elsewhere: neither case waits on it
    assert "共 0 件" in web.as_("so").get("/").text


def test_a_warned_case_is_amber_with_its_working_days_left(web):
    """Due on the next working day: amber with 1 working day left on the page, in the API and in
    the warning the scan sends (one rule: workflow.deadlines.deadline_status)."""
    from fundflow.service.usecases import alerts

    cal = web.svc.calendar
    opened = cal.add_workdays(NOW.date(), -4).date  # due on the next working day
    web.flow.now = NOW.replace(year=opened.year, month=opened.month, day=opened.day)
    case_id = open_case(web)
    stage = case_uc.get_case(web.svc, load_user(web.svc, web.ids["user_fr"]), case_id, NOW)["stage"]
    assert stage["warned"] and not stage["overdue"] and stage["working_days_left"] == 1
    page = web.as_("fr").get("/").text
    assert 'class="warned"' in page and "即将到期：剩 1 个工作日" in page
    warning = [a for a in alerts.scan(web.svc, NOW).alerts if a["case_id"] == case_id and a["kind"] == "warning"]
    assert len(warning) == 1
    inbox = web.as_("fr").get("/api/v1/alerts").json()["items"]
    assert any("剩余 1 个工作日" in a["message"] for a in inbox if a["case_id"] == case_id)
    # on the due date itself: 0 left, said as 今日到期 everywhere
    due = cal.add_workdays(NOW.date(), 1).date
    then = NOW.replace(year=due.year, month=due.month, day=due.day)
    stage = case_uc.get_case(web.svc, load_user(web.svc, web.ids["user_fr"]), case_id, then)["stage"]
    assert stage["warned"] and stage["working_days_left"] == 0


def test_the_case_list_filters_and_pages(web):
    for i in range(23):
        open_case(web, f"第{i + 1}号隐患")
    cgt, _ = add_user(web.world, "so_cgt", "street_office", "HT-CGT")
    other = case_uc.open_case(
        web.svc,
        cgt,
        definition="fire_hazard_emergency",
        community_id=web.ids["community_b"],
        title="茨菇塘小区消火栓无水",
        data={},
        buildings=None,
        now=NOW,
    ).body["id"]
    client = web.as_("fc")  # the fund center sees the whole city
    first = client.get("/cases").text
    assert "共 24 件" in first and "第 1 / 2 页" in first and "下一页" in first
    assert len(re.findall(r'href="/cases/\d+"', first)) == 20
    second = client.get("/cases?page=2").text
    assert len(re.findall(r'href="/cases/\d+"', second)) == 4
    found = client.get("/cases", params={"q": "茨菇塘"}).text
    assert "共 1 件" in found and f"/cases/{other}" in found
    by_office = client.get("/cases", params={"street_office_id": web.ids["office_cgt"]}).text
    assert "共 1 件" in by_office
    assert "共 0 件" in client.get("/cases", params={"overdue": "yes"}).text
    assert "共 24 件" in client.get("/cases", params={"state": "reported", "include_closed": "no"}).text


def test_the_filters_update_only_the_results_under_htmx(web):
    open_case(web)
    r = web.as_("so").get("/cases", params={"q": "水泵"}, headers={"HX-Request": "true", "HX-Target": "case-results"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="case-results">')
    assert "<html" not in r.text and "共 1 件" in r.text


def test_a_street_office_sees_only_its_own_cases_in_the_list(web):
    open_case(web)
    page = web.as_("so_other").get("/cases").text
    assert "共 0 件" in page


# -- the case page ---------------------------------------------------------------------------------------


def test_the_case_page_shows_state_deadline_actions_with_labelled_fields(web):
    case_id = open_case(web)
    page = web.as_("fr").get(f"/cases/{case_id}").text
    assert "隐患上报，待消防认定" in page and "剩 5 个工作日" in page
    assert "认定为重大火灾隐患" in page and "不构成重大隐患，转常规维修" in page
    for name, label in (("notice_no", "通知书文号"), ("finding_route", "判定方式"), ("hazard_elements", "判定要素")):
        assert f'<label for="a-confirm_major-{name}">{label}' in page
        assert f'id="a-confirm_major-{name}" name="{name}"' in page
    assert '<option value="direct">直接判定</option>' in page
    assert "隐患照片（未上传）" in page  # the stage's document still missing
    assert "办理进程" in page and "按期完成" not in page and "办理中" in page
    # the escalation ladder's first step (stages.escalate_at), in Beijing time
    assert "逾期未办结的，自 2026-03-10 00:00 起逐级提醒、督办" in page  # the end of the due day
    assert "您（荷塘区消防救援机构）当前可以执行" in page  # the unit's name, not just its district


def test_a_party_with_nothing_to_do_sees_who_is_responsible(web):
    case_id = open_case(web)
    page = web.as_("pc").get(f"/cases/{case_id}").text
    assert "当前环节由消防救援机构办理" in page and "确认：" not in page


def test_another_street_office_gets_a_404_page_for_a_case_not_in_its_jurisdiction(web):
    case_id = open_case(web)
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/apportionment.xlsx"):
        r = web.as_("so_other").get(path)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"]
        assert "案件不存在或不在您的管辖范围内" in r.text
    r = web.as_("so_other").post(
        f"/cases/{case_id}/actions/withdraw", data={"csrf_token": web.csrf("so_other"), "reason": "越权撤回"}
    )
    assert r.status_code == 404 and "案件不存在或不在您的管辖范围内" in r.text


def test_a_refused_action_shows_the_engines_reason_next_to_its_form(web):
    case_id = open_case(web)
    web.flow.doc(case_id, "hazard_photos")  # but not the fire authority's written notice
    r = web.as_("fr").post(
        f"/cases/{case_id}/actions/confirm_major",
        data={
            "csrf_token": web.csrf("fr"),
            "notice_no": "株荷消隐字〔2026〕18号",
            "finding_route": "direct",
            "hazard_elements": "消防水泵无法启动",
        },
    )
    assert r.status_code == 409
    # the guard's own words (it names the document type's id, not its label: reported upstream)
    assert re.search(r"无法办理：</strong>缺少材料[^<]*：(重大火灾隐患通知书|fire_notice)", r.text)
    assert '<details class="action" id="action-confirm_major" open>' in r.text
    assert 'value="株荷消隐字〔2026〕18号"' in r.text  # what was typed stays
    assert "隐患上报，待消防认定" in r.text


def test_under_htmx_a_refusal_swaps_only_the_case_body(web):
    case_id = open_case(web)
    r = web.as_("fr").post(
        f"/cases/{case_id}/actions/confirm_major",
        headers={"HX-Request": "true"},
        data={"csrf_token": web.csrf("fr"), "notice_no": "1", "finding_route": "direct", "hazard_elements": "水泵"},
    )
    assert r.status_code == 409 and r.text.lstrip().startswith('<div id="case-body">') and "<html" not in r.text
    assert "前须上传" in r.text


def test_an_action_the_page_does_not_offer_is_refused_by_the_engine_with_its_reason(web):
    case_id = open_case(web)
    r = web.as_("pc").post(f"/cases/{case_id}/actions/confirm_major", data={"csrf_token": web.csrf("pc")})
    assert r.status_code == 409 and "物业服务企业无权执行“认定为重大火灾隐患”" in r.text


def test_a_missing_field_names_the_field(web):
    case_id = open_case(web)
    web.flow.doc(case_id, "hazard_photos", "fire_notice")
    r = web.as_("fr").post(
        f"/cases/{case_id}/actions/confirm_major",
        data={"csrf_token": web.csrf("fr"), "notice_no": "株荷消隐字〔2026〕18号", "finding_route": "direct"},
    )
    assert r.status_code == 409 and "请填写“判定要素”" in r.text
    assert re.search(
        r'<input id="a-confirm_major-hazard_elements" name="hazard_elements" [^>]*required aria-invalid="true">', r.text
    )


def test_a_stale_page_is_told_to_refresh(web):
    case_id = open_case(web)
    web.flow.doc(case_id, "hazard_photos", "fire_notice")
    version = case_uc.get_case(web.svc, load_user(web.svc, web.ids["user_fr"]), case_id, NOW)["version"]
    r = web.as_("fr").post(
        f"/cases/{case_id}/actions/confirm_major",
        data={
            "csrf_token": web.csrf("fr"),
            "version": str(version - 1),
            "notice_no": "1",
            "finding_route": "direct",
            "hazard_elements": "水泵",
        },
    )
    assert r.status_code == 412 and "请刷新后重试" in r.text


def test_upload_then_act_moves_the_case_and_the_timeline_shows_it(web):
    case_id = open_case(web)
    fr = web.as_("fr")
    for doc_type in ("hazard_photos", "fire_notice"):
        r = fr.post(
            f"/cases/{case_id}/documents",
            data={"csrf_token": web.csrf("fr"), "doc_type": doc_type},
            files={"file": (f"{doc_type}.pdf", b"%PDF-1.4 test", "application/pdf")},
        )
        assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}?done=1#documents"
    r = fr.post(
        f"/cases/{case_id}/actions/confirm_major",
        data={
            "csrf_token": web.csrf("fr"),
            "notice_no": "株荷消隐字〔2026〕18号",
            "finding_route": "direct",
            "hazard_elements": "消防水泵无法启动",
            "comment": "现场核实",
        },
    )
    assert r.status_code == 303
    page = fr.get(r.headers["location"]).text
    assert "已办理：认定为重大火灾隐患。案件现处于“现场查勘”。" in page
    assert '<span id="case-state">现场查勘</span>' in page
    assert "按期完成" in page  # the finding came within its 5 working days
    assert "判定方式（GB 35181-2025）：直接判定" in page and "现场核实" in page  # the event log, labelled


def test_under_htmx_a_successful_action_returns_the_new_case_body(web):
    case_id = open_case(web)
    web.flow.doc(case_id, "hazard_photos")
    r = web.as_("fr").post(
        f"/cases/{case_id}/actions/not_major",
        headers={"HX-Request": "true"},
        data={"csrf_token": web.csrf("fr"), "reason": "可现场整改，不构成重大火灾隐患"},
    )
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="case-body">')
    assert "非重大隐患，转常规维修" in r.text and "已结案" in r.text and "确认：" not in r.text


def test_documents_are_listed_and_downloaded(web):
    case_id = open_case(web)
    r = web.as_("so").post(
        f"/cases/{case_id}/documents",
        data={"csrf_token": web.csrf("so"), "doc_type": "hazard_photos"},
        files={"file": ("泵房.jpg", b"\xff\xd8\xff photo", "image/jpeg")},
    )
    assert r.status_code == 303
    page = web.as_("so").get(f"/cases/{case_id}").text
    m = re.search(rf'href="/cases/{case_id}/documents/(\d+)">泵房.jpg</a>', page)
    assert m and "✓ 隐患照片" in page
    got = web.as_("so").get(f"/cases/{case_id}/documents/{m.group(1)}")
    assert got.status_code == 200 and got.content == b"\xff\xd8\xff photo"
    assert web.as_("so_other").get(f"/cases/{case_id}/documents/{m.group(1)}").status_code == 404


def test_an_unknown_document_type_is_refused_in_chinese(web):
    case_id = open_case(web)
    r = web.as_("so").post(
        f"/cases/{case_id}/documents",
        data={"csrf_token": web.csrf("so"), "doc_type": "selfie"},
        files={"file": ("a.jpg", b"x", "image/jpeg")},
    )
    assert r.status_code == 422 and "未知的材料类型：selfie" in r.text


def test_the_joint_meeting_shows_each_partys_sign_off_and_takes_votes(web):
    case_id = open_case(web)
    web.flow.advance(case_id, "joint_meeting")
    so = web.as_("so")
    page = so.get(f"/cases/{case_id}").text
    assert "联席会议表决" in page and page.count("尚未登记") == 6
    assert '<label for="v-party">参会单位</label>' in page
    r = so.post(
        f"/cases/{case_id}/votes",
        data={
            "csrf_token": web.csrf("so"),
            "party": "fund_center",
            "attended": "yes",
            "vote": "agree",
            "opinion": "余额充足，同意",
        },
    )
    assert r.status_code == 303
    page = so.get(r.headers["location"]).text
    assert "余额充足，同意" in page and page.count("尚未登记") == 5 and "已办理：登记表决：维修资金管理中心" in page
    # a party records only its own vote: the fund center's form offers the fund center alone
    fc_page = web.as_("fc").get(f"/cases/{case_id}").text
    options = re.search(r'<select id="v-party" name="party" required>(.*?)</select>', fc_page, re.S).group(1)
    assert options.count("<option") == 1 and "维修资金管理中心" in options
    bad = so.post(
        f"/cases/{case_id}/votes",
        data={"csrf_token": web.csrf("so"), "party": "fire_rescue", "attended": "no", "vote": "agree"},
    )
    assert bad.status_code == 422 and "未出席的单位不能表决" in bad.text


def test_meeting_approval_is_refused_without_a_quorum_with_the_guards_reason(web):
    case_id = open_case(web)
    web.flow.advance(case_id, "joint_meeting")
    web.flow.doc(case_id, "meeting_minutes", "sign_in_sheet")
    r = web.as_("so").post(
        f"/cases/{case_id}/actions/meeting_approve",
        data={"csrf_token": web.csrf("so"), "budget_estimate": "86000", "implementer": "property_company"},
    )
    assert r.status_code == 409 and "无法办理" in r.text and "出席" in r.text


def test_the_apportionment_table_and_its_excel_export(web):
    case_id = open_case(web)
    web.flow.advance(case_id, "advance_payment", approved="80000.00")
    page = web.as_("so").get(f"/cases/{case_id}").text
    assert "按建筑面积分摊核准金额" in page and "80,000.00 元" in page and "共 5 户" in page
    assert f'href="/cases/{case_id}/apportionment.xlsx"' in page
    r = web.as_("so").get(f"/cases/{case_id}/apportionment.xlsx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.title == "分户费用分摊表"


def test_a_case_without_an_amount_says_why_there_is_no_apportionment(web):
    case_id = open_case(web)
    assert "案件尚无核准或结算金额，无法分摊" in web.as_("so").get(f"/cases/{case_id}").text


# -- a new case ---------------------------------------------------------------------------------------------


def test_the_new_case_form_has_labelled_fields_and_the_communitys_buildings(web):
    page = web.as_("so").get("/cases/new").text
    for field_id, label in (("n-community", "小区"), ("n-title", "标题"), ("n-photos", "隐患照片")):
        assert f'<label for="{field_id}">{label}' in page
    assert "月塘新村" in page and "茨菇塘小区" not in page  # only the office's own communities
    assert 'value="1栋"' in page and 'value="2栋"' in page
    part = web.as_("so").get("/cases/new/buildings", params={"community_id": web.ids["community_a"]})
    assert part.text.lstrip().startswith('<fieldset id="buildings">')


def test_the_new_case_form_speaks_the_chosen_procedures_words(web):
    """Heading, intro, field labels and categories come from the chosen definition's open_form."""
    so = web.as_("so")
    fire = so.get("/cases/new").text
    assert "<h1>上报隐患（发起案件）</h1>" in fire and '<label for="n-category">隐患类别' in fire
    assert '<option value="消防水泵故障">' in fire and '<option value="电梯困人">' not in fire
    assert 'name="definition" value="fire_hazard_emergency"' in fire
    assert 'href="/cases/new?definition=lift_fault_emergency' in fire  # the other procedure, one link away
    lift = so.get("/cases/new", params={"definition": "lift_fault_emergency"}).text
    assert "<h1>上报电梯故障（发起案件）</h1>" in lift and '<label for="n-category">故障类别' in lift
    assert '<label for="n-description">故障描述' in lift
    assert '<option value="电梯困人">' in lift and '<option value="消防水泵故障">' not in lift
    assert 'name="definition" value="lift_fault_emergency"' in lift
    # an unknown procedure falls back to the first one the role may open
    assert "<h1>上报隐患（发起案件）</h1>" in so.get("/cases/new", params={"definition": "nope"}).text


def test_a_hazard_report_opens_the_case_and_attaches_the_photos(web):
    so = web.as_("so")
    r = so.post(
        "/cases/new",
        data={
            "csrf_token": web.csrf("so", "/cases/new"),
            "definition": "fire_hazard_emergency",
            "community_id": str(web.ids["community_a"]),
            "buildings": ["1栋"],
            "title": "1栋消防水泵无法启动",
            "hazard_category": "消防水泵故障",
            "description": "水泵电机烧毁",
        },
        files=[
            ("photos", ("泵房1.jpg", b"\xff\xd8 one", "image/jpeg")),
            ("photos", ("泵房2.jpg", b"\xff\xd8 two", "image/jpeg")),
        ],
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?created=1")
    page = so.get(r.headers["location"]).text
    assert "案件已立案。" in page and "1栋消防水泵无法启动" in page
    assert "泵房1.jpg" in page and "泵房2.jpg" in page and "✓ 隐患照片" in page
    assert "隐患类别" in page and "消防水泵故障" in page


def test_a_report_the_use_case_refuses_keeps_what_was_typed(web):
    r = web.as_("so").post(
        "/cases/new",
        data={
            "csrf_token": web.csrf("so", "/cases/new"),
            "definition": "fire_hazard_emergency",
            "community_id": str(web.ids["community_a"]),
            "buildings": ["9栋"],
            "title": "9栋消火栓无水",
            "description": "无水",
        },
    )
    assert r.status_code == 422 and "本小区没有以下楼栋：9栋" in r.text and 'value="9栋消火栓无水"' in r.text


def test_a_role_that_cannot_report_gets_no_form(web):
    r = web.as_("fc").get("/cases/new")
    assert r.status_code == 403 and "不能发起案件" in r.text
    assert "上报隐患" not in web.as_("fc").get("/cases").text.split("</nav>")[0]


# -- the figures, the procedure, the static files -----------------------------------------------------------------


def test_the_housing_bureau_dashboard_shows_the_figures_per_district_and_office(web):
    case_id = open_case(web)
    web.flow.advance(case_id, "advance_payment", approved="80000.00")
    open_case(web, "2栋防火门损坏")
    page = web.as_("hb").get("/dashboard").text
    assert "统计看板" in page and "各街道办事处" in page and "荷塘区" in page and "月塘街道" in page
    assert "发起案件" in page and "80,000.00" in page and "各环节平均办理用时（工作日）" in page
    assert "隐患上报，待消防认定" in page  # a stage's average, by its label
    assert 'class="fill"' in page  # the bars


def test_the_procedure_page_lists_states_transitions_and_the_mermaid_source(web):
    client = web.as_("so")
    assert "住宅小区重大火灾隐患维修资金应急使用" in client.get("/procedures").text
    page = client.get("/procedures/fire_hazard_emergency").text
    assert "现场查勘" in page and "2个工作日" in page and "按“整改完成期限”所定日期" in page
    assert "联席会议达到法定人数并通过" in page and "stateDiagram-v2" in page
    assert client.get("/procedures/nope").status_code == 404


def test_htmx_and_the_stylesheet_are_served_from_the_app_itself(web):
    client = web.anonymous()
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200 and b"htmx" in js.content[:200] and len(js.content) > 40_000
    assert client.get("/static/app.css").status_code == 200
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, f"{template.name} loads something from outside"


@pytest.mark.parametrize("path", ["/", "/cases", "/cases/new", "/dashboard", "/procedures"])
def test_every_page_is_chinese_with_a_main_landmark_and_focus_styles(web, path):
    r = web.as_("so").get(path)
    assert r.status_code == 200 and chinese(r.text)
    assert '<main id="main"' in r.text and 'href="#main"' in r.text
    assert ":focus-visible" in (WEB / "static" / "app.css").read_text(encoding="utf-8")


def test_the_pages_compare_no_state_names(web):
    """What a user may do comes from the case view's actions; no page knows a state by name."""
    states = {s for d in web.svc.registry for s in d.states}
    sources = list((WEB / "templates").glob("*.html")) + list(WEB.glob("*.py"))
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for state in states:
            assert f"'{state}'" not in text and f'"{state}"' not in text, f"{path.name} names the state {state}"


def test_the_pages_are_not_in_the_api_schema(web):
    paths = web.anonymous().get("/openapi.json").json()["paths"]
    assert all(p.startswith("/api/") or p in ("/healthz", "/metrics") for p in paths)


# -- the alerts inbox -------------------------------------------------------------------------------------------


def _overdue_case_with_alerts(web: Web) -> int:
    from fundflow.service.usecases import alerts

    web.flow.now = NOW - timedelta(days=14)
    case_id = open_case(web, "2栋应急照明损坏")
    web.flow.now = NOW
    alerts.scan(web.svc, NOW)
    return case_id


def test_the_alerts_inbox_lists_my_alerts_and_acknowledges_one(web):
    case_id = _overdue_case_with_alerts(web)
    fr = web.as_("fr")
    page = fr.get("/alerts").text
    assert "预警消息" in page and "超期" in page and f'href="/cases/{case_id}"' in page
    unread = int(re.search(r"未读 (\d+) 条", page).group(1))
    assert unread >= 1 and re.search(
        r'id="nav-unacked" class="badge-count"><span class="skip-text">未读 </span>\d+', page
    )
    alert_id = int(re.search(r'action="/alerts/(\d+)/ack"', page).group(1))
    assert fr.post(f"/alerts/{alert_id}/ack", data={}).status_code == 403  # CSRF
    r = fr.post(f"/alerts/{alert_id}/ack", data={"csrf_token": web.csrf("fr"), "back": "/alerts?unread=1"})
    assert r.status_code == 303 and r.headers["location"] == "/alerts?unread=1"
    after = fr.get("/alerts").text
    assert f"未读 {unread - 1} 条" in after and "已读" in after
    assert f'id="alert-{alert_id}"' not in fr.get("/alerts?unread=1").text


def test_acknowledging_under_htmx_swaps_the_row_and_the_menus_count(web):
    _overdue_case_with_alerts(web)
    fr = web.as_("fr")
    page = fr.get("/alerts").text
    alert_id = int(re.search(r'action="/alerts/(\d+)/ack"', page).group(1))
    r = fr.post(f"/alerts/{alert_id}/ack", data={"csrf_token": web.csrf("fr")}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<tr id="alert-{alert_id}">')
    assert 'id="nav-unacked" class="badge-count" hx-swap-oob="true"' in r.text and "已读" in r.text


def test_another_street_office_sees_none_of_these_alerts(web):
    _overdue_case_with_alerts(web)
    page = web.as_("so_other").get("/alerts").text
    assert "暂无提醒" in page
    assert web.as_("so_other").post("/alerts/1/ack", data={"csrf_token": web.csrf("so_other")}).status_code == 404


def test_the_case_page_shows_the_money_and_the_household_statement_page_its_entries(web):
    """Approved, frozen, paid by payment, retention held, remaining on the case page; each
    household's statement (分户账明细) one click away, with its Excel."""
    flow = web.flow
    case_id = flow.open(buildings=["2栋"])
    flow.advance(case_id, "warranty", approved="2000.00", settled="1800.00")
    page = web.as_("fc").get(f"/cases/{case_id}").text
    for figure, value in (
        ("approved", "2000.00"),
        ("settled", "1800.00"),
        ("paid", "1620.00"),
        ("frozen", "180.00"),
        ("retention_held", "180.00"),
        ("remaining", "180.00"),
    ):
        assert f'data-money="{figure}" data-amount="{value}"' in page, figure
    assert "拨付记录" in page and "拨付尾款" in page and "质保金留存" in page
    assert "续交通知" in page and ".xlsx" in page  # 2栋102 is below 30% of its first deposit
    hid = int(page.split('href="/households/')[1].split('"')[0])
    statement = web.as_("fc").get(f"/households/{hid}")
    assert statement.status_code == 200 and "分户账明细" in statement.text and "冻结" in statement.text
    assert "支取" in statement.text and f"/households/{hid}/ledger.xlsx" in statement.text
    xlsx = web.as_("fc").get(f"/households/{hid}/ledger.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
