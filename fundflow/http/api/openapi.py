"""The OpenAPI document: every operation lists the 4xx answers it really gives, each with the one
error schema ``{code, message, detail}`` (``detail`` may be null, an object or a list).

Which answers an operation gives follows from its shape, and a few from what it does:

* every ``/api/v1`` operation: 422 (a NUL character in the path or query, a bad parameter);
* every ``/api/v1`` operation: 401 (no token, an invalid, expired or revoked one; for the
  login, a wrong password);
* a path with an id: 404 (no such row, or another jurisdiction's: never 403, which would tell);
* a request body: 400 (cannot be parsed at all), 413 (over ``FUNDFLOW_MAX_BODY_BYTES`` /
  ``_MAX_UPLOAD_BYTES``) and 422;
* writes: 403 (a role or level that may not);
* and :data:`EXTRA` per operation (409 refusals and conflicts, 412 If-Match, 429 login waits...).

``tests/service/test_schemathesis.py`` runs every schemathesis check against this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["install", "ERROR_SCHEMA", "EXTRA"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["code", "message", "detail"],
    "properties": {
        "code": {"type": "string", "description": "稳定的英文错误码，如 validation_error、invalid_token"},
        "message": {"type": "string", "description": "中文说明"},
        "detail": {"description": "细节：null、对象或列表（如导入的逐行问题、可执行的操作）"},
    },
}

DESCRIPTIONS = {
    400: "请求格式错误",
    401: "未登录，或令牌无效、过期、已注销",
    403: "无权执行该操作",
    404: "不存在或不在您的管辖范围内",
    409: "流程拒绝、重复或并发冲突",
    412: "If-Match 版本已过期",
    413: "请求内容或文件过大",
    415: "不支持的内容类型",
    422: "参数或内容有误",
    429: "登录失败次数过多，请稍后再试",
    503: "数据库不可用",
}

#: (method, path) -> the answers beyond those its shape gives.
EXTRA: dict[tuple[str, str], set[int]] = {
    ("post", "/api/v1/login"): {429},
    ("post", "/api/v1/communities"): {404, 409},
    ("get", "/api/v1/cases"): {403},
    ("post", "/api/v1/communities/{community_id}/households"): {409, 415},
    ("post", "/api/v1/cases"): {404},
    ("post", "/api/v1/cases/{case_id}/transitions"): {409, 412},
    ("post", "/api/v1/cases/{case_id}/votes"): {409},
    ("post", "/api/v1/cases/{case_id}/documents"): {409},
    ("get", "/api/v1/cases/{case_id}/apportionment"): {409},
    ("get", "/api/v1/cases/{case_id}/apportionment.xlsx"): {409},
    ("get", "/api/v1/stats"): {403},
    ("get", "/api/v1/cases/{case_id}/generated/{name}"): {409, 503},
    ("get", "/api/v1/channels"): {403},
    ("post", "/api/v1/migrations"): {404, 409},
    ("get", "/api/v1/alerts/{alert_id}/deliveries"): {403},
    ("post", "/api/v1/alerts/{alert_id}/ack"): set(),
    # tasks and supervision (issue 11a)
    ("post", "/api/v1/cases/{case_id}/assignment"): {409},
    ("post", "/api/v1/cases/{case_id}/claim"): {409},
    ("post", "/api/v1/cases/{case_id}/supervisions"): {409},
    ("post", "/api/v1/supervisions/{supervision_id}/reply"): {409},
    ("post", "/api/v1/supervisions/{supervision_id}/reply-with-documents"): {409, 413},
    ("post", "/api/v1/supervisions/{supervision_id}/close"): {409},
    ("post", "/api/v1/supervisions/{supervision_id}/renew"): {409},
    ("post", "/api/v1/cases/{case_id}/top-up-notices/{notice_id}/sent"): {409},
    ("post", "/api/v1/transfers/{transfer_id}/decision"): {409},
    ("get", "/metrics"): {401, 404},
    ("get", "/healthz"): {503},
}

# hand-offs and records (issue 11b): refused by the definition or the case's state (409)
EXTRA.update(
    {
        ("post", f"/api/v1/cases/{{case_id}}{tail}"): {409}
        for tail in (
            "/transfer",
            "/extensions",
            "/extensions/{extension_id}/decision",
            "/withdraw",
            "/objections",
            "/objections/{objection_id}/answer",
            "/meeting-sessions",
        )
    }
)

#: Successful answers that are not JSON.
CONTENT: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/v1/cases/{case_id}/apportionment"): {
        "application/json": {"schema": {"type": "object"}},
        XLSX: {"schema": {"type": "string", "format": "binary"}},
    },
    ("get", "/api/v1/cases/{case_id}/apportionment.xlsx"): {XLSX: {"schema": {"type": "string", "format": "binary"}}},
    ("get", "/api/v1/reports/city.xlsx"): {XLSX: {"schema": {"type": "string", "format": "binary"}}},
    ("get", "/api/v1/cases/{case_id}/generated/{name}"): {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
            "schema": {"type": "string", "format": "binary"}
        },
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    },
    ("get", "/api/v1/cases/{case_id}/documents/{document_id}"): {
        "*/*": {"schema": {"type": "string", "format": "binary"}}
    },
    ("get", "/metrics"): {"text/plain": {"schema": {"type": "string"}}},
}


def _errors(method: str, path: str, op: dict[str, Any]) -> set[int]:
    codes = set(EXTRA.get((method, path), set()))
    if not path.startswith("/api/v1/"):
        return codes
    codes |= {401, 422}  # the login's 401 is a wrong password
    if "{" in path:
        codes.add(404)
    if "requestBody" in op:
        codes |= {400, 413, 422}  # 400: a body that cannot be parsed at all (not UTF-8, a broken form)
    if method in ("post", "put", "patch", "delete") and path not in ("/api/v1/login", "/api/v1/tokens/current"):
        codes.add(403)
    return codes


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that documents the errors."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)  # our 422 is the error schema, not FastAPI's
        components.pop("ValidationError", None)
        components["Error"] = ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                if (method, path) in CONTENT:
                    ok = next(c for c in responses if c.startswith("2"))
                    responses[ok]["content"] = CONTENT[(method, path)]
                for code in sorted(_errors(method, path, op)):
                    body = error if code != 503 else {"application/json": {"schema": {"type": "object"}}}
                    responses[str(code)] = {"description": DESCRIPTIONS[code], "content": body}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
