"""The caseload projection on real PostgreSQL: the panel agenda and the duties clock it gives."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.referral.projections.caseload import (
    CaseloadProjection,
    DutiesClock,
    PanelAgenda,
    duties_clock,
    panel_agenda,
)
from services.referral.projections.emergency_placements import EmergencyPlacementsProjection
from shared.contracts import Event
from shared.contracts.referral import (
    MediationAttempted,
    MediationConcluded,
    PersonLinked,
    ReferralEvent,
)
from shared.contracts.vocabulary import (
    Duty,
    DutyEndReason,
    Level,
    LinkBasis,
    MediationOutcome,
    PanelDecision,
    PriorityBand,
)
from shared.projections import Recorded, prepare_projection
from tests.integration.case_events import TODAY, ACase, days_ago, on  # noqa: F401 - on: used by tests


class SomethingNew(ReferralEvent):
    """Stands in for an event type added to the contract after the caseload was written."""

    event_type: Literal["SomethingNew"] = "SomethingNew"
    linked_person_ref: UUID


class Caseload:
    """The projection in a schema of its own, fed as the consumer would: one transaction per event."""

    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.pool = pool
        self.schema = schema
        self.projection = CaseloadProjection()
        self.sequence = 0

    async def apply(self, *events: Event) -> None:
        for event in events:
            self.sequence += 1
            await self.reapply(event, self.sequence)

    async def reapply(self, event: Event, sequence: int) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            await self.projection.apply(conn, [Recorded(event, "CASETRACK_REFERRAL", sequence, sequence)])

    async def agenda(self, today: date = TODAY, district: str | None = None) -> PanelAgenda:
        async with self.pool.acquire() as conn:
            return await panel_agenda(conn, today, district, self.schema)

    async def agenda_ids(self, **query) -> list[UUID]:
        return [entry.case_id for entry in (await self.agenda(**query)).cases]

    async def clock(self, today: date = TODAY, district: str | None = None, duty: Duty | None = None) -> DutiesClock:
        async with self.pool.acquire() as conn:
            return await duties_clock(conn, today, district, duty, self.schema)

    async def clock_ids(self, **query) -> list[UUID]:
        return [entry.case_id for entry in (await self.clock(**query)).cases]

    async def row(self, case_id: UUID) -> dict:
        async with self.pool.acquire() as conn:
            return dict(await conn.fetchrow(f"SELECT * FROM {self.schema}.caseload WHERE case_id = $1", case_id))


@pytest.fixture
async def caseload(pool: asyncpg.Pool, schema: str) -> Caseload:
    async with pool.acquire() as conn:
        for projection in (CaseloadProjection(), EmergencyPlacementsProjection()):
            await prepare_projection(conn, schema, projection)
            await prepare_projection(conn, schema, projection)  # a restarted service prepares it again
    return Caseload(pool, schema)


async def test_an_assessed_case_is_on_the_panel_agenda_with_how_long_it_has_waited(caseload):
    case = ACase(district="burnley")
    await caseload.apply(case.referred(), case.assessed(days_ago(12, hour=9), PriorityBand.b, Level.medium))

    agenda = await caseload.agenda()

    [entry] = agenda.cases
    assert agenda.as_of == TODAY
    assert (entry.case_id, entry.person_ref, entry.district) == (case.case_id, case.person_ref, "burnley")
    assert entry.awaiting_panel_since == days_ago(12, hour=9)
    assert entry.days_waiting == 12
    assert (entry.priority_band, entry.support_level) == (PriorityBand.b, Level.medium)
    assert entry.last_panel_decision is None and entry.last_panel_date is None


async def test_a_case_not_yet_assessed_is_not_on_the_panel_agenda(caseload):
    case = ACase()
    await caseload.apply(case.referred(), case.eligible(days_ago(80)))

    assert await caseload.agenda_ids() == []


@pytest.mark.parametrize("decision", [PanelDecision.allocate_service, PanelDecision.refer_elsewhere,
                                      PanelDecision.return_home_with_support])
async def test_a_panel_decision_takes_the_case_off_the_agenda(caseload, decision):
    case = ACase()
    await caseload.apply(case.referred(), case.assessed(days_ago(12)), case.decided(days_ago(5), decision))

    assert await caseload.agenda_ids() == []
    assert (await caseload.row(case.case_id))["last_panel_decision"] == decision.value


async def test_a_deferred_case_stays_on_the_agenda_still_waiting_since_its_assessment(caseload):
    case = ACase()
    await caseload.apply(case.referred(), case.assessed(days_ago(20)),
                         case.decided(days_ago(6), PanelDecision.defer))

    [entry] = (await caseload.agenda()).cases
    assert entry.awaiting_panel_since == days_ago(20) and entry.days_waiting == 20
    assert entry.last_panel_decision is PanelDecision.defer and entry.last_panel_date == days_ago(6).date()


async def test_a_deferral_or_a_new_assessment_after_a_decision_puts_the_case_back_on_the_agenda(caseload):
    deferred, reassessed = ACase(), ACase()
    await caseload.apply(
        deferred.referred(), deferred.assessed(days_ago(30)),
        deferred.decided(days_ago(20), PanelDecision.allocate_service),
        deferred.decided(days_ago(8), PanelDecision.defer),
        reassessed.referred(), reassessed.assessed(days_ago(30)),
        reassessed.decided(days_ago(20), PanelDecision.return_home_with_support),
        reassessed.assessed(days_ago(4)))

    agenda = {entry.case_id: entry for entry in (await caseload.agenda()).cases}
    assert agenda[deferred.case_id].awaiting_panel_since == days_ago(8)
    assert agenda[reassessed.case_id].awaiting_panel_since == days_ago(4)


async def test_a_second_assessment_before_the_panel_keeps_the_first_wait_and_the_new_band(caseload):
    case = ACase()
    await caseload.apply(case.referred(), case.assessed(days_ago(15), PriorityBand.c),
                         case.assessed(days_ago(3), PriorityBand.a))

    [entry] = (await caseload.agenda()).cases
    assert entry.awaiting_panel_since == days_ago(15) and entry.priority_band is PriorityBand.a


async def test_closure_takes_a_case_off_the_agenda_and_a_reopening_does_not_put_it_back(caseload):
    case = ACase()
    await caseload.apply(case.referred(), case.assessed(days_ago(12)), case.closed(days_ago(10)))
    assert await caseload.agenda_ids() == []
    assert (await caseload.row(case.case_id))["status"] == "closed"

    await caseload.apply(case.reopened(days_ago(2)))
    assert await caseload.agenda_ids() == []
    assert (await caseload.row(case.case_id))["status"] == "open"

    await caseload.apply(case.assessed(days_ago(1)))
    assert await caseload.agenda_ids() == [case.case_id]


async def test_the_agenda_puts_priority_band_first_then_the_longest_wait(caseload):
    band_b_long, band_a_short, band_a_long, band_d = ACase(), ACase(), ACase(), ACase()
    await caseload.apply(
        band_b_long.referred(), band_b_long.assessed(days_ago(40), PriorityBand.b),
        band_a_short.referred(), band_a_short.assessed(days_ago(2), PriorityBand.a),
        band_d.referred(), band_d.assessed(days_ago(60), PriorityBand.d),
        band_a_long.referred(), band_a_long.assessed(days_ago(9), PriorityBand.a))

    assert await caseload.agenda_ids() == [band_a_long.case_id, band_a_short.case_id, band_b_long.case_id,
                                           band_d.case_id]


async def test_the_agenda_can_be_confined_to_one_district(caseload):
    preston, wyre = ACase(district="preston"), ACase(district="wyre")
    await caseload.apply(preston.referred(), preston.assessed(days_ago(3)),
                         wyre.referred(), wyre.assessed(days_ago(3)))

    assert await caseload.agenda_ids(district="wyre") == [wyre.case_id]
    assert set(await caseload.agenda_ids()) == {preston.case_id, wyre.case_id}


async def test_days_waiting_are_whole_utc_days_from_the_day_the_wait_began(caseload):
    case = ACase()
    late_evening = on(TODAY - timedelta(days=1), hour=23)
    await caseload.apply(case.referred(), case.assessed(late_evening))

    assert [e.days_waiting for e in (await caseload.agenda(today=TODAY - timedelta(days=1))).cases] == [0]
    assert [e.days_waiting for e in (await caseload.agenda(today=TODAY)).cases] == [1]
    assert [e.days_waiting for e in (await caseload.agenda(today=TODAY + timedelta(days=30))).cases] == [31]


async def test_the_three_duties_on_the_clock_each_by_its_own_rule(caseload):
    prevention, relief_overdue, relief_due, relief_running, main = ACase(), ACase(), ACase(), ACase(), ACase()
    await caseload.apply(
        prevention.referred(), prevention.eligible(days_ago(80)),
        prevention.duty_started(days_ago(70), Duty.prevention),
        relief_due.referred(), relief_due.duty_started(days_ago(56), Duty.relief),
        relief_overdue.referred(), relief_overdue.duty_started(days_ago(60), Duty.prevention),
        relief_overdue.duty_ended(days_ago(59), Duty.prevention, DutyEndReason.became_homeless),
        relief_overdue.duty_started(days_ago(59), Duty.relief),
        relief_running.referred(), relief_running.duty_started(days_ago(10), Duty.relief),
        main.referred(), main.duty_started(days_ago(89), Duty.relief),
        main.duty_ended(days_ago(30), Duty.relief, DutyEndReason.relief_period_ended),
        main.duty_started(days_ago(20), Duty.main))

    clock = await caseload.clock()

    assert [(e.case_id, e.duty, e.days_running, e.state, e.overdue, e.days_left) for e in clock.cases] == [
        (relief_overdue.case_id, Duty.relief, 59, "overdue", True, -3),
        (relief_due.case_id, Duty.relief, 56, "due", False, 0),
        (relief_running.case_id, Duty.relief, 10, "running", False, 46),
        (prevention.case_id, Duty.prevention, 70, "review", False, None),
        (main.case_id, Duty.main, 20, "running", False, None)]
    assert clock.cases[0].main_duty_decision_due_on == TODAY - timedelta(days=3)
    assert clock.cases[0].started_at == days_ago(59)
    assert await caseload.clock_ids(duty=Duty.main) == [main.case_id]


async def test_an_ended_duty_leaves_the_clock_and_a_closed_case_is_never_on_it(caseload):
    ended, closed = ACase(), ACase()
    await caseload.apply(
        ended.referred(), ended.duty_started(days_ago(30), Duty.prevention),
        ended.duty_ended(days_ago(2), Duty.prevention, DutyEndReason.accommodation_secured),
        closed.referred(), closed.duty_started(days_ago(30), Duty.prevention), closed.closed(days_ago(1)))

    assert await caseload.clock_ids() == []
    assert (await caseload.row(ended.case_id))["duty"] is None


async def test_the_duties_clock_can_be_confined_to_one_district(caseload):
    dover, thanet = ACase(district="dover"), ACase(district="thanet")
    await caseload.apply(dover.referred(), dover.duty_started(days_ago(50), Duty.relief),
                         thanet.referred(), thanet.duty_started(days_ago(50), Duty.relief))

    assert await caseload.clock_ids(district="thanet") == [thanet.case_id]


async def test_event_types_the_caseload_has_no_use_for_are_ignored(caseload):
    case = ACase()
    await caseload.apply(case.referred(), case.assessed(days_ago(7)))
    before = await caseload.row(case.case_id)

    await caseload.apply(
        case._event(MediationAttempted, days_ago(6), attempt=1),
        case._event(MediationConcluded, days_ago(5), attempt=1, outcome=MediationOutcome.not_possible),
        case._event(SomethingNew, days_ago(4), linked_person_ref=uuid4()))

    assert await caseload.row(case.case_id) == before


async def test_a_case_linked_to_a_person_already_known_carries_their_person_ref(caseload):
    case = ACase()
    referred, own, known = case.referred(), case.person_ref, uuid4()
    case.person_ref = known
    await caseload.apply(referred, case._event(PersonLinked, days_ago(4), previous_person_ref=own,
                                               basis=LinkBasis.matching_details))

    assert (await caseload.row(case.case_id))["person_ref"] == known


async def test_applying_an_event_again_or_an_older_one_changes_nothing(caseload):
    case = ACase()
    referred, assessed, decided = case.referred(), case.assessed(days_ago(12)), case.decided(
        days_ago(2), PanelDecision.allocate_service)
    await caseload.apply(referred, assessed, decided)
    after_decision = await caseload.row(case.case_id)

    for event, sequence in ((assessed, 2), (referred, 1), (decided, 3)):
        await caseload.reapply(event, sequence)

        assert await caseload.row(case.case_id) == after_decision, event.event_type
        assert await caseload.agenda_ids() == []


async def test_each_row_records_the_position_of_the_last_event_applied(caseload):
    case = ACase()
    await caseload.apply(case.referred(), case.eligible(days_ago(30)), case.assessed(days_ago(20)))

    row = await caseload.row(case.case_id)
    assert (row["last_sequence"], row["last_position"]) == (3, 3)
    assert row["assessed_at"] == days_ago(20) and row["cohort"] == "care_leaver"


async def test_the_caseload_keeps_the_cohort_a_status_change_gave_the_case(caseload):
    from shared.contracts.referral import LegalStatusChanged
    from shared.contracts.vocabulary import Cohort, LegalStatus, StatusChangeReason

    case = ACase()
    await caseload.apply(case.referred(), case._event(
        LegalStatusChanged, days_ago(3), legal_status=LegalStatus.qualifying,
        previous_legal_status=LegalStatus.former_relevant, cohort=Cohort.care_leaver,
        reason=StatusChangeReason.corrected, age_at_event=19))
    await caseload.apply(case._event(LegalStatusChanged, days_ago(2), legal_status=LegalStatus.not_looked_after,
                                     previous_legal_status=LegalStatus.qualifying, cohort=Cohort.young_person_at_risk,
                                     reason=StatusChangeReason.corrected, age_at_event=19))

    assert (await caseload.row(case.case_id))["cohort"] == "young_person_at_risk"
