"""Communities and their household lists over the API: who may register them, every import
format, all-or-nothing rejection, and body size limits."""

from __future__ import annotations

import csv
import dataclasses
import io
from decimal import Decimal

import openpyxl
from fastapi.testclient import TestClient

from fundflow.http.app import create_app
from tests.support.world import HOUSEHOLDS, USERS

API = "/api/v1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["楼栋", "单元", "房号", "楼层", "建筑面积（㎡）", "业主", "分户账余额", "首次交存额"]
ROWS = [
    ["3栋", "1单元", "101", "1", "88.88", "王芳", "12,345.60", "15000"],
    ["3栋", "1单元", "102", "1", "90.12", "", "￥9,000.40", "15000.00"],
    ["4栋", "", "201", "2", "101.5", "刘强", "20000元", "20000"],
]
ROWS_AREA, ROWS_BALANCE = Decimal("280.50"), Decimal("41346.00")


def csv_text(rows, header=HEADER) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])  # quotes "12,345.60"
    return out.getvalue()


def xlsx_bytes(rows, header=HEADER) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def new_community(world, who="so", **extra) -> dict:
    r = world.client.post(
        f"{API}/communities", json={"name": "荷塘新苑", "buildings": ["3栋"], **extra}, headers=world.h(who)
    )
    assert r.status_code == 201, r.text
    return r.json()


def community(world, cid: int, who="so") -> dict:
    r = world.client.get(f"{API}/communities/{cid}", headers=world.h(who))
    assert r.status_code == 200, r.text
    return r.json()


def assert_imported(world, cid: int, reply) -> None:
    assert reply.status_code == 201, reply.text
    assert reply.json()["imported"] == len(ROWS)
    c = community(world, cid)
    assert c["households"] == 3 and Decimal(c["total_area"]) == ROWS_AREA
    assert Decimal(c["total_balance"]) == ROWS_BALANCE
    assert {b["name"]: b["households"] for b in c["buildings"]} == {"3栋": 2, "4栋": 1}


# -- communities ---------------------------------------------------------------------------


def test_who_may_register_a_community(world):
    """Street offices (in their own office) and city users may register; district and
    community users get 403; another street office's id is 404; nothing is created on refusal;
    reading a community follows the same jurisdictions."""
    c = new_community(world, "so", address="荷塘区新华路8号", buildings=["1栋", "2栋"])
    assert c["street_office"]["id"] == world.ids["office_yt"] and c["district"]["id"] == world.ids["district_ht"]
    assert [b["name"] for b in c["buildings"]] == ["1栋", "2栋"] and c["households"] == 0
    assert c["code"] == f"C{c['id']:05d}"
    r = world.client.post(
        f"{API}/communities",
        headers=world.h("so"),
        json={"name": "外街道小区", "street_office_id": world.ids["office_cgt"]},
    )
    assert r.status_code == 404 and r.json()["code"] == "street_office_not_found"
    for who in ("fr", "fr_other", "rc", "oc", "pc", "pc_other"):
        r = world.client.post(
            f"{API}/communities",
            json={"name": "不应登记", "street_office_id": world.ids["office_yt"]},
            headers=world.h(who),
        )
        assert r.status_code == 403 and r.json()["code"] == "cannot_manage_register", who
    for who in ("fc", "hb", "admin"):
        r = world.client.post(f"{API}/communities", json={"name": f"{who}登记"}, headers=world.h(who))
        assert r.status_code == 422 and r.json()["code"] == "street_office_required"
        new_community(world, who, name=f"{who}小区", street_office_id=world.ids["office_jn"])
    r = world.client.post(f"{API}/communities", json={"name": "重复编码", "code": "C-A"}, headers=world.h("so"))
    assert r.status_code == 409 and r.json()["code"] == "duplicate_code"
    r = world.client.post(
        f"{API}/communities", json={"name": "重复楼栋", "buildings": ["1栋", "1栋"]}, headers=world.h("so")
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_buildings"
    r = world.client.post(
        f"{API}/communities", json={"name": "无此街道", "street_office_id": 99999}, headers=world.h("admin")
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_street_office"
    names = [
        world.client.get(f"{API}/communities/{i}", headers=world.h("admin")).json().get("name")
        for i in range(1, c["id"] + 5)
    ]
    assert "不应登记" not in names and "外街道小区" not in names and "重复楼栋" not in names
    assert sum(n is not None for n in names) == 3 + 1 + 3  # conftest's, the street office's, the city's
    # a community is shown to its street office, its district, its own parties and the city
    for who in USERS:
        r = world.client.get(f"{API}/communities/{world.ids['community_a']}", headers=world.h(who))
        sees = who not in ("so_other", "fr_other", "pc_other")
        assert r.status_code == (200 if sees else 404), who
        if sees:
            assert r.json()["households"] == len(HOUSEHOLDS) and r.json()["total_balance"] == "131000.00"
        else:
            assert r.json()["code"] == "community_not_found"


# -- household import: every format --------------------------------------------------------


def test_every_import_format_gives_the_same_households(world):
    """A JSON list (Chinese or English keys), a CSV upload in UTF-8 with BOM or in GBK, a raw
    ``text/csv`` body, and an XLSX workbook uploaded or sent as the body all import the same."""
    items = [dict(zip(HEADER, r)) for r in ROWS[:2]]
    items.append(
        {
            "building": "4栋",
            "unit": "",
            "room": "201",
            "floor": 2,
            "area": 101.5,
            "owner": "刘强",
            "balance": "20000元",
            "first_deposit": 20000,
        }
    )
    bom, gbk = csv_text(ROWS).encode("utf-8-sig"), csv_text(ROWS).encode("gbk")
    assert bom[:3] == b"\xef\xbb\xbf" and gbk != csv_text(ROWS).encode("utf-8")
    requests = {
        "json": {"json": items},
        "csv-utf8-bom": {"files": {"file": ("住户清单.csv", bom, "text/csv")}},
        "csv-gbk": {"files": {"file": ("住户清单.csv", gbk, "text/csv")}},
        "csv-body": {"content": csv_text(ROWS).encode(), "headers": {"Content-Type": "text/csv; charset=utf-8"}},
        "xlsx-upload": {"files": {"file": ("住户清单.xlsx", xlsx_bytes(ROWS), XLSX)}},
        "xlsx-body": {"content": xlsx_bytes(ROWS), "headers": {"Content-Type": XLSX}},
    }
    for name, request in requests.items():
        cid = new_community(world, name=f"导入{name}")["id"]
        headers = {**world.h("so"), **request.pop("headers", {})}
        r = world.client.post(f"{API}/communities/{cid}/households", headers=headers, **request)
        assert_imported(world, cid, r)


# -- all or nothing ------------------------------------------------------------------------


def household_count(world, cid: int) -> int:
    return community(world, cid, "admin")["households"]


def rejected(world, cid: int, **request) -> list[dict]:
    before = community(world, cid, "admin")
    r = world.client.post(f"{API}/communities/{cid}/households", **request)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "import_rejected" and "未导入" in body["message"]
    assert community(world, cid, "admin") == before  # no household, no building, no balance
    return body["detail"]["problems"]


def test_malformed_csv_lists_every_bad_row_and_imports_nothing(world):
    """Bad rows anywhere in the file are each reported by row and column; good rows are not
    imported either."""
    cid = world.ids["community_a"]
    rows = [
        ROWS[0],
        ["3栋", "1单元", "102", "1", "abc", "", "100", "100"],  # row 3: area not a number
        ROWS[2],
        ["3栋", "1单元", "", "1", "80", "", "100", "100"],  # row 5: room blank
        ["3栋", "1单元", "103", "一", "-5", "", "100.001", "100"],  # row 6: floor, area, balance
        ["3栋", "1单元", "101", "1", "88.88", "", "100", "100"],
    ]  # row 7: repeats row 2
    problems = rejected(
        world, cid, headers=world.h("so"), files={"file": ("bad.csv", csv_text(rows).encode("utf-8-sig"), "text/csv")}
    )
    assert sorted({p["row"] for p in problems}) == [3, 5, 6, 7]
    assert ("3", "建筑面积（㎡）") in {(str(p["row"]), p["column"]) for p in problems}
    assert {p["column"] for p in problems if p["row"] == 6} == {"楼层", "建筑面积（㎡）", "分户账余额"}
    assert all(p["message"] and not p["message"].isascii() for p in problems)
    assert household_count(world, cid) == len(HOUSEHOLDS)


def test_malformed_json_and_xlsx_are_rejected_whole(world):
    """JSON items and workbook rows with errors are listed and nothing is imported; a body
    that is not a list, not JSON, or a form without a file is refused too."""
    cid = world.ids["community_a"]
    items = [dict(zip(HEADER, ROWS[0])), "not an object", {"楼栋": "3栋", "房号": "105", "单元": "1单元"}]
    problems = rejected(world, cid, json=items, headers=world.h("so"))
    assert {p["row"] for p in problems} == {2, 3}
    assert {p["column"] for p in problems if p["row"] == 3} >= {"建筑面积", "分户账余额", "首次交存额"}
    bad = [ROWS[0], ["3栋", "1单元", "102", 1, 0, None, 100, 100]]  # row 3: area 0
    problems = rejected(world, cid, headers=world.h("so"), files={"file": ("a.xlsx", xlsx_bytes(bad), XLSX)})
    assert [(p["row"], p["column"]) for p in problems] == [(3, "建筑面积（㎡）")]
    problems = rejected(world, cid, headers=world.h("so"), files={"file": ("a.xlsx", b"PK\x03\x04broken", XLSX)})
    assert [p["row"] for p in problems] == [0]
    for request, code in (
        ({"json": {"楼栋": "3栋"}}, "invalid_household_list"),
        ({"content": b"[{", "headers": {"Content-Type": "application/json"}}, "invalid_json"),
        ({"data": {"x": "1"}, "files": {"other": ("a.csv", b"x", "text/csv")}}, "file_missing"),
    ):
        headers = {**world.h("so"), **request.pop("headers", {})}
        r = world.client.post(f"{API}/communities/{cid}/households", headers=headers, **request)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert household_count(world, cid) == len(HOUSEHOLDS)


def test_reimports_and_outsiders_are_refused_whole(world):
    """A list that repeats households already registered is refused whole: each repeat is
    named, and neither the new households nor their new building are added; only street
    offices and city users may import at all."""
    cid = world.ids["community_a"]
    items = [
        dict(zip(HEADER, ROWS[0])),
        {"楼栋": "1栋", "单元": "1单元", "房号": "101", "建筑面积": "89.50", "分户账余额": "1", "首次交存额": "1"},
        {"楼栋": "2栋", "单元": "1单元", "房号": "102", "建筑面积": "76.40", "分户账余额": "1", "首次交存额": "1"},
    ]
    problems = rejected(world, cid, json=items, headers=world.h("so"))
    assert len(problems) == 2
    assert any("1栋" in p["message"] and "101" in p["message"] for p in problems)
    assert any("2栋" in p["message"] and "102" in p["message"] for p in problems)
    assert [b["name"] for b in community(world, cid)["buildings"]] == ["1栋", "2栋"]
    # only the register's keepers may import: community and district users 403, another office 404
    for who in ("rc", "oc", "pc", "fr"):
        r = world.client.post(f"{API}/communities/{cid}/households", json=items[:1], headers=world.h(who))
        assert r.status_code == 403 and r.json()["code"] == "cannot_manage_register", who
    r = world.client.post(f"{API}/communities/{cid}/households", json=items[:1], headers=world.h("so_other"))
    assert r.status_code == 404 and r.json()["code"] == "community_not_found"
    assert household_count(world, cid) == len(HOUSEHOLDS)
    ok = world.client.post(f"{API}/communities/{cid}/households", json=items[:1], headers=world.h("so"))
    assert ok.status_code == 201 and household_count(world, cid) == len(HOUSEHOLDS) + 1


# -- size limits ---------------------------------------------------------------------------


def small_limits(world, max_body: int = 2048, max_upload: int = 4096) -> TestClient:
    """The same services behind an app with small body limits."""
    settings = world.svc.settings.model_copy(update={"max_body_bytes": max_body, "max_upload_bytes": max_upload})
    return TestClient(
        create_app(services=dataclasses.replace(world.svc, settings=settings)), raise_server_exceptions=False
    )


def test_oversized_bodies_and_uploads_get_413(world):
    """JSON bodies over the body limit, files and CSV over the upload limit, and a streamed
    body without a length all get 413 payload_too_large, and nothing is stored."""
    cid = world.ids["community_a"]
    with small_limits(world) as client:
        url = f"{API}/communities/{cid}/households"
        many = [dict(zip(HEADER, ["9栋", "1单元", str(100 + i), "1", "80", "", "100", "100"])) for i in range(40)]
        r = client.post(url, json=many, headers=world.h("so"))
        assert r.status_code == 413, r.text
        body = r.json()
        assert body["code"] == "payload_too_large" and body["detail"] == {"limit": 2048}
        assert not body["message"].isascii()
        # CSV counts against the upload limit: 3 KB passes, 5 KB does not
        rows = [["9栋", "1单元", str(100 + i), "1", "80", "", "100", "100"] for i in range(150)]
        small = csv_text(rows[:70]).encode()
        assert 2048 < len(small) < 4096
        r = client.post(url, content=small, headers=world.h("so", **{"Content-Type": "text/csv"}))
        assert r.status_code == 201, r.text
        big = csv_text([["8栋", *r[1:]] for r in rows]).encode()
        assert len(big) > 4096
        r = client.post(url, content=big, headers=world.h("so", **{"Content-Type": "text/csv"}))
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

        def stream():  # no Content-Length: the limit is counted as the body arrives
            for _ in range(10):
                yield b" " * 512

        r = client.post(url, content=stream(), headers=world.h("so", **{"Content-Type": "application/json"}))
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text
        assert household_count(world, cid) == len(HOUSEHOLDS) + 70

        case = client.post(
            f"{API}/cases",
            headers=world.h("so"),
            json={"definition": "fire_hazard_emergency", "community_id": cid, "title": "大文件"},
        ).json()
        r = client.post(
            f"{API}/cases/{case['id']}/documents",
            data={"doc_type": "hazard_photos"},
            files={"file": ("p.jpg", b"\xff" * 5000, "image/jpeg")},
            headers=world.h("so"),
        )
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

        # streamed bodies that FastAPI itself parses (a JSON model, a form): 413 too, not 400
        def streamed(head: bytes, filler: bytes, tail: bytes):
            yield head
            for _ in range(20):
                yield filler * 512
            yield tail

        r = client.post(
            f"{API}/cases",
            headers=world.h("so", **{"Content-Type": "application/json"}),
            content=streamed(
                b'{"definition": "fire_hazard_emergency", "community_id": %d, "title": "' % cid, b"x", b'"}'
            ),
        )
        assert r.status_code == 413 and r.json() == {
            "code": "payload_too_large",
            "detail": {"limit": 2048},
            "message": "请求内容超过 2048 字节上限",
        }, r.text
        head = (
            b'--xyz\r\nContent-Disposition: form-data; name="doc_type"\r\n\r\nhazard_photos\r\n--xyz\r\n'
            b'Content-Disposition: form-data; name="file"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        r = client.post(
            f"{API}/cases/{case['id']}/documents",
            content=streamed(head, b"\xff", b"\r\n--xyz--\r\n"),
            headers=world.h("so", **{"Content-Type": "multipart/form-data; boundary=xyz"}),
        )
        assert r.status_code == 413 and r.json()["detail"] == {"limit": 4096}, r.text
        assert client.get(f"{API}/cases/{case['id']}/documents", headers=world.h("so")).json() == []
        assert client.get(f"{API}/cases", headers=world.h("so")).json()["total"] == 1
