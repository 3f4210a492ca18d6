"""The report that opens a case, checked against its definition: the open form's own fields
(``open_form.fields``) and the case's subject (``subject:``) when it is not a community.

Each check returns the clean values and the problems (field -> a Chinese reason; none when all is
well), which the service answers as 422 (``invalid_open_form``)."""

from __future__ import annotations

import re
from typing import Any

from fundflow.domain.definition import Definition, Subject
from fundflow.domain.engine import _parse_field

__all__ = ["check_open_fields", "check_subject", "SUBJECT_KEYS", "CONTACT_KEYS"]

#: What a non-community subject may carry; a person's ``phone`` and ``address`` are personal data
SUBJECT_KEYS = ("name", "phone", "address")
CONTACT_KEYS = ("phone", "address")
_PHONE = re.compile(r"^[0-9+\-() ]{5,20}$")


def check_open_fields(d: Definition, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The open form's fields in ``data``: each required one given, each given one valid. Returns
    the stored values of those fields (other keys of ``data`` are left to the caller)."""
    problems: dict[str, str] = {}
    out: dict[str, Any] = {}
    for f in d.open_form.fields:
        raw = data.get(f.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if f.required:
                problems[f.name] = f"请填写“{f.label}”"
            continue
        try:
            _, out[f.name] = _parse_field(f, raw)
        except ValueError as exc:
            problems[f.name] = f"“{f.label}”{exc}"
    return out, problems


def check_subject(spec: Subject, raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A non-community subject: ``{name, phone?, address?}`` (a person needs a phone to be called
    back); ``{}`` for ``none``."""
    if spec.kind == "none":
        return {}, ({"subject": "本流程的案件没有对象，不应填写"} if raw else {})
    if not isinstance(raw, dict):
        return {}, {"subject": f"请填写{spec.label}"}
    problems: dict[str, str] = {}
    unknown = sorted(k for k in raw if k not in SUBJECT_KEYS)
    if unknown:
        problems["subject"] = f"未知项：{'、'.join(unknown)}"
    out: dict[str, Any] = {"kind": spec.kind}
    for key in SUBJECT_KEYS:
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str) or len(value.strip()) > 200:
            problems[f"subject.{key}"] = "应为不超过 200 字的文字"
            continue
        out[key] = value.strip()
    if "name" not in out:
        problems["subject.name"] = f"请填写{spec.label}名称" if spec.kind != "person" else f"请填写{spec.label}姓名"
    if spec.kind == "person":
        if "phone" not in out:
            problems["subject.phone"] = "请填写联系电话（回访用）"
        elif not _PHONE.match(out["phone"]):
            problems["subject.phone"] = "联系电话格式不正确"
    elif "phone" in out and not _PHONE.match(out["phone"]):
        problems["subject.phone"] = "联系电话格式不正确"
    return out, problems
