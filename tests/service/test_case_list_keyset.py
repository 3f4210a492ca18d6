"""The case list by keyset: ``after`` (the previous page's ``next``) walks the same order as
page numbers do, on both databases; the to-do list counts up to its cap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fundflow.domain.errors import FundflowError
from fundflow.service.db import read_only
from fundflow.service.reads import case_list
from tests.support.flows import load_user
from tests.support.world import NOW


def _page(svc, user, **kw):
    with read_only(svc.sessions) as s:
        return case_list.list_cases(s, svc, user, now=NOW, **kw)


def _cases(flow, n: int) -> list[int]:
    ids = []
    for i in range(n):
        flow.now = NOW + timedelta(minutes=i % 3)  # some share a due moment: the id breaks the tie
        ids.append(flow.open(title=f"案件 {i}"))
    flow.now = NOW
    return ids


@pytest.mark.parametrize("inbox", [False, True])
def test_keyset_pages_walk_the_page_order(world, flow, inbox):
    ids = _cases(flow, 7)
    user = load_user(world.svc, world.ids["user_fr"])
    kw = {"responsible_role": user.role, "include_closed": False} if inbox else {}
    by_number = [item["id"] for p in range(1, 5) for item in _page(world.svc, user, page=p, page_size=2, **kw)["items"]]
    assert sorted(by_number) == sorted(ids)
    walked, after = [], None
    for _ in range(10):
        page = (
            _page(world.svc, user, page_size=2, after=after, **kw)
            if after
            else _page(world.svc, user, page_size=2, **kw)
        )
        walked += [item["id"] for item in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert walked == by_number


def test_a_bad_cursor_is_a_400(world):
    user = load_user(world.svc, world.ids["user_fr"])
    for bad in ("x", "12", "_", "abc_1", "1_x"):
        with pytest.raises(FundflowError) as exc:
            _page(world.svc, user, after=bad)
        assert exc.value.code == "invalid_cursor"


def test_the_inbox_counts_up_to_its_cap(world, flow, monkeypatch):
    _cases(flow, 4)
    user = load_user(world.svc, world.ids["user_fr"])
    inbox = {"responsible_role": user.role, "include_closed": False}
    assert _page(world.svc, user, **inbox)["total"] == 4
    monkeypatch.setattr(case_list, "INBOX_COUNT_CAP", 3)
    capped = _page(world.svc, user, **inbox)
    assert (capped["total"], capped["total_exact"]) == (3, False)
    assert _page(world.svc, user)["total_exact"] is True  # the plain list keeps its own cap


def test_keyset_walks_past_the_last_due_moment_into_the_closed_cases(world, flow):
    """Closed cases have no open stage (no due moment) and come last: a keyset walk crosses from
    the due ones into them, also within one page, and sees each case once."""
    ids = _cases(flow, 5)
    for case_id in ids[:3]:
        flow.fire("fr", case_id, "not_major", {"reason": "不构成重大隐患"})
    user = load_user(world.svc, world.ids["user_fr"])
    by_number = [item["id"] for p in range(1, 4) for item in _page(world.svc, user, page=p, page_size=2)["items"]]
    assert sorted(by_number) == sorted(ids)
    assert [item["closed"] for item in _page(world.svc, user, page_size=5)["items"]] == [False] * 2 + [True] * 3
    for size in (1, 2, 3):
        walked, after = [], None
        for _ in range(10):
            page = _page(world.svc, user, page_size=size, **({"after": after} if after else {}))
            walked += [item["id"] for item in page["items"]]
            after = page["next"]
            if after is None:
                break
        assert walked == by_number, size
