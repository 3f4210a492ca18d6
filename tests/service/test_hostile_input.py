"""A NUL character (which PostgreSQL cannot store) is refused with 422 wherever it comes in."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.benchmarks import benchmark

NUL = "\u0000"


@pytest.fixture
def case_id(world):
    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "消防泵"},
    )
    assert r.status_code == 201
    return r.json()["id"]


def test_nul_in_bodies_is_refused(world, case_id):
    attempts = [
        (
            "post",
            "/api/v1/cases",
            "so",
            {"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": f"a{NUL}b"},
        ),
        (
            "post",
            "/api/v1/cases",
            "so",
            {
                "definition": "fire_hazard_emergency",
                "community_id": world.ids["community_a"],
                "title": "t",
                "data": {"k": f"a{NUL}"},
            },
        ),
        (
            "post",
            f"/api/v1/cases/{case_id}/transitions",
            "so",
            {"trigger": "withdraw", "data": {"reason": f"理由{NUL}"}},
        ),
        (
            "post",
            f"/api/v1/cases/{case_id}/transitions",
            "so",
            {"trigger": "withdraw", "data": {"reason": "理由充分"}, "comment": f"x{NUL}"},
        ),
        ("post", "/api/v1/communities", "fc", {"name": f"n{NUL}", "street_office_id": world.ids["office_yt"]}),
        ("post", "/api/v1/login", None, {"username": f"so{NUL}", "password": "password-123"}),
        (
            "post",
            f"/api/v1/communities/{world.ids['community_a']}/households",
            "so",
            [{"楼栋": f"3栋{NUL}", "单元": "1", "房号": "101", "建筑面积": "80", "分户账余额": "1", "首次交存额": "1"}],
        ),
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
        r = world.client.post(
            "/api/v1/cases",
            headers=world.h("so"),
            json={
                "definition": "fire_hazard_emergency",
                "community_id": world.ids["community_a"],
                "title": "t",
                "data": data,
            },
        )
        assert r.status_code == 422 and r.json()["code"] == "reserved_case_data", r.text


def test_only_the_meeting_parties_vote(world):
    """The housing bureau supervises; it is not one of the six parties and cannot vote."""
    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t"},
    )
    case = r.json()["id"]
    from fundflow.service.tables import Case

    with world.svc.sessions() as s, s.begin():  # put the case at the meeting directly
        row = s.get(Case, case)
        row.state = "joint_meeting"
    r = world.client.post(
        f"/api/v1/cases/{case}/votes",
        headers=world.h("so"),
        json={"party": "housing_bureau", "attended": True, "vote": "agree"},
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_party"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/99999999999999999999",
        "/api/v1/communities/0",
        "/api/v1/cases/-1/events",
        "/api/v1/cases/1/documents/99999999999999999999",
    ],
)
def test_ids_out_of_range_are_422_not_500(world, path):
    r = world.client.get(path, headers=world.h("fc"))
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


def test_channel_targets_are_masked(world, monkeypatch):
    """A robot's URL carries its key: the list shows where alerts go, not the key."""
    monkeypatch.setattr(
        "fundflow.service.notify.targets._resolve", lambda host, port: ["101.91.37.20"]
    )  # no DNS in tests
    key = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0a1b2c3d-secret-4e5f"
    r = world.client.post(
        "/api/v1/channels",
        headers=world.h("admin"),
        json={"name": "督办群", "kind": "wecom", "target": key, "role": "housing_bureau"},
    )
    assert r.status_code == 201 and "secret" not in r.text
    listed = world.client.get("/api/v1/channels", headers=world.h("hb")).json()
    assert listed[0]["target"].startswith("https://qyapi.weixin.qq.com/") and "secret" not in str(listed)


# -- deep and large JSON ----------------------------------------------------------------------


def _nested(depth: int) -> str:
    """A JSON text of ``depth`` nested lists and objects, alternating."""
    return (
        "".join("[" if i % 2 else '{"k":' for i in range(depth))
        + "1"
        + "".join("]" if i % 2 else "}" for i in reversed(range(depth)))
    )


@pytest.mark.parametrize("depth", [40, 400, 5000, 100000])
def test_deeply_nested_json_is_refused_with_422_everywhere(world, case_id, depth):
    """Depth >= ~400 raised RecursionError (500); anything past 32 levels is now a 422 with a reason."""
    deep = _nested(depth)
    attempts = [
        (
            "/api/v1/cases",
            f'{{"definition": "fire_hazard_emergency", "community_id": {world.ids["community_a"]}, "title": "t", "data": {{"x": {deep}}}}}',
        ),
        (f"/api/v1/cases/{case_id}/transitions", f'{{"trigger": "withdraw", "data": {{"reason": {deep}}}}}'),
        (f"/api/v1/communities/{world.ids['community_a']}/households", f"[{deep}]"),
    ]
    for url, body in attempts:
        r = world.client.post(url, content=body, headers=world.h("so", **{"Content-Type": "application/json"}))
        assert r.status_code == 422, (url, r.status_code, r.text[:200])
        assert r.json()["code"] == "json_too_deep" and "32" in r.json()["message"]
    events = world.client.get(f"/api/v1/cases/{case_id}/events", headers=world.h("so")).json()
    assert [e["trigger"] for e in events] == ["open"]


def test_brackets_inside_strings_do_not_count_as_depth(world):
    text = "[" * 500 + "{" * 500 + '\\"'
    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": world.ids["community_a"],
            "title": "t",
            "data": {"hazard": text, "nested": _nested(20)},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["hazard"] == text


def test_case_data_is_limited_in_size(world, case_id):
    big = {"hazard": "隐" * 30000}  # 90,000 bytes of UTF-8
    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": world.ids["community_a"],
            "title": "t",
            "data": big,
        },
    )
    assert r.status_code == 422 and "过大" in r.json()["message"], r.text[:300]
    r = world.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=world.h("so"),
        json={"trigger": "withdraw", "data": {"reason": "理由", "extra": big}},
    )
    assert r.status_code == 422 and "过大" in r.json()["message"], r.text[:300]


def test_the_json_checks_never_recurse():
    """The value check walks 100,000 levels of an already-parsed value with its own stack."""
    from fundflow.service.json_limits import check_value, contains_nul, raw_depth

    deep: list = ["\x00"]
    for _ in range(100000):
        deep = [deep]
    assert check_value(deep) and "32" in check_value(deep)
    assert contains_nul(deep)
    assert raw_depth(b"[" * 100000 + b"]" * 100000) == 100000
    assert raw_depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\\"}') == 1


def test_a_case_with_lists_of_lists_and_objects_renders_on_its_page(world):
    """Such data made GET /cases/{id} answer 500 for everyone, for good: pages render what the API took."""
    data = {
        "rooms": [["101", "102"], ["201"]],
        "parties": ["fund_center", {"who": "x", "n": [1, 2]}],
        "inspections": [{"date": "2026-03-01", "items": [{"ok": True}, {"ok": None}]}],
        "depth": _nested_value(20),
    }
    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": world.ids["community_a"],
            "title": "t",
            "data": data,
        },
    )
    assert r.status_code == 201, r.text
    world.client.cookies.set("fundflow_token", world.tokens["so"])
    try:
        page = world.client.get(f"/cases/{r.json()['id']}")
        listing = world.client.get("/cases")
    finally:
        world.client.cookies.clear()
    assert page.status_code == 200, page.text[:500]
    assert "101、102" in page.text and "维修资金管理中心" in page.text and listing.status_code == 200


def _nested_value(depth: int):
    value: object = "底"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


# -- hostile workbooks ------------------------------------------------------------------------

xlsx_bombs = benchmark("xlsx_bombs")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEAD_LINE = "楼栋,单元,房号,建筑面积,分户账余额,首次交存额"


@pytest.fixture
def openpyxl_never_loads(monkeypatch):
    """The refusals below come before openpyxl parses the workbook (which is what took seconds
    and gigabytes): loading one fails the test. Time and memory are measured in
    benchmarks/xlsx_bombs.py, not here."""
    import openpyxl

    def refuse(*args, **kwargs):
        raise AssertionError("openpyxl.load_workbook was called on a hostile workbook")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


@pytest.mark.parametrize(
    "build, says",
    [
        (lambda: xlsx_bombs.cell_bomb(40), "MB 上限"),  # declares 40 MB inflated: refused before inflating
        (lambda: xlsx_bombs.cell_bomb(20), "1000 个字符"),  # under the archive cap: one cell too long
        (lambda: xlsx_bombs.blank_rows(100_000, dimension=True), "21000 行"),
        (lambda: xlsx_bombs.blank_rows(100_000, dimension=False), "21000 行"),
    ],
    ids=["cell-40MB", "cell-20MB", "rows-with-dimension", "rows-without-dimension"],
)
def test_workbook_bombs_are_refused_with_413_before_openpyxl_parses_them(world, build, says, openpyxl_never_loads):
    """Refused before openpyxl is called (the fixture fails the test otherwise); how long and how
    much memory the refusal takes is measured in benchmarks/xlsx_bombs.py, not timed here."""
    r = world.client.post(
        f"/api/v1/communities/{world.ids['community_a']}/households",
        content=build(),
        headers=world.h("so", **{"Content-Type": XLSX}),
    )
    assert r.status_code == 413 and r.json()["code"] == "import_too_large", r.text[:300]
    assert says in r.json()["message"], r.json()["message"]


def test_a_sheet_that_jumps_to_row_1000000_is_stopped_while_reading():
    """Few row elements, but openpyxl fills the gap with a million empty rows: counted as read."""
    from fundflow.service.household_import import ImportTooLarge, parse_households

    content = xlsx_bombs._rewrite(
        {
            "xl/worksheets/sheet1.xml": lambda text, stream: stream.write(
                text.replace("</sheetData>", '<row r="1000000"><c r="A1000000"><v>1</v></c></row></sheetData>')
                .replace('<dimension ref="A1:G2" />', "")
                .encode()
            )
        }
    )
    with pytest.raises(ImportTooLarge, match="21000"):
        parse_households(content)


@pytest.mark.parametrize(
    "body",
    [
        b"\n" * 5_000_000 + HEAD_LINE.encode(),
        (HEAD_LINE + "\n" + ",,,,,,\n" * 30_000).encode(),
        (HEAD_LINE + "\n").encode() + b"\r\n" * 1_000_000,
    ],
    ids=["5M-newlines", "30k-empty-records", "header-then-1M-blank-lines"],
)
def test_csv_files_of_blank_lines_are_refused_with_413(world, body):
    """Blank lines used to be skipped one by one (and split into a list first): now counted.
    The time a refusal takes is measured in benchmarks/xlsx_bombs.py, not asserted here."""
    r = world.client.post(
        f"/api/v1/communities/{world.ids['community_a']}/households",
        content=body,
        headers=world.h("so", **{"Content-Type": "text/csv"}),
    )
    assert r.status_code == 413 and "21000 行" in r.json()["message"], r.text[:300]


def test_a_good_workbook_still_imports(world):
    r = world.client.post(
        f"/api/v1/communities/{world.ids['community_b']}/households",
        content=xlsx_bombs.households(50),
        headers=world.h("fc", **{"Content-Type": XLSX}),
    )
    assert r.status_code == 201, r.text[:300]


def test_parsing_an_upload_does_not_block_the_event_loop(world, monkeypatch):
    """A slow parse (here: 3 s) runs in the thread pool: /healthz answers meanwhile."""
    import httpx

    from fundflow.http.api import routes
    from fundflow.service.household_import import ImportRejected, RowProblem

    def slow_parse(*args, **kwargs):
        time.sleep(3.0)
        raise ImportRejected([RowProblem(0, None, "慢")])

    monkeypatch.setattr(routes, "parse_households", slow_parse)

    async def run():
        transport = httpx.ASGITransport(app=world.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            upload = asyncio.create_task(
                client.post(
                    f"/api/v1/communities/{world.ids['community_a']}/households",
                    content=b"PK\x03\x04",
                    headers=world.h("so", **{"Content-Type": XLSX}),
                )
            )
            await asyncio.sleep(0.2)
            health = await client.get("/healthz")
            assert not upload.done()
            return health, await upload

    health, upload = asyncio.run(run())
    assert health.status_code == 200  # answered while the upload was still being parsed (asserted above)
    assert upload.status_code == 422


# -- look-alike identifiers -------------------------------------------------------------------


HEAD = "楼栋,单元,房号,建筑面积,分户账余额,首次交存额"


@pytest.mark.parametrize(
    "row, code_point",
    [
        ("1栋,1单元,\u0410101,80,1,1", "U+0410"),  # Cyrillic А
        ("1栋,1单元,101\u200b,80,1,1", "U+200B"),  # zero-width space
        ("\u03921,1单元,101,80,1,1", "U+0392"),  # Greek Β
        ("1栋,1单元,104\u200f,80,1,1", "U+200F"),  # right-to-left mark
        ("1栋,\u202e1单元,105,80,1,1", "U+202E"),  # right-to-left override
        ("1栋,1单元,\u0661\u0660\u0661,80,1,1", "U+0661"),  # Arabic-Indic digits
    ],
)
def test_look_alike_identifiers_are_refused_by_the_import(world, row, code_point):
    r = world.client.post(
        f"/api/v1/communities/{world.ids['community_b']}/households",
        content=f"{HEAD}\n{row}\n".encode(),
        headers=world.h("fc", **{"Content-Type": "text/csv"}),
    )
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]["problems"]
    assert len(problems) == 1 and code_point in problems[0]["message"], problems
    assert (
        world.client.get(f"/api/v1/communities/{world.ids['community_b']}", headers=world.h("fc")).json()["households"]
        == 1
    )  # nothing imported


def test_full_width_identifiers_are_folded_and_then_found_twice(world):
    body = f"{HEAD}\n１栋,１单元,Ａ１０２,80,1,1\n1栋,1单元,A102,80,1,1\n".encode()
    r = world.client.post(
        f"/api/v1/communities/{world.ids['community_b']}/households",
        content=body,
        headers=world.h("fc", **{"Content-Type": "text/csv"}),
    )
    assert r.status_code == 422 and "与第2行重复" in r.text, r.text


def test_look_alike_building_names_are_refused_for_communities_and_found_for_cases(world):
    r = world.client.post(
        "/api/v1/communities",
        headers=world.h("fc"),
        json={"name": "新小区", "street_office_id": world.ids["office_yt"], "buildings": ["1栋", "\u03921栋"]},
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_identifier" and "U+0392" in r.json()["message"]
    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": world.ids["community_a"],
            "title": "t",
            "buildings": ["１栋"],
        },
    )
    assert r.status_code == 201, r.text
    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": world.ids["community_a"],
            "title": "t",
            "buildings": ["1栋\u200b"],
        },
    )
    assert r.status_code == 422 and "U+200B" in r.json()["message"], r.text
