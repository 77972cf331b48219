"""Idempotency keys: what makes two requests the same, which keys are taken, how a claim reaches the thread
that saves, and what the middleware answers a retry.

The middleware runs here against a key book in memory standing in for the service's table: a route "saves"
by recording the claim's key as the store would (and refusing a key recorded before, as the table's primary
key does). The same behaviour on PostgreSQL and the real routes is in tests/integration and tests/e2e."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from services.placement.application import Placements
from shared.contracts import EventContext
from shared.errors import StoreUnavailable
from shared.eventstore import IN_MEMORY_ENV, Change
from shared.idempotency import (
    ANSWER_DUE_WITHIN,
    Claim,
    IdempotencyKeyUsed,
    InvalidIdempotencyKey,
    KeptKey,
    claiming,
    current_claim,
    fingerprint,
    install_idempotency,
    scoped_key,
    sent_key,
    valid_key,
)

from .builders import a_case
from .placement_builders import a_provider

# -- fingerprints and keys ------------------------------------------------------------------------------------


def a_fingerprint(**parts) -> bytes:
    request = {"method": "POST", "path": "/referrals", "query": b"", "actor": b"worker-1", "body": b'{"a": 1}'}
    return fingerprint(**(request | parts))


def test_the_same_request_has_the_same_fingerprint():
    assert a_fingerprint() == a_fingerprint()
    assert len(a_fingerprint()) == 32


@pytest.mark.parametrize("part", [
    {"method": "PUT"}, {"path": "/referrals/x"}, {"query": b"after=referral:1"}, {"actor": b"worker-2"},
    {"body": b'{"a": 2}'}, {"body": b'{"a":1}'}],
    ids=["method", "path", "query", "actor", "body", "body spacing"])
def test_a_request_differing_in_any_part_has_another_fingerprint(part):
    assert a_fingerprint(**part) != a_fingerprint()


def test_parts_do_not_run_together():
    assert a_fingerprint(path="/ab", query=b"c") != a_fingerprint(path="/a", query=b"bc")


@pytest.mark.parametrize("key", [str(uuid4()), "k", "x" * 200, "retry 3 of order #12/a~z"])
def test_a_key_of_1_to_200_printable_ascii_characters_is_taken(key):
    assert valid_key(key) == key


@pytest.mark.parametrize(("key", "reason"), [
    ("", "empty"), ("x" * 201, "201 characters"), ("clé", "printable ASCII"), ("a\tb", "printable ASCII")],
    ids=["empty", "too long", "not ASCII", "control character"])
def test_any_other_key_is_refused_with_its_reason(key, reason):
    with pytest.raises(InvalidIdempotencyKey, match=reason):
        valid_key(key)


# -- the claim reaches the thread that builds the change ------------------------------------------------------


async def test_a_claim_reaches_a_route_running_in_starlettes_thread_pool_and_in_asyncio_to_thread():
    claim = Claim("k", b"f")
    with claiming(claim):
        assert await run_in_threadpool(current_claim) is claim
        assert await asyncio.to_thread(current_claim) is claim
    assert current_claim() is None


def test_a_change_carries_the_claim_of_the_request_that_made_it():
    claim = Claim("k", b"f")
    with claiming(claim):
        change = Change.of(EventContext(actor="a"), a_case())
    assert change.idempotency is claim
    assert Change.of(EventContext(actor="a"), a_case()).idempotency is None


def test_once_a_change_under_the_key_is_saved_later_changes_of_the_request_go_without_it():
    with claiming(Claim("k", b"f")) as claim:
        claim.saved = True
        assert Change.of(EventContext(actor="a"), a_case()).idempotency is None


def test_a_store_in_memory_refuses_a_change_whose_key_it_cannot_keep():
    store = Placements(env=IN_MEMORY_ENV)
    with claiming(Claim("k", b"f")):
        change = Change.of(EventContext(actor="a"), a_provider())

    with pytest.raises(TypeError, match="idempotency keys"):
        store.record_changes([change])
    assert store.position() == 0


# -- the middleware -------------------------------------------------------------------------------------------


@dataclass
class KeysInMemory:
    """The service's key table, in memory."""

    service: str = "things"
    retention_days: int = 7
    secret: bytes = b""
    rows: dict[str, KeptKey] = field(default_factory=dict)
    answers_kept: int = 0
    sweeps: list[int] = field(default_factory=list)

    def record(self, claim: Claim, aggregate_id: UUID, position: int) -> None:
        """What the store does in the transaction of a change's events."""
        if claim.key in self.rows:
            raise IdempotencyKeyUsed([claim.key])
        self.rows[claim.key] = KeptKey(claim.fingerprint, timedelta(0), aggregate_id=aggregate_id, position=position)
        claim.saved = True

    async def find(self, key: str) -> KeptKey | None:
        return self.rows.get(key)

    async def keep_answer(self, claim: Claim, status: int, media_type: str | None, answer: bytes) -> None:
        self.answers_kept += 1
        kept = self.rows.get(claim.key) or KeptKey(claim.fingerprint, timedelta(0))
        self.rows[claim.key] = replace(kept, status=status, media_type=media_type, answer=answer)

    async def forget_older_than(self, days: int) -> int:
        self.sweeps.append(days)
        return 0


@dataclass
class Things:
    """A service whose one write makes a thing (a sync route, as the services' writes are)."""

    keys: KeysInMemory = field(default_factory=KeysInMemory)
    made: list[UUID] = field(default_factory=list)
    refuse_next: bool = False
    twin_answers_first: bool = False

    def make(self, body: dict) -> dict:
        if self.refuse_next:
            self.refuse_next = False
            raise HTTPException(503, "the store is away")
        thing_id = uuid4()
        claim = Change.of(EventContext(actor="a"), a_case()).idempotency  # what the store would receive
        if claim and self.twin_answers_first:  # a request with the same key committed while this one decided
            self.keys.record(Claim(claim.key, claim.fingerprint), uuid4(), 1)
            asyncio.run(self.keys.keep_answer(Claim(claim.key, claim.fingerprint), 201, "application/json",
                                              b'{"thing_id": "the twin\'s"}'))
        if claim:
            self.keys.record(claim, thing_id, len(self.made) + 1)
        self.made.append(thing_id)
        return {"thing_id": str(thing_id), "name": body["name"]}


@pytest.fixture
def things() -> Things:
    return Things()


@pytest.fixture
def client(things: Things) -> TestClient:
    app = FastAPI()

    @app.post("/things", status_code=201)
    def make_thing(body: dict) -> dict:
        return things.make(body)

    @app.get("/things")
    def list_things() -> list[str]:
        return [str(thing) for thing in things.made]

    install_idempotency(app, lambda: things.keys, wait_for_first_answer=0.1, subject_of=subject_sent)
    return TestClient(app)


def subject_sent(headers) -> str | None:
    """Stands in for the verified token's subject (shared.auth.verified_subject): a header here."""
    return next((value.decode() for name, value in headers if name == b"x-test-subject"), None)


def post(client: TestClient, key: str | None, name: str = "lamp", actor: str = "worker-1"):
    headers = {"X-Test-Subject": actor} | ({"Idempotency-Key": key} if key is not None else {})
    return client.post("/things", json={"name": name}, headers=headers)


def test_writes_without_a_key_are_done_each_time(client, things):
    answers = [post(client, None), post(client, None)]

    assert [a.status_code for a in answers] == [201, 201]
    assert len(things.made) == 2
    assert things.keys.rows == {}


def test_a_retry_with_the_key_gets_the_first_answer_and_does_nothing(client, things):
    first = post(client, "k1")
    retried = post(client, "k1")

    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.content == first.content
    assert retried.headers["content-type"] == first.headers["content-type"]
    assert (first.headers.get("Idempotent-Replayed"), retried.headers["Idempotent-Replayed"]) == (None, "true")
    assert len(things.made) == 1


def test_the_same_key_from_another_subject_is_their_own_key_and_never_replays_someone_elses_answer(client, things):
    first = post(client, "k1", actor="worker-1")

    other = post(client, "k1", actor="worker-2")

    assert (first.status_code, other.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in other.headers and len(things.made) == 2


def test_a_write_without_a_trusted_subject_passes_through_and_keeps_no_key(client, things):
    answer = client.post("/things", json={"name": "lamp"}, headers={"Idempotency-Key": "k1"})

    assert answer.status_code == 201 and things.keys.rows == {}


def test_the_key_of_another_request_is_refused_naming_the_key(client, things):
    post(client, "k1")

    refused = post(client, "k1", name="chair")

    assert refused.status_code == 422
    [reason] = refused.json()["detail"]
    assert reason["loc"] == ["header", "Idempotency-Key"] and "'k1'" in reason["msg"]
    assert len(things.made) == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "clé"], ids=["empty", "too long", "not ASCII"])
def test_a_malformed_key_is_refused_and_the_write_is_not_done(client, things, key):
    refused = client.post("/things", json={"name": "lamp"}, headers={"Idempotency-Key": key.encode()})

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert things.made == []


def test_a_failed_write_keeps_nothing_so_its_retry_runs_again(client, things):
    things.refuse_next = True

    failed = post(client, "k1")
    retried = post(client, "k1")

    assert (failed.status_code, retried.status_code) == (503, 201)
    assert "Idempotent-Replayed" not in retried.headers
    assert len(things.made) == 1


def test_a_key_saved_but_not_yet_answered_tells_the_retry_to_come_back(client, things):
    things.keys.rows[KEY_OF_WORKER_1] = KeptKey(a_fingerprint_of(client, "lamp"), timedelta(seconds=1), position=7)

    answer = post(client, "k1")

    assert answer.status_code == 409
    assert answer.headers["Retry-After"] == "1"
    assert "in progress" in answer.json()["detail"]
    assert things.made == []


def test_a_key_whose_answer_was_lost_with_its_process_gets_a_success_rebuilt_from_the_row(client, things):
    thing_id = uuid4()
    things.keys.rows[KEY_OF_WORKER_1] = KeptKey(a_fingerprint_of(client, "lamp"),
                                                ANSWER_DUE_WITHIN + timedelta(seconds=1), aggregate_id=thing_id,
                                                position=7)

    answer = post(client, "k1")

    assert answer.status_code == 201  # the status the route declares: the write did succeed
    assert answer.headers["Idempotent-Replayed"] == "true"
    assert answer.json() | {"detail": "..."} == {"idempotency_key": "k1", "rebuilt": True, "detail": "...",
                                                 "aggregate_id": str(thing_id), "position": "things:7"}
    assert things.made == []


def test_a_request_whose_twin_saved_under_the_key_first_gets_the_twins_answer(client, things):
    things.twin_answers_first = True

    answer = post(client, "k1")

    assert answer.status_code == 201
    assert answer.json() == {"thing_id": "the twin's"}
    assert answer.headers["Idempotent-Replayed"] == "true"
    assert things.keys.answers_kept == 1  # the twin's; nothing kept for the request that lost
    assert things.made == []


def test_a_key_book_out_of_reach_answers_503_and_the_write_is_not_done(client, things):
    async def unavailable(key: str) -> KeptKey | None:
        raise StoreUnavailable()
    things.keys.find = unavailable

    answer = post(client, "k1")

    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")
    assert things.made == []


def test_keys_past_their_retention_are_swept_after_a_keyed_write_at_most_once_an_hour(client, things):
    post(client, "k1")
    post(client, "k2")
    deadline = time.monotonic() + 5
    while not things.keys.sweeps and time.monotonic() < deadline:
        time.sleep(0.01)

    assert things.keys.sweeps == [7]


def test_reads_take_no_notice_of_a_key(client, things):
    post(client, "k1")

    assert client.get("/things", headers={"Idempotency-Key": "k1"}).json() == [str(things.made[0])]
    assert client.get("/things", headers={"Idempotency-Key": "k1"}).headers.get("Idempotent-Replayed") is None


KEY_OF_WORKER_1 = scoped_key("worker-1", "k1")
"""Key k1 as the middleware keeps it for worker-1's requests."""


def a_fingerprint_of(client: TestClient, name: str) -> bytes:
    """The fingerprint of `post(client, key, name)`, as the middleware takes it."""
    body = client.build_request("POST", "/things", json={"name": name}).content
    assert json.loads(body) == {"name": name}
    return fingerprint("POST", "/things", b"", b"worker-1", body)


def test_the_api_document_lists_the_header_on_writes_only(client):
    paths = client.get("/openapi.json").json()["paths"]

    assert [p["name"] for p in paths["/things"]["post"]["parameters"]] == ["Idempotency-Key"]
    assert "parameters" not in paths["/things"]["get"]


def test_a_fingerprint_is_keyed_so_a_guessed_request_cannot_be_matched_without_the_secret():
    assert a_fingerprint(secret=b"one secret") != a_fingerprint(secret=b"another")
    assert a_fingerprint(secret=b"one secret") == a_fingerprint(secret=b"one secret")


@pytest.mark.parametrize("subject", ["worker-1", "a:b c", ""])
def test_a_kept_key_gives_back_the_key_its_client_sent(subject):
    assert sent_key(scoped_key(subject, "k:1")) == "k:1"


class PoolLosingItsServer:
    """An asyncpg pool whose connection breaks under it: PostgreSQL killed while the answer is being kept."""

    def acquire(self, timeout: float | None = None):
        import contextlib

        import asyncpg

        @contextlib.asynccontextmanager
        async def connection():
            yield self
            raise asyncpg.exceptions.InternalClientError("the connection was lost while being released")

        return connection()

    async def execute(self, *args, **kwargs) -> str:
        return "UPDATE 1"


async def test_a_database_lost_while_keeping_an_answer_is_unavailable_never_a_server_error():
    from shared.errors import StoreUnavailable
    from shared.idempotency import Claim, PostgresKeyBook

    keys = PostgresKeyBook(PoolLosingItsServer(), "referral", "referral", "stored_events", 7, b"secret")
    claim = Claim("a-key", b"fingerprint", sent="a-key")
    claim.saved = True

    with pytest.raises(StoreUnavailable):  # the middleware then still sends the saved write's answer
        await keys.keep_answer(claim, 201, "application/json", b"{}")
