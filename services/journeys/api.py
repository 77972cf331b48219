"""The journeys HTTP API: analysts' and auditors' reads."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request

from shared.service import ServiceRuntime
from services.journeys.projections import journey_of

router = APIRouter(tags=["journeys"])

POSITION = re.compile(r"^(?P<service>[a-z]+):(?P<position>\d+)$")


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


@router.get("/journeys/{case_id}")
async def get_journey(
    case_id: UUID,
    request: Request,
    after: Annotated[list[str] | None, Query(
        description="Positions returned by writes (e.g. referral:12): the read waits until they are projected")] = None,
) -> dict:
    """A case's journey: the case and every step so far, in the order they happened."""
    runtime = runtime_of(request)
    await wait_for_positions(runtime, after or [])
    async with runtime.pool.acquire() as conn:
        journey = await journey_of(conn, case_id)
    if journey is None:
        raise HTTPException(404, f"no journey for case {case_id}")
    return journey


async def wait_for_positions(runtime: ServiceRuntime, positions: list[str]) -> None:
    for token in positions:
        match = POSITION.match(token)
        if not match or match["service"] not in runtime.consumers:
            raise HTTPException(422, [{
                "loc": ["query", "after"], "msg": f"{token!r} is not a position this service follows",
                "type": "unknown_position", "follows": sorted(runtime.consumers)}])
        consumer = runtime.consumers[match["service"]]
        if not await consumer.wait_for(int(match["position"]), runtime.settings.read_wait_seconds):
            raise HTTPException(
                503, f"the journey projection has not reached {token} within "
                     f"{runtime.settings.read_wait_seconds:.0f}s; try again",
                headers={"Retry-After": "1"})
