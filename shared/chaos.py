"""Chaos: a steady mixed workload through casetrack's real interfaces, with retrying clients, while faults
are injected; then, once the system is quiet, a check that every answered write is kept exactly once in
every view, and nothing that was refused is anywhere.

- `Workload` is the clients: HTTP writers (referrals, then eligibility decisions on their cases, each
  request with an `Idempotency-Key` and retried with it until it gets a definitive answer) and one district
  system per district sending referral messages over NATS (resent, same `message_id`, until answered).
  What each client was told goes in the `Ledger`.
- `Faults` are what an operator's bad day does: kill -9 an engine or a service, PostgreSQL away for a while
  with a backlog, a consumer frozen until a large backlog builds, a poison event, a poison district message.
- `verify` waits until the system is quiet, then compares the ledger with the stores, the streams and every
  read model: counts and a checksum over the ids each view holds.

The fault suite (tests/faults, `pytest -m faults`) runs short versions of each fault against a system of its
own; `casetrack chaos` runs longer ones against the system `casetrack up` is running, and `--soak` runs
the workload alone for an hour with memory and lag sampled.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import nats
import psutil
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.auth import embedded_signing_key, mint_token
from shared.idempotency import sent_key
from shared.nats_access import ADMIN, Credentials, district_user, kept_credentials_of
from shared.subjects import POSITION_HEADER, ingest_subject, stream_name

NIL_CASE = "00000000-0000-0000-0000-000000000000"
RETRYABLE = {429, 502, 503, 504}
SCHEME_LETS = 400
"""Placements the workload makes in one scheme before registering another (a large hostel's year)."""
STORES = {"referral": "referrals_events", "placement": "placements_events", "outcomes": "outcomes_events",
          "finance": "finance_events"}
"""Each service with events, and its events table (in the service's own schema)."""
JOURNEY_SOURCES = ("referral", "placement")
"""The stores whose events make the journeys' steps."""
EPISODE_OPENINGS = ("PlacementStarted", "PlacementMoved", "FloatingSupportStarted")
EPISODE_ENDINGS = ("PlacementMoved", "PlacementEnded", "PlacementBrokeDown", "FloatingSupportEnded")
"""The placement events that open and end the outcomes service's support episodes."""


# ---------------------------------------------------------------------------------------------------- the clients

@dataclass
class Ledger:
    """What the clients were told: the truth the system is checked against."""

    referred: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> case id, for each POST /referrals answered 201."""
    decided: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> case id, for each eligibility decision answered 200."""
    placed: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> placement id, for each POST /placements answered 201."""
    ended: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> placement id, for each placement ending answered 200."""
    refused: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> the definitive error answer (a 4xx): none of these may be anywhere."""
    unanswered: set[str] = field(default_factory=set)
    """Keys whose client gave up without an answer: each may or may not have been applied, once at most."""
    accepted: dict[str, str] = field(default_factory=dict)
    """District message id -> case id, for each district referral accepted."""
    rejected: dict[str, list] = field(default_factory=dict)
    """District message id -> reasons, for each message rejected."""
    unanswered_messages: set[str] = field(default_factory=set)
    retries: int = 0
    replayed: int = 0
    """Retries answered from the idempotency record (header Idempotent-Replayed)."""
    write_times: list[float] = field(default_factory=list)
    cases_before: set[str] | None = None
    """The cases (and placements) the stores held before the clients started: a running system's own data, not
    counted as made by them."""
    placements_before: set[str] = field(default_factory=set)

    @property
    def writes(self) -> int:
        return len(self.referred) + len(self.decided) + len(self.placed) + len(self.ended) + len(self.accepted)


async def _expected(*_: object) -> None:
    """NATS going away is what chaos does: the client reconnects by itself, nothing to print."""


def a_referral(district: str = "preston") -> dict[str, Any]:
    """A referral body whose young person has a name of their own (never taken for anybody else)."""
    return {
        "district": district, "gateway": "district_housing_options", "cohort": "homeless_16_17",
        "young_person": {"given_name": f"Chaos{uuid.uuid4().hex[:8]}", "family_name": f"Load{uuid.uuid4().hex[:8]}",
                         "date_of_birth": "2009-03-14"},
        "presenting_reason": "parental_eviction", "flags": [], "occurred_at": "2026-11-20T10:00:00Z",
    }


def a_referral_message(district_ref: str) -> dict[str, Any]:
    return {
        "district_ref": district_ref, "message_id": f"{district_ref}-referral", "occurred_at": "2026-11-19T09:30:00Z",
        "gateway": "district_housing_options", "cohort": "homeless_16_17",
        "young_person": {"given_name": f"Chaos{uuid.uuid4().hex[:6]}", "family_name": f"Inbox{uuid.uuid4().hex[:8]}",
                         "date_of_birth": "2009-05-01"},
        "presenting_reason": "parental_eviction", "flags": [],
    }


class Workload:
    """Steady writes at `rate` per second, shared by `http_writers` HTTP clients and one district system per
    district; every client retries until it gets a definitive answer or `give_up_seconds` pass."""

    def __init__(self, referral_url: str, placement_url: str, nats_url: str, ledger: Ledger, rate: float = 20.0,
                 http_writers: int = 4, districts: tuple[str, ...] = ("preston", "dover"),
                 give_up_seconds: float = 300.0, signing_key: bytes | None = None,
                 credentials: Callable[[str], Credentials] | None = None):
        """`credentials(district)`: each district system connects as its own NATS user (None: an open server)."""
        self.referral_url = referral_url
        self.signing_key = signing_key
        """The embedded default's token signing key: each HTTP writer is an administrator of its own subject."""
        self.credentials = credentials
        self.placement_url = placement_url
        self._scheme: tuple[str, int] | None = None
        """The emergency scheme placements go to, and how many were placed in it (a new one before it is full)."""
        self.nats_url = nats_url
        self.ledger = ledger
        self.rate = rate
        self.http_writers = http_writers
        self.districts = districts
        self.give_up_seconds = give_up_seconds
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._slot = 0
        self._started = 0.0
        self._answers: dict[str, tuple[str, dict]] = {}
        self._answered: dict[str, asyncio.Event] = {}
        self._nc: dict[str, nats.NATS] = {}

    async def start(self) -> None:
        self._started = time.monotonic()
        for district in dict.fromkeys((*self.districts, *SENDING_DISTRICTS)):  # a burst may come from any of them
            options = self.credentials(district).connect_options() if self.credentials else {"servers": [self.nats_url]}
            nc = self._nc[district] = await nats.connect(
                max_reconnect_attempts=-1, reconnect_time_wait=0.2, name=f"casetrack-chaos-{district}",
                error_cb=_expected, disconnected_cb=_expected, **options)
            for answer in ("accepted", "rejected"):
                await nc.subscribe(f"casetrack.{answer}.{district}", cb=self._answer_arrived(answer))
            await nc.flush()
        self._tasks = [asyncio.create_task(self._http_writer(n), name=f"chaos-http-{n}")
                       for n in range(self.http_writers)]
        self._tasks += [asyncio.create_task(self._district(district), name=f"chaos-district-{district}")
                        for district in self.districts]

    async def stop(self) -> None:
        """Stop taking new work; what is in flight is retried to its answer (or given up)."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        for nc in self._nc.values():
            await nc.close()

    async def __aenter__(self) -> Workload:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def until(self, writes: int, timeout: float = 120.0) -> None:
        """Wait until the ledger holds at least `writes` answered writes."""
        deadline = time.monotonic() + timeout
        while self.ledger.writes < writes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the workload made {self.ledger.writes} of {writes} writes in {timeout:.0f}s")
            await asyncio.sleep(0.1)  # polling the ledger the clients fill

    async def _pace(self) -> bool:
        """Wait for this client's next turn at the workload's rate; False once the workload is stopping."""
        self._slot += 1
        delay = self._started + self._slot / self.rate - time.monotonic()
        if delay < -1.0:  # after a stall, carry on at the rate rather than rush to make up the lost turns
            self._started, self._slot, delay = time.monotonic(), 0, 0.0
        if delay > 0:
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                pass
        return not self._stopping.is_set()

    async def _http_writer(self, n: int = 0) -> None:
        """A case worker: refers a young person; every second case gets an eligibility decision, every third
        an emergency placement that later ends."""
        token = mint_token(self.signing_key, role="admin", subject=f"chaos-{n}", minutes=24 * 60) \
            if self.signing_key else ""
        worker = {"timeout": 5.0, "headers": {"Authorization": f"Bearer {token}"}}
        async with (httpx.AsyncClient(base_url=self.referral_url, **worker) as referral,
                    httpx.AsyncClient(base_url=self.placement_url, **worker) as placement):
            referrals = 0
            while await self._pace():
                answer = await self._write(referral, "/referrals", a_referral(), 201, self.ledger.referred, "case_id")
                if answer is None:
                    continue
                case_id, position = answer["case_id"], answer["position"]
                referrals += 1
                if referrals % 2 == 0 and await self._pace():
                    await self._write(referral, f"/cases/{case_id}/eligibility",
                                      {"eligible": True, "occurred_at": "2026-11-21T09:00:00Z"}, 200,
                                      self.ledger.decided, case_id)
                if referrals % 3 == 0 and await self._pace():
                    scheme_id = await self._emergency_scheme(placement)
                    placed = await self._write(placement, "/placements", {
                        "case_id": case_id, "scheme_id": scheme_id, "route": "emergency",
                        "occurred_at": "2026-11-20T12:00:00Z"}, 201,
                        self.ledger.placed, "placement_id", params={"after": position})
                    if placed and await self._pace():
                        await self._write(placement, f"/placements/{placed['placement_id']}/ending", {
                            "planned": True, "destination": "friends_or_family",
                            "occurred_at": "2026-11-22T10:00:00Z"}, 200, self.ledger.ended, placed["placement_id"])

    async def _write(self, client: httpx.AsyncClient, path: str, body: dict, status: int, kept: dict[str, str],
                     what: str, params: dict | None = None) -> dict | None:
        """One write with a key of its own, retried to a definitive answer; kept under its key if `status`.
        `what` is the answer's field to keep (or, if not a field of it, the value itself)."""
        key = f"chaos-{uuid.uuid4().hex}"
        answer = await self._post_until_answered(client, path, body, key, params)
        if answer is None:
            return None
        if answer.status_code != status:
            self.ledger.refused[key] = f"{path} {answer.status_code} {answer.text[:300]}"
            return None
        found = answer.json()
        if found.get("rebuilt") and what.endswith("_id") and what not in found:
            found = {**found, what: found["aggregate_id"]}  # the service died between saving and answering: the
            # answer names the aggregate (a case, a placement, a provider, a scheme)
        kept[key] = found.get(what, what)
        self.ledger.write_times.append(time.time())
        return found

    async def _emergency_scheme(self, placement: httpx.AsyncClient) -> str:
        """The emergency scheme to place in; a new one (and its provider) after `SCHEME_LETS` lets: every
        placement here spans the same nights, so a scheme fills, and a scheme's aggregate holds every let it
        ever made (its writes slow as they accumulate: see the soak in the README)."""
        if self._scheme is None or self._scheme[1] >= SCHEME_LETS:
            self._scheme = ("", 0)  # claimed: the other writers wait for it
            provider = await self._write(placement, "/providers", {"name": "Chaos Trust", "district": "preston"},
                                         201, {}, "provider_id")
            scheme = await self._write(placement, "/schemes", {
                "provider_id": provider["provider_id"], "name": "Chaos Crash Pad", "district": "preston",
                "provision_type": "emergency_assessment_bed", "pathway_stage": "assessment", "support_level": "high",
                "support_hours_per_week": 10, "capacity_units": SCHEME_LETS + 100, "opened_on": "2026-01-01"}, 201, {},
                "scheme_id")
            self._scheme = (scheme["scheme_id"], 0)
        while not self._scheme[0]:
            await asyncio.sleep(0.05)  # another writer is registering the scheme
        self._scheme = (self._scheme[0], self._scheme[1] + 1)
        return self._scheme[0]

    async def _post_until_answered(self, client: httpx.AsyncClient, path: str, body: dict, key: str,
                                   params: dict | None = None) -> httpx.Response | None:
        """POST with the idempotency key until a definitive answer (2xx or 4xx); None if given up."""
        deadline = time.monotonic() + self.give_up_seconds
        pause = 0.1
        while True:
            try:
                response = await client.post(path, json=body, params=params, headers={"Idempotency-Key": key})
            except httpx.TransportError:  # refused, reset, timed out: the write may or may not have happened
                response = None
            if response is not None:
                in_progress = response.status_code == 409 and "retry-after" in response.headers
                if response.status_code not in RETRYABLE and not in_progress:
                    if response.headers.get("idempotent-replayed") == "true":
                        self.ledger.replayed += 1
                    return response
            if time.monotonic() > deadline:
                self.ledger.unanswered.add(key)
                return None
            self.ledger.retries += 1
            await asyncio.sleep(pause)  # a client's back-off between retries
            pause = min(pause * 2, 2.0)

    def _answer_arrived(self, answer: str) -> Callable[[Any], Awaitable[None]]:
        async def arrived(msg: Any) -> None:
            try:
                body = json.loads(msg.data)
            except ValueError:
                return
            message_id = body.get("message_id")
            if message_id:
                self._answers[message_id] = (answer, body)
                if message_id in self._answered:
                    self._answered[message_id].set()
        return arrived

    async def _district(self, district: str) -> None:
        """One district system: a referral message at a time, resent (same message id) until answered."""
        while await self._pace():
            message = a_referral_message(f"{district[:3].upper()}-{uuid.uuid4().hex[:10]}")
            answer = await self.send_until_answered(district, "referral", message)
            if answer is None:
                continue
            kind, body = answer
            if kind == "accepted":
                self.ledger.accepted[message["message_id"]] = body["case_id"]
                self.ledger.write_times.append(time.time())
            else:
                self.ledger.rejected[message["message_id"]] = body.get("reasons", [])

    async def send_until_answered(self, district: str, kind: str, message: dict | bytes,
                                  message_id: str | None = None) -> tuple[str, dict] | None:
        """Publish a district message and wait for its answer, resending it while none comes."""
        message_id = message_id or (message["message_id"] if isinstance(message, dict) else None)
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        answered = self._answered.setdefault(message_id, asyncio.Event()) if message_id else asyncio.Event()
        deadline = time.monotonic() + self.give_up_seconds
        js = self._nc[district].jetstream()
        while time.monotonic() < deadline:
            try:
                await js.publish(ingest_subject(district, kind), data, timeout=2.0)
            except Exception:  # noqa: BLE001 - NATS away or the publish unacknowledged: send it again
                self.ledger.retries += 1
                await asyncio.sleep(0.5)  # a client's back-off between retries
                continue
            if message_id is None:
                return None
            try:
                await asyncio.wait_for(answered.wait(), 15.0)
                return self._answers[message_id]
            except TimeoutError:
                self.ledger.retries += 1
        if message_id:
            self.ledger.unanswered_messages.add(message_id)
        return None


# ---------------------------------------------------------------------------------------------------- the faults

NatsTarget = str | dict[str, Any]
"""A NATS server's address, or nats.connect's options (servers and credentials)."""

SENDING_DISTRICTS = ("preston", "dover", "wyre")
"""The districts whose systems the workload plays (`casetrack chaos` issues their credentials first)."""


def connect_to(target: NatsTarget, **options: Any) -> Awaitable[nats.NATS]:
    return nats.connect(**({"servers": [target]} if isinstance(target, str) else target), **options)


class Processes(Protocol):
    """What injecting faults needs of a running system (shared.devservers.System has it)."""

    nats_url: str
    database_url: str

    def admin_credentials(self) -> Credentials: ...
    def district_credentials(self, district: str) -> Credentials: ...
    def kill(self, name: str) -> None: ...
    def freeze(self, name: str) -> None: ...
    def thaw(self, name: str) -> None: ...
    def stop_engine(self, name: str) -> None: ...
    def start_engine(self, name: str) -> None: ...
    def wait_until_healed(self, timeout: float = 60.0) -> None: ...


@dataclass
class Poison:
    """What the poison faults sent, for the check to find in the dead letters and rejections."""

    events: list[str] = field(default_factory=list)
    """Nats-Msg-Id of each poison event published on a service's stream."""
    messages: list[str] = field(default_factory=list)
    """Message id of each poison district message."""


async def publish_poison_event(nats_url: NatsTarget, service: str = "referral", district: str = "preston") -> str:
    """A message on a service's stream that no reader can apply (its body is not an event of the contract)."""
    poison_id = str(uuid.uuid4())
    nc = await connect_to(nats_url)
    try:
        await nc.jetstream().publish(
            f"casetrack.{service}.{district}.ReferralMade",
            json.dumps({"event_type": "ReferralMade", "poison": True, "event_id": poison_id}).encode(),
            headers={"Nats-Msg-Id": poison_id, POSITION_HEADER: "0"})
    finally:
        await nc.close()
    return poison_id


def a_poison_message(message_id: str) -> dict[str, Any]:
    """A district message the inbox can only reject: wrong types and values in every field it checks."""
    return {"district_ref": message_id, "message_id": message_id, "occurred_at": "not a date", "cohort": 12,
            "young_person": {"given_name": "", "date_of_birth": "yesterday"}}


async def wait_until_writes_resume(ledger: Ledger, after: float, timeout: float = 120.0) -> float:
    """Seconds from `after` (a time.time()) until a write is answered again."""
    deadline = time.monotonic() + timeout
    while not any(t > after for t in ledger.write_times[-50:]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no write was answered within {timeout:.0f}s of the fault")
        await asyncio.sleep(0.1)  # polling the ledger the clients fill
    return min(t for t in ledger.write_times if t > after) - after


# ---------------------------------------------------------------------------------------------------- the check

@dataclass
class Verdict:
    """The check's findings (empty when all is well) and the figures behind them."""

    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return "\n".join(self.problems) or "all well: " + json.dumps(self.figures)


def checksum(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


async def store_events(conn: asyncpg.Connection, service: str) -> list[dict]:
    rows = await conn.fetch(f"SELECT notification_id, state FROM {service}.{STORES[service]} ORDER BY notification_id")
    return [{"position": row["notification_id"], **json.loads(bytes(row["state"]))} for row in rows]


async def stream_ids(nats_url: NatsTarget, service: str) -> tuple[list[str], int]:
    """Every message id on a service's stream (duplicates kept), and the stream's last sequence."""
    nc = await connect_to(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name(service))
        total, last = info.state.messages, info.state.last_seq
        ids: list[str] = []
        if not total:
            return ids, last
        sub = await js.pull_subscribe(f"casetrack.{service}.>", stream=stream_name(service), config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0))
        try:
            while len(ids) < total:
                for msg in await sub.fetch(1000, timeout=5):
                    ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
        finally:
            await sub.unsubscribe()
        return ids, last
    finally:
        await nc.close()


async def wait_until_quiet(database_url: str, nats_url: NatsTarget, timeout: float = 180.0) -> dict[str, Any]:
    """Wait until every relay has published its store, every projection has applied every source to its end,
    and the district inbox holds nothing unanswered; returns what was last seen (for a timeout's message)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while True:
        try:
            seen = await _behind(database_url, nats_url)
        except (OSError, asyncpg.PostgresError, nats.errors.Error, TimeoutError) as error:
            seen = {"unreachable": f"{type(error).__name__}: {error}"}
        if not seen:
            return {}
        if time.monotonic() > deadline:
            raise TimeoutError(f"not quiet after {timeout:.0f}s: {seen}")
        await asyncio.sleep(0.25)  # polling positions recorded by the services


async def _behind(database_url: str, nats_url: NatsTarget) -> dict[str, Any]:
    behind: dict[str, Any] = {}
    heads: dict[str, int] = {}
    conn = await asyncpg.connect(database_url, timeout=2)
    nc = await connect_to(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        stream_last: dict[str, int] = {}
        for service, table in STORES.items():
            heads[service] = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {service}.{table}")
            relayed = await conn.fetchval(f"SELECT position FROM {service}.relay_position") or 0
            if relayed < heads[service]:
                behind[f"{service} relay"] = heads[service] - relayed
            stream_last[service] = (await js.stream_info(stream_name(service))).state.last_seq
        for schema in ("referral", "placement", "journeys", "outcomes", "finance"):
            exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.projection_position")
            if not exists:
                continue
            for row in await conn.fetch(f"SELECT projection, source, position FROM {schema}.projection_position"):
                end = heads[row["source"]] if row["source"] == schema else stream_last.get(row["source"], 0)
                if row["position"] < end:
                    behind[f"{schema}.{row['projection']} <- {row['source']}"] = end - row["position"]
        if await conn.fetchval("SELECT to_regclass('journeys.summaries_waiting')"):
            if waiting := await conn.fetchval("SELECT count(*) FROM journeys.summaries_waiting"):
                behind["journeys summaries waiting"] = waiting
        try:
            inbox = await js.consumer_info("CASETRACK_INGEST", "referral-district-inbox")
            if inbox.num_pending or inbox.num_ack_pending:
                behind["district inbox"] = inbox.num_pending + inbox.num_ack_pending
        except nats.js.errors.NotFoundError:
            behind["district inbox"] = "no consumer"
    finally:
        await conn.close()
        await nc.close()
    return behind


async def verify(database_url: str, nats_url: NatsTarget, ledger: Ledger, poison: Poison | None = None,
                 quiet_timeout: float = 180.0) -> Verdict:
    """Once quiet: every answered write is in its store, on its stream and in every view exactly once; nothing
    refused is anywhere; no idempotency key or district message made two cases; poison is in the dead letters
    (or rejections) with its reason, and everything after it was applied."""
    await wait_until_quiet(database_url, nats_url, quiet_timeout)
    verdict = Verdict()
    problems, figures = verdict.problems, verdict.figures
    poison = poison or Poison()
    conn = await asyncpg.connect(database_url)
    try:
        events = {service: await store_events(conn, service) for service in STORES}
        referral = events["referral"]
        cases = [e["case_id"] for e in referral if e["event_type"] == "ReferralMade"]
        case_set = set(cases)
        decisions = [e["case_id"] for e in referral if e["event_type"] == "EligibilityDecided"]

        # The store against the ledger: each answered write once, nothing refused, no key twice.
        told = list(ledger.referred.values()) + list(ledger.accepted.values())
        missing = set(told) - case_set
        if missing:
            problems.append(f"{len(missing)} cases answered 201/accepted are not in the referral store")
        if len(told) != len(set(told)):
            problems.append(f"{len(told) - len(set(told))} answers named a case another answer named")
        if len(cases) != len(case_set):
            problems.append(f"{len(cases) - len(case_set)} cases have two ReferralMade events")
        unknown = len(ledger.unanswered) + len(ledger.unanswered_messages)
        extra = len(case_set - (ledger.cases_before or set())) - len(set(told))
        if extra > unknown or extra < 0:
            problems.append(f"the store has {len(case_set)} cases, the clients were told of {len(set(told))} "
                            f"(and {unknown} requests went unanswered): a retry or a refused request made a case")
        kept_keys: set[str] = set()
        for service in STORES:
            if await conn.fetchval("SELECT to_regclass($1)", f"{service}.idempotency_keys"):
                kept_keys |= {sent_key(row["key"]) for row in await conn.fetch(
                    f"SELECT key FROM {service}.idempotency_keys")}  # each writer's keys are its subject's
        if refused_kept := set(ledger.refused) & kept_keys:
            problems.append(f"{len(refused_kept)} requests answered with an error were kept: "
                            f"{[ledger.refused[key] for key in sorted(refused_kept)[:3]]}")
        answered_keys = set(ledger.referred) | set(ledger.decided) | set(ledger.placed) | set(ledger.ended)
        if lost_keys := answered_keys - kept_keys:
            problems.append(f"{len(lost_keys)} idempotency keys of answered writes are not recorded")
        placement = events["placement"]
        started = [e["placement_id"] for e in placement if e["event_type"] == "PlacementStarted"]
        ended = [e["placement_id"] for e in placement if e["event_type"] == "PlacementEnded"]
        if set(ledger.placed.values()) - set(started) or set(ledger.ended.values()) - set(ended):
            problems.append("placements answered 201 (or endings answered 200) are missing from the placement store")
        if len(started) != len(set(started)) or len(ended) != len(set(ended)):
            problems.append("a placement started or ended twice in the placement store")
        if len(set(started) - ledger.placements_before) - len(set(ledger.placed.values())) > unknown:
            problems.append(f"the placement store has {len(set(started))} placements, the clients were told of "
                            f"{len(ledger.placed)}: a retry or a refused request made a placement")
        if sorted(decisions) != sorted(set(decisions)) or set(ledger.decided.values()) - set(decisions):
            problems.append("eligibility decisions answered 200 are missing or doubled in the store")
        figures["store"] = {service: len(found) for service, found in events.items()}
        figures["cases"] = len(case_set)
        figures["ledger"] = {"http_referrals": len(ledger.referred), "eligibility": len(ledger.decided),
                             "placed": len(ledger.placed), "ended": len(ledger.ended),
                             "district_accepted": len(ledger.accepted), "district_rejected": len(ledger.rejected),
                             "refused": len(ledger.refused), "unanswered": unknown, "retries": ledger.retries,
                             "replayed": ledger.replayed}

        # Each stream: every stored event once, nothing else but the poison.
        for service, stored in events.items():
            ids, _ = await stream_ids(nats_url, service)
            stored_ids = [e["event_id"] for e in stored]
            on_stream = [i for i in ids if i not in set(poison.events)]
            if len(on_stream) != len(set(on_stream)):
                problems.append(f"{service}'s stream holds {len(on_stream) - len(set(on_stream))} events twice")
            if set(on_stream) != set(stored_ids):
                problems.append(f"{service}'s stream and store differ: {len(set(stored_ids) - set(on_stream))} "
                                f"stored not on the stream, {len(set(on_stream) - set(stored_ids))} on it not stored")
            figures[f"stream {service}"] = {"events": len(on_stream), "checksum": checksum(on_stream),
                                            "store_checksum": checksum(stored_ids)}

        # Every view: the ids it holds against the store's.
        step_ids = [str(e["event_id"]) for service in JOURNEY_SOURCES for e in events[service]
                    if e["case_id"] != NIL_CASE]
        views = {
            "journeys.journey_steps": ("SELECT event_id::text FROM journeys.journey_steps", step_ids),
            "journeys.case_journeys": ("SELECT case_id::text FROM journeys.case_journeys", cases),
            "journeys.district_cases": ("SELECT case_id::text FROM journeys.district_cases", cases),
            "referral.caseload": ("SELECT case_id::text FROM referral.caseload", cases),
            "placement.known_cases": ("SELECT case_id::text FROM placement.known_cases", cases),
            "placement.placements": ("SELECT placement_id::text FROM placement.placements", started),
            "placement.placements ended": (
                "SELECT placement_id::text FROM placement.placements WHERE status = 'ended'", ended),
            "referral.emergency_placements": ("SELECT placement_id::text FROM referral.emergency_placements", started),
            # A support episode per placement start, move and floating support start; ended by the next departure.
            "outcomes.support_episodes": ("SELECT episode_id::text FROM outcomes.support_episodes", [
                e["event_id"] for e in placement if e["event_type"] in EPISODE_OPENINGS]),
            "outcomes.support_episodes ended": (
                "SELECT departure_event_id::text FROM outcomes.support_episodes WHERE ended_at IS NOT NULL", [
                    e["event_id"] for e in placement if e["event_type"] in EPISODE_ENDINGS]),
            "finance.stays": ("SELECT stay_id::text FROM finance.stays", [
                e["event_id"] for e in placement if e["event_type"] in EPISODE_OPENINGS]),
            "outcomes.returns_move_ons": ("SELECT event_id::text FROM outcomes.returns_move_ons", [
                e["event_id"] for e in placement
                if e["event_type"] in ("PlacementEnded", "FloatingSupportEnded") and e["planned"]]),
        }
        # Each young person of a case summarized once over all their cases, and once per district of theirs.
        persons = await conn.fetch("SELECT DISTINCT person_ref::text, district FROM journeys.case_journeys")
        views["journeys.journey_summaries"] = (
            "SELECT person_ref::text || ' ' || scope FROM journeys.journey_summaries WHERE as_of = 'infinity'",
            [*{f"{row[0]} *" for row in persons}, *(f"{row[0]} {row[1]}" for row in persons)])
        for view, (sql, expected) in views.items():
            held = [row[0] for row in await conn.fetch(sql)]
            if sorted(held) != sorted(expected):
                problems.append(f"{view} holds {len(held)} rows, the store says {len(expected)} "
                                f"({len(set(expected) - set(held))} missing, {len(set(held) - set(expected))} extra)")
            figures[view] = {"rows": len(held), "checksum": checksum(held), "expected": checksum(expected)}

        # Poison: dead-lettered with a reason by every reader of its stream, and rejected district messages kept.
        for poison_id in poison.events:
            letters = await conn.fetch(
                "SELECT consumer, reason FROM journeys.dead_letters WHERE headers->>'Nats-Msg-Id' = $1"
                " UNION ALL SELECT consumer, reason FROM placement.dead_letters WHERE headers->>'Nats-Msg-Id' = $1",
                poison_id)
            if len(letters) < 2 or not all(row["reason"] for row in letters):
                problems.append(f"poison event {poison_id} is dead-lettered by {len(letters)} readers, not each "
                                "reader of the referral stream with a reason")
        for message_id in poison.messages:
            reasons = await conn.fetchval(
                "SELECT reasons FROM referral.rejected_messages WHERE message_id = $1", message_id)
            if not reasons:
                problems.append(f"poison district message {message_id} is not among the rejections with reasons")
        figures["dead_letters"] = await conn.fetchval(
            "SELECT (SELECT count(*) FROM journeys.dead_letters) + (SELECT count(*) FROM placement.dead_letters)"
            " + (SELECT count(*) FROM referral.dead_letters)")
    finally:
        await conn.close()
    return verdict


# ---------------------------------------------------------------------------------------------------- a running system

@dataclass
class RunningSystem:
    """The processes of a system `casetrack up` runs, from its `run/processes.json`: faults by signal, and
    `casetrack up` heals them (PostgreSQL "stopped" here is frozen, since `casetrack up` would restart it)."""

    data_dir: Path
    nats_url: str
    database_url: str

    def processes(self) -> dict[str, dict]:
        return json.loads((self.data_dir / "run" / "processes.json").read_text())

    def admin_credentials(self) -> Credentials:
        return kept_credentials_of(self.data_dir, ADMIN).with_servers([self.nats_url])

    def district_credentials(self, district: str) -> Credentials:
        """A district's credentials, issued already (`casetrack chaos` issues them, and reloads NATS, first)."""
        return kept_credentials_of(self.data_dir, district_user(district)).with_servers([self.nats_url])

    def pid(self, name: str) -> int:
        return int(self.processes()[name]["pid"])

    def kill(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGKILL)

    def freeze(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGCONT)

    def stop_engine(self, name: str) -> None:
        """Freeze the engine and every process it started (PostgreSQL's backends lead sessions of their own)."""
        self._signal_tree(self.pid(name), signal.SIGSTOP)

    def start_engine(self, name: str) -> None:
        self._signal_tree(self.pid(name), signal.SIGCONT)

    @staticmethod
    def _signal_tree(pid: int, sig: int) -> None:
        for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            try:
                process.send_signal(sig)
            except psutil.NoSuchProcess:
                pass

    def wait_until_healed(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            services = {name: p for name, p in self.processes().items() if p.get("kind") == "service"}
            try:
                if all(httpx.get(f"{p['url']}/health", timeout=1.0).status_code in (200, 503)
                       for p in services.values()):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)  # polling the services' health
        raise TimeoutError(f"the system did not heal within {timeout:.0f}s")


# ---------------------------------------------------------------------------------------------------- the scenarios

@dataclass
class Chaos:
    """One run of faults against a system: the workload's clients, what they were told, the poison sent."""

    system: Processes
    referral_url: str
    placement_url: str
    scale: float = 1.0
    """1 for the CI suite's short faults; `casetrack chaos` runs longer ones (PostgreSQL away 100 s, ...)."""
    rate: float = 20.0
    services: tuple[str, ...] = ("referral", "placement", "outcomes", "finance", "journeys")
    say: Callable[[str], None] = print
    ledger: Ledger = field(default_factory=Ledger)
    poison: Poison = field(default_factory=Poison)

    def workload(self, rate: float | None = None, http_writers: int = 4) -> Workload:
        data_dir = getattr(self.system, "data_dir", None) or self.system.settings.data_dir
        return Workload(self.referral_url, self.placement_url, self.system.nats_url, self.ledger, rate or self.rate,
                        http_writers, signing_key=embedded_signing_key(data_dir),
                        credentials=self.system.district_credentials)

    @property
    def admin_nats(self) -> dict[str, Any]:
        """nats.connect's options as the administrator: reading every stream, publishing the poison event."""
        return self.system.admin_credentials().connect_options()

    async def take_stock(self) -> None:
        """Note what the stores hold before the clients start (a running system's own data)."""
        conn = await asyncpg.connect(self.system.database_url)
        try:
            events = {service: await store_events(conn, service) for service in STORES}
        finally:
            await conn.close()
        self.ledger.cases_before = {e["case_id"] for e in events["referral"] if e["event_type"] == "ReferralMade"}
        self.ledger.placements_before = {e["placement_id"] for e in events["placement"]
                                         if e["event_type"] == "PlacementStarted"}

    async def healed(self, timeout: float = 90.0) -> None:
        await asyncio.to_thread(self.system.wait_until_healed, timeout)

    async def through(self, fault: Callable[[Workload], Awaitable[dict]]) -> tuple[dict, Verdict]:
        """Run `fault` with the workload going before, during and after it; then check everything."""
        if self.ledger.cases_before is None:
            await self.take_stock()
        async with self.workload() as load:
            await load.until(self.ledger.writes + int(20 * self.scale))
            detail = await fault(load)
            await load.until(self.ledger.writes + int(20 * self.scale), timeout=180)
        verdict = await verify(self.system.database_url, self.admin_nats, self.ledger, self.poison)
        self.say(f"{fault.__name__}: {detail} -> {'all well' if not verdict.problems else verdict.problems}")
        return detail, verdict

    async def kill_9(self, name: str) -> dict:
        """kill -9 one process while writes go on; how long until a write is answered again."""
        at = time.time()
        self.system.kill(name)
        await self.healed()
        return {"killed": name, "healed_s": round(time.time() - at, 1),
                "writes_resumed_s": round(await wait_until_writes_resume(self.ledger, at), 1)}

    async def kill_nats(self, load: Workload) -> dict:
        return await self.kill_9("nats")

    async def kill_postgres(self, load: Workload) -> dict:
        return await self.kill_9("postgres")

    async def kill_each_service(self, load: Workload) -> dict:
        healed = {}
        for name in self.services:
            healed[name] = (await self.kill_9(name))["healed_s"]
            await load.until(self.ledger.writes + int(5 * self.scale), timeout=120)
        return {"healed_s": healed}

    async def postgres_away(self, load: Workload) -> dict:
        """PostgreSQL stopped for a while (100 s in `casetrack chaos`) with a backlog of district messages."""
        away = 10.0 * self.scale
        burst = [asyncio.create_task(load.send_until_answered("wyre", "referral", a_referral_message(
            f"WYR-{uuid.uuid4().hex[:10]}"))) for _ in range(int(40 * self.scale))]
        at = time.time()
        self.system.stop_engine("postgres")
        await asyncio.sleep(away)  # the outage itself: PostgreSQL stays away this long
        self.system.start_engine("postgres")
        await self.healed()
        answers = await asyncio.gather(*burst)
        for answer in answers:
            if answer and answer[0] == "accepted":
                self.ledger.accepted[answer[1]["message_id"]] = answer[1]["case_id"]
        return {"away_s": away, "backlog_messages": len(burst),
                "writes_resumed_s": round(await wait_until_writes_resume(self.ledger, at + away), 1)}

    async def freeze_consumer(self, load: Workload, name: str = "journeys") -> dict:
        """Freeze a consumer until a large backlog builds, then let it go: it catches up, applying each once."""
        backlog = int(200 * self.scale)
        writes = self.ledger.writes
        self.system.freeze(name)
        try:
            await load.until(writes + backlog, timeout=600)
        finally:
            self.system.thaw(name)
        return {"frozen": name, "backlog_writes": self.ledger.writes - writes}

    async def poison_pills(self, load: Workload) -> dict:
        """A poison event on the referral stream and a poison district message, amid the steady writes."""
        self.poison.events.append(await publish_poison_event(self.admin_nats))
        message_id = f"POISON-{uuid.uuid4().hex[:10]}"
        answer = await load.send_until_answered("preston", "referral", a_poison_message(message_id))
        self.poison.messages.append(message_id)
        if answer:
            self.ledger.rejected[message_id] = answer[1].get("reasons", [])
        return {"poison_event": self.poison.events[-1], "poison_message": message_id,
                "answered": answer[0] if answer else None}

    def faults(self) -> dict[str, Callable[[Workload], Awaitable[dict]]]:
        return {"kill-nats": self.kill_nats, "kill-postgres": self.kill_postgres,
                "kill-services": self.kill_each_service, "postgres-away": self.postgres_away,
                "freeze-consumer": self.freeze_consumer, "poison": self.poison_pills}


@dataclass
class SoakSample:
    at: float
    writes: int
    """Writes answered so far (HTTP and district messages)."""
    events: int
    """Events in the stores so far (a write saves one to three)."""
    rss_mb: dict[str, float]
    behind: dict[str, Any]
    """What was not yet relayed or applied, per relay and projection (events)."""


async def events_stored(database_url: str) -> int:
    conn = await asyncpg.connect(database_url, timeout=2)
    try:
        return sum([await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {service}.{table}")
                    for service, table in STORES.items()])
    finally:
        await conn.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def soak(chaos: Chaos, minutes: float, rate: float, pids: Callable[[], dict[str, int]],
               every_seconds: float = 10.0) -> list[SoakSample]:
    """The workload alone for `minutes` at `rate` writes a second, sampling memory and lag."""
    samples: list[SoakSample] = []
    end = time.monotonic() + minutes * 60
    async with chaos.workload(rate=rate, http_writers=16):
        while time.monotonic() < end:
            await asyncio.sleep(every_seconds)  # the sampling interval
            try:
                behind = await _behind(chaos.system.database_url, chaos.admin_nats)
                events = await events_stored(chaos.system.database_url)
            except Exception as error:  # noqa: BLE001 - a sample says what it could not see
                behind, events = {"unreachable": type(error).__name__}, samples[-1].events if samples else 0
            sample = SoakSample(time.time(), chaos.ledger.writes, events,
                                {name: round(rss_mb(pid), 1) for name, pid in pids().items()}, behind)
            samples.append(sample)
            per_second = (sample.events - samples[-2].events) / every_seconds if len(samples) > 1 else 0
            chaos.say(f"{len(samples) * every_seconds:>6.0f}s writes={sample.writes} events={sample.events} "
                      f"({per_second:.0f}/s) behind={behind} rss={sample.rss_mb}")
    return samples


def soak_summary(samples: list[SoakSample]) -> dict[str, Any]:
    """What the soak shows: its rate, each process's memory at the start and end, and lag over time (flat if
    the last third's worst is no worse than the first third's, give or take a batch)."""
    if len(samples) < 3:
        return {"samples": len(samples)}
    seconds = samples[-1].at - samples[0].at
    third = max(len(samples) // 3, 1)

    def worst(sample: SoakSample) -> int:
        return max((v for v in sample.behind.values() if isinstance(v, int)), default=0)

    first, last = [worst(s) for s in samples[:third]], [worst(s) for s in samples[-third:]]
    return {
        "minutes": round(seconds / 60, 1),
        "writes_per_second": round((samples[-1].writes - samples[0].writes) / seconds, 1),
        "events_per_second": round((samples[-1].events - samples[0].events) / seconds, 1),
        "rss_mb": {name: {"start": samples[0].rss_mb.get(name), "end": rss}
                   for name, rss in samples[-1].rss_mb.items()},
        "worst_lag": {"max": max(worst(s) for s in samples), "first_third_max": max(first),
                      "last_third_max": max(last)},
        "lag_flat": max(last) <= max(first) + 1000,
    }
