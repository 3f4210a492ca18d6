"""The read side: one read model per page or endpoint, used by the API routes and the pages.

Every read model is a function of an open session (``def case_page(s, svc, user, case_id, now)``)
and changes nothing. A request reads through one ``Reader``: the caller's token, the menu's
count and the page's rows come from ONE read transaction, opened on first use and closed when
the request ends (or before the request writes: ``Reader.close``).

* ``common``: rows -> JSON-ready dicts (case, stage, event, money), and the SQL twin of the
  overdue rule (``overdue_clause``);
* ``case``: a case (GET /cases/{id}), its events, stages, votes, documents, apportionment, and
  the case page's whole bundle;
* ``case_list``: the case list and the to-do list (GET /cases);
* ``stats``: the city's figures (GET /stats, the dashboard);
* ``places``: the communities and street offices a user may see;
* ``inbox``: the alerts inbox and the menu's unread count;
* ``session``: who is calling (the token), in the same transaction.
"""

from __future__ import annotations

from contextlib import ExitStack

from sqlmodel import Session

from fundflow.service.db import read_only

__all__ = ["Reader"]


class Reader:
    """One read transaction shared by everything a request reads; opened on first use."""

    def __init__(self, svc) -> None:
        self.svc = svc
        self._stack: ExitStack | None = None
        self._session: Session | None = None

    @property
    def s(self) -> Session:
        if self._session is None:
            self._stack = ExitStack()
            self._session = self._stack.enter_context(read_only(self.svc.sessions))
        return self._session

    @property
    def opened(self) -> bool:
        """Whether the read transaction is open (``s`` was used and ``close`` not called)."""
        return self._stack is not None

    def close(self) -> None:
        """End the transaction (before a write: what is read after it is read afresh)."""
        if self._stack is not None:
            stack, self._stack, self._session = self._stack, None, None
            stack.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
