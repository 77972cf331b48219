"""The embedded default's secrets: made by `casetrack up` on first start, kept under `<data_dir>/secrets/`.

The folder is readable by its owner only (0700) and each file too (0600); the database never holds them, so
a copy of the database (or its write-ahead log) is not enough to open the vault. A secret once made is kept:
losing the vault key makes every vaulted detail unreadable.
"""

from __future__ import annotations

import os
import secrets as random_secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def secrets_folder(data_dir: Path) -> Path:
    """`<data_dir>/secrets`, created owner-only if absent (and made owner-only if it is not)."""
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def kept_secret(data_dir: Path, name: str, make: Callable[[], bytes] | None = None) -> Path:
    """The file `<data_dir>/secrets/<name>`, made with `make()` (default: 48 random url-safe characters) the
    first time and kept after; owner-only. Returns its path (read it with `read_secret`)."""
    path = secrets_folder(data_dir) / name
    if not path.exists():
        content = make() if make else random_secrets.token_urlsafe(36).encode()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
    path.chmod(0o600)
    return path


def read_secret(path: Path) -> str:
    return path.read_text().strip()


def without_password(url: str) -> str:
    """A server's address as it may be printed or recorded: any password in it left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    netloc = f"{user}{f'[{host}]' if ':' in host else host}{f':{parts.port}' if parts.port else ''}"
    return urlunsplit(parts._replace(netloc=netloc))
