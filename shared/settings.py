"""Typed settings, read from CASETRACK_* environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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

SECRETS = ("vault_key", "placement_id_key", "idempotency_key")
"""The secrets a service may need, each given as CASETRACK_<NAME>_FILE (preferred) or CASETRACK_<NAME>."""
SECRETS_OF = {"referral": ("vault_key", "idempotency_key"), "placement": ("placement_id_key", "idempotency_key")}
"""The secrets each service is given (any other: the idempotency key only): the vault key reaches referral alone."""
TEST_SECRETS = {"vault_key": "casetrack-dev-vault-key", "placement_id_key": "casetrack-dev-placement-id-key",
                "idempotency_key": "casetrack-dev-idempotency-key"}
"""The placeholders used when nothing is given, in `environment=test` only (anywhere else they are refused)."""


def secrets_of(service: str) -> tuple[str, ...]:
    """The secrets `service` needs (and is given by `casetrack up`)."""
    return SECRETS_OF.get(service, ("idempotency_key",))


class SecretMissing(ValueError):
    """A service needs a secret that settings do not give; the message is one line for the operator."""


def is_placeholder(secret: str) -> bool:
    return not secret or any(p in secret for p in PLACEHOLDER_SECRETS)


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
    return_home_follow_up_early_days: int = Field(14, ge=0, le=60)
    """How many days before its 3 or 6 months are up a return home after mediation may be followed up (the
    referral service refuses an earlier follow-up as FollowUpNotYetDue)."""
    idempotency_key_retention_days: int = 7
    """How long a service keeps the Idempotency-Key of a write, and its answer: a retry with the key within this
    time gets the first answer; after it, the key is forgotten and the same key makes a new write."""
    max_request_bytes: int = 1024 * 1024
    """The largest request body a service reads; a larger one is answered 413 (at once when its Content-Length
    says so)."""
    vault_key: SecretStr | None = None
    """The referral service's person vault secret: wraps each young person's data key and keys the
    match hashes and the district answers' message ids. Losing it makes every vaulted detail unreadable. Prefer
    `vault_key_file`; `casetrack up` makes one on first start and gives it to the referral service alone."""
    vault_key_file: Path | None = None
    """A file holding the vault key (read at start; `casetrack up` gives the referral service
    `<data_dir>/secrets/vault-key`, owner-only): the key itself stays out of the environment."""
    idempotency_key: SecretStr | None = None
    """Every service's secret keying the fingerprints of the writes it keeps by Idempotency-Key (so a kept
    fingerprint says nothing about the body it was made from). Prefer `idempotency_key_file`."""
    idempotency_key_file: Path | None = None
    """A file holding the idempotency key (`casetrack up` gives `<data_dir>/secrets/idempotency-key`)."""
    placement_id_key: SecretStr | None = None
    """The placement service's secret for deriving placement ids from a young person's person_ref, so that
    nobody without it can recognise a person's placements. Prefer `placement_id_key_file`."""
    placement_id_key_file: Path | None = None
    """A file holding the placement id key (`casetrack up` gives `<data_dir>/secrets/placement-id-key`)."""

    token_public_key_file: Path | None = None
    """The PEM public key that verifies bearer tokens (Ed25519: the embedded default's, which `casetrack up`
    makes and passes to each service). Set this or `token_jwks_url`; production refuses to start with neither."""
    token_jwks_url: str | None = None
    """An OpenID Connect issuer's JWKS URL (its tokens signed RS256 or ES256), instead of a key file."""
    token_issuer: str = "casetrack"
    """The `iss` every token must carry (the embedded default's tokens say `casetrack`)."""
    token_audience: str = "casetrack"
    """The `aud` every token must carry."""
    district_register_file: Path | None = None
    """The district register in force (TOML: districts, their councils, areas, history and dated local rules);
    unset = the shipped `shared/data/district_register.toml`. Read at each process's start: an administrator changes
    the file and restarts casetrack (a file that cannot be used stops the start with one line saying why)."""
    outcomes_rules_file: Path | None = None
    """The outcomes service's measuring rules (TOML: service types, KPI targets and exclusions, return windows, each
    dated); unset = the shipped `services/outcomes/rules.toml`. Read when the outcomes service starts."""
    small_number_threshold: int = Field(5, ge=1)
    """Analyst outputs hide any count of fewer young people than this (and enough others that totals cannot
    reveal it): see services/journeys/pathways.py."""
    write_rate_per_minute: int = Field(600, ge=1)
    """Writes a token's subject may make a minute, on average, in each service process (then 429)."""
    write_burst: int = Field(120, ge=1)
    """Writes a subject may make at once before the per-minute rate applies."""

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("district_register_file", "outcomes_rules_file")
    @classmethod
    def _absolute_file(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @model_validator(mode="after")
    def _secrets_given(self) -> "Settings":
        """Secrets named by a file are read from it; a placeholder is refused outside tests."""
        for name in SECRETS:
            file = getattr(self, f"{name}_file")
            if file is None:
                continue
            try:
                setattr(self, name, SecretStr(file.read_text().strip()))
            except OSError as error:
                raise ValueError(f"CASETRACK_{name.upper()}_FILE cannot be read ({type(error).__name__}: {file})")\
                    from None
        self._no_placeholder_secrets_outside_tests()
        return self

    def _no_placeholder_secrets_outside_tests(self) -> None:
        for name in SECRETS:
            secret = getattr(self, name)
            if secret is not None and self.environment != "test" and is_placeholder(secret.get_secret_value()):
                raise ValueError(f"CASETRACK_{name.upper()} is a placeholder, refused outside "
                                 "CASETRACK_ENVIRONMENT=test: give a real secret (casetrack up makes one in "
                                 "<data_dir>/secrets/)")
        if self.environment == "production":
            url = self.database_url or ""
            if not url or any(p in url for p in PLACEHOLDER_SECRETS):
                raise ValueError(
                    "CASETRACK_DATABASE_URL must name a real database with a real password in production"
                )
            for name in SECRETS:
                secret = getattr(self, name)
                if secret is not None and len(secret.get_secret_value()) < 32:  # one missing: require_secrets_of
                    raise ValueError(f"CASETRACK_{name.upper()} (or _FILE) must be a real secret of at least 32 "
                                     "characters in production")
            if not self.token_public_key_file and not self.token_jwks_url:
                raise ValueError("set CASETRACK_TOKEN_PUBLIC_KEY_FILE or CASETRACK_TOKEN_JWKS_URL in production: "
                                 "without a key no token can be verified")

    @property
    def vault_secret(self) -> str:
        """The vault key; outside `environment=test` one must be given (SecretMissing, one line, if not)."""
        return self._secret("vault_key")

    @property
    def placement_id_secret(self) -> str:
        return self._secret("placement_id_key")

    @property
    def idempotency_secret(self) -> str:
        return self._secret("idempotency_key")

    def require_secrets_of(self, service: str) -> None:
        """SecretMissing (one line) unless every secret `service` needs is given (`SECRETS_OF`)."""
        for name in secrets_of(service):
            self._secret(name)

    def _secret(self, name: str) -> str:
        secret = getattr(self, name)
        if secret is not None:
            return secret.get_secret_value()
        if self.environment == "test":
            return TEST_SECRETS[name]
        raise SecretMissing(f"CASETRACK_{name.upper()}_FILE (or CASETRACK_{name.upper()}) is not set: outside "
                            f"CASETRACK_ENVIRONMENT=test a service needs a real secret (casetrack up makes one)")

    @property
    def nats_servers(self) -> list[str]:
        if not self.nats_url:
            raise ValueError("CASETRACK_NATS_URL is not set (casetrack up sets it for each service)")
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    def port_of(self, service: str) -> int:
        return self.base_port + SERVICES[service]

    def url_of(self, service: str) -> str:
        return f"http://{self.host}:{self.port_of(service)}"
