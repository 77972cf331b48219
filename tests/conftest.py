"""Fixtures shared by the test tiers: real engines started by the same development-server code as `casetrack up`.

Each test is marked with its tier, the folder it lives in (`pytest -m integration`, `-m "not e2e"`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.devservers import NatsServer, Postgres, free_port

TIERS = ("unit", "integration", "e2e", "deploy", "faults")  # the folders under tests/, markers in pyproject.toml


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(tests) and (tier := item.path.relative_to(tests).parts[0]) in TIERS:
            item.add_marker(tier)


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
