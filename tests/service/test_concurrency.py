"""Races: conflicting fires from threads and processes, the version column, idempotency keys.

Of two conflicting fires exactly one wins; every other one gets a 409 (``concurrent_update``,
or the engine's ``trigger_not_available`` because the state moved on), the case gains exactly
one event, and the hash chain stays whole. Threads start together behind a barrier; nothing
here sleeps.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from fundflow.domain.errors import FundflowError
from fundflow.http.deps import get_now
from fundflow.service.audit import verify_all
from fundflow.service.db import transaction
from fundflow.service.errors import error_body, status_for
from fundflow.service.tables import Case, Event, Stage
from fundflow.service.usecases import cases
from tests.support.flows import Flow, add_user, event_count, load_user
from tests.support.world import NOW

THREADS = 8
PROCESSES = 4
LOSERS = {"concurrent_update", "trigger_not_available"}
CONFIRM = {"finding_route": "direct", "hazard_elements": "消防给水设施损坏"}


def _confirm(n: int) -> dict:
    return {"notice_no": f"株消隐字〔2026〕{n}号", **CONFIRM}


def _attempt(fn: Callable[[], cases.Reply]) -> tuple[int, str | None, dict | None]:
    """(status, error code, body) of a use case call, the way the API would answer it."""
    try:
        reply = fn()
    except FundflowError as exc:
        return status_for(exc), error_body(exc)["code"], None
    return reply.status, None, reply.body


def _together(n: int, fn: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    """Run ``fn(i, barrier)`` in ``n`` threads that pass the barrier together; results in order."""
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: fn(i, barrier), range(n)))


def _events(svc, case_id: int) -> list[Event]:
    with transaction(svc.sessions) as s:
        return list(s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))


def _assert_one_new_event(svc, case_id: int, before: int, trigger: str) -> Event:
    events = _events(svc, case_id)
    assert [e.seq for e in events] == list(range(1, before + 2))  # contiguous, exactly one more
    assert [e.trigger for e in events].count(trigger) == 1
    with transaction(svc.sessions) as s:
        case = s.get(Case, case_id)
        assert case.event_count == before + 1 and case.head_hash == events[-1].hash
        open_stages = s.exec(select(Stage).where(Stage.case_id == case_id, Stage.left_at.is_(None))).all()
        assert [st.state for st in open_stages] == [case.state]  # one current stage, not two
        checked, breaks = verify_all(s)
    assert checked >= 1 and breaks == []
    return events[-1]


def _assert_one_winner(results: list[tuple[int, str | None, Any]]) -> int:
    """Index of the single 2xx; every other answer is a 409 of the losing kind."""
    winners = [i for i, (status, _, _) in enumerate(results) if 200 <= status < 300]
    assert len(winners) == 1, results
    losers = [(status, code) for i, (status, code, _) in enumerate(results) if i != winners[0]]
    assert losers and all(status == 409 and code in LOSERS for status, code in losers), losers
    return winners[0]


@pytest.fixture
def flow(world) -> Flow:
    world.client.app.dependency_overrides[get_now] = lambda: NOW
    return Flow(world)


@pytest.fixture
def firefighters(flow) -> list:
    """THREADS fire-authority users of the case's district, each with a token."""
    return [add_user(flow.world, f"fr{i}", "fire_rescue", "HT") for i in range(THREADS)]


def _reported_case(flow: Flow) -> int:
    case_id = flow.open()
    flow.doc(case_id, "hazard_photos", "fire_notice")
    return case_id


# -- conflicting fires ---------------------------------------------------------------------------


def test_conflicting_fires_from_threads_through_the_use_case(flow, firefighters):
    case_id = _reported_case(flow)
    before = event_count(flow.svc, case_id)

    def fire(i: int, barrier: threading.Barrier):
        user = firefighters[i][0]
        barrier.wait(timeout=30)
        return _attempt(
            lambda: cases.fire_transition(
                flow.svc, user, case_id, trigger="confirm_major", data=_confirm(i), comment=None, now=NOW
            )
        )

    results = _together(THREADS, fire)
    won = _assert_one_winner(results)
    assert results[won][2]["state"] == "site_survey"
    event = _assert_one_new_event(flow.svc, case_id, before, "confirm_major")
    assert event.user_id == firefighters[won][0].id and event.data["notice_no"] == _confirm(won)["notice_no"]


def test_conflicting_fires_from_threads_through_http(flow, firefighters):
    case_id = _reported_case(flow)
    before = event_count(flow.svc, case_id)
    app = flow.world.client.app

    def fire(i: int, barrier: threading.Barrier):
        with TestClient(app, raise_server_exceptions=False) as client:
            barrier.wait(timeout=30)
            r = client.post(
                f"/api/v1/cases/{case_id}/transitions",
                json={"trigger": "confirm_major", "data": _confirm(i)},
                headers={"Authorization": f"Bearer {firefighters[i][1]}"},
            )
        return r.status_code, r.json().get("code"), r.json()

    results = _together(THREADS, fire)
    won = _assert_one_winner(results)
    assert results[won][2]["state"] == "site_survey" and results[won][0] == 200
    event = _assert_one_new_event(flow.svc, case_id, before, "confirm_major")
    assert event.user_id == firefighters[won][0].id


def _process_fire(url: str, data_dir: str, user_id: int, case_id: int, n: int, barrier, results) -> None:
    """A separate process with services of its own, firing once the others are ready too."""
    from fundflow.service.config import Settings
    from fundflow.service.context import build_services

    try:
        svc = build_services(Settings(database_url=url, data_dir=data_dir))
        try:
            user = load_user(svc, user_id)  # connected and warm before the race starts
            barrier.wait(timeout=60)
            results.put(
                (
                    n,
                    *_attempt(
                        lambda: cases.fire_transition(
                            svc, user, case_id, trigger="confirm_major", data=_confirm(n), comment=None, now=NOW
                        )
                    ),
                )
            )
        finally:
            svc.close()
    except BaseException as exc:
        results.put((n, -1, f"{type(exc).__name__}: {exc}", None))


def test_conflicting_fires_from_separate_processes(flow, firefighters, database_url, tmp_path):
    case_id = _reported_case(flow)
    before = event_count(flow.svc, case_id)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(
            target=_process_fire,
            args=(database_url, str(tmp_path / f"p{i}"), firefighters[i][0].id, case_id, i, barrier, results),
            daemon=True,
        )
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        got = {}
        for _ in range(PROCESSES):
            n, status, code, body = results.get(timeout=120)
            got[n] = (status, code, body)
    except queue_module.Empty:
        pytest.fail(f"processes did not answer: {got}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    assert all(p.exitcode == 0 for p in procs)
    ordered = [got[i] for i in range(PROCESSES)]
    assert all(status != -1 for status, _, _ in ordered), ordered
    won = _assert_one_winner(ordered)
    event = _assert_one_new_event(flow.svc, case_id, before, "confirm_major")
    assert event.user_id == firefighters[won][0].id and event.data["notice_no"] == _confirm(won)["notice_no"]


# -- no lost update ------------------------------------------------------------------------------


def test_many_cases_advanced_concurrently_lose_no_update(flow):
    reference = flow.open()
    flow.advance(reference, "cost_review")
    expected = event_count(flow.svc, reference)  # the same walk, alone
    ids = [flow.open() for _ in range(6)]

    def walk(i: int, barrier: threading.Barrier) -> str:
        barrier.wait(timeout=30)
        flow.advance(ids[i], "cost_review")
        return flow.state(ids[i])

    assert _together(len(ids), walk) == ["cost_review"] * len(ids)
    for case_id in ids:
        events = _events(flow.svc, case_id)
        assert len(events) == expected and [e.seq for e in events] == list(range(1, expected + 1))
    with transaction(flow.svc.sessions) as s:
        checked, breaks = verify_all(s)
    assert checked == len(ids) + 1 and breaks == []


def test_concurrent_signatures_on_one_case_are_all_kept(flow):
    case_id = flow.open()
    flow.advance(case_id, "acceptance")
    before = event_count(flow.svc, case_id)
    with transaction(flow.svc.sessions) as s:
        version = s.get(Case, case_id).version
    signers = ["fr", "so", "fc", "oc", "rc", "pc"]

    def sign(i: int, barrier: threading.Barrier):
        user = flow.u[signers[i]]
        barrier.wait(timeout=30)
        return _attempt(
            lambda: cases.fire_transition(
                flow.svc, user, case_id, trigger="sign_acceptance", data={}, comment=None, now=NOW
            )
        )

    results = _together(len(signers), sign)
    assert [status for status, _, _ in results] == [200] * len(signers), results
    with transaction(flow.svc.sessions) as s:
        case = s.get(Case, case_id)
        assert sorted(case.data["signatures"]["acceptance"]) == sorted(flow.u[n].role for n in signers)
        assert case.version == version + len(signers)
        checked, breaks = verify_all(s)
    events = _events(flow.svc, case_id)
    assert [e.seq for e in events] == list(range(1, before + len(signers) + 1)) and breaks == []
    assert Counter(e.role for e in events[before:]) == Counter(flow.u[n].role for n in signers)


# -- the version column: If-Match ----------------------------------------------------------------


def test_if_match_with_a_stale_version_is_412_and_writes_nothing(flow):
    world = flow.world
    case_id = _reported_case(flow)
    url = f"/api/v1/cases/{case_id}/transitions"
    version = world.client.get(f"/api/v1/cases/{case_id}", headers=world.h("fr")).json()["version"]
    before = event_count(flow.svc, case_id)
    for stale in (str(version - 1), f'"{version + 1}"', f'W/"{version - 1}"'):
        r = world.client.post(
            url, json={"trigger": "confirm_major", "data": _confirm(1)}, headers=world.h("fr", **{"If-Match": stale})
        )
        assert r.status_code == 412, r.text
        assert r.json()["code"] == "precondition_failed" and r.json()["detail"]["current_version"] == version
    case = world.client.get(f"/api/v1/cases/{case_id}", headers=world.h("fr")).json()
    assert case["version"] == version and case["state"] == "reported" and event_count(flow.svc, case_id) == before

    r = world.client.post(
        url,
        json={"trigger": "confirm_major", "data": _confirm(1)},
        headers=world.h("fr", **{"If-Match": f'"{version}"'}),
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "site_survey" and r.json()["version"] > version
    assert event_count(flow.svc, case_id) == before + 1
    # the version it answered is the one to send next
    nxt = r.json()["version"]
    flow.doc(case_id, "site_record")  # which moves the version on again
    r = world.client.post(
        url,
        json={"trigger": "complete_survey", "data": {"survey_date": "2026-03-02", "survey_findings": "锈蚀"}},
        headers=world.h("so", **{"If-Match": str(nxt)}),
    )
    assert r.status_code == 412


# -- idempotency keys ----------------------------------------------------------------------------


def _post(world, who: str, case_id: int, body: dict, key: str, **headers: str):
    return world.client.post(
        f"/api/v1/cases/{case_id}/transitions", json=body, headers=world.h(who, **{"Idempotency-Key": key}, **headers)
    )


def test_replay_returns_the_first_answer_and_fires_once(flow):
    world = flow.world
    case_id = _reported_case(flow)
    before = event_count(flow.svc, case_id)
    body = {"trigger": "confirm_major", "data": _confirm(7), "comment": "现场核实"}
    version = world.client.get(f"/api/v1/cases/{case_id}", headers=world.h("fr")).json()["version"]
    first = _post(world, "fr", case_id, body, "k-1", **{"If-Match": str(version)})
    assert first.status_code == 200 and first.json()["state"] == "site_survey"

    world.client.app.dependency_overrides[get_now] = lambda: NOW + timedelta(hours=3)  # later, and the case moves on
    flow.doc(case_id, "site_record")
    flow.fire("so", case_id, "complete_survey", {"survey_date": "2026-03-02", "survey_findings": "锈蚀"})
    for headers in ({}, {"If-Match": str(version)}):  # a retry with its now stale If-Match is still a replay
        again = _post(world, "fr", case_id, body, "k-1", **headers)
        assert again.status_code == first.status_code and again.json() == first.json()
    assert flow.state(case_id) == "joint_meeting"
    assert [e.trigger for e in _events(flow.svc, case_id)].count("confirm_major") == 1
    assert event_count(flow.svc, case_id) == before + 3  # confirm, the upload, the survey


def test_same_key_with_another_request_is_422(flow):
    world = flow.world
    case_id = _reported_case(flow)
    assert _post(world, "fr", case_id, {"trigger": "confirm_major", "data": _confirm(1)}, "k-2").status_code == 200
    count = event_count(flow.svc, case_id)
    for other in (
        {"trigger": "confirm_major", "data": _confirm(2)},
        {"trigger": "confirm_major", "data": _confirm(1), "comment": "另附说明"},
        {"trigger": "not_major", "data": {"reason": "不构成"}},
    ):
        r = _post(world, "fr", case_id, other, "k-2")
        assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused", r.text
    other_case = _reported_case(flow)  # the same body on another case is another request too
    r = _post(world, "fr", other_case, {"trigger": "confirm_major", "data": _confirm(1)}, "k-2")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert event_count(flow.svc, case_id) == count and flow.state(other_case) == "reported"


def test_same_key_from_threads_at_once_fires_once_with_one_answer(flow):
    case_id = _reported_case(flow)
    before = event_count(flow.svc, case_id)
    app, token = flow.world.client.app, flow.world.tokens["fr"]
    body = {"trigger": "confirm_major", "data": _confirm(3)}

    def fire(i: int, barrier: threading.Barrier):
        with TestClient(app, raise_server_exceptions=False) as client:
            barrier.wait(timeout=30)
            r = client.post(
                f"/api/v1/cases/{case_id}/transitions",
                json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-race"},
            )
        return r.status_code, r.json()

    results = _together(4, fire)
    assert [status for status, _ in results] == [200] * 4, results
    assert all(answer == results[0][1] for _, answer in results)
    _assert_one_new_event(flow.svc, case_id, before, "confirm_major")


def test_same_key_from_threads_through_the_use_case(flow):
    case_id = _reported_case(flow)
    before = event_count(flow.svc, case_id)
    user = flow.u["fr"]

    def fire(i: int, barrier: threading.Barrier):
        barrier.wait(timeout=30)
        return _attempt(
            lambda: cases.fire_transition(
                flow.svc,
                user,
                case_id,
                trigger="confirm_major",
                data=_confirm(3),
                comment=None,
                now=NOW,
                idempotency_key="k-race",
            )
        )

    results = _together(THREADS, fire)
    assert [status for status, _, _ in results] == [200] * THREADS, results
    assert all(body == results[0][2] for _, _, body in results)
    _assert_one_new_event(flow.svc, case_id, before, "confirm_major")


def test_keys_are_per_user(flow):
    world = flow.world
    add_user(world, "fr_twin", "fire_rescue", "HT")
    case_id = _reported_case(flow)
    body = {"trigger": "confirm_major", "data": _confirm(1)}
    first = _post(world, "fr", case_id, body, "shared-key")
    assert first.status_code == 200
    # another user's identical request under the same key is not a replay of the first answer: it runs
    twin = _post(world, "fr_twin", case_id, body, "shared-key")
    assert twin.status_code == 409 and twin.json()["code"] == "trigger_not_available"
    # and another user's different request under the same key is not a reuse
    flow.doc(case_id, "site_record")
    so = _post(
        world,
        "so",
        case_id,
        {"trigger": "complete_survey", "data": {"survey_date": "2026-03-02", "survey_findings": "锈蚀"}},
        "shared-key",
    )
    assert so.status_code == 200 and so.json()["state"] == "joint_meeting"
    again = _post(
        world,
        "so",
        case_id,
        {"trigger": "complete_survey", "data": {"survey_date": "2026-03-02", "survey_findings": "锈蚀"}},
        "shared-key",
    )
    assert again.json() == so.json()
    assert [e.trigger for e in _events(flow.svc, case_id)].count("complete_survey") == 1
