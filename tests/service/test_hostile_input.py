"""A NUL character (which PostgreSQL cannot store) is refused with 422 wherever it comes in."""

from __future__ import annotations

import pytest

NUL = "\u0000"


@pytest.fixture
def case_id(world):
    r = world.client.post("/api/v1/cases", headers=world.h("so"), json={
        "definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "消防泵"})
    assert r.status_code == 201
    return r.json()["id"]


def test_nul_in_bodies_is_refused(world, case_id):
    attempts = [
        ("post", "/api/v1/cases", "so", {"definition": "fire_hazard_emergency",
                                        "community_id": world.ids["community_a"], "title": f"a{NUL}b"}),
        ("post", "/api/v1/cases", "so", {"definition": "fire_hazard_emergency",
                                        "community_id": world.ids["community_a"], "title": "t", "data": {"k": f"a{NUL}"}}),
        ("post", f"/api/v1/cases/{case_id}/transitions", "so", {"trigger": "withdraw", "data": {"reason": f"理由{NUL}"}}),
        ("post", f"/api/v1/cases/{case_id}/transitions", "so", {"trigger": "withdraw", "data": {"reason": "理由充分"},
                                                               "comment": f"x{NUL}"}),
        ("post", "/api/v1/communities", "fc", {"name": f"n{NUL}", "street_office_id": world.ids["office_yt"]}),
        ("post", "/api/v1/login", None, {"username": f"so{NUL}", "password": "password-123"}),
        ("post", f"/api/v1/communities/{world.ids['community_a']}/households", "so",
         [{"楼栋": f"3栋{NUL}", "单元": "1", "房号": "101", "建筑面积": "80", "分户账余额": "1", "首次交存额": "1"}]),
    ]
    for method, url, who, body in attempts:
        r = getattr(world.client, method)(url, json=body, headers=world.h(who) if who else {})
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert "U+0000" in r.text
    events = world.client.get(f"/api/v1/cases/{case_id}/events", headers=world.h("so")).json()
    assert [e["trigger"] for e in events] == ["open"]  # nothing was written


@pytest.mark.parametrize("query", ["q=a%00", "state=a%00"])
def test_nul_in_the_query_string_is_refused(world, query):
    r = world.client.get(f"/api/v1/cases?{query}", headers=world.h("so"))
    assert r.status_code == 422 and r.json()["code"] == "nul_character"


def test_a_new_case_cannot_preset_what_the_procedure_records(world):
    """Keys the transitions fill in (amounts, signatures, counters) are refused at opening."""
    for data in ({"signatures": "x"}, {"counters": {"open_objections": -5}}, {"approved_amount": "9999999"}):
        r = world.client.post("/api/v1/cases", headers=world.h("so"), json={
            "definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t", "data": data})
        assert r.status_code == 422 and r.json()["code"] == "reserved_case_data", r.text


def test_only_the_meeting_parties_vote(world):
    """The housing bureau supervises; it is not one of the six parties and cannot vote."""
    r = world.client.post("/api/v1/cases", headers=world.h("so"), json={
        "definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t"})
    case = r.json()["id"]
    from service.tables import Case

    with world.svc.sessions() as s, s.begin():  # put the case at the meeting directly
        row = s.get(Case, case)
        row.state = "joint_meeting"
    r = world.client.post(f"/api/v1/cases/{case}/votes", headers=world.h("so"),
                          json={"party": "housing_bureau", "attended": True, "vote": "agree"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_party"


@pytest.mark.parametrize("path", ["/api/v1/cases/99999999999999999999", "/api/v1/communities/0",
                                  "/api/v1/cases/-1/events", "/api/v1/cases/1/documents/99999999999999999999"])
def test_ids_out_of_range_are_422_not_500(world, path):
    r = world.client.get(path, headers=world.h("fc"))
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


def test_channel_targets_are_masked(world):
    """A robot's URL carries its key: the list shows where alerts go, not the key."""
    key = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0a1b2c3d-secret-4e5f"
    r = world.client.post("/api/v1/channels", headers=world.h("admin"),
                          json={"name": "督办群", "kind": "wecom", "target": key, "role": "housing_bureau"})
    assert r.status_code == 201 and "secret" not in r.text
    listed = world.client.get("/api/v1/channels", headers=world.h("hb")).json()
    assert listed[0]["target"].startswith("https://qyapi.weixin.qq.com/") and "secret" not in str(listed)
