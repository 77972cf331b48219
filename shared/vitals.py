"""A service's vital signs, checked every second in the background: what GET /health, GET /ready and the
OpenTelemetry gauges report, so that none of them waits on a database or a NATS server that is away.

Each round checks, each with its own short timeout and all at once:
- the database (one query on a connection of its own: the dead letters per consumer),
- the store (its head position, asked through the store itself: whether writes can be saved now),
- NATS (a ping round trip),
- whatever the service watches besides (the referral service: its district inbox's backlog),
then works out every lag **from the head of the store that recorded the events**:
- the relay's: events saved in the store but not yet acknowledged by JetStream;
- each projection's, per source: the source store's head minus the last position the projection applied. For
  another service's events the head is what that service last said: every service with a store publishes
  `casetrack.heads.<service>` each round ({"store_position", "published_position"}: positions only), so a
  projection's lag includes what the other service's relay has not yet published. Silence for longer than
  `silent_source_seconds` makes the lag unknown, and says so.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from shared.subjects import PREFIX

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

HEADS = f"{PREFIX}.heads"
"""Core NATS (not a stream): `casetrack.heads.<service>` carries a service's store head each second."""

PROBE_SECONDS = 0.5
"""How long one check may take before it counts as failed."""

Probe = Callable[[], Awaitable[dict[str, Any]]]
"""A check of the service's own (e.g. its district inbox): its figures; a `backlog` is watched by /ready."""


def _retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def heads_subject(service: str) -> str:
    return f"{HEADS}.{service}"


@dataclass(frozen=True)
class Heard:
    """What a service last said of its store, and when (monotonic seconds)."""

    store_position: int
    published_position: int
    at: float


class Vitals:
    """Keeps a fresh snapshot of one service's vital signs and answers /health and /ready from it."""

    def __init__(self, runtime: ServiceRuntime):
        self.runtime = runtime
        self.settings = runtime.settings
        self.name = runtime.name
        self.heard: dict[str, Heard] = {}
        self.snapshot: dict[str, Any] = {"service": self.name}
        self.checked_at: float | None = None
        """Monotonic time the last round finished."""
        self.rounds = 0
        self.history: dict[str, deque[int]] = {}
        """Each lag's last values, newest last (readiness asks whether it keeps growing)."""
        self._conn: asyncpg.Connection | None = None
        self._query: str | None = None
        self._wake = asyncio.Event()
        self._done = asyncio.Condition()
        self._subscription: Any = None
        self._checking = False
        self._store_check: asyncio.Future | None = None

    # -- running -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for the other services' heads, and take the first snapshot (so /health means something)."""
        if self.runtime.nats is not None:
            self._subscription = await self.runtime.nats.subscribe(f"{HEADS}.*", cb=self._hear)
        await self.check()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.vitals_interval_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the checks: the snapshot goes stale and says so
                log.exception("the health checks of %s failed", self.name)

    async def fresh(self, within: float = 1.0) -> None:
        """Wait (up to `within` seconds) for a round begun after this call."""
        wanted = self.rounds + (2 if self._checking else 1)
        self._wake.set()
        async with self._done:
            try:
                await asyncio.wait_for(self._done.wait_for(lambda: self.rounds >= wanted), within)
            except TimeoutError:
                pass

    async def close(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:  # noqa: BLE001 - NATS may already be gone
                pass
        self._drop_connection()

    # -- one round ---------------------------------------------------------------------------------------

    async def check(self) -> None:
        self._checking = True
        try:
            await self._check()
        finally:
            self._checking = False

    async def _check(self) -> None:
        runtime = self.runtime
        database, store, nats_state, *watched = await asyncio.gather(
            self._check_database(), self._check_store(), self._check_nats(),
            *(self._check_watched(probe) for probe in runtime.watched.values()))
        store_position: int | str | None = None
        snapshot: dict[str, Any] = {"service": self.name}
        snapshot["database"] = database["state"]
        snapshot["nats"] = nats_state
        if runtime.store is not None:
            snapshot["store"] = store["state"]
            store_position = store.get("head", f"unknown: the store is {store['state']}")
            snapshot["store_position"] = store_position
        if runtime.relay is not None:
            published = runtime.relay.position
            snapshot["published_position"] = published
            snapshot["relay_lag"] = (max(store_position - published, 0) if isinstance(store_position, int)
                                     else store_position)
            if isinstance(store_position, int) and nats_state == "ok":
                await self._say_head(store_position, published)
        snapshot["projection_lag"] = self._projection_lags(store_position)
        snapshot["heads"] = {
            service: {"store_position": heard.store_position, "published_position": heard.published_position,
                      "heard_seconds_ago": round(time.monotonic() - heard.at, 1)}
            for service, heard in sorted(self.heard.items())}
        for name, figures in zip(runtime.watched, watched, strict=True):
            snapshot[name] = figures
        if "dead_letters" in database:
            snapshot["dead_letters"] = database["dead_letters"]
        snapshot["checked_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.snapshot = snapshot
        self._remember_lags()
        async with self._done:
            self.checked_at = time.monotonic()
            self.rounds += 1
            self._done.notify_all()

    async def _check_database(self) -> dict[str, Any]:
        """One query on the checks' own connection (never the service's pool: a check must not queue behind
        requests, nor leave a pooled connection half-way through a cancelled query)."""
        try:
            return await asyncio.wait_for(self._query_database(), 2 * PROBE_SECONDS)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            self._drop_connection()
            return {"state": f"unavailable: {type(error).__name__}"}

    async def _query_database(self) -> dict[str, Any]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.runtime.settings.database_url, timeout=PROBE_SECONDS)
            self._query = await self._compose_query(self._conn)
        row = await self._conn.fetchrow(self._query, timeout=PROBE_SECONDS)
        found: dict[str, Any] = {"state": "ok"}
        if "dead" in row:
            found["dead_letters"] = json.loads(row["dead"])
        return found

    async def _compose_query(self, conn: asyncpg.Connection) -> str:
        parts = ["1 AS up"]
        dead_letters = f"{self.runtime.schema}.dead_letters"
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", dead_letters):
            parts.append(f"(SELECT coalesce(json_object_agg(consumer, n), '{{}}') FROM (SELECT consumer, count(*) AS n"
                         f" FROM {dead_letters} GROUP BY consumer) d)::text AS dead")
        return "SELECT " + ", ".join(parts)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()  # at once: a frozen server would hold a polite close
            self._conn = None

    async def _check_store(self) -> dict[str, Any]:
        """The store's head, asked through the store (its own pool): what a write would need. The store is
        synchronous, so this runs in a thread; a thread still waiting from an earlier round is waited on again,
        never doubled."""
        if self.runtime.store is None:
            return {}
        if self._store_check is None or self._store_check.done():
            self._store_check = asyncio.ensure_future(asyncio.to_thread(self.runtime.store.position))
            self._store_check.add_done_callback(_retrieved)  # its failure is reported by whichever round awaits it
        try:
            return {"state": "ok", "head": await asyncio.wait_for(asyncio.shield(self._store_check), 2 * PROBE_SECONDS)}
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return {"state": f"unavailable: {type(error).__name__}"}

    async def _check_nats(self) -> str:
        nc = self.runtime.nats
        if nc is None or not nc.is_connected:
            return "disconnected"
        try:
            await nc.flush(timeout=PROBE_SECONDS)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return f"not answering: {type(error).__name__}"
        return "ok"

    @staticmethod
    async def _check_watched(probe: Probe) -> dict[str, Any] | str:
        try:
            return await asyncio.wait_for(probe(), 2 * PROBE_SECONDS)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return f"unknown: {type(error).__name__}"

    async def _say_head(self, store_position: int, published_position: int) -> None:
        body = json.dumps({"store_position": store_position, "published_position": published_position}).encode()
        try:
            await self.runtime.nats.publish(heads_subject(self.name), body)
        except Exception as error:  # noqa: BLE001 - the others will say they have not heard from us
            log.debug("could not publish %s's head: %s", self.name, type(error).__name__)

    async def _hear(self, msg: Any) -> None:
        service = msg.subject.rsplit(".", 1)[-1]
        try:
            body = json.loads(msg.data)
            heard = Heard(int(body["store_position"]), int(body["published_position"]), time.monotonic())
        except (ValueError, KeyError, TypeError):
            return  # not a head: ignored
        if heard.store_position >= 0 and heard.published_position >= 0:
            self.heard[service] = heard

    # -- lags --------------------------------------------------------------------------------------------

    def head_of(self, service: str, own_store_position: int | str | None = None) -> int | str:
        """The head of `service`'s store as this service knows it now, or why it is unknown."""
        if service == self.name:
            if isinstance(own_store_position, int | str):
                return own_store_position
            return self.snapshot.get("store_position", "unknown: not checked yet")
        heard = self.heard.get(service)
        if heard is None:
            return f"unknown: no word from {service} yet"
        if silent := self.silence_of(service):
            return f"unknown: {silent}"
        return heard.store_position

    def silence_of(self, service: str) -> str | None:
        """Says so if `service` was heard from once but not for longer than `silent_source_seconds`."""
        heard = self.heard.get(service)
        if heard is not None and (silent := time.monotonic() - heard.at) > self.settings.silent_source_seconds:
            return f"no word from {service} for {silent:.0f} s"
        return None

    def _projection_lags(self, store_position: int | str | None) -> dict[str, dict[str, int | str]]:
        lags: dict[str, dict[str, int | str]] = {}
        for runner in self.runtime.runners:
            head = self.head_of(runner.source_service, store_position)
            lag = max(head - runner.source_position, 0) if isinstance(head, int) else head
            lags.setdefault(runner.projection.name, {})[runner.source_service] = lag
        return lags

    def _remember_lags(self) -> None:
        for key, value in self._lags().items():
            remembered = self.history.setdefault(key, deque(maxlen=self.settings.ready_growing_samples))
            if isinstance(value, int):
                remembered.append(value)
            else:
                remembered.clear()

    def _lags(self) -> dict[str, int | str]:
        """Every lag and backlog of the last snapshot, by name."""
        snapshot = self.snapshot
        lags: dict[str, int | str] = {}
        if "relay_lag" in snapshot:
            lags["relay_lag"] = snapshot["relay_lag"]
        for projection, sources in snapshot.get("projection_lag", {}).items():
            for source, lag in sources.items():
                lags[f"{projection} lag behind {source}"] = lag
        for name in self.runtime.watched:
            figures = snapshot.get(name)
            if isinstance(figures, dict) and "backlog" in figures:
                lags[f"{name} backlog"] = figures["backlog"]
            elif isinstance(figures, str):
                lags[f"{name} backlog"] = figures
        return lags

    # -- answers -----------------------------------------------------------------------------------------

    def age(self) -> float | None:
        return None if self.checked_at is None else time.monotonic() - self.checked_at

    def down(self) -> list[str]:
        """What is down, by name: the database, the store (its writes), NATS, or the checks themselves (stuck)."""
        down = []
        if self.snapshot.get("database") != "ok":
            down.append("database")
        if self.snapshot.get("store", "ok") != "ok":
            down.append("store")
        if self.snapshot.get("nats") != "ok":
            down.append("nats")
        age = self.age()
        if age is None or age > self.settings.vitals_stale_seconds:
            down.append("checks")
        return down

    def health(self) -> tuple[dict[str, Any], int]:
        """The last snapshot, its age, and what is down: 200 when nothing is, else 503."""
        age = self.age()
        down = self.down()
        body = {"service": self.name, "status": "degraded" if down else "ok", "down": down, **self.snapshot,
                "age_seconds": None if age is None else round(age, 2)}
        if "checks" in down:
            body["checks"] = ("not run yet" if age is None else
                              f"stale: the last check finished {age:.0f} s ago (they are stuck)")
        return body, 503 if down else 200

    def readiness(self) -> tuple[dict[str, Any], int]:
        """Whether the service keeps up: nothing down, every lag and backlog known, none above `ready_max_lag`,
        none growing at each of the last `ready_growing_samples` checks. 503 with the reasons otherwise."""
        reasons = [f"{part} is down" + (f" ({self.snapshot.get(part)})" if part in self.snapshot else "")
                   for part in self.down()]
        limit = self.settings.ready_max_lag
        for name, lag in self._lags().items():
            if not isinstance(lag, int):
                reasons.append(f"{name} is {lag}")
                continue
            if lag > limit:
                reasons.append(f"{name} is {lag}, above {limit}")
            remembered = list(self.history.get(name, ()))
            if (len(remembered) == self.settings.ready_growing_samples and lag > 0
                    and all(later > earlier for earlier, later in itertools.pairwise(remembered))):
                reasons.append(f"{name} grew at each of the last {len(remembered)} checks "
                               f"({remembered[0]} to {remembered[-1]})")
        return ({"service": self.name, "ready": not reasons, "reasons": reasons},
                200 if not reasons else 503)
