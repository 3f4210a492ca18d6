"""``fundflow audit verify``: the whole state, not only the chain.

For every case: its hash chain (fundflow/service/audit.py), each event's seal, and a replay of the
events' facts (facts.py) against the rows: the case row, its stages, documents and votes; its
ledger journal entries and top-up notices against the records its events carry; each
document's file on disk against its sha256. For every household: its journal's running
balance and frozen amount, and the projections (balance, frozen) against the journal's sums. Globally: the signed checkpoints
(numbering, signatures, the statement chain), the running head over the global event
sequence, and the copies kept outside the database (the checkpoint file, witness copies), so
that a case or tail deleted below a checkpoint, a forged insert, and a rollback of the whole
database past a witnessed checkpoint show.

Each finding names the case (when there is one) and one of the kinds below. Verification only
reads; it holds no transaction open across cases on SQLite beyond a read snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlmodel import Session

from fundflow.domain.ledger import EFFECTS
from fundflow.domain.ledger_digest import digest as journal_digest
from fundflow.domain.money import from_fen, to_fen
from fundflow.service.audit import verify_case
from fundflow.service.config import Settings
from fundflow.service.integrity.checkpoints import GENESIS_HEAD, Copy, link, read_copies, statement_digest
from fundflow.service.integrity.facts import KEYED_RULES, SEQUENCE_RULES, Rule, case_digest, digest
from fundflow.service.integrity.keys import Signer, Verifier
from fundflow.service.tables import Case, Checkpoint, Event, Household, LedgerEntry, TopUpNotice

__all__ = ["Finding", "Report", "verify_state", "KINDS"]

KINDS = {
    "altered": "篡改",  # an event, a checkpoint or a copy says something other than what was signed or sealed
    "deleted": "删除",  # events, a case, rows or checkpoints are missing
    "inserted": "插入",  # events or rows that the service did not write
    "reordered": "乱序",  # events out of order
    "out_of_step": "与事件不符",  # a row differs from what its events recorded
    "file_changed": "文件变更",  # a document's file is missing or its content changed
    "rolled_back": "回滚",  # the database is behind a checkpoint kept outside it
}


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str
    detail: str
    case_id: int | None = None
    case_number: str | None = None

    def __str__(self) -> str:
        who = f"case {self.case_number or '?'} (id {self.case_id}) " if self.case_id is not None else ""
        return f"{self.kind}: {who}{self.where}: {self.detail}"


@dataclass
class Report:
    cases: int = 0
    events: int = 0
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self, case_id: int | None = None) -> set[str]:
        return {f.kind for f in self.findings if case_id is None or f.case_id == case_id}

    def summary(self) -> str:
        cases = len({f.case_id for f in self.findings if f.case_id is not None})
        return (
            f"{self.cases} case(s), {self.events} event(s), {self.checkpoints} checkpoint(s) checked; "
            f"{len(self.findings)} finding(s), {cases} case(s) affected"
        )


def _rows(session: Session, table, where, order) -> list:
    return session.execute(select(table).where(where).order_by(*order)).all()


# -- one case --------------------------------------------------------------------------------


def _replay(case, events: list, rows: dict[str, list], add) -> bool:
    """Compare the rows with what the events' facts say; False when the case predates facts."""
    if any(e.facts is None for e in events):
        return False
    seq_expected: dict[str, list[list]] = {r.name: [] for r in SEQUENCE_RULES}
    keyed_expected: dict[str, dict] = {r.name: {} for r in KEYED_RULES}
    before: dict[str, set] = {r.name: set() for r in KEYED_RULES if r.before is not None}
    for e in events:
        for rule in KEYED_RULES:
            if rule.before is not None and rule.name not in e.facts and isinstance(e.data, dict):
                link = _link(rule, e)
                if link is not None:
                    before[rule.name].add(link)
        for rule in SEQUENCE_RULES:
            for op, n, d in e.facts.get(rule.name, ()):
                groups = seq_expected[rule.name]
                if op == "+":
                    groups.append([n, d, e.seq])
                elif groups and groups[-1][0] == 1:
                    groups[-1][1:] = [d, e.seq]
                else:
                    add("out_of_step", f"event #{e.seq}", f"changes a {rule.label} row that no event created")
        for rule in KEYED_RULES:
            for op in e.facts.get(rule.name, ()):
                keyed_expected[rule.name][op[1]] = (op[2], e.seq, rule.fields_of(op))
    last = events[-1]
    if case_digest(case) != last.facts.get("case"):
        add("out_of_step", "case row", f"differs from what event #{last.seq} recorded (state, data, title, money, ...)")
    # every event writes the row at least once, opening twice (the number needs the id); a
    # use case may write it once more (a flush before its event), so the version only bounds
    if case.version < len(events) + 1:
        add("out_of_step", "case row", f"version {case.version}, but {len(events)} event(s)")
    if case.updated_at != last.at:
        add(
            "out_of_step",
            "case row",
            f"updated at {case.updated_at.isoformat()}, its last event at {last.at.isoformat()}",
        )
    # when it was opened (the rates' period) is the opening event's own moment
    opened = events[0].data.get("occurred_at") if events[0].seq == 1 else None
    if isinstance(opened, str) and (case.opened_at is None or case.opened_at != datetime.fromisoformat(opened)):
        shown = case.opened_at.isoformat() if case.opened_at is not None else "nothing"
        add("out_of_step", "case row", f"opened at {shown}, its opening event at {opened}")
    for rule in SEQUENCE_RULES:
        _compare_sequence(rule, seq_expected[rule.name], rows[rule.name], add)
    for rule in KEYED_RULES:
        _compare_keyed(rule, keyed_expected[rule.name], rows[rule.name], add, before.get(rule.name, set()))
    return True


def _link(rule: Rule, event) -> tuple | None:
    """What an event written before ``rule`` existed says of the row it wrote, or None."""
    values = [event.data.get(k) for k, _ in rule.before.match]
    return None if None in values else (*values, event.at)


def _predates(rule: Rule, row, links: set) -> bool:
    """The row was written, as it stands, by an event from before the rule (``Rule.before``)."""
    return (*(getattr(row, c) for _, c in rule.before.match), getattr(row, rule.before.at)) in links


def _compare_sequence(rule: Rule, groups: list[list], actual: list, add) -> None:
    want = sum(g[0] for g in groups)
    if len(actual) < want:
        add("deleted", rule.name, f"{want - len(actual)} of {want} {rule.label} row(s) missing")
        return
    if len(actual) > want:
        add("inserted", rule.name, f"{len(actual) - want} {rule.label} row(s) that no event wrote")
        return
    at = 0
    for i, (n, d, seq) in enumerate(groups, 1):
        chunk = actual[at : at + n]
        at += n
        if digest(chunk, rule.fields) != d:
            ids = ", ".join(str(r.id) for r in chunk[:5])
            add("out_of_step", f"{rule.name} #{i} (row {ids})", f"{rule.label} differs from what event #{seq} recorded")


def _compare_keyed(rule: Rule, expected: dict, actual: list, add, before: set) -> None:
    have = {getattr(r, rule.key): r for r in actual}
    for key, (d, seq, fields) in expected.items():
        row = have.pop(key, None)
        if d is None:  # removed by event #seq
            if row is not None:
                add("inserted", f"{rule.name} {key}", f"{rule.label} that event #{seq} removed")
        elif row is None:
            add("deleted", f"{rule.name} {key}", f"{rule.label} recorded by event #{seq} is missing")
        elif digest([row], fields) != d:
            add("out_of_step", f"{rule.name} {key}", f"{rule.label} differs from what event #{seq} recorded")
    for key, row in have.items():
        if not (before and _predates(rule, row, before)):
            add("inserted", f"{rule.name} {key}", f"{rule.label} that no event recorded")


def _file_sha(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_files(settings: Settings, documents: list, add) -> None:
    for doc in documents:
        sha = _file_sha(settings.documents_dir / str(doc.case_id) / doc.sha256)
        if sha is None:
            add("file_changed", f"document {doc.id} ({doc.filename})", "the file is missing")
        elif sha != doc.sha256:
            add(
                "file_changed",
                f"document {doc.id} ({doc.filename})",
                f"the file's sha256 is {sha[:12]}…, recorded {doc.sha256[:12]}…",
            )


def _cases(
    session: Session, settings: Settings, signer: Signer | None, files: bool, batch: int, report: Report
) -> None:
    cases_t, events_t = Case.__table__, Event.__table__
    legacy = 0
    last_id = 0
    while True:
        cases = session.execute(select(cases_t).where(cases_t.c.id > last_id).order_by(cases_t.c.id).limit(batch)).all()
        if not cases:
            break
        ids = [c.id for c in cases]
        events: dict[int, list] = defaultdict(list)
        for e in _rows(
            session, events_t, events_t.c.case_id.in_(ids), [events_t.c.case_id, events_t.c.seq, events_t.c.id]
        ):
            events[e.case_id].append(e)
        by_rule: dict[str, dict[int, list]] = {}
        for rule in SEQUENCE_RULES + KEYED_RULES:
            t = rule.table.__table__
            grouped: dict[int, list] = defaultdict(list)
            for r in _rows(session, t, t.c.case_id.in_(ids), [t.c.id]):
                grouped[r.case_id].append(r)
            by_rule[rule.name] = grouped
        journal: dict[int, list] = defaultdict(list)
        lt = LedgerEntry.__table__
        for r in _rows(session, lt, lt.c.case_id.in_(ids), [lt.c.id]):
            journal[r.case_id].append(r)
        notices: dict[int, list] = defaultdict(list)
        nt = TopUpNotice.__table__
        for r in _rows(session, nt, nt.c.case_id.in_(ids), [nt.c.id]):
            notices[r.case_id].append(r)
        for c in cases:

            def add(kind, where, detail, c=c):
                report.findings.append(Finding(kind, where, detail, c.id, c.number))

            evs = events.get(c.id, [])
            report.events += len(evs)
            for b in verify_case(c, evs):
                add(b.kind, f"event #{b.seq}" if b.seq is not None else "chain", b.problem)
            if signer is not None:
                for e in evs:
                    if e.seal is None:
                        add("inserted", f"event #{e.seq}", "not sealed: the service did not write it")
                    elif not signer.seal_ok(e.hash, e.seal):
                        add("altered", f"event #{e.seq}", "its seal does not match its content")
            if evs and not _replay(c, evs, {name: g.get(c.id, []) for name, g in by_rule.items()}, add):
                legacy += 1
            _journal(evs, journal.get(c.id, []), notices.get(c.id, []), add)
            if files:
                _check_files(settings, by_rule["documents"].get(c.id, []), add)
        report.cases += len(cases)
        last_id = ids[-1]
    if legacy:
        report.notes.append(f"{legacy} case(s) have events from before facts were recorded: chain checked, rows not")


# -- the ledger journal (issue 9) -------------------------------------------------------------
# An event that moved money carries in its data (hashed with it) the journal's own account of
# the entries it caused: {"entries": n, "totals": {kind: yuan}, "sha256": ...} over their
# canonical form (workflow.ledger_digest). The rule: group the case's entries by event_seq,
# recompute, compare; a top-up notice against the event's "top_up".


def _recorded(events: list) -> dict[int, dict]:
    return {
        e.seq: e.data["ledger"]
        for e in events
        if isinstance(e.data, dict) and isinstance(e.data.get("ledger"), dict) and "sha256" in e.data["ledger"]
    }


def _journal(events: list, entries: list, notices: list, add) -> None:
    recorded = _recorded(events)
    by_seq: dict[int | None, list] = defaultdict(list)
    for r in entries:
        by_seq[r.event_seq].append(r)
    for seq in sorted(set(recorded) | set(by_seq), key=lambda s: -1 if s is None else s):
        want, rows = recorded.get(seq), by_seq.get(seq, [])
        where = f"journal of event #{seq}"
        if want is None:
            add("inserted", where, f"{len(rows)} journal entr(ies) that no event recorded")
            continue
        got = journal_digest(rows)
        if got["entries"] < want.get("entries", 0):
            add("deleted", where, f"{want['entries'] - got['entries']} of {want['entries']} journal entries missing")
        elif got["entries"] > want.get("entries", 0):
            add("inserted", where, f"{got['entries'] - want['entries']} journal entr(ies) more than the event recorded")
        elif got["sha256"] != want.get("sha256"):
            add(
                "out_of_step",
                where,
                f"the entries differ from what the event recorded ({got['totals']} now, {want.get('totals')} recorded)",
            )
    tops = {seq: rec["top_up"] for seq, rec in recorded.items() if isinstance(rec.get("top_up"), dict)}
    have = {n.event_seq: n for n in notices}
    for seq, want in tops.items():
        n = have.pop(seq, None)
        if n is None:
            add("deleted", f"top-up notice of event #{seq}", "the notice the event recorded is missing")
        elif (n.households, str(n.total)) != (want.get("households"), want.get("total")):
            add("out_of_step", f"top-up notice of event #{seq}", "differs from what the event recorded")
    for seq in have:
        add("inserted", f"top-up notice of event #{seq}", "a notice that no event recorded")


# -- households ------------------------------------------------------------------------------


def _households(session: Session, report: Report) -> None:
    """Each household's journal adds up, entry by entry, to the balance and frozen amount it
    records (``fundflow.domain.ledger.EFFECTS``), and the projections (``households.balance``,
    ``frozen``) are the journal's sums. The entries a case caused are proved by its events
    (``_journal``); deposits and adjustments made outside a case are not (see the README)."""
    lt, ht, ct = LedgerEntry.__table__, Household.__table__, Case.__table__
    numbers = dict(session.execute(select(ct.c.id, ct.c.number)).all())
    run: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for e in session.execute(select(lt).order_by(lt.c.id)):
        effect = EFFECTS.get(e.kind)
        if effect is None:
            report.findings.append(
                Finding(
                    "inserted",
                    f"household {e.household_id} journal entry {e.id}",
                    f"unknown kind {e.kind!r}",
                    e.case_id,
                    numbers.get(e.case_id),
                )
            )
            continue
        r = run[e.household_id]
        r[0] += effect[0] * to_fen(e.amount)
        r[1] += effect[1] * to_fen(e.amount)
        if (r[0], r[1]) != (to_fen(e.balance_after), to_fen(e.frozen_after)):
            report.findings.append(
                Finding(
                    "out_of_step",
                    f"household {e.household_id} journal entry {e.id}",
                    f"records balance {e.balance_after} and frozen {e.frozen_after}; its journal adds up to "
                    f"{from_fen(r[0])} and {from_fen(r[1])}",
                    e.case_id,
                    numbers.get(e.case_id),
                )
            )
            r[0], r[1] = to_fen(e.balance_after), to_fen(e.frozen_after)
    for h in session.execute(select(ht.c.id, ht.c.room, ht.c.balance, ht.c.frozen)):
        balance, frozen = run.get(h.id, (0, 0))
        if (to_fen(h.balance), to_fen(h.frozen)) != (balance, frozen):
            report.findings.append(
                Finding(
                    "out_of_step",
                    f"household {h.id} (room {h.room})",
                    f"balance {h.balance} and frozen {h.frozen}; its journal adds up to {from_fen(balance)} and "
                    f"{from_fen(frozen)}",
                )
            )


# -- checkpoints -----------------------------------------------------------------------------


def _checkpoints(session: Session, verifier: Verifier | None, copies: list[Copy], report: Report) -> None:
    cps = session.execute(select(Checkpoint.__table__).order_by(Checkpoint.__table__.c.number)).all()
    report.checkpoints = len(cps)
    et, ct = Event.__table__, Case.__table__

    def add(kind, where, detail, case_id=None, number=None):
        report.findings.append(Finding(kind, where, detail, case_id, number))

    prev, expected = GENESIS_HEAD, 1
    for cp in cps:
        where = f"checkpoint {cp.number}"
        if cp.number != expected:
            add("deleted", where, f"checkpoints {expected}-{cp.number - 1} are missing")
        expected = cp.number + 1
        try:
            st = json.loads(cp.statement)
        except ValueError:
            st = {}
        cases_digest = hashlib.sha256(
            json.dumps(cp.cases, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        if (st.get("number"), st.get("upto"), st.get("head"), st.get("cases")) != (
            cp.number,
            cp.upto,
            cp.head,
            cases_digest,
        ):
            add("altered", where, "the row differs from its signed statement")
        if verifier is not None and not verifier.verify(cp.statement.encode("utf-8"), cp.signature):
            add("altered", where, "its signature does not verify with the public key")
        if st.get("prev") != prev:
            add("altered", where, "does not follow the previous checkpoint")
        prev = statement_digest(cp.statement)

    # the running head over the global sequence, recomputed
    bad: list[Any] = []  # checkpoints whose interval does not reproduce
    head, g, gaps = GENESIS_HEAD, 0, []
    marks = iter(cps)
    mark = next(marks, None)
    stray = []
    for e in session.execute(
        select(et.c.gseq, et.c.hash, et.c.case_id, et.c.seq).where(et.c.gseq.is_not(None)).order_by(et.c.gseq)
    ).yield_per(5000):
        while mark is not None and e.gseq > mark.upto:
            if g != mark.upto or head != mark.head:
                bad.append(mark)
            head, g = mark.head, mark.upto  # judge each interval on its own
            mark = next(marks, None)
        if mark is None:
            stray.append(e)
            continue
        if e.gseq != g + 1:
            gaps.append((g + 1, e.gseq - 1))
        head, g = link(head, e.gseq, e.hash), e.gseq
    while mark is not None:
        if g != mark.upto or head != mark.head:
            bad.append(mark)
        head, g = mark.head, mark.upto
        mark = next(marks, None)
    numbers = dict(session.execute(select(ct.c.id, ct.c.number)).all())
    for e in stray:
        add(
            "inserted",
            f"event #{e.seq}",
            f"numbered {e.gseq} in the global sequence, beyond the last signed checkpoint",
            e.case_id,
            numbers.get(e.case_id),
        )
    for lo, hi in gaps:
        add("deleted", f"global events {lo}-{hi}", "missing below a signed checkpoint")
    starts = [cp.upto for cp in cps]
    for cp in bad:
        after = starts[cps.index(cp) - 1] if cps.index(cp) else 0
        gap = any(after < lo <= cp.upto for lo, _ in gaps)
        _explain(session, cp, numbers, add, quiet=gap)

    # the copies outside the database
    by_number = {cp.number: cp for cp in cps}
    top = cps[-1].number if cps else 0
    behind: dict[str, int] = {}
    for copy in copies:
        if copy.valid is False:
            add("altered", f"{copy.source} checkpoint {copy.number}", "the copy's signature does not verify")
            continue
        row = by_number.get(copy.number)
        if row is None:
            if copy.number > top:
                behind[copy.source] = max(behind.get(copy.source, 0), copy.number)
            else:
                add("deleted", f"checkpoint {copy.number}", f"in {copy.source} but not in the database")
        elif row.statement != copy.statement or row.signature != copy.signature:
            add("altered", f"checkpoint {copy.number}", f"differs from the copy in {copy.source}")
    for source, n in behind.items():
        add(
            "rolled_back",
            "database",
            f"ends at checkpoint {top}, but {source} holds checkpoint {n}: "
            "the database was rolled back or its newest checkpoints deleted",
        )


def _explain(session: Session, cp, numbers: dict[int, str], add, quiet: bool) -> None:
    """Name the cases behind an interval whose head does not reproduce, from the checkpoint's
    map of each touched case's last event."""
    et = Event.__table__
    wanted = {(int(cid), seq): h for cid, (seq, h) in cp.cases.items()}
    found = {}
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        for r in session.execute(
            select(et.c.case_id, et.c.seq, et.c.hash).where(tuple_(et.c.case_id, et.c.seq).in_(part))
        ):
            found[(r.case_id, r.seq)] = r.hash
    named = False
    for (cid, seq), h in sorted(wanted.items()):
        if (cid, seq) not in found:
            named = True
            if cid not in numbers:
                add(
                    "deleted",
                    "case",
                    f"signed in checkpoint {cp.number} with {seq} event(s); the case is gone",
                    cid,
                    None,
                )
            else:
                add("deleted", f"event #{seq}", f"signed in checkpoint {cp.number}; missing now", cid, numbers[cid])
        elif found[(cid, seq)] != h:
            named = True
            add(
                "altered",
                f"event #{seq}",
                f"differs from the event signed in checkpoint {cp.number}",
                cid,
                numbers.get(cid),
            )
    if not named and not quiet:  # quiet: a gap in this interval is reported already
        add("altered", f"checkpoint {cp.number}", f"events up to {cp.upto} no longer hash to the signed head")


# -- all ---------------------------------------------------------------------------------------


def verify_state(
    session: Session,
    settings: Settings,
    *,
    signer: Signer | None,
    verifier: Verifier | None,
    witness: Iterable[Path] = (),
    files: bool = True,
    batch: int = 500,
) -> Report:
    report = Report()
    _cases(session, settings, signer, files, batch, report)
    _households(session, report)
    sources = [settings.checkpoint_file, *witness]
    copies = read_copies(sources, verifier)
    _checkpoints(session, verifier, copies, report)
    if verifier is None:
        report.notes.append("no public key: checkpoint signatures not checked")
    if signer is None:
        report.notes.append("no signing key here: event seals not checked")
    if report.checkpoints and not settings.checkpoint_file.exists():
        report.notes.append(f"no checkpoint file at {settings.checkpoint_file}")
    return report
