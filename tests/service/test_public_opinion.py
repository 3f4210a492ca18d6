"""The city's second loop, from public_opinion.v1.yaml alone: an opinion registered with its
source, category and the person's contact; dispatched (派单) to a department, transferred (转办),
returned (退回); a solution with the people affected where the category asks for it; answered,
called back, reopened once when unsatisfied; closed as resolved, explained or duplicate."""

from __future__ import annotations

from tests.support.opinions import OPINION, add_opinion_parties
from tests.support.world import NOW

API = "/api/v1"


def _open(world, **changes):
    body = {**OPINION, **changes}
    return world.client.post(f"{API}/cases", json=body, headers=world.h("reg"))


def _fire(world, who, case_id, trigger, **data):
    return world.client.post(
        f"{API}/cases/{case_id}/transitions", json={"trigger": trigger, "data": data}, headers=world.h(who)
    )


def test_an_opinion_is_registered_with_its_source_category_and_contact(world, clock):
    orgs = add_opinion_parties(world, NOW)
    listed = world.client.get(f"{API}/organisations", params={"kind": "department"}, headers=world.h("reg")).json()
    assert {o["name"]: o["id"] for o in listed}["市教育局"] == orgs["edu"]
    assert all(o["kind"] == "department" and o["kind_label"] == "市直部门" for o in listed)
    twice = world.client.get(f"{API}/organisations?kind=department&kind=opinion_center", headers=world.h("reg"))
    assert twice.status_code == 422
    r = _open(world)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["community"] is None and case["street_office"] is None
    assert case["subject"]["name"] == "李女士" and case["subject"]["phone"] == "13807330001"
    assert case["data"]["source"] == "echo_wall" and case["state"] == "registered"
    events = world.client.get(f"{API}/cases/{case['id']}/events", headers=world.h("reg")).json()
    assert events[0]["label"] == "民意登记"


def test_the_open_form_is_validated_from_the_yaml(world, clock):
    add_opinion_parties(world, NOW)
    bad = _open(world, data={"source": "wechat", "hazard_category": "教育"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_open_form" and "source" in bad.json()["detail"]["fields"]
    missing = _open(world, subject={"name": "王先生"})
    assert missing.status_code == 422 and "subject.phone" in missing.json()["detail"]["fields"]
    community = _open(world, community_id=world.ids["community_a"])
    assert community.status_code == 422 and community.json()["code"] == "community_not_allowed"
    fire_without_community = world.client.post(
        f"{API}/cases",
        json={"definition": "fire_hazard_emergency", "title": "消防水泵故障"},
        headers=world.h("so"),
    )
    assert fire_without_community.status_code == 422
    assert fire_without_community.json()["code"] == "community_required"


def test_a_department_sees_only_what_it_handles_and_acts_only_while_it_holds_it(world, clock):
    orgs = add_opinion_parties(world, NOW)
    case_id = _open(world).json()["id"]
    assert world.client.get(f"{API}/cases/{case_id}", headers=world.h("edu")).status_code == 404
    wrong_kind = _fire(world, "reg", case_id, "dispatch", department_id=world.ids["org_center"])
    assert wrong_kind.status_code == 422 and wrong_kind.json()["code"] == "unknown_organisation"
    r = _fire(world, "reg", case_id, "dispatch", department_id=orgs["housing"], dispatch_note="请核实")
    assert r.status_code == 200, r.text
    assert r.json()["organisation"]["name"] == "市住房和城乡建设局" and r.json()["state"] == "handling"
    assert world.client.get(f"{API}/cases/{case_id}", headers=world.h("edu")).status_code == 404
    seen = world.client.get(f"{API}/cases/{case_id}", headers=world.h("housing")).json()
    assert seen["subject"]["phone"] == "13807330001"  # a party that handles it sees the contact
    listed = world.client.get(f"{API}/cases", headers=world.h("housing")).json()
    assert [c["id"] for c in listed["items"]] == [case_id]
    assert listed["items"][0]["community"] is None and listed["items"][0]["subject"]["name"] == "李女士"
    # 转办 to the education bureau: it waits for the bureau's 签收 (still the housing bureau's till then)
    t = world.client.post(
        f"{API}/cases/{case_id}/transfer",
        json={"to_org_id": orgs["edu"], "reason": "属教育部门职责"},
        headers=world.h("housing"),
    )
    assert t.status_code == 201, t.text
    assert world.client.get(f"{API}/cases/{case_id}", headers=world.h("edu")).status_code == 404
    waiting = world.client.get(f"{API}/tasks", headers=world.h("edu")).json()["items"]
    assert [(x["kind"], x["case_id"]) for x in waiting] == [("transfer_accept", case_id)]
    accepted = world.client.post(
        f"{API}/transfers/{t.json()['id']}/decision", json={"accept": True, "note": "已签收"}, headers=world.h("edu")
    )
    assert accepted.status_code == 200, accepted.text
    # it now holds it; the housing bureau still sees it, acts no more
    assert (
        world.client.get(f"{API}/cases/{case_id}", headers=world.h("edu")).json()["organisation"]["id"] == orgs["edu"]
    )
    late = _fire(world, "housing", case_id, "propose_solution", solution="x", people_involved="y")
    assert late.status_code == 403 and late.json()["code"] == "not_case_holder"
    housing_view = world.client.get(f"{API}/cases/{case_id}", headers=world.h("housing")).json()
    assert housing_view["actions"] == []
    tasks = world.client.get(f"{API}/tasks", headers=world.h("edu")).json()
    assert case_id in [t["case_id"] for t in tasks["items"]]
    assert case_id not in [
        t["case_id"] for t in world.client.get(f"{API}/tasks", headers=world.h("housing")).json()["items"]
    ]


def test_the_loop_reopens_once_then_closes_as_explained(world, clock):
    orgs = add_opinion_parties(world, NOW)
    case_id = _open(world).json()["id"]
    assert _fire(world, "reg", case_id, "dispatch", department_id=orgs["edu"]).status_code == 200
    # 教育 asks for the people affected: a solution without them is refused, with the reason
    no_people = _fire(world, "edu", case_id, "propose_solution", solution="增设临时停车区")
    assert no_people.status_code == 409 and "征求群众意见情况" in no_people.json()["message"]
    assert _fire(world, "edu", case_id, "answer", answer_text="已处理").status_code == 409  # no solution yet
    ok = _fire(world, "edu", case_id, "propose_solution", solution="增设临时停车区", people_involved="召开家长座谈会")
    assert ok.status_code == 200, ok.text
    assert (
        _fire(world, "edu", case_id, "answer", answer_text="已增设停车区并安排交警疏导").json()["state"] == "callback"
    )
    assert _fire(world, "reg", case_id, "close_resolved").status_code == 409  # not called back yet
    assert _fire(world, "reg", case_id, "call_back", satisfaction="unsatisfied").status_code == 200
    assert _fire(world, "reg", case_id, "close_resolved").status_code == 409  # unsatisfied
    assert _fire(world, "reg", case_id, "reopen", reopen_reason="群众反映仍有拥堵").json()["state"] == "handling"
    # reopened, the stage starts afresh: a new solution before a new answer
    assert _fire(world, "edu", case_id, "answer", answer_text="增派人员疏导").status_code == 409
    _fire(world, "edu", case_id, "propose_solution", solution="高峰时段增派人员", people_involved="回访家长代表")
    second = _fire(world, "edu", case_id, "answer", answer_text="增派人员疏导")
    assert second.status_code == 200 and second.json()["state"] == "callback", second.text
    assert _fire(world, "reg", case_id, "call_back", satisfaction="unsatisfied").status_code == 200
    again = _fire(world, "reg", case_id, "reopen", reopen_reason="仍不满意")
    assert again.status_code == 409 and "最多 1 次" in again.json()["message"]
    assert _fire(world, "reg", case_id, "call_back", satisfaction="satisfied").status_code == 409  # once a visit
    done = _fire(world, "reg", case_id, "close_explained", explanation="已两次办理，超出部门职权的部分已解释")
    assert done.status_code == 200 and done.json()["state"] == "explained" and done.json()["terminal"]
    assert done.json()["outcome"] == "rejected"


def test_three_distinct_ends_and_a_return(world, clock):
    orgs = add_opinion_parties(world, NOW)
    dup = _open(world).json()["id"]
    r = _fire(world, "reg", dup, "close_duplicate", duplicate_of="FF2026000001")
    assert r.json()["state"] == "duplicate" and r.json()["outcome"] == "diverted"
    other = _open(world, data={"source": "hotline", "hazard_category": "交通出行"}).json()["id"]
    _fire(world, "reg", other, "dispatch", department_id=orgs["traffic"])
    back = _fire(world, "traffic", other, "return_to_previous", reason="不属本部门职责，请重新派单")
    assert back.status_code == 200 and back.json()["state"] == "registered", back.text
    _fire(world, "reg", other, "dispatch", department_id=orgs["housing"])
    # 交通出行 does not ask for the people affected
    assert _fire(world, "housing", other, "propose_solution", solution="说明规划").status_code == 200
    _fire(world, "housing", other, "answer", answer_text="该路段已列入明年改造计划")
    _fire(world, "reg", other, "call_back", satisfaction="basically_satisfied")
    end = _fire(world, "reg", other, "close_resolved")
    assert end.json()["state"] == "resolved" and end.json()["outcome"] == "completed"


def test_a_city_user_of_another_procedure_sees_the_opinion_but_not_the_contact(world, clock):
    add_opinion_parties(world, NOW)
    case_id = _open(world).json()["id"]
    seen = world.client.get(f"{API}/cases/{case_id}", headers=world.h("fc")).json()
    assert seen["subject"]["name"] == "李女士"
    assert "phone" not in seen["subject"] and "address" not in seen["subject"] and seen["subject"]["contact_hidden"]


def test_the_figures_reports_and_pages_cope_with_cases_without_a_community(world, clock):
    """An opinion has no community, street office or district: the figures put it in a row of
    its own, the report and its workbook and the case list still answer."""
    orgs = add_opinion_parties(world, NOW)
    cid = _open(world).json()["id"]
    _fire(world, "reg", cid, "dispatch", department_id=orgs["edu"])
    stats = world.client.get(f"{API}/stats", headers=world.h("hb"))
    assert stats.status_code == 200
    assert [d["district"] for d in stats.json()["districts"] if not d["district_id"]] == ["无属地（市直部门等）"]
    report = world.client.get(f"{API}/reports", params={"month": "2026-03"}, headers=world.h("hb"))
    assert report.status_code == 200, report.text
    assert any(r["name"] == "无属地（市直部门等）" for r in report.json()["districts"])
    book = world.client.get(f"{API}/reports/city.xlsx", params={"month": "2026-03"}, headers=world.h("hb"))
    assert book.status_code == 200 and book.content[:2] == b"PK"
    listed = world.client.get(f"{API}/cases", params={"q": "学校"}, headers=world.h("hb")).json()
    assert [c["id"] for c in listed["items"]] == [cid] and listed["items"][0]["subject"]["name"] == "李女士"


def test_who_holds_an_opinion_and_what_it_is_about_are_in_the_audit_record(world, clock):
    """Moving an opinion to another department, or clearing what it is about, in the database is
    reported by audit verify (the case digest covers them once set); the untouched one verifies."""
    from sqlalchemy import text

    from fundflow.service.db import read_only
    from fundflow.service.integrity.verify import verify_state
    from tests.support.tasklist import assert_verified

    orgs = add_opinion_parties(world, NOW)
    case_id = _open(world).json()["id"]
    assert _fire(world, "reg", case_id, "dispatch", department_id=orgs["housing"]).status_code == 200
    assert_verified(world.svc)

    def findings() -> list[tuple[str, int | None]]:
        svc = world.svc
        with read_only(svc.sessions) as s:
            report = verify_state(
                s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier if svc.signer else None
            )
        return [(f.kind, f.case_id) for f in report.findings]

    for statement, params in (
        ("UPDATE cases SET organisation_id = :o WHERE id = :c", {"o": orgs["edu"], "c": case_id}),
        ("UPDATE cases SET subject = :s WHERE id = :c", {"s": "{}", "c": case_id}),
    ):
        with world.svc.sessions() as s, s.begin():
            before = s.execute(
                text("SELECT organisation_id, CAST(subject AS TEXT) FROM cases WHERE id = :c"), {"c": case_id}
            ).one()
            s.execute(text(statement), params)
        assert ("out_of_step", case_id) in findings(), statement
        with world.svc.sessions() as s, s.begin():  # put back: clean again
            s.execute(
                text("UPDATE cases SET organisation_id = :o, subject = :s WHERE id = :c"),
                {"o": before[0], "s": before[1], "c": case_id},
            )
        assert findings() == [], statement
