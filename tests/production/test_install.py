"""The package works outside the source tree: the wheel holds ``fundflow`` alone (code plus the
migrations, procedures, calendars, templates and static files it reads at run time), and once
installed (not editable) ``fundflow validate`` and ``fundflow demo --no-serve`` work from an empty
directory with no FUNDFLOW_* settings.

The wheel is built by pip from a copy of the tracked sources (so a build leaves nothing in the
checkout and cannot pick up stray files), installed with ``--no-deps`` into a fresh venv; the
dependencies come from this test's own environment through ``PYTHONPATH``, which adds its
site-packages as a plain path: its ``.pth`` files (the editable install's hook into the
checkout) are not run, so ``import fundflow`` can only find the installed copy, and the test
checks that it does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what the package reads at run time besides its modules, relative to fundflow/
DATA_DIRS = (
    "migrations",
    "migrations/versions",
    "definitions",
    "calendars",
    "http/web/templates",
    "http/web/static",
    "service/paperwork/templates",
)


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    listed = _run(["git", "ls-files", "-z", "pyproject.toml", "README.md", "fundflow"], cwd=ROOT)
    if listed.returncode == 0 and listed.stdout:
        files = [f for f in listed.stdout.split("\0") if f and (ROOT / f).is_file()]
    else:  # not a git checkout (an sdist): every file but the caches
        files = [
            str(p.relative_to(ROOT))
            for p in [ROOT / "pyproject.toml", ROOT / "README.md", *(ROOT / "fundflow").rglob("*")]
            if p.is_file() and "__pycache__" not in p.parts
        ]
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    out = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)], cwd=src)
    assert built.returncode == 0, built.stdout + built.stderr
    (whl,) = out.glob("fundflow-*.whl")
    return whl


def test_the_wheel_holds_the_fundflow_package_and_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"fundflow", next(t for t in tops if t.endswith(".dist-info"))}, tops
    files = {n.removeprefix("fundflow/") for n in names if n.startswith("fundflow/")}
    for d in DATA_DIRS:
        assert any(f.startswith(d + "/") for f in files), f"nothing from fundflow/{d} in the wheel"
    shipped_defs = sorted(f for f in files if f.startswith("definitions/") and f.endswith(".yaml"))
    assert shipped_defs == sorted(f"definitions/{p.name}" for p in (ROOT / "fundflow" / "definitions").glob("*.yaml"))
    migrations = sorted(f for f in files if f.startswith("migrations/versions/") and f.endswith(".py"))
    assert migrations == sorted(
        f"migrations/versions/{p.name}" for p in (ROOT / "fundflow" / "migrations" / "versions").glob("*.py")
    )
    assert {"migrations/env.py", "migrations/script.py.mako", "calendars/overrides.yaml"} <= files
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(the venv's ``fundflow`` script, the environment to run it in)."""
    target = tmp_path_factory.mktemp("venv")
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    done = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        cwd=target,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDFLOW_") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]  # the dependencies, not the checkout
    return target / "bin" / "fundflow", python, env


def test_the_installed_package_is_the_one_imported(installed, tmp_path):
    script, python, env = installed
    where = _run([str(python), "-c", "import fundflow; print(fundflow.__file__)"], cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    path = Path(where.stdout.strip()).resolve()
    assert path.is_relative_to(python.parent.parent.resolve()), path
    assert not path.is_relative_to(ROOT.resolve()), path


def test_validate_and_demo_from_an_empty_directory(installed, tmp_path):
    script, _python, env = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    checked = _run([str(script), "validate"], cwd=empty, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shipped = len(list((ROOT / "fundflow" / "definitions").glob("*.yaml")))
    assert f"{shipped} file(s) checked, 0 error(s)" in checked.stderr

    seeded = _run([str(script), "demo", "--no-serve"], cwd=empty, env=env, timeout=600)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "so_yuetang" in seeded.stdout and "fundflow-demo" in seeded.stdout
    assert (empty / "data" / "fundflow.db").is_file()
    assert any((empty / "data" / "documents").rglob("*"))
    assert sorted(p.name for p in empty.iterdir()) == ["data"]
