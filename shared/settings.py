"""Typed settings, read from CASETRACK_* environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES: dict[str, int] = {
    "referral": 1,
    "placement": 2,
    "outcomes": 3,
    "finance": 4,
    "journeys": 5,
}
"""Each service and its offset from CASETRACK_BASE_PORT."""

PLACEHOLDER_SECRETS = ("change-me", "changeme", "casetrack-dev")


class Settings(BaseSettings):
    """Everything a casetrack process needs to know about where it runs.

    Every field is read from the environment variable named CASETRACK_<FIELD>.
    """

    model_config = SettingsConfigDict(env_prefix="CASETRACK_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".casetrack")
    host: str = "127.0.0.1"
    base_port: int = 8100
    nats_url: str | None = None
    """NATS servers to use (comma-separated); unset = start the embedded nats-server."""
    nats_port: int = 4222
    nats_credentials: Path | None = None
    """A JSON file with this process's NATS user and password (`casetrack up` makes one per service under
    <data_dir>/secrets; `casetrack nats-users` for a deployment); unset = connect without credentials."""
    nats_ca_file: Path | None = None
    """The CA certificate that signed the NATS servers' certificates: set = connect over TLS, verifying them."""
    database_url: str | None = None
    """PostgreSQL to use; unset = start the embedded PostgreSQL from the pgserver wheel."""
    postgres_port: int = 5433
    stream_replicas: int = 1
    otlp_endpoint: str | None = None
    """OTLP gRPC endpoint for traces and metrics; unset = nothing is exported."""
    console_traces: bool = False
    """Print every span to the service's stdout (a debugging aid: a dozen KB per referral); off by default."""
    log_dir: Path | None = None
    """Where each service writes its log, as JSON lines rotated by size (`<log_dir>/<service>.log`);
    unset = JSON lines on stderr."""
    log_max_bytes: int = 10_000_000
    log_backups: int = 5
    log_level: str = "INFO"
    access_log: bool = False
    """Log every HTTP request (as JSON lines, without query strings)."""
    service_host: str = "127.0.0.1"
    service_port: int | None = None
    max_deliver: int = 5
    """How many times a consumer is offered a message before it is dead-lettered."""
    lock_timeout_seconds: int = 5
    read_wait_seconds: float = 5.0
    """Longest a read waits for a projection to reach a requested position (it answers 503 at once when the
    projection cannot move: the database or the source away)."""
    database_timeout_seconds: float = 1.0
    """Longest a request waits to connect to PostgreSQL or for a free connection before it answers 503."""
    vitals_interval_seconds: float = 1.0
    """How often each service checks its database, NATS, store head, lags and backlogs (what /health shows)."""
    vitals_stale_seconds: float = 3.0
    """A /health snapshot older than this is reported stale (the checks themselves are stuck)."""
    silent_source_seconds: float = 5.0
    """A service not heard from for this long makes the lag of projections following it unknown."""
    ready_max_lag: int = 5_000
    """/ready answers 503 when any lag or backlog is above this many events or messages ..."""
    ready_growing_samples: int = 10
    """... or has grown at each of this many consecutive checks."""
    shutdown_grace_seconds: float = 2.0
    """On SIGTERM: how long requests in flight may take to finish."""
    shutdown_drain_seconds: float = 5.0
    """On SIGTERM, once requests are done: how long the inbox, projections and relay may take to finish what
    they hold (then the rest is left to the next start: nothing is lost, it is applied or published then)."""
    refused_message_retention_days: int = 30
    """How long the referral service keeps the sealed copy of a district message it refused and that no
    corrected resend has resolved; then the copy is destroyed (the reasons stay)."""
    idempotency_key_retention_days: int = 7
    """How long a service keeps the Idempotency-Key of a write, and its answer: a retry with the key within this
    time gets the first answer; after it, the key is forgotten and the same key makes a new write."""
    vault_key: SecretStr = SecretStr("casetrack-dev-vault-key")
    """The referral service's person vault secret: wraps each young person's data key and keys the
    match hashes. Losing it makes every vaulted detail unreadable; production refuses the placeholder."""
    placement_id_key: SecretStr = SecretStr("casetrack-dev-placement-id-key")
    """The placement service's secret for deriving placement ids from a young person's person_ref, so that
    nobody without it can recognise a person's placements; production refuses the placeholder."""

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            url = self.database_url or ""
            if not url or any(p in url for p in PLACEHOLDER_SECRETS):
                raise ValueError(
                    "CASETRACK_DATABASE_URL must name a real database with a real password in production"
                )
            for name in ("vault_key", "placement_id_key"):
                secret = getattr(self, name).get_secret_value()
                if len(secret) < 32 or any(p in secret for p in PLACEHOLDER_SECRETS):
                    raise ValueError(f"CASETRACK_{name.upper()} must be a real secret of at least 32 characters "
                                     "in production")
        return self

    @property
    def nats_servers(self) -> list[str]:
        if not self.nats_url:
            raise ValueError("CASETRACK_NATS_URL is not set (casetrack up sets it for each service)")
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    def port_of(self, service: str) -> int:
        return self.base_port + SERVICES[service]

    def url_of(self, service: str) -> str:
        return f"http://{self.host}:{self.port_of(service)}"
