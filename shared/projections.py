"""Projections: named read models, each fed by the event sources it follows, in batches, exactly once.

A projection has a name, the services whose events it follows (and which event types of each), its tables
(DDL without a schema name: the runner sets the search path) and `apply` for a batch of events. One
`ProjectionRunner` per projection and source keeps the projection's own tracking row, so any number of
projections follow one stream and a new one backfills from the first event while the others carry on.

- A service's own events are read from its store's notification log (`StoreSource`); another service's
  events from its JetStream stream (`StreamSource`), through a durable pull consumer recreated from the
  position PostgreSQL holds: PostgreSQL, not JetStream, knows how far a projection has got.
- Each batch is applied in one transaction that also records the position, after locking the tracking
  row, so two runners (two replicas, or a rebuild swapping in) never apply the same events twice.
- A batch that fails is split until the one event that cannot be applied is found; it is dead-lettered
  with its reason and the others are applied, in order. An event or header that cannot be read is
  dead-lettered at once. An unreachable database is waited out without limit: it never counts against an
  event, and the runner never moves past an event it has neither applied nor dead-lettered.
- `rebuild` replays a projection into fresh tables in a scratch schema and swaps them in only when complete;
  reads keep answering from the old tables meanwhile, and an interrupted rebuild can simply be started again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from uuid import uuid4

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace

from shared.contracts import Event, parse_event
from shared.logs import Trouble
from shared.streams import next_messages
from shared.subjects import POSITION_HEADER, PREFIX, stream_name, subject_of
from shared.telemetry import context_from, trace_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class Recorded:
    """An event, and where it sits: `sequence` in the source the projection follows (the stream's sequence,
    or the store's position for the service's own events), `source_position` in the recording store."""

    event: Event
    stream: str
    sequence: int
    source_position: int


class Projection:
    """A read model: subclasses set `name`, `follows` and `tables`, and implement `apply` or `apply_one`."""

    name: ClassVar[str]
    follows: ClassVar[Mapping[str, Collection[str]]]
    """Source service -> the event types this projection needs from it (others are skipped unread)."""
    tables: ClassVar[Sequence[str]]
    """DDL of the projection's tables, without a schema name (`CREATE TABLE IF NOT EXISTS caseload ...`)."""
    version: ClassVar[int] = 1
    """Raise it when the tables or what `apply` writes change: the next start rebuilds from the first event."""

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[Recorded]) -> None:
        """Apply a batch of events, in order, on `conn` (inside the batch's transaction)."""
        for recorded in batch:
            await self.apply_one(conn, recorded)

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        raise NotImplementedError


def event_types(events: Collection[type[Event]]) -> frozenset[str]:
    """The names of these event classes, for a projection's `follows`."""
    return frozenset(event.model_fields["event_type"].default for event in events)


class EventCannotBeApplied(Exception):
    """The projection can never apply this event (retrying will not help): dead-letter it."""


Statement = tuple[str, tuple[Any, ...]]
"""One SQL statement of a projection's change and its arguments."""


async def execute_in_runs(conn: asyncpg.Connection, statements: Iterable[Statement]) -> None:
    """Run the statements in order, each run of consecutive identical SQL as one `executemany`: a projection
    that describes each event's change as statements writes a batch in a few round trips."""
    for sql, run in itertools.groupby(statements, key=lambda statement: statement[0]):
        await conn.executemany(sql, [arguments for _, arguments in run])


def table_names(projection: Projection) -> list[str]:
    """The tables a projection's DDL creates."""
    return [match[1] for ddl in projection.tables
            if (match := re.match(r"\s*CREATE TABLE (?:IF NOT EXISTS )?(\w+)", ddl, re.IGNORECASE))]


def tracking_ddl(schema: str) -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE TABLE IF NOT EXISTS {schema}.projection_position ("
        " projection text NOT NULL, source text NOT NULL, position bigint NOT NULL,"
        " source_position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
        " version int NOT NULL DEFAULT 1, PRIMARY KEY (projection, source))",
        f"CREATE TABLE IF NOT EXISTS {schema}.dead_letters ("
        " id bigserial PRIMARY KEY, consumer text NOT NULL, stream text NOT NULL, sequence bigint NOT NULL,"
        " subject text NOT NULL, event_id text, reason text NOT NULL, body bytea NOT NULL,"
        " headers jsonb NOT NULL, attempts int NOT NULL, dead_lettered_at timestamptz NOT NULL DEFAULT now())",
    ]


# --- sources -------------------------------------------------------------------------------------------


@dataclass
class Message:
    """An event as its source hands it over, before it is read."""

    sequence: int
    event_type: str
    body: bytes
    subject: str
    headers: Mapping[str, str] = field(default_factory=dict)
    acknowledge: Callable[[], Awaitable[None]] | None = None


class EventSource(Protocol):
    stream: str

    async def open(self, after: int) -> None:
        """Start (again) just after `after`."""

    async def read(self, limit: int) -> list[Message]:
        """The next messages, or [] after waiting a little for new ones."""

    def source_position(self, message: Message) -> int:
        """The message's position in the recording store; ValueError if it cannot be told."""

    def disowned(self, message: Message, event: Event) -> str | None:
        """Why the event is not the source service's own as its subject says, if it is not (then it is
        dead-lettered): nothing a peer sent is trusted beyond its permission."""

    async def head(self) -> int:
        """The sequence of the latest event in the source."""

    async def close(self) -> None: ...


class StoreSource:
    """A service's own events, read from its store's notification log: no round trip through NATS."""

    def __init__(self, service: str, store: Any, poll_seconds: float = 0.5):
        self.service = service
        self.stream = stream_name(service)
        self.store = store
        self.poll_seconds = poll_seconds
        self.after = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def nudge(self) -> None:
        """Something new was saved; safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def open(self, after: int) -> None:
        self._loop = asyncio.get_running_loop()
        self.after = after

    async def read(self, limit: int) -> list[Message]:
        self._wake.clear()
        notifications = await asyncio.to_thread(self.store.recorder.select_notifications, self.after + 1, limit)
        if not notifications:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            return []
        self.after = notifications[-1].id
        return [Message(n.id, n.topic, n.state, f"{PREFIX}.{self.service}.{n.topic}") for n in notifications]

    def source_position(self, message: Message) -> int:
        return message.sequence

    def disowned(self, message: Message, event: Event) -> str | None:
        return None  # the service's own store

    async def head(self) -> int:
        return await asyncio.to_thread(self.store.position)

    async def close(self) -> None:
        pass


class StreamSource:
    """Another service's events, from its JetStream stream through a pull consumer of this reader's own,
    created afresh at each `open` from the position PostgreSQL holds, under a name no other process uses (two
    replicas sharing one consumer would each receive only part of the stream). The server removes a consumer
    left behind by a process that died once it has been idle for `abandoned_after_seconds`. Acks are explicit,
    one per batch once it is committed (ack policy `all`: the batch's last message acknowledges the batch)."""

    def __init__(self, js: JetStreamContext, service: str, reader: str, *, max_deliver: int = 5,
                 ack_wait_seconds: float = 60.0, fetch_timeout: float = 1.0, abandoned_after_seconds: float = 120.0):
        self.js = js
        self.service = service
        self.stream = stream_name(service)
        self.reader = reader
        self.max_deliver = max_deliver
        self.ack_wait_seconds = ack_wait_seconds
        self.fetch_timeout = fetch_timeout
        self.abandoned_after_seconds = abandoned_after_seconds
        self.consumer: str | None = None
        self._subscription: Any = None

    async def open(self, after: int) -> None:
        await self.remove()
        self.consumer = f"{self.reader}-{uuid4().hex[:12]}"
        await self.js.add_consumer(self.stream, ConsumerConfig(
            durable_name=self.consumer,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.ALL,
            ack_wait=self.ack_wait_seconds,
            max_deliver=self.max_deliver,
            max_ack_pending=20_000,
            inactive_threshold=self.abandoned_after_seconds,
        ))
        self._subscription = await self.js.pull_subscribe_bind(durable=self.consumer, stream=self.stream)

    async def read(self, limit: int) -> list[Message]:
        messages = await next_messages(self._subscription, limit, self.fetch_timeout)
        return [Message(message.metadata.sequence.stream, message.subject.rsplit(".", 1)[-1], message.data,
                        message.subject, dict(message.headers or {}), message.ack) for message in messages]

    def source_position(self, message: Message) -> int:
        position = int(message.headers[POSITION_HEADER])
        if position < 1:
            raise ValueError(f"{position} is not a position")
        return position

    def disowned(self, message: Message, event: Event) -> str | None:
        if event.service != self.service:
            return f"a {event.service} event ({event.event_type}) on the {self.service} stream"
        expected = subject_of(self.service, event.district, event.event_type)
        if message.subject != expected:
            return (f"published on {message.subject}, but the event is a {event.event_type} of district "
                    f"{event.district} (its subject is {expected})")
        return None

    async def head(self) -> int:
        return (await self.js.stream_info(self.stream)).state.last_seq

    async def close(self) -> None:
        """Stop pulling, and delete this reader's consumer."""
        await self.remove()

    async def remove(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass
            self._subscription = None
        if self.consumer is not None:
            try:
                await self.js.delete_consumer(self.stream, self.consumer)
            except Exception:  # noqa: BLE001 - gone already, or NATS away: the server removes it when idle
                pass
            self.consumer = None


# --- the runner ----------------------------------------------------------------------------------------


class DatabaseUnreachable(Exception):
    """PostgreSQL cannot be reached: wait, never count it against the event."""


class PositionMoved(Exception):
    """The tracking row says another position than this runner's: a rebuild swapped in, or another replica
    applied events. The runner carries on from the recorded position."""

    def __init__(self, position: int, source_position: int):
        super().__init__(position)
        self.position = position
        self.source_position = source_position


UNREACHABLE = (OSError, asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.CannotConnectNowError,
               asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.CrashShutdownError,
               asyncpg.exceptions.ConnectionDoesNotExistError, TimeoutError)
"""Errors that say the database is out of reach."""

NOT_USABLE_NOW = (asyncpg.exceptions.InsufficientResourcesError, asyncpg.exceptions.ReadOnlySQLTransactionError,
                  asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError,
                  asyncpg.exceptions.LockNotAvailableError)
"""Errors that say the database cannot take this write now (disk or connections full, a read-only standby after a
failover, two writers crossing): waited out like an outage, never blamed on an event."""


def database_not_usable(error: BaseException) -> bool:
    """The database is out of reach or cannot take the write now (a closed connection too): not the batch's fault."""
    message = str(error)
    closed = isinstance(error, asyncpg.exceptions.InterfaceError) and "connection" in message and "closed" in message
    return isinstance(error, UNREACHABLE + NOT_USABLE_NOW) or closed


@dataclass
class Item:
    """A message read for a batch: the event to apply, or the reason it is dead-lettered, or neither (skipped)."""

    message: Message
    source_position: int
    recorded: Recorded | None = None
    reason: str | None = None
    bare: bool = False
    """Dead-letter it without its headers (they were what PostgreSQL refused)."""


class ProjectionRunner:
    """Feeds one projection from one source, in batches, each applied once, in order, or dead-lettered."""

    def __init__(self, projection: Projection, source_service: str, source: EventSource, pool: asyncpg.Pool,
                 schema: str, *, batch_size: int = 1000, tables_schema: str | None = None,
                 tracking_name: str | None = None):
        self.projection = projection
        self.source_service = source_service
        self.source = source
        self.pool = pool
        self.schema = schema
        """Where the tracking row and dead letters are kept."""
        self.tables_schema = tables_schema or schema
        """Where the projection's tables are (a scratch schema while rebuilding)."""
        self.name = tracking_name or projection.name
        self.batch_size = batch_size
        self.wanted = frozenset(projection.follows[source_service])
        self.position = 0
        self.source_position = 0
        self._advanced = asyncio.Condition()
        self._stopping = False
        self.blocked: str | None = None
        """Why the runner cannot move now (the database or its source away), while that lasts."""
        self._reading = Trouble(log, f"{self.name} reading {source.stream}")
        self._writing = Trouble(log, f"{self.name} writing to the database")

    async def start(self) -> None:
        """Load the recorded position and open the source just after it."""
        await self._until_database_answers()
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT position, source_position FROM {self.schema}.projection_position"
                " WHERE projection = $1 AND source = $2", self.name, self.source_service)
        self.position, self.source_position = (row["position"], row["source_position"]) if row else (0, 0)
        await self.source.open(self.position)

    def stop(self) -> None:
        """Finish the batch in hand, then return from `run` (a clean stop: nothing cancelled half-way)."""
        self._stopping = True

    async def run(self) -> None:
        """Read and apply until stopped; the next batch is read while this one is applied."""
        ahead: asyncio.Task | None = None
        try:
            while not self._stopping:
                try:
                    messages = await (ahead or self.source.read(self.batch_size))
                    if self._reading.since is not None:
                        self._reading.ended()
                        self.blocked = None
                    ahead = asyncio.create_task(self.source.read(self.batch_size))
                    if messages and not await self.apply(messages):
                        ahead = await _cancelled(ahead)
                        await self.source.open(self.position)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # NATS or the store away: open the source again from the recorded position
                    self._reading.failed(error)
                    self.blocked = f"cannot read {self.source.stream} ({type(error).__name__})"
                    ahead = await _cancelled(ahead)
                    await asyncio.sleep(1.0)
                    try:
                        await self.source.open(self.position)
                    except Exception:  # noqa: BLE001 - tried again on the next turn
                        pass
        finally:
            await _cancelled(ahead)

    async def apply(self, messages: Sequence[Message]) -> bool:
        """Apply (or dead-letter) every message not applied before, then acknowledge them all. False when the
        recorded position moved under this runner (the caller reads on from the new position)."""
        items = [self._read(message) for message in messages if message.sequence > self.position]
        started = time.time_ns()
        pause = 0.05
        while items:
            try:
                await self._apply(items)
                break
            except DatabaseUnreachable as error:
                self._writing.failed(error.__cause__ or error)
                self.blocked = f"waiting for the database ({type(error.__cause__ or error).__name__})"
                await self._until_database_answers()
                await asyncio.sleep(pause)  # it may answer yet not take the write (read-only, disk full)
                pause = min(pause * 2, 5.0)
            except PositionMoved as moved:
                log.info("%s carries on from %s (it was at %s)", self.name, moved.position, self.position)
                await self._advance(moved.position, moved.source_position, reset=True)
                return False
            items = [item for item in items if item.message.sequence > self.position]
        if self._writing.since is not None:
            self._writing.ended()
            self.blocked = None
        self._trace(items, started)
        if messages[-1].acknowledge:
            await messages[-1].acknowledge()  # the source's ack policy acknowledges the whole batch
        return True

    def _trace(self, items: list[Item], started: int) -> None:
        """One span per applied event, in the trace of the request that recorded it."""
        ended = time.time_ns()
        for item in items:
            if item.recorded:
                event = item.recorded.event
                tracer.start_span(
                    f"apply {event.event_type} in {self.name}", context=context_from(trace_headers(event.traceparent)),
                    kind=trace.SpanKind.CONSUMER, start_time=started,
                    attributes={"messaging.destination": item.message.subject,
                                "casetrack.sequence": item.message.sequence}).end(end_time=ended)

    def _read(self, message: Message) -> Item:
        try:
            source_position = self.source.source_position(message)
        except (KeyError, ValueError) as error:
            return Item(message, 0, reason=f"unreadable header {POSITION_HEADER}: {_one_line(error)}")
        if message.event_type not in self.wanted:
            return Item(message, source_position)
        try:
            event = parse_event(message.body)
        except Exception as error:  # noqa: BLE001 - whatever a peer sent, it must not stop the others
            return Item(message, source_position, reason=f"unreadable event: {_one_line(error)}")
        if disowned := self.source.disowned(message, event):
            return Item(message, source_position, reason=disowned)
        return Item(message, source_position,
                    Recorded(event, self.source.stream, message.sequence, source_position))

    async def _apply(self, items: list[Item]) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await self._lock_position(conn)
                await self.apply_in(conn, items)
                await self._record(conn, items[-1])
        except (DatabaseUnreachable, PositionMoved, asyncio.CancelledError):
            raise
        except Exception as error:  # noqa: BLE001 - split to find the culprit, unless the database is at fault
            if database_not_usable(error):
                raise DatabaseUnreachable(_one_line(error)) from error
            if len(items) > 1:
                middle = len(items) // 2
                await self._apply(items[:middle])
                await self._apply(items[middle:])
                return
            [item] = items
            if item.reason is None:
                reason = (f"cannot be applied: {error}" if isinstance(error, EventCannotBeApplied)
                          else f"failed: {_one_line(error)}")
                return await self._apply([Item(item.message, item.source_position, reason=reason)])
            if not item.bare:  # the dead letter itself could not be kept: keep it without what PostgreSQL refused
                return await self._apply([Item(item.message, item.source_position, reason=(
                    f"{item.reason} (its headers could not be kept: {_one_line(error)})"), bare=True)])
            raise
        else:
            await self._advance(items[-1].message.sequence, items[-1].source_position)

    async def apply_in(self, conn: asyncpg.Connection, items: list[Item]) -> None:
        """The batch's effect on `conn`: the projection's changes and the dead letters (no position)."""
        await conn.execute(f"SET LOCAL search_path TO {self.tables_schema}")
        batch = [item.recorded for item in items if item.recorded]
        if batch:
            await self.projection.apply(conn, batch)
        for item in items:
            if item.reason:
                await self._dead_letter(conn, item)

    async def _lock_position(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow(
            f"SELECT position, source_position FROM {self.schema}.projection_position"
            " WHERE projection = $1 AND source = $2 FOR UPDATE NOWAIT", self.name, self.source_service)
        if row is None:  # reset by a rebuild's swap or a new version meanwhile: carry on from its new row
            await conn.execute(
                f"INSERT INTO {self.schema}.projection_position (projection, source, position, source_position)"
                " VALUES ($1, $2, 0, 0) ON CONFLICT (projection, source) DO NOTHING", self.name, self.source_service)
            row = await conn.fetchrow(
                f"SELECT position, source_position FROM {self.schema}.projection_position"
                " WHERE projection = $1 AND source = $2 FOR UPDATE NOWAIT", self.name, self.source_service)
        if row["position"] != self.position:
            raise PositionMoved(row["position"], row["source_position"])

    async def _record(self, conn: asyncpg.Connection, last: Item) -> None:
        await conn.execute(
            f"UPDATE {self.schema}.projection_position SET position = $3,"
            " source_position = greatest(source_position, $4), updated_at = now()"
            " WHERE projection = $1 AND source = $2",
            self.name, self.source_service, last.message.sequence, last.source_position)

    async def _dead_letter(self, conn: asyncpg.Connection, item: Item) -> None:
        message = item.message
        log.error("%s dead-lettered %s #%s: %s", self.name, self.source.stream, message.sequence, item.reason)
        headers = {} if item.bare else {_text(key): _text(value) for key, value in message.headers.items()}
        await conn.execute(
            f"INSERT INTO {self.schema}.dead_letters"
            " (consumer, stream, sequence, subject, event_id, reason, body, headers, attempts)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            self.name, self.source.stream, message.sequence, _text(message.subject), headers.get("Nats-Msg-Id"),
            _text(item.reason or ""), message.body, json.dumps(headers), 1)

    async def _advance(self, position: int, source_position: int, reset: bool = False) -> None:
        async with self._advanced:
            self.position = position
            self.source_position = source_position if reset else max(self.source_position, source_position)
            self._advanced.notify_all()

    async def _until_database_answers(self) -> None:
        pause = 0.1
        while True:
            try:
                async with self.pool.acquire(timeout=5) as conn:
                    await conn.fetchval("SELECT 1")
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - any failure here means: not yet
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def wait_for(self, source_position: int, timeout: float) -> bool:
        """Wait until every event up to `source_position` of the recording store has been applied."""
        async with self._advanced:
            try:
                await asyncio.wait_for(
                    self._advanced.wait_for(lambda: self.source_position >= source_position), timeout)
            except TimeoutError:
                return False
        return True

    async def lag(self) -> int:
        return max(await self.source.head() - self.position, 0)


async def _cancelled(task: asyncio.Task | None) -> None:
    """Cancel a read ahead and wait for it to end; its messages are read again from the recorded position."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _text(value: str) -> str:
    """Text PostgreSQL keeps: no NUL characters (a peer may send them in a header)."""
    return value.replace("\x00", "\ufffd")


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:2000]


# --- preparing and rebuilding --------------------------------------------------------------------------


async def prepare_projection(conn: asyncpg.Connection, schema: str, projection: Projection) -> None:
    """Create the projection's tables and tracking rows. A projection without tracking rows for exactly the
    sources it follows, at its version, is new or was changed: its tables are dropped, and it backfills from
    the first event."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}.projections")
        for statement in tracking_ddl(schema):
            await conn.execute(statement)
        tracked = {(row["source"], row["version"]) for row in await conn.fetch(
            f"SELECT source, version FROM {schema}.projection_position WHERE projection = $1", projection.name)}
        if tracked != {(source, projection.version) for source in projection.follows}:
            for table in table_names(projection):
                await conn.execute(f"DROP TABLE IF EXISTS {schema}.{table} CASCADE")
            await conn.execute(f"DELETE FROM {schema}.projection_position WHERE projection = $1", projection.name)
            await conn.executemany(
                f"INSERT INTO {schema}.projection_position (projection, source, position, source_position, version)"
                " VALUES ($1, $2, 0, 0, $3)", [(projection.name, source, projection.version)
                                              for source in projection.follows])
        await conn.execute(f"SET LOCAL search_path TO {schema}")
        for statement in projection.tables:
            await conn.execute(statement)


@dataclass
class RebuildProgress:
    """How far a rebuild has got: events read of the total there were when it started."""

    projection: str
    state: str = "running"
    done: int = 0
    total: int = 0
    error: str | None = None


async def rebuild(projection: Projection, sources: Mapping[str, EventSource], pool: asyncpg.Pool, schema: str,
                  progress: RebuildProgress, batch_size: int = 1000) -> None:
    """Replay every event the projection follows into fresh tables in a scratch schema, then, in one
    transaction that holds the live tracking rows, apply what arrived meanwhile and swap the tables in.
    One rebuild of a projection at a time, across every replica (a session lock on the database)."""
    scratch = f"{schema}_rebuild_{projection.name}"
    tracking = f"{projection.name}@rebuild"
    runners = [ProjectionRunner(projection, service, source, pool, schema, batch_size=batch_size,
                                tables_schema=scratch, tracking_name=tracking) for service, source in sources.items()]
    guard = await pool.acquire()
    try:
        if not await guard.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"{schema}.rebuild.{projection.name}"):
            raise RebuildRunning(f"another rebuild of {projection.name} is running")
        try:
            await _prepare_scratch(guard, projection, schema, scratch, tracking)
            for runner in runners:
                await runner.start()
            await _replay(runners, progress, batch_size)
            await _swap(pool, projection, runners, schema, scratch, tracking, batch_size)
        finally:
            await guard.execute("SELECT pg_advisory_unlock(hashtext($1))", f"{schema}.rebuild.{projection.name}")
        progress.done, progress.state = progress.total, "done"
    except asyncio.CancelledError:
        progress.state = "interrupted"
        raise
    except Exception as error:  # noqa: BLE001 - reported to whoever asked for the rebuild; old tables still answer
        log.exception("rebuilding %s failed", projection.name)
        progress.state, progress.error = "failed", _one_line(error)
    finally:
        await pool.release(guard)
        for runner in runners:
            await runner.source.close()


class RebuildRunning(Exception):
    """A rebuild of this projection is already running (here or in another replica)."""


async def _prepare_scratch(conn: asyncpg.Connection, projection: Projection, schema: str, scratch: str,
                           tracking: str) -> None:
    async with conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {scratch} CASCADE")
        await conn.execute(f"CREATE SCHEMA {scratch}")
        await conn.execute(f"SET LOCAL search_path TO {scratch}")
        for statement in projection.tables:
            await conn.execute(statement)
        await conn.execute(f"DELETE FROM {schema}.projection_position WHERE projection = $1", tracking)
        await conn.execute(f"DELETE FROM {schema}.dead_letters WHERE consumer = $1", tracking)


async def _replay(runners: list[ProjectionRunner], progress: RebuildProgress, batch_size: int) -> None:
    """Apply every source's events up to its head, then again up to the head that moved meanwhile, until
    less than a batch arrived: what is left for the swap is short."""
    while True:
        heads = [await runner.source.head() for runner in runners]
        progress.total = sum(heads)
        if sum(head - runner.position for runner, head in zip(runners, heads, strict=True)) < batch_size:
            return
        for runner, head in zip(runners, heads, strict=True):
            while runner.position < head:
                messages = await runner.source.read(batch_size)
                if messages and not await runner.apply(messages):
                    await runner.source.open(runner.position)
                progress.done = sum(min(r.position, h) for r, h in zip(runners, heads, strict=True))


async def _swap(pool: asyncpg.Pool, projection: Projection, runners: list[ProjectionRunner], schema: str,
                scratch: str, tracking: str, batch_size: int) -> None:
    """With the live tracking rows locked (the live runners wait), apply what they applied beyond the rebuild,
    then put the fresh tables, positions and dead letters in place of the old."""
    async with pool.acquire() as conn, conn.transaction():
        live = {row["source"]: row["position"] for row in await conn.fetch(
            f"SELECT source, position FROM {schema}.projection_position WHERE projection = $1"
            " ORDER BY source FOR UPDATE", projection.name)}
        for runner in runners:
            while runner.position < live.get(runner.source_service, 0):
                items = [runner._read(m) for m in await runner.source.read(batch_size) if m.sequence > runner.position]
                if items:
                    await runner.apply_in(conn, items)
                    await runner._advance(items[-1].message.sequence, items[-1].source_position)
        for table in table_names(projection):
            await conn.execute(f"DROP TABLE IF EXISTS {schema}.{table} CASCADE")
            await conn.execute(f"ALTER TABLE {scratch}.{table} SET SCHEMA {schema}")
        await conn.execute(f"DELETE FROM {schema}.projection_position WHERE projection = ANY($1::text[])",
                           [projection.name, tracking])
        await conn.executemany(
            f"INSERT INTO {schema}.projection_position (projection, source, position, source_position, version)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(projection.name, r.source_service, r.position, r.source_position, projection.version) for r in runners])
        await conn.execute(f"DELETE FROM {schema}.dead_letters WHERE consumer = $1", projection.name)
        await conn.execute(f"UPDATE {schema}.dead_letters SET consumer = $1 WHERE consumer = $2",
                           projection.name, tracking)
        await conn.execute(f"DROP SCHEMA {scratch} CASCADE")
