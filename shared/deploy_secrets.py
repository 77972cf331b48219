"""What a deployment's NATS cluster needs, made into one folder (mounted by docker-compose.yml):

- `casetrack certificates FOLDER`: a CA (`ca.pem`, `ca-key.pem`) and the servers' certificate (`nats-server.pem`,
  `nats-server-key.pem`, for nats-1..3 and localhost, for clients and routes alike);
- `casetrack keys FOLDER`: the services' keys (`vault-key`, `placement-id-key`, `idempotency-key`) and, for a
  deployment without an OpenID Connect issuer, a token signing key pair (`token-signing-key.pem`, kept off the
  services; `token-public-key.pem`, which they verify with);
- `casetrack nats-users FOLDER`: each user's credentials (`nats-<user>.json`: the administrator, every service,
  and the districts named, any code of the district register in force: `CASETRACK_DISTRICT_REGISTER_FILE`) and
  `nats-users.conf`, the servers' `authorization` block with their bcrypt hashes.

Files are kept once made (owner-only), so running either again adds what is missing and changes nothing else.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets as random_secrets
from pathlib import Path

from shared.contracts.vocabulary import known_district
from shared.nats_access import ADMIN, Credentials, authorization_config, district_user, service_user
from shared.settings import SERVICES

SERVER_NAMES = ["nats-1", "nats-2", "nats-3", "localhost"]
VALID_DAYS = 825


def _write(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def make_certificates(folder: Path) -> list[Path]:
    """A CA and the NATS servers' certificate signed by it (kept if already there); the files written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "ca.pem").exists() and (folder / "nats-server.pem").exists():
        return []
    now = datetime.datetime.now(datetime.UTC)

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "casetrack NATS CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(name) for name in SERVER_NAMES] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "casetrack NATS server")]))
              .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                             critical=False)  # client too: the servers present it to each other on routes
              .sign(ca_key, hashes.SHA256()))
    files = {"ca-key.pem": pem_key(ca_key), "ca.pem": ca.public_bytes(serialization.Encoding.PEM),
             "nats-server-key.pem": pem_key(server_key),
             "nats-server.pem": server.public_bytes(serialization.Encoding.PEM)}
    for name, content in files.items():
        _write(folder / name, content)
    (folder / "ca.pem").chmod(0o644)
    (folder / "nats-server.pem").chmod(0o644)
    return [folder / name for name in files]


def make_nats_users(folder: Path, districts: list[str]) -> list[Path]:
    """Each user's credentials file (kept if there) and the servers' `nats-users.conf` (written again)."""
    folder.mkdir(parents=True, exist_ok=True)
    users = [ADMIN, *(service_user(s) for s in SERVICES), *(district_user(known_district(d)) for d in districts)]
    users += [path.name.removeprefix("nats-").removesuffix(".json")
              for path in sorted(folder.glob(f"nats-{district_user('*')}.json"))]
    kept = []
    for user in dict.fromkeys(users):
        path = folder / f"nats-{user}.json"
        if not path.exists():
            _write(path, Credentials(user, random_secrets.token_urlsafe(32)).as_json())
        kept.append(Credentials.read(path))
    _write(folder / "nats-users.conf", authorization_config(kept).encode())
    (folder / "nats-users.conf").chmod(0o644)  # hashes only: the NATS containers read it
    return [folder / f"nats-{c.user}.json" for c in kept] + [folder / "nats-users.conf"]


SERVICE_KEYS = ("vault-key", "placement-id-key", "idempotency-key")


def make_service_keys(folder: Path) -> list[Path]:
    """The services' secrets (kept if already there) and a token signing key pair; the files written."""
    from shared.auth import PUBLIC_KEY_FILE, SIGNING_KEY_FILE, make_signing_key, public_key_of

    folder.mkdir(parents=True, exist_ok=True)
    for name in SERVICE_KEYS:
        if not (folder / name).exists():
            _write(folder / name, random_secrets.token_urlsafe(36).encode())
    if not (folder / SIGNING_KEY_FILE).exists():
        _write(folder / SIGNING_KEY_FILE, make_signing_key())
    _write(folder / PUBLIC_KEY_FILE, public_key_of((folder / SIGNING_KEY_FILE).read_bytes()))
    return [folder / name for name in (*SERVICE_KEYS, SIGNING_KEY_FILE, PUBLIC_KEY_FILE)]
