"""The statements a block sends through an engine's cursor (SQLAlchemy ``before_cursor_execute``),
without the transaction's own BEGIN and COMMIT."""

from __future__ import annotations

from sqlalchemy import event


def traced(engine, block):
    """``(block(), [statement, ...])``."""
    seen: list[str] = []
    listener = lambda c, cur, st, params, ctx, many: seen.append(st)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        result = block()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return result, [st for st in seen if not st.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
