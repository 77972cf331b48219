"""The caseload: the referral service's read model of its own cases, and the two views case workers use.

`CaseloadProjection` follows the referral service's own store and keeps one row per case. From it come the
panel agenda (cases awaiting a panel decision, and how long they have waited) and the prevention clock (open
cases whose 56-day prevention duty is due or overdue).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import AwareDatetime, BaseModel, Field

from shared.contracts.referral import (
    AgeReached,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    EligibilityDecided,
    LegalStatusChanged,
    PanelDecisionMade,
    PersonLinked,
    PersonUnlinked,
    ReferralMade,
)
from shared.contracts.vocabulary import Cohort, Level, PanelDecision, PriorityBand
from shared.projections import Projection, Recorded, event_types

SCHEMA = "referral"

MAX_WITHIN_DAYS = 56
"""The prevention duty runs 56 days: looking further ahead than that finds nothing new."""


class CaseloadProjection(Projection):
    """Keeps one row per case: its status, assessment, panel wait and prevention duty due date.

    Every update is guarded by the position of the last event applied to the row, so applying an event
    again, or an older one, changes nothing.
    """

    name = "caseload"
    follows = {"referral": event_types([ReferralMade, EligibilityDecided, AssessmentCompleted, PanelDecisionMade,
                                        CaseClosed, CaseReopened, PersonLinked, PersonUnlinked,
                                        LegalStatusChanged, AgeReached])}
    tables = [
        "CREATE TABLE IF NOT EXISTS caseload ("
        " case_id uuid PRIMARY KEY, person_ref uuid NOT NULL, district text NOT NULL, cohort text NOT NULL,"
        " status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),"
        " referred_at timestamptz NOT NULL, assessed_at timestamptz, priority_band text, support_level text,"
        " awaiting_panel_since timestamptz, last_panel_decision text, last_panel_date date,"
        " prevention_duty_due_on date,"
        " last_sequence bigint NOT NULL, last_position bigint NOT NULL, updated_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS caseload_awaiting_panel ON caseload"
        " (district, priority_band, awaiting_panel_since) WHERE awaiting_panel_since IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS caseload_prevention_clock ON caseload"
        " (district, prevention_duty_due_on) WHERE prevention_duty_due_on IS NOT NULL",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event, delivery = recorded.event, recorded
        if isinstance(event, ReferralMade):
            await self._open(conn, event, delivery)
        elif isinstance(event, EligibilityDecided):
            await self._update(conn, event, delivery, "prevention_duty_due_on = $5", event.prevention_duty_due_on)
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
            await self._update(conn, event, delivery,
                               "status = 'closed', awaiting_panel_since = NULL, prevention_duty_due_on = NULL")
        elif isinstance(event, CaseReopened):
            await self._update(conn, event, delivery, "status = 'open', cohort = $5, awaiting_panel_since = NULL",
                               event.cohort.value)
        elif isinstance(event, (LegalStatusChanged, AgeReached)):
            await self._update(conn, event, delivery, "cohort = $5", event.cohort.value)
        elif isinstance(event, (PersonLinked, PersonUnlinked)):
            await self._update(conn, event, delivery, "person_ref = $5", event.person_ref)

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


class ClockCase(BaseModel):
    """An open case whose prevention duty is due soon or overdue."""

    case_id: UUID
    person_ref: UUID = Field(description="The young person's pseudonym")
    district: str
    cohort: Cohort
    prevention_duty_due_on: date
    days_left: int = Field(description="Days from as_of to the due date; negative when overdue")
    overdue: bool


class PreventionClock(BaseModel):
    """Open cases whose 56-day prevention duty is past due or due within `within_days`, most urgent first."""

    as_of: date = Field(description="The day (UTC) days_left is counted from")
    within_days: int
    district: str | None
    cases: list[ClockCase]


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


async def prevention_clock(conn: asyncpg.Connection, today: date, within_days: int, district: str | None,
                           schema: str = SCHEMA) -> PreventionClock:
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.caseload WHERE status = 'open' AND prevention_duty_due_on <= $1"
        " AND ($2::text IS NULL OR district = $2) ORDER BY prevention_duty_due_on, case_id",
        today + timedelta(days=within_days), district)
    cases = []
    for row in rows:
        days_left = days_between(today, row["prevention_duty_due_on"])
        cases.append(ClockCase(
            case_id=row["case_id"], person_ref=row["person_ref"], district=row["district"], cohort=row["cohort"],
            prevention_duty_due_on=row["prevention_duty_due_on"], days_left=days_left, overdue=days_left < 0))
    return PreventionClock(as_of=today, within_days=within_days, district=district, cases=cases)


