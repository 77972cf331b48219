"""The embedded nats-server's users: each service, the administrator, and every district issued credentials.

Each user's credentials are a JSON file under `<data_dir>/secrets/` (`nats-<user>.json`, owner-only), made once
and kept; the server's configuration, written at each start and on `casetrack credentials district`, holds only
their bcrypt hashes, with the permissions of `shared.nats_access`.
"""

from __future__ import annotations

import secrets as random_secrets
from pathlib import Path

from shared.contracts.vocabulary import known_district
from shared.devservers.secrets import kept_secret, secrets_folder
from shared.nats_access import (
    ADMIN,
    Credentials,
    authorization_config,
    credentials_file_name,
    district_user,
    service_user,
)
from shared.settings import SERVICES


def credentials_file(data_dir: Path, user: str) -> Path:
    """The file of `user`'s credentials, made with a new random password the first time."""
    return kept_secret(data_dir, credentials_file_name(user),
                       lambda: Credentials(user, random_secrets.token_urlsafe(32)).as_json())


def kept_credentials(data_dir: Path, user: str) -> Credentials:
    return Credentials.read(credentials_file(data_dir, user))


def admin_credentials(data_dir: Path) -> Credentials:
    return kept_credentials(data_dir, ADMIN)


def issue_district_credentials(data_dir: Path, district: str) -> Credentials:
    """A district's credentials (the same ones again once issued); UnknownDistrict for a code the district register
    in force (`shared.districts`: a file, so a district added to it gets credentials without a code change) has never
    had. The running server learns of new ones when its configuration is written again and reloaded."""
    return kept_credentials(data_dir, district_user(known_district(district)))


def embedded_users(data_dir: Path) -> list[Credentials]:
    """The administrator, every service, and every district issued credentials so far."""
    users = [admin_credentials(data_dir), *(kept_credentials(data_dir, service_user(s)) for s in SERVICES)]
    issued = sorted(secrets_folder(data_dir).glob(f"nats-{district_user('*')}.json"))
    return users + [Credentials.read(path) for path in issued]


def embedded_authorization(data_dir: Path) -> str:
    return authorization_config(embedded_users(data_dir))
