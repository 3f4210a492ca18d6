"""Backup and restore of the database and the uploaded documents.

A backup is a directory::

    PATH/
      database.sqlite3   (SQLite: an online copy made with SQLite's backup API, WAL included)
      database.dump      (PostgreSQL: ``pg_dump --format=custom`` of the configured database/schema)
      documents/...      (a copy of ``settings.documents_dir``)
      manifest.json      (time UTC, database kind, migration revision, counts, sha256 of every file)

Consistency: the database is copied first, as of one moment (SQLite's backup API holds a read
snapshot; on PostgreSQL the counts are taken in a REPEATABLE READ transaction whose snapshot
``pg_dump --snapshot`` shares), and the documents after it. A document file is written before
the row that names it commits and is never deleted, so every document the copied database
names is in the copied folder; the backup checks this and fails otherwise.

Restore refuses a non-empty target unless ``force``; verifies every file against the
manifest before touching anything; on PostgreSQL runs ``pg_restore --clean --if-exists
--no-owner --single-transaction`` (all or nothing); then puts the documents back (the
documents that were there are moved aside, never deleted), checks the migration revision,
the counts, every document's sha256, and the audit chains.

Expected failures raise :class:`BackupError` (a Chinese message and an English ``code``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url

from fundflow.service.config import Settings
from fundflow.service.errors import BackupError

__all__ = [
    "BackupError",
    "BackupReport",
    "RestoreReport",
    "backup",
    "restore",
    "pg_connection_args",
    "MANIFEST",
    "SQLITE_FILE",
    "PG_FILE",
    "DOCUMENTS",
]

MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.dump"
DOCUMENTS = "documents"
FORMAT = 1
#: the tables whose rows are counted in the manifest and checked after a restore
COUNTED = ("cases", "events", "documents", "users", "households")
#: a target with rows in any of these is "not empty"
CONTENT_TABLES = ("users", "districts", "communities", "cases", "events", "households", "documents")


@dataclass
class BackupReport:
    path: Path
    manifest: dict

    def lines(self) -> list[str]:
        m = self.manifest
        counts = ", ".join(f"{k} {v}" for k, v in m["counts"].items())
        return [
            f"backup {self.path}: {m['database']['kind']} at revision {m['revision']}, {counts}, "
            f"{len(m['files'])} file(s), {m['documents']['files']} document file(s)"
        ]


@dataclass
class RestoreReport:
    path: Path
    manifest: dict
    revision: str | None
    head: str
    counts: dict[str, int]
    cases_checked: int
    breaks: list = field(default_factory=list)
    missing_documents: list[str] = field(default_factory=list)
    documents_moved_to: Path | None = None

    @property
    def ok(self) -> bool:
        return (
            not self.breaks
            and not self.missing_documents
            and self.revision == self.manifest["revision"]
            and self.counts == self.manifest["counts"]
        )

    def lines(self) -> list[str]:
        out = [f"restored {self.path} ({self.manifest['created_at']}) into {self.manifest['database']['kind']}"]
        out.append(
            "counts: "
            + ", ".join(f"{k} {v}" for k, v in self.counts.items())
            + (
                ""
                if self.counts == self.manifest["counts"]
                else "  MISMATCH, backup had " + ", ".join(f"{k} {v}" for k, v in self.manifest["counts"].items())
            )
        )
        rev = f"revision {self.revision}"
        if self.revision != self.manifest["revision"]:
            rev += f"  MISMATCH, backup had {self.manifest['revision']}"
        elif self.revision != self.head:
            rev += f" (code is at {self.head}: run `fundflow db upgrade`)"
        out.append(rev)
        out.append(
            f"audit: {self.cases_checked} case(s) checked, {len({b.case_id for b in self.breaks})} with a broken chain"
        )
        out.extend(str(b) for b in self.breaks)
        out.extend(f"document missing or altered: {m}" for m in self.missing_documents)
        if self.documents_moved_to is not None:
            out.append(f"the documents that were there are kept in {self.documents_moved_to}")
        return out


# -- helpers ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _kind(settings: Settings) -> str:
    try:
        backend = make_url(settings.database_url).get_backend_name()
    except Exception as exc:
        raise BackupError("bad_database_url", f"无法解析 FUNDFLOW_DATABASE_URL：{exc}") from None
    if backend not in ("sqlite", "postgresql"):
        raise BackupError("unsupported_database", f"不支持备份此类数据库：{backend}（仅支持 SQLite 与 PostgreSQL）")
    return backend


def _sqlite_path(settings: Settings) -> Path:
    db = make_url(settings.database_url).database
    if not db or db == ":memory:" or db.startswith("file:"):
        raise BackupError("unsupported_database", "内存中的 SQLite 数据库无法备份，请配置数据库文件路径")
    return Path(db)


def _engine(settings: Settings) -> Engine:
    from fundflow.service.db import make_engine

    return make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


def _why(exc: Exception) -> str:
    """The driver's own first line, without SQLAlchemy's wrapping."""
    inner = getattr(exc, "orig", None) or exc
    return f"{inner.__class__.__name__}: {str(inner).strip().splitlines()[0] if str(inner).strip() else ''}"


def _redacted(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def pg_connection_args(url: str | URL) -> tuple[list[str], dict[str, str], str | None]:
    """A SQLAlchemy PostgreSQL URL -> (pg_dump/pg_restore arguments, environment, schema).

    host, port, user and dbname become ``-h -p -U -d``; the password goes to ``PGPASSWORD``;
    ``sslmode`` etc. to their ``PG*`` variables; ``options=-csearch_path=a,b`` names the schema
    (the first one), which the caller passes as ``--schema``."""
    u = make_url(url) if isinstance(url, str) else url
    if not u.database:
        raise BackupError("bad_database_url", "FUNDFLOW_DATABASE_URL 未指定数据库名（postgresql://user@host:5432/db）")
    args: list[str] = []
    env: dict[str, str] = {}
    query = {k: (v[0] if isinstance(v, tuple) else v) for k, v in u.query.items()}
    host = u.host or query.pop("host", None)
    if host:
        args += ["--host", host]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", u.username]
    args += ["--dbname", u.database]
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    for key, var in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("connect_timeout", "PGCONNECT_TIMEOUT"),
        ("application_name", "PGAPPNAME"),
    ):
        if key in query:
            env[var] = query[key]
    schema = None
    options = unquote(query.get("options", ""))
    for part in options.replace("-c ", "-c").split():
        if part.startswith("-csearch_path="):
            first = part.split("=", 1)[1].split(",")[0].strip().strip('"')
            schema = first or None
    return args, env, schema


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        for d in ("/usr/bin", "/usr/local/bin"):
            if os.access(Path(d) / name, os.X_OK):
                return str(Path(d) / name)
        raise BackupError(
            "tool_missing",
            f"找不到 {name}：请安装 PostgreSQL 客户端工具（Debian/Ubuntu：apt-get install "
            f"postgresql-client），其版本不低于服务器版本",
        )
    return found


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupError("tool_failed", f"无法运行 {cmd[0]}：{exc}") from None
    if proc.returncode != 0:
        raise BackupError(
            f"{what}_failed", f"{Path(cmd[0]).name} 失败（退出码 {proc.returncode}）：{proc.stderr.strip()}"
        )


def _copy_documents(src: Path, dst: Path) -> None:
    """Copy the documents folder (``*.part`` files are uploads in progress: left out)."""
    dst.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir():
            (dst / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file() and path.suffix != ".part":
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / rel)


def _document_problems(rows: list[tuple[int, str]], folder: Path) -> list[str]:
    """Each (case_id, sha256) whose file is not in ``folder`` with that content."""
    problems = []
    for case_id, sha in sorted(set(rows)):
        path = folder / str(case_id) / sha
        if not path.is_file() or _sha256(path) != sha:
            problems.append(f"{case_id}/{sha}")
    return problems


def _counts(conn) -> dict[str, int]:
    return {t: int(conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one()) for t in COUNTED}


# -- backup -------------------------------------------------------------------------------


def _prepare_target(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError("target_not_empty", f"备份目录 {path} 已存在且不为空：请指定一个新目录")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError("target_unwritable", f"无法创建备份目录 {path}：{exc}") from None


def _backup_sqlite(settings: Settings, path: Path) -> tuple[str | None, dict[str, int], list[tuple[int, str]]]:
    source = _sqlite_path(settings)
    if not source.is_file():
        raise BackupError("database_missing", f"找不到 SQLite 数据库文件 {source}")
    target = path / SQLITE_FILE
    try:
        with (
            closing(sqlite3.connect(source, timeout=settings.sqlite_busy_timeout_ms / 1000)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)  # all pages in one step: one consistent read snapshot, WAL included
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise BackupError("integrity_check_failed", f"备份副本完整性检查失败：{ok}")
            tables = {r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "alembic_version" not in tables or not set(COUNTED) <= tables:
                raise BackupError("not_migrated", f"数据库 {source} 尚未迁移（fundflow db upgrade），没有可备份的数据")
            rev = dst.execute("SELECT version_num FROM alembic_version").fetchone()
            counts = {t: dst.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in COUNTED}
            docs = [(r[0], r[1]) for r in dst.execute("SELECT case_id, sha256 FROM documents")]
    except sqlite3.Error as exc:
        raise BackupError("sqlite_backup_failed", f"SQLite 备份失败：{exc}") from None
    return (rev[0] if rev else None), counts, docs


def _backup_postgresql(
    settings: Settings, path: Path
) -> tuple[str | None, dict[str, int], list[tuple[int, str]], str | None]:
    pg_dump = _tool("pg_dump")
    args, env, schema = pg_connection_args(settings.database_url)
    engine = _engine(settings)
    try:
        try:
            conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        except Exception as exc:
            raise BackupError("database_unreachable", f"无法连接数据库 {_redacted(settings)}：{_why(exc)}") from None
        with conn:
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                tables = set(inspect(conn).get_table_names())
                if "alembic_version" not in tables or not set(COUNTED) <= tables:
                    raise BackupError(
                        "not_migrated",
                        f"数据库 {_redacted(settings)} 尚未迁移（fundflow db upgrade），没有可备份的数据",
                    )
                rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                counts = _counts(conn)
                docs = [(r[0], r[1]) for r in conn.execute(text("SELECT case_id, sha256 FROM documents"))]
                cmd = [
                    pg_dump,
                    "--format=custom",
                    "--no-password",
                    f"--snapshot={snapshot}",
                    f"--file={path / PG_FILE}",
                    *args,
                ]
                if schema:
                    cmd.append(f"--schema={schema}")
                _run(cmd, env, "pg_dump")  # same snapshot as the counts above
    finally:
        engine.dispose()
    return rev, counts, docs, schema


def backup(settings: Settings, path: Path | str) -> BackupReport:
    """Copy the configured database and the documents into the new directory ``path``."""
    path = Path(path)
    kind = _kind(settings)
    if kind == "sqlite":
        _sqlite_path(settings)
    _prepare_target(path)
    try:
        schema = None
        if kind == "sqlite":
            revision, counts, docs = _backup_sqlite(settings, path)
        else:
            revision, counts, docs, schema = _backup_postgresql(settings, path)
        _copy_documents(settings.documents_dir, path / DOCUMENTS)  # after the database: see the module doc
        missing = _document_problems(docs, path / DOCUMENTS)
        if missing:
            raise BackupError(
                "documents_missing",
                f"数据库记录的 {len(missing)} 个材料文件在 {settings.documents_dir} "
                f"中缺失或内容不符，例如 {missing[0]}",
            )
        files = {}
        for p in sorted(path.rglob("*")):
            if p.is_file():
                files[p.relative_to(path).as_posix()] = {"sha256": _sha256(p), "size": p.stat().st_size}
        manifest = {
            "format": FORMAT,
            "created_at": _utcnow(),
            "database": {
                "kind": kind,
                "url": _redacted(settings),
                "schema": schema,
                "file": SQLITE_FILE if kind == "sqlite" else PG_FILE,
            },
            "revision": revision,
            "counts": counts,
            "documents": {
                "files": sum(1 for f in files if f.startswith(DOCUMENTS + "/")),
                "referenced": len(set(docs)),
            },
            "files": files,
        }
        tmp = path / (MANIFEST + ".part")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path / MANIFEST)  # the manifest is last: a backup without one is incomplete
    except BackupError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return BackupReport(path, manifest)


# -- restore ------------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict:
    mf = path / MANIFEST
    if not path.is_dir():
        raise BackupError("backup_not_found", f"找不到备份目录 {path}")
    if not mf.is_file():
        raise BackupError("manifest_missing", f"{path} 中没有 {MANIFEST}：不是完整的 fundflow 备份")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
        manifest["database"]["kind"], manifest["files"], manifest["counts"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError("manifest_invalid", f"{mf} 无法读取：{exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError("manifest_invalid", f"不认识的备份格式版本：{manifest.get('format')!r}")
    return manifest


def _verify_files(path: Path, manifest: dict) -> None:
    for rel, meta in manifest["files"].items():
        p = path / rel
        if not p.is_file():
            raise BackupError("backup_corrupt", f"备份缺少文件 {rel}")
        if _sha256(p) != meta["sha256"]:
            raise BackupError("backup_corrupt", f"备份文件 {rel} 的 sha256 与 manifest.json 不符（文件已损坏或被改动）")


def _target_has_content(settings: Settings) -> list[str]:
    """What the target already holds: table row counts and document files."""
    found = []
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            existing = set(inspect(conn).get_table_names())
            for t in CONTENT_TABLES:
                if t in existing:
                    n = conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one()
                    if n:
                        found.append(f"{t} {n}")
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError("database_unreachable", f"无法连接数据库 {_redacted(settings)}：{_why(exc)}") from None
    finally:
        engine.dispose()
    docs = settings.documents_dir
    if docs.is_dir() and any(p.is_file() for p in docs.rglob("*")):
        found.append(f"documents in {docs}")
    return found


def _restore_sqlite(settings: Settings, path: Path, manifest: dict) -> None:
    target = _sqlite_path(settings)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            closing(sqlite3.connect(f"file:{path / SQLITE_FILE}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(target, timeout=settings.sqlite_busy_timeout_ms / 1000)) as dst,
        ):
            # the backup API writes through SQLite's own locking and journal: a stale -wal
            # file cannot resurrect old pages, as a plain file copy would let it
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise BackupError("integrity_check_failed", f"恢复后的数据库完整性检查失败：{ok}")
    except sqlite3.Error as exc:
        raise BackupError(
            "sqlite_restore_failed", f"SQLite 恢复失败（服务是否仍在运行？请先停止服务）：{exc}"
        ) from None


def _restore_postgresql(settings: Settings, path: Path, manifest: dict) -> None:
    pg_restore = _tool("pg_restore")
    args, env, schema = pg_connection_args(settings.database_url)
    backed_up = manifest["database"].get("schema")
    if (schema or None) != (backed_up or None):
        raise BackupError(
            "schema_mismatch",
            f"备份来自模式（schema）{backed_up or '（整个数据库）'}，而当前配置的是 "
            f"{schema or '（整个数据库）'}：pg_restore 不能改名恢复，请使相同",
        )
    cmd = [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--no-password", *args]
    if schema:
        cmd.append(f"--schema={schema}")
        _ensure_schema(settings, schema)
    cmd.append(str(path / PG_FILE))
    _run(cmd, env, "pg_restore")


def _ensure_schema(settings: Settings, schema: str) -> None:
    """``pg_restore --schema`` restores the objects in the schema, not the schema itself."""
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema.replace(chr(34), chr(34) * 2)}"'))
    except Exception as exc:
        raise BackupError("database_unreachable", f"无法连接数据库 {_redacted(settings)}：{_why(exc)}") from None
    finally:
        engine.dispose()


def _same_file_in(path: Path, root: Path, other: Path) -> bool:
    twin = other / path.relative_to(root)
    return twin.is_file() and twin.stat().st_size == path.stat().st_size and _sha256(twin) == _sha256(path)


def _swap_documents(staged: Path, target: Path) -> Path | None:
    moved = None
    if target.exists():
        if any(p.is_file() and not _same_file_in(p, target, staged) for p in target.rglob("*")):
            moved = target.with_name(f"{target.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
            os.replace(target, moved)
        else:
            shutil.rmtree(target)
    os.replace(staged, target)
    return moved


def restore(settings: Settings, path: Path | str, *, force: bool = False) -> RestoreReport:
    """Put the backup in ``path`` back into the configured database and documents folder."""
    from fundflow.service.audit import verify_all
    from fundflow.service.db import make_sessionmaker
    from fundflow.service.migrate import head_revision

    path = Path(path)
    manifest = _read_manifest(path)
    kind = _kind(settings)
    if manifest["database"]["kind"] != kind:
        raise BackupError(
            "database_kind_mismatch",
            f"备份是 {manifest['database']['kind']} 数据库，而当前配置的是 {kind}（FUNDFLOW_DATABASE_URL）",
        )
    head = head_revision()
    from alembic.script import ScriptDirectory

    from fundflow.service.migrate import alembic_config

    known = {r.revision for r in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if manifest["revision"] not in known:
        raise BackupError(
            "unknown_revision", f"备份的迁移版本 {manifest['revision']} 不为本程序所知（备份来自更新的版本？）"
        )
    _verify_files(path, manifest)
    if not force:
        found = _target_has_content(settings)
        if found:
            raise BackupError(
                "target_not_empty", f"目标数据库不为空（{'，'.join(found)}）：恢复将覆盖现有数据；确认后加 --yes 重试"
            )
    docs_target = settings.documents_dir
    staged = docs_target.with_name(f"{docs_target.name}.restoring")
    if staged.exists():
        shutil.rmtree(staged)
    _copy_documents(path / DOCUMENTS, staged)
    try:
        if kind == "sqlite":
            _restore_sqlite(settings, path, manifest)
        else:
            _restore_postgresql(settings, path, manifest)
    except BackupError:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    moved = _swap_documents(staged, docs_target)

    engine = _engine(settings)
    try:
        from fundflow.service.migrate import check_current

        revision = check_current(engine)
        with engine.connect() as conn:
            counts = _counts(conn)
            docs = [(r[0], r[1]) for r in conn.execute(text("SELECT case_id, sha256 FROM documents"))]
        with make_sessionmaker(engine)() as session:
            checked, breaks = verify_all(session)
    finally:
        engine.dispose()
    return RestoreReport(
        path, manifest, revision, head, counts, checked, breaks, _document_problems(docs, docs_target), moved
    )
