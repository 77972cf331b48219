"""The whole system, started the way `casetrack up` starts it, on ports and a data folder of its own."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.launcher import System, free_port
from shared.settings import SERVICES, Settings


def free_base_port() -> int:
    """A base port whose five service ports are all free."""
    for _ in range(50):
        base = free_port() // 10 * 10
        if base + len(SERVICES) >= 65535:
            continue
        try:
            for offset in range(1, len(SERVICES) + 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports")


def system_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, base_port=free_base_port(), nats_port=free_port(),
                    postgres_port=free_port(), environment="test")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export spans quickly, so a test can read them
        running = System(system_settings(tmp_path_factory.mktemp("system")))
        running.start()
        yield running
        running.stop()


@pytest.fixture
def referral(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["referral"].url, timeout=10) as client:
        yield client


@pytest.fixture
def journeys(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["journeys"].url, timeout=20) as client:
        yield client
