"""Referrals: the referral service's event-sourced application, with the person vault beside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from shared.contracts import EventContext
from shared.contracts.envelope import utc_now
from shared.contracts.vocabulary import Cohort, Flag, Gateway, LinkBasis, PresentingReason
from shared.eventstore import ServiceApplication, SqlWrite

from services.referral.domain import Case, CaseConflict
from services.referral.vault import PersonalDataErased, PersonVault, YoungPerson

DEVELOPMENT_VAULT_KEY = "casetrack-dev-vault-key"


class Referrals(ServiceApplication):
    """Records what happens to young people's cases; keeps who they are in the person vault."""

    aggregate_class = Case

    def __init__(self, env: dict[str, str] | None = None):
        super().__init__(env)
        self.vault = PersonVault(self.recorder.datastore, self.recorder.datastore.schema,
                                 self.env.get("VAULT_KEY") or DEVELOPMENT_VAULT_KEY)
        self.vault.prepare()

    def make_referral(
        self,
        context: EventContext,
        *,
        district: str,
        gateway: Gateway,
        cohort: Cohort,
        young_person: YoungPerson,
        presenting_reason: PresentingReason,
        flags: list[Flag],
        occurred_at: datetime,
        case_id: UUID | None = None,
        also_write: Sequence[SqlWrite] = (),
    ) -> tuple[Case, int]:
        """Open a case for a referral, linking the young person to a person already known when their
        name and date of birth match exactly one; uncertain matches are flagged for a person to decide."""
        case = Case.make_referral(
            person_ref=uuid4(),
            district=district,
            gateway=gateway,
            cohort=cohort,
            date_of_birth=young_person.date_of_birth,
            presenting_reason=presenting_reason,
            flags=flags,
            occurred_at=occurred_at,
            now=utc_now(),
            case_id=case_id,
        )
        writes: list[SqlWrite] = [*also_write]
        candidates = self.vault.candidates_for(young_person)
        certain = [c for c in candidates if c.certain]
        if len(certain) == 1 and self.vault.data_key_of(certain[0].person_ref) is not None:
            case.link_person(person_ref=certain[0].person_ref, basis=LinkBasis.matching_details,
                             occurred_at=occurred_at, now=utc_now())
        else:
            for candidate in candidates:
                case.flag_possible_match(candidate_person_ref=candidate.person_ref,
                                         matched_on=list(candidate.matched_on), occurred_at=occurred_at)
                writes.append(self.vault.note_possible_match(case.id, candidate))
        writes += self.vault.keep_details(case.id, case.person_ref, young_person)
        position = self.record(context, case, also_write=writes)
        return case, position

    def change_case(self, context: EventContext, case_id: UUID, change: Callable[..., None],
                    also_write: Sequence[SqlWrite] = (), **facts) -> int:
        """Load a case, apply one change (a Case method taking `now`), save it; returns the position."""
        case = self.get_case(case_id)
        change(case, now=utc_now(), **facts)
        return self.record(context, case, also_write=also_write)

    def reopen_case(self, context: EventContext, case_id: UUID, *, young_person: YoungPerson | None,
                    also_write: Sequence[SqlWrite] = (), **facts: Any) -> int:
        """Re-referral of the same young person; their date of birth comes from the vault unless given anew."""
        case = self.get_case(case_id)
        writes: list[SqlWrite] = []
        if young_person is None:
            try:
                young_person = self.vault.details_of_case(case_id)
            except PersonalDataErased:
                raise PersonalDataNeeded(
                    "this case's personal data was erased: give the young person's details with the re-referral"
                ) from None
            if young_person is None:
                raise PersonalDataNeeded("no personal data is held for this case: give the young person's details")
        else:
            writes = self.vault.keep_details(case_id, case.person_ref, young_person)
        case.reopen(date_of_birth=young_person.date_of_birth, now=utc_now(), **facts)
        return self.record(context, case, also_write=[*writes, *also_write])

    def link_person(self, context: EventContext, case_id: UUID, person_ref: UUID, occurred_at: datetime) -> int:
        """A case worker decides the case's young person is `person_ref`, already known."""
        case = self.get_case(case_id)
        if not self.vault.cases_of(person_ref):
            raise UnknownPerson(f"no young person {person_ref} is known")
        if self.vault.data_key_of(person_ref) is None:
            raise PersonWasErased(f"the personal data of {person_ref} was erased: the case cannot join it")
        if case.person_ref != case.own_person_ref and person_ref != case.person_ref:
            raise CaseAlreadyLinked(f"case {case_id} is linked to {case.person_ref}: unlink it first")
        if person_ref != case.person_ref and [c for c in self.vault.cases_of(case.person_ref) if c != case_id]:
            raise PersonHasOtherCases(
                f"other cases are linked to this case's young person {case.person_ref}: linking this one "
                f"elsewhere would split them; unlink them first")
        previous = case.person_ref
        case.link_person(person_ref=person_ref, basis=LinkBasis.case_worker_decision, occurred_at=occurred_at,
                         now=utc_now())
        writes = [self.vault.resolve_possible_match(case_id, person_ref, "linked"),
                  *self.vault.move_case(case_id, previous, person_ref)]
        return self.record(context, case, also_write=writes)

    def unlink_person(self, context: EventContext, case_id: UUID, occurred_at: datetime) -> int:
        """Undo a link: the case's young person is a person of their own again."""
        case = self.get_case(case_id)
        previous = case.person_ref
        case.unlink_person(occurred_at=occurred_at, now=utc_now())
        return self.record(context, case, also_write=self.vault.move_case(case_id, previous, case.person_ref))

    def dismiss_possible_match(self, context: EventContext, case_id: UUID, candidate_person_ref: UUID,
                               occurred_at: datetime) -> int:
        case = self.get_case(case_id)
        case.dismiss_possible_match(candidate_person_ref=candidate_person_ref, occurred_at=occurred_at,
                                    now=utc_now())
        return self.record(context, case, also_write=[
            self.vault.resolve_possible_match(case_id, candidate_person_ref, "dismissed")])

    def erase_personal_data(self, context: EventContext, person_ref: UUID) -> tuple[list[UUID], int]:
        """Destroy the young person's data key, then record PersonalDataErased on each of their cases.

        Safe to repeat: a repeat after a failure records the events still missing."""
        if not self.vault.cases_of(person_ref):
            raise UnknownPerson(f"the vault holds no personal data for {person_ref}")
        case_ids = self.vault.erase(person_ref, context.actor)
        self.shred_refused_messages_of(case_ids)
        cases = [self.get_case(case_id) for case_id in case_ids]
        for case in cases:
            case.erase_personal_data(occurred_at=utc_now())
        return case_ids, self.record(context, *cases)

    def shred_refused_messages_of(self, case_ids: list[UUID]) -> None:
        """Destroy the kept copies of refused district messages about these cases (they may hold the
        personal data just erased), and rewrite the table so no old row version keeps them."""
        with self.vault.datastore.transaction(commit=True) as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (f"{self.vault.schema}.rejected_messages",))
            if not cursor.fetchone()["present"]:
                return  # the district inbox has never run here
            cursor.execute(
                f"UPDATE {self.vault.schema}.rejected_messages r SET sealed_body = NULL, wrapped_body_key = NULL"
                f" FROM {self.vault.schema}.district_cases c WHERE c.case_id = ANY(%s)"
                " AND r.district = c.district AND r.district_ref = c.district_ref", (case_ids,))
        self.vault.rewrite_tables("rejected_messages")

    def get_case(self, case_id: UUID) -> Case:
        case = self.load(case_id)
        if case is None:
            raise CaseNotFound(f"no case {case_id}")
        return case


class CaseNotFound(LookupError):
    """No case has that id."""


class UnknownPerson(LookupError):
    """The vault knows no young person by that person_ref."""


class PersonalDataNeeded(ValueError):
    """The change needs the young person's details and the vault no longer holds them (HTTP 422)."""


class CaseAlreadyLinked(CaseConflict):
    """A linked case is unlinked before it is linked to someone else."""


class PersonHasOtherCases(CaseConflict):
    """Linking this case elsewhere would leave the other cases of its young person behind."""


class PersonWasErased(CaseConflict):
    """A person whose personal data was erased cannot take on new cases by linking."""
