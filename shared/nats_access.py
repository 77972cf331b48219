"""Who may do what on NATS: one user per service, one per district, and an administrator.

The same permission sets configure the embedded nats-server (`casetrack up`) and the compose cluster's
`nats-users.conf` (`casetrack nats-users`). Everything not allowed is refused by the server itself:

- a district publishes only on its own ingest subjects (`casetrack.ingest.<district>.>`) and reads only its own
  answers (`casetrack.accepted.<district>`, `casetrack.rejected.<district>`), by core subscription or through a
  JetStream consumer named after it whose filter is its own answer subject (the filtered create API subject
  makes the server check that filter); it may also follow the events recorded for it
  (`casetrack.<service>.<district>.>`, core subscriptions);
- a service publishes only its own events (`casetrack.<service>.>`) and heartbeat (`casetrack.heads.<service>`),
  the referral service also the districts' answers; it reads other services' streams through consumers of its
  own and never creates, changes or deletes a stream;
- only the administrator manages streams (`casetrack up` and `casetrack streams` create them) and others'
  consumers;
- every user receives replies only on its own inbox prefix (`_INBOX_<user>`), so nobody reads another's
  JetStream acknowledgements or pulled messages.

NATS subjects match whole tokens, so a service's consumers on another service's stream cannot be told apart by
name from a third service's on the same stream: a service may manage any consumer on the streams of the other
services (never the district inbox's, nor any on the ingest or answer streams, nor its own stream's).
Passwords are random and stored bcrypt-hashed in the server configuration.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shared.settings import SERVICES, Settings
from shared.subjects import PREFIX, accepted_subject, rejected_subject, stream_name

ADMIN = "admin"
INGEST_STREAM = "CASETRACK_INGEST"
ANSWER_STREAMS = {"accepted": "CASETRACK_ACCEPTED", "rejected": "CASETRACK_REJECTED"}
DISTRICT_INBOX_CONSUMER = "referral-district-inbox"
BCRYPT_COST = 8
"""Low on purpose: every password is 32 random bytes (no guessing to slow down), and nats-server checks the hash
at each connection and casetrack up hashes them all at each start."""

STREAM_MANAGEMENT = ["$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.DELETE.>",
                     "$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.RESTORE.>", "$JS.API.STREAM.SNAPSHOT.>"]


@dataclass(frozen=True)
class Permissions:
    """What one NATS user may publish and subscribe to (anything else is refused)."""

    publish: list[str]
    subscribe: list[str]
    publish_deny: list[str] = field(default_factory=list)

    def as_config(self) -> dict[str, Any]:
        publish: dict[str, Any] = {"allow": self.publish}
        if self.publish_deny:
            publish["deny"] = self.publish_deny
        return {"publish": publish, "subscribe": {"allow": self.subscribe}}


def service_user(service: str) -> str:
    return service


def district_user(district: str) -> str:
    return f"district-{district}"


def inbox_prefix(user: str) -> str:
    """Where `user` receives replies (nats-py's `inbox_prefix`): nobody else may subscribe there."""
    return f"_INBOX_{user}"


def _consumer_api(stream: str, consumer: str, *, create: list[str]) -> list[str]:
    return [*create, f"$JS.API.CONSUMER.INFO.{stream}.{consumer}", f"$JS.API.CONSUMER.DELETE.{stream}.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}", f"$JS.ACK.{stream}.{consumer}.>"]


def service_permissions(service: str) -> Permissions:
    own = stream_name(service)
    publish = [f"{PREFIX}.{service}.>", f"{PREFIX}.heads.{service}",
               f"$JS.API.STREAM.INFO.{own}", f"$JS.API.STREAM.MSG.GET.{own}"]
    for other in SERVICES:
        if other == service:
            continue
        stream = stream_name(other)
        publish += [f"$JS.API.STREAM.INFO.{stream}",
                    *_consumer_api(stream, "*", create=[f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
                                                        f"$JS.API.CONSUMER.CREATE.{stream}.*"])]
    if service == "referral":
        consumer = DISTRICT_INBOX_CONSUMER
        publish += [f"{PREFIX}.accepted.>", f"{PREFIX}.rejected.>",
                    f"$JS.API.STREAM.INFO.{INGEST_STREAM}", f"$JS.API.STREAM.MSG.GET.{INGEST_STREAM}",
                    f"$JS.API.STREAM.MSG.DELETE.{INGEST_STREAM}",
                    *(f"$JS.API.STREAM.INFO.{stream}" for stream in ANSWER_STREAMS.values()),
                    *_consumer_api(INGEST_STREAM, consumer, create=[
                        f"$JS.API.CONSUMER.DURABLE.CREATE.{INGEST_STREAM}.{consumer}",
                        f"$JS.API.CONSUMER.CREATE.{INGEST_STREAM}.{consumer}.{PREFIX}.ingest.>"])]
    return Permissions(publish=publish, subscribe=[f"{inbox_prefix(service_user(service))}.>", f"{PREFIX}.heads.*"],
                       publish_deny=STREAM_MANAGEMENT)


def district_permissions(district: str) -> Permissions:
    publish = [f"{PREFIX}.ingest.{district}.>"]
    for answer, stream in ANSWER_STREAMS.items():
        subject = f"{PREFIX}.{answer}.{district}"
        publish += _consumer_api(stream, district, create=[f"$JS.API.CONSUMER.CREATE.{stream}.{district}.{subject}"])
    return Permissions(publish=publish,
                       subscribe=[f"{inbox_prefix(district_user(district))}.>", accepted_subject(district),
                                  rejected_subject(district),
                                  *(f"{PREFIX}.{service}.{district}.>" for service in SERVICES)],
                       publish_deny=STREAM_MANAGEMENT)


def admin_permissions() -> Permissions:
    return Permissions(publish=[">"], subscribe=[">"])


def answer_consumer(district: str) -> str:
    """The name a district's consumer of its answers must have (one per answer stream)."""
    return district


@dataclass(frozen=True)
class Credentials:
    """One NATS user's credentials, as a file holds them (JSON) and nats-py takes them."""

    user: str
    password: str
    servers: list[str] = field(default_factory=list)
    ca_file: str | None = None

    @classmethod
    def read(cls, path: Path) -> Credentials:
        return cls(**json.loads(path.read_text()))

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    def with_servers(self, servers: list[str], ca_file: str | None = None) -> Credentials:
        return Credentials(self.user, self.password, servers, ca_file)

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect` (servers too, when the file names them)."""
        options: dict[str, Any] = {"user": self.user, "password": self.password,
                                   "inbox_prefix": inbox_prefix(self.user)}
        if self.servers:
            options["servers"] = self.servers
        if self.ca_file:
            options["tls"] = ssl.create_default_context(cafile=self.ca_file)
        return options


def connect_options(settings: Settings) -> dict[str, Any]:
    """nats.connect's credentials and TLS for a process with these settings (servers not included)."""
    options: dict[str, Any] = {}
    if settings.nats_credentials is not None:
        options = Credentials.read(settings.nats_credentials).connect_options()
        options.pop("servers", None)
    if settings.nats_ca_file is not None:
        options["tls"] = ssl.create_default_context(cafile=str(settings.nats_ca_file))
    return options


def credentials_file_name(user: str) -> str:
    """The name of `user`'s credentials file, under `<data_dir>/secrets` (casetrack up) or a deployment's folder."""
    return f"nats-{user}.json"


def kept_credentials_of(data_dir: Path, user: str) -> Credentials:
    """The credentials `casetrack up` keeps for `user` (made at its first start, or when a district is issued)."""
    return Credentials.read(data_dir / "secrets" / credentials_file_name(user))


def permissions_of(user: str) -> Permissions:
    if user == ADMIN:
        return admin_permissions()
    if user.startswith("district-"):
        return district_permissions(user.removeprefix("district-"))
    if user in SERVICES:
        return service_permissions(user)
    raise ValueError(f"no NATS user {user!r}: users are {ADMIN}, the services and district-<name>")


def password_hash(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def authorization_config(credentials: list[Credentials]) -> str:
    """The `authorization` block of a nats-server configuration for these users (passwords bcrypt-hashed)."""
    users = [{"user": c.user, "password": password_hash(c.password),
              "permissions": permissions_of(c.user).as_config()} for c in credentials]
    return "authorization " + json.dumps({"users": users}, indent=2) + "\n"
