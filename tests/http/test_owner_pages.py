"""The owners' pages at phone size: the code and the room, then their own share; nothing of
another household; the staff's case page shows the code that the notice prints."""

from __future__ import annotations

import re
from decimal import Decimal

from fundflow.service.usecases import owners
from tests.support.web import csrf_of


def test_an_owner_signs_in_with_the_code_and_sees_their_share_only(web):
    case_id = web.flow.open()
    web.flow.advance(case_id, "fund_review", approved="60000.00")
    web.flow.doc(case_id, "application_form")
    web.flow.fire("fc", case_id, "approve", {"approved_amount": "60000.00", "approval_opinion": "同意"})
    code = owners.owner_code(web.svc.settings.secret_key, case_id)
    staff = web.as_("so").get(f"/cases/{case_id}").text
    assert f'<strong id="owner-code">{code}</strong>' in staff

    phone = web.anonymous()
    form = phone.get("/owner")
    assert form.status_code == 200 and "查询码" in form.text and 'name="viewport"' in form.text
    r = phone.post(
        "/owner",
        data={"csrf_token": csrf_of(form.text), "code": code, "building": "1栋", "unit": "1单元", "room": "101"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/owner/case"
    page = phone.get("/owner/case")
    assert page.status_code == 200 and "1栋1单元101" in page.text
    share = web.world.client.get(f"/api/v1/cases/{case_id}/apportionment", headers=web.world.h("so")).json()
    mine = next(x for x in share["rows"] if x["room"] == "101" and x["building"] == "1栋" and x["unit"] == "1单元")
    shown = f"{Decimal(mine['share']):,.2f}"
    assert re.search(r'id="o-share">\s*' + re.escape(shown), page.text), shown
    for other in share["rows"]:
        if other["household_id"] != mine["household_id"]:
            assert f"{other['building']}{other['unit']}{other['room']}" not in page.text
    # the staff pages stay closed to the owner's pass
    assert phone.get("/cases").status_code in (302, 303, 401)


def test_a_wrong_room_says_so_in_chinese_and_keeps_what_was_typed(web):
    case_id = web.flow.open()
    phone = web.anonymous()
    form = phone.get("/owner")
    r = phone.post(
        "/owner",
        data={
            "csrf_token": csrf_of(form.text),
            "code": owners.owner_code(web.svc.settings.secret_key, case_id),
            "building": "9栋",
            "unit": "",
            "room": "101",
        },
    )
    assert r.status_code == 401 and "查询码或房号不正确" in r.text and 'value="9栋"' in r.text
    assert phone.get("/owner/case").status_code == 401  # no pass, the form again
