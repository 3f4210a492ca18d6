"""The opinion loop's parties in a test world: departments and the opinion center as
organisations, and a user of each (tokens in ``world.tokens``), made through the use cases."""

from __future__ import annotations

from datetime import datetime

from fundflow.service.usecases import organisations, users

#: name -> (kind, code, organisation name)
ORGANISATIONS = {
    "center": ("opinion_center", "MY-ZX", "市民意收集办理中心"),
    "edu": ("department", "JYJ", "市教育局"),
    "housing": ("department", "ZJJ", "市住房和城乡建设局"),
    "traffic": ("department", "JTJ", "市交通运输局"),
}

#: user name -> (role, organisation name key or None for city)
OPINION_USERS = {
    "reg": ("registrar", "center"),
    "edu": ("department", "edu"),
    "housing": ("department", "housing"),
    "traffic": ("department", "traffic"),
    "duban": ("supervision_office", None),
}


def add_opinion_parties(world, now: datetime, password: str | None = None) -> dict[str, int]:
    """Adds the organisations and users; returns organisation name key -> id (also in world.ids
    as ``org_<key>``)."""
    orgs = {}
    for key, (kind, code, name) in ORGANISATIONS.items():
        orgs[key] = organisations.add_organisation(world.svc, kind=kind, code=code, name=name, now=now)["id"]
        world.ids[f"org_{key}"] = orgs[key]
    for username, (role, org) in OPINION_USERS.items():
        user, world.tokens[username] = users.add_user(
            world.svc,
            username=username,
            display_name=username,
            role=role,
            org=ORGANISATIONS[org][1] if org else None,
            password=password,
            now=now,
        )
        world.ids[f"user_{username}"] = user.id
    return orgs


OPINION = {
    "definition": "public_opinion",
    "title": "学校门口上下学时段交通拥堵",
    "subject": {"name": "李女士", "phone": "13807330001", "address": "荷塘区新华路小学旁"},
    "data": {"source": "echo_wall", "hazard_category": "教育", "description": "放学时段车辆乱停，学生通行不安全"},
}
