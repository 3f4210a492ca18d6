"""Records read off the case's hash-chained events (issue 11b): who signed what, for which party,
with which opinion. A signature is the event of a transition whose effect signs a record
(``effect: {sign: acceptance}``): the event names the user, the role (the party) and the
organisation; the transition's optional ``signer`` field names the person who signed on paper
when it is not the signed-in user."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from fundflow.service.reads.common import events_of, iso
from fundflow.service.tables import Case

__all__ = ["signatures"]


def signatures(s: Session, svc, case: Case) -> list[dict[str, Any]]:
    """Every signature of the case, oldest first; ``current`` when it counts for the record now
    (signed since the case last entered the stage: a failed acceptance is signed again)."""
    d = svc.registry.get(case.definition_id, case.definition_version)
    out: list[dict[str, Any]] = []
    entered: dict[str, int] = {}  # state -> seq of the event that last entered it
    for e in events_of(s, case):
        if e.to_state is not None and e.from_state != e.to_state:
            entered[e.to_state] = e.seq
        t = d.transition(e.trigger, e.from_state) if e.from_state else None
        if t is None or t.effect is None or not t.effect.sign:
            continue
        data = e.data or {}
        out.append(
            {
                "seq": e.seq,
                "record": t.effect.sign,
                "record_label": t.label,
                "state": e.from_state,
                "party": e.role,
                "party_label": d.roles[e.role].label if e.role in d.roles else e.role,
                "person": data.get("signer") or e.user_name,
                "org": e.org,
                "opinion": data.get("opinion"),
                "at": iso(e.at),
                "occurred_at": data.get("occurred_at"),
            }
        )
    for sig in out:
        sig["current"] = case.state == sig["state"] and sig["seq"] > entered.get(sig["state"], 0)
    return out
