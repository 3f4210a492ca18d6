"""Documents the offices hand in, generated from a case (联席会议纪要, 维修资金使用公示, 续交通知):
a neutral model (``model``), its wording from templates a city can edit (``templates/*.yaml``,
overridable by ``FUNDFLOW_DOCUMENT_TEMPLATES_DIR``), rendered as Word (python-docx) and PDF
(reportlab, with an embedded CJK TrueType font)."""
