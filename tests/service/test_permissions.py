"""Who may do what, over the API: every transition x role, jurisdictions, listing, opening.

The matrix is derived from the loaded definition (every transition, source state and role),
so a transition added to the YAML is checked without touching this file. Rather than one test
per pair, which would drive ~50 fresh cases deep into the procedure, one walk per backend
reuses cases: it checks every refusal on the first case that reaches a state, fires in-place
actions on the spot, prefers moves that send a case back up the road (return_plan,
return_for_correction, fail_acceptance) and spends a fresh case only on a terminal move or an
alternative branch; it fails unless every (transition, source, role) fired once.

``CaseDriver`` advances a case through the API with good data (documents, votes, signatures,
clock); it lives in tests/support/drivers.py, shared with the other API tests.
"""

from __future__ import annotations

from fundflow.domain.definition import Effect
from tests.support.drivers import API, HAPPY, MAIN, OTHERS, PARTIES, ROLE_USER, SEES_A, CaseDriver, expected_actions
from tests.support.world import USERS

# -- the transition x role matrix ----------------------------------------------------------


def _road(definition) -> list[str]:
    """The states of the main road in order, from the initial state along ``HAPPY``."""
    road = [definition.initial]
    while road[-1] in HAPPY:
        road.append(definition.transition(HAPPY[road[-1]][0], road[-1]).dest)
    return road


ROAD = _road(MAIN)
#: every (trigger, source state, role) the definition allows: each must succeed once
SUCCESSES = {(t.trigger, src, role) for t in MAIN.transitions for src in t.sources for role in t.roles}
#: every (trigger, source state): each must be refused to every other visible user
REFUSALS = {(t.trigger, src) for t in MAIN.transitions for src in t.sources}


def test_the_happy_road_and_the_users_cover_the_definition():
    """The helper's road reaches every non-terminal state and every role has a user."""
    assert set(ROAD) == {s.id for s in MAIN.states.values() if not s.terminal} | {"archived"}
    assert {role for t in MAIN.transitions for role in t.roles} <= set(ROLE_USER)
    assert all(ROLE_USER[USERS[u][0]] == u for u in SEES_A if USERS[u][0] in ROLE_USER)


def test_every_transition_succeeds_for_its_roles_and_is_refused_to_every_other_visible_user(world):
    """Cases are walked until every (transition, source, role) of the definition has fired once
    (state, version and audit event checked) and every other user who sees the case got 409
    role_not_allowed with the triggers it may fire, leaving the case untouched."""
    drv = CaseDriver(world)
    # a well-funded household, so that every case of the walk can draw on community A
    rich = [
        {
            "楼栋": "3栋",
            "单元": "1单元",
            "房号": "101",
            "建筑面积": "100",
            "分户账余额": "1000000.00",
            "首次交存额": "1000000.00",
        }
    ]
    r = world.client.post(f"{API}/communities/{world.ids['community_a']}/households", json=rich, headers=world.h("so"))
    assert r.status_code == 201, r.text
    need, unchecked = set(SUCCESSES), set(REFUSALS)

    def refuse_all(case_id: int, state: str) -> None:
        todo = [t for t in MAIN.transitions_from(state) if (t.trigger, state) in unchecked]
        if not todo:
            return
        before = drv.get(case_id)
        for t in todo:
            unchecked.discard((t.trigger, state))
            for who in SEES_A:
                if USERS[who][0] in t.roles:
                    continue
                r = drv.post_fire(case_id, who, t.trigger, drv.data_for(t))
                assert r.status_code == 409, (t.trigger, state, who, r.text)
                body = r.json()
                assert body["code"] == "role_not_allowed" and not body["message"].isascii()
                assert set(body["detail"]["available"]) == expected_actions(MAIN, state, USERS[who][0])
        after = drv.get(case_id)
        assert (after["state"], after["version"]) == (state, before["version"])

    def succeed(case: dict, state: str, trigger: str, role: str) -> dict:
        t = MAIN.transition(trigger, state)
        drv.prepare(case["id"], state, t)
        out = drv.fire(case["id"], ROLE_USER[role], trigger, drv.data_for(t))
        assert out["state"] == (t.dest or state), (trigger, role)
        assert out["version"] > case["version"]
        need.discard((trigger, state, role))
        return out

    for _ in range(20):  # bounded: the walk below needs about a dozen cases
        if not need:
            break
        case = drv.open()
        while not MAIN.states[case["state"]].terminal:
            state = case["state"]
            drv.clock.advance(hours=1)
            refuse_all(case["id"], state)
            here = sorted(n for n in need if n[1] == state)
            in_place = [n for n in here if MAIN.transition(n[0], state).dest is None]
            # raise objections (+1) before answering them (-1)
            in_place.sort(key=lambda n: -((MAIN.transition(n[0], state).effect or Effect()).delta or 0))
            for trigger, _, role in in_place:
                case = succeed(case, state, trigger, role)
            moves = [n for n in here if MAIN.transition(n[0], state).dest is not None]
            onward = [n for n in moves if not MAIN.states[MAIN.transition(n[0], state).dest].terminal]
            # prefer moves back up the road: the case comes round again and is reused
            onward.sort(key=lambda n: ROAD.index(MAIN.transition(n[0], state).dest) > ROAD.index(state))
            later = any(n[1] in ROAD[ROAD.index(state) + 1 :] for n in need)
            if onward:
                case = succeed(case, state, onward[0][0], onward[0][2])
            elif later:
                trigger, who = HAPPY[state]
                case = succeed(case, state, trigger, USERS[who][0])
            elif moves:
                case = succeed(case, state, moves[0][0], moves[0][2])
            else:
                break  # nothing left to check on or after this state
        events = world.client.get(f"{API}/cases/{case['id']}/events", headers=world.h("so")).json()
        assert [
            (e["trigger"], e["role"])
            for e in events  # the audit log has every fire, in order
            if e["trigger"] not in ("open", "attach_document", "record_vote")
        ] == drv.fired.get(case["id"], [])
    assert not need, f"never fired: {sorted(need)}"
    assert len(drv.fired) <= 14, len(drv.fired)  # cases were reused, not one per pair (13 with the ledger paths)
    assert not unchecked


def test_suspension_is_limited_to_its_roles(world):
    """Suspend and resume (built into every definition with suspension) obey their roles."""
    drv = CaseDriver(world)
    case = drv.open()
    reason = {"reason": "等待业主续交维修资金"}
    suspenders = [u for u in SEES_A if USERS[u][0] in MAIN.suspension.roles]
    resumers = [u for u in SEES_A if USERS[u][0] in MAIN.suspension.resume_roles]
    assert suspenders and resumers
    for who in SEES_A:
        if who not in suspenders:
            r = drv.post_fire(case["id"], who, "suspend", reason)
            assert r.status_code == 409 and r.json()["code"] == "role_not_allowed", (who, r.text)
    for i, who in enumerate(suspenders):
        out = drv.fire(case["id"], who, "suspend", reason)
        assert out["suspended"] is True
        assert {a["trigger"] for a in out["actions"]} == ({"resume"} if who in resumers else set())
        for other in SEES_A:
            if other not in resumers:
                r = drv.post_fire(case["id"], other, "resume", reason)
                assert r.status_code == 409 and r.json()["code"] == "role_not_allowed", (other, r.text)
        out = drv.fire(case["id"], resumers[i % len(resumers)], "resume", reason)
        assert out["suspended"] is False and out["state"] == MAIN.initial


# -- jurisdictions -------------------------------------------------------------------------


def test_other_jurisdictions_get_404_for_every_case_route(world):
    """Another street office, district's fire rescue or community's property company gets 404
    case_not_found on every route of a case, and nothing changes; the street office gets through."""
    drv = CaseDriver(world)
    case = drv.case_in("joint_meeting")
    doc = drv.upload(case["id"], "meeting_minutes").json()
    cid = case["id"]
    routes = [
        ("get", f"/cases/{cid}", {}),
        ("post", f"/cases/{cid}/transitions", {"json": {"trigger": "withdraw", "data": {"reason": "不再需要"}}}),
        ("post", f"/cases/{cid}/votes", {"json": {"party": "fund_center", "attended": True, "vote": "agree"}}),
        ("get", f"/cases/{cid}/votes", {}),
        (
            "post",
            f"/cases/{cid}/documents",
            {"data": {"doc_type": "sign_in_sheet"}, "files": {"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}},
        ),
        ("get", f"/cases/{cid}/documents", {}),
        ("get", f"/cases/{cid}/documents/{doc['id']}", {}),
        ("get", f"/cases/{cid}/events", {}),
        ("get", f"/cases/{cid}/apportionment", {}),
        ("get", f"/cases/{cid}/apportionment.xlsx", {}),
    ]
    before = drv.get(cid)
    docs = len(world.client.get(f"{API}/cases/{cid}/documents", headers=world.h("so")).json())
    for who in OTHERS:
        for method, path, kw in routes:
            r = getattr(world.client, method)(API + path, headers=world.h(who), **kw)
            assert r.status_code == 404, (who, method, path, r.text)
            assert r.json()["code"] == "case_not_found" and not r.json()["message"].isascii()
    after = drv.get(cid)
    assert (after["version"], after["state"]) == (before["version"], before["state"])
    assert len(world.client.get(f"{API}/cases/{cid}/documents", headers=world.h("so")).json()) == docs
    # the same reads answer the case's own street office
    for method, path, _ in routes:
        if method == "get":
            r = world.client.get(API + path, headers=world.h("so"))
            expected = 422 if "apportionment" in path else 200  # no amount approved yet
            assert r.status_code == expected, (path, r.text)


def test_each_user_sees_and_lists_exactly_its_jurisdiction(world):
    """City users see every case; a district's fire rescue its district's; a street office its
    communities'; a community's parties their community's, in GET /cases and GET /cases/{id}."""
    drv = CaseDriver(world)
    a = drv.open("so", "community_a")["id"]  # 月塘街道, 荷塘区
    b = drv.open("pc_other", "community_b")["id"]  # 茨菇塘街道, 荷塘区
    c = drv.open("so_other", "community_c")["id"]  # 建宁街道, 芦淞区
    expected = {
        "so": {a},
        "so_other": {c},
        "fc": {a, b, c},
        "hb": {a, b, c},
        "admin": {a, b, c},
        "fr": {a, b},
        "fr_other": {c},
        "rc": {a},
        "oc": {a},
        "pc": {a},
        "pc_other": {b},
    }
    assert set(expected) == set(USERS)
    for who, sees in expected.items():
        r = world.client.get(f"{API}/cases", headers=world.h(who))
        assert r.status_code == 200
        body = r.json()
        assert {x["id"] for x in body["items"]} == sees and body["total"] == len(sees), who
        for cid in (a, b, c):
            r = world.client.get(f"{API}/cases/{cid}", headers=world.h(who))
            assert r.status_code == (200 if cid in sees else 404), (who, cid)
    # a filter cannot widen the view
    r = world.client.get(f"{API}/cases", params={"street_office_id": world.ids["office_jn"]}, headers=world.h("so"))
    assert r.json()["items"] == [] and r.json()["total"] == 0


def test_opening_a_case_is_limited_to_open_roles_and_visible_communities(world):
    """Roles outside open_roles get 403 role_cannot_open; others may open in a community they
    see (201) and get 404 community_not_found elsewhere; nothing is created when refused."""
    body = {"definition": MAIN.id, "community_id": world.ids["community_a"], "title": "消防通道堵塞"}
    opened = 0
    for who, (role, _org) in USERS.items():
        r = world.client.post(f"{API}/cases", json=body, headers=world.h(who))
        if role not in MAIN.open_roles:
            assert r.status_code == 403 and r.json()["code"] == "role_cannot_open", (who, r.text)
        elif who in SEES_A:
            assert r.status_code == 201 and r.json()["state"] == MAIN.initial, (who, r.text)
            assert r.json()["created_at"] and r.json()["community"]["id"] == body["community_id"]
            opened += 1
        else:
            assert r.status_code == 404 and r.json()["code"] == "community_not_found", (who, r.text)
        missing = world.client.post(f"{API}/cases", json=body | {"community_id": 999999}, headers=world.h(who))
        assert missing.status_code == (403 if role not in MAIN.open_roles else 404), who
        assert world.client.get(f"{API}/cases", headers=world.h("admin")).json()["total"] == opened, who
    assert opened == len([u for u in SEES_A if USERS[u][0] in MAIN.open_roles]) == 4


def test_votes_are_recorded_by_each_party_or_by_the_convener(world):
    """At the joint meeting a party records its own vote, the convener (street office) any
    party's; recording another party's vote is 403; outside the meeting it is 409."""
    drv = CaseDriver(world)
    case = drv.open()
    r = drv.vote(case["id"], "so", "fund_center")
    assert r.status_code == 409 and r.json()["code"] == "no_meeting_in_state"
    case = drv.advance_to(case["id"], "joint_meeting")
    convener = ROLE_USER[MAIN.states["joint_meeting"].responsible]
    for party in PARTIES:
        own = ROLE_USER[party]
        assert drv.vote(case["id"], own, party).status_code == 200, party
        for who in SEES_A:
            if who not in (own, convener):
                r = drv.vote(case["id"], who, party, "disagree")
                assert r.status_code == 403 and r.json()["code"] == "not_your_party", (who, party)
        assert drv.vote(case["id"], convener, party, "abstain").status_code == 200
    votes = world.client.get(f"{API}/cases/{case['id']}/votes", headers=world.h("oc")).json()
    assert {v["party"]: v["vote"] for v in votes} == {p: "abstain" for p in PARTIES}
