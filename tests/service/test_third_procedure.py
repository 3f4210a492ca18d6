"""Any procedure in YAML alone: a test writes a third procedure in a temporary folder (a new
role, a new organisation kind, a subject that is not a community, its own report form), loads
it beside the shipped ones, and runs a case through the API and the pages with no code change."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fundflow.domain.errors import DefinitionError
from fundflow.domain.loader import load_file
from fundflow.http.app import create_app
from fundflow.http.deps import get_now
from fundflow.service.config import DEFINITIONS_DIR, Settings
from fundflow.service.context import build_services
from fundflow.service.usecases import organisations, users
from tests.support.databases import wipe
from tests.support.web import csrf_of
from tests.support.world import NOW

API = "/api/v1"

THIRD = """
id: shop_complaint
version: 1
title: 消费投诉处理

organisations:
  market_station: {label: 市场监管所, sees: handled}
  consumer_hotline: {label: 12315投诉中心, sees: all}

roles:
  complaint_desk: {label: 12315投诉中心, kind: consumer_hotline}
  market_inspector: {label: 市场监管所, kind: market_station}

subject: {kind: place, label: 被投诉经营场所}

open_roles: [complaint_desk]
open_form:
  label: 投诉受理
  title: 受理消费投诉
  intro: 登记被投诉的经营场所、投诉类别和涉及金额，受理后分派至属地市场监管所。
  category_label: 投诉类别
  description_label: 投诉内容
  categories: [食品安全, 价格欺诈, 虚假宣传]
  fields:
    - name: channel
      type: choice
      label: 投诉渠道
      choices: {phone: 电话, web: 网上, visit: 来访}
    - {name: purchase_date, type: date, label: 消费日期}
    - {name: amount_involved, type: amount, label: 涉及金额（元）, required: false}

initial: received
states:
  - id: received
    label: 已受理，待分派
    responsible: complaint_desk
    deadline: {working_days: 1}
  - id: inspecting
    label: 属地核查
    responsible: market_inspector
    deadline: {working_days: 7, warn_before_working_days: 1}
  - id: mediated
    label: 调解成功
    terminal: true
    outcome: completed
  - id: unfounded
    label: 投诉不成立
    terminal: true
    outcome: rejected

transitions:
  - trigger: assign_station
    from: received
    to: inspecting
    label: 分派核查
    roles: [complaint_desk]
    fields:
      - {name: station_id, type: organisation, kind: market_station, label: 核查单位}
  - trigger: mediate
    from: inspecting
    to: mediated
    label: 调解结案
    roles: [market_inspector]
    fields:
      - {name: refund, type: amount, label: 退赔金额（元）}
  - trigger: dismiss
    from: inspecting
    to: unfounded
    label: 不予支持
    roles: [market_inspector]
    fields:
      - {name: reason, type: reason, label: 理由}
"""


@pytest.fixture
def third(database_url, tmp_path: Path):
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, folder, ignore=shutil.ignore_patterns("*.md"))
    (folder / "shop_complaint.v1.yaml").write_text(THIRD, encoding="utf-8")
    svc = build_services(Settings(database_url=database_url, data_dir=tmp_path / "data", definitions_dir=folder))
    wipe(svc)
    stations = [
        organisations.add_organisation(svc, kind="market_station", code=code, name=name, now=NOW)["id"]
        for code, name in (("SJ-HT", "荷塘市场监管所"), ("SJ-LS", "芦淞市场监管所"))
    ]
    organisations.add_organisation(svc, kind="consumer_hotline", code="12315", name="株洲12315投诉中心", now=NOW)
    tokens = {}
    for name, role, org in (
        ("desk", "complaint_desk", "12315"),
        ("ht", "market_inspector", "SJ-HT"),
        ("ls", "market_inspector", "SJ-LS"),
    ):
        _, tokens[name] = users.add_user(
            svc, username=name, display_name=name, role=role, org=org, password=None, now=NOW
        )
    app = create_app(services=svc)
    app.dependency_overrides[get_now] = lambda: NOW
    clients = {}
    for name, token in tokens.items():
        clients[name] = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
        clients[name].cookies.set("fundflow_token", token)
    yield svc, clients, tokens, stations
    for c in clients.values():
        c.close()
    svc.close()


def _version(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def _h(tokens, who):
    return {"Authorization": f"Bearer {tokens[who]}"}


def test_the_third_procedure_loads_with_its_kinds_roles_subject_and_form(third):
    svc = third[0]
    d = svc.registry.get("shop_complaint")
    assert d.roles["market_inspector"].kind == "market_station" and d.roles["market_inspector"].level == "organisation"
    assert d.roles["complaint_desk"].level == "city"  # a kind that sees every case
    assert (d.subject.kind, d.subject.label) == ("place", "被投诉经营场所")
    assert [f.name for f in d.open_form.fields] == ["channel", "purchase_date", "amount_involved"]
    assert {"fire_hazard_emergency", "public_opinion", "shop_complaint"} <= set(svc.registry.ids())


def test_a_case_runs_through_the_api_with_no_code_change(third):
    _, clients, tokens, stations = third
    api = clients["desk"]
    body = {
        "definition": "shop_complaint",
        "title": "奶茶店出售过期食品",
        "subject": {"name": "某奶茶店", "address": "荷塘区新华西路8号"},
        "data": {
            "channel": "phone",
            "purchase_date": "2026-02-27",
            "amount_involved": "36.00",
            "hazard_category": "食品安全",
        },
    }
    bad = api.post(
        f"{API}/cases", json={**body, "data": {**body["data"], "purchase_date": "27/02"}}, headers=_h(tokens, "desk")
    )
    assert bad.status_code == 422 and "purchase_date" in bad.json()["detail"]["fields"]
    r = api.post(f"{API}/cases", json=body, headers=_h(tokens, "desk"))
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["subject"] == {
        "kind": "place",
        "label": "被投诉经营场所",
        "name": "某奶茶店",
        "address": "荷塘区新华西路8号",
        "contact_hidden": False,
    }
    assert case["data"]["amount_involved"] == "36.00"
    cid = case["id"]
    assert api.get(f"{API}/cases/{cid}/events", headers=_h(tokens, "desk")).json()[0]["label"] == "投诉受理"
    assert api.get(f"{API}/cases/{cid}", headers=_h(tokens, "ht")).status_code == 404  # not yet its case
    fired = api.post(
        f"{API}/cases/{cid}/transitions",
        json={"trigger": "assign_station", "data": {"station_id": stations[0]}},
        headers=_h(tokens, "desk"),
    )
    assert fired.status_code == 200 and fired.json()["organisation"]["name"] == "荷塘市场监管所", fired.text
    assert api.get(f"{API}/cases/{cid}", headers=_h(tokens, "ls")).status_code == 404  # another station
    done = api.post(
        f"{API}/cases/{cid}/transitions",
        json={"trigger": "mediate", "data": {"refund": "36.00"}},
        headers=_h(tokens, "ht"),
    )
    assert done.status_code == 200 and done.json()["state"] == "mediated" and done.json()["outcome"] == "completed"


def test_a_case_runs_through_the_pages_with_no_code_change(third):
    _, clients, _, stations = third
    desk, ht = clients["desk"], clients["ht"]
    form = desk.get("/cases/new?definition=shop_complaint")
    assert form.status_code == 200
    html = form.text
    assert (
        "<h1>受理消费投诉（发起案件）</h1>" in html and "被投诉经营场所" in html and 'name="community_id"' not in html
    )
    assert '<option value="web">网上</option>' in html and "消费日期" in html and "投诉类别" in html
    posted = desk.post(
        "/cases/new",
        data={
            "csrf_token": csrf_of(html),
            "definition": "shop_complaint",
            "title": "超市价格标签与结算不符",
            "subject_name": "某连锁超市荷塘店",
            "subject_address": "荷塘区红旗路2号",
            "f_channel": "visit",
            "f_purchase_date": "2026-02-28",
            "hazard_category": "价格欺诈",
            "description": "标价9.9元，结算19.9元",
        },
    )
    assert posted.status_code == 303, posted.text[:2000]
    case_url = posted.headers["location"].split("?")[0]
    page = desk.get(case_url).text
    assert "被投诉经营场所" in page and "某连锁超市荷塘店" in page and "来访" in page and "投诉受理" in page
    assert "资金（元）" not in page and "分摊范围" not in page
    assert "荷塘市场监管所" in page  # the station to assign to, offered by name
    assigned = desk.post(
        f"{case_url}/actions/assign_station",
        data={"csrf_token": csrf_of(page), "version": _version(page), "station_id": str(stations[0])},
    )
    assert assigned.status_code in (200, 303), assigned.text[:2000]
    station_page = ht.get(case_url).text
    assert "属地核查" in station_page and "荷塘市场监管所" in station_page and "调解结案" in station_page
    closed = ht.post(
        f"{case_url}/actions/dismiss",
        data={"csrf_token": csrf_of(station_page), "version": _version(station_page), "reason": "经核查标价与结算一致"},
    )
    assert closed.status_code in (200, 303)
    assert "投诉不成立" in ht.get(case_url).text
    tasks = ht.get("/tasks").text
    assert "超市价格标签与结算不符" not in tasks  # closed: nothing waits on the station


def test_a_mistake_in_the_third_procedure_names_the_file_and_path(tmp_path):
    bad = tmp_path / "shop_complaint.v1.yaml"
    bad.write_text(
        THIRD.replace("kind: market_station}", "kind: market_statoin}", 1).replace(
            "subject: {kind: place", "subject: {kind: plaec"
        ),
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as info:
        load_file(bad)
    text = str(info.value)
    assert (
        f"{bad}:roles.market_inspector.kind: unknown organisation kind 'market_statoin' (did you mean 'market_station'?)"
        in text
    )
    assert "subject.kind: unknown subject kind 'plaec' (did you mean 'place'?)" in text
