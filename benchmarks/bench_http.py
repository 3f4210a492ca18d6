"""HTTP throughput and latency of POST /api/v1/cases/{id}/transitions under uvicorn.

    .venv/bin/python benchmarks/bench_http.py           # full run (about 2 min)
    .venv/bin/python benchmarks/bench_http.py --quick   # smoke run (about 30 s)
    .venv/bin/python benchmarks/bench_http.py --backends sqlite --pg-url postgresql://...
    .venv/bin/python benchmarks/bench_http.py --compare [--rounds 3 --requests 400]   # vs bare_app.py

For each server (SQLite with 1 process; PostgreSQL with 1 and with 2 uvicorn workers):

1. prepare a fresh database (migrate, the tests' small city, cases in ``site_survey`` with
   their documents, as ``bench_service.py`` does) and keep the street office's API token;
2. start ``python -m uvicorn fundflow.http.asgi:app --host 127.0.0.1 --port <free> [--workers
   2]`` with ``FUNDFLOW_DATABASE_URL`` and ``FUNDFLOW_DATA_DIR`` pointing at it;
3. drive ``POST /api/v1/cases/{id}/transitions`` (``complete_survey``) with 1, 4 and 16
   concurrent clients (asyncio + httpx, one keep-alive connection each), every request on
   a different case; then 16 clients in 8 pairs, both clients of a pair firing the same case
   at once: exactly one of them must win, the other gets a 409;
4. stop the server (SIGTERM to the process group it was started in, SIGKILL after 15 s).

Requests go to 127.0.0.1 only; every run is bounded in count and time. The PostgreSQL
half runs in a schema of its own, dropped at the end. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for p in (ROOT, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

try:
    import bench_service as bs
    import httpx
except Exception as exc:
    print(f"bench_http: cannot import httpx or bench_service: {type(exc).__name__}: {exc}")
    sys.exit(2)

LEVELS = (1, 4, 16)
RACE_PAIRS_AT_ONCE = 8  # 16 clients
READY_TIMEOUT_S = 60
RUN_TIMEOUT_S = 300  # per measured run; the run is abandoned (and reported) beyond it
REQUEST_TIMEOUT_S = 30
BODY = {"trigger": bs.TRIGGER, "data": bs.FIRE_DATA}


# -- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn in a process group of its own; ``stop`` ends exactly that group."""

    def __init__(self, url: str, data_dir: Path, workers: int, log_path: Path, app: str | None = None):
        self.port = free_port()
        self.workers = workers
        self.log_path = log_path
        env = dict(os.environ, FUNDFLOW_DATABASE_URL=url, FUNDFLOW_DATA_DIR=str(data_dir), BARE_DATABASE_URL=url)
        # ``app``: started through serve_app.py (the --compare runs: both contenders alike)
        launcher = [sys.executable, str(HERE / "serve_app.py"), app, str(self.port), str(workers)] if app else None
        if app:  # no embedded alert scheduler ticking in the measured server (a process of its own in production)
            env["FUNDFLOW_SCHEDULER"] = "off"
        cmd = launcher or [
            sys.executable,
            "-m",
            "uvicorn",
            "fundflow.http.asgi:app",
            "--app-dir",
            str(ROOT),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.base, timeout=2.0, trust_env=False) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"bench_http: the server exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    if c.get("/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise SystemExit(f"bench_http: the server did not answer /healthz within {READY_TIMEOUT_S} s:\n{self.tail()}")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the server process and its children (the workers)."""
        return sum(_cpu_of(pid) for pid in _tree(self.proc.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self.log.close()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# -- the clients ------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    clients: int
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: dict[str, int] = field(default_factory=dict)  # "200" / "409 concurrent_update" -> count
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    timed_out: bool = False
    won: list[int] = field(default_factory=list)  # cases a 200 moved
    race_problems: int = 0  # race cases without exactly one 200 and one 409

    @property
    def n(self) -> int:
        return len(self.latencies)

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[max(0, math.ceil(q * len(xs)) - 1)] * 1e3 if xs else float("nan")

    def non_2xx(self) -> dict[str, int]:
        return {k: v for k, v in self.statuses.items() if not k.startswith("2")}


async def _post(client: httpx.AsyncClient, case_id: int, headers: dict, res: Result) -> int:
    t0 = time.perf_counter()
    try:
        r = await client.post(f"/api/v1/cases/{case_id}/transitions", json=BODY, headers=headers)
        status = r.status_code
        key = str(status) if status < 300 else f"{status} {_code(r)}"
    except httpx.HTTPError as exc:
        status, key = 0, f"error {type(exc).__name__}"
    res.latencies.append(time.perf_counter() - t0)
    res.statuses[key] = res.statuses.get(key, 0) + 1
    if status == 200:
        res.won.append(case_id)
    return status


def _code(r: httpx.Response) -> str:
    try:
        return str(r.json().get("code"))
    except ValueError:
        return "?"


async def drive(server: Server, token: str, ids: list[int], clients: int, label: str, race: bool = False) -> Result:
    """``clients`` concurrent clients; each takes the next case. In a race, clients go in
    pairs and both clients of a pair fire the same case at the same moment."""
    res = Result(label, clients)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    queue = list(reversed(ids))
    async with httpx.AsyncClient(
        base_url=server.base, timeout=REQUEST_TIMEOUT_S, limits=limits, trust_env=False
    ) as client:

        async def one_client():
            while queue:
                await _post(client, queue.pop(), headers, res)

        async def one_pair():
            while queue:
                cid = queue.pop()
                got = await asyncio.gather(_post(client, cid, headers, res), _post(client, cid, headers, res))
                if sorted(got) != [200, 409]:
                    res.race_problems += 1

        tasks = [one_pair() for _ in range(clients // 2)] if race else [one_client() for _ in range(clients)]
        cpu0, ccpu0, t0 = server.cpu_s(), time.process_time(), time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), RUN_TIMEOUT_S)
        except TimeoutError:
            res.timed_out = True
        res.wall = time.perf_counter() - t0
        res.server_cpu, res.client_cpu = server.cpu_s() - cpu0, time.process_time() - ccpu0
    return res


# -- one server -------------------------------------------------------------------------------


def bench_server(
    url: str, data_dir: Path, token: str, workers: int, ids: dict[str, list[int]], log_path: Path
) -> tuple[list[Result], str]:
    server = Server(url, data_dir, workers, log_path)
    try:
        server.wait_ready()
        asyncio.run(drive(server, token, ids["warmup"], 4, "warm-up"))
        results = [
            asyncio.run(drive(server, token, ids[f"c{c}"], c, f"{c} client{'s' if c > 1 else ''}")) for c in LEVELS
        ]
        results.append(
            asyncio.run(
                drive(
                    server,
                    token,
                    ids["race"],
                    2 * RACE_PAIRS_AT_ONCE,
                    f"16 clients in {RACE_PAIRS_AT_ONCE} racing pairs",
                    race=True,
                )
            )
        )
        return results, server.tail(3)
    finally:
        server.stop()


def case_sets(p: bs.Prepared, n: int, warmup: int, pairs: int, now: datetime) -> dict[str, list[int]]:
    sizes = {"warmup": warmup, **{f"c{c}": n for c in LEVELS}, "race": pairs}
    ids = bs.open_cases(p, sum(sizes.values()), now=now, label="HTTP压测")
    out, pos = {}, 0
    for k, size in sizes.items():
        out[k] = ids[pos : pos + size]
        pos += size
    return out


def verify(p: bs.Prepared, ids: dict[str, list[int]], results: list[Result], label: str) -> list[str]:
    """Every case a 200 answered has moved exactly once; no race case moved twice."""
    problems = []
    won = [cid for r in results for cid in r.won]
    if len(won) != len(set(won)):
        problems.append(f"{label}: {len(won) - len(set(won))} case(s) were won twice")
    try:
        bs.check_moved(p.svc, sorted(set(won)), label)
    except SystemExit as exc:
        problems.append(str(exc))
    return problems


# -- report -----------------------------------------------------------------------------------


def print_results(title: str, results: list[Result]) -> list[str]:
    problems = []
    w = 33
    print(title)
    print("   ".ljust(w) + "requests   req/s   p50 ms   p99 ms   server CPU ms/req  client CPU ms/req  non-2xx")
    for r in results:
        non = r.non_2xx()
        race = "racing" in r.label
        bad = {k: v for k, v in non.items() if not (race and k.startswith("409"))}
        if race and sum(v for k, v in non.items() if k.startswith("409")) != r.n // 2:
            bad = {**bad, "409s != pairs": 1}
        if r.race_problems:
            bad["pairs without one 200 and one 409"] = r.race_problems
        non_s = ", ".join(f"{v} x {k}" for k, v in sorted(non.items())) or "0"
        if r.timed_out:
            non_s += f" (TIMED OUT after {RUN_TIMEOUT_S} s)"
            bad["timeout"] = 1
        print(
            f"   {r.label}".ljust(w) + f"{r.n:8d} {r.n / r.wall:7.0f} {r.pct(0.50):8.1f} {r.pct(0.99):8.1f}"
            f"   {r.server_cpu / r.n * 1e3:17.2f}  {r.client_cpu / r.n * 1e3:17.2f}  {non_s}"
        )
        if bad:
            problems.append(f"{title.strip()} / {r.label}: unexpected {bad}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 requests per level and 16 racing pairs")
    ap.add_argument(
        "--compare",
        action="store_true",
        help="fundflow against the bare endpoint (bare_app.py), 32 clients, interleaved rounds",
    )
    ap.add_argument("--rounds", type=int, default=3, help="--compare: rounds per contender")
    ap.add_argument("--requests", type=int, default=400, help="--compare: requests per round")
    ap.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("FUNDFLOW_BENCH_PG_URL", bs.DEFAULT_PG),
        help=f"PostgreSQL server and database (default {bs.DEFAULT_PG}; env FUNDFLOW_BENCH_PG_URL)",
    )
    args = ap.parse_args(argv)
    n, warmup, pairs = (40, 16, 16) if args.quick else (400, 40, 100)
    t_start = time.perf_counter()
    if args.compare:
        print(
            f"fundflow vs a bare FastAPI endpoint (UPDATE + INSERT): Python {platform.python_version()}, "
            f"uvicorn {_version('uvicorn')}, FastAPI {_version('fastapi')}, httpx {httpx.__version__}, "
            f"{bs._cpus()} CPU; load average {bs._load()}\n"
        )
        problems = []
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            problems += compare_backend(name, args.pg_url, args.requests, args.rounds, datetime.now(UTC))
        for pr in problems:
            print(f"PROBLEM: {pr}")
        print(f"total {time.perf_counter() - t_start:.1f} s; load average {bs._load()}")
        return 1 if problems else 0
    print(
        f"fundflow HTTP benchmark{' (--quick)' if args.quick else ''}: Python {platform.python_version()}, "
        f"uvicorn {_version('uvicorn')} (h11, asyncio), FastAPI {_version('fastapi')}, httpx {httpx.__version__}, "
        f"{platform.system()} {platform.machine()}, {bs._cpus()} CPU; load average {bs._load()}"
    )
    print(
        f"POST /api/v1/cases/{{id}}/transitions {BODY['trigger']} ({bs.SOURCE} -> {bs.DEST}) as the street office; "
        f"{n} requests per level after {warmup} warm-up requests, {pairs} racing cases; the clients (one "
        f"asyncio process) share the {bs._cpus()} CPUs with the server"
    )
    print()
    problems: list[str] = []
    now = datetime.now(UTC)
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name not in ("sqlite", "postgresql"):
            print(f"bench_http: unknown backend {name!r}")
            return 2
        if name == "postgresql":
            why = bs.pg_reachable(args.pg_url)
            if why:
                print(f"postgresql: skipped, not reachable at {args.pg_url}: {why}\n")
                continue
        worker_counts = (1,) if name == "sqlite" else (1, 2)
        t0 = time.perf_counter()
        with bs.database(name, args.pg_url, prefix="bench_http") as (url, data_dir, where):
            p = bs.prepare(url, data_dir, now)
            try:
                sets = {w: case_sets(p, n, warmup, pairs, now) for w in worker_counts}
                p.svc.db.dispose()  # the server owns the database now
                setup = time.perf_counter() - t0
                for w in worker_counts:
                    log_path = data_dir.parent / f"uvicorn_{w}.log"
                    results, _ = bench_server(url, data_dir, p.tokens["so"], w, sets[w], log_path)
                    title = f"{name}, {where}, uvicorn --workers {w} (setup {setup:.0f} s; load average {bs._load()})"
                    problems += print_results(title, results)
                    problems += verify(p, sets[w], results, f"{name} workers={w}")
                    print()
            finally:
                p.svc.close()
    for pr in problems:
        print(f"PROBLEM: {pr}")
    print(f"total {time.perf_counter() - t_start:.1f} s; load average {bs._load()}")
    return 1 if problems else 0


# -- fundflow against the bare endpoint (--compare) -----------------------------------------


COMPARE_CLIENTS = 32


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def compare_backend(name: str, pg_url: str, n: int, rounds: int, now: datetime) -> list[str]:
    """fundflow's transition endpoint and the bare one (bare_app.py), both served by
    serve_app.py on the same database, driven by the same client at 32 clients, in
    interleaved rounds (the order alternates); ratios inside each round, then their median."""
    import bare_app

    from fundflow.service.db import make_engine

    workers = 1 if name == "sqlite" else 2
    problems: list[str] = []
    with bs.database(name, pg_url, prefix="bench_http_cmp") as (url, data_dir, where):
        p = bs.prepare(url, data_dir, now)
        try:
            t0 = time.perf_counter()
            warm = n // 4
            ff_ids = bs.open_cases(p, warm + rounds * n, now=now, label="HTTP对比")
            engine = make_engine(url)
            bare_app.create_tables(engine)
            bare_ids = bare_app.seed(engine, warm + rounds * n)
            engine.dispose()
            p.svc.db.dispose()
            setup = time.perf_counter() - t0
            servers = {
                "fundflow": Server(url, data_dir, workers, data_dir.parent / "ff.log", app="fundflow.http.asgi:app"),
                "bare": Server(url, data_dir, workers, data_dir.parent / "bare.log", app="benchmarks.bare_app:app"),
            }
            ids = {"fundflow": ff_ids, "bare": bare_ids}
            try:
                for srv in servers.values():
                    srv.wait_ready()
                for key, srv in servers.items():  # warm-up, untimed
                    asyncio.run(drive(srv, p.tokens["so"], ids[key][:warm], COMPARE_CLIENTS, "warm-up"))
                got: dict[str, list[Result]] = {"fundflow": [], "bare": []}
                for r in range(rounds):
                    order = ["fundflow", "bare"] if r % 2 == 0 else ["bare", "fundflow"]
                    for key in order:
                        chunk = ids[key][warm + r * n : warm + (r + 1) * n]
                        res = asyncio.run(drive(servers[key], p.tokens["so"], chunk, COMPARE_CLIENTS, key))
                        got[key].append(res)
                        if res.non_2xx() or res.timed_out:
                            problems.append(f"{name} {key} round {r + 1}: {res.non_2xx()} timed out {res.timed_out}")
            finally:
                for srv in servers.values():
                    srv.stop()
            print(
                f"{name}, {where}, {workers} worker(s), {COMPARE_CLIENTS} clients, {n} requests per round, "
                f"{rounds} interleaved rounds (setup {setup:.0f} s; load average {bs._load()})"
            )
            print("   round  contender   req/s   p50 ms   p99 ms   server CPU ms/req")
            for r in range(rounds):
                for key in ("fundflow", "bare"):
                    x = got[key][r]
                    print(
                        f"   {r + 1:5d}  {key:9s} {x.n / x.wall:7.0f} {x.pct(0.50):8.1f} {x.pct(0.99):8.1f}"
                        f"   {x.server_cpu / x.n * 1e3:17.2f}"
                    )
            ratio = [f.n / f.wall / (b.n / b.wall) for f, b in zip(got["fundflow"], got["bare"])]
            p99 = [f.pct(0.99) / b.pct(0.99) for f, b in zip(got["fundflow"], got["bare"])]
            p50 = [f.pct(0.50) / b.pct(0.50) for f, b in zip(got["fundflow"], got["bare"])]
            cpu = {k: _median([x.server_cpu / x.n * 1e3 for x in v]) for k, v in got.items()}
            print(
                f"   median of the rounds: throughput fundflow/bare x{_median(ratio):.2f} "
                f"({', '.join(f'{x:.2f}' for x in ratio)}); p50 x{_median(p50):.2f}; p99 x{_median(p99):.2f} "
                f"({', '.join(f'{x:.2f}' for x in p99)}); server CPU per request fundflow {cpu['fundflow']:.2f} ms, "
                f"bare {cpu['bare']:.2f} ms"
            )
            print()
            won = [cid for x in got["fundflow"] for cid in x.won]
            try:
                bs.check_moved(p.svc, sorted(set(won)), f"{name} compare")
            except SystemExit as exc:
                problems.append(str(exc))
        finally:
            p.svc.close()
    return problems


def _version(mod: str) -> str:
    try:
        return __import__(mod).__version__
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
