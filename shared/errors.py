"""The kinds of domain error every service raises, and the one place they become HTTP answers.

A domain error derives from one kind; `map_domain_errors` registers one exception handler per kind on a
service's app, so no route maps errors itself:

| kind | status | meaning |
|---|---|---|
| `Refused` | 422 | the request breaks a rule of the domain whatever the state (a date in the future, ...) |
| `Conflict` | 409 | the request cannot apply to things as they stand now (the case is closed, the scheme is full) |
| `NotFound` | 404 | what the request names does not exist |
| `Gone` | 410 | it existed and was erased |

Kinds are pure (no web import here but in `map_domain_errors`), so `domain/` packages may derive from them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain said no; `field` names the input that was wrong, where there is one."""

    status: int = 400

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message or (type(self).__doc__ or type(self).__name__).strip())
        self.field = field

    def reasons(self) -> list[dict[str, Any]]:
        """The body's reasons, in the same shape as FastAPI's validation errors."""
        reason: dict[str, Any] = {"msg": str(self), "type": type(self).__name__}
        if self.field:
            reason["loc"] = ["body", *self.field.split(".")]
        return [reason]


class Refused(DomainError, ValueError):
    """The request breaks a rule whatever the state of things (422)."""

    status = 422


class Conflict(DomainError):
    """The request cannot apply to things as they stand (409)."""

    status = 409


class NotFound(DomainError, LookupError):
    """What the request names does not exist (404)."""

    status = 404


class Gone(DomainError):
    """What the request names existed and was erased (410)."""

    status = 410


class StoreUnavailable(Exception):
    """The event store is busy or unreachable; nothing was saved (503, retry)."""


UNAVAILABLE_DETAIL = "the store is busy or unavailable; nothing was saved: retry shortly"

RULES_SHOWN = frozenset({"pattern", "min_length", "max_length", "ge", "gt", "le", "lt", "multiple_of", "expected",
                         "max_digits", "decimal_places", "whole_digits", "allowed_schemes"})
"""The parts of a validation error's context that state the rule broken; the rest (`error`, the exception a
validator raised; anything else) may repeat the value sent, and is left out."""


def without_values(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Validation errors as a 422 body (or a log line) may show them: where, what kind, the message and the rule
    broken; never the value sent (`input`), which may be a young person's name, nor context that repeats it."""
    from fastapi.encoders import jsonable_encoder

    shown = []
    for error in errors:
        reason: dict[str, Any] = {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")),
                                  "type": str(error.get("type", ""))}
        rules = {key: value for key, value in (error.get("ctx") or {}).items() if key in RULES_SHOWN}
        if rules:
            reason["ctx"] = jsonable_encoder(rules)
        shown.append(reason)
    return shown


def map_domain_errors(app: Any) -> None:
    """Register the one set of exception handlers that turns domain errors into HTTP answers, and a database
    or server out of reach into a 503 with Retry-After (never a 500: the client should simply try again)."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        return JSONResponse({"detail": error.reasons()}, status_code=error.status)

    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": without_values(error.errors())}, status_code=422)

    async def server_error(request: Request, error: Exception) -> JSONResponse:
        # Only the error's kind and where it was raised: its text (a pydantic ValidationError's, a driver's)
        # may quote the request's values. The server logs the traceback too, through shared.logs, which
        # leaves every exception's text out for the same reason.
        frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        where = f"{frame[0].filename}:{frame[0].lineno}" if frame else "-"
        log.error("%s %s answered 500: %s at %s", request.method, request.url.path, type(error).__name__, where)
        return JSONResponse({"detail": f"casetrack failed to answer ({type(error).__name__}); nothing is known to "
                                       "have been saved: report it with the time"}, status_code=500)

    async def store_unavailable(request: Request, error: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error) or UNAVAILABLE_DETAIL}, status_code=503,
                            headers={"Retry-After": "1"})

    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        # Only the error's kind (and PostgreSQL's code): a driver's text may quote a statement's values.
        cause = error.__cause__ or error.__context__
        log.warning("%s %s answered 503: %s (%s, sqlstate %s)", request.method, request.url.path,
                    type(error).__name__, type(cause).__name__ if cause else "-",
                    getattr(cause, "sqlstate", None) or getattr(error, "sqlstate", None))
        return JSONResponse({"detail": f"{UNAVAILABLE_DETAIL} ({type(error).__name__})"}, status_code=503,
                            headers={"Retry-After": "1"})

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, server_error)
    app.add_exception_handler(StoreUnavailable, store_unavailable)
    # The store's lock timeout, a lost connection, a pool that found no connection in time, a server that
    # refused or did not answer (PostgreSQL through eventsourcing, psycopg or asyncpg; NATS): nothing was done.
    import asyncpg
    import psycopg
    from eventsourcing.persistence import InterfaceError, OperationalError

    for kind in (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
                 asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                 asyncpg.exceptions.InsufficientResourcesError, asyncpg.exceptions.LockNotAvailableError,
                 asyncpg.exceptions.InternalClientError,  # asyncpg's state broken by a connection lost mid-query
                 OSError):  # OSError: a refused connection, a timeout (TimeoutError is one)
        app.add_exception_handler(kind, unavailable)
