"""Hostile workbooks against the household import: time and memory until each is refused.

    .venv/bin/python benchmarks/xlsx_bombs.py            # the full set (300 MB cell, 1,000,000 rows)
    .venv/bin/python benchmarks/xlsx_bombs.py --quick    # smaller files, same code paths

Each file is parsed in a fresh process (``parse_households``, what the API runs in its thread
pool) so the peak RSS is that file's own: wall time, the answer (413/422), the peak of Python
allocations (``tracemalloc``) and the growth of the process's peak RSS (``ru_maxrss``) over the
baseline after imports. The builders are also used by tests/service/test_hostile_input.py.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["楼栋", "单元", "房号", "建筑面积", "业主", "分户账余额", "首次交存额"]
PLACEHOLDER = "PLACEHOLDER-CELL"


def _base() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["1栋", "1单元", "101", 89.5, PLACEHOLDER, 100, 100])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rewrite(replace: dict[str, callable]) -> bytes:
    """The base workbook with some members rewritten by ``replace[name](text, stream)``."""
    src = zipfile.ZipFile(io.BytesIO(_base()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            text = src.read(info.filename).decode("utf-8")
            if info.filename in replace:
                with dst.open(info.filename, "w", force_zip64=True) as stream:
                    replace[info.filename](text, stream)
            else:
                dst.writestr(info.filename, text)
    return out.getvalue()


def cell_bomb(megabytes: int) -> bytes:
    """One cell of ``megabytes`` MB ("A" repeated): a ~300 KB file for 300 MB."""

    def write(text: str, stream) -> None:
        head, tail = text.split(PLACEHOLDER)
        stream.write(head.encode())
        chunk = b"A" * 2**20
        for _ in range(megabytes):
            stream.write(chunk)
        stream.write(tail.encode())

    return _rewrite({"xl/worksheets/sheet1.xml": write})


def blank_rows(rows: int, *, dimension: bool, styled: bool = False) -> bytes:
    """The header and one household, then ``rows`` blank rows: ``<row r="n"/>`` elements (or,
    ``styled``, rows of a formatted empty cell, as Excel writes a sheet formatted to the bottom).
    ``dimension`` False drops the ``<dimension>`` element, so only reading the rows can tell."""

    def write(text: str, stream) -> None:
        last = rows + 2
        if dimension:
            text = text.replace('<dimension ref="A1:G2" />', f'<dimension ref="A1:G{last}"/>')
        else:
            text = text.replace('<dimension ref="A1:G2" />', "")
        head, tail = text.split("</sheetData>")
        stream.write(head.encode())
        batch = []
        for r in range(3, last + 1):
            batch.append(f'<row r="{r}"><c r="A{r}" s="0"/></row>' if styled else f'<row r="{r}"/>')
            if len(batch) == 10000:
                stream.write("".join(batch).encode())
                batch = []
        stream.write("".join(batch).encode())
        stream.write(("</sheetData>" + tail).encode())

    return _rewrite({"xl/worksheets/sheet1.xml": write})


def households(rows: int) -> bytes:
    """A good list of ``rows`` households, as openpyxl writes it: the baseline."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    for i in range(rows):
        ws.append([f"{i // 400 + 5}栋", f"{i % 4 + 1}单元", f"{i % 400 + 101}", 89.5, "张三", 30000, 30000])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


CSV_HEAD = "楼栋,单元,房号,建筑面积,分户账余额,首次交存额".encode()


def _measure(path: str) -> dict:
    """In this (fresh) process: parse the file, say how it ended and what it cost."""
    sys.path.insert(0, str(ROOT))
    import openpyxl  # noqa: F401 - loaded once by a serving process: not part of the figure

    from fundflow.service.household_import import ImportRejected, ImportTooLarge, parse_households

    content = Path(path).read_bytes()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    try:
        parse_households(content, Path(path).name)
        outcome = "accepted (imported)"
    except ImportTooLarge as exc:
        outcome = f"413 {exc.problems[0].message}"
    except ImportRejected as exc:
        outcome = f"422 {exc.problems[0].message}"
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss
    return {
        "seconds": round(elapsed, 3),
        "tracemalloc_peak_mb": round(peak / 2**20, 1),
        "rss_growth_mb": round(rss / 1024, 1),
        "outcome": outcome,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure), ensure_ascii=False))
        return 0
    scale = 10 if args.quick else 1
    files = {
        f"{20_000 // scale:,} households (the limit is 20,000)": lambda: households(20_000 // scale),
        f"one {300 // scale} MB cell": lambda: cell_bomb(300 // scale),
        f"{1_000_000 // scale:,} blank rows, dimension recorded": lambda: blank_rows(
            1_000_000 // scale, dimension=True
        ),
        f"{1_000_000 // scale:,} blank rows, no dimension": lambda: blank_rows(1_000_000 // scale, dimension=False),
        f"{1_000_000 // scale:,} formatted empty rows, no dimension": lambda: blank_rows(
            1_000_000 // scale, dimension=False, styled=True
        ),
        # CSV uploads (the file name ends in .csv): blank lines are counted, not skipped one by one
        f"csv: {5_000_000 // scale:,} newlines, then the header": lambda: b"\n" * (5_000_000 // scale) + CSV_HEAD,
        f"csv: header, then {1_000_000 // scale:,} blank CRLF lines": lambda: (
            CSV_HEAD + b"\n" + b"\r\n" * (1_000_000 // scale)
        ),
    }
    tmp = ROOT / "data" / "bench-xlsx"
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"{'file':<44} {'size':>9} {'time s':>7} {'tracemalloc MB':>15} {'RSS growth MB':>14}  answer")
    for name, build in files.items():
        path = tmp / ("bomb.csv" if name.startswith("csv:") else "bomb.xlsx")
        path.write_bytes(build())
        size = path.stat().st_size
        out = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=True
        )
        m = json.loads(out.stdout)
        print(
            f"{name:<44} {size / 1024:>7.0f}KB {m['seconds']:>7.3f} {m['tracemalloc_peak_mb']:>15.1f} "
            f"{m['rss_growth_mb']:>14.1f}  {m['outcome'][:70]}"
        )
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
