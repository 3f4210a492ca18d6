"""Instrumentation belongs to the use case: a transition fired from a page is counted and
logged like one fired through the API, and a refusal is counted once, wherever it comes from."""

from __future__ import annotations

import json
import logging
import re

from tests.support.web import Web

API = "/api/v1"
WITHDRAW = 'fundflow_transitions_total{definition="fire_hazard_emergency",trigger="withdraw"}'
ROLE_NOT_ALLOWED = 'fundflow_refusals_total{code="role_not_allowed"}'


def figure(web: Web, name: str) -> float:
    """The value of one series on /metrics (0 when it is not there yet)."""
    m = re.search(rf"^{re.escape(name)} (\S+)$", web.world.client.get("/metrics").text, re.M)
    return float(m.group(1)) if m else 0.0


def transition_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "fundflow.transitions"]


def test_a_transition_fired_from_a_page_is_counted_and_logged_like_one_through_the_api(web, caplog):
    by_page, by_api = web.flow.open(), web.flow.open()
    before = figure(web, WITHDRAW)
    with caplog.at_level(logging.INFO, logger="fundflow.transitions"):
        r = web.as_("so").post(
            f"/cases/{by_page}/actions/withdraw", data={"csrf_token": web.csrf("so"), "reason": "业主自行维修"}
        )
        assert r.status_code < 400, r.text
        page_lines = transition_lines(caplog)
        assert figure(web, WITHDRAW) == before + 1
        caplog.clear()
        a = web.world.client.post(
            f"{API}/cases/{by_api}/transitions",
            headers=web.world.h("so"),
            json={"trigger": "withdraw", "data": {"reason": "业主自行维修"}},
        )
        assert a.status_code == 200, a.text
        api_lines = transition_lines(caplog)
    assert figure(web, WITHDRAW) == before + 2
    [page_line], [api_line] = page_lines, api_lines
    assert page_line.keys() == api_line.keys()
    for line, case_id, response in ((page_line, by_page, r), (api_line, by_api, a)):
        assert line["event"] == "transition" and line["trigger"] == "withdraw" and line["case_id"] == case_id
        assert line["user"] == "so" and line["role"] == "street_office"
        assert line["request_id"] == response.headers["x-request-id"]
    assert page_line["state"] == api_line["state"] == a.json()["state"]


def test_a_refusal_is_counted_once_from_a_page_and_once_from_the_api(web, caplog):
    case_id = web.flow.open()
    before = figure(web, ROLE_NOT_ALLOWED)
    with caplog.at_level(logging.INFO, logger="fundflow.transitions"):
        r = web.as_("pc").post(f"/cases/{case_id}/actions/confirm_major", data={"csrf_token": web.csrf("pc")})
        assert r.status_code == 409
        assert figure(web, ROLE_NOT_ALLOWED) == before + 1
        a = web.world.client.post(
            f"{API}/cases/{case_id}/transitions", headers=web.world.h("pc"), json={"trigger": "confirm_major"}
        )
        assert a.status_code == 409 and a.json()["code"] == "role_not_allowed"
    assert figure(web, ROLE_NOT_ALLOWED) == before + 2
    refused = [line for line in transition_lines(caplog) if line["event"] == "transition_refused"]
    assert [line["request_id"] for line in refused] == [r.headers["x-request-id"], a.headers["x-request-id"]]
    assert {line["code"] for line in refused} == {"role_not_allowed"}
