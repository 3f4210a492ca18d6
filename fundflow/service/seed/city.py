"""The demo city: Zhuzhou's four urban districts and their street offices (real), 30 fictional
old residential communities with their buildings and households, and the users who work in it.

``CityBuilder`` is the part of the seeder that plans the places and the households (pure, from
the random generator) and writes them, and the users, through the use cases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import update

from fundflow.service.auth import hash_password
from fundflow.service.db import transaction
from fundflow.service.household_import import HouseholdRow
from fundflow.service.tables import District, StreetOffice, User
from fundflow.service.usecases import communities as community_uc
from fundflow.service.usecases import users as user_uc

DEMO_PASSWORD = "fundflow-demo"
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


@dataclass
class Place:
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


def pct(value: Decimal, lo: float, hi: float, rng: random.Random) -> Decimal:
    return (value * Decimal(str(round(rng.uniform(lo, hi), 4)))).quantize(FEN)


class CityBuilder:
    """Places, households and users (a part of ``fundflow.service.seed._Seeder``)."""

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
                            balance = pct(first, 0.20, 1.10, rng)
                            owner = f"{rng.choice(SURNAMES)}某某" if rng.random() < 0.6 else None
                            rows.append(HouseholdRow(b, f"{u}单元", f"{f}0{k + 1}", f, area, owner, balance, first))
            address = f"株洲市{district_name}{road}{rng.randint(1, 199)}号"
            self.places[code] = Place(
                code, name, office, office_name, district, district_name, address, buildings, rows
            )

    # -- actors --------------------------------------------------------------------------
    def actor(self, who: str, place: Place) -> User:
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
        """An account of the demo (a named demo user, or a working account the cases need: every
        street office, fire brigade, owners' committee); the existing one if already made.

        Created through ``add_user`` without a password; ``run`` then gives all of them (and the
        named demo users) one Argon2 hash of the (public) demo password: 50 separate hashes would
        cost ~20 s.
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
            self._helper(username, role, org, display)  # the shared hash of the demo password, later

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
            self._helper(username, role, org, display)  # the communities' users, now that they exist
