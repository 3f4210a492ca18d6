"""SIGKILL the API process under load; every change answered 2xx survives (scripts/crash_test.py).

A small, bounded variant of ``scripts/crash_test.py``: ``fundflow serve --workers 1`` on a
PostgreSQL database of its own, 3 clerk threads, a kill after every 25 acknowledged changes
(2 kills), at most 160 requests and 30 s of load. The kills are triggered by the count of
acknowledged changes, not by a clock, and every wait is bounded; the checks only look at what
was acknowledged, so a request lost to a kill cannot make the test fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT / "scripts", ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def pg_url() -> str:
    import bench_service as bs

    url = os.environ.get("FUNDFLOW_TEST_DATABASE_URL", DEFAULT_PG)
    why = bs.pg_reachable(url)
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL not reachable at {url}: {why} (CI=true: PostgreSQL is required)", pytrace=False)
        pytest.skip(f"PostgreSQL not reachable at {url}: {why}")
    return url


def test_sigkill_under_load_loses_nothing_acknowledged(pg_url):
    import crash_test

    out = crash_test.run(
        pg_url, workers=1, kills=2, clients=3, every=25, max_requests=160, time_limit=30.0, race_every=4, quiet=True
    )
    print(out.summary())
    assert out.violations == [], out.summary()
    assert out.kills == 2, out.summary()
    assert sum(out.acks.values()) >= 3 * 25, out.summary()
    assert out.audit_checked == out.cases > 0
