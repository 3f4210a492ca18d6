"""Reading a household list (住户清单) from CSV, XLSX or JSON into validated rows: all or nothing.

``parse_households`` takes the uploaded bytes: an XLSX workbook (recognised by the zip magic
``PK\\x03\\x04``, whatever the name; first worksheet) or CSV text (UTF-8 with or without BOM,
GB18030/GBK as Chinese Excel writes it, UTF-16 with BOM; comma, or tab/semicolon when the
header has no comma). ``parse_household_json`` checks a JSON list the same way. Either every
row is good and the full list comes back, or ``ImportRejected`` lists every problem found:
never half a list.

Row numbers are what a clerk sees in Excel: the header is row 1 (blank lines count, and are
skipped); row 0 means the file as a whole. The header is the first non-blank row; columns are
matched by Chinese or English name (case, spaces, ``_`` and notes in brackets such as
``建筑面积（㎡）`` ignored); unknown columns are ignored. Values are stripped; full-width digits
and punctuation are folded (NFKC); amounts may carry thousands separators (``12,345.60``), a
leading ``¥`` or a trailing ``元``. XLSX numbers are read to Excel's 15 significant digits. The
unit (单元) column is required but may be blank for buildings without units.

Workbooks are bounded before openpyxl parses anything: the archive's declared uncompressed size
(``zipfile`` never inflates a member past its declared size) and the row elements of every sheet
(counted while inflating, before openpyxl loads anything), then while reading the rows of the
first sheet (blank ones and the gaps between rows too), at most
``MAX_COLUMNS`` columns and ``MAX_CELL_CHARS`` characters a cell. Too big is
:class:`ImportTooLarge` (the API answers 413); a decompression bomb of one 300 MB cell or a
sheet of 1,000,000 blank rows is refused in well under a second (benchmarks/xlsx_bombs.py).
Identifiers (building, unit, room) are checked by ``fundflow.service.identifiers``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import zip_longest

from fundflow.domain.money import parse_amount
from fundflow.service.errors import ImportRejected, ImportTooLarge
from fundflow.service.identifiers import clean_identifier

__all__ = [
    "HouseholdRow",
    "RowProblem",
    "ImportRejected",
    "ImportTooLarge",
    "parse_households",
    "parse_household_json",
    "MAX_ROWS",
    "MAX_XLSX_UNCOMPRESSED",
    "MAX_COLUMNS",
    "MAX_CELL_CHARS",
]

MAX_ROWS = 20000
MAX_XLSX_UNCOMPRESSED = 32 * 1024 * 1024  # all members of the archive, as declared in it
MAX_BLANK_ROWS = 1000  # rows a sheet may hold beyond the household limit (header, blank lines)
MAX_COLUMNS = 64  # columns read; further columns are ignored
MAX_CELL_CHARS = 1000
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls / .et
_XLSX_TYPES = ("spreadsheetml", "ms-excel")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FIRST_LINE = re.compile(r"[^\r\n]*\S[^\r\n]*")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


@dataclass(frozen=True, slots=True)
class HouseholdRow:
    building: str
    unit: str  # "" for a building without units
    room: str
    floor: int | None
    area: Decimal
    owner: str | None
    balance: Decimal
    first_deposit: Decimal


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int  # 1-based row as the clerk sees it, header = 1; 0 = the file as a whole
    column: str | None  # the column as named in the file (or its Chinese name when missing)
    message: str

    def __str__(self) -> str:
        where = f"第{self.row}行" if self.row else "文件"
        return where + (f"［{self.column}］" if self.column else "") + f"：{self.message}"


def _rejected(message: str, row: int = 0) -> ImportRejected:
    return ImportRejected([RowProblem(row, None, message)])


def _too_large(message: str, row: int = 0) -> ImportTooLarge:
    return ImportTooLarge([RowProblem(row, None, message)])


class _Unusable:
    """A cell that cannot be read at all (formula without a cached value, wrong JSON type)."""

    def __init__(self, reason: str):
        self.reason = reason


# --- values -----------------------------------------------------------------------------------


def _decimal(text: str, *units: str) -> Decimal:
    s = unicodedata.normalize("NFKC", text).replace(" ", "").removeprefix("¥")
    for unit in units:
        s = s.removesuffix(unit)
    if "," in s:
        if not _THOUSANDS.fullmatch(s):
            raise ValueError("千分位格式不正确")
        s = s.replace(",", "")
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise ValueError("不是数字") from None
    if not value.is_finite():
        raise ValueError("不是有限数字")
    return value


def _area(text: str) -> Decimal:
    value = _decimal(text, "m2", "平方米")
    if value <= 0:
        raise ValueError("必须大于 0")
    if value >= 10000:
        raise ValueError("必须小于 10000 平方米")
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError("最多四位小数")
    return value


def _amount(text: str) -> Decimal:
    value = _decimal(text, "元")
    if value >= Decimal("1e13"):  # checked here: parse_amount's quantize overflows from 1e26 up
        raise ValueError("金额过大")
    return parse_amount(value, allow_zero=True)


def _floor(text: str) -> int:
    value = _decimal(text, "层")
    if abs(value) >= 1000 or value != value.to_integral_value():
        raise ValueError("必须是整数，地下层用负数")
    return int(value)


def _ident(text: str) -> str:
    value = clean_identifier(text)  # NFKC; no invisible, bidi or look-alike letters
    if len(value) > 32:  # the columns hold 32 (unit, room) and 64 (building) characters
        raise ValueError("过长（最多 32 个字符）")
    return value


def _owner(text: str) -> str:
    if len(text) > 100:
        raise ValueError("过长（最多 100 个字符）")
    return text


@dataclass(frozen=True)
class _Field:
    label: str
    required: bool  # column required, value required unless ``blank`` is given
    parse: Callable[[str], object]
    aliases: tuple[str, ...]
    blank: object = ...  # the value of a blank cell; ... = a blank cell is a problem


_FIELDS = {
    "building": _Field("楼栋", True, _ident, ("楼栋", "楼栋号", "楼号", "栋号", "幢号", "building")),
    "unit": _Field("单元", True, _ident, ("单元", "单元号", "unit"), ""),
    "room": _Field("房号", True, _ident, ("房号", "房间号", "室号", "户号", "room", "room_no")),
    "floor": _Field("楼层", False, _floor, ("楼层", "所在楼层", "floor"), None),
    "area": _Field("建筑面积", True, _area, ("建筑面积", "面积", "area", "floor_area", "building_area")),
    "owner": _Field("业主", False, _owner, ("业主", "业主姓名", "owner", "owner_name"), None),
    "balance": _Field("分户账余额", True, _amount, ("分户账余额", "余额", "账户余额", "balance")),
    "first_deposit": _Field("首次交存额", True, _amount, ("首次交存额", "首次交存金额", "first_deposit")),
}


def _norm(name: str) -> str:
    s = unicodedata.normalize("NFKC", name).casefold()
    s = re.sub(r"\(.*?\)|\[.*?\]", "", s)  # notes such as （㎡） or (元)
    return re.sub(r"[\s_\-*:]+", "", s)  # also the "*" of a required-column marker


_ALIASES = {_norm(a): key for key, f in _FIELDS.items() for a in f.aliases}


def _cell(value: object, *, excel: bool) -> str | _Unusable | None:
    """A raw value as stripped text; ``None`` when blank."""
    if value is None or isinstance(value, _Unusable):
        return value
    if isinstance(value, float):
        text = f"{value:.15g}" if excel else repr(value)  # Excel keeps 15 digits; JSON as written
    elif isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        text = str(value)
    elif excel:  # dates, booleans: shown as text, refused where a number is due
        text = str(value)
    else:
        return _Unusable(f"类型不正确（{type(value).__name__}），应为文本或数字")
    return text.strip() or None


# --- rows -------------------------------------------------------------------------------------

_Values = dict[str, tuple[str, object]]  # field -> (column name as given, cell text)


def _check(row: int, values: _Values) -> tuple[HouseholdRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []
    out: dict[str, object] = {}
    for key, field in _FIELDS.items():
        column, raw = values.get(key, (field.label, None))
        if key not in values and field.required:  # only a JSON item can lack a required column
            problems.append(RowProblem(row, column, f"缺少“{field.label}”"))
        elif isinstance(raw, _Unusable):
            problems.append(RowProblem(row, column, raw.reason))
        elif raw is None:
            if field.blank is ...:
                problems.append(RowProblem(row, column, "不能为空"))
            out[key] = field.blank
        else:
            try:
                out[key] = field.parse(raw)
            except ValueError as e:
                problems.append(RowProblem(row, column, f"{e}（值为“{raw}”）"))
    return (None, problems) if problems else (HouseholdRow(**out), [])


def _build(numbered: Iterable[tuple[int, _Values]], problems: list[RowProblem]) -> list[HouseholdRow]:
    rows: list[HouseholdRow] = []
    first_seen: dict[tuple[str, str, str], int] = {}
    for n, values in numbered:
        household, found = _check(n, values)
        problems += found
        if household is None:
            continue
        key = (household.building.casefold(), household.unit.casefold(), household.room.casefold())
        if key in first_seen:
            problems.append(
                RowProblem(
                    n,
                    None,
                    f"与第{first_seen[key]}行重复（楼栋 {household.building}、"
                    f"单元 {household.unit or '无'}、房号 {household.room}）",
                )
            )
        else:
            first_seen[key] = n
            rows.append(household)
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise _rejected("没有住户数据（只有表头）")
    return rows


def _header(texts: Sequence[object], row: int) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    problems: list[RowProblem] = []
    for i, text in enumerate(texts):
        key = _ALIASES.get(_norm(text)) if isinstance(text, str) else None
        if key is None:
            continue
        if key in found:
            problems.append(RowProblem(row, text, f"与列“{found[key][1]}”重复：都是{_FIELDS[key].label}"))
        else:
            found[key] = (i, text)
    for key, field in _FIELDS.items():
        if field.required and key not in found:
            names = "、".join(field.aliases)
            problems.append(RowProblem(row, field.label, f"缺少必需列“{field.label}”（可用列名：{names}）"))
    if problems:
        raise ImportRejected(problems)
    return found


def _from_table(records: Iterator[tuple[int, Sequence[object]]], max_rows: int) -> list[HouseholdRow]:
    header = None
    numbered: list[tuple[int, _Values]] = []
    max_lines = max_rows + MAX_BLANK_ROWS
    with closing(records):
        for n, cells in records:
            if n > max_lines:  # blank lines too: a file of a million empty rows stops here
                raise _too_large(f"表格超过 {max_lines} 行上限（含空行）：请删除多余的空行，或分批导入", n)
            texts = [_cell(c, excel=True) for c in cells[:MAX_COLUMNS]]
            if all(t is None for t in texts):
                continue
            if header is None:
                header = _header(texts, n)
                continue
            if len(numbered) >= max_rows:
                raise _rejected(f"超过单次导入上限 {max_rows} 行（从第{n}行起），请分批导入", n)
            numbered.append((n, {k: (name, texts[i] if i < len(texts) else None) for k, (i, name) in header.items()}))
    if header is None:
        raise _rejected("文件为空：没有表头和住户数据")
    return _build(numbered, [])


# --- file formats -----------------------------------------------------------------------------


def _csv_records(content: bytes) -> Iterator[tuple[int, list[str]]]:
    encodings = ("utf-16",) if content[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            text = content.decode(encoding).rstrip("\x1a")  # ^Z: end-of-file mark of old exports
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _rejected("无法识别文件编码：请上传 UTF-8 或 GBK 编码的 CSV，或 Excel 工作簿（.xlsx）")
    if _CONTROL.search(text):
        raise _rejected("不是文本表格（含有控制字符）：请上传 CSV 或 Excel 工作簿（.xlsx）")
    found = _FIRST_LINE.search(text)  # not splitlines(): a file of newlines would be a list of millions
    first = found.group(0) if found else ""
    delimiter = "," if "," in first else "\t" if "\t" in first else ";" if ";" in first else ","
    n = 0
    try:
        for n, record in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1):
            yield n, record
    except csv.Error as e:
        raise _rejected(f"CSV 格式错误：{e}", n + 1) from None


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")


def _check_archive(content: bytes, max_sheet_rows: int) -> None:
    """Before openpyxl sees the workbook: its members may not inflate past
    ``MAX_XLSX_UNCOMPRESSED`` (as declared: ``zipfile`` stops a member at its declared size); no
    worksheet may hold more than ``max_sheet_rows`` row elements (openpyxl itself parses a whole
    sheet at load time when it records no dimension) and no sheet or shared-string table a text
    longer than a cell may be. Counted while inflating, 1 MiB at a time, in C loops."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            total = sum(info.file_size for info in members)
            if total > MAX_XLSX_UNCOMPRESSED:
                raise _too_large(
                    f"工作簿解压后达 {total // 2**20} MB，超过 {MAX_XLSX_UNCOMPRESSED // 2**20} MB 上限："
                    "请只保留住户清单一张表、删除多余内容后再导入"
                )
            for info in members:
                if info.filename.endswith(".xml") and (
                    "worksheets/" in info.filename or "sharedStrings" in info.filename
                ):
                    _scan_member(archive, info, max_sheet_rows)
    except ImportRejected:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError, OSError):
        raise _rejected("不是有效的 Excel 工作簿（.xlsx）：文件可能已损坏或不完整，请重新导出") from None


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_MAX_TEXT_RUN = MAX_CELL_CHARS * 4 + 256  # bytes between two "<": a cell's UTF-8 text and its tag


def _scan_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_sheet_rows: int) -> None:
    rows, tail, run = 0, b"", 0
    with archive.open(info) as stream:
        while chunk := stream.read(1 << 20):
            block = tail + chunk
            rows += len(_ROW_TAG.findall(block)) - len(_ROW_TAG.findall(tail))  # the tail was counted before
            tail = block[-64:]
            pieces = chunk.split(b"<")
            longest = run + len(pieces[0])
            if len(pieces) > 1:
                longest = max(longest, max(map(len, pieces[1:])))
                run = len(pieces[-1])
            else:
                run = longest
            if rows > max_sheet_rows:
                raise _too_large(f"工作表超过 {max_sheet_rows} 行上限（含空行）：请删除多余的空行，或分批导入")
            if longest > _MAX_TEXT_RUN:
                raise _too_large(f"工作簿中有超过 {MAX_CELL_CHARS} 个字符的单元格：请检查文件内容")


def _xlsx_records(content: bytes, max_rows: int) -> Iterator[tuple[int, list[object]]]:
    import openpyxl  # only needed for workbooks

    max_sheet_rows = max_rows + MAX_BLANK_ROWS
    _check_archive(content, max_sheet_rows)
    books = []
    try:
        # Twice: cached values, and formulas, to tell a blank cell from a formula never calculated
        # (files written by programs rather than by Excel carry no cached values).
        for data_only in (True, False):
            books.append(openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=data_only))
        values, formulas = (book.worksheets[0] for book in books)
        values.reset_dimensions()  # some writers record a wrong sheet size
        formulas.reset_dimensions()
        rows = zip(
            values.iter_rows(values_only=True, max_col=MAX_COLUMNS),
            formulas.iter_rows(values_only=True, max_col=MAX_COLUMNS),
        )
        for n, (shown, written) in enumerate(rows, 1):  # _from_table stops after max_sheet_rows
            yield n, [_xlsx_value(v, f) for v, f in zip_longest(shown, written)]
    except ImportRejected:
        raise
    except Exception:  # openpyxl raises many kinds (BadZipFile, KeyError, ValueError...) on bad files
        raise _rejected("不是有效的 Excel 工作簿（.xlsx）：文件可能已损坏或不完整，请重新导出") from None
    finally:
        for book in books:
            book.close()


def _xlsx_value(shown: object, written: object) -> object:
    if shown is None and written is not None:
        return _Unusable("是公式但没有保存计算结果：请在 Excel 中打开并保存，或粘贴为数值后再导入")
    if isinstance(shown, str) and len(shown) > MAX_CELL_CHARS:
        return _Unusable(f"单元格内容过长（{len(shown)} 个字符，上限 {MAX_CELL_CHARS}）")
    return shown


def parse_households(
    content: bytes, filename: str | None = None, content_type: str | None = None, *, max_rows: int = MAX_ROWS
) -> list[HouseholdRow]:
    """Every row of the uploaded household list, or ``ImportRejected`` with every problem."""
    if not content.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _rejected("文件为空")
    if content.startswith(_XLSX_MAGIC):
        return _from_table(_xlsx_records(content, max_rows), max_rows)
    if content.startswith(_OLE_MAGIC):
        raise _rejected("这是旧版 Excel（.xls）文件：请在 Excel 中另存为 .xlsx 或 CSV（UTF-8）后再导入")
    if (filename or "").lower().endswith((".xlsx", ".xlsm", ".xls")) or any(
        t in (content_type or "") for t in _XLSX_TYPES
    ):
        raise _rejected("文件名或类型表明是 Excel 工作簿，但内容不是有效的工作簿：文件可能已损坏或不完整")
    return _from_table(_csv_records(content), max_rows)


def parse_household_json(items: list[dict], *, max_rows: int = MAX_ROWS) -> list[HouseholdRow]:
    """The same checks for a JSON list of objects keyed by column name; row = index + 1."""
    if not isinstance(items, list):
        raise _rejected("住户数据应为列表")
    if len(items) > max_rows:
        raise _rejected(f"超过单次导入上限 {max_rows} 行（共 {len(items)} 行），请分批导入", max_rows + 1)
    problems: list[RowProblem] = []
    numbered: list[tuple[int, _Values]] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            problems.append(RowProblem(n, None, "每一项应为对象（列名: 值）"))
            continue
        values: _Values = {}
        for name, raw in item.items():
            key = _ALIASES.get(_norm(str(name)))
            if key is None:
                continue
            if key in values:
                problems.append(RowProblem(n, str(name), f"与“{values[key][0]}”重复：都是{_FIELDS[key].label}"))
                continue
            values[key] = (str(name), _cell(raw, excel=False))
        numbered.append((n, values))
    return _build(numbered, problems)
