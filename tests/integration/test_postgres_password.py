"""The embedded PostgreSQL lets nobody in without its password (SCRAM-SHA-256), over TCP or its local socket,
and a data folder made before it used passwords (initdb --auth=trust) is upgraded when it starts."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from shared.devservers import Postgres, free_port
from shared.devservers.engines import DATABASE_NAME


def _connect(server: Postgres, password: str | None, host: str | None = None) -> None:
    options = {"host": host or server.host, "port": server.port, "user": "postgres", "dbname": DATABASE_NAME,
               "connect_timeout": 5}
    with psycopg.connect(**options, **({"password": password} if password is not None else {})) as conn:
        conn.execute("SELECT 1")


def test_the_session_database_answers_its_url_and_nobody_without_the_password(postgres: Postgres):
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    for password in (None, "", "not-the-password", postgres.password + "x"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            _connect(postgres, password)
    with pytest.raises(psycopg.OperationalError, match="password"):  # the local socket asks for it too
        _connect(postgres, "not-the-password", host=str(postgres.data_dir))


def test_the_password_is_kept_owner_only_beside_the_data_and_never_in_the_shown_url(postgres: Postgres):
    secret = postgres.data_dir.parent / "secrets" / "postgres-password"

    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    assert postgres.password not in postgres.shown_url
    assert "trust" not in [line.split()[-1] for line in postgres.hba_file.read_text().splitlines()
                           if line.strip() and not line.startswith("#")]


def test_a_data_folder_made_with_trust_is_upgraded_to_passwords_on_start(tmp_path: Path):
    server = Postgres(tmp_path / "pg", free_port())
    server.start()
    server.stop()
    server.hba_file.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")  # as initdb --auth=trust
    server.start()
    try:
        assert server.trusts_local_users() is False
        _connect(server, server.password)
        with pytest.raises(psycopg.OperationalError, match="password"):
            _connect(server, None)
    finally:
        server.stop()
