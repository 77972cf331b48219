"""The caseload routes case workers use: the panel agenda and the duties clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.referral.api.deps import DutiesClockReader, PanelAgendaReader
from services.referral.projections.caseload import (
    DutiesClock,
    PanelAgenda,
    duties_clock,
    panel_agenda,
)
from shared.contracts.vocabulary import Duty
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


@router.get("/duties-clock")
async def get_duties_clock(
    runtime: Runtime,
    today: Today,
    district: District,
    caller: DutiesClockReader,
    duty: Annotated[Duty | None, Query(description="Only duties of this kind")] = None,
    after: After = None,
) -> DutiesClock:
    """The homelessness duty running on each open case, by its own rule: a prevention duty past 56 days is due a
    review (it may continue), never overdue; a relief duty is due on day 56, when a main duty decision is due,
    and overdue after; a main duty shows how long it has run. A district officer sees their own district's only."""
    district = caller.district_filter(district)
    await runtime.wait_for_positions(after or [], "caseload")
    async with runtime.pool.acquire() as conn:
        return await duties_clock(conn, today, district, duty)
