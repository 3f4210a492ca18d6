"""One error tree, one table: every error class of ``fundflow`` is a ``FundflowError`` with an
entry of its own in ``fundflow.service.errors.ERRORS``; the API and the pages answer each one
with the same status and message; no ``except`` maps an error of the tree by hand."""

from __future__ import annotations

import ast
import importlib
import re

import pytest
from fastapi import APIRouter

from tests.support.modules import PACKAGE, ROOT, module_names

CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _import_everything() -> None:
    for name in module_names():
        if name != "fundflow.http.asgi":  # builds an app and configures logging at import
            importlib.import_module(name)


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


#: exception classes of fundflow left outside the tree, on purpose: neither reaches a client
OUTSIDE_THE_TREE = {
    "fundflow.service.notify.targets.TargetRefused",  # a channel's address: the use case says why (422)
    "fundflow.service.integrity.keys.KeyFileError",  # a key file, read by the CLI and at start-up
}


def test_every_error_class_of_fundflow_is_in_the_tree_with_an_answer_of_its_own():
    _import_everything()
    from fundflow.domain.errors import FundflowError
    from fundflow.service.errors import ERRORS

    tree = _subclasses(FundflowError) | {FundflowError}
    ours = {c for c in _subclasses(BaseException) if c.__module__.startswith("fundflow.")}
    assert {f"{c.__module__}.{c.__qualname__}" for c in ours - tree} == OUTSIDE_THE_TREE
    for name in ("ImportRejected", "ApportionmentError", "BackupError", "DeliveryFailed", "CsrfFailed"):
        assert name in {c.__name__ for c in tree}, name
    for cls in tree:
        assert cls in ERRORS, f"{cls.__name__} has no entry of its own in service.errors.ERRORS"
        answer = ERRORS[cls]
        assert 400 <= answer.status < 600 and CODE.match(answer.code), (cls, answer)


def _sample(cls: type):
    """One instance of each error class (a class with another constructor needs a line here)."""
    from fundflow.domain.errors import (
        AmountRefused,
        DefinitionError,
        Problem,
        Refusal,
        RefusalCode,
        TransitionRefused,
        UnknownDefinition,
    )
    from fundflow.service.errors import BackupError, CsrfFailed, DeliveryFailed, ImportRejected, ServiceError
    from fundflow.service.household_import import RowProblem

    special = {
        DefinitionError: lambda: DefinitionError([Problem("a.yaml", "states[0]", "bad")]),
        UnknownDefinition: lambda: UnknownDefinition("flood_emergency"),
        TransitionRefused: lambda: TransitionRefused(
            Refusal(RefusalCode.GUARD_REFUSED, "资金不足，不能拨付", "pay", "payment")
        ),
        AmountRefused: lambda: AmountRefused(Refusal(RefusalCode.INVALID_AMOUNT, "金额格式不正确", "pay", "payment")),
        BackupError: lambda: BackupError("tool_failed", "无法运行 pg_dump"),
        DeliveryFailed: lambda: DeliveryFailed("连接超时"),
        CsrfFailed: CsrfFailed,
    }
    if cls in special:
        return special[cls]()
    if issubclass(cls, ImportRejected):
        return cls([RowProblem(2, "建筑面积", "应为正数")])
    if issubclass(cls, ServiceError):
        return cls("出错了：测试用的错误")
    return cls("出错了：测试用的错误")


def test_the_api_and_the_pages_answer_every_error_from_the_one_table(world):
    """One route per error class in the API and one among the pages: the same status, and the
    page says the message the API's body says (a 401 page sends the browser to the login page)."""
    import html

    from fundflow.domain.errors import FundflowError
    from fundflow.http.web.render import PageRoute
    from fundflow.service.errors import error_body, status_for

    _import_everything()
    classes = sorted(_subclasses(FundflowError) | {FundflowError}, key=lambda c: c.__name__)
    by_name = {c.__name__: c for c in classes}

    def raise_it(name: str):
        raise _sample(by_name[name])

    app = world.client.app
    api, pages = APIRouter(), APIRouter(route_class=PageRoute)
    api.add_api_route("/api/v1/test-errors/{name}", raise_it)
    pages.add_api_route("/test-errors/{name}", raise_it)
    app.include_router(api)
    app.include_router(pages)
    for cls in classes:
        exc = _sample(cls)
        status, body = status_for(exc), error_body(exc)
        a = world.client.get(f"/api/v1/test-errors/{cls.__name__}")
        assert (a.status_code, a.json()) == (status, body), cls
        p = world.client.get(f"/test-errors/{cls.__name__}", follow_redirects=False)
        if status == 401:
            assert p.status_code == 303 and p.headers["location"].startswith("/login"), cls
            continue
        assert p.status_code == status and p.headers["content-type"].startswith("text/html"), cls
        assert html.escape(body["message"], quote=False) in p.text, cls


def _names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return {node.id} if isinstance(node, ast.Name) else set()


#: (file, caught, raised or status): the only translations, each for a reason of its own
TRANSLATIONS = {
    # an unknown definition named in the request body is a bad field (422), not a missing page
    ("fundflow/http/api/routes.py", "UnknownDefinition", "InvalidInput"),
    ("fundflow/http/web/pages/new_case.py", "UnknownDefinition", "422"),
}


def test_no_except_maps_an_error_of_the_tree_by_hand():
    """An ``except`` that catches an error of the tree neither raises another one of the tree
    (``except ImportRejected: raise InvalidInput(...)``) nor answers a status of its own: the
    table says the status. (Handlers that answer through ``status_for`` / ``error_body`` are fine.)"""
    _import_everything()
    from fundflow.domain.errors import FundflowError

    tree = {c.__name__ for c in _subclasses(FundflowError) | {FundflowError}}
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for handler in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(handler, ast.ExceptHandler):
                continue
            for caught in _names(handler.type) & tree:
                for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
                    if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                        raised = _names(node.exc.func) & tree
                        found |= {(rel, caught, r) for r in raised}
                    if isinstance(node, ast.Constant) and type(node.value) is int and 400 <= node.value < 600:
                        found.add((rel, caught, str(node.value)))
    assert found == TRANSLATIONS


@pytest.mark.parametrize("module", ["fundflow.http.app", "fundflow.http.web.render"])
def test_the_two_handlers_answer_from_the_table(module):
    """The API's handler and the pages' handler take the status from the table (no literal)."""
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
    assert "status_for(" in source or "answer_for(" in source
    assert "error_body(" in source
