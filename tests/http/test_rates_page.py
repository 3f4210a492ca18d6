"""The dashboard states each procedure's rates with their definitions (issue 15's figures),
from the same numbers as GET /stats."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from fundflow.http.deps import get_now
from tests.support.drivers import API
from tests.support.rates_survey import NOW, survey_world


@pytest.fixture
def survey(tmp_path):
    with survey_world(f"sqlite:///{tmp_path / 'rates.db'}", tmp_path) as (world, ids):
        world.client.app.dependency_overrides[get_now] = lambda: NOW
        yield world


def page_of(world, who: str) -> str:
    client = TestClient(world.client.app, follow_redirects=False)
    client.cookies.set("fundflow_token", world.tokens[who])
    r = client.get("/dashboard")
    assert r.status_code == 200, r.text
    return r.text


def test_the_dashboard_shows_each_rate_with_its_definition_and_the_api_numbers(survey):
    world = survey
    page = page_of(world, "hb")
    api = world.client.get(f"{API}/stats", headers=world.h("hb")).json()
    [p] = [x for x in api["rates"]["procedures"] if x["definition"] == "callback_survey"]
    section = page[page.index('id="rates-callback_survey"') :]
    section = section[: section.index("</section>")]
    assert "回访测评：办理质量（2026年收集的事项）" in section
    for r in p["rates"]:
        shown = re.search(rf'id="rate-callback_survey-{r["kind"]}">([^<]+)<', section).group(1)
        assert shown == f"{r['rate']}%"
        assert f"<dt>{r['label']}</dt><dd>{r['description']}</dd>" in section
    assert "66.67%" in section and "荷塘区" in section and "月塘街道" in section


def test_a_street_office_of_another_district_sees_no_rates_but_a_sentence(survey):
    world = survey
    page = page_of(world, "so_other")
    section = page[page.index('id="rates-callback_survey"') :]
    assert "2026年尚未收集事项。" in section[: section.index("</section>")]


def test_a_procedure_not_about_communities_has_no_fund_figures_on_its_dashboard(web):
    hb = web.as_("hb")
    everything = hb.get("/dashboard").text
    opinions = hb.get("/dashboard?definition=public_opinion").text
    for words in ("核准资金（元）", "启动小区", "各区资金（元）", "各街道办事处"):
        assert words in everything and words not in opinions, words
    assert 'id="rates-public_opinion"' in opinions and "满意率" in opinions
