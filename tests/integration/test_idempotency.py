"""Idempotency keys on real PostgreSQL: a key is committed with its change's events or not at all, one key saves
one change however many requests race with it, and the referral routes answer a retry from the key's row."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import asyncpg
import httpx
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI

from services.placement.application import Placements
from services.referral.api import router
from services.referral.application import Referrals
from services.referral.handlers import MakeReferral, decide
from shared.devservers import free_port
from shared.errors import StoreUnavailable, map_domain_errors
from shared.eventstore import Change, GroupCommit, postgres_env
from shared.idempotency import (
    Claim,
    IdempotencyKeyUsed,
    PostgresKeyBook,
    claiming,
    fingerprint,
    install_idempotency,
)
from tests.unit.builders import a_context, a_referral_body, a_referral_request, referrals
from tests.unit.placement_builders import OPENED_ON, days_ago, scheme_fields
from tests.unit.tokens import bearer, trusting_test_tokens


@pytest.fixture
def store(referrals_store: Referrals) -> Referrals:
    return referrals_store


def a_claim(key: str = "key-1", body: bytes = b"{}") -> Claim:
    return Claim(key, fingerprint("POST", "/referrals", b"", b"", body))


def keys_of(postgres, schema: str) -> dict[str, tuple]:
    """The key table: each key's originator and version, and whether an answer is kept."""
    with psycopg.connect(postgres.url) as conn:
        return {row[0]: row[1:] for row in conn.execute(
            f"SELECT key, originator_id, originator_version, answer IS NOT NULL FROM {schema}.idempotency_keys")}


def referrals_made(store: Referrals) -> int:
    return sum(1 for n in store.recorder.select_notifications(1, 10_000) if n.topic == "ReferralMade")


def a_referral_change(store: Referrals, claim: Claim | None = None) -> Change:
    """A referral decided under `claim`, as a route decides it, not saved yet."""
    command = MakeReferral(**a_referral_request())
    if claim is None:
        return decide(store, command, a_context())
    with claiming(claim):
        return decide(store, command, a_context())


# -- the key and the change: one transaction ------------------------------------------------------------------


def test_a_key_is_committed_with_the_events_of_its_change(store, postgres, schema):
    change = a_referral_change(store, a_claim("key-1"))

    position = store.commit(change)

    case = change.aggregates[0]
    assert keys_of(postgres, schema) == {"key-1": (case.id, case.version, False)}
    assert position == store.position() and change.idempotency.saved


def test_a_change_the_store_refuses_leaves_its_key_unused(store, postgres, schema):
    change = a_referral_change(store)
    store.commit(change)
    case = store.get_case(change.aggregates[0].id)
    stale = store.get_case(case.id)
    case.close(reason="returned_home", occurred_at=days_ago(1), now=days_ago(1))
    stale.close(reason="moved_on", occurred_at=days_ago(1), now=days_ago(1))
    store.commit(Change.of(a_context(), case))

    with claiming(a_claim("key-1")), pytest.raises(IntegrityError):  # the version is taken: decide again
        store.commit(Change.of(a_context(), stale))

    assert keys_of(postgres, schema) == {}
    retried = a_referral_change(store, a_claim("key-1"))
    store.commit(retried)  # the key is free for the retry
    assert set(keys_of(postgres, schema)) == {"key-1"}


def test_a_change_under_a_used_key_saves_none_of_its_events_or_rows(store, postgres, schema):
    store.commit(a_referral_change(store, a_claim("key-1")))
    position, vault_rows = store.position(), vault_row_count(postgres, schema)

    with pytest.raises(IdempotencyKeyUsed) as refused:
        store.commit(a_referral_change(store, a_claim("key-1")))

    assert not isinstance(refused.value, IntegrityError)  # placement's capacity race must not decide again
    assert store.position() == position
    assert vault_row_count(postgres, schema) == vault_rows
    assert referrals_made(store) == 1


def vault_row_count(postgres, schema: str) -> int:
    with psycopg.connect(postgres.url) as conn:
        return conn.execute(f"SELECT count(*) FROM {schema}.personal_details").fetchone()[0]


def test_two_processes_saving_under_one_key_at_once_save_one_change(store, postgres, schema):
    other_process = referrals(postgres.url, schema)  # a store of its own: its own pool, its own transactions
    try:
        changes = [a_referral_change(s, a_claim("key-1")) for s in (store, other_process)]
        barrier = threading.Barrier(2, timeout=10)

        def save(pair: tuple[Referrals, Change]) -> str:
            barrier.wait()
            try:
                pair[0].commit(pair[1])
                return "saved"
            except IdempotencyKeyUsed:
                return "key used"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(save, zip((store, other_process), changes, strict=True)))
    finally:
        other_process.close()

    assert outcomes == ["key used", "saved"]
    assert referrals_made(store) == 1


def test_a_group_with_a_used_key_is_saved_again_change_by_change_and_only_that_change_fails(store, postgres,
                                                                                               schema):
    store.commit(a_referral_change(store, a_claim("used")))
    leading, duplicate, keyed, plain = (a_referral_change(store, claim) for claim in (
        None, a_claim("used"), a_claim("fresh"), None))
    transactions: list[int] = []
    first_started, release = threading.Event(), threading.Event()

    def record_changes(changes):
        transactions.append(len(changes))
        if len(transactions) == 1:  # hold the first transaction, so that the others queue up as one group
            first_started.set()
            release.wait(10)
        return store.record_changes(changes)

    group = GroupCommit(record_changes)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.save, leading)
        assert first_started.wait(10)
        queued = [pool.submit(group.save, change) for change in (duplicate, keyed, plain)]
        while len(group._waiting) < 3:
            pass
        release.set()
        first.result(10)
        with pytest.raises(IdempotencyKeyUsed):
            queued[0].result(10)
        queued[1].result(10), queued[2].result(10)

    assert transactions == [1, 3, 1, 1, 1]
    assert referrals_made(store) == 4  # the first under "used", the leading one, the keyed and the plain
    assert set(keys_of(postgres, schema)) == {"used", "fresh"}


def test_a_used_key_is_not_mistaken_for_a_placement_overtaken_by_another(postgres, schema):
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    placements = Placements(env=postgres_env(postgres.url, schema, lock_timeout_seconds=5))
    try:
        provider, _ = placements.register_provider(a_context(), name="Trust", district="preston",
                                                   occurred_at=days_ago(500))
        scheme, _ = placements.register_scheme(a_context(), provider_id=provider.id, occurred_at=days_ago(450),
                                               **scheme_fields())
        with claiming(a_claim("key-1")):
            placements.change_capacity(a_context(), scheme.id, units=3, effective_from=OPENED_ON,
                                       occurred_at=days_ago(400))

        with claiming(a_claim("key-1")), pytest.raises(IdempotencyKeyUsed):  # not decided again 10 times
            placements.change_capacity(a_context(), scheme.id, units=4, effective_from=date.today(),
                                       occurred_at=days_ago(1))

        assert placements.get_scheme(scheme.id).version == 2
    finally:
        placements.close()


# -- the referral routes answering a retry from the key's row -------------------------------------------------


@dataclass
class StandInRuntime:
    store: Referrals

    def saved(self, position: int) -> str:
        return f"referral:{position}"


@pytest.fixture
async def keys(postgres, schema, store: Referrals) -> AsyncIterator[PostgresKeyBook]:
    pool = await asyncpg.create_pool(postgres.url, min_size=1, max_size=2)
    yield PostgresKeyBook(pool, schema, "referral", store.recorder.events_table_name)
    await pool.close()


@pytest.fixture
async def client(store: Referrals, keys: PostgresKeyBook) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    map_domain_errors(app)
    app.include_router(router)
    install_idempotency(app, lambda: keys, wait_for_first_answer=0.2)
    app.state.runtime = StandInRuntime(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=trusting_test_tokens(app)),
                                 base_url="http://referral", headers=bearer()) as client:
        yield client


async def test_a_referral_retried_with_its_key_gets_the_answer_kept_in_postgresql(client, store, postgres, schema):
    body = a_referral_body()

    first = await client.post("/referrals", json=body, headers={"Idempotency-Key": "key-1"})
    retried = await client.post("/referrals", json=body, headers={"Idempotency-Key": "key-1"})

    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.json() == first.json() and retried.headers["Idempotent-Replayed"] == "true"
    assert referrals_made(store) == 1
    assert keys_of(postgres, schema)["key-1"] == (UUID(first.json()["case_id"]), 1, True)


async def test_a_referral_saved_but_not_yet_answered_asks_the_retry_to_come_back(client, store, postgres, schema):
    body = httpx.Request("POST", "/referrals", json=a_referral_body()).content
    store.commit(a_referral_change(store, a_claim("key-1", body)))  # committed; the answer not kept yet

    answer = await client.post("/referrals", content=body, headers={"Idempotency-Key": "key-1",
                                                                    "content-type": "application/json"})

    assert answer.status_code == 409 and answer.headers["Retry-After"] == "1"
    assert referrals_made(store) == 1


async def test_a_referral_whose_process_died_before_answering_gets_an_answer_rebuilt_from_the_key(
        client, store, postgres, schema):
    body = httpx.Request("POST", "/referrals", json=a_referral_body()).content
    change = a_referral_change(store, a_claim("key-1", body))
    position = store.commit(change)  # then the process died: no answer kept
    with psycopg.connect(postgres.url) as conn:
        conn.execute(f"UPDATE {schema}.idempotency_keys SET recorded_at = recorded_at - interval '1 minute'")

    answer = await client.post("/referrals", content=body, headers={"Idempotency-Key": "key-1",
                                                                    "content-type": "application/json"})

    assert answer.status_code == 201, answer.text  # as POST /referrals answers: the referral was made
    assert answer.headers["Idempotent-Replayed"] == "true"
    rebuilt = answer.json()
    assert (rebuilt["rebuilt"], rebuilt["aggregate_id"], rebuilt["position"]) == (
        True, str(change.aggregates[0].id), f"referral:{position}")
    assert referrals_made(store) == 1


async def test_a_refused_referral_keeps_no_key(client, store, postgres, schema):
    body = a_referral_body(cohort="adult")

    refused = await client.post("/referrals", json=body, headers={"Idempotency-Key": "key-1"})

    assert refused.status_code == 422
    assert keys_of(postgres, schema) == {}


async def test_keys_older_than_the_retention_are_forgotten(client, keys, postgres, schema):
    for key in ("old", "new"):
        await client.post("/referrals", json=a_referral_body(), headers={"Idempotency-Key": key})
    with psycopg.connect(postgres.url) as conn:
        conn.execute(f"UPDATE {schema}.idempotency_keys SET recorded_at = now() - interval '8 days'"
                     " WHERE key = 'old'")

    assert await keys.forget_older_than(7) == 1
    assert set(keys_of(postgres, schema)) == {"new"}



async def test_a_key_book_whose_database_is_down_says_so_at_once():
    pool = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", min_size=0)
    try:
        with pytest.raises(StoreUnavailable):
            await PostgresKeyBook(pool, "referral", "referral", "referrals_events").find("key-1")
    finally:
        await pool.close()
