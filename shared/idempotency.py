"""Idempotent writes: a write sent with an `Idempotency-Key` header is done once, however often it is retried.

A client that lost the answer to a write (a dropped connection, a service killed mid-request) cannot tell
whether it was saved; sending it again with the same key is always safe:

- `IdempotencyMiddleware` reads the key of a write (POST, PUT, PATCH, DELETE) and the request's fingerprint,
  and puts both, a `Claim`, in a context variable for the route (sync routes run in a thread that copies it);
- `Change.of` (shared/eventstore.py) takes the claim into the change it builds, so it travels with the change
  to whichever thread saves it (a group commit saves other requests' changes too), and the store inserts the
  key's row in the transaction that saves the change's events: both are committed or neither is. A plain
  INSERT: a key already used fails that transaction, which saves nothing (`IdempotencyKeyUsed`);
- once the route has answered 2xx, the middleware keeps the answer in the key's row, then sends it;
- a request whose key is recorded gets the first answer again (header `Idempotent-Replayed: true`), a 422 if
  it is not the same request, a 409 (retry) while the first one is between its commit and its answer, or, if
  the first one's process died there, an answer rebuilt from what the row knows (its position and aggregate).

A request that failed (4xx, 5xx) keeps nothing: its retry runs again. Keys belong to a service (each service
its own table in its own schema) and are forgotten `idempotency_key_retention_days` after their first use.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import StoreUnavailable
from shared.request_guard import replaying

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LONGEST_KEY = 200
KEYS_TABLE = "idempotency_keys"
KEY_CONSTRAINT = "idempotency_keys_pkey"

ANSWER_DUE_WITHIN = timedelta(seconds=10)
"""How long after its commit a request's answer is kept at the latest. A key recorded without an answer for
longer belongs to a request whose process died between its commit and its answer (a key younger than this is
still being answered). Commit to answer takes milliseconds; the margin covers a busy event loop."""

WAIT_FOR_FIRST_ANSWER_SECONDS = 2.0
"""How long a retry waits for the first request's answer before telling the client to retry (409)."""

STORE_WAIT_SECONDS = 2.0
"""Longest a key is looked up or an answer kept: a store away answers 503 (retry), it does not hang the write."""

SWEEP_EVERY_SECONDS = 3600.0
"""How often a service deletes its keys older than the retention (after a write that carried a key)."""


# -- the claim: the key a request writes under, and what the request was ------------------------------------


class InvalidIdempotencyKey(ValueError):
    """The Idempotency-Key header is not 1-200 printable ASCII characters."""


def valid_key(raw: str) -> str:
    """The key, if it is 1-200 printable ASCII characters (a UUID is a good key); otherwise why not."""
    if not raw:
        raise InvalidIdempotencyKey(f"{KEY_HEADER} is empty: send 1-{LONGEST_KEY} printable ASCII characters")
    if len(raw) > LONGEST_KEY:
        raise InvalidIdempotencyKey(f"{KEY_HEADER} is {len(raw)} characters long; at most {LONGEST_KEY}")
    if not all(" " <= character <= "~" for character in raw):
        raise InvalidIdempotencyKey(f"{KEY_HEADER} may hold printable ASCII characters only")
    return raw


def fingerprint(method: str, path: str, query: bytes, actor: bytes, body: bytes, secret: bytes = b"") -> bytes:
    """What makes two requests the same request: method, path, query, who asks (the token's subject), and the
    body byte for byte
    (HMAC-SHA-256 under the service's secret, so that a kept fingerprint of a referral cannot be matched
    against a guessed name and date of birth; each part length-prefixed so that no two different requests
    run together alike)."""
    digest = hmac.new(secret, digestmod=hashlib.sha256)
    for part in (method.encode(), path.encode(), query, actor, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def scoped_key(subject: str, key: str) -> str:
    """A key as kept: the subject's own (another subject's same key is another key, so nobody is given
    someone else's answer). The subject comes from the verified bearer token."""
    return f"{len(subject)}:{subject}:{key}" if subject else key


def sent_key(kept: str) -> str:
    """The key as its client sent it, from the key as kept (`scoped_key`'s inverse)."""
    length, _, rest = kept.partition(":")
    return rest[int(length) + 1:] if length.isdigit() and rest[int(length):int(length) + 1] == ":" else kept


@dataclass(eq=False)
class Claim:
    """A request's idempotency key and fingerprint, carried by the change the request saves."""

    key: str
    fingerprint: bytes
    saved: bool = False
    """Set once a change carrying the claim is committed: any later change of the request goes without it."""
    answered_again: bool = False
    """Set when the request was answered with the first request's answer: there is no new answer to keep."""
    sent: str = ""
    """The key as the client sent it (`key` is scoped to the client's subject)."""

    @property
    def shown(self) -> str:
        return self.sent or self.key


_claim: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


@contextmanager
def claiming(claim: Claim) -> Iterator[Claim]:
    """Changes made within (in this context, and threads started from it) carry `claim`."""
    token = _claim.set(claim)
    try:
        yield claim
    finally:
        _claim.reset(token)


def current_claim() -> Claim | None:
    """The claim of the request being served, unless a change of this request already went with it."""
    claim = _claim.get()
    return claim if claim is not None and not claim.saved else None


class IdempotencyKeyUsed(Exception):
    """Another request saved a change under this idempotency key first; nothing of this change was saved.

    Not an IntegrityError on purpose: deciding again (what a version conflict calls for) would do the
    write a second time."""

    def __init__(self, keys: Sequence[str]):
        super().__init__(f"idempotency key already used: {', '.join(keys) or '?'}")
        self.keys = tuple(keys)


# -- the store's side: the table and its row, written in the transaction of the events ----------------------


def keys_table_statements(schema: str) -> list[str]:
    """The table of a service's idempotency keys, in its own schema (created with its event store)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.{KEYS_TABLE} ("
        " key text NOT NULL,"
        " fingerprint bytea NOT NULL,"
        " aggregate_id uuid,"
        " originator_id uuid,"
        " originator_version bigint,"
        " recorded_at timestamptz NOT NULL DEFAULT now(),"
        " status int,"
        " media_type text,"
        " answer bytea,"
        f" CONSTRAINT {KEY_CONSTRAINT} PRIMARY KEY (key))",
        f"CREATE INDEX IF NOT EXISTS {KEYS_TABLE}_recorded_at ON {schema}.{KEYS_TABLE} (recorded_at)",
    ]


def key_row(schema: str, claim: Claim, aggregate_id: UUID, originator_id: UUID,
            originator_version: int) -> tuple[str, tuple[Any, ...]]:
    """The statement recording a claim with its change: the change's first aggregate, and its last event (whose
    position is the change's). A plain INSERT, never ON CONFLICT: a used key must fail the transaction."""
    return (f"INSERT INTO {schema}.{KEYS_TABLE} (key, fingerprint, aggregate_id, originator_id, originator_version)"
            " VALUES (%s, %s, %s, %s, %s)",
            (claim.key, claim.fingerprint, aggregate_id, originator_id, originator_version))


def is_key_used(error: BaseException) -> bool:
    """Whether a failed save failed on the idempotency key's uniqueness (not on an event version taken)."""
    for cause in (error, error.__cause__, error.__context__):
        diag = getattr(cause, "diag", None)
        if diag is not None and getattr(diag, "constraint_name", None) == KEY_CONSTRAINT:
            return True
    return False


# -- the web's side: finding a key, keeping an answer, answering again --------------------------------------


@dataclass(frozen=True)
class KeptKey:
    """What a service holds for a used key."""

    fingerprint: bytes
    age: timedelta
    status: int | None = None
    media_type: str | None = None
    answer: bytes | None = None
    aggregate_id: UUID | None = None
    position: int | None = None
    """The store position of the change's last event."""


class KeyBook(Protocol):
    """Where a service keeps its idempotency keys and the answers given under them (each method raises
    `StoreUnavailable` when it cannot tell)."""

    service: str
    retention_days: int
    secret: bytes
    """Keys the fingerprints (derived from the vault secret)."""

    async def find(self, key: str) -> KeptKey | None: ...

    async def keep_answer(self, claim: Claim, status: int, media_type: str | None, answer: bytes) -> None: ...

    async def forget_older_than(self, days: int) -> int: ...


class PostgresKeyBook:
    """A service's idempotency keys in its schema, read and answered through the service's asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, schema: str, service: str, events_table: str, retention_days: int = 7,
                 secret: bytes = b""):
        self.pool, self.schema, self.service = pool, schema, service
        self.events_table, self.retention_days, self.secret = events_table, retention_days, secret

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self.pool.acquire(timeout=STORE_WAIT_SECONDS) as conn:
                yield conn
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,  # TimeoutError is an OSError
                asyncpg.exceptions.InternalClientError) as error:  # a connection lost mid-protocol (server killed)
            raise StoreUnavailable() from error

    async def find(self, key: str) -> KeptKey | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT k.fingerprint, now() - k.recorded_at AS age, k.status, k.media_type, k.answer,"
                f" k.aggregate_id, e.notification_id AS position FROM {self.schema}.{KEYS_TABLE} k"
                f" LEFT JOIN {self.schema}.{self.events_table} e"
                f" ON e.originator_id = k.originator_id AND e.originator_version = k.originator_version"
                f" WHERE k.key = $1", key, timeout=STORE_WAIT_SECONDS)
        return KeptKey(**dict(row)) if row else None

    async def keep_answer(self, claim: Claim, status: int, media_type: str | None, answer: bytes) -> None:
        async with self._connection() as conn:
            if claim.saved:
                await conn.execute(f"UPDATE {self.schema}.{KEYS_TABLE} SET status = $2, media_type = $3, answer = $4"
                                   f" WHERE key = $1", claim.key, status, media_type, answer,
                                   timeout=STORE_WAIT_SECONDS)
            else:  # the request saved no events (nothing to do): its answer is still the one to give again
                await conn.execute(
                    f"INSERT INTO {self.schema}.{KEYS_TABLE} (key, fingerprint, status, media_type, answer)"
                    f" VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
                    claim.key, claim.fingerprint, status, media_type, answer, timeout=STORE_WAIT_SECONDS)

    async def forget_older_than(self, days: int) -> int:
        async with self._connection() as conn:
            status = await conn.execute(f"DELETE FROM {self.schema}.{KEYS_TABLE}"
                                        f" WHERE recorded_at < now() - make_interval(days => $1)", days)
        return int(status.split()[-1])


def kept_by(runtime: Any) -> Callable[[], KeyBook | None]:
    """The key book of a running service (`ServiceRuntime`): none before it has started, nor for a service
    without an event store on PostgreSQL (its writes then take no key into account)."""
    book: PostgresKeyBook | None = None

    def keys() -> KeyBook | None:
        nonlocal book
        store = runtime.store
        if book is None and runtime.pool is not None and store is not None and store.keeps_idempotency_keys:
            secret = hmac.new(runtime.settings.idempotency_secret.encode(), b"idempotency fingerprints",
                              hashlib.sha256).digest()
            book = PostgresKeyBook(runtime.pool, runtime.schema, runtime.name, store.recorder.events_table_name,
                                   runtime.settings.idempotency_key_retention_days, secret)
        return book

    return keys


def store_unavailable() -> JSONResponse:
    return JSONResponse({"detail": "the store is busy or unavailable; nothing was saved: retry shortly"},
                        status_code=503, headers={"Retry-After": "1"})


def refused_key(message: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": ["header", KEY_HEADER], "msg": message, "type": kind}]},
                        status_code=422)


def declared_status(scope: Scope) -> int:
    """The success status the route that `scope` reaches declares (201 for a POST that creates, ...), read from
    the app's OpenAPI document (the public view of its routes)."""
    app = scope.get("app")
    statuses = getattr(app, "_success_statuses", None)
    if statuses is None and app is not None:
        statuses = []
        for path, operations in app.openapi().get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
            for method, operation in operations.items():
                codes = sorted(int(code) for code in operation.get("responses", {}) if code.startswith("2"))
                statuses.append((method.upper(), pattern, codes[0] if codes else 200))
        app._success_statuses = statuses
    for method, pattern, status in statuses or ():
        if method == scope["method"] and pattern.match(scope["path"]):
            return status
    return 200


async def answer_again(keys: KeyBook, claim: Claim, wait_seconds: float, kept: KeptKey | None = None,
                       success_status: int = 200) -> Response:
    """The answer to a request whose key another request used: the first answer (waiting a little for it if
    the first request has committed but not yet answered), or why not. A rebuilt answer has the route's
    `success_status`, since the write did succeed."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            kept = kept or await keys.find(claim.key)
        except StoreUnavailable:
            return store_unavailable()
        if kept is not None and kept.fingerprint != claim.fingerprint:
            return refused_key(f"idempotency key {claim.shown!r} was used for a different request (method, path, "
                               "body or actor): send a new key with a new request", "idempotency_key_reused")
        if kept is not None and kept.answer is not None:
            return Response(kept.answer, status_code=kept.status, media_type=kept.media_type,
                            headers={REPLAYED_HEADER: "true"})
        if kept is not None and kept.age > ANSWER_DUE_WITHIN:
            return JSONResponse({
                "idempotency_key": claim.shown, "rebuilt": True,
                "detail": "this request was saved, but its answer was lost (the service stopped before giving "
                          "it); this is what is known of it",
                "aggregate_id": str(kept.aggregate_id) if kept.aggregate_id else None,
                "position": f"{keys.service}:{kept.position}" if kept.position is not None else None,
            }, status_code=success_status, headers={REPLAYED_HEADER: "true"})
        if time.monotonic() >= deadline:
            return JSONResponse({"detail": f"a request with idempotency key {claim.shown!r} is in progress: retry "
                                           "shortly for its answer"}, status_code=409, headers={"Retry-After": "1"})
        await asyncio.sleep(0.02)
        kept = None


class IdempotencyMiddleware:
    """Gives a retried write the first answer instead of doing it again (pure ASGI, so the context variable it
    sets reaches the route). Requests without the header, reads, and services without a key book pass through."""

    def __init__(self, app: ASGIApp, keys: Callable[[], KeyBook | None],
                 wait_for_first_answer: float = WAIT_FOR_FIRST_ANSWER_SECONDS,
                 subject_of: Callable[[Sequence[tuple[bytes, bytes]]], str | None] | None = None):
        self.app, self.keys, self.wait_for_first_answer = app, keys, wait_for_first_answer
        self.subject_of = subject_of
        self._next_sweep = 0.0
        self._sweeping: set[asyncio.Task] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            return await self.app(scope, receive, send)
        raw = [value for name, value in scope["headers"] if name == b"idempotency-key"]
        keys = self.keys() if raw else None
        if keys is None:
            return await self.app(scope, receive, send)
        try:
            if len(raw) > 1:
                raise InvalidIdempotencyKey(f"send one {KEY_HEADER} header, not {len(raw)}")
            key = valid_key(raw[0].decode("latin-1").strip())
        except InvalidIdempotencyKey as error:
            return await refused_key(str(error), "invalid_idempotency_key")(scope, receive, send)
        subject = self.subject_of(scope["headers"]) if self.subject_of else ""
        if subject is None:  # no trusted subject: the route refuses the request (401), nothing to keep
            return await self.app(scope, receive, send)
        sent, key = key, scoped_key(subject, key)
        body = await read_body(receive)
        if body is None:
            return  # the client went away before sending its body
        claim = Claim(key, fingerprint(scope["method"], scope["path"], scope["query_string"], subject.encode(), body,
                                       keys.secret), sent=sent)
        try:
            kept = await keys.find(key)
        except StoreUnavailable:
            return await store_unavailable()(scope, receive, send)
        if kept is not None:
            again = await answer_again(keys, claim, self.wait_for_first_answer, kept, declared_status(scope))
            return await again(scope, receive, send)

        answer = Answer()
        with claiming(claim):
            await self.app(scope, replaying(body, receive), answer.capture)
        if 200 <= answer.status < 300 and not claim.answered_again:
            try:
                await keys.keep_answer(claim, answer.status, answer.media_type, answer.body)
            except StoreUnavailable:  # the write is saved: its answer still goes to the client
                log.warning("could not keep the answer of an idempotent write; a retry gets it rebuilt", exc_info=True)
            self.sweep_now_and_then(keys)
        await answer.send_to(send)

    def sweep_now_and_then(self, keys: KeyBook) -> None:
        """Forget keys older than the retention, at most once every SWEEP_EVERY_SECONDS (in the background)."""
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_EVERY_SECONDS
        task = asyncio.get_running_loop().create_task(self._sweep(keys), context=contextvars.Context())
        self._sweeping.add(task)
        task.add_done_callback(self._sweeping.discard)

    async def _sweep(self, keys: KeyBook) -> None:
        try:
            forgotten = await keys.forget_older_than(keys.retention_days)
            if forgotten:
                log.info("forgot %d idempotency keys older than %d days", forgotten, keys.retention_days)
        except StoreUnavailable:  # tried again at the next sweep
            log.warning("could not forget old idempotency keys", exc_info=True)


class Answer:
    """A route's answer, held back until it is kept."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def capture(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def media_type(self) -> str | None:
        return next((value.decode("latin-1") for name, value in self.headers if name.lower() == b"content-type"),
                    None)

    async def send_to(self, send: Send) -> None:
        if not self.status:
            return
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


async def read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def install_idempotency(app: FastAPI, keys: Callable[[], KeyBook | None],
                        wait_for_first_answer: float = WAIT_FOR_FIRST_ANSWER_SECONDS,
                        subject_of: Callable[[Sequence[tuple[bytes, bytes]]], str | None] | None = None) -> None:
    """Make every write route of `app` take an Idempotency-Key (the middleware, and the answer to a change
    whose key another request used while this one was deciding)."""

    async def key_used(request: Request, error: IdempotencyKeyUsed) -> Response:
        claim, book = _claim.get(), keys()
        if claim is None or book is None:  # not a keyed HTTP write: nothing to answer again
            return JSONResponse({"detail": str(error)}, status_code=409)
        claim.answered_again = True
        return await answer_again(book, claim, wait_for_first_answer, success_status=declared_status(request.scope))

    app.add_middleware(IdempotencyMiddleware, keys=keys, wait_for_first_answer=wait_for_first_answer,
                       subject_of=subject_of)
    app.add_exception_handler(IdempotencyKeyUsed, key_used)
    document_key(app, keys)


def document_key(app: FastAPI, keys: Callable[[], KeyBook | None]) -> None:
    """List the header among the parameters of every write in the OpenAPI document (of a service that keeps
    keys: the document is made once the service runs)."""
    make_document = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = make_document()
        if keys() is not None:
            for operations in document.get("paths", {}).values():
                for method, operation in operations.items():
                    if method.upper() in WRITE_METHODS:
                        operation.setdefault("parameters", []).append(KEY_PARAMETER)
        return document

    app.openapi = openapi


KEY_PARAMETER = {
    "name": KEY_HEADER, "in": "header", "required": False,
    "description": "A new key for each write (a UUID), the same when you retry it: a retry gets the first "
                   "answer (with Idempotent-Replayed: true) instead of doing the write again; the same key "
                   "with a different request is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": LONGEST_KEY},
}

