"""The package's boundaries, read from the code.

- Every module of ``fundflow`` imports alone (an import cycle shows only when the module in
  it is the first one imported, so each module is imported first in a fresh process).
- ``fundflow.domain`` imports nothing from the service, the web or the database stack, and
  never reads the clock (time is passed in).
- ``fundflow.http`` imports no tables directly (:func:`tables_importers`).

The error tree's boundaries are in ``tests/service/test_error_tree.py``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support.modules import PACKAGE, ROOT, module_names

DOMAIN = PACKAGE / "domain"
HTTP = PACKAGE / "http"
CODE = re.compile(r"^[a-z][a-z0-9_]*$")


#: Run in one process that never imports fundflow itself: a first child imports every module
#: and reports the libraries they use; the parent imports those (once), then forks a child per
#: module that imports that module first, two at a time.
_IMPORT_EACH = r"""
import importlib, json, os, sys, traceback

def in_child(work):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            message = work() or ""
        except BaseException:
            message = "!" + traceback.format_exc()
        os.write(w, message.encode()[-60000:])
        os._exit(0)
    os.close(w)
    return pid, r

def result(pid, r):
    with os.fdopen(r, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return message

names = json.loads(sys.argv[1])

def libraries():
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:
            pass
    return json.dumps(sorted(m for m in sys.modules if m.split(".")[0] != "fundflow"))

for lib in json.loads(result(*in_child(libraries))):
    try:
        importlib.import_module(lib)
    except BaseException:
        pass
assert not any(m.split(".")[0] == "fundflow" for m in sys.modules)
failures, running = {}, []

def importer(name):
    return lambda: importlib.import_module(name) and ""

for name in names + [None, None]:
    if name is not None:
        running.append((name, in_child(importer(name))))
    if len(running) == 2 or name is None and running:
        done, child = running.pop(0)
        message = result(*child)
        if message:
            failures[done] = message[1:]
print(json.dumps(failures))
"""


def test_every_module_imports_alone():
    names = module_names()
    assert "fundflow.http.web.render" in names and "fundflow.domain.engine" in names
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, json.dumps(names)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    failures = json.loads(out.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{name}:\n{tb}" for name, tb in failures.items())


# -- the domain ----------------------------------------------------------------------------------

FORBIDDEN_IN_DOMAIN = ("fundflow.service", "fundflow.http", "fundflow.cli", "sqlalchemy", "sqlmodel", "fastapi")
FORBIDDEN_IN_DOMAIN += ("starlette", "alembic", "uvicorn", "httpx")
#: calls that read the clock: ``datetime.now()``, ``date.today()``, ``time.time()``...
CLOCK_ATTRIBUTES = {"now", "utcnow", "today", "time", "time_ns", "monotonic", "perf_counter", "localtime", "gmtime"}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_the_domain_imports_nothing_from_the_service_web_or_database_stack():
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted(DOMAIN.rglob("*.py"))
        for line, name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)
    ]
    assert not offending, offending


def test_the_domain_never_reads_the_clock():
    offending = []
    for path in sorted(DOMAIN.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if not isinstance(func, ast.Attribute) or func.attr not in CLOCK_ATTRIBUTES:
                    continue
                # ``moment.time()`` is the time of day of a moment given: only ``time.time()`` reads
                if func.attr != "time" or (isinstance(func.value, ast.Name) and func.value.id == "time"):
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{func.attr}()")
            elif isinstance(node, ast.ImportFrom) and node.module == "time":
                offending.append(f"{path.relative_to(ROOT)}:{node.lineno}: from time import ...")
    assert not offending, offending


def tables_importers() -> list[str]:
    """The modules of ``fundflow.http`` that import the storage's tables directly (the read
    side lives behind read models: the list is empty)."""
    return sorted(
        str(path.relative_to(ROOT))
        for path in HTTP.rglob("*.py")
        if any(name.startswith("fundflow.service.tables") for _, name in _imports(path))
    )


def test_the_http_layer_imports_no_tables():
    """Reads come from read models (fundflow.service.reads), writes from use cases."""
    assert tables_importers() == []


def table_names_held_by_http() -> list[str]:
    """Names in the modules of ``fundflow.http`` that are table classes, however they got there
    (a re-export under another module's name counts): the http layer names the caller by the
    ``Principal`` protocol and rows not at all."""
    import importlib

    from sqlmodel import SQLModel

    held = []
    for path in sorted(HTTP.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, SQLModel)
                and value.__module__ == "fundflow.service.tables"
            ):
                held.append(f"{name}.{attr}")
    return held


def test_the_http_layer_holds_no_table_class_even_through_a_re_export():
    assert table_names_held_by_http() == []


def test_no_test_module_imports_another_test_module():
    """Shared helpers live in tests/support; a test module is never a library of another."""
    offending = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if (node.level and module.startswith("test_")) or re.search(r"(^|\.)test_\w+", module):
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}: {'.' * node.level}{module}")
            elif isinstance(node, ast.Import):
                offending += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {a.name}"
                    for a in node.names
                    if re.search(r"(^|\.)test_\w+", a.name)
                ]
    assert offending == []
