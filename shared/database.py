"""PostgreSQL, failing fast: a request waits about a second for the database, then the client hears 503.

Left alone, the eventsourcing recorder retries each statement ten times and its pool waits 30 s for a
connection, so a write with PostgreSQL down answered after 30 s (and a health check hung for minutes). Here:
- `FailFastRecorder` is the service's recorder without those retries (its pool waits
  `database_timeout_seconds`, set by `postgres_env`); once a request's read or write has found the database out
  of reach it refuses requests at once for that long again, so the writes of a group commit that failed together
  fail together, not one by one, each after its own wait. The background readers of the notification log (the
  relay, each projection of the service's own events, the health check) neither trip nor obey that refusal: each
  tries once and waits its own turn, so a reader meeting a connection broken by a database restart does not
  refuse the requests that follow it (with four projections reading the referral store, one of them often met
  one just after a restart, and the next second's writes answered 503 although the database was back);
- `read_pool` is the asyncpg pool of the read models, whose connects and acquires wait that long at most;
- `database_unreachable` tells an outage (or a database that cannot take writes now) from a statement's fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
import psycopg
import psycopg_pool
import psycopg_pool.base
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder

from shared.eventstore import TransactionalRecorder

UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
"""PostgreSQL error codes that mean the database (not the statement) is at fault: connection exceptions, a shutdown
by an administrator or a crash, a server still starting, too many connections."""

ASYNCPG_UNREACHABLE = (OSError, TimeoutError, asyncpg.exceptions.PostgresConnectionError,
                       asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.AdminShutdownError,
                       asyncpg.exceptions.CrashShutdownError, asyncpg.exceptions.TooManyConnectionsError)


def database_unreachable(error: BaseException | None) -> bool:
    """Whether `error` (or what caused it) says PostgreSQL is out of reach, rather than that a statement failed."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, (psycopg_pool.PoolTimeout, psycopg.InterfaceError, *ASYNCPG_UNREACHABLE)):
            return True
        if isinstance(error, psycopg.errors.PipelineAborted):
            return False  # a statement before it in the pipeline failed (e.g. a key already used): not an outage
        if isinstance(error, psycopg.OperationalError):
            state = error.sqlstate
            return state is None or state.startswith(UNREACHABLE_STATES)
        if isinstance(error, asyncpg.exceptions.InterfaceError):
            return "closed" in str(error)
        error, seen = error.__cause__, seen + 1
    return False


class FailFastRecorder(TransactionalRecorder):
    """The service's recorder (events and the rows that go with them in one transaction), each call tried once."""

    _unreachable_until: float = 0.0

    def insert_events(self, stored_events, **kwargs: Any):  # type: ignore[override]
        return self._once(TransactionalRecorder.insert_events, stored_events, **kwargs)

    def select_events(self, originator_id, **kwargs: Any):  # type: ignore[override]
        return self._once(PostgresAggregateRecorder.select_events, originator_id, **kwargs)

    def select_notifications(self, start, limit, *args: Any, **kwargs: Any):  # type: ignore[override]
        return _without_retries(PostgresApplicationRecorder.select_notifications)(self, start, limit, *args, **kwargs)

    def max_notification_id(self) -> int | None:
        return _without_retries(PostgresApplicationRecorder.max_notification_id)(self)

    def _once(self, retrying: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A request's call of the library's method, without its retry decorator; refused at once while a request
        found the database out of reach less than one pool timeout ago."""
        if time.monotonic() < self._unreachable_until:
            raise OperationalError("the database was out of reach a moment ago: not trying again yet")
        try:
            return _without_retries(retrying)(self, *args, **kwargs)
        except (InterfaceError, OperationalError) as error:
            if database_unreachable(error):
                self._unreachable_until = time.monotonic() + self.datastore.pool.timeout
            raise


def _without_retries(method: Callable[..., Any]) -> Callable[..., Any]:
    """The eventsourcing recorder's method without its retry decorator."""
    return getattr(method, "__wrapped__", method)


def reconnect_every_second() -> None:
    """psycopg's pool tries a lost connection again after 1, 2, 4, 8... seconds, so after a minute without
    PostgreSQL the store would go on refusing writes for up to a minute more once it is back. Every second
    instead (with the pool's jitter): a process-wide setting of the pool, made by the composition root."""
    psycopg_pool.base.AttemptWithBackoff.DELAY_BACKOFF = 1.0


class ReadPool:
    """asyncpg's pool, where `acquire` waits `acquire_timeout` at most unless told otherwise (a TimeoutError,
    which the services answer as 503). Everything else is the pool's own."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float):
        self._pool = pool
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None):
        return self._pool.acquire(timeout=self.acquire_timeout if timeout is None else timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


async def read_pool(database_url: str, timeout_seconds: float, max_size: int = 8) -> ReadPool:
    """The pool a service's read models and positions use: connects and acquires wait `timeout_seconds` at most.
    No floor of open connections (`min_size=0`): asyncpg would log a traceback every second restoring it while
    the database is away."""
    pool = await asyncpg.create_pool(database_url, min_size=0, max_size=max_size, timeout=timeout_seconds)
    return ReadPool(pool, timeout_seconds)
