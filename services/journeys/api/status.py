"""Counts by the status on the day: open cases by cohort, legal status and age band on a given day, and B&B nights
by the young person's age on the night (aggregates only: analysts and commissioners read them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from services.journeys.projections.status_periods import (
    BedAndBreakfastByAge,
    CountsByStatus,
    bed_and_breakfast_by_age,
    counts_by_status,
)
from shared.auth import Role, requires
from shared.contracts.envelope import Day
from shared.service import After
from shared.web import District, Runtime, Today

router = APIRouter(tags=["counts by status"])

StatusCountsReader = requires(Role.analyst, Role.commissioner, Role.childrens_services, Role.district_officer,
                              Role.admin)
"""Reads counts by status on a day (a district officer: their own district's)."""
LONGEST_NIGHTS_RANGE_DAYS = 366 * 3


@router.get("/counts-by-status")
async def get_counts_by_status(runtime: Runtime, caller: StatusCountsReader, today: Today, district: District,
                               on: Annotated[Day | None, Query(description="The day (UTC); today if none")] = None,
                               after: After = None) -> CountsByStatus:
    """Open cases per district by the cohort, legal status and age band (16-17, 18+) each had on the day `on`."""
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [], "status_periods")
    async with runtime.pool.acquire() as conn:
        return await counts_by_status(conn, on or today, district)


@router.get("/bed-and-breakfast-nights-by-age")
async def get_bed_and_breakfast_nights_by_age(
    runtime: Runtime, caller: StatusCountsReader, district: District,
    start: Annotated[Day, Query(description="The first night counted")],
    end: Annotated[Day, Query(description="The last night counted")],
    after: After = None,
) -> BedAndBreakfastByAge:
    """B&B nights per district from `start` to `end`, by the young person's age band on each night."""
    if end < start or (end - start).days > LONGEST_NIGHTS_RANGE_DAYS:
        raise HTTPException(422, [{"loc": ["query", "end"], "type": "range_not_allowed",
                                   "msg": f"end is on or after start, at most {LONGEST_NIGHTS_RANGE_DAYS} days on"}])
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [], "status_periods")
    async with runtime.pool.acquire() as conn:
        return await bed_and_breakfast_by_age(conn, start, end, district)
