"""The fault suite: a steady mixed workload (HTTP writers and district systems, each retrying until answered)
while each fault strikes in turn; after each, once quiet, every answered write is in its store, on its stream
and in every view exactly once, nothing refused is anywhere, and poison sits in the dead letters with its
reason while everything after it was applied (shared/chaos.py's `verify`).

One system for the module, one ledger for all the faults: each check covers everything written so far.
`casetrack chaos` runs the same faults, longer, against a running system."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.chaos import Chaos
from shared.devservers import System
from tests.e2e.helpers import system_settings

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    running = System(system_settings(tmp_path_factory.mktemp("faults")))
    running.start(supervise=True)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chaos(system: System) -> Chaos:
    return Chaos(system, system.services["referral"].url, system.services["placement"].url, scale=1.0, rate=20.0)


async def test_a_poison_event_and_a_poison_district_message_are_set_aside_and_the_rest_applied(chaos: Chaos):
    detail, verdict = await chaos.through(chaos.poison_pills)
    assert detail["answered"] == "rejected"
    assert verdict.problems == []


async def test_kill_9_of_nats_server_loses_and_doubles_nothing(chaos: Chaos):
    _, verdict = await chaos.through(chaos.kill_nats)
    assert verdict.problems == []


async def test_kill_9_of_the_postgres_postmaster_loses_and_doubles_nothing(chaos: Chaos):
    _, verdict = await chaos.through(chaos.kill_postgres)
    assert verdict.problems == []


async def test_kill_9_of_each_service_in_turn_loses_and_doubles_nothing(chaos: Chaos):
    _, verdict = await chaos.through(chaos.kill_each_service)
    assert verdict.problems == []


async def test_postgres_away_with_a_backlog_loses_and_doubles_nothing(chaos: Chaos):
    detail, verdict = await chaos.through(chaos.postgres_away)
    assert verdict.problems == []
    assert detail["backlog_messages"] > 0


async def test_a_frozen_consumer_catches_up_on_a_large_backlog_applying_each_event_once(chaos: Chaos):
    detail, verdict = await chaos.through(chaos.freeze_consumer)
    assert verdict.problems == []
    assert detail["backlog_writes"] >= 200


def test_the_clients_retried_through_the_faults_and_every_request_got_an_answer_in_the_end(chaos: Chaos):
    """The faults made clients retry (with their keys, or resending their message), and none gave up."""
    assert chaos.ledger.retries > 0
    assert chaos.ledger.unanswered == set() and chaos.ledger.unanswered_messages == set()
