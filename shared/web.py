"""What every service's HTTP routes take: the running service, who is asking, today, a district filter.

Routes declare these as parameters (`runtime: Runtime`, `context: Context`, ...); FastAPI fills them in.
Who is asking comes from the bearer token only (`shared.auth`): an `X-Actor` header, if sent, is ignored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, HTTPException, Query, Request

from shared.auth import Principal, principal_of
from shared.contracts import EventContext
from shared.contracts.vocabulary import UnknownDistrict, known_district
from shared.service import ServiceRuntime


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def context_of(
    principal: Annotated[Principal, Depends(principal_of)],
    x_correlation_id: Annotated[UUID | None, Header()] = None,
) -> EventContext:
    """Who asked (the token's subject, never a header the caller sets), stamped on every event the request
    records."""
    return EventContext(actor=principal.subject,
                        **({"correlation_id": x_correlation_id} if x_correlation_id else {}))


def today_utc() -> date:
    """Today in UTC (tests override this dependency to fix the day)."""
    return datetime.now(UTC).date()


def district_filter(
    district: Annotated[str | None, Query(description="Only this district, e.g. preston")] = None,
) -> str | None:
    """An optional `?district=`: a known district code, or a 422 naming it."""
    if not district:
        return None
    try:
        return known_district(district)
    except UnknownDistrict as error:
        raise HTTPException(422, [{"loc": ["query", "district"], "msg": str(error),
                                   "type": type(error).__name__}]) from None


Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
Context = Annotated[EventContext, Depends(context_of)]
Today = Annotated[date, Depends(today_utc)]
District = Annotated[str | None, Depends(district_filter)]


def store_unavailable() -> HTTPException:
    """The event store timed out or is unreachable (e.g. its table lock was held too long): nothing was saved."""
    return HTTPException(503, "the store is busy or unavailable; nothing was saved: retry shortly",
                         headers={"Retry-After": "1"})
