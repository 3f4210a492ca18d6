"""A ``Paper`` as a Word document (python-docx), with fixed properties and zip timestamps so
that the same data gives the same bytes (its sha256 tells whether it changed)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

from fundflow.service.paperwork.model import Paper

__all__ = ["to_docx"]

FIXED = datetime(2000, 1, 1)


def _repack(data: bytes) -> bytes:
    """The same zip with every entry dated 1980-01-01: python-docx stamps the time of writing."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def to_docx(paper: Paper) -> bytes:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(12)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")  # Chinese text in 宋体, as offices write
    props = doc.core_properties
    props.title = paper.title
    props.author = paper.meta.get("author", "fundflow")
    props.subject = paper.meta.get("subject", "")
    props.created = props.modified = FIXED
    props.last_modified_by = props.author
    props.revision = 1
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(paper.title)
    run.bold = True
    run.font.size = Pt(18)
    if paper.subtitle:
        sub = doc.add_paragraph(paper.subtitle)
        sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for text in paper.before:
        doc.add_paragraph(text)
    if paper.table is not None:
        t = paper.table
        rows = list(t.rows) + ([t.total] if t.total else [])
        table = doc.add_table(rows=1 + len(rows), cols=len(t.headings))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for i, h in enumerate(t.headings):
            cell = table.rows[0].cells[i]
            cell.text = h
            cell.paragraphs[0].runs[0].bold = True
        for r, values in enumerate(rows, start=1):
            for i, v in enumerate(values):
                cell = table.rows[r].cells[i]
                cell.text = v
                if i in t.numeric:
                    cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
                if t.total and r == len(rows):
                    for run in cell.paragraphs[0].runs:
                        run.bold = True
    for text in paper.after:
        doc.add_paragraph(text)
    for line in paper.signature:
        p = doc.add_paragraph(line)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    doc.save(out)
    return _repack(out.getvalue())
