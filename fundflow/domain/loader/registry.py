"""All loaded definitions by (id, version); and what they declare across procedures (the
organisation level of each role)."""

from __future__ import annotations

from collections.abc import Iterable

from fundflow.domain.definition import Definition
from fundflow.domain.errors import DefinitionError, Problem, UnknownDefinition
from fundflow.domain.migration import Migration


class DefinitionRegistry:
    """All loaded definitions by (id, version), and the migrations between versions. Immutable
    once built.

    New cases take a procedure's *current* version (``get(id)``): the newest one not declared
    ``current: false`` in its file, unless ``current`` names the version (the setting
    ``FUNDFLOW_CURRENT_VERSIONS``). Running cases stay on theirs until migrated."""

    def __init__(
        self,
        definitions: Iterable[Definition] = (),
        *,
        migrations: Iterable[Migration] = (),
        current: dict[str, int] | None = None,
    ):
        self._by_key: dict[tuple[str, int], Definition] = {}
        for d in definitions:
            if d.key in self._by_key:
                raise DefinitionError(
                    [
                        Problem(
                            d.source, "version", f"{d.id} v{d.version} is also defined in {self._by_key[d.key].source}"
                        )
                    ]
                )
            self._by_key[d.key] = d
        self._kinds = self._organisation_kinds()  # first: a kind's level decides its roles' levels
        self._levels = self._role_levels()
        self._migrations = {m.key: m for m in migrations}
        self._current: dict[str, int] = {}
        for i in {i for i, _ in self._by_key}:
            versions = sorted(v for (j, v) in self._by_key if j == i)
            offered = [v for v in versions if self._by_key[(i, v)].current]
            self._current[i] = (offered or versions)[-1]
        for i, v in (current or {}).items():
            if (i, v) not in self._by_key:
                known = tuple(sorted(x for (j, x) in self._by_key if j == i))
                raise UnknownDefinition(i, v, self.ids(), known)
            self._current[i] = v

    def current_version(self, definition_id: str) -> int:
        """The version new cases of ``definition_id`` take."""
        if definition_id not in self._current:
            raise UnknownDefinition(definition_id, None, self.ids())
        return self._current[definition_id]

    def versions(self, definition_id: str) -> tuple[int, ...]:
        return tuple(sorted(v for (i, v) in self._by_key if i == definition_id))

    def migration(self, definition_id: str, from_version: int, to_version: int) -> Migration | None:
        """The declared migration from one version to another, or None."""
        return self._migrations.get((definition_id, from_version, to_version))

    def migrations(self) -> list[Migration]:
        return [self._migrations[k] for k in sorted(self._migrations)]

    def _role_levels(self) -> dict[str, str]:
        """Role -> organisation level, as the definitions declare it; two procedures that give one
        role two levels are an error (a user holds one role, at one level)."""
        levels: dict[str, tuple[str, Definition]] = {}
        for d in sorted(self._by_key.values(), key=lambda d: d.key):
            for role in d.roles.values():
                if role.level is None:
                    continue
                seen = levels.get(role.id)
                if seen is not None and seen[0] != role.level:
                    raise DefinitionError(
                        [
                            Problem(
                                d.source,
                                f"roles.{role.id}.level",
                                f"'{role.level}', but {seen[1].source} declares '{seen[0]}' for this role",
                            )
                        ]
                    )
                levels[role.id] = (role.level, d)
        return {r: level for r, (level, _) in levels.items()}

    def role_level(self, role: str) -> str | None:
        """The organisation level of a role's users (``roles: {id: {level: ...}}``); None when no
        definition declares one."""
        return self._levels.get(role)

    def role_levels(self) -> dict[str, str]:
        return dict(self._levels)

    def role_kind(self, role: str) -> str | None:
        """The organisation kind of a role's users (``roles: {id: {kind: ...}}``); None for a
        territorial role (a district, street office, community or the city)."""
        for d in self._by_key.values():
            r = d.roles.get(role)
            if r is not None and r.kind is not None:
                return r.kind
        return None

    def _organisation_kinds(self) -> dict:
        """Kind id -> OrganisationKind over every definition; two that let one kind see differently
        are an error (its users would see differently by procedure)."""
        out: dict = {}
        for d in sorted(self._by_key.values(), key=lambda d: d.key):
            for k, kind in d.organisation_kinds.items():
                seen = out.get(k)
                if seen is not None and seen[0].sees != kind.sees:
                    raise DefinitionError(
                        [
                            Problem(
                                d.source,
                                f"organisations.{k}.sees",
                                f"'{kind.sees}', but {seen[1].source} declares '{seen[0].sees}' for this kind",
                            )
                        ]
                    )
                out.setdefault(k, (kind, d))
        return {k: kind for k, (kind, _) in out.items()}

    def organisation_kinds(self) -> dict:
        """Kind id -> OrganisationKind, over every definition (the first declaring a kind names it)."""
        return dict(self._kinds)

    def get(self, definition_id: str, version: int | None = None) -> Definition:
        if version is None:
            version = self.current_version(definition_id)
        try:
            return self._by_key[(definition_id, version)]
        except KeyError:
            versions = tuple(sorted(v for (i, v) in self._by_key if i == definition_id))
            raise UnknownDefinition(definition_id, version, self.ids(), versions) from None

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted({i for i, _ in self._by_key}))

    def latest(self) -> list[Definition]:
        """Each procedure in the version new cases take."""
        return [self.get(i) for i in self.ids()]

    def __iter__(self):
        return iter(sorted(self._by_key.values(), key=lambda d: d.key))

    def __len__(self) -> int:
        return len(self._by_key)
