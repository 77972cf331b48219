"""Event-sourced applications on the eventsourcing library, storing the public event contracts as they are.

Each stored event is the JSON of its contract model, so what an auditor replays from the store,
what the relay publishes and what consumers receive are the same bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Mapper, OperationalError, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder

from shared.aggregate import Aggregate
from shared.contracts import Event, EventContext, parse_event
from shared.idempotency import Claim, IdempotencyKeyUsed, current_claim, is_key_used, key_row, keys_table_statements
from shared.telemetry import current_traceparent


class ContractMapper(Mapper):
    """Maps contract events to stored events: topic = event type, state = the contract's JSON."""

    def to_stored_event(self, domain_event: Event) -> StoredEvent:  # type: ignore[override]
        return StoredEvent(
            originator_id=domain_event.aggregate_id,
            originator_version=domain_event.aggregate_version,
            topic=domain_event.event_type,
            state=domain_event.model_dump_json().encode(),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Event:  # type: ignore[override]
        return parse_event(stored_event.state)


@dataclass(frozen=True)
class SqlWrite:
    """A statement to run in the same transaction as the events it belongs with (psycopg `%s` parameters)."""

    sql: str
    params: tuple[Any, ...] = ()


class TransactionalRecorder(PostgresApplicationRecorder):
    """The PostgreSQL recorder, also running a change's `SqlWrite`s inside the transaction that saves its events.

    Everything else is the library's: the table lock that makes notification order commit order, and
    the unique (originator, version) key that refuses a concurrent change. Its tables include the
    service's idempotency keys (shared/idempotency.py), written with the events they belong to."""

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            for statement in keys_table_statements(self.datastore.schema):
                curs.execute(statement)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert (the writes first, then the table lock, the events and their notification ids,
        pipelined, one transaction), tried once (see shared/database.py) and raising what failed as itself.

        The library's own version keeps the first error aside inside the transaction and raises it after; when
        a write failed, psycopg then ends the transaction with "pipeline aborted" instead, so a used idempotency
        key or a refused row came out as an outage. Here the error leaves the transaction as it happened (which
        rolls it back)."""
        notification_ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn, conn.pipeline() as pipeline, conn.transaction():
            with conn.cursor() as curs:
                for write in kwargs.get("also_write", ()):
                    curs.execute(write.sql, write.params)
            if stored_events:
                with conn.cursor() as curs:
                    self._insert_stored_events(curs, stored_events, **kwargs)
                    pipeline.sync()  # a constraint violated is raised here, not at commit
                    notification_ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        return notification_ids


@dataclass(frozen=True)
class Change:
    """One command's outcome, not saved yet: its aggregates, their new events stamped with who and why, and the
    rows that go with them. Saving it again after a failed attempt saves the same events."""

    aggregates: tuple[Aggregate, ...]
    events: tuple[Event, ...]
    also_write: tuple[SqlWrite, ...] = ()
    idempotency: Claim | None = None
    """The Idempotency-Key the request sent: recorded with the events, so a retry cannot save them again."""

    @classmethod
    def of(cls, context: EventContext, *aggregates: Aggregate, also_write: Sequence[SqlWrite] = ()) -> Change:
        """The aggregates' new events stamped with who and why, the trace, and the request's idempotency key
        (taken here, in the request's own context: the change may be saved on another request's thread)."""
        traceparent = current_traceparent()
        events = tuple(
            event.model_copy(update={"actor": context.actor, "correlation_id": context.correlation_id,
                                     "causation_id": context.causation_id, "traceparent": traceparent})
            for aggregate in aggregates
            for event in aggregate.collect_events()
        )
        return cls(aggregates, events, tuple(also_write), current_claim())


@dataclass
class _Waiting:
    change: Change
    done: bool = False
    position: int = 0
    error: BaseException | None = None


class GroupCommit:
    """Saves the changes that concurrent requests make at the same moment in one transaction: while one
    transaction commits, the changes that arrive wait, and the first of them to wake commits them all (one
    table lock and one commit for the lot). Each change stays all or nothing: a group that fails is saved
    again one change at a time, so each caller gets its own answer."""

    def __init__(self, record_changes: Callable[[Sequence[Change]], list[int]]):
        self.record_changes = record_changes
        self._turn = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._committing = False

    def save(self, change: Change) -> int:
        mine = _Waiting(change)
        with self._turn:
            self._waiting.append(mine)
            while self._committing and not mine.done:
                self._turn.wait()
            if not mine.done:
                self._committing = True
                group, self._waiting = self._waiting, []
        if not mine.done:
            try:
                self._commit(group)
            finally:
                with self._turn:
                    self._committing = False
                    self._turn.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.position

    def _commit(self, group: list[_Waiting]) -> None:
        try:
            positions = self.record_changes([waiting.change for waiting in group])
        except BaseException as error:
            if len(group) == 1:
                group[0].error, group[0].done = error, True
                return
            for waiting in group:
                self._commit([waiting])
            return
        for waiting, position in zip(group, positions, strict=True):
            waiting.position, waiting.done = position, True


class _UnusedTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError


class ServiceApplication(Application):
    """A service's event store. `record` saves aggregates' new events atomically and returns the position."""

    aggregate_class: ClassVar[type[Aggregate]]

    def __init__(self, env: Mapping[str, str] | None = None):
        super().__init__(env)
        self.group_commit = GroupCommit(self.record_changes)

    @property
    def keeps_idempotency_keys(self) -> bool:
        """Whether writes to this store can carry an Idempotency-Key (PostgreSQL stores only)."""
        return isinstance(self.recorder, TransactionalRecorder)

    def construct_transcoder(self) -> Transcoder:
        return _UnusedTranscoder()

    def construct_mapper(self) -> Mapper:
        return ContractMapper(transcoder=self.construct_transcoder())

    def record(self, context: EventContext, *aggregates: Aggregate, also_write: Sequence[SqlWrite] = ()) -> int:
        """Stamp who and why on the new events, save them in one transaction, return the last position.

        `also_write` statements run in that same transaction (PostgreSQL stores only)."""
        return self.commit(Change.of(context, *aggregates, also_write=also_write))

    def commit(self, change: Change) -> int:
        """Save one change, in the same transaction as the changes other requests are saving at that moment
        (a group commit); its last position."""
        return self.group_commit.save(change)

    def record_changes(self, changes: Sequence[Change]) -> list[int]:
        """Save several changes in one transaction, all or none (a group commit); the last position of each.

        One table lock and one commit for the lot: what makes a batch of commands cheap. A change's idempotency
        key is recorded in the same transaction; a key used before fails it with `IdempotencyKeyUsed`."""
        for change in changes:
            if change.also_write and not change.events:
                raise ValueError("writes that belong with events need at least one event")
        events = [event for change in changes for event in change.events]
        if not events:
            return [self.position()] * len(changes)
        claimed = sorted((change for change in changes if change.idempotency and change.events),
                         key=lambda change: change.idempotency.key)  # one order: no two groups wait on each other
        also_write = tuple(write for change in changes for write in change.also_write)
        if (claimed or also_write) and not self.keeps_idempotency_keys:
            raise TypeError("only a PostgreSQL store can run writes (or keep idempotency keys) in the transaction "
                            "of its events")
        writes = (*(self._key_write(change) for change in claimed), *also_write)
        try:
            recordings = self.save(*events, also_write=writes)
        except (IntegrityError, OperationalError) as error:
            if claimed and (is_key_used(error) or self._keys_taken(claimed)):
                raise IdempotencyKeyUsed([change.idempotency.key for change in claimed]) from error
            raise
        for change in claimed:
            change.idempotency.saved = True
        positions = {recording.domain_event.event_id: recording.notification.id for recording in recordings}
        last = max(positions.values())
        return [max((positions[event.event_id] for event in change.events), default=last) for change in changes]

    def _keys_taken(self, claimed: Sequence[Change]) -> bool:
        """Whether any of these changes' keys is already kept: a save that failed on a used key does not always
        say so (in pipeline mode the failure can surface as the pipeline aborted)."""
        try:
            with self.recorder.datastore.transaction(commit=False) as curs:
                curs.execute(f"SELECT 1 FROM {self.recorder.datastore.schema}.idempotency_keys WHERE key = ANY(%s)",
                             ([change.idempotency.key for change in claimed],))
                return curs.fetchone() is not None
        except Exception:  # noqa: BLE001 - cannot tell (the database away): the save's own error stands
            return False

    def _key_write(self, change: Change) -> SqlWrite:
        last = change.events[-1]  # saved last of the change: its position is the change's
        return SqlWrite(*key_row(self.recorder.datastore.schema, change.idempotency, change.aggregates[0].id,
                                 last.aggregate_id, last.aggregate_version))

    def load(self, aggregate_id: UUID) -> Aggregate | None:
        return self.aggregate_class.from_history(self.events.get(aggregate_id))

    def position(self) -> int:
        return self.recorder.max_notification_id() or 0


def postgres_env(database_url: str, schema: str, lock_timeout_seconds: int,
                 database_timeout_seconds: float = 1.0) -> dict[str, str]:
    """The eventsourcing library's settings for a service's own schema in the shared database.

    Its statements are tried once (`FailFastRecorder`), a connection is awaited `database_timeout_seconds` at
    most (rounded up to whole seconds, as the library reads it), and each is checked before use, so a
    connection broken by a database restart is replaced instead of failing a request."""
    url = urlparse(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema,
        "APPLICATION_RECORDER_TOPIC": "shared.database:FailFastRecorder",
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout_seconds),
        "POSTGRES_CONNECT_TIMEOUT": str(max(1, int(-(-database_timeout_seconds // 1)))),
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "5",
        "CREATE_TABLE": "y",
    }


IN_MEMORY_ENV = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
