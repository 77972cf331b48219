"""The caseload routes case workers use: the panel agenda and the prevention clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.referral.api.deps import PanelAgendaReader, PreventionClockReader
from services.referral.projections.caseload import (
    MAX_WITHIN_DAYS,
    PanelAgenda,
    PreventionClock,
    panel_agenda,
    prevention_clock,
)
from shared.service import After
from shared.web import District, Runtime, Today, today_utc  # noqa: F401 - today_utc: tests override it

router = APIRouter(tags=["caseload"])



@router.get("/panel-agenda")
async def get_panel_agenda(runtime: Runtime, today: Today, district: District, caller: PanelAgendaReader,
                           after: After = None) -> PanelAgenda:
    """Cases awaiting a panel decision, with how long each has waited: priority band first, then longest wait.
    A district officer sees their own district's only."""
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [], "caseload", "emergency_placements")
    async with runtime.pool.acquire() as conn:
        return await panel_agenda(conn, today, district)


@router.get("/prevention-clock")
async def get_prevention_clock(
    runtime: Runtime,
    today: Today,
    district: District,
    caller: PreventionClockReader,
    within_days: Annotated[int, Query(ge=0, le=MAX_WITHIN_DAYS,
                                      description="Also list duties due within this many days")] = 14,
    after: After = None,
) -> PreventionClock:
    """Open cases whose prevention duty is overdue or due within `within_days`, most urgent first. A district
    officer sees their own district's only."""
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [], "caseload")
    async with runtime.pool.acquire() as conn:
        return await prevention_clock(conn, today, within_days, district)
