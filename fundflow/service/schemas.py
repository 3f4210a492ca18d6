"""API request models, separate from the tables. Responses are the dicts of ``views``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from fundflow.service.identifiers import clean_identifier
from fundflow.service.json_limits import NUL_MESSAGE, check_data, check_value, contains_nul

__all__ = [
    "NUL_MESSAGE",
    "contains_nul",
    "CaseCreate",
    "TransitionRequest",
    "VoteRequest",
    "CommunityCreate",
    "LoginRequest",
    "ChannelCreate",
    "CaseData",
    "AssignRequest",
    "SupervisionIssue",
    "SupervisionReply",
    "SupervisionClose",
]


def _identifiers(names: list[str] | None) -> list[str] | None:
    return None if names is None else [clean_identifier(n) for n in names]


BuildingName = Annotated[str, Field(min_length=1, max_length=64)]


#: Building names: NFKC, no invisible, bidi or look-alike characters (service.identifiers).
Identifiers = Annotated[list[BuildingName], AfterValidator(_identifiers)]
#: Case or transition data: at most 32 levels deep and 64 KiB (service.json_limits).
CaseData = Annotated[dict[str, Any], AfterValidator(check_data)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        reason = check_value(value)
        if reason:
            raise ValueError(reason)
        return value


class CaseSubject(_Strict):
    name: str | None = Field(None, max_length=200, description="名称或姓名")
    phone: str | None = Field(None, max_length=20, description="联系电话（当事人，个人信息：仅承办各方可见）")
    address: str | None = Field(None, max_length=200)


class CaseCreate(_Strict):
    definition: str = Field(min_length=1, max_length=64, description="流程定义 id，如 fire_hazard_emergency")
    version: int | None = Field(None, ge=1, description="定义版本，默认最新")
    community_id: int | None = Field(None, ge=1, le=2**31 - 1, description="小区（案件对象为小区的流程必填）")
    subject: CaseSubject | None = Field(
        None, description="案件对象（对象为单位、地点或当事人的流程）：名称、电话、地址"
    )
    title: str = Field(min_length=1, max_length=200)
    buildings: Identifiers | None = Field(None, max_length=500, description="受影响（分摊）楼栋名称；不填为整个小区")
    data: CaseData = Field(default_factory=dict, description="隐患类别、描述等（至多 32 层、64 KB）")
    occurred_at: str | None = Field(
        None, max_length=40, description="实际上报时间（线下先行上报时）：YYYY-MM-DD 或 ISO 日期时间，不得晚于当前"
    )


class TransitionRequest(_Strict):
    trigger: str = Field(min_length=1, max_length=64)
    data: CaseData = Field(default_factory=dict, description="本环节填写的字段（至多 32 层、64 KB）")
    comment: str | None = Field(None, max_length=2000)
    occurred_at: str | None = Field(
        None,
        max_length=40,
        description="线下办理事项的实际发生时间（会议召开、公示张贴、验收、付款之日）：YYYY-MM-DD 或 ISO 日期时间；"
        "不得晚于当前，不得早于本环节开始或案件上一办理事项；不填为记录时间",
    )


class VoteRequest(_Strict):
    party: str = Field(min_length=1, max_length=64, description="参会单位角色，如 fund_center")
    attended: bool
    vote: Literal["agree", "disagree", "abstain"] | None = None
    opinion: str | None = Field(None, max_length=2000)
    attendees: str | None = Field(None, max_length=400, description="该单位出席人员（姓名、职务）")


class CommunityCreate(_Strict):
    name: str = Field(min_length=1, max_length=128)
    code: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
    street_office_id: int | None = Field(None, ge=1, le=2**31 - 1)
    address: str = Field("", max_length=256)
    buildings: list[BuildingName] = Field(default_factory=list, max_length=500)


class LoginRequest(_Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ChannelCreate(_Strict):
    name: str = Field(min_length=1, max_length=64)
    kind: Literal["webhook", "wecom", "dingtalk", "email"]
    target: str = Field(min_length=1, max_length=1000, description="Webhook 地址，或逗号分隔的邮箱")
    role: str | None = Field(None, max_length=64, description="只接收发给该角色的提醒；不填为全部")
    org_level: Literal["city", "district", "street_office", "community"] = "city"
    org_id: int | None = Field(None, ge=1, le=2**31 - 1)


# --- version migration (issue 16) ---


class MigrationRequest(_Strict):
    """``POST /api/v1/migrations``: plan (a dry run), apply or revert a move of running cases
    onto a new version of their procedure (admins only)."""

    action: Literal["plan", "apply", "revert"]
    definition: str | None = Field(None, min_length=1, max_length=64, description="流程定义 id（plan、apply）")
    from_version: int | None = Field(None, ge=1, le=10_000, description="原版本（plan、apply）")
    to_version: int | None = Field(None, ge=1, le=10_000, description="新版本（plan、apply）")
    cases: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(
        None, max_length=100_000, description="只迁移这些案件；不填为全部在办案件"
    )
    expected: dict[Annotated[str, Field(pattern=r"^[1-9][0-9]{0,9}$")], Annotated[int, Field(ge=1)]] | None = Field(
        None, max_length=100_000, description="计划中各案件的版本（plan 返回的 versions）：此后有变化的案件不迁移"
    )
    batch: int | None = Field(None, ge=1, le=2**31 - 1, description="撤销的批次号（revert）")


# --- tasks and supervision (issue 11a) ---


class AssignRequest(_Strict):
    assignee_id: int = Field(ge=1, le=2**31 - 1, description="本单位人员的用户 id")


class SupervisionIssue(_Strict):
    content: str = Field(min_length=1, max_length=2000, description="督办事项")
    reply_working_days: int = Field(3, ge=1, le=30, description="反馈期限（工作日）")


class SupervisionReply(_Strict):
    reply: str = Field(min_length=1, max_length=2000, description="办理进展")


class SupervisionClose(_Strict):
    note: str | None = Field(None, max_length=2000, description="销号意见")
