"""Micro-benchmarks of the fundflow engine. Standard library only; writes no file.

    .venv/bin/python benchmarks/bench_engine.py           # full run (about half a minute)
    .venv/bin/python benchmarks/bench_engine.py --quick   # smoke run (about 2 s)

Measures, on ``fundflow/definitions/fire_hazard_emergency.v1.yaml``:

1. microseconds per ``Engine.fire()``: a guarded transition (fund_review --approve-->
   advance_payment) and an unguarded one (site_survey --complete_survey--> joint_meeting),
   each against a bare ``transitions`` trigger between the same states; plus a breakdown
   of where a guarded fire spends its time;
2. loading and checking every definition in ``fundflow/definitions/`` (``load_directory``) and
   compiling each definition's machine (an engine's first fire);
3. traced memory growth between 10,000 and 100,000 fires (outcomes discarded), the peak,
   and the engine's cache of compiled machines.

See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
import tracemalloc
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFINITIONS = ROOT / "fundflow" / "definitions"
CALENDAR = ROOT / "fundflow" / "calendars" / "overrides.yaml"
DEFINITION_ID, VERSION = "fire_hazard_emergency", 1
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
RATIO_GOAL = 3.0

try:
    from transitions import Machine

    from fundflow.domain.calendar import WorkCalendar
    from fundflow.domain.deadlines import compute_deadlines
    from fundflow.domain.engine import Actor, CaseSnapshot, Engine, Outcome
    from fundflow.domain.loader import load_directory
except Exception as exc:  # the package must import before anything can be measured
    print(f"bench_engine: cannot import the engine: {type(exc).__name__}: {exc}")
    sys.exit(2)


# -- the scenarios ---------------------------------------------------------------------


class Scenario:
    """One transition fired again and again from the same snapshot (snapshots are immutable,
    so every fire does the full work: nothing carries over between calls)."""

    def __init__(self, name, state, trigger, dest, role, data, documents, balance=None):
        self.name = name
        self.state = state
        self.trigger = trigger
        self.dest = dest
        self.case = CaseSnapshot(DEFINITION_ID, VERSION, state, documents=frozenset(documents), balance=balance)
        self.actor = Actor("bench", role)
        self.data = data


GUARDED = Scenario(
    "guarded   fund_review -approve-> advance_payment",
    "fund_review",
    "approve",
    "advance_payment",
    "fund_center",
    {"approved_amount": "250000.00", "approval_opinion": "同意"},
    documents={"application_form"},
    balance=Decimal("1000000.00"),
)
UNGUARDED = Scenario(
    "unguarded site_survey -complete_survey-> joint_meeting",
    "site_survey",
    "complete_survey",
    "joint_meeting",
    "street_office",
    {"survey_date": "2026-03-01", "survey_findings": "楼道堆放杂物，消防通道堵塞"},
    documents={"site_record"},
)


class _Plain:
    """The bare model: nothing but a state attribute."""

    __slots__ = ("state",)

    def __init__(self, state: str):
        self.state = state


def bare_machine(definition) -> Machine:
    """The definition's states and transitions in a plain ``transitions`` machine: no
    conditions, no callbacks, no suspend/resume, same options as the engine's."""
    return Machine(
        model=None,
        states=list(definition.states),
        initial=definition.initial,
        transitions=[{"trigger": t.trigger, "source": list(t.sources), "dest": t.dest} for t in definition.transitions],
        auto_transitions=False,
        send_event=True,
    )


# -- timing helpers ----------------------------------------------------------------------


def fire_loop(engine: Engine, s: Scenario, n: int) -> float:
    """Seconds for n fires of scenario s (outcomes discarded)."""
    fire, case, trigger, actor, data, now = engine.fire, s.case, s.trigger, s.actor, s.data, NOW
    t0 = time.perf_counter()
    for _ in range(n):
        fire(case, trigger, actor, data, now)
    return time.perf_counter() - t0


def bare_loop(machine: Machine, s: Scenario, n: int) -> float:
    """Seconds for n bare triggers of the same trigger between the same states. The model is
    put back in the source state before each trigger (one attribute store)."""
    trigger = machine.events[s.trigger].trigger
    obj, src = _Plain(s.state), s.state
    t0 = time.perf_counter()
    for _ in range(n):
        obj.state = src
        trigger(obj)
    return time.perf_counter() - t0


def call_loop(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


def median_us(samples: list[float], n: int) -> float:
    return statistics.median(samples) / n * 1e6


def interleaved(runs: dict[str, callable], n: int, repeats: int, best: bool = False) -> dict[str, float]:
    """Median µs per call of each run (also ``<key>_min``, the fastest repeat, if ``best``); a
    warm-up of n calls each, then the runs take turns repeat by repeat so that a slow moment of
    the machine hits all of them alike."""
    for run in runs.values():
        run(n)
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            gc.collect()
            samples[key].append(run(n))
    out = {k: median_us(v, n) for k, v in samples.items()}
    if best:
        out.update({f"{k}_min": min(v) / n * 1e6 for k, v in samples.items()})
    return out


# -- 1. fire vs bare ------------------------------------------------------------------------


def check_scenarios(engine: Engine, machine: Machine) -> None:
    for s in (GUARDED, UNGUARDED):
        out = engine.fire(s.case, s.trigger, s.actor, s.data, NOW)
        if not isinstance(out, Outcome) or out.state != s.dest or out.deadlines is None:
            raise SystemExit(f"bench_engine: scenario {s.trigger!r} did not move to {s.dest!r}: {out!r}")
        obj = _Plain(s.state)
        machine.events[s.trigger].trigger(obj)
        if obj.state != s.dest:
            raise SystemExit(f"bench_engine: bare trigger {s.trigger!r} ended in {obj.state!r}")


def bench_fire(engine: Engine, machine: Machine, n: int, repeats: int) -> dict[str, float]:
    runs = {
        "fire_g": lambda k: fire_loop(engine, GUARDED, k),
        "bare_g": lambda k: bare_loop(machine, GUARDED, k),
        "fire_u": lambda k: fire_loop(engine, UNGUARDED, k),
        "bare_u": lambda k: bare_loop(machine, UNGUARDED, k),
    }
    return interleaved(runs, n, repeats, best=True)


def bench_breakdown(engine: Engine, n: int, repeats: int) -> dict[str, float] | None:
    """The parts of a guarded fire timed one by one (private engine internals: returns None
    if they have changed shape)."""
    try:
        from fundflow.domain import engine as eng
        from fundflow.domain.guards import GuardContext

        s = GUARDED
        c = engine._machine(DEFINITION_ID, VERSION)
        tr = c.table[(s.state, s.trigger)]
        dest_rule = c.definition.states[s.dest].deadline
        deadline_fn = getattr(eng, "compute_deadlines", compute_deadlines)  # what fire() calls
        values = {f.name: eng._parse_field(f, s.data[f.name])[0] for f in tr.fields}
        ctx = GuardContext(
            values,
            s.case.data,
            s.case.documents,
            s.case.votes,
            s.case.balance,
            NOW,
            s.case.stage_entered_at,
            c.role_labels,
        )
        event = c.machine.events[s.trigger]
        new_data = dict(s.data)

        def parse():
            for f in tr.fields:
                eng._parse_field(f, s.data[f.name])

        def machine_with_guard():
            event.trigger(eng._Adapter(s.state, ctx))

        def deadlines():
            deadline_fn(dest_rule, NOW, engine.calendar, new_data)

        if deadline_fn(dest_rule, NOW, engine.calendar, new_data) is None:
            return None
        machine_with_guard()
    except Exception:
        return None
    runs = {
        "parse": lambda k: call_loop(parse, k),
        "machine": lambda k: call_loop(machine_with_guard, k),
        "deadlines": lambda k: call_loop(deadlines, k),
    }
    return interleaved(runs, n, repeats)


# -- 2. loading and compiling ----------------------------------------------------------------


def bench_load(repeats: int):
    times, registry = [], None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        registry, problems = load_directory(DEFINITIONS)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, registry, problems


def bench_compile(registry, calendar, repeats: int) -> list[tuple[str, float, float]]:
    """Per definition: the median first fire of a fresh engine (which compiles the machine)
    and the median of the same call once compiled. The call is a trigger the definition does
    not have, so it is refused without touching the case: it works for any definition."""
    rows = []
    for d in registry:
        case = CaseSnapshot(d.id, d.version, d.initial)
        actor = Actor("bench", next(iter(d.roles)))
        first, again = [], []
        for _ in range(repeats):
            engine = Engine(registry, calendar)
            gc.collect()
            t0 = time.perf_counter()
            engine.fire(case, "__bench_no_such_trigger__", actor, None, NOW)
            t1 = time.perf_counter()
            engine.fire(case, "__bench_no_such_trigger__", actor, None, NOW)
            t2 = time.perf_counter()
            first.append(t1 - t0)
            again.append(t2 - t1)
        rows.append((f"{d.id} v{d.version}", statistics.median(first) * 1e3, statistics.median(again) * 1e3))
    return rows


# -- 3. memory ------------------------------------------------------------------------------


def bench_memory(engine: Engine, registry, first: int, total: int):
    """Traced memory between ``first`` and ``total`` fires, alternating the guarded and the
    unguarded scenario, every outcome dropped at once as a service would after storing it."""
    compiled_before = engine._machine(DEFINITION_ID, VERSION)
    ignore = (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<unknown>"))
    a, b = GUARDED, UNGUARDED
    fire = engine.fire

    def run(pairs: int) -> None:
        for _ in range(pairs):
            fire(a.case, a.trigger, a.actor, a.data, NOW)
            fire(b.case, b.trigger, b.actor, b.data, NOW)

    gc.collect()
    tracemalloc.start()
    try:
        run(first // 2)
        gc.collect()
        current1, _ = tracemalloc.get_traced_memory()
        snap1 = tracemalloc.take_snapshot().filter_traces(ignore)
        run((total - first) // 2)
        gc.collect()
        current2, peak = tracemalloc.get_traced_memory()
        snap2 = tracemalloc.take_snapshot().filter_traces(ignore)
    finally:
        tracemalloc.stop()
    diff = snap2.compare_to(snap1, "lineno")
    growth = sum(s.size_diff for s in diff)
    top = [s for s in sorted(diff, key=lambda s: s.size_diff, reverse=True) if s.size_diff > 0][:3]

    # one compiled machine per definition version, however many cases were fired
    for d in registry:
        engine.fire(
            CaseSnapshot(d.id, d.version, d.initial),
            "__bench_no_such_trigger__",
            Actor("bench", next(iter(d.roles))),
            None,
            NOW,
        )
    same = engine._machine(DEFINITION_ID, VERSION) is compiled_before
    return {
        "growth_kb": growth / 1024,
        "current_growth_kb": (current2 - current1) / 1024,
        "current_kb": current2 / 1024,
        "peak_kb": peak / 1024,
        "top": top,
        "compiled": len(engine._compiled),
        "versions": len(registry),
        "same_machine": same,
    }


# -- report ----------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer fires and repeats: a smoke run of about 2 s")
    args = p.parse_args(argv)
    if args.quick:
        n, repeats, load_repeats, mem_first, mem_total = 1_000, 3, 3, 1_000, 10_000
    else:
        n, repeats, load_repeats, mem_first, mem_total = 20_000, 7, 7, 10_000, 100_000

    t_start = time.perf_counter()
    load_ms, registry, problems = bench_load(load_repeats)
    calendar = WorkCalendar.from_file(CALENDAR)
    engine = Engine(registry, calendar)
    definition = registry.get(DEFINITION_ID, VERSION)
    machine = bare_machine(definition)
    check_scenarios(engine, machine)

    fires = bench_fire(engine, machine, n, repeats)
    parts = bench_breakdown(engine, n, repeats)
    compile_rows = bench_compile(registry, calendar, load_repeats)
    mem = bench_memory(engine, registry, mem_first, mem_total)
    elapsed = time.perf_counter() - t_start

    import transitions

    print(
        f"fundflow engine benchmark{' (--quick)' if args.quick else ''}: Python {platform.python_version()} "
        f"({platform.python_implementation()}), transitions {transitions.__version__}, "
        f"{platform.system()} {platform.machine()}, {_cpus()} CPU"
    )
    print(
        f"median of {repeats} repeats of {n:,} calls, after a warm-up of {n:,}; now = {NOW.isoformat()}; "
        f"load average {_load()}"
    )
    print()
    w = 58
    print("1. fire() vs a bare transitions trigger".ljust(w) + "   fire µs   bare µs   ratio")
    for s, k in ((GUARDED, "g"), (UNGUARDED, "u")):
        f, b = fires[f"fire_{k}"], fires[f"bare_{k}"]
        fm, bm = fires[f"fire_{k}_min"], fires[f"bare_{k}_min"]
        ratio = f / b
        verdict = "ok" if ratio <= RATIO_GOAL else "above goal"
        print(
            f"   {s.name}".ljust(w) + f"  {f:8.2f}  {b:8.2f}  {ratio:5.2f}x  goal <= {RATIO_GOAL:g}x: {verdict}"
            f"  (fastest repeats: {fm:.2f} / {bm:.2f} = {fm / bm:.2f}x)"
        )
    if parts is not None:
        f = fires["fire_g"]
        rest = f - parts["parse"] - parts["machine"] - parts["deadlines"]
        print("   the guarded fire, part by part (each timed alone)".ljust(w) + "        µs   share")
        for label, us in (
            ("_Adapter + trigger + amount_within_balance guard", parts["machine"]),
            ("compute_deadlines (2 working days + warning + 2 steps)", parts["deadlines"]),
            ("field parsing (amount + text)", parts["parse"]),
            ("rest: checks, data copy, GuardContext, Event, Outcome", rest),
        ):
            print(f"     {label}".ljust(w) + f"  {us:8.2f}  {us / f:5.0%}")
    print()
    print("2. definitions".ljust(w) + "   median ms")
    warnings = sum(1 for pr in problems if pr.severity.name == "WARNING")
    print(
        f"   load_directory(fundflow/definitions/): {len(registry)} file(s), {warnings} warning(s)".ljust(w)
        + f"  {load_ms:8.2f}"
    )
    for key, first_ms, again_ms in compile_rows:
        print(
            f"   first fire, fresh engine: {key}".ljust(w) + f"  {first_ms:8.2f}"
            f"   (compiles the machine; a 2nd call takes {again_ms * 1e3:.0f} µs)"
        )
    print()
    print(f"3. memory, tracemalloc, {mem_total:,} fires (guarded and unguarded alternating, outcomes dropped)")
    flat = "flat" if abs(mem["growth_kb"]) < 64 else "GROWING"
    per_fire = mem["growth_kb"] * 1024 / (mem_total - mem_first)
    print(
        f"   growth from fire {mem_first:,} to fire {mem_total:,}: {mem['growth_kb']:+.1f} KB = {per_fire:+.2f} B/fire "
        f"({flat}; get_traced_memory says {mem['current_growth_kb']:+.1f} KB)"
    )
    print(
        f"   traced at fire {mem_total:,}: {mem['current_kb']:.0f} KB; peak {mem['peak_kb']:.0f} KB "
        f"(both counted from fire 0, when tracing began)"
    )
    for s in mem["top"] if flat != "flat" else ():
        frame = s.traceback[0]
        print(f"     +{s.size_diff / 1024:.1f} KB  {frame.filename}:{frame.lineno}")
    ok = "ok" if mem["compiled"] == mem["versions"] and mem["same_machine"] else "UNEXPECTED"
    print(
        f"   engine._compiled: {mem['compiled']} machine(s) for {mem['versions']} definition version(s), "
        f"reused across all fires: {mem['same_machine']} ({ok})"
    )
    print()
    print(f"total {elapsed:.1f} s")
    return 0


def _load() -> str:
    try:
        import os

        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def _cpus() -> int:
    try:
        import os

        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        import os

        return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
