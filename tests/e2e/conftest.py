"""The whole system, started the way `casetrack up` starts it, on ports and a data folder of its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.devservers import System
from tests.e2e.helpers import auth_headers, system_settings


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export spans quickly, so a test can read them
        # Spans printed on each service's stdout (off by default), where the tracing tests read them.
        settings = system_settings(tmp_path_factory.mktemp("system")).model_copy(update={"console_traces": True})
        running = System(settings)
        running.start()
        yield running
        running.stop()


@pytest.fixture
def referral(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["referral"].url, timeout=10, headers=auth_headers(system)) as client:
        yield client


@pytest.fixture
def journeys(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.services["journeys"].url, timeout=20, headers=auth_headers(system)) as client:
        yield client
