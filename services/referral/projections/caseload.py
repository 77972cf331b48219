"""The caseload: the referral service's read model of its own cases, and the two views case workers use.

`CaseloadProjection` follows the referral service's own store and keeps one row per case. From it come the
panel agenda (cases awaiting a panel decision, and how long they have waited) and the duties clock (the
homelessness duty running on each open case, each by its own rule).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import AwareDatetime, BaseModel, Field

from services.referral.domain import PREVENTION_REVIEW_AFTER, RELIEF_PERIOD
from shared.contracts.referral import (
    AgeReached,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    DutyEnded,
    DutyStarted,
    LegalStatusChanged,
    PanelDecisionMade,
    PersonLinked,
    PersonUnlinked,
    ReferralMade,
)
from shared.contracts.vocabulary import Cohort, Duty, Level, PanelDecision, PriorityBand
from shared.projections import Projection, Recorded, event_types

SCHEMA = "referral"

RELIEF_DAYS = RELIEF_PERIOD.days
"""s189B: the relief duty ends after 56 days; a main duty decision is due on day 56 and overdue after it."""
PREVENTION_REVIEW_DAYS = PREVENTION_REVIEW_AFTER.days
"""s195: the prevention duty may continue past 56 days: from day 56 it is shown for review, never overdue."""


class CaseloadProjection(Projection):
    """Keeps one row per case: its status, assessment, panel wait and the homelessness duty running.

    Every update is guarded by the position of the last event applied to the row, so applying an event
    again, or an older one, changes nothing.
    """

    name = "caseload"
    follows = {"referral": event_types([ReferralMade, AssessmentCompleted, PanelDecisionMade, CaseClosed,
                                        CaseReopened, PersonLinked, PersonUnlinked, DutyStarted, DutyEnded,
                                        LegalStatusChanged, AgeReached])}
    version = 2  # 1 kept a prevention due date (decision + 56 days); 2 keeps the duty running and its start
    tables = [
        "CREATE TABLE IF NOT EXISTS caseload ("
        " case_id uuid PRIMARY KEY, person_ref uuid NOT NULL, district text NOT NULL, cohort text NOT NULL,"
        " status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),"
        " referred_at timestamptz NOT NULL, assessed_at timestamptz, priority_band text, support_level text,"
        " awaiting_panel_since timestamptz, last_panel_decision text, last_panel_date date,"
        " duty text, duty_started_at timestamptz,"
        " last_sequence bigint NOT NULL, last_position bigint NOT NULL, updated_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS caseload_awaiting_panel ON caseload"
        " (district, priority_band, awaiting_panel_since) WHERE awaiting_panel_since IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS caseload_duties_clock ON caseload"
        " (district, duty, duty_started_at) WHERE duty IS NOT NULL",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event, delivery = recorded.event, recorded
        if isinstance(event, ReferralMade):
            await self._open(conn, event, delivery)
        elif isinstance(event, AssessmentCompleted):
            await self._update(
                conn, event, delivery,
                "assessed_at = $5, priority_band = $6, support_level = $7,"
                " awaiting_panel_since = coalesce(awaiting_panel_since, $5)",
                event.occurred_at, event.priority_band.value, event.support_level.value)
        elif isinstance(event, PanelDecisionMade):
            # A deferral keeps the case on the agenda, still waiting since it first became ready.
            await self._update(
                conn, event, delivery,
                "last_panel_decision = $5, last_panel_date = $6, awaiting_panel_since ="
                " CASE WHEN $7::boolean THEN coalesce(awaiting_panel_since, $8::timestamptz) END",
                event.decision.value, event.panel_date, event.decision is PanelDecision.defer, event.occurred_at)
        elif isinstance(event, CaseClosed):
            await self._update(conn, event, delivery, "status = 'closed', awaiting_panel_since = NULL")
        elif isinstance(event, CaseReopened):
            await self._update(conn, event, delivery, "status = 'open', cohort = $5, awaiting_panel_since = NULL",
                               event.cohort.value)
        elif isinstance(event, (LegalStatusChanged, AgeReached)):
            await self._update(conn, event, delivery, "cohort = $5", event.cohort.value)
        elif isinstance(event, (PersonLinked, PersonUnlinked)):
            await self._update(conn, event, delivery, "person_ref = $5", event.person_ref)
        elif isinstance(event, DutyStarted):
            await self._update(conn, event, delivery, "duty = $5, duty_started_at = $6", event.duty.value,
                               event.occurred_at)
        elif isinstance(event, DutyEnded):
            await self._update(conn, event, delivery, "duty = NULL, duty_started_at = NULL")

    async def _open(self, conn: asyncpg.Connection, event: ReferralMade, delivery: Recorded) -> None:
        await conn.execute(
            "INSERT INTO caseload (case_id, person_ref, district, cohort, referred_at,"
            " last_sequence, last_position, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (case_id) DO NOTHING",
            event.case_id, event.person_ref, event.district, event.cohort.value, event.occurred_at,
            delivery.sequence, delivery.source_position, event.recorded_at)

    async def _update(self, conn: asyncpg.Connection, event: Any, delivery: Recorded, assignments: str,
                      *values) -> None:
        await conn.execute(
            f"UPDATE caseload SET {assignments}, last_sequence = $2,"
            " last_position = greatest(last_position, $3), updated_at = $4"
            " WHERE case_id = $1 AND last_sequence < $2",
            event.case_id, delivery.sequence, delivery.source_position, event.recorded_at, *values)


def days_between(earlier: date, later: date) -> int:
    return (later - earlier).days


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class AgendaCase(BaseModel):
    """A case awaiting a panel decision."""

    case_id: UUID
    person_ref: UUID = Field(description="The young person's pseudonym")
    district: str
    cohort: Cohort
    priority_band: PriorityBand | None
    support_level: Level | None
    awaiting_panel_since: AwareDatetime = Field(
        description="When the case became ready for a panel: its assessment, or a deferral if it was not waiting")
    days_waiting: int = Field(description="Whole days from awaiting_panel_since (UTC date) to as_of")
    assessed_at: AwareDatetime | None
    last_panel_decision: PanelDecision | None = Field(description="`defer` when a panel has already seen it")
    last_panel_date: date | None


class EmergencyPlacementToReport(BaseModel):
    """A placement made before any panel allocated a service, not yet seen by a panel."""

    case_id: UUID
    placement_id: UUID
    district: str
    provision_type: str
    started_at: AwareDatetime
    days_since: int


class PanelAgenda(BaseModel):
    """Cases awaiting a panel decision: priority band A first, then the longest wait; and the emergency
    placements made since each case's last panel, which the next panel is told of."""

    as_of: date = Field(description="The day (UTC) the waits are counted to")
    district: str | None
    cases: list[AgendaCase]
    emergency_placements_to_report: list[EmergencyPlacementToReport]


DutyState = Literal["running", "review", "due", "overdue"]


class RunningDuty(BaseModel):
    """The homelessness duty running on an open case, by its own rule: prevention is `review` from day 56 (it may
    continue; never overdue); relief is `due` on day 56, when a main duty decision is due, and `overdue` after;
    a main duty is `running`."""

    case_id: UUID
    person_ref: UUID = Field(description="The young person's pseudonym")
    district: str
    cohort: Cohort
    duty: Duty
    started_at: AwareDatetime
    days_running: int = Field(description="Whole days from started_at (UTC date) to as_of")
    state: DutyState
    overdue: bool = Field(description="Only a relief duty past its 56 days is ever overdue")
    main_duty_decision_due_on: date | None = Field(description="Relief only: 56 days after it started")
    days_left: int | None = Field(description="Relief only: days from as_of to main_duty_decision_due_on; "
                                              "negative when overdue")


class DutiesClock(BaseModel):
    """Open cases with a homelessness duty running: relief first (the most overdue first), then prevention
    (the longest running first), then main duties."""

    as_of: date = Field(description="The day (UTC) days are counted to")
    district: str | None
    duty: Duty | None
    cases: list[RunningDuty]


async def panel_agenda(conn: asyncpg.Connection, today: date, district: str | None,
                       schema: str = SCHEMA) -> PanelAgenda:
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.caseload WHERE status = 'open' AND awaiting_panel_since IS NOT NULL"
        " AND ($1::text IS NULL OR district = $1)"
        " ORDER BY priority_band NULLS LAST, awaiting_panel_since, case_id", district)
    return PanelAgenda(as_of=today, district=district, cases=[
        AgendaCase(
            case_id=row["case_id"], person_ref=row["person_ref"], district=row["district"], cohort=row["cohort"],
            priority_band=row["priority_band"], support_level=row["support_level"],
            awaiting_panel_since=row["awaiting_panel_since"],
            days_waiting=days_between(utc_day(row["awaiting_panel_since"]), today),
            assessed_at=row["assessed_at"], last_panel_decision=row["last_panel_decision"],
            last_panel_date=row["last_panel_date"])
        for row in rows], emergency_placements_to_report=[
        EmergencyPlacementToReport(**dict(row), days_since=days_between(utc_day(row["started_at"]), today))
        for row in await conn.fetch(
            f"SELECT e.case_id, e.placement_id, e.district, e.provision_type, e.started_at"
            f" FROM {schema}.emergency_placements e JOIN {schema}.caseload c USING (case_id)"
            " WHERE c.status = 'open' AND (c.last_panel_date IS NULL OR c.last_panel_date < e.started_at::date)"
            " AND ($1::text IS NULL OR e.district = $1) ORDER BY e.started_at, e.placement_id", district)])


def duty_state(duty: Duty, days_running: int) -> DutyState:
    if duty is Duty.relief:
        return "overdue" if days_running > RELIEF_DAYS else "due" if days_running == RELIEF_DAYS else "running"
    if duty is Duty.prevention and days_running >= PREVENTION_REVIEW_DAYS:
        return "review"
    return "running"


async def duties_clock(conn: asyncpg.Connection, today: date, district: str | None, duty: Duty | None = None,
                       schema: str = SCHEMA) -> DutiesClock:
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.caseload WHERE status = 'open' AND duty IS NOT NULL"
        " AND ($1::text IS NULL OR district = $1) AND ($2::text IS NULL OR duty = $2)"
        " ORDER BY CASE duty WHEN 'relief' THEN 0 WHEN 'prevention' THEN 1 ELSE 2 END, duty_started_at, case_id",
        district, duty.value if duty else None)
    cases = []
    for row in rows:
        running, started_on = Duty(row["duty"]), utc_day(row["duty_started_at"])
        days_running = days_between(started_on, today)
        due_on = date.fromordinal(started_on.toordinal() + RELIEF_DAYS) if running is Duty.relief else None
        state = duty_state(running, days_running)
        cases.append(RunningDuty(
            case_id=row["case_id"], person_ref=row["person_ref"], district=row["district"], cohort=row["cohort"],
            duty=running, started_at=row["duty_started_at"], days_running=days_running, state=state,
            overdue=state == "overdue", main_duty_decision_due_on=due_on,
            days_left=days_between(today, due_on) if due_on else None))
    return DutiesClock(as_of=today, district=district, duty=duty, cases=cases)
