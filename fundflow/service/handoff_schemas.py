"""API request models of the hand-offs and records (issue 11b)."""

from __future__ import annotations

from pydantic import Field

from fundflow.service.schemas import _Strict

__all__ = [
    "TransferRequest",
    "ExtensionRequest",
    "ExtensionDecision",
    "WithdrawRequest",
    "ObjectionCreate",
    "ObjectionAnswer",
]


class TransferRequest(_Strict):
    to_org_id: int = Field(ge=1, le=2**31 - 1, description="接收单位：街道办事处或区（与转办单位同级）的 id")
    reason: str = Field(min_length=1, max_length=2000, description="转办理由")


class TransferDecision(_Strict):
    accept: bool = Field(description="true 签收（案件转入本单位），false 不予签收（案件留在转出单位）")
    note: str | None = Field(None, max_length=2000, description="签收意见；不予签收时必填，写明理由")


class ExtensionRequest(_Strict):
    working_days: int = Field(ge=1, le=366, description="申请延长的工作日数（不超过流程规定的上限）")
    reason: str = Field(min_length=1, max_length=2000, description="延期理由")


class ExtensionDecision(_Strict):
    approve: bool = Field(description="true 批准，false 不予批准")
    opinion: str | None = Field(None, max_length=2000, description="审批意见；不予批准时必填")


class WithdrawRequest(_Strict):
    reason: str = Field(min_length=1, max_length=2000, description="撤回原因")
    comment: str | None = Field(None, max_length=2000)


class ObjectionCreate(_Strict):
    owner_name: str = Field(min_length=1, max_length=64, description="提出异议的业主姓名")
    room: str = Field(min_length=1, max_length=64, description="房号，如 1栋1单元101")
    text: str = Field(min_length=1, max_length=2000, description="异议内容")


class ObjectionAnswer(_Strict):
    answer: str = Field(min_length=1, max_length=2000, description="答复内容")


class MeetingSessionCreate(_Strict):
    held_on: str = Field(min_length=10, max_length=10, description="会议召开日期 YYYY-MM-DD")
    venue: str = Field(min_length=1, max_length=200, description="会议地点")
