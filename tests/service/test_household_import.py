"""Household list import: CSV (UTF-8 BOM, GBK), XLSX, JSON; every problem with its row; never half."""

from __future__ import annotations

import io
import random
from decimal import Decimal as D

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundflow.service.household_import import (
    HouseholdRow,
    ImportRejected,
    RowProblem,
    parse_household_json,
    parse_households,
)

HEADER = "楼栋,单元,房号,楼层,建筑面积,业主,分户账余额,首次交存额"
GOOD = [
    HouseholdRow("1", "1", "101", 1, D("89.5"), "张三", D("12345.60"), D("3000.00")),
    HouseholdRow("1", "1", "102", 1, D("120.25"), None, D("0.00"), D("4000.00")),
    HouseholdRow("1", "2", "101", None, D("65"), "李四", D("800.00"), D("2000.00")),
]


def rejected(content, **kw) -> list[RowProblem]:
    with pytest.raises(ImportRejected) as info:
        parse_households(content, **kw)
    assert isinstance(info.value, ValueError) and "住户清单未导入" in str(info.value)
    return info.value.problems


def where(problems):
    return [(p.row, p.column) for p in problems]


def xlsx(rows) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- good files -------------------------------------------------------------------------------


def test_utf8_bom_csv_with_thousands_separators_and_blank_lines():
    text = (
        f"{HEADER}\r\n"
        ' 1 ,1,101,1,89.5, 张三 ,"12,345.60","3,000"\r\n'
        "\r\n"  # blank line: skipped silently
        "1,1,102,1,120.25,,0,¥4000.00\r\n"
        ",,,,,,,\r\n"  # a line of empty cells: skipped too
        "１,2,101,,65.0000,李四,800元,2000\r\n"
    )  # full-width digit folded
    assert parse_households(text.encode("utf-8-sig"), "住户.csv", "text/csv") == GOOD


def test_gbk_csv_as_chinese_excel_writes_it():
    text = f"{HEADER}\r\n1,1,101,1,89.5,张三,12345.6,3000\r\n1,1,102,1,120.25,,0,4000\r\n1,2,101,,65,李四,800,2000\r\n"
    content = text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    assert parse_households(content, "住户.csv") == GOOD


def test_english_headers_any_order_unknown_columns_ignored_tab_separated():
    text = "Room\tUnit\tBuilding\tArea (m²)\tBalance\tFirst Deposit\tremark\n101\t1\t1\t89.5\t12345.6\t3000\tx\n"
    assert parse_households(text.encode()) == [
        HouseholdRow("1", "1", "101", None, D("89.5"), None, D("12345.60"), D("3000.00"))
    ]


def test_xlsx_built_with_openpyxl():
    content = xlsx(
        [
            ["*楼栋", "单元", "房号", "楼层", "建筑面积（㎡）", "业主", "分户账余额（元）", "首次交存额"],
            [1, 1, 101, 1, 89.5, "张三", 12345.6, 3000],
            [1, 1, "102", 1.0, 120.25, None, 0, "4,000.00"],
            [],  # empty row: skipped, but still counts
            [1, 2, 101, None, 65, "李四", 0.1 * 8000, 2000],  # 800.0000000000001 read as Excel shows it
        ]
    )
    assert content.startswith(b"PK\x03\x04")
    assert parse_households(content, "whatever.csv", "text/csv") == GOOD  # the magic decides


def test_json_list_same_checks():
    items = [
        {
            "building": "1",
            "unit": "1",
            "room": "101",
            "floor": 1,
            "area": 89.5,
            "owner": "张三",
            "balance": "12,345.60",
            "first_deposit": 3000,
        },
        {"楼栋": 1, "单元": 1, "房号": 102, "楼层": "1", "建筑面积": "120.25", "分户账余额": 0, "首次交存额": "4000"},
        {
            "building": "1",
            "unit": "2",
            "room": "101",
            "area": D("65"),
            "owner": "李四",
            "balance": 800,
            "first_deposit": 2000,
            "extra": [1],
        },
    ]
    assert parse_household_json(items) == GOOD


# --- bad files --------------------------------------------------------------------------------


def test_malformed_csv_reports_every_problem_with_its_row():
    text = (
        "\n".join(
            [
                HEADER,  # row 1
                "1,1,101,1,89.5,张三,100,100",  # row 2: fine
                "1,1,102,2.5,abc,,-5,100.001",  # row 3: floor, area, balance, deposit
                "",  # row 4: blank
                ",1,103,2,0,,1,1",  # row 5: building empty, area 0
                "1,1,101,1,50,,1,1",  # row 6: duplicate of row 2
                '1,1,104,3,10000,,"1,23,4",',  # row 7: area too big, bad separators, empty
                "1,1,105,3,1.23456,,1,1",  # row 8: five decimals
                "1,1,106",  # row 9: short line
            ]
        )
        + "\n"
    )
    problems = rejected(text.encode())
    assert where(problems) == [
        (3, "楼层"),
        (3, "建筑面积"),
        (3, "分户账余额"),
        (3, "首次交存额"),
        (5, "楼栋"),
        (5, "建筑面积"),
        (6, None),
        (7, "建筑面积"),
        (7, "分户账余额"),
        (7, "首次交存额"),
        (8, "建筑面积"),
        (9, "建筑面积"),
        (9, "分户账余额"),
        (9, "首次交存额"),
    ]
    messages = [p.message for p in problems]
    assert messages[0] == "必须是整数，地下层用负数（值为“2.5”）"
    assert messages[1] == "不是数字（值为“abc”）"
    assert "负数" in messages[2] and "“-5”" in messages[2]
    assert "精确到分" in messages[3] and "“100.001”" in messages[3]
    assert messages[4] == "不能为空"
    assert "大于 0" in messages[5]
    assert messages[6] == "与第2行重复（楼栋 1、单元 1、房号 101）"
    assert "10000" in messages[7] and "千分位" in messages[8] and messages[9] == "不能为空"
    assert "四位小数" in messages[10]
    assert str(problems[0]) == "第3行［楼层］：必须是整数，地下层用负数（值为“2.5”）"


def test_missing_and_duplicate_columns_are_reported_on_the_header_row():
    problems = rejected("\n\n房号,面积,建筑面积,分户账余额\n101,1,1,1\n".encode())
    assert where(problems) == [(3, "建筑面积"), (3, "楼栋"), (3, "单元"), (3, "首次交存额")]
    assert "重复" in problems[0].message
    assert problems[1].message.startswith("缺少必需列“楼栋”") and "building" in problems[1].message


def test_duplicates_ignore_case_and_width():
    text = f"{HEADER}\n A ,1,101,,50,,1,1\na,1,１０１,,50,,1,1\n"
    assert rejected(text.encode()) == [RowProblem(3, None, "与第2行重复（楼栋 a、单元 1、房号 101）")]


@pytest.mark.parametrize(
    ("content", "kw", "words"),
    [
        (b"", {}, "文件为空"),
        (b"\xef\xbb\xbf \r\n", {}, "文件为空"),
        (b",,,\n,,\n", {}, "文件为空"),
        (f"{HEADER}\n\n".encode(), {}, "没有住户数据"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), {"filename": "a.xls"}, ".xls"),
        (HEADER.encode(), {"filename": "住户.xlsx"}, "不是有效的工作簿"),
        (b"\x80\xff\xfe\x00abc", {}, "编码"),
        (b"name\x00,\x01\n", {}, "控制字符"),
    ],
)
def test_unusable_files(content, kw, words):
    problems = rejected(content, **kw)
    assert len(problems) == 1 and problems[0].row == 0 and words in problems[0].message


def test_random_bytes_blob():
    blob = random.Random(20240601).randbytes(4096)
    problems = rejected(blob, filename="upload.bin")
    assert problems and problems[0].row == 0


@settings(max_examples=200, database=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_rows_or_a_rejection_never_a_crash(blob):
    try:
        rows = parse_households(blob)
    except ImportRejected as e:
        assert e.problems and all(isinstance(p, RowProblem) for p in e.problems)
    else:
        assert rows and all(isinstance(r, HouseholdRow) for r in rows)


SMALL_XLSX = xlsx([HEADER.split(","), [1, 1, 101, 1, 89.5, "张三", 100, 100]])  # once: it embeds the time


@settings(max_examples=30, database=None)
@given(st.integers(4, len(SMALL_XLSX) - 1))
def test_truncated_xlsx_is_rejected_clearly(cut):
    assert len(parse_households(SMALL_XLSX)) == 1
    problems = rejected(SMALL_XLSX[:cut])
    assert [(p.row, p.column) for p in problems] == [(0, None)]
    assert "不是有效的 Excel 工作簿" in problems[0].message


def test_a_zip_that_is_not_a_workbook():
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", "<w/>")
    assert "不是有效的 Excel 工作簿" in rejected(out.getvalue(), filename="a.xlsx")[0].message


def test_xlsx_formula_without_cached_value_and_bad_cells():
    content = xlsx(
        [
            HEADER.split(","),
            [1, 1, 101, 1, "=2*50", "张三", 100, 100],  # row 2: formula, never calculated
            [1, 1, 102, 1, 50, None, "十元", 100],  # row 3: text amount
            [None] * 8,  # row 4: empty
            [1, 1, 103, 1, 50, True, 1, __import__("datetime").date(2024, 1, 1)],  # row 5: a date
        ]
    )
    problems = rejected(content)
    assert where(problems) == [(2, "建筑面积"), (3, "分户账余额"), (5, "首次交存额")]
    assert "公式" in problems[0].message and "保存" in problems[0].message
    assert "“十元”" in problems[1].message and "2024-01-01" in problems[2].message


def test_max_rows_counts_data_rows_not_blank_lines():
    lines = [HEADER] + [f"1,1,{100 + i},,50,,1,1" for i in range(5)]
    content = "\n\n".join(lines).encode()  # blank line between rows: rows 1,3,5...
    assert len(parse_households(content, max_rows=5)) == 5
    problems = rejected(content, max_rows=4)
    assert where(problems) == [(11, None)] and "上限 4 行" in problems[0].message
    big = xlsx([HEADER.split(",")] + [[1, 1, i, None, 50, None, 1, 1] for i in range(30)])
    assert where(rejected(big, max_rows=29)) == [(31, None)]
    assert len(parse_households(big, max_rows=30)) == 30


def test_json_problems_by_index():
    items = [
        {"building": "1", "unit": "1", "room": "101", "area": 50, "balance": 1, "first_deposit": 1},
        "not an object",
        {"building": "1", "room": "102", "area": True, "balance": 1.005, "first_deposit": {"x": 1}, "Building": "2"},
        {"building": "1", "unit": "1", "room": "101", "area": 50.0, "balance": 1, "first_deposit": 1},
    ]
    with pytest.raises(ImportRejected) as info:
        parse_household_json(items)
    assert where(info.value.problems) == [
        (2, None),
        (3, "Building"),
        (3, "单元"),
        (3, "area"),
        (3, "balance"),
        (3, "first_deposit"),
        (4, None),
    ]
    assert "重复" in info.value.problems[1].message
    assert info.value.problems[2].message == "缺少“单元”"
    assert "类型不正确" in info.value.problems[5].message
    with pytest.raises(ImportRejected, match="列表"):
        parse_household_json({"building": "1"})  # type: ignore[arg-type]
    with pytest.raises(ImportRejected, match="没有住户数据"):
        parse_household_json([])
    with pytest.raises(ImportRejected, match="上限 1 行"):
        parse_household_json(items[:2], max_rows=1)


def test_summary_message_is_chinese_and_short():
    text = HEADER + "\n" + "\n".join(f"1,1,{i},,x,,1,1" for i in range(10))
    with pytest.raises(ImportRejected) as info:
        parse_households(text.encode())
    assert len(info.value.problems) == 10
    assert str(info.value).startswith("住户清单未导入（共 10 处问题，涉及 10 行）：第2行［建筑面积］")
    assert str(info.value).endswith("……")


def test_huge_and_odd_numbers_are_problems_not_crashes():
    items = [
        {
            "building": "1",
            "unit": "",
            "room": "1",
            "area": "1e-5",
            "balance": 1e26,
            "first_deposit": "NaN",
            "floor": "1e100",
        }
    ]
    with pytest.raises(ImportRejected) as info:
        parse_household_json(items)
    assert [(p.column, p.message) for p in info.value.problems] == [
        ("floor", "必须是整数，地下层用负数（值为“1e100”）"),
        ("area", "最多四位小数（值为“1e-5”）"),
        ("balance", "金额过大（值为“1e+26”）"),
        ("first_deposit", "不是有限数字（值为“NaN”）"),
    ]
