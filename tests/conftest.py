"""Fixtures shared by the test tiers: real engines started by the same launcher code as `casetrack up`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.launcher import NatsServer, Postgres, free_port


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("engines") / "pg", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh nats-server for each test: streams start empty."""
    server = NatsServer(tmp_path / "nats", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def schema() -> str:
    """A schema of its own for each test, in the session's PostgreSQL."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def referrals_store(postgres: Postgres, schema: str):
    """The referral service's application (store and person vault) on the session's PostgreSQL."""
    from tests.unit.builders import referrals

    store = referrals(postgres.url, schema)
    yield store
    store.close()
