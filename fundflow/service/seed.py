"""A believable demo city: Zhuzhou's four urban districts, their street offices, 30 fictional
old residential communities with households and ledgers, a user per role, and 38 cases in every
stage of the procedure, each driven only through the use cases on a simulated clock.

``seed_demo(svc, now)`` is what ``fundflow demo`` calls. It is idempotent: when the database
already holds districts it creates nothing and only issues fresh tokens for the demo users
(``reset=True`` wipes every table and the documents folder first, then seeds again).

Places (districts, street offices) are real; the communities, addresses, people and cases are
invented. Everything happens before ``now``: each case is scheduled backwards from ``now`` in
working days (``svc.calendar``), so that the cases meant to be overdue or warned are so at
``now``, then played forward through ``cases.open_case``, ``documents.attach_document``,
``meetings.record_vote`` and ``cases.fire_transition`` as the users whose job each step is.
"""

from __future__ import annotations

import random
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, update
from sqlmodel import select

from fundflow.domain.deadlines import compute_deadlines
from fundflow.domain.ledger import retention_of
from fundflow.domain.tz import SHANGHAI, local_date, require_aware
from fundflow.service.auth import hash_password, issue_token
from fundflow.service.context import Services
from fundflow.service.db import transaction
from fundflow.service.household_import import HouseholdRow
from fundflow.service.tables import Case, Community, District, StreetOffice, User, metadata
from fundflow.service.usecases import cases as case_uc
from fundflow.service.usecases import communities as community_uc
from fundflow.service.usecases import documents as document_uc
from fundflow.service.usecases import meetings as meeting_uc
from fundflow.service.usecases import users as user_uc

__all__ = ["seed_demo", "SeedResult", "DEMO_PASSWORD", "DEMO_USERNAMES"]

DEMO_PASSWORD = "fundflow-demo"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
FIRE = "fire_hazard_emergency"
LIFT = "lift_fault_emergency"
FEN = Decimal("0.01")

# -- places (real) -------------------------------------------------------------------------

#: district code, name, pinyin (for user names), abbreviation used in fire-notice numbers,
#: and its street offices: code, name, pinyin.
DISTRICTS: list[tuple[str, str, str, str, list[tuple[str, str, str]]]] = [
    (
        "HT",
        "荷塘区",
        "hetang",
        "荷",
        [
            ("HT-YT", "月塘街道", "yuetang"),
            ("HT-CGT", "茨菇塘街道", "cigutang"),
            ("HT-SJQ", "宋家桥街道", "songjiaqiao"),
            ("HT-GH", "桂花街道", "guihua"),
            ("HT-JS", "金山街道", "jinshan"),
        ],
    ),
    (
        "LS",
        "芦淞区",
        "lusong",
        "芦",
        [
            ("LS-JN", "建宁街道", "jianning"),
            ("LS-HJT", "贺家土街道", "hejiatu"),
            ("LS-QY", "庆云街道", "qingyun"),
            ("LS-JS", "建设街道", "jianshe"),
            ("LS-LQ", "龙泉街道", "longquan"),
        ],
    ),
    (
        "SF",
        "石峰区",
        "shifeng",
        "石",
        [
            ("SF-QST", "清水塘街道", "qingshuitang"),
            ("SF-XSL", "响石岭街道", "xiangshiling"),
            ("SF-JK", "井墈街道", "jingkan"),
            ("SF-TX", "田心街道", "tianxin"),
            ("SF-XL", "学林街道", "xuelin"),
        ],
    ),
    (
        "TY",
        "天元区",
        "tianyuan",
        "天",
        [
            ("TY-SSL", "嵩山路街道", "songshanlu"),
            ("TY-TSL", "泰山路街道", "taishanlu"),
            ("TY-LY", "栗雨街道", "liyu"),
            ("TY-MJH", "马家河街道", "majiahe"),
        ],
    ),
]

# -- communities (fictional) ----------------------------------------------------------------

#: code, street office code, name, fictional road, buildings (None: 2-8 at random)
COMMUNITIES: list[tuple[str, str, str, str, int | None]] = [
    ("HT-YT-01", "HT-YT", "桂园新村", "桂园路", 6),
    ("HT-YT-02", "HT-YT", "枫林小区", "枫林二路", None),
    ("HT-CGT-01", "HT-CGT", "翠竹苑", "翠竹巷", 5),
    ("HT-CGT-02", "HT-CGT", "和平新村", "和平东路", None),
    ("HT-SJQ-01", "HT-SJQ", "向阳小区", "向阳北街", 4),
    ("HT-SJQ-02", "HT-SJQ", "红枫小区", "红枫路", None),
    ("HT-GH-01", "HT-GH", "春晖苑", "春晖路", 4),
    ("HT-GH-02", "HT-GH", "明珠小区", "明珠巷", 5),
    ("HT-JS-01", "HT-JS", "锦绣新村", "锦绣路", 4),
    ("LS-JN-01", "LS-JN", "长青小区", "长青街", 7),
    ("LS-JN-02", "LS-JN", "丽泽苑", "丽泽路", 5),
    ("LS-JN-03", "LS-JN", "建安新村", "建安里", 5),
    ("LS-HJT-01", "LS-HJT", "晓光小区", "晓光路", 5),
    ("LS-HJT-02", "LS-HJT", "松柏新村", "松柏巷", None),
    ("LS-QY-01", "LS-QY", "东篱苑", "东篱路", 8),
    ("LS-QY-02", "LS-QY", "织锦新村", "织锦路", 5),
    ("LS-JS-01", "LS-JS", "新桥小区", "新桥南路", 5),
    ("LS-LQ-01", "LS-LQ", "泉水湾小区", "泉湾路", 6),
    ("SF-QST-01", "SF-QST", "清源新村", "清源路", 6),
    ("SF-QST-02", "SF-QST", "冶化新村", "冶化街", None),
    ("SF-XSL-01", "SF-XSL", "石岭雅苑", "石岭路", 5),
    ("SF-JK-01", "SF-JK", "井泉小区", "井泉路", 4),
    ("SF-TX-01", "SF-TX", "车城新村", "车城大道", 6),
    ("SF-TX-02", "SF-TX", "轨道花园", "轨道路", 6),
    ("SF-XL-01", "SF-XL", "学府苑", "学府路", None),
    ("TY-SSL-01", "TY-SSL", "嵩景苑", "嵩景路", 5),
    ("TY-TSL-01", "TY-TSL", "泰和新村", "泰和路", 7),
    ("TY-LY-01", "TY-LY", "栗香小区", "栗香路", 5),
    ("TY-MJH-01", "TY-MJH", "河畔新村", "河畔路", None),
    ("TY-MJH-02", "TY-MJH", "湘岸小区", "湘岸路", None),
]
DEMO_COMMUNITY = "HT-YT-01"
#: large estates (four units a building, a newer, higher first deposit): big projects need big balances
LARGE_COMMUNITIES = frozenset({"LS-QY-01"})

SURNAMES = "王李张刘陈杨黄赵吴周徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"

# -- users ---------------------------------------------------------------------------------

#: The users printed by ``fundflow demo``: role, username, display name, org code.
DEMO_USERS: list[tuple[str, str, str, str | None]] = [
    ("street_office", "so_yuetang", "刘某某（月塘街道办事处）", "HT-YT"),
    ("street_office", "so_jianning", "陈某某（建宁街道办事处）", "LS-JN"),
    ("fund_center", "fund_center", "周某某（市维修资金管理中心）", None),
    ("fire_rescue", "fr_hetang", "王某某（荷塘区消防救援大队）", "HT"),
    ("residents_committee", "rc_guiyuan", "李某某（桂园社区居委会）", DEMO_COMMUNITY),
    ("owners_committee", "oc_guiyuan", "赵某某（桂园新村业委会）", DEMO_COMMUNITY),
    ("property_company", "pc_guiyuan", "黄某某（桂园物业服务中心）", DEMO_COMMUNITY),
    ("housing_bureau", "housing_bureau", "孙某某（市住房和城乡建设局）", None),
    ("admin", "admin", "系统管理员", None),
]
DEMO_USERNAMES = tuple(u[1] for u in DEMO_USERS)

Row = tuple[str, str, str, str, str]  # role, username, display name, org name, token


@dataclass
class SeedResult:
    users: list[Row]
    cases: int
    archived: int
    communities: int
    skipped: bool
    households: int = 0
    seconds: float | None = None

    def summary(self, base_url: str = DEFAULT_BASE_URL) -> str:
        """The users and tokens, and where the pages and the API docs are served (``base_url``)."""
        head = (
            "演示数据已存在，未重新生成（--reset 可重建）；已为演示账号签发新令牌。\n"
            "Demo data already present, nothing created (use --reset to rebuild); fresh tokens issued."
            if self.skipped
            else "已生成演示城市：株洲市荷塘区、芦淞区、石峰区、天元区。\n"
            "Demo city seeded: Zhuzhou's urban districts Hetang, Lusong, Shifeng, Tianyuan."
        )
        widths = [
            max([_width(r[i]) for r in self.users] + [_width(h)])
            for i, h in enumerate(("角色 role", "用户名 username", "", "单位 org"))
        ]
        lines = [
            "=" * 78,
            "fundflow 演示数据 / demo data",
            head,
            f"小区 communities: {self.communities}    房屋 households: {self.households}    "
            f"案件 cases: {self.cases}    已办结归档 archived: {self.archived}",
            f"登录密码 password (all users): {DEMO_PASSWORD}",
            "",
            "  ".join(
                [
                    _pad("角色 role", widths[0]),
                    _pad("用户名 username", widths[1]),
                    _pad("单位 org", widths[3]),
                    "令牌 token (Authorization: Bearer ...)",
                ]
            ),
        ]
        for role, username, _display, org, token in self.users:
            lines.append("  ".join([_pad(role, widths[0]), _pad(username, widths[1]), _pad(org, widths[3]), token]))
        lines += [
            "",
            "其他账号（同一密码）/ other accounts (same password): so_<街道拼音> for every street office "
            "(e.g. so_cigutang), fr_<区拼音> per district (fr_lusong), oc_<小区编码> per community (oc_ls_jn_01).",
            f"页面 / pages: {base_url}/    登录 / login: {base_url}/login",
            f"API 文档 / API docs: {base_url}/docs    接口 / API: {base_url}/api/v1",
            "=" * 78,
        ]
        return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


# -- entry point ---------------------------------------------------------------------------


def seed_demo(svc: Services, now: datetime, *, reset: bool = False, rng_seed: int = 20261126) -> SeedResult:
    """Seed the demo city, or (already seeded, no ``reset``) just issue fresh demo tokens."""
    import time as _time

    require_aware(now, "now")
    started = _time.perf_counter()
    if reset:
        _wipe(svc)
    elif _has_places(svc):
        result = _refresh_tokens(svc, now)
        result.seconds = _time.perf_counter() - started
        return result
    seeder = _Seeder(svc, now, rng_seed)
    seeder.run()
    result = _counts(svc, seeder.demo_rows(), skipped=False)
    result.seconds = _time.perf_counter() - started
    return result


def _has_places(svc: Services) -> bool:
    with transaction(svc.sessions) as s:
        return s.exec(select(District.id).limit(1)).first() is not None


def _wipe(svc: Services) -> None:
    with svc.db.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    shutil.rmtree(svc.settings.documents_dir, ignore_errors=True)


def _refresh_tokens(svc: Services, now: datetime) -> SeedResult:
    rows: list[Row] = []
    with transaction(svc.sessions) as s:
        by_name = {u.username: u for u in s.exec(select(User).where(User.username.in_(DEMO_USERNAMES)))}
        for _role, username, _display, _org in DEMO_USERS:
            user = by_name.get(username)
            if user is None or not user.active:
                continue
            rows.append((user.role, user.username, user.display_name, user.org_name, issue_token(s, user, "api", now)))
    return _counts(svc, rows, skipped=True)


def _counts(svc: Services, rows: list[Row], *, skipped: bool) -> SeedResult:
    from fundflow.service.tables import Household

    with transaction(svc.sessions) as s:
        cases = s.exec(select(func.count()).select_from(Case)).one()
        archived = s.exec(select(func.count()).select_from(Case).where(Case.state == "archived")).one()
        communities = s.exec(select(func.count()).select_from(Community)).one()
        households = s.exec(select(func.count()).select_from(Household)).one()
    return SeedResult(rows, int(cases), int(archived), int(communities), skipped, households=int(households))


# -- the simulated city ------------------------------------------------------------------------


@dataclass
class _Place:
    code: str
    name: str
    office: str
    office_name: str
    district: str
    district_name: str
    address: str
    buildings: list[str]
    rows: list[HouseholdRow]
    id: int | None = None

    def balance(self, scope: list[str] | None) -> Decimal:
        return sum((r.balance for r in self.rows if scope is None or r.building in scope), Decimal("0.00"))


@dataclass
class _Spec:
    key: str
    community: str
    title: str
    category: str
    stop: str  # the state the case stands in now (an open or a terminal state)
    status: str = "ok"  # open cases: ok | warned | overdue | suspended
    scope: list[str] | None = None  # building names; None = the whole estate
    amount: int = 0  # target budget in yuan (capped by the balance in scope)
    flags: frozenset[str] = frozenset()
    idle: int = 1  # terminal cases: working days since the last step
    min_idle: int = 1  # open cases: the least working days since the last step
    at: str | None = None  # where a withdrawn/rejected case ended
    opener: str = "so"
    definition: str = FIRE
    description: str = ""


#: hazard category -> (label, GB 35181 route, elements cited)
CATEGORIES = {
    "pump": ("消防水泵故障", "direct", "消防给水系统的消防水泵损坏，不能正常启动运行"),
    "alarm": ("火灾自动报警系统瘫痪", "direct", "火灾自动报警系统主机故障，探测器大面积失效，不能正常运行"),
    "sprinkler": ("自动喷水灭火系统故障", "direct", "自动喷水灭火系统报警阀组损坏、管网无压，不能正常运行"),
    "smoke": ("防排烟系统故障", "direct", "防烟排烟系统风机损坏，不能正常运行"),
    "hydrant": ("室内消火栓系统无水", "comprehensive", "室内消火栓系统无水；水泵接合器损坏；部分消火栓箱缺少水带水枪"),
    "lights": (
        "应急照明和疏散指示标志损坏",
        "comprehensive",
        "应急照明和疏散指示标志损坏率超过30%；部分防火门不能正常关闭",
    ),
    "doors": ("防火门损坏", "comprehensive", "超过半数防火门不能正常使用；疏散楼梯间堆放杂物"),
    "lane": ("消防车通道堵塞", "comprehensive", "消防车通道被占用、堵塞；室外消火栓损坏"),
    "mains": ("室外消防给水管网损坏", "comprehensive", "室外消防给水环状管网锈蚀漏水、压力不足；室外消火栓无水"),
    "tank": ("高位消防水箱无水", "comprehensive", "高位消防水箱损坏无水；稳压设施失效"),
    "wiring": ("电气线路老化", "comprehensive", "地下配电室防火分隔损坏；电气线路老化，消防电源不能保证"),
}

SPECS: list[_Spec] = [
    # -- 13 archived: the guideline's "finished in 13" ------------------------------------
    _Spec(
        "guiyuan-pump",
        "HT-YT-01",
        "桂园新村消防水泵房水泵损坏整改",
        "pump",
        "archived",
        amount=186_000,
        flags=frozenset({"objection"}),
        idle=95,
        opener="pc",
        description="消防泵房两台喷淋泵、消火栓泵锈死，控制柜进水，试泵不能启动。",
    ),
    _Spec(
        "cuizhu-alarm",
        "HT-CGT-01",
        "翠竹苑火灾自动报警系统瘫痪",
        "alarm",
        "archived",
        amount=238_000,
        flags=frozenset({"return_plan"}),
        idle=40,
        description="报警主机长期故障停用，各楼栋烟感探测器大面积失效，值班室无人值守。",
    ),
    _Spec(
        "xiangyang-hydrant",
        "HT-SJQ-01",
        "向阳小区3栋室内消火栓系统无水",
        "hydrant",
        "archived",
        scope=["3栋"],
        amount=48_000,
        idle=120,
        description="3栋各层消火栓打开无水，立管锈蚀渗漏，水泵接合器缺失。",
    ),
    _Spec(
        "chunhui-lights",
        "HT-GH-01",
        "春晖苑应急照明和疏散指示标志更换",
        "lights",
        "archived",
        amount=62_000,
        flags=frozenset({"suspend_resume"}),
        idle=60,
        description="楼梯间应急照明灯具、疏散指示标志大面积损坏，停电时楼道无照明。",
    ),
    _Spec(
        "changqing-lane",
        "LS-JN-01",
        "长青小区消防车通道整治及室外消火栓修复",
        "lane",
        "archived",
        amount=135_000,
        flags=frozenset({"retention"}),
        idle=30,
        description="消防车通道被违章搭建和停车占用，三处室外消火栓损坏无水。",
    ),
    _Spec(
        "xiaoguang-doors",
        "LS-HJT-01",
        "晓光小区2栋、4栋防火门更换",
        "doors",
        "archived",
        scope=["2栋", "4栋"],
        amount=38_000,
        idle=150,
        description="2栋、4栋楼梯间防火门变形、闭门器缺失，超过半数不能关闭。",
    ),
    _Spec(
        "dongli-sprinkler",
        "LS-QY-01",
        "东篱苑地下车库自动喷水灭火系统修复",
        "sprinkler",
        "archived",
        amount=328_000,
        idle=12,
        description="地下车库喷淋系统报警阀组损坏，管网无压，末端试水无水。",
    ),
    _Spec(
        "quanshuiwan-mains",
        "LS-LQ-01",
        "泉水湾小区室外消防给水环网改造",
        "mains",
        "archived",
        amount=158_000,
        flags=frozenset({"fail_acceptance"}),
        idle=22,
        description="室外环状给水管网锈蚀多处漏水，小区北侧两个室外消火栓压力不足。",
    ),
    _Spec(
        "qingyuan-pump",
        "SF-QST-01",
        "清源新村消防泵房控制柜更换",
        "pump",
        "archived",
        amount=92_000,
        flags=frozenset({"return_correction"}),
        idle=70,
        description="消防泵控制柜烧毁，水泵只能手动启动，巡检柜失效。",
    ),
    _Spec(
        "jingquan-hydrant",
        "SF-JK-01",
        "井泉小区1至3栋消防给水管网修复",
        "hydrant",
        "archived",
        scope=["1栋", "2栋", "3栋"],
        amount=76_000,
        idle=45,
        description="1至3栋共用消防给水立管锈穿，消火栓无水。",
    ),
    _Spec(
        "checheng-alarm",
        "SF-TX-01",
        "车城新村火灾自动报警主机及探测器更换",
        "alarm",
        "archived",
        amount=118_000,
        idle=8,
        description="报警主机主板损坏，探测器误报频繁后被整体断电。",
    ),
    _Spec(
        "songjing-tank",
        "TY-SSL-01",
        "嵩景苑高位消防水箱修复",
        "tank",
        "archived",
        amount=54_000,
        idle=85,
        description="屋顶高位消防水箱锈蚀开裂无水，稳压泵损坏。",
    ),
    _Spec(
        "taihe-smoke",
        "TY-TSL-01",
        "泰和新村高层住宅防排烟风机更换",
        "smoke",
        "archived",
        amount=205_000,
        idle=55,
        description="两栋高层住宅正压送风机、排烟风机损坏，联动失效。",
    ),
    # -- open cases, one or more in every stage ------------------------------------------
    _Spec(
        "fenglin-reported",
        "HT-YT-02",
        "枫林小区消防车通道被占用、室外消火栓损坏",
        "lane",
        "reported",
        status="ok",
        description="小区主干道被私家车长期占用，消防车无法进入；2处室外消火栓阀门锈死。",
    ),
    _Spec(
        "hepan-reported",
        "TY-MJH-01",
        "河畔新村火灾自动报警系统停用",
        "alarm",
        "reported",
        status="overdue",
        min_idle=2,
        description="报警主机断电停用一年以上，物业称无维修资金。",
    ),
    _Spec(
        "heping-survey",
        "HT-CGT-02",
        "和平新村消防水泵损坏",
        "pump",
        "site_survey",
        status="overdue",
        amount=88_000,
        description="消火栓泵电机烧毁，泵房积水。",
    ),
    _Spec(
        "guiyuan-doors",
        "HT-YT-01",
        "桂园新村5栋、6栋防火门及闭门器损坏",
        "doors",
        "joint_meeting",
        status="ok",
        scope=["5栋", "6栋"],
        amount=43_000,
        flags=frozenset({"partial_votes"}),
        opener="oc",
        description="5栋、6栋楼梯间防火门闭门器缺失、门体变形，超过半数不能自行关闭。",
    ),
    _Spec(
        "qingyuan-wiring",
        "SF-QST-01",
        "清源新村地下配电室防火分隔及消防电源整改",
        "wiring",
        "joint_meeting",
        status="overdue",
        amount=67_000,
        description="地下配电室防火墙开洞、电缆桥架未封堵，消防电源无双回路。",
    ),
    _Spec(
        "hongfeng-plan",
        "HT-SJQ-02",
        "红枫小区应急照明和疏散指示标志损坏",
        "lights",
        "plan_budget",
        status="warned",
        amount=36_000,
        flags=frozenset({"plan_started"}),
        description="各楼栋楼梯间应急照明、安全出口标志约七成损坏。",
    ),
    _Spec(
        "mingzhu-review",
        "HT-GH-02",
        "明珠小区室内消火栓系统修复",
        "hydrant",
        "cost_review",
        status="ok",
        amount=72_000,
        description="消火栓立管锈蚀，高区消火栓无水。",
    ),
    _Spec(
        "jinxiu-suspended",
        "HT-JS-01",
        "锦绣新村2栋自动喷水灭火系统修复",
        "sprinkler",
        "fund_review",
        status="suspended",
        scope=["2栋"],
        amount=0,
        min_idle=6,
        flags=frozenset({"over_balance"}),
        description="2栋底层商铺喷淋管网损坏，报警阀漏水。",
    ),
    _Spec(
        "changqing-tank",
        "LS-JN-01",
        "长青小区高位消防水箱及稳压设施修复",
        "tank",
        "fund_review",
        status="warned",
        amount=58_000,
        description="屋顶消防水箱漏水，稳压泵不能自动启动。",
    ),
    _Spec(
        "guidao-advance",
        "SF-TX-02",
        "轨道花园消防水泵及控制柜更换",
        "pump",
        "advance_payment",
        status="ok",
        amount=142_000,
        description="两台消防泵老化不能启动，控制柜元件烧毁。",
    ),
    _Spec(
        "lize-works",
        "LS-JN-02",
        "丽泽苑火灾自动报警系统更换",
        "alarm",
        "rectification",
        status="overdue",
        amount=126_000,
        min_idle=20,
        description="报警系统设备停产无配件，主机瘫痪。",
    ),
    _Spec(
        "lixiang-works",
        "TY-LY-01",
        "栗香小区防火门及闭门器更换",
        "doors",
        "rectification",
        status="warned",
        amount=41_000,
        min_idle=10,
        description="楼梯间防火门大面积损坏。",
    ),
    _Spec(
        "taihe-works",
        "TY-TSL-01",
        "泰和新村6栋室内消火栓系统修复",
        "hydrant",
        "rectification",
        status="ok",
        scope=["6栋"],
        amount=29_000,
        min_idle=6,
        description="6栋消火栓箱缺水带水枪，立管阀门锈死。",
    ),
    _Spec(
        "guiyuan-acceptance",
        "HT-YT-01",
        "桂园新村室外消防给水管网漏水修复",
        "mains",
        "acceptance",
        status="ok",
        amount=96_000,
        flags=frozenset({"partial_signatures"}),
        opener="rc",
        description="小区东侧室外消防给水管网多处漏水，2个室外消火栓无水。",
    ),
    _Spec(
        "xinqiao-settlement",
        "LS-JS-01",
        "新桥小区应急照明和疏散指示标志更换",
        "lights",
        "settlement",
        status="ok",
        amount=45_000,
        description="楼道应急照明和疏散指示标志损坏过半。",
    ),
    # posted 6+ working days ago, so its 7-day notice has run: the README's walkthrough closes it
    _Spec(
        "zhijin-notice",
        "LS-QY-02",
        "织锦新村消防水泵房改造",
        "pump",
        "public_notice",
        status="ok",
        min_idle=6,
        amount=112_000,
        flags=frozenset({"open_objection"}),
        description="泵房水泵、管道阀门锈蚀，不能正常供水。",
    ),
    _Spec(
        "jianan-disbursement",
        "LS-JN-03",
        "建安新村消防车通道整治",
        "lane",
        "disbursement",
        status="ok",
        amount=52_000,
        description="消防车通道被地锁、花坛占用。",
    ),
    _Spec(
        "hepan-warranty",
        "TY-MJH-01",
        "河畔新村楼梯间防火门更换",
        "doors",
        "warranty",
        status="ok",
        amount=47_000,
        min_idle=30,
        description="楼梯间防火门闭门器缺失，门扇变形不能关闭。",
    ),
    _Spec(
        "xinqiao-supplementary",
        "LS-JS-01",
        "新桥小区消防给水立管更换",
        "hydrant",
        "supplementary_review",
        status="ok",
        amount=64_000,
        flags=frozenset({"supplementary"}),
        description="消防给水立管锈蚀渗漏，高区消火栓压力不足。",
    ),
    _Spec(
        "shiling-archiving",
        "SF-XSL-01",
        "石岭雅苑防排烟系统修复",
        "smoke",
        "archiving",
        status="ok",
        amount=84_000,
        description="楼梯间正压送风口损坏，送风机不能启动。",
    ),
    # -- the other terminal outcomes -------------------------------------------------------
    _Spec(
        "songbai-withdrawn",
        "LS-HJT-02",
        "松柏新村室内消火栓系统修复",
        "hydrant",
        "withdrawn",
        at="plan_budget",
        amount=39_000,
        idle=35,
        description="消火栓无水，水泵接合器缺失。",
    ),
    _Spec(
        "yehua-diverted",
        "SF-QST-02",
        "冶化新村部分楼道应急照明损坏",
        "lights",
        "ordinary_repair",
        idle=65,
        description="个别楼道应急灯不亮，疏散指示标志缺失。",
    ),
    _Spec(
        "xuefu-rejected",
        "SF-XL-01",
        "学府苑地下车库喷淋系统损坏",
        "sprinkler",
        "rejected",
        at="fund_review",
        amount=96_000,
        idle=28,
        description="地下车库喷淋管网漏水，报警阀组损坏。",
    ),
    _Spec(
        "xiangan-rejected",
        "TY-MJH-02",
        "湘岸小区消防车通道改造",
        "lane",
        "rejected",
        at="joint_meeting",
        amount=160_000,
        idle=50,
        description="拟拆除小区绿化带拓宽消防车通道，业主意见分歧较大。",
    ),
    # -- lifts: the engine is generic -----------------------------------------------------
    _Spec(
        "guiyuan-lift",
        "HT-YT-01",
        "桂园新村3栋电梯曳引机故障停运",
        "",
        "repair",
        status="ok",
        scope=["3栋"],
        amount=68_000,
        opener="pc",
        definition=LIFT,
        min_idle=4,
        description="3栋电梯曳引机异响后停运，检验机构出具整改意见，不能继续使用。",
    ),
    _Spec(
        "jianan-lift",
        "LS-JN-03",
        "建安新村2栋电梯控制柜及钢丝绳更换",
        "",
        "fund_review",
        status="warned",
        scope=["2栋"],
        amount=54_000,
        definition=LIFT,
        description="控制柜主板损坏，钢丝绳断丝超标，电梯已停用。",
    ),
    _Spec(
        "shiling-lift",
        "SF-XSL-01",
        "石岭雅苑1栋电梯门机故障",
        "",
        "withdrawn",
        at="reported",
        scope=["1栋"],
        definition=LIFT,
        idle=18,
        description="1栋电梯门机故障，开关门异常。",
    ),
]

FIRE_OPEN_STATES = (
    "reported",
    "site_survey",
    "joint_meeting",
    "plan_budget",
    "cost_review",
    "fund_review",
    "advance_payment",
    "rectification",
    "acceptance",
    "settlement",
    "public_notice",
    "supplementary_review",
    "disbursement",
    "warranty",
    "archiving",
)


@dataclass
class _Step:
    gap: int | tuple[str, int]  # working days after the previous step, or ("cal", calendar days)
    label: str
    run: Callable[[datetime], None]


@dataclass
class _Script:
    spec: _Spec
    place: _Place
    steps: list[_Step] = field(default_factory=list)
    entry: int | None = None  # index of the step that entered the state the case stands in
    case_id: int | None = None
    number: str = ""
    times: list[datetime] = field(default_factory=list)

    def add(self, gap: int | tuple[str, int], label: str, run: Callable[[datetime], None]) -> None:
        self.steps.append(_Step(gap, label, run))

    def mark(self) -> None:
        self.entry = len(self.steps) - 1


def _fen(rng: random.Random, lo: Decimal, hi: Decimal) -> Decimal:
    return (Decimal(rng.randint(int(lo * 100), int(hi * 100))) / 100).quantize(FEN)


def _pct(value: Decimal, lo: float, hi: float, rng: random.Random) -> Decimal:
    return (value * Decimal(str(round(rng.uniform(lo, hi), 4)))).quantize(FEN)


def _pdf(lines: list[str]) -> bytes:
    """A tiny valid one-page PDF with ASCII text (a stand-in for a scanned document)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 11 Tf 56 780 Td 16 TL " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        "/Contents 4 0 R >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return out


class _Seeder:
    def __init__(self, svc: Services, now: datetime, rng_seed: int):
        self.svc = svc
        self.now = now
        self.today = local_date(now)
        self.cal = svc.calendar
        self.rng = random.Random(rng_seed)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.places: dict[str, _Place] = {}
        self.office_ids: dict[str, int] = {}
        self.office_pinyin = {o[0]: o[2] for d in DISTRICTS for o in d[4]}
        self.district_info = {d[0]: d for d in DISTRICTS}
        self.fire_notice_no = 0
        self.helpers: list[int] = []
        self.setup_at = now  # set once the cases are scheduled

    # -- plan (pure) ---------------------------------------------------------------------
    def plan_places(self) -> None:
        offices = {o[0]: (o[1], d[0], d[1]) for d in DISTRICTS for o in d[4]}
        for code, office, name, road, n_buildings in COMMUNITIES:
            office_name, district, district_name = offices[office]
            rng = self.rng
            n = n_buildings or rng.randint(2, 8)
            large = code in LARGE_COMMUNITIES
            rate = Decimal(120 if large else rng.choice([80, 90, 100, 100, 110, 120]))  # yuan/m² first deposit
            buildings = [f"{i}栋" for i in range(1, n + 1)]
            rows: list[HouseholdRow] = []
            for b in buildings:
                units = 4 if large else rng.choice([1, 2, 2, 3, 3, 4])
                floors = 6 if units == 4 else rng.choice([6, 7] if units == 1 else [5, 6, 6, 7])  # 12-48 households
                per_floor = 2
                layouts = [Decimal(f"{rng.uniform(45, 140):.2f}") for _ in range(per_floor)]
                for u in range(1, units + 1):
                    for f in range(1, floors + 1):
                        for k in range(per_floor):
                            area = layouts[k]
                            if rng.random() < 0.12:  # altered or merged units
                                area = min(
                                    Decimal("140.00"),
                                    max(Decimal("45.00"), area + Decimal(f"{rng.uniform(-6, 9):.2f}")),
                                )
                            first = (area * rate).quantize(FEN)
                            balance = _pct(first, 0.20, 1.10, rng)
                            owner = f"{rng.choice(SURNAMES)}某某" if rng.random() < 0.6 else None
                            rows.append(HouseholdRow(b, f"{u}单元", f"{f}0{k + 1}", f, area, owner, balance, first))
            address = f"株洲市{district_name}{road}{rng.randint(1, 199)}号"
            self.places[code] = _Place(
                code, name, office, office_name, district, district_name, address, buildings, rows
            )

    def plan_cases(self) -> list[_Script]:
        scripts = []
        for spec in SPECS:
            place = self.places[spec.community]
            sc = _Script(spec, place)
            (self._fire if spec.definition == FIRE else self._lift)(sc)
            scripts.append(sc)
        return scripts

    def g(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    # -- actors --------------------------------------------------------------------------
    def actor(self, who: str, place: _Place) -> User:
        if who == "fc":
            return self.users["fund_center"]
        if who == "so":
            return self._helper(
                f"so_{self.office_pinyin[place.office]}",
                "street_office",
                place.office,
                f"{self.rng_name()}（{place.office_name}办事处）",
            )
        if who == "fr":
            d = self.district_info[place.district]
            return self._helper(f"fr_{d[2]}", "fire_rescue", d[0], f"{self.rng_name()}（{d[1]}消防救援大队）")
        if who in ("oc", "rc", "pc"):
            if place.code == DEMO_COMMUNITY:
                return self.users[{"oc": "oc_guiyuan", "rc": "rc_guiyuan", "pc": "pc_guiyuan"}[who]]
            if who != "oc":
                raise ValueError(f"no {who} user outside the demo community")
            return self._helper(
                f"oc_{place.code.lower().replace('-', '_')}",
                "owners_committee",
                place.code,
                f"{self.rng_name()}（{place.name}业委会）",
            )
        raise ValueError(who)

    def rng_name(self) -> str:
        return f"{self.rng.choice(SURNAMES)}某某"

    def _helper(self, username: str, role: str, org: str, display: str) -> User:
        """A working account the cases need (every street office, fire brigade, owners' committee).

        Created through ``add_user`` without a password; ``run`` then gives all of them one
        Argon2 hash of the (public) demo password: 40 separate hashes would cost ~5 s.
        """
        user = self.users.get(username)
        if user is None:
            user, token = user_uc.add_user(
                self.svc, username=username, display_name=display, role=role, org=org, password=None, now=self.setup_at
            )
            self.users[username], self.tokens[username] = user, token
            self.helpers.append(user.id)
        return user

    def set_helper_passwords(self) -> None:
        shared = hash_password(DEMO_PASSWORD)
        with transaction(self.svc.sessions) as s:
            s.exec(update(User).where(User.id.in_(self.helpers)).values(password_hash=shared))

    # -- step helpers ----------------------------------------------------------------------
    def _doc(self, sc: _Script, gap, who: str, doc_type: str, filename: str) -> None:
        def run(t: datetime) -> None:
            user = self.actor(who, sc.place)
            content = _pdf(
                [
                    "fundflow demo document - not a real file",
                    f"type: {doc_type}",
                    f"case: {sc.number}  community: {sc.place.code}",
                    f"date: {local_date(t).isoformat()}  by: {user.username}",
                ]
            )
            document_uc.attach_document(
                self.svc,
                user,
                sc.case_id,
                doc_type=doc_type,
                filename=filename,
                content_type="application/pdf",
                content=content,
                now=t,
            )

        sc.add(gap, f"attach {doc_type}", run)

    def _fire_t(
        self,
        sc: _Script,
        gap,
        who: str,
        trigger: str,
        data: dict | Callable[[datetime], dict] | None = None,
        comment: str | None = None,
    ) -> None:
        def run(t: datetime) -> None:
            payload = data(t) if callable(data) else (data or {})
            case_uc.fire_transition(
                self.svc, self.actor(who, sc.place), sc.case_id, trigger=trigger, data=payload, comment=comment, now=t
            )

        sc.add(gap, trigger, run)

    def _vote(
        self, sc: _Script, gap, who: str, party: str, attended: bool, vote: str | None, opinion: str | None
    ) -> None:
        def run(t: datetime) -> None:
            meeting_uc.record_vote(
                self.svc,
                self.actor(who, sc.place),
                sc.case_id,
                party=party,
                attended=attended,
                vote=vote,
                opinion=opinion,
                now=t,
            )

        sc.add(gap, f"vote {party}", run)

    def _open(self, sc: _Script, who: str, data: dict) -> None:
        spec = sc.spec

        def run(t: datetime) -> None:
            reply = case_uc.open_case(
                self.svc,
                self.actor(who, sc.place),
                definition=spec.definition,
                community_id=sc.place.id,
                title=spec.title,
                data=data,
                buildings=spec.scope,
                now=t,
            )
            sc.case_id, sc.number = reply.body["id"], reply.body["number"]

        sc.add(0, "open", run)

    # -- the fire procedure ----------------------------------------------------------------
    def _amounts(self, sc: _Script) -> dict[str, Decimal]:
        spec, rng = sc.spec, self.rng
        balance = sc.place.balance(spec.scope)
        if "over_balance" in spec.flags:  # more than the accounts in scope hold: owners must top up
            budget = _pct(balance, 1.12, 1.25, rng)
        else:
            target = Decimal(spec.amount)
            budget = min(_pct(target, 0.97, 1.03, rng), _pct(balance, 0.20, 0.22, rng))
            if target >= 300_000 and budget < 300_000:
                raise ValueError(f"{spec.key}: balance {balance} too small for a CNY 300,000 project")
        estimate = _pct(budget, 0.92, 1.08, rng)
        reviewed = _pct(budget, 0.90, 0.97, rng)
        approved = reviewed
        settled = _pct(approved, 0.95, 1.0, rng)
        advance = Decimal(0)
        if approved > 100_000:
            advance = (approved * Decimal(rng.choice(["0.3", "0.4", "0.5"]))).quantize(FEN, rounding=ROUND_DOWN)
        # the definition's retention share (10%), held back for the warranty
        retention = retention_of(
            settled, self.svc.registry.get(FIRE).transition("disburse", "disbursement").effect.retain
        )
        return {
            "estimate": estimate,
            "budget": budget,
            "reviewed": reviewed,
            "approved": approved,
            "settled": settled,
            "advance": advance,
            "retention": retention,
            "paid": settled - advance - retention,
        }

    def _rect_deadline(self, spec: _Spec, submitted: date) -> date:
        if spec.stop == "rectification":
            if spec.status == "overdue":
                return self.today - timedelta(days=6)
            if spec.status == "warned":
                return self.cal.add_workdays(self.today, 2).date
            return self.today + timedelta(days=35)
        return submitted + timedelta(days=60)

    def _fire(self, sc: _Script) -> None:
        spec, place, rng = sc.spec, sc.place, self.rng
        stop = spec.stop
        label, route, elements = CATEGORIES[spec.category]
        m = self._amounts(sc) if spec.amount or "over_balance" in spec.flags else {}
        who_docs = "pc" if place.code == DEMO_COMMUNITY else "so"  # who prepares plans and settlements
        applicant = "oc" if place.code == DEMO_COMMUNITY else "so"
        money = lambda k: str(m[k])  # noqa: E731

        # 1. report
        self._open(
            sc,
            spec.opener,
            {
                "hazard_category": label,
                "description": spec.description,
                "reported_by": {"so": "街道办事处", "pc": "物业服务企业", "oc": "业主委员会", "rc": "社区居委会"}[
                    spec.opener
                ],
            },
        )
        self._doc(sc, 0, spec.opener, "hazard_photos", "隐患现场照片.pdf")
        if stop == "reported":
            sc.mark()
            return
        # 2. fire authority finding
        if stop == "ordinary_repair":
            self._fire_t(
                sc,
                self.g(2, 4),
                "fr",
                "not_major",
                {
                    "reason": "经现场检查，应急照明损坏数量未达到综合判定要素，可现场整改，不构成重大火灾隐患，"
                    "建议由物业按日常维修程序处理。"
                },
            )
            return
        self.fire_notice_no += 1
        notice_no = (
            f"株{self.district_info[place.district][3]}消隐字〔{self.today.year}〕第{self.fire_notice_no + 40:04d}号"
        )
        self._doc(sc, self.g(1, 3), "fr", "fire_notice", "重大火灾隐患通知书.pdf")
        self._fire_t(
            sc, 0, "fr", "confirm_major", {"notice_no": notice_no, "finding_route": route, "hazard_elements": elements}
        )
        if stop == "site_survey":
            sc.mark()
            return
        # 3. site survey
        self._doc(sc, self.g(1, 2), "so", "site_record", "现场查勘记录.pdf")
        self._fire_t(
            sc,
            0,
            "so",
            "complete_survey",
            lambda t: {
                "survey_date": local_date(t).isoformat(),
                "survey_findings": f"街道会同消防、维资中心、社区、业委会、物业现场查勘：{spec.description}",
            },
        )
        if stop == "joint_meeting":
            sc.mark()
            if "partial_votes" in spec.flags:
                gap = self.g(1, 2)
                self._doc(sc, gap, "so", "sign_in_sheet", "联席会议签到表.pdf")
                self._vote(sc, 0, "so", "street_office", True, "agree", "隐患属实，同意启动维修资金应急使用。")
                self._vote(sc, 0, "fc", "fund_center", True, "agree", "分摊范围内维修资金余额充足，同意。")
                self._vote(sc, 0, "fr", "fire_rescue", True, "agree", "请尽快整改，整改后申请复查。")
            return
        # 4. joint meeting
        rejected_here = stop == "rejected" and spec.at == "joint_meeting"
        self._doc(sc, self.g(2, 4), "so", "sign_in_sheet", "联席会议签到表.pdf")
        self._vote(sc, 0, "so", "street_office", True, "agree", "隐患属实，危及业主安全，同意启动应急使用程序。")
        if rejected_here:
            self._vote(
                sc,
                0,
                "fc",
                "fund_center",
                True,
                "disagree",
                "拓宽通道属改造提升，不属于维修资金应急使用范围，建议按一般程序表决。",
            )
            self._vote(sc, 0, "fr", "fire_rescue", True, "agree", None)
            self._vote(sc, 0, "so", "residents_committee", True, "abstain", "居民意见分歧较大。")
            self._vote(sc, 0, "so", "owners_committee", True, "disagree", "多数业主反对拆除绿化带。")
            self._vote(sc, 0, "so", "property_company", True, "abstain", None)
            self._doc(sc, 0, "so", "meeting_minutes", "联席会议纪要.pdf")
            self._fire_t(
                sc,
                0,
                "so",
                "meeting_reject",
                {
                    "reason": "维资中心及业委会不同意；该项目属改造提升，不属于应急维修范围，请按一般程序经业主表决后实施。"
                },
            )
            return
        self._vote(sc, 0, "fc", "fund_center", True, "agree", "经核查分摊范围内维修资金余额，同意应急使用。")
        self._vote(sc, 0, "fr", "fire_rescue", True, "agree", "请按通知书要求限期整改。")
        self._vote(sc, 0, "so", "residents_committee", True, "agree", None)
        self._vote(
            sc,
            0,
            "so",
            "owners_committee",
            True,
            rng.choice(["agree", "agree", "agree", "abstain"]),
            "同意，请做好费用公示。",
        )
        if rng.random() < 0.8:
            self._vote(sc, 0, "so", "property_company", True, "agree", "物业配合施工。")
        else:
            self._vote(sc, 0, "so", "property_company", False, None, None)
        self._doc(sc, 0, "so", "meeting_minutes", "联席会议纪要.pdf")
        scope_reason = (
            ("本栋自用消防设施，由" + "、".join(spec.scope) + "业主分摊")
            if spec.scope
            else "全体业主共用消防设施，由全体业主分摊"
        )
        self._fire_t(
            sc,
            0,
            "so",
            "meeting_approve",
            {
                "paying_scope": {"buildings": list(spec.scope)} if spec.scope else {"whole_estate": True},
                "scope_reason": scope_reason,
                "budget_estimate": money("estimate"),
                "implementer": "property_company" if rng.random() < 0.7 else "street_office",
            },
        )
        if stop == "plan_budget":
            sc.mark()
            if "plan_started" in spec.flags:
                self._doc(sc, self.g(2, 3), who_docs, "repair_plan", "维修方案（初稿）.pdf")
            return
        if stop == "withdrawn" and spec.at == "plan_budget":
            self._fire_t(
                sc,
                self.g(3, 6),
                "so",
                "withdraw",
                {"reason": "业主大会已表决同意按一般程序使用维修资金，撤回应急使用申请。"},
            )
            return

        # 5. plan and budget, cost review
        def submit(gap: int, budget: Decimal) -> None:
            self._doc(sc, gap, who_docs, "repair_plan", "维修方案.pdf")
            self._doc(sc, 0, who_docs, "budget", "工程预算书.pdf")
            if budget >= 300_000:
                self._doc(sc, 0, who_docs, "safety_assessment", "第三方安全评估报告.pdf")
            self._fire_t(
                sc,
                0,
                who_docs,
                "submit_plan",
                lambda t: {
                    "budget_amount": str(budget),
                    "rectification_deadline": self._rect_deadline(spec, local_date(t)).isoformat(),
                },
            )

        submit(self.g(4, 8), m["budget"])
        if stop == "cost_review":
            sc.mark()
            return
        if "return_plan" in spec.flags:
            self._fire_t(
                sc,
                self.g(2, 3),
                "fc",
                "return_plan",
                {"reason": "报警主机品牌参数与清单不符，部分探测器单价偏高，请核实后重新报送。"},
            )
            submit(self.g(3, 5), _pct(m["budget"], 0.95, 0.98, rng))
        self._doc(sc, self.g(2, 4), "fc", "cost_review_report", "造价审核报告.pdf")
        self._fire_t(sc, 0, "fc", "confirm_cost", {"reviewed_amount": money("reviewed")})
        self._doc(sc, 0, applicant, "application_form", "维修资金应急使用申请表.pdf")
        # 6. fund review
        if stop == "fund_review":
            sc.mark()
            if spec.status == "suspended":
                self._fire_t(
                    sc,
                    self.g(1, 2),
                    "fc",
                    "suspend",
                    {"reason": "分摊范围内维修资金余额不足以支付预算，待业主续交（补足差额）后恢复审核。"},
                )
            return
        if stop == "rejected" and spec.at == "fund_review":
            self._fire_t(
                sc,
                self.g(1, 2),
                "fc",
                "reject",
                {"reason": "经核查，该车库喷淋系统尚在开发建设单位保修期内，应由建设单位负责维修，不予动用维修资金。"},
            )
            return
        if "return_correction" in spec.flags:
            self._fire_t(
                sc,
                self.g(1, 2),
                "fc",
                "return_for_correction",
                {"reason": "申请表缺业委会盖章，分摊范围与联席会议纪要不一致，请补正。"},
            )
            submit(self.g(2, 4), m["budget"])
            self._doc(sc, self.g(1, 2), "fc", "cost_review_report", "造价审核报告（复审）.pdf")  # a new round
            self._fire_t(sc, 0, "fc", "confirm_cost", {"reviewed_amount": money("reviewed")})
            self._doc(sc, 0, applicant, "application_form", "维修资金应急使用申请表（补正）.pdf")
        self._fire_t(
            sc,
            self.g(1, 2),
            "fc",
            "approve",
            {
                "approved_amount": money("approved"),
                "approval_opinion": "材料齐全，分摊范围内分户账余额足额，同意应急使用。",
            },
        )
        if stop == "advance_payment":
            sc.mark()
            return
        # 7. advance payment
        if m["advance"]:
            self._fire_t(
                sc,
                self.g(1, 2),
                "fc",
                "pay_advance",
                lambda t: {"advance_amount": money("advance"), "payment_date": local_date(t).isoformat()},
            )
        else:
            self._fire_t(
                sc, self.g(1, 2), "fc", "skip_advance", None, comment="核准金额未超过10万元，竣工验收后据实拨付。"
            )
        if stop == "rectification":
            sc.mark()
            self._doc(sc, self.g(1, 3), who_docs, "construction_contract", "施工合同.pdf")
            return
        # 8. works
        self._doc(sc, self.g(1, 3), who_docs, "construction_contract", "施工合同.pdf")
        if "suspend_resume" in spec.flags:
            self._fire_t(sc, self.g(3, 5), "so", "suspend", {"reason": "部分业主阻挠施工，街道组织协调期间暂停。"})
            self._fire_t(sc, self.g(4, 7), "so", "resume", {"reason": "经社区协调业主同意施工，恢复办理。"})
        self._fire_t(
            sc, self.g(12, 22), who_docs, "complete_works", lambda t: {"completion_date": local_date(t).isoformat()}
        )
        if "fail_acceptance" in spec.flags:
            self._fire_t(
                sc,
                self.g(1, 3),
                "so",
                "fail_acceptance",
                lambda t: {
                    "reason": "试压时北侧管段仍有渗漏，室外消火栓出水压力不足。",
                    "rectification_deadline": (local_date(t) + timedelta(days=20)).isoformat(),
                },
            )
            self._fire_t(
                sc, self.g(5, 9), who_docs, "complete_works", lambda t: {"completion_date": local_date(t).isoformat()}
            )
        # 9. acceptance
        if stop == "acceptance":
            sc.mark()
        self._doc(sc, self.g(1, 3), "so", "acceptance_report", "竣工验收报告.pdf")
        self._fire_t(sc, 0, "fr", "sign_acceptance", {"opinion": "消防设施运行正常，隐患已消除。"})
        self._fire_t(sc, 0, "so", "sign_acceptance", {"opinion": "同意验收。"})
        self._fire_t(sc, 0, "fc", "sign_acceptance", None)
        if stop == "acceptance":
            return
        self._fire_t(sc, self.g(0, 1), "oc", "sign_acceptance", {"opinion": "业主代表参加验收，同意。"})
        self._fire_t(sc, 0, "so", "pass_acceptance", None)
        if stop == "settlement":
            sc.mark()
            return
        # 10. settlement
        self._doc(sc, self.g(5, 8), who_docs, "settlement_statement", "工程结算书.pdf")
        self._doc(sc, 0, who_docs, "invoices", "发票.pdf")
        if "supplementary" in spec.flags:  # the final account came out above the approval
            over = _pct(m["approved"], 1.04, 1.08, rng)
            self._fire_t(
                sc,
                0,
                who_docs,
                "request_supplementary",
                {"settled_amount": str(over), "reason": "施工中发现消防立管另有两处锈穿，经现场签证增加更换工程量。"},
            )
            if stop == "supplementary_review":
                sc.mark()
                return
            raise ValueError(f"{spec.key}: a supplementary approval is seeded only as an open case")
        self._fire_t(sc, 0, who_docs, "submit_settlement", {"settled_amount": money("settled")})
        # 11. public notice
        self._doc(sc, 0, "so", "notice_text", "费用公示.pdf")
        self._doc(sc, 0, "so", "cost_table", "分户费用分摊表.pdf")
        self._fire_t(sc, 0, "so", "post_notice", {"notice_place": "小区公示栏及各单元入口"})
        self._doc(sc, 0, "so", "notice_photos", "公示张贴照片.pdf")
        if stop == "public_notice":
            sc.mark()
            if "open_objection" in spec.flags:
                self._fire_t(
                    sc,
                    self.g(1, 1),
                    "so",
                    "raise_objection",
                    {"objection": "1栋一楼业主认为不使用水泵房，不应分摊费用。"},
                )
            return
        if "objection" in spec.flags:
            self._fire_t(
                sc,
                self.g(1, 2),
                "rc",
                "raise_objection",
                {"objection": "2栋部分业主对水泵采购单价有疑问，要求公开造价审核意见。"},
            )
            self._fire_t(
                sc,
                self.g(1, 2),
                "so",
                "answer_objection",
                {"answer": "已在公示栏张贴造价审核报告摘要，并由维资中心当面解释审核依据，业主无异议。"},
            )
        self._fire_t(sc, ("cal", 8), "so", "close_notice", None, comment="公示期满，无未答复异议。")
        if stop == "disbursement":
            sc.mark()
            return
        # 12. disbursement
        self._fire_t(
            sc,
            self.g(2, 4),
            "fc",
            "disburse",
            lambda t: {"paid_amount": money("paid"), "payment_date": local_date(t).isoformat()},
        )
        if stop == "warranty":
            sc.mark()
            return
        # 12a. the retention, paid once the one-year warranty is over
        self._fire_t(
            sc,
            ("cal", 367),
            "fc",
            "release_retention",
            lambda t: {"payment_date": local_date(t).isoformat()},
            comment="质保期满，经回访无质量问题，支付质保金。",
        )
        if stop == "archiving":
            sc.mark()
            return
        # 13. archive
        self._fire_t(
            sc,
            self.g(3, 8),
            "so",
            "archive",
            lambda t: {"archive_no": f"ZZWX-{local_date(t).year}-{place.code}-{rng.randint(100, 999)}"},
        )

    # -- the lift procedure ----------------------------------------------------------------
    def _lift(self, sc: _Script) -> None:
        spec, rng = sc.spec, self.rng
        stop = spec.stop
        self._open(sc, spec.opener, {"fault": spec.description})
        self._doc(sc, 0, spec.opener, "fault_photos", "电梯故障照片.pdf")
        self._doc(sc, self.g(1, 2), spec.opener, "inspection_report", "特种设备检验报告.pdf")
        if stop == "withdrawn" and spec.at == "reported":
            self._fire_t(sc, self.g(1, 2), "so", "withdraw", {"reason": "维保单位保修范围内免费修复，撤回应急申请。"})
            return
        # a lift serves one block: its owners' accounts alone must cover the quote
        quote = min(_pct(Decimal(spec.amount), 0.97, 1.03, rng), _pct(sc.place.balance(spec.scope), 0.45, 0.5, rng))
        self._fire_t(
            sc, self.g(1, 2), "so", "confirm_fault", {"fault_description": spec.description, "quote_amount": str(quote)}
        )
        self._doc(sc, 0, "pc" if sc.place.code == DEMO_COMMUNITY else "so", "repair_quote", "维修报价单.pdf")
        if stop == "fund_review":
            sc.mark()
            return
        self._fire_t(
            sc,
            self.g(2, 4),
            "fc",
            "approve",
            {"approved_amount": str(quote), "repair_deadline": (self.today + timedelta(days=20)).isoformat()},
        )
        sc.mark()  # repair

    # -- schedule: backwards from now ------------------------------------------------------
    def _back(self, d: date, gap: int | tuple[str, int]) -> date:
        if isinstance(gap, tuple):
            x = d - timedelta(days=gap[1])
            while not self.cal.is_workday(x):
                x -= timedelta(days=1)
            return x
        return self.cal.add_workdays(d, -gap).date if gap else d

    def _dates(self, sc: _Script, last: date) -> list[date]:
        dates = [last] * len(sc.steps)
        for i in range(len(sc.steps) - 1, 0, -1):
            dates[i - 1] = self._back(dates[i], sc.steps[i].gap)
        return dates

    def _status(self, sc: _Script, entry: date) -> str:
        d = self.svc.registry.get(sc.spec.definition)
        rule = d.states[sc.spec.stop].deadline
        data = {}
        if rule is not None and rule.date_field == "rectification_deadline":
            data["rectification_deadline"] = self._rect_deadline(sc.spec, entry).isoformat()
        elif rule is not None and rule.date_field == "repair_deadline":
            data["repair_deadline"] = (self.today + timedelta(days=20)).isoformat()
        dl = compute_deadlines(rule, datetime.combine(entry, time(10), SHANGHAI), self.cal, data)
        if dl is None:
            return "ok"
        if dl.due_at <= self.now:
            return "overdue"
        if dl.warn_at is not None and dl.warn_at <= self.now:
            return "warned"
        return "ok"

    def schedule(self, sc: _Script) -> None:
        spec = sc.spec
        terminal = sc.entry is None
        if terminal:
            dates = self._dates(sc, self.cal.add_workdays(self.today, -spec.idle).date)
        else:
            want = "ok" if spec.status == "suspended" else spec.status
            extra = self.g(2, 5) if want == "overdue" else 0
            # A one-working-day warning starts on the due date itself, so on a weekend or a
            # holiday no case can be "warned" in such a stage, and during a long holiday a
            # calendar-day stage may be warned at once: then the next best status will do.
            k = max(1, spec.min_idle)
            for wanted in (want, "ok", "warned"):
                found = next(
                    (
                        k
                        for k in range(max(1, spec.min_idle), 200)
                        if spec.status == "suspended"
                        or self._status(sc, self._dates(sc, self.cal.add_workdays(self.today, -k).date)[sc.entry])
                        == wanted
                    ),
                    None,
                )
                if found is not None:
                    k = found
                    break
            dates = self._dates(sc, self.cal.add_workdays(self.today, -k).date)
            if extra:
                dates = self._dates(sc, self.cal.add_workdays(self.today, -(k + extra)).date)
        times: list[datetime] = []
        for d in dates:
            if times and local_date(times[-1]) == d:
                t = times[-1] + timedelta(minutes=self.rng.randint(3, 16), seconds=self.rng.randint(0, 59))
            else:
                start = time(8, 40) if self.rng.random() < 0.5 else time(14, 30)
                t = datetime.combine(d, start, SHANGHAI) + timedelta(minutes=self.rng.randint(0, 55))
            times.append(t)
        assert all(a < b for a, b in zip(times, times[1:])) and times[-1] < self.now, spec.key
        sc.times = times

    # -- write -------------------------------------------------------------------------
    def insert_places(self) -> None:
        with transaction(self.svc.sessions) as s:
            for code, name, _pinyin, _abbr, offices in DISTRICTS:
                district = District(code=code, name=name)
                s.add(district)
                s.flush()
                for ocode, oname, _opinyin in offices:
                    office = StreetOffice(district_id=district.id, code=ocode, name=oname)
                    s.add(office)
                    s.flush()
                    self.office_ids[ocode] = office.id

    def insert_users(self) -> None:
        for role, username, display, org in DEMO_USERS:
            if org is not None and role in ("residents_committee", "owners_committee", "property_company"):
                continue  # after the communities exist
            user, token = user_uc.add_user(
                self.svc,
                username=username,
                display_name=display,
                role=role,
                org=org,
                password=DEMO_PASSWORD,
                now=self.setup_at,
            )
            self.users[username], self.tokens[username] = user, token

    def insert_communities(self) -> None:
        admin = self.users["admin"]
        for place in self.places.values():
            view = community_uc.create_community(
                self.svc,
                admin,
                name=place.name,
                street_office_id=self.office_ids[place.office],
                address=place.address,
                buildings=place.buildings,
                code=place.code,
                now=self.setup_at,
            )
            place.id = view["id"]
            community_uc.import_households(self.svc, admin, place.id, place.rows, now=self.setup_at)
        for role, username, display, org in DEMO_USERS:
            if username not in self.users:
                user, token = user_uc.add_user(
                    self.svc,
                    username=username,
                    display_name=display,
                    role=role,
                    org=org,
                    password=DEMO_PASSWORD,
                    now=self.setup_at,
                )
                self.users[username], self.tokens[username] = user, token

    def play(self, sc: _Script) -> None:
        for step, t in zip(sc.steps, sc.times):
            try:
                step.run(t)
            except Exception as exc:
                raise RuntimeError(
                    f"seed: case {sc.spec.key} ({sc.number or 'not opened'}), step "
                    f"{step.label} at {t.isoformat()}: {exc}"
                ) from exc

    def run(self) -> None:
        self.plan_places()
        scripts = self.plan_cases()
        for sc in scripts:
            self.schedule(sc)
        first = min(sc.times[0] for sc in scripts)
        self.setup_at = datetime.combine(local_date(first) - timedelta(days=30), time(9, 0), SHANGHAI)
        self.insert_places()
        self.insert_users()
        self.insert_communities()
        # the street office users of every office, the fire rescue of every district
        for place in self.places.values():
            self.actor("so", place)
            self.actor("fr", place)
        for sc in scripts:
            self.play(sc)
        self.set_helper_passwords()

    def demo_rows(self) -> list[Row]:
        rows = []
        for _role, username, _display, _org in DEMO_USERS:
            u = self.users[username]
            rows.append((u.role, u.username, u.display_name, u.org_name, self.tokens[username]))
        return rows
