"""A body over the size limit, as each kind of client gets it: a browser's own form post (no
script) gets a Chinese page, htmx and the API get the JSON error that the scripts read."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from fundflow.http.middleware import LimitAndMeasure, Metrics

PAGE = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what a browser sends


async def _read(request):
    await request.body()
    return PlainTextResponse("ok")


def _client() -> TestClient:
    app = Starlette(
        routes=[Route("/cases/new", _read, methods=["POST"]), Route("/api/v1/cases", _read, methods=["POST"])]
    )
    # an error while the app reads is answered by whatever the app sends then: the 413 replaces it
    return TestClient(
        LimitAndMeasure(app, Metrics(), max_body=1000, max_upload=2 * 1048576), raise_server_exceptions=False
    )


def _photos(size: int) -> dict:
    return {"photos": ("IMG_0001.jpg", b"\xff" * size, "image/jpeg")}


def test_a_browser_form_post_over_the_limit_gets_a_chinese_page_not_json():
    r = _client().post("/cases/new", files=_photos(3 * 1048576), headers={"Accept": PAGE})
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "上传内容过大" in r.text and "超过 2 MB 的上限" in r.text and "后退" in r.text
    main = r.text.split("<main")[1]
    assert '"code"' not in main and "payload_too_large" in main  # the code only on the hint line


def test_a_body_that_overflows_while_it_streams_gets_the_page_too():
    """No Content-Length declared (chunked): the limit trips while the body is read."""

    def chunks():
        for _ in range(40):
            yield b"x" * 100_000

    r = _client().post(
        "/cases/new", content=chunks(), headers={"Accept": PAGE, "Content-Type": "multipart/form-data; boundary=x"}
    )
    assert r.status_code == 413 and "上传内容过大" in r.text


def test_htmx_and_the_api_keep_the_json_error():
    client = _client()
    hx = client.post("/cases/new", files=_photos(3 * 1048576), headers={"Accept": PAGE, "HX-Request": "true"})
    api = client.post("/api/v1/cases", files=_photos(3 * 1048576), headers={"Accept": PAGE})
    for r in (hx, api):
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    small = client.post("/cases/new", files=_photos(1000), headers={"Accept": PAGE})
    assert small.status_code == 200 and small.text == "ok"


def test_the_real_new_case_page_answers_an_oversized_report_with_the_page(web):
    limit = web.world.svc.settings.max_upload_bytes
    r = web.as_("so").post(
        "/cases/new",
        data={"csrf_token": web.csrf("so", "/cases/new"), "title": "1栋消防水泵无法启动"},
        files=[("photos", ("IMG_0001.jpg", b"\xff" * (limit + 1), "image/jpeg"))],
        headers={"Accept": PAGE},
    )
    assert r.status_code == 413 and "上传内容过大" in r.text and 'href="/static/app.css"' in r.text
