"""A ``Paper`` as PDF (reportlab), with a CJK TrueType font embedded (subset) so that any viewer
shows it and ``pdftotext`` reads it; ``invariant`` output: the same data gives the same bytes.

The font: ``FUNDFLOW_PDF_FONT`` (a .ttf/.ttc/.otf with TrueType outlines), else the first of the
usual places (WenQuanYi Micro Hei from ``fonts-wqy-microhei``, Noto Sans CJK, SimSun). Without
one, a PDF cannot be made: ``DocumentUnavailable`` (503) says so; the Word file still can.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from fundflow.service.errors import DocumentUnavailable
from fundflow.service.paperwork.model import Paper

__all__ = ["to_pdf", "FONT_CANDIDATES"]

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf",
    "C:/Windows/Fonts/simsun.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


@lru_cache(maxsize=4)
def _font(configured: str | None) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    paths = [configured] if configured else list(FONT_CANDIDATES)
    for path in paths:
        if path and Path(path).is_file():
            try:
                pdfmetrics.registerFont(TTFont("FundflowCJK", path, subfontIndex=0))
            except Exception as exc:  # not a TrueType font reportlab can embed
                raise DocumentUnavailable(
                    f"字体文件无法用于生成 PDF：{path}（{exc.__class__.__name__}）", code="pdf_font_unusable"
                ) from None
            return "FundflowCJK"
    raise DocumentUnavailable(
        "服务器未安装中文字体，无法生成 PDF（请安装 fonts-wqy-microhei 或设置 FUNDFLOW_PDF_FONT）；Word 版可以生成",
        code="pdf_font_missing",
    )


def to_pdf(paper: Paper, font_path: str | None = None) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, TableStyle
    from reportlab.platypus import Table as PdfTable

    font = _font(font_path)
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=17, wordWrap="CJK", spaceAfter=4)
    title = ParagraphStyle("title", parent=body, fontSize=17, leading=24, alignment=TA_CENTER, spaceAfter=6)
    sub = ParagraphStyle("sub", parent=body, alignment=TA_CENTER, textColor=colors.HexColor("#555555"))
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    cell = ParagraphStyle("cell", parent=body, fontSize=9.5, leading=13, spaceAfter=0)
    cell_right = ParagraphStyle("cell_right", parent=cell, alignment=TA_RIGHT)
    flow = [Paragraph(escape(paper.title), title)]
    if paper.subtitle:
        flow.append(Paragraph(escape(paper.subtitle), sub))
    flow.append(Spacer(1, 4 * mm))
    flow += [Paragraph(escape(t), body) for t in paper.before]
    if paper.table is not None:
        t = paper.table
        rows = [[Paragraph(f"<b>{escape(h)}</b>", cell) for h in t.headings]]
        for values in list(t.rows) + ([t.total] if t.total else []):
            rows.append([Paragraph(escape(v), cell_right if i in t.numeric else cell) for i, v in enumerate(values)])
        table = PdfTable(rows, repeatRows=1, hAlign="CENTER")
        style = [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
        if t.total:
            style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f4f4f4")))
        table.setStyle(TableStyle(style))
        flow += [Spacer(1, 2 * mm), table, Spacer(1, 3 * mm)]
    flow += [Paragraph(escape(t), body) for t in paper.after]
    if paper.signature:
        flow.append(Spacer(1, 6 * mm))
        flow += [Paragraph(escape(line), right) for line in paper.signature]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=paper.title,
        author=paper.meta.get("author", "fundflow"),
        subject=paper.meta.get("subject", ""),
        creator="fundflow",
        invariant=1,
    )
    doc.build(flow)
    return out.getvalue()
