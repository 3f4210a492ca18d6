"""Settings, validated once, from the environment (``FUNDFLOW_*``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "PACKAGE_DIR", "DEFINITIONS_DIR", "CALENDAR_FILE", "MIGRATIONS_DIR"]

# What the package ships (package data, also in an installed wheel); each is overridable by a setting.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
DEFINITIONS_DIR = PACKAGE_DIR / "definitions"
CALENDAR_FILE = PACKAGE_DIR / "calendars" / "overrides.yaml"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
DEV_SECRET = "dev-only-secret-change-me"


class Settings(BaseSettings):
    @property
    def current_version_map(self) -> dict[str, int]:
        """``current_versions`` as {definition id: version}."""
        pairs = (p.split("=") for p in self.current_versions.split(",") if p.strip())
        return {k.strip(): int(v) for k, v in pairs}

    model_config = SettingsConfigDict(env_prefix="FUNDFLOW_", env_file=".env", extra="ignore")

    environment: str = Field("development", pattern="^(development|test|production)$")
    # the data folder (documents, checkpoints, the embedded database): ./data where the command runs
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: the embedded SQLite file data_dir/fundflow.db
    definitions_dir: Path = DEFINITIONS_DIR
    # the version new cases of a procedure take, where it is not the newest one the files offer:
    # "fire_hazard_emergency=2" (comma-separated); see README "Versions and migration"
    current_versions: str = Field("", pattern=r"^\s*([a-z][a-z0-9_]*=\d+\s*(,\s*[a-z][a-z0-9_]*=\d+\s*)*)?$")
    calendar_overrides: Path = CALENDAR_FILE
    secret_key: str = DEV_SECRET
    session_hours: int = Field(12, ge=1, le=24 * 30)
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    #: how many opinions (民意, public_opinion) ``fundflow demo`` seeds over the past year
    demo_opinions: int = Field(14_200, ge=0, le=1_000_000)
    # generated documents: a folder whose <kind>.yaml files replace the shipped wording, and the
    # CJK TrueType font the PDFs embed (none: the usual system places, fundflow/service/paperwork/pdf.py)
    document_templates_dir: Path | None = None
    pdf_font: str | None = None
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    sqlite_busy_timeout_ms: int = Field(15000, ge=0)
    log_level: str = "INFO"
    # "embedded": the API process runs the alert scheduler itself (see fundflow/service/scheduler.py);
    # "off": it does not, and `fundflow scheduler` runs it as a process of its own.
    scheduler: Literal["embedded", "off"] = "embedded"
    scan_interval_seconds: int = Field(60, ge=1, le=24 * 3600)

    # -- alert delivery (fundflow/service/notify, fundflow/service/usecases/delivery.py) --------------------------
    smtp_host: str | None = None  # None: e-mail channels are disabled (their deliveries fail, and retry)
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "fundflow@localhost"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False  # STARTTLS on a plain connection (port 587)
    smtp_ssl: bool = False  # implicit TLS (port 465)
    delivery_timeout_seconds: float = Field(10.0, gt=0, le=120)  # per HTTP request or SMTP conversation step
    delivery_lease_seconds: int = Field(300, ge=30, le=3600)  # a claimed delivery is another process's again after this
    # hosts (comma-separated names or addresses) a channel may send to although they resolve to
    # loopback, private or link-local addresses (fundflow/service/notify/targets.py)
    webhook_allowed_hosts: str = ""

    # -- who may do what (fundflow/service/auth.py, fundflow/service/usecases/users.py, /metrics) ---------------
    api_token_days: int = Field(90, ge=1, le=3650)  # lifetime of the API tokens `fundflow user add/token` issue
    login_free_failures: int = Field(5, ge=1, le=100)  # failed logins per user or address before waiting
    login_base_wait_seconds: int = Field(30, ge=1, le=3600)  # the first wait; it doubles with each further failure
    login_max_wait_seconds: int = Field(3600, ge=1, le=86400)
    # /metrics: "open" (anyone who reaches it), "token" (Authorization: Bearer FUNDFLOW_METRICS_TOKEN), "off" (404)
    metrics_access: Literal["open", "token", "off"] = "open"
    metrics_token: SecretStr | None = None

    # -- tamper evidence (fundflow/service/integrity) ----------------------------------------------------
    # The Ed25519 private key (PEM, from `fundflow audit keygen`); never stored in the database.
    # None: events are not sealed and no checkpoints are written (development only).
    signing_key_file: Path | None = None
    # The public key that verifies checkpoints (default: derived from signing_key_file).
    public_key_file: Path | None = None
    checkpoint_interval_seconds: int = Field(300, ge=1, le=24 * 3600)  # at most this long between checkpoints
    witness_channel: str | None = None  # name of a channel that receives every checkpoint

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().absolute()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'fundflow.db'}"
        if self.environment == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError("FUNDFLOW_SECRET_KEY must be set to a random value of 32+ characters in production")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production runs on PostgreSQL: set FUNDFLOW_DATABASE_URL")
            if self.signing_key_file is None:
                raise ValueError(
                    "FUNDFLOW_SIGNING_KEY_FILE must name the audit signing key in production (`fundflow audit keygen`)"
                )
        if self.metrics_access == "token" and (
            self.metrics_token is None or len(self.metrics_token.get_secret_value()) < 16
        ):
            raise ValueError("FUNDFLOW_METRICS_ACCESS=token needs FUNDFLOW_METRICS_TOKEN of 16+ characters")
        return self

    @property
    def allowed_webhook_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower().rstrip(".") for h in self.webhook_allowed_hosts.split(",") if h.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def checkpoint_file(self) -> Path:
        """Every signed checkpoint, one JSON line each: the copy outside the database."""
        return self.data_dir / "checkpoints.jsonl"


@lru_cache
def get_settings() -> Settings:
    return Settings()
