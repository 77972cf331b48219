"""What the placement service knows of young people's cases: projected from the referral service's events.

`KnownCasesProjection` follows the referral service's stream and keeps one row per case in the placement
schema: who (`person_ref`), where (`district`), the cohort and legal status over time (and whether the young person
is under 18), open or closed, and the latest panel decision. The
placement store reads it through a `CaseDirectory` before starting a placement; analysts read the cases
allocated a service that are still awaiting a placement (see placements.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from services.placement.domain import DatedStatus, KnownCase
from shared.contracts.referral import (
    AgeReached,
    AssessmentCompleted,
    CaseClosed,
    CaseReopened,
    LegalStatusChanged,
    PanelDecisionMade,
    PersonLinked,
    PersonUnlinked,
    ReferralMade,
)
from shared.contracts.vocabulary import Cohort, LegalStatus, PanelDecision
from shared.projections import Projection, Recorded, event_types

SCHEMA = "placement"


class KnownCasesProjection(Projection):
    """Keeps one row per case from the referral service's events.

    Every update is guarded by the stream sequence of the last event applied to the row, so applying an
    event again, or an older one, changes nothing."""

    name = "known_cases"
    version = 2
    """2: legal status and age over time (issue 11)."""
    follows = {"referral": event_types([ReferralMade, AssessmentCompleted, PanelDecisionMade, CaseClosed,
                                        CaseReopened, PersonLinked, PersonUnlinked, LegalStatusChanged,
                                        AgeReached])}
    tables = [
        "CREATE TABLE IF NOT EXISTS known_cases ("
        " case_id uuid PRIMARY KEY, person_ref uuid NOT NULL, district text NOT NULL, cohort text NOT NULL,"
        " status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),"
        " referred_at timestamptz NOT NULL, support_level text, priority_band text,"
        " last_panel_decision text, last_panel_date date, allocated_at timestamptz,"
        " last_sequence bigint NOT NULL, updated_at timestamptz NOT NULL,"
        # Every person_ref the case has carried (links and unlinks change it): a young person's placements
        # are filed under the ref they had when each started.
        " person_refs uuid[] NOT NULL DEFAULT '{}', reopened_at timestamptz,"
        # Issue 11: the legal status now, whether under 18 at the last age fact, when first known to be 18+,
        # and the statuses over time ([{"since", "legal_status", "cohort"}...], in the order recorded).
        " legal_status text, under_18 boolean NOT NULL DEFAULT false, adult_from timestamptz,"
        " statuses jsonb NOT NULL DEFAULT '[]')",
        "CREATE INDEX IF NOT EXISTS known_cases_allocated ON known_cases (district, allocated_at)"
        " WHERE allocated_at IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS known_cases_by_person ON known_cases (person_ref)",
    ]

    async def apply_one(self, conn: asyncpg.Connection, recorded: Recorded) -> None:
        event, delivery = recorded.event, recorded
        if isinstance(event, ReferralMade):
            await conn.execute(
                "INSERT INTO known_cases (case_id, person_ref, district, cohort, referred_at,"
                " last_sequence, updated_at, person_refs, legal_status, under_18, adult_from, statuses)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, ARRAY[$2::uuid], $8, $9, $10, $11::jsonb)"
                " ON CONFLICT (case_id) DO NOTHING",
                event.case_id, event.person_ref, event.district, event.cohort.value, event.occurred_at,
                delivery.sequence, event.recorded_at, event.legal_status.value, event.age_at_event < 18,
                event.occurred_at if event.age_at_event >= 18 else None, json.dumps([_status_of(event)]))
        elif isinstance(event, AssessmentCompleted):
            await self._update(conn, event, delivery, "support_level = $4, priority_band = $5",
                               event.support_level.value, event.priority_band.value)
        elif isinstance(event, PanelDecisionMade):
            allocates = event.decision is PanelDecision.allocate_service
            await self._update(conn, event, delivery,
                               "last_panel_decision = $4, last_panel_date = $5, allocated_at = $6",
                               event.decision.value, event.panel_date, event.occurred_at if allocates else None)
        elif isinstance(event, CaseClosed):
            await self._update(conn, event, delivery, "status = 'closed'")
        elif isinstance(event, CaseReopened):
            # A re-referral goes back to a panel: the old allocation no longer stands.
            await self._update(conn, event, delivery,
                               "status = 'open', cohort = $4, allocated_at = NULL, reopened_at = $5, " + _NEW_STATUS,
                               event.cohort.value, event.occurred_at, event.legal_status.value, event.age_at_event,
                               json.dumps([_status_of(event)]))
        elif isinstance(event, (LegalStatusChanged, AgeReached)):
            age = event.age if isinstance(event, AgeReached) else event.age_at_event
            await self._update(conn, event, delivery, "cohort = $4, " + _NEW_STATUS, event.cohort.value,
                               event.occurred_at, event.legal_status.value, age, json.dumps([_status_of(event)]))
        elif isinstance(event, (PersonLinked, PersonUnlinked)):
            await self._update(conn, event, delivery, "person_ref = $4, person_refs = CASE WHEN $4 = ANY(person_refs)"
                               " THEN person_refs ELSE array_append(person_refs, $4) END", event.person_ref)

    async def _update(self, conn: asyncpg.Connection, event: Any, delivery: Recorded, assignments: str,
                      *values: Any) -> None:
        await conn.execute(
            f"UPDATE known_cases SET {assignments}, last_sequence = $2, updated_at = $3"
            " WHERE case_id = $1 AND last_sequence < $2",
            event.case_id, delivery.sequence, event.recorded_at, *values)


_NEW_STATUS = ("legal_status = $6, under_18 = $7 < 18,"
               " adult_from = CASE WHEN $7 >= 18 THEN least(adult_from, $5) ELSE adult_from END,"
               " statuses = statuses || $8::jsonb")
"""A status fact (referral, re-referral, change of status, turning 18): $5 when, $6 the legal status, $7 the age,
$8 the dated status to append."""


def _status_of(event: ReferralMade | CaseReopened | LegalStatusChanged | AgeReached) -> dict[str, str]:
    return {"since": event.occurred_at.isoformat(), "legal_status": event.legal_status.value,
            "cohort": event.cohort.value}


def _statuses(value: Any) -> tuple[DatedStatus, ...]:
    facts = json.loads(value) if isinstance(value, str) else (value or [])
    statuses = [DatedStatus(datetime.fromisoformat(fact["since"]), LegalStatus(fact["legal_status"]),
                            Cohort(fact["cohort"])) for fact in facts]
    return tuple(sorted(statuses, key=lambda status: status.since))  # stable: a correction the same moment wins


def known_case_of(row: Any) -> KnownCase:
    return KnownCase(case_id=row["case_id"], person_ref=row["person_ref"], district=row["district"],
                     cohort=Cohort(row["cohort"]), open=row["status"] == "open",
                     allocated=row["allocated_at"] is not None, referred_at=row["referred_at"],
                     allocated_at=row["allocated_at"], reopened_at=row["reopened_at"],
                     person_refs=tuple(row["person_refs"] or [row["person_ref"]]),
                     legal_status=LegalStatus(row["legal_status"]) if row["legal_status"] else None,
                     under_18=row["under_18"], adult_from=row["adult_from"], statuses=_statuses(row["statuses"]))


class CaseDirectory(Protocol):
    """Where the placement store finds what it knows of a case."""

    def case(self, case_id: UUID) -> KnownCase | None: ...

    def cases_of_person(self, person_ref: UUID) -> list[KnownCase]:
        """The cases whose young person is now `person_ref`."""


class CasesInPostgres:
    """The known cases the referral projection keeps, read with the store's own connection pool."""

    def __init__(self, datastore: Any, schema: str):
        """`datastore` is the eventsourcing PostgresDatastore of the placement store."""
        self.datastore = datastore
        self.schema = schema

    def prepare(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"SET LOCAL search_path TO {self.schema}")
            for statement in KnownCasesProjection.tables:
                cursor.execute(statement)

    def case(self, case_id: UUID) -> KnownCase | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.schema}.known_cases WHERE case_id = %s", (case_id,))
            row = cursor.fetchone()
        return known_case_of(row) if row else None

    def cases_of_person(self, person_ref: UUID) -> list[KnownCase]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.schema}.known_cases WHERE person_ref = %s", (person_ref,))
            return [known_case_of(row) for row in cursor.fetchall()]


class CasesInMemory:
    """Known cases held in memory: for a store without PostgreSQL (unit tests)."""

    def __init__(self) -> None:
        self.cases: dict[UUID, KnownCase] = {}

    def remember(self, case: KnownCase) -> KnownCase:
        self.cases[case.case_id] = case
        return case

    def case(self, case_id: UUID) -> KnownCase | None:
        return self.cases.get(case_id)

    def cases_of_person(self, person_ref: UUID) -> list[KnownCase]:
        return [case for case in self.cases.values() if case.person_ref == person_ref]
