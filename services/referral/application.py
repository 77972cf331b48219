"""Referrals: the referral service's event store (an eventsourcing application), with the person vault beside it.

It loads and saves cases; what a change does is decided by its handler in `handlers.py`. The methods named
after commands are shorthands for scripts and tests: each builds its command and sends it to that handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from services.referral import handlers
from services.referral.domain import (  # noqa: F401 - re-exported: where callers have always found them
    Case,
    CaseAlreadyLinked,
    CaseNotFound,
    PersonalDataNeeded,
    PersonHasOtherCases,
    PersonWasErased,
    UnknownPerson,
)
from services.referral.safeguarding import SafeguardingFlags
from services.referral.vault import PersonVault
from shared.contracts import EventContext
from shared.eventstore import ServiceApplication, SqlWrite

DEVELOPMENT_VAULT_KEY = "casetrack-dev-vault-key"


class Referrals(ServiceApplication):
    """Records what happens to young people's cases; keeps who they are in the person vault."""

    aggregate_class = Case

    def __init__(self, env: dict[str, str] | None = None):
        super().__init__(env)
        self.vault = PersonVault(self.recorder.datastore, self.recorder.datastore.schema,
                                 self.env.get("VAULT_KEY") or DEVELOPMENT_VAULT_KEY)
        self.vault.prepare()
        self.safeguarding = SafeguardingFlags(self.recorder.datastore, self.recorder.datastore.schema)
        self.safeguarding.prepare()

    def get_case(self, case_id: UUID) -> Case:
        case = self.load(case_id)
        if case is None:
            raise CaseNotFound(f"no case {case_id}")
        return case

    def districts_of(self, person_ref: UUID) -> set[str]:
        """The districts where the young person has a case (none if unknown)."""
        return {self.get_case(case_id).district for case_id in self.vault.cases_of(person_ref)}

    def cases_that_may_turn_18_by(self, day: date) -> list[UUID]:
        """Open cases whose young person may be counted as 18 by `day` (from the case_ages read model; before it
        exists, every case: the sweep then reads more dates of birth, never fewer)."""
        with self.recorder.datastore.transaction() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (f"{self.vault.schema}.case_ages",))
            if cursor.fetchone()["present"]:
                cursor.execute(f"SELECT case_id FROM {self.vault.schema}.case_ages WHERE open"
                               " AND counted_as_18_earliest <= %s ORDER BY case_id", (day,))
                return [row["case_id"] for row in cursor.fetchall()]
        return [n.originator_id for n in self.recorder.select_notifications(1, 1_000_000, topics=["ReferralMade"])]

    def shred_refused_messages_of(self, case_ids: list[UUID], person_digests: Sequence[bytes] = ()) -> None:
        """Destroy the kept copies of refused district messages about these cases, or naming the young person
        (by their match keys: a refused referral has no case), since they may hold the personal data just
        erased; rewrite the table so no old row version keeps them."""
        with self.vault.datastore.transaction(commit=True) as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (f"{self.vault.schema}.rejected_messages",))
            if not cursor.fetchone()["present"]:
                return  # the district inbox has never run here
            cursor.execute(
                f"UPDATE {self.vault.schema}.rejected_messages r SET sealed_body = NULL, wrapped_body_key = NULL,"
                " person_digest = NULL WHERE r.person_digest = ANY(%s) OR EXISTS (SELECT 1 FROM"
                f" {self.vault.schema}.district_cases c WHERE c.case_id = ANY(%s) AND r.district = c.district"
                " AND r.district_ref = c.district_ref)", (list(person_digests), case_ids))
        self.vault.rewrite_tables("rejected_messages")

    # -- shorthands: each sends its command to its handler -----------------------------------------------

    def make_referral(self, context: EventContext, *, also_write: tuple[SqlWrite, ...] = (),
                      **facts: Any) -> tuple[Case, int]:
        saved = handlers.handle(self, handlers.MakeReferral(**facts), context, also_write)
        return saved.case, saved.position

    def record_birthdays(self, context: EventContext, on: date) -> tuple[list[UUID], int]:
        """Record AgeReached on each open case whose young person is counted as 18 by `on`; the cases and the
        position."""
        saved = handlers.handle(self, handlers.RecordBirthdays(on=on), context)
        return [case.id for case in saved.cases], saved.position

    def reopen_case(self, context: EventContext, case_id: UUID, **facts: Any) -> int:
        return handlers.handle(self, handlers.ReopenCase(case_id=case_id, **facts), context).position

    def link_person(self, context: EventContext, case_id: UUID, person_ref: UUID, occurred_at: datetime) -> int:
        command = handlers.LinkPerson(case_id=case_id, person_ref=person_ref, occurred_at=occurred_at)
        return handlers.handle(self, command, context).position

    def unlink_person(self, context: EventContext, case_id: UUID, occurred_at: datetime) -> int:
        return handlers.handle(self, handlers.UnlinkPerson(case_id=case_id, occurred_at=occurred_at), context).position

    def dismiss_possible_match(self, context: EventContext, case_id: UUID, candidate_person_ref: UUID,
                               occurred_at: datetime) -> int:
        command = handlers.DismissPossibleMatch(case_id=case_id, candidate_person_ref=candidate_person_ref,
                                                occurred_at=occurred_at)
        return handlers.handle(self, command, context).position

    def erase_personal_data(self, context: EventContext, person_ref: UUID) -> tuple[list[UUID], int]:
        saved = handlers.handle(self, handlers.ErasePersonalData(person_ref=person_ref), context)
        return [case.id for case in saved.cases], saved.position
