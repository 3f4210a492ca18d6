"""The cases of the demo city: each a story walked through the use cases (``open_case``,
``attach_document``, ``record_vote``, ``fire_transition``) as the users whose job each step is,
up to the stage it stands in now.

``SPECS`` says where each case stands (its stage, whether it is warned, overdue or suspended,
its detours); ``StoryTeller`` turns a spec into a ``Script`` of steps, each with the working
days since the previous one. The attached documents are short plain-text stand-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from fundflow.domain.ledger import retention_of
from fundflow.domain.tz import local_date
from fundflow.service.seed.city import DEMO_COMMUNITY, FEN, Place, pct
from fundflow.service.usecases import cases as case_uc
from fundflow.service.usecases import documents as document_uc
from fundflow.service.usecases import meetings as meeting_uc
from fundflow.service.usecases import objections as objection_uc

FIRE = "fire_hazard_emergency"
LIFT = "lift_fault_emergency"
DOCUMENT_TYPE = "text/plain; charset=utf-8"


def demo_document(title: str, *, case: str, community: str, day: date, by: str) -> bytes:
    """A stand-in for a scanned document: what it is, for which case, when and by whom."""
    lines = [
        "fundflow 演示材料（虚构，非真实文件）",
        f"材料：{title}",
        f"案件：{case}",
        f"小区：{community}",
        f"日期：{day.isoformat()}",
        f"上传：{by}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass
class Spec:
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

SPECS: list[Spec] = [
    # -- 13 archived: the guideline's "finished in 13" ------------------------------------
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
        "dongli-sprinkler",
        "LS-QY-01",
        "东篱苑地下车库自动喷水灭火系统修复",
        "sprinkler",
        "archived",
        amount=328_000,
        idle=12,
        description="地下车库喷淋系统报警阀组损坏，管网无压，末端试水无水。",
    ),
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
        "checheng-alarm",
        "SF-TX-01",
        "车城新村火灾自动报警主机及探测器更换",
        "alarm",
        "archived",
        amount=118_000,
        idle=8,
        description="报警主机主板损坏，探测器误报频繁后被整体断电。",
    ),
    Spec(
        "songjing-tank",
        "TY-SSL-01",
        "嵩景苑高位消防水箱修复",
        "tank",
        "archived",
        amount=54_000,
        idle=85,
        description="屋顶高位消防水箱锈蚀开裂无水，稳压泵损坏。",
    ),
    Spec(
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
    Spec(
        "fenglin-reported",
        "HT-YT-02",
        "枫林小区消防车通道被占用、室外消火栓损坏",
        "lane",
        "reported",
        status="ok",
        description="小区主干道被私家车长期占用，消防车无法进入；2处室外消火栓阀门锈死。",
    ),
    Spec(
        "hepan-reported",
        "TY-MJH-01",
        "河畔新村火灾自动报警系统停用",
        "alarm",
        "reported",
        status="overdue",
        min_idle=2,
        description="报警主机断电停用一年以上，物业称无维修资金。",
    ),
    Spec(
        "heping-survey",
        "HT-CGT-02",
        "和平新村消防水泵损坏",
        "pump",
        "site_survey",
        status="overdue",
        amount=88_000,
        description="消火栓泵电机烧毁，泵房积水。",
    ),
    Spec(
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
    Spec(
        "qingyuan-wiring",
        "SF-QST-01",
        "清源新村地下配电室防火分隔及消防电源整改",
        "wiring",
        "joint_meeting",
        status="overdue",
        amount=67_000,
        description="地下配电室防火墙开洞、电缆桥架未封堵，消防电源无双回路。",
    ),
    Spec(
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
    Spec(
        "mingzhu-review",
        "HT-GH-02",
        "明珠小区室内消火栓系统修复",
        "hydrant",
        "cost_review",
        status="ok",
        amount=72_000,
        description="消火栓立管锈蚀，高区消火栓无水。",
    ),
    Spec(
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
    Spec(
        "changqing-tank",
        "LS-JN-01",
        "长青小区高位消防水箱及稳压设施修复",
        "tank",
        "fund_review",
        status="warned",
        amount=58_000,
        description="屋顶消防水箱漏水，稳压泵不能自动启动。",
    ),
    Spec(
        "guidao-advance",
        "SF-TX-02",
        "轨道花园消防水泵及控制柜更换",
        "pump",
        "advance_payment",
        status="ok",
        amount=142_000,
        description="两台消防泵老化不能启动，控制柜元件烧毁。",
    ),
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
        "jianan-disbursement",
        "LS-JN-03",
        "建安新村消防车通道整治",
        "lane",
        "disbursement",
        status="ok",
        amount=52_000,
        description="消防车通道被地锁、花坛占用。",
    ),
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
        "yehua-diverted",
        "SF-QST-02",
        "冶化新村部分楼道应急照明损坏",
        "lights",
        "ordinary_repair",
        idle=65,
        description="个别楼道应急灯不亮，疏散指示标志缺失。",
    ),
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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
    Spec(
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


@dataclass
class Step:
    gap: int | tuple[str, int]  # working days after the previous step, or ("cal", calendar days)
    label: str
    run: Callable[[datetime], None]


@dataclass
class Script:
    spec: Spec
    place: Place
    steps: list[Step] = field(default_factory=list)
    entry: int | None = None  # index of the step that entered the state the case stands in
    case_id: int | None = None
    number: str = ""
    times: list[datetime] = field(default_factory=list)

    def add(self, gap: int | tuple[str, int], label: str, run: Callable[[datetime], None]) -> None:
        self.steps.append(Step(gap, label, run))

    def mark(self) -> None:
        self.entry = len(self.steps) - 1


class StoryTeller:
    """The cases as scripts, and playing them (a part of ``fundflow.service.seed._Seeder``)."""

    def plan_cases(self) -> list[Script]:
        scripts = []
        for spec in SPECS:
            place = self.places[spec.community]
            sc = Script(spec, place)
            (self._fire if spec.definition == FIRE else self._lift)(sc)
            scripts.append(sc)
        return scripts

    def g(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    # -- step helpers ----------------------------------------------------------------------
    def _doc(self, sc: Script, gap, who: str, doc_type: str, filename: str) -> None:
        def run(t: datetime) -> None:
            user = self.actor(who, sc.place)
            content = demo_document(
                self.svc.registry.get(sc.spec.definition).documents.get(doc_type, doc_type),
                case=sc.number,
                community=f"{sc.place.name}（{sc.place.code}）",
                day=local_date(t),
                by=user.display_name,
            )
            document_uc.attach_document(
                self.svc,
                user,
                sc.case_id,
                doc_type=doc_type,
                filename=filename,
                content_type=DOCUMENT_TYPE,
                content=content,
                now=t,
            )

        sc.add(gap, f"attach {doc_type}", run)

    def _fire_t(
        self,
        sc: Script,
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

    def _objection(self, sc: Script, gap, who: str, owner: str, room: str, text: str) -> None:
        """An owner's objection to the notice, recorded as a record (issue 11b)."""

        def run(t: datetime) -> None:
            objection_uc.raise_objection(
                self.svc, self.actor(who, sc.place), sc.case_id, owner_name=owner, room=room, text=text, now=t
            )

        sc.add(gap, "objection", run)

    def _answer_objection(self, sc: Script, gap, who: str, answer: str) -> None:
        """The answer to the case's (first) open objection record."""

        def run(t: datetime) -> None:
            with self.svc.sessions() as s:
                (first,) = [
                    o for o in objection_uc.objections_of(s, _case_row(s, sc.case_id)) if o["status"] == "open"
                ][:1]
            objection_uc.answer_objection(
                self.svc, self.actor(who, sc.place), sc.case_id, first["id"], answer=answer, now=t
            )

        sc.add(gap, "answer objection", run)

    def _vote(
        self, sc: Script, gap, who: str, party: str, attended: bool, vote: str | None, opinion: str | None
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

    def _open(self, sc: Script, who: str, data: dict) -> None:
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
    def _amounts(self, sc: Script) -> dict[str, Decimal]:
        spec, rng = sc.spec, self.rng
        balance = sc.place.balance(spec.scope)
        if "over_balance" in spec.flags:  # more than the accounts in scope hold: owners must top up
            budget = pct(balance, 1.12, 1.25, rng)
        else:
            target = Decimal(spec.amount)
            budget = min(pct(target, 0.97, 1.03, rng), pct(balance, 0.20, 0.22, rng))
            if target >= 300_000 and budget < 300_000:
                raise ValueError(f"{spec.key}: balance {balance} too small for a CNY 300,000 project")
        estimate = pct(budget, 0.92, 1.08, rng)
        reviewed = pct(budget, 0.90, 0.97, rng)
        approved = reviewed
        settled = pct(approved, 0.95, 1.0, rng)
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

    def _rect_deadline(self, spec: Spec, submitted: date) -> date:
        if spec.stop == "rectification":
            if spec.status == "overdue":
                return self.today - timedelta(days=6)
            if spec.status == "warned":
                return self.cal.add_workdays(self.today, 2).date
            return self.today + timedelta(days=35)
        return submitted + timedelta(days=60)

    def _fire(self, sc: Script) -> None:
        spec, place, rng = sc.spec, sc.place, self.rng
        stop = spec.stop
        label, route, elements = CATEGORIES[spec.category]
        m = self._amounts(sc) if spec.amount or "over_balance" in spec.flags else {}
        who_docs = "pc" if place.code == DEMO_COMMUNITY else "so"  # who prepares plans and settlements
        applicant = "oc" if place.code == DEMO_COMMUNITY else "so"

        def money(key: str) -> str:
            return str(m[key])

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
        self._doc(sc, 0, spec.opener, "hazard_photos", "隐患现场照片.txt")
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
        self._doc(sc, self.g(1, 3), "fr", "fire_notice", "重大火灾隐患通知书.txt")
        self._fire_t(
            sc, 0, "fr", "confirm_major", {"notice_no": notice_no, "finding_route": route, "hazard_elements": elements}
        )
        if stop == "site_survey":
            sc.mark()
            return
        # 3. site survey
        self._doc(sc, self.g(1, 2), "so", "site_record", "现场查勘记录.txt")
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
                self._doc(sc, gap, "so", "sign_in_sheet", "联席会议签到表.txt")
                self._vote(sc, 0, "so", "street_office", True, "agree", "隐患属实，同意启动维修资金应急使用。")
                self._vote(sc, 0, "fc", "fund_center", True, "agree", "分摊范围内维修资金余额充足，同意。")
                self._vote(sc, 0, "fr", "fire_rescue", True, "agree", "请尽快整改，整改后申请复查。")
            return
        # 4. joint meeting
        rejected_here = stop == "rejected" and spec.at == "joint_meeting"
        self._doc(sc, self.g(2, 4), "so", "sign_in_sheet", "联席会议签到表.txt")
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
            self._doc(sc, 0, "so", "meeting_minutes", "联席会议纪要.txt")
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
        self._doc(sc, 0, "so", "meeting_minutes", "联席会议纪要.txt")
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
                self._doc(sc, self.g(2, 3), who_docs, "repair_plan", "维修方案（初稿）.txt")
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
            self._doc(sc, gap, who_docs, "repair_plan", "维修方案.txt")
            self._doc(sc, 0, who_docs, "budget", "工程预算书.txt")
            if budget >= 300_000:
                self._doc(sc, 0, who_docs, "safety_assessment", "第三方安全评估报告.txt")
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
            submit(self.g(3, 5), pct(m["budget"], 0.95, 0.98, rng))
        self._doc(sc, self.g(2, 4), "fc", "cost_review_report", "造价审核报告.txt")
        self._fire_t(sc, 0, "fc", "confirm_cost", {"reviewed_amount": money("reviewed")})
        self._doc(sc, 0, applicant, "application_form", "维修资金应急使用申请表.txt")
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
            self._doc(sc, self.g(1, 2), "fc", "cost_review_report", "造价审核报告（复审）.txt")  # a new round
            self._fire_t(sc, 0, "fc", "confirm_cost", {"reviewed_amount": money("reviewed")})
            self._doc(sc, 0, applicant, "application_form", "维修资金应急使用申请表（补正）.txt")
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
            self._doc(sc, self.g(1, 3), who_docs, "construction_contract", "施工合同.txt")
            return
        # 8. works
        self._doc(sc, self.g(1, 3), who_docs, "construction_contract", "施工合同.txt")
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
        self._doc(sc, self.g(1, 3), "so", "acceptance_report", "竣工验收报告.txt")
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
        self._doc(sc, self.g(5, 8), who_docs, "settlement_statement", "工程结算书.txt")
        self._doc(sc, 0, who_docs, "invoices", "发票.txt")
        if "supplementary" in spec.flags:  # the final account came out above the approval
            over = pct(m["approved"], 1.04, 1.08, rng)
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
        self._doc(sc, 0, "so", "notice_text", "费用公示.txt")
        self._doc(sc, 0, "so", "cost_table", "分户费用分摊表.txt")
        self._fire_t(sc, 0, "so", "post_notice", {"notice_place": "小区公示栏及各单元入口"})
        self._doc(sc, 0, "so", "notice_photos", "公示张贴照片.txt")
        if stop == "public_notice":
            sc.mark()
            if "open_objection" in spec.flags:
                self._objection(
                    sc, self.g(1, 1), "so", "王建国", "1栋1单元101", "1栋一楼业主认为不使用水泵房，不应分摊费用。"
                )
            return
        if "objection" in spec.flags:
            self._objection(
                sc,
                self.g(1, 2),
                "rc",
                "刘秀英",
                "2栋2单元301",
                "2栋部分业主对水泵采购单价有疑问，要求公开造价审核意见。",
            )
            self._answer_objection(
                sc, self.g(1, 2), "so", "已在公示栏张贴造价审核报告摘要，并由维资中心当面解释审核依据，业主无异议。"
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
    def _lift(self, sc: Script) -> None:
        spec, rng = sc.spec, self.rng
        stop = spec.stop
        self._open(sc, spec.opener, {"fault": spec.description})
        self._doc(sc, 0, spec.opener, "fault_photos", "电梯故障照片.txt")
        self._doc(sc, self.g(1, 2), spec.opener, "inspection_report", "特种设备检验报告.txt")
        if stop == "withdrawn" and spec.at == "reported":
            self._fire_t(sc, self.g(1, 2), "so", "withdraw", {"reason": "维保单位保修范围内免费修复，撤回应急申请。"})
            return
        # a lift serves one block: its owners' accounts alone must cover the quote
        quote = min(pct(Decimal(spec.amount), 0.97, 1.03, rng), pct(sc.place.balance(spec.scope), 0.45, 0.5, rng))
        self._fire_t(
            sc, self.g(1, 2), "so", "confirm_fault", {"fault_description": spec.description, "quote_amount": str(quote)}
        )
        self._doc(sc, 0, "pc" if sc.place.code == DEMO_COMMUNITY else "so", "repair_quote", "维修报价单.txt")
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

    def play(self, sc: Script) -> None:
        for step, t in zip(sc.steps, sc.times):
            try:
                step.run(t)
            except Exception as exc:
                raise RuntimeError(
                    f"seed: case {sc.spec.key} ({sc.number or 'not opened'}), step "
                    f"{step.label} at {t.isoformat()}: {exc}"
                ) from exc

    # --- tasks and supervision (issue 11a) ---

    def supervise(self) -> None:
        """The 督办 of the demo city: the scan the scheduler would run first records the
        escalations due by now; the housing bureau then issues a 督办 on the first escalated
        stage (left open, waiting for the responsible party's reply) and on the second one
        (replied and closed), so that the bureau's and the parties' tasklists and the
        dashboard's 督办 figures are not empty."""
        from sqlmodel import select

        from fundflow.service.db import read_only
        from fundflow.service.tables import Alert, Stage
        from fundflow.service.usecases import alerts as alert_uc
        from fundflow.service.usecases import supervision as supervision_uc

        alert_uc.scan(self.svc, self.now)
        bureau = self.users["housing_bureau"]
        with read_only(self.svc.sessions) as s:
            stages = list(
                s.exec(
                    select(Stage.case_id)
                    .join(Alert, Alert.stage_id == Stage.id)
                    .where(
                        Stage.left_at.is_(None),
                        Alert.kind == "escalation",
                        Alert.recipients.like(f"%,{bureau.role},%"),
                    )
                    .group_by(Stage.case_id)
                    .order_by(Stage.case_id)
                )
            )
        hour = timedelta(hours=1)  # each act of a case strictly after the one before, none after now
        content = "该环节已超期，请于期限内办结并反馈办理进展；确有困难的，说明原因和计划完成时间。"
        for n, case_id in enumerate(stages[:2]):
            sup = supervision_uc.issue_supervision(
                self.svc, bureau, case_id, content=content, reply_working_days=3, now=self.now - 3 * hour
            )
            if n == 1:
                party = self._party_user(sup["to_role"], case_id)
                if party is None:
                    continue
                supervision_uc.reply_supervision(
                    self.svc, party, sup["id"], reply="已召集相关单位现场协调，本周内完成。", now=self.now - 2 * hour
                )
                supervision_uc.close_supervision(
                    self.svc, bureau, sup["id"], note="已反馈，同意销号。", now=self.now - hour
                )

    def _party_user(self, role: str, case_id: int):
        """A user of ``role`` who sees the case (the demo's users, then the helpers)."""
        from fundflow.service.db import read_only
        from fundflow.service.jurisdiction import can_see_case
        from fundflow.service.tables import Case

        with read_only(self.svc.sessions) as s:
            case = s.get(Case, case_id)
            return next((u for u in self.users.values() if u.role == role and can_see_case(u, case)), None)


def _case_row(s, case_id: int):
    from fundflow.service.tables import Case

    return s.get(Case, case_id)
