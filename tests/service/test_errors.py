"""The error table is complete and every error answers the same JSON shape.

Every ``FundflowError`` class maps to a status of its own in ``fundflow.service.errors.ERRORS``; only
configuration errors (a broken definition or calendar file, read at start-up), the errors of
work done outside a request (a backup, an alert delivery) and the two abstract bases answer
5xx. ``ApportionmentError`` and ``ImportRejected`` are in the tree (and still ``ValueError``s),
so they never reach the client unmapped. (tests/test_boundaries.py checks the tree as a whole.)
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import fundflow.domain.errors as workflow_errors
import fundflow.service.errors as service_errors
from fundflow.domain.apportionment import ApportionmentError
from fundflow.domain.errors import (
    CalendarError,
    DefinitionError,
    FundflowError,
    Problem,
    Refusal,
    RefusalCode,
    TransitionRefused,
)
from fundflow.service.errors import (
    STATUS,
    BackupError,
    DeliveryFailed,
    DocumentUnavailable,
    ServiceError,
    error_body,
    status_for,
)
from fundflow.service.household_import import ImportRejected
from tests.support.drivers import API, MAIN, CaseDriver, expected_actions
from tests.support.paths import ROOT
from tests.support.world import USERS

CHINESE = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^[a-z][a-z0-9_]*$")
#: errors in a configuration file, raised while the service starts: a 500 is right for them
CONFIGURATION = {DefinitionError, CalendarError}
#: errors of work done outside any request (``fundflow backup``, the scheduler's deliveries), and
#: of a server that cannot do what was asked (a PDF without a CJK font: 503, try the Word file)
OPERATIONAL = {BackupError: 500, DeliveryFailed: 502, DocumentUnavailable: 503}
ABSTRACT = {FundflowError, ServiceError}


def all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | all_subclasses(sub)
    return out


def error_classes() -> set[type]:
    """Every FundflowError class defined in workflow.errors and service.errors."""
    modules = {workflow_errors.__name__, service_errors.__name__}
    return {c for c in all_subclasses(FundflowError) | {FundflowError} if c.__module__ in modules}


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "detail"}, body
    assert CODE.match(body["code"]) and body["code"].isascii(), body
    assert CHINESE.search(body["message"]), body
    if code is not None:
        assert body["code"] == code, body
    return body


# -- the table -----------------------------------------------------------------------------


def test_every_error_class_is_in_the_table():
    """Each error class has its own entry (a new class without one fails here); request
    errors are 4xx, only configuration errors and the abstract bases 500."""
    classes = error_classes()
    assert {
        "NotAuthenticated",
        "Forbidden",
        "NotFound",
        "Conflict",
        "PreconditionFailed",
        "PayloadTooLarge",
        "InvalidInput",
        "UnknownDefinition",
        "TransitionRefused",
    } <= {c.__name__ for c in classes}
    for cls in classes:
        assert cls in STATUS, f"{cls.__name__} has no status of its own"
        status = status_for(cls.__new__(cls))
        if cls in CONFIGURATION | ABSTRACT:
            assert status == 500, cls
        elif cls in OPERATIONAL:
            assert status == OPERATIONAL[cls], cls
        else:
            assert 400 <= status < 500, (cls, status)
    expected = {
        "NotAuthenticated": 401,
        "Forbidden": 403,
        "NotFound": 404,
        "UnknownDefinition": 404,
        "Conflict": 409,
        "TransitionRefused": 409,
        "PreconditionFailed": 412,
        "PayloadTooLarge": 413,
        "InvalidInput": 422,
    }
    assert {c.__name__: status_for(c.__new__(c)) for c in classes if c.__name__ in expected} == expected


def _raised_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_the_request_path_raises_only_mapped_errors():
    """Every FundflowError the API routes and use cases raise is a request error (4xx), and
    configuration errors are raised only by the start-up loaders."""
    by_name = {c.__name__: c for c in error_classes()}
    request_modules = [
        *(ROOT / "fundflow" / "http" / "api").glob("*.py"),
        *(ROOT / "fundflow" / "service" / "usecases").glob("*.py"),
        *(ROOT / "fundflow" / "service" / "reads").glob("*.py"),  # the read models
        ROOT / "fundflow" / "service" / "jurisdiction.py",
        ROOT / "fundflow" / "domain" / "engine.py",
        ROOT / "fundflow" / "domain" / "guards.py",
    ]
    for path in request_modules:
        for name in _raised_names(path) & set(by_name):
            assert 400 <= status_for(by_name[name].__new__(by_name[name])) < 500, (path.name, name)
    for cls in CONFIGURATION:
        raisers = {
            p.name
            for p in [*(ROOT / "fundflow" / "domain").glob("*.py"), *(ROOT / "fundflow" / "service").rglob("*.py")]
            if cls.__name__ in _raised_names(p)
        }
        assert raisers <= {"loader.py", "calendar.py"}, (cls, raisers)


def test_configuration_errors_answer_plainly():
    """A configuration error's body names no file or path: the details are for the log."""
    exc = DefinitionError([Problem("/srv/defs/secret.yaml", "states[1]", "bad")])
    body = error_body(exc)
    assert body["code"] == "internal_error" and CHINESE.search(body["message"]) and "secret" not in str(body)
    assert error_body(CalendarError("/srv/cal.yaml: years.2027: bad"))["detail"] is None


def test_refusal_codes_are_identifiers_and_their_body_carries_the_available_triggers():
    """Every refusal code is an ASCII identifier; the body repeats code, message and the
    triggers the user may fire instead."""
    for code in RefusalCode:
        assert CODE.match(code.value)
        refusal = Refusal(code, "当前环节不能执行此操作", "x", "reported", ("confirm_major",), field="f", guard="g")
        exc = TransitionRefused(refusal)
        assert status_for(exc) == 409
        assert error_body(exc) == {
            "code": code.value,
            "message": "当前环节不能执行此操作",
            "detail": {"trigger": "x", "state": "reported", "available": ["confirm_major"], "field": "f", "guard": "g"},
        }


def test_value_errors_of_the_domain_are_in_the_tree_and_answered_by_the_table():
    """ApportionmentError and ImportRejected are ValueErrors (their callers catch them as such)
    and FundflowErrors with an entry of their own: no route or query maps them by hand."""
    for cls in (ApportionmentError, ImportRejected):
        assert issubclass(cls, ValueError) and issubclass(cls, FundflowError) and cls in STATUS
    routes = (ROOT / "fundflow" / "http" / "api" / "routes.py").read_text(encoding="utf-8")
    queries = (ROOT / "fundflow" / "service" / "reads" / "case.py").read_text(encoding="utf-8")
    assert "except ImportRejected" not in routes and "except ApportionmentError" not in queries


def test_an_apportionment_failure_is_a_422_not_a_500(world, monkeypatch):
    """When the apportionment cannot be computed the client gets 422 apportionment_failed."""
    drv = CaseDriver(world)
    case = drv.case_in("advance_payment")  # approved: there is an amount to share

    def broken(total, areas):
        raise ApportionmentError("住户 7 的建筑面积必须大于 0：0")

    monkeypatch.setattr(importlib.import_module("fundflow.service.reads.case"), "apportion", broken)
    for path in ("apportionment", "apportionment.xlsx"):
        body = assert_error_shape(
            world.client.get(f"{API}/cases/{case['id']}/{path}", headers=world.h("so")), 422, "apportionment_failed"
        )
        assert "建筑面积" in body["message"]


def test_amounts_that_are_not_plain_positive_amounts_answer_422(world):
    """Signs (-0.00 too), exponents, more than two decimals, zero, NaN and words never reach
    the ledger: 422 invalid_amount naming the field, and the case is untouched."""
    drv = CaseDriver(world)
    case = drv.case_in("settlement")
    drv.upload(case["id"], "settlement_statement")
    drv.upload(case["id"], "invoices")
    version = drv.get(case["id"])["version"]
    for bad in ("-1.00", "-0.00", "+5", "0", "0.00", "100.001", "1e13", "1E3", "NaN", "Infinity", "一万", "1,00"):
        body = assert_error_shape(
            drv.post_fire(case["id"], "pc", "submit_settlement", {"settled_amount": bad}), 422, "invalid_amount"
        )
        assert body["detail"]["field"] == "settled_amount" and "结算金额" in body["message"], bad
    assert drv.get(case["id"])["version"] == version


def test_unexpected_errors_answer_a_plain_500(world, monkeypatch):
    """A bug answers 500 internal_error in Chinese without its own message."""

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(importlib.import_module("fundflow.service.reads.stats"), "city_stats", boom)
    body = assert_error_shape(world.client.get(f"{API}/stats", headers=world.h("admin")), 500, "internal_error")
    assert "secret" not in str(body)


# -- the HTTP layer ------------------------------------------------------------------------


def test_unknown_routes_wrong_methods_and_bad_bodies(world):
    """Unknown routes 404, wrong methods 405, malformed JSON and wrong types 422: all JSON."""
    c, h = world.client, world.h("so")
    assert_error_shape(c.get(f"{API}/nothing-here", headers=h), 404, "not_found")
    assert_error_shape(c.get("/nothing-here"), 404, "not_found")
    r = c.delete(f"{API}/cases", headers=h)
    assert_error_shape(r, 405, "method_not_allowed")
    assert "POST" in r.headers["allow"]
    assert_error_shape(c.put(f"{API}/cases/1/transitions", headers=h, json={}), 405, "method_not_allowed")
    body = assert_error_shape(
        c.post(f"{API}/cases", content=b'{"definition": ', headers={**h, "Content-Type": "application/json"}),
        422,
        "validation_error",
    )
    assert body["detail"][0]["type"] == "json_invalid"
    body = assert_error_shape(
        c.post(f"{API}/cases", headers=h, json={"definition": MAIN.id, "community_id": "abc", "title": "x"}),
        422,
        "validation_error",
    )
    assert ["body", "community_id"] in [p["loc"] for p in body["detail"]]
    for payload in (
        {"definition": MAIN.id, "community_id": 1, "title": "x", "extra": 1},
        {"definition": MAIN.id, "community_id": 0, "title": "x"},
        {"definition": MAIN.id, "community_id": 1, "title": ""},
        [1, 2],
    ):
        assert_error_shape(c.post(f"{API}/cases", headers=h, json=payload), 422, "validation_error")
    assert_error_shape(c.get(f"{API}/cases/abc", headers=h), 422, "validation_error")
    assert_error_shape(c.get(f"{API}/cases", params={"page": 0}, headers=h), 422, "validation_error")
    assert_error_shape(
        c.post(f"{API}/cases/1/transitions", headers=h, json={"trigger": "x", "data": []}), 422, "validation_error"
    )
    assert_error_shape(
        c.post(f"{API}/cases/1/votes", headers=h, json={"party": "fund_center", "attended": True, "vote": "maybe"}),
        422,
        "validation_error",
    )
    assert_error_shape(c.get(f"{API}/cases"), 401, "not_authenticated")
    assert_error_shape(c.get(f"{API}/cases/999999", headers=h), 404, "case_not_found")
    assert_error_shape(c.post(f"{API}/login", json={"username": "so", "password": "nope"}), 401, "bad_credentials")


def test_unknown_definitions(world):
    """An unknown definition is 422 when opening a case (a bad field) and 404 for its diagram."""
    c, h = world.client, world.h("so")
    body = assert_error_shape(
        c.post(
            f"{API}/cases",
            headers=h,
            json={"definition": "flood_emergency", "community_id": world.ids["community_a"], "title": "x"},
        ),
        422,
        "unknown_definition",
    )
    assert set(body["detail"]["definitions"]) == {MAIN.id, "lift_fault_emergency", "public_opinion"}
    assert_error_shape(
        c.post(
            f"{API}/cases",
            headers=h,
            json={"definition": MAIN.id, "version": 99, "community_id": world.ids["community_a"], "title": "x"},
        ),
        422,
        "unknown_definition",
    )
    assert_error_shape(c.get(f"{API}/definitions/flood_emergency/diagram", headers=h), 404, "unknown_definition")
    assert_error_shape(
        c.get(f"{API}/definitions/{MAIN.id}/diagram", params={"version": 99}, headers=h), 404, "unknown_definition"
    )


def test_engine_refusals_are_409_with_the_available_triggers(world):
    """Each kind of refusal answers 409 with its code, the offending field or guard, and the
    triggers the user may fire now; the case does not change."""
    drv = CaseDriver(world)
    case = drv.open()
    cid, available = case["id"], expected_actions(MAIN, "reported", "fire_rescue")

    def refused(data, code, who="fr", trigger="confirm_major"):
        body = assert_error_shape(drv.post_fire(cid, who, trigger, data), 409, code)
        now, role = drv.get(cid), USERS[who][0]
        expected = (
            expected_actions(MAIN, now["state"], role)
            if not now["suspended"]
            else ({"resume"} if role in MAIN.suspension.resume_roles else set())
        )
        assert set(body["detail"]["available"]) == expected
        assert body["detail"]["trigger"] == trigger
        return body["detail"]

    good = {"notice_no": "株消〔2026〕1号", "finding_route": "direct", "hazard_elements": "报警系统瘫痪"}
    assert set(refused(good, "unknown_trigger", trigger="fly_away")["available"]) == available
    refused({}, "trigger_not_available", who="so", trigger="archive")
    assert refused(good | {"finding_route": "maybe"}, "field_invalid")["field"] == "finding_route"
    assert refused(good | {"colour": "red"}, "field_invalid")["field"] == "colour"
    assert refused({k: v for k, v in good.items() if k != "notice_no"}, "field_missing")["field"] == "notice_no"
    assert refused(good | {"notice_no": "   "}, "field_missing")["field"] == "notice_no"
    refused(good, "documents_missing")  # the hazard photos of the report
    drv.upload(cid, "hazard_photos", "so")
    assert refused(good, "guard_refused")["guard"] == "documents_present"  # the fire notice
    refused(good, "role_not_allowed", who="pc")
    drv.fire(cid, "so", "suspend", {"reason": "等待消防部门复核"})
    refused(good, "case_suspended")
    drv.fire(cid, "so", "resume", {"reason": "复核完毕"})
    refused({"reason": "再次恢复"}, "case_not_suspended", who="so", trigger="resume")
    drv.fire(cid, "fr", "not_major", {"reason": "可当场整改，不构成重大隐患"})
    refused(good, "case_closed")
    assert drv.get(cid)["state"] == "ordinary_repair"


def test_stale_versions_and_reused_idempotency_keys(world):
    """If-Match with an old version is 412 with the current one; a malformed If-Match 422; an
    Idempotency-Key replays the first answer and refuses a different request."""
    drv = CaseDriver(world)
    case = drv.open()
    cid, v = case["id"], case["version"]
    drv.upload(cid, "hazard_photos")
    body = assert_error_shape(
        drv.post_fire(cid, "so", "suspend", {"reason": "等待材料"}, **{"If-Match": f'"{v}"'}),
        412,
        "precondition_failed",
    )
    current = drv.get(cid)["version"]
    assert body["detail"] == {"current_version": current} and current > v
    assert_error_shape(
        drv.post_fire(cid, "so", "suspend", {"reason": "等待材料"}, **{"If-Match": "abc"}), 422, "invalid_if_match"
    )
    first = drv.post_fire(
        cid, "so", "suspend", {"reason": "等待材料"}, **{"If-Match": str(current), "Idempotency-Key": "k-1"}
    )
    assert first.status_code == 200 and first.json()["suspended"] is True
    again = drv.post_fire(cid, "so", "suspend", {"reason": "等待材料"}, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json() == first.json()
    assert_error_shape(
        drv.post_fire(cid, "so", "resume", {"reason": "材料已到"}, **{"Idempotency-Key": "k-1"}),
        422,
        "idempotency_key_reused",
    )
    assert drv.get(cid)["version"] == first.json()["version"]  # the replay changed nothing


def test_document_and_vote_errors(world):
    """Uploads and votes refuse unknown types, empty files, unknown parties and absent voters
    with 4xx JSON errors."""
    drv = CaseDriver(world)
    case = drv.case_in("joint_meeting")
    cid = case["id"]
    body = assert_error_shape(drv.upload(cid, "selfie"), 422, "unknown_document_type")
    assert set(body["detail"]["document_types"]) == set(MAIN.documents)
    r = world.client.post(
        f"{API}/cases/{cid}/documents",
        data={"doc_type": "site_record"},
        files={"file": ("empty.pdf", b"", "application/pdf")},
        headers=world.h("so"),
    )
    assert_error_shape(r, 422, "empty_file")
    assert_error_shape(
        world.client.post(f"{API}/cases/{cid}/documents", data={"doc_type": "site_record"}, headers=world.h("so")),
        422,
        "validation_error",
    )
    assert_error_shape(
        world.client.get(f"{API}/cases/{cid}/documents/999999", headers=world.h("so")), 404, "document_not_found"
    )
    assert_error_shape(drv.vote(cid, "so", "developer"), 422, "unknown_party")
    assert_error_shape(drv.vote(cid, "so", "fund_center", "agree", attended=False), 422, "absent_cannot_vote")
    assert_error_shape(drv.vote(cid, "so", "fund_center", None), 422, "vote_missing")
    assert_error_shape(drv.vote(cid, "pc", "fund_center"), 403, "not_your_party")
