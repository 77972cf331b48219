"""The referral service's commands, and one handler for each: whatever the door (an HTTP route or the district
inbox), a change is made by building its command and sending it to `handle`.

Each handler loads what it needs, asks the domain, and returns the `Change` it decided; one unit of work
(`save`) writes the case events and every row that goes with them (sealed personal details, match keys, the
inbox's record of the message) in one transaction, or none of them. `decide` and `save_together` let the
district inbox save the changes of many messages in one transaction (a group commit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, Field

from services.referral.domain import (
    FOLLOW_UP_EARLY_BY,
    Case,
    CaseAlreadyLinked,
    DependantsOnlyForTeenageParent,
    EventDatedInTheFuture,
    FlagNotRaised,
    PersonalDataErased,
    PersonalDataNeeded,
    PersonHasOtherCases,
    PersonToLinkUnknown,
    PersonWasErased,
    UnknownPerson,
)
from shared.contracts import EventContext
from shared.contracts.envelope import Day, utc_now
from shared.contracts.inbound import (
    AssessmentFacts,
    ClosureFacts,
    Dated,
    DutyEndFacts,
    DutyStartFacts,
    EligibilityFacts,
    FlagEndingFacts,
    FlagFacts,
    LegalStatusFacts,
    MediationOutcomeFacts,
    MediationStartFacts,
    PanelDecisionFacts,
    ReferralFacts,
    ReopeningFacts,
    ReturnHomeFollowUpFacts,
)
from shared.contracts.vocabulary import LinkBasis, SafeguardingFlag
from shared.errors import Conflict
from shared.eventstore import Change, SqlWrite

if TYPE_CHECKING:
    from services.referral.application import Referrals


# -- commands: orders, in the domain's words -----------------------------------------------------------------


class MakeReferral(ReferralFacts):
    """Open a case for a young person presenting through a gateway in a district."""

    district: str = Field(description="District code, e.g. preston")
    case_id: UUID = Field(default_factory=uuid4, description="The new case's id (the inbox chooses it first)")
    seen_from_district: str | None = Field(
        None, description="Whose eyes the referral is made with: a district officer's or a district inbox's "
                          "district (a person known only elsewhere is never linked for them, only flagged for "
                          "children's services to decide); None: someone who sees every district")


class CaseCommand(BaseModel):
    """A change to one case."""

    case_id: UUID


class DecideEligibility(CaseCommand, EligibilityFacts):
    """Record the eligibility decision."""


class AttemptMediation(CaseCommand, MediationStartFacts):
    """Start a mediation attempt."""


class ConcludeMediation(CaseCommand, MediationOutcomeFacts):
    """Record how the mediation attempt ended."""


class StartDuty(CaseCommand, DutyStartFacts):
    """Record that a homelessness duty is owed from a day."""


class EndDuty(CaseCommand, DutyEndFacts):
    """Record that the running homelessness duty ended, and why."""


class FollowUpReturnHome(CaseCommand, ReturnHomeFollowUpFacts):
    """Record whether a return home after mediation lasted (3 or 6 months on)."""


class CompleteAssessment(CaseCommand, AssessmentFacts):
    """Record the shared assessment."""


class DecideAtPanel(CaseCommand, PanelDecisionFacts):
    """Record the panel's decision."""


class CloseCase(CaseCommand, ClosureFacts):
    """Close the case."""


class ReopenCase(CaseCommand, ReopeningFacts):
    """Reopen a closed case for a re-referral of the same young person."""


class LinkPerson(CaseCommand, Dated):
    """A case worker's decision that the case's young person is a person already known."""

    person_ref: UUID


class UnlinkPerson(CaseCommand, Dated):
    """Undo a link: the case's young person is a person of their own again."""


class DismissPossibleMatch(CaseCommand, Dated):
    """A case worker's decision that a flagged possible match is someone else."""

    candidate_person_ref: UUID


class ChangeLegalStatus(CaseCommand, LegalStatusFacts):
    """Record the young person's new legal status (and cohort) from a day on."""


class RaiseFlag(CaseCommand, FlagFacts):
    """Record that a flag (a safeguarding flag: restricted) applies from a day on."""


class EndFlag(CaseCommand, FlagEndingFacts):
    """Record that a flag stops applying from a day on."""


class RecordBirthdays(BaseModel):
    """Record AgeReached on every open case whose young person is counted as 18 by `on` (the birthday sweep: from the
    first day of the month after the 18th birthday)."""

    on: Day


class ErasePersonalData(BaseModel):
    """Erase a young person's personal data: their key is destroyed, the case histories keep their facts."""

    person_ref: UUID


@dataclass(frozen=True)
class Saved:
    """What a handler saved: the cases as they now stand, and the store position of the last event."""

    position: int
    cases: tuple[Case, ...]

    @property
    def case(self) -> Case:
        return self.cases[0]


# -- the one way to send a command ---------------------------------------------------------------------------

Command = TypeVar("Command", bound=BaseModel)
Handler = Callable[["Referrals", Any, EventContext, Sequence[SqlWrite]], Change]
HANDLERS: dict[type[BaseModel], Handler] = {}


def handles(command: type[Command]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[command] = handler
        return handler

    return register


def handle(referrals: Referrals, command: BaseModel, context: EventContext,
           also_write: Sequence[SqlWrite] = ()) -> Change:
    """Send `command` to its handler; `also_write` rows are saved in the same transaction as its events."""
    return save(referrals, decide(referrals, command, context, also_write))


def decide(referrals: Referrals, command: BaseModel, context: EventContext,
           also_write: Sequence[SqlWrite] = ()) -> Change:
    """What `command` changes, decided by its handler and not saved yet (a broken rule raises its error)."""
    return HANDLERS[type(command)](referrals, command, context, also_write)


def save(referrals: Referrals, change: Change) -> Saved:
    """The unit of work: a change's new events and rows, committed together or not at all (in one transaction
    with whatever other requests are saving at that moment: see GroupCommit)."""
    try:
        position = referrals.commit(change)
    except IntegrityError:
        raise ChangedConcurrently() from None
    return Saved(position, change.aggregates)


def save_together(referrals: Referrals, changes: Sequence[Change]) -> list[Saved]:
    """Several changes in one transaction, all or none."""
    try:
        positions = referrals.record_changes(changes)
    except IntegrityError:
        raise ChangedConcurrently() from None
    return [Saved(position, change.aggregates) for position, change in zip(positions, changes, strict=True)]


# -- handlers ------------------------------------------------------------------------------------------------


@handles(MakeReferral)
def make_referral(referrals: Referrals, command: MakeReferral, context: EventContext,
                  also_write: Sequence[SqlWrite] = ()) -> Change:
    """Open a case, linking the young person to a person already known when their name and date of birth
    match exactly one the sender may see; uncertain matches, and certain ones known only in a district the
    sender may not see, are flagged for a case worker to decide (those across districts: children's services)."""
    vault, person, now = referrals.vault, command.young_person, utc_now()
    case = Case.make_referral(
        person_ref=uuid4(), district=command.district, gateway=command.gateway, cohort=command.cohort,
        date_of_birth=person.date_of_birth, presenting_reason=command.presenting_reason, flags=command.flags,
        occurred_at=command.occurred_at, now=now, case_id=command.case_id, legal_status=command.legal_status)
    writes = [*also_write]
    candidates = vault.candidates_for(person)
    certain = [c for c in candidates if c.certain
               and (command.seen_from_district is None
                    or command.seen_from_district in referrals.districts_of(c.person_ref))]
    linked = len(certain) == 1 and vault.data_key_of(certain[0].person_ref) is not None
    if linked:
        case.link_person(person_ref=certain[0].person_ref, basis=LinkBasis.matching_details,
                         occurred_at=command.occurred_at, now=now)
    else:
        for candidate in candidates:
            case.flag_possible_match(candidate_person_ref=candidate.person_ref,
                                     matched_on=list(candidate.matched_on), occurred_at=command.occurred_at)
            writes.append(vault.note_possible_match(case.id, candidate))
    writes += vault.keep_details(case.id, case.person_ref, person, new_person=not linked)
    return Change.of(context, case, also_write=writes)


def _case_change(change: Callable[[Case, Any, datetime], None]) -> Handler:
    """A handler that loads the case, makes one change dated now, and saves it."""

    def handler(referrals: Referrals, command: CaseCommand, context: EventContext,
                also_write: Sequence[SqlWrite] = ()) -> Change:
        case = referrals.get_case(command.case_id)
        record_birthday_if_due(referrals, case, command.occurred_at)
        change(case, command, utc_now())
        return Change.of(context, case, also_write=also_write)

    return handler


decide_eligibility = handles(DecideEligibility)(_case_change(
    lambda case, c, now: case.decide_eligibility(eligible=c.eligible, occurred_at=c.occurred_at, now=now)))
attempt_mediation = handles(AttemptMediation)(_case_change(
    lambda case, c, now: case.attempt_mediation(occurred_at=c.occurred_at, now=now)))
conclude_mediation = handles(ConcludeMediation)(_case_change(
    lambda case, c, now: case.conclude_mediation(outcome=c.outcome, occurred_at=c.occurred_at, now=now)))
complete_assessment = handles(CompleteAssessment)(_case_change(
    lambda case, c, now: case.complete_assessment(
        support_needs=c.support_needs, support_level=c.support_level, risk=c.risk, priority_band=c.priority_band,
        occurred_at=c.occurred_at, now=now)))
decide_at_panel = handles(DecideAtPanel)(_case_change(
    lambda case, c, now: case.decide_at_panel(
        decision=c.decision, panel_date=c.panel_date, emergency_placement_reported=c.emergency_placement_reported,
        occurred_at=c.occurred_at, now=now)))
close_case = handles(CloseCase)(_case_change(
    lambda case, c, now: case.close(reason=c.reason, occurred_at=c.occurred_at, now=now)))

# -- homelessness duties and mediation follow-up
start_duty = handles(StartDuty)(_case_change(
    lambda case, c, now: case.start_duty(duty=c.duty, occurred_at=c.occurred_at, now=now)))
end_duty = handles(EndDuty)(_case_change(
    lambda case, c, now: case.end_duty(duty=c.duty, reason=c.reason, occurred_at=c.occurred_at, now=now)))


@handles(FollowUpReturnHome)
def follow_up_return_home(referrals: Referrals, command: FollowUpReturnHome, context: EventContext,
                          also_write: Sequence[SqlWrite] = ()) -> Change:
    """Whether a return home lasted; a closed case takes it too. How early it may come is the service's setting."""
    case = referrals.get_case(command.case_id)
    case.follow_up_return_home(attempt=command.attempt, months_after=command.months_after,
                               still_at_home=command.still_at_home, occurred_at=command.occurred_at, now=utc_now(),
                               early_by=follow_up_early_by(referrals))
    return Change.of(context, case, also_write=also_write)


def follow_up_early_by(referrals: Referrals) -> timedelta:
    """How early a return home may be followed up: `RETURN_HOME_FOLLOW_UP_EARLY_DAYS` in the store's settings
    (CASETRACK_RETURN_HOME_FOLLOW_UP_EARLY_DAYS), else FOLLOW_UP_EARLY_BY."""
    days = getattr(referrals, "env", {}).get("RETURN_HOME_FOLLOW_UP_EARLY_DAYS")
    return timedelta(days=int(days)) if days not in (None, "") else FOLLOW_UP_EARLY_BY


@handles(ReopenCase)
def reopen_case(referrals: Referrals, command: ReopenCase, context: EventContext,
                also_write: Sequence[SqlWrite] = ()) -> Change:
    """Re-referral of the same young person; their date of birth comes from the vault unless given anew."""
    case = referrals.get_case(command.case_id)
    person, writes = command.young_person, []
    if person is None:
        try:
            person = referrals.vault.details_of_case(case.id)
        except PersonalDataErased:
            raise PersonalDataNeeded("this case's personal data was erased: give the young person's details "
                                     "with the re-referral", field="young_person") from None
        if person is None:
            raise PersonalDataNeeded("no personal data is held for this case: give the young person's details",
                                     field="young_person")
    else:
        writes = referrals.vault.keep_details(case.id, case.person_ref, person)
    case.reopen(presenting_reason=command.presenting_reason, cohort=command.cohort,
                date_of_birth=person.date_of_birth, occurred_at=command.occurred_at, now=utc_now(),
                legal_status=command.legal_status)
    return Change.of(context, case, also_write=[*writes, *also_write])


@handles(LinkPerson)
def link_person(referrals: Referrals, command: LinkPerson, context: EventContext,
                also_write: Sequence[SqlWrite] = ()) -> Change:
    """A case worker decides the case's young person is `person_ref`, already known."""
    vault, person_ref = referrals.vault, command.person_ref
    case = referrals.get_case(command.case_id)
    if not vault.cases_of(person_ref):
        raise PersonToLinkUnknown(f"no young person {person_ref} is known", field="person_ref")
    if vault.data_key_of(person_ref) is None:
        raise PersonWasErased(f"the personal data of {person_ref} was erased: the case cannot join it")
    if case.person_ref != case.own_person_ref and person_ref != case.person_ref:
        raise CaseAlreadyLinked(f"case {case.id} is linked to {case.person_ref}: unlink it first")
    if person_ref != case.person_ref and [c for c in vault.cases_of(case.person_ref) if c != case.id]:
        raise PersonHasOtherCases(
            f"other cases are linked to this case's young person {case.person_ref}: linking this one "
            f"elsewhere would split them; unlink them first")
    previous = case.person_ref
    case.link_person(person_ref=person_ref, basis=LinkBasis.case_worker_decision, occurred_at=command.occurred_at,
                     now=utc_now())
    writes = [vault.resolve_possible_match(case.id, person_ref, "linked"),
              *vault.move_case(case.id, previous, person_ref)]
    return Change.of(context, case, also_write=[*writes, *also_write])


@handles(UnlinkPerson)
def unlink_person(referrals: Referrals, command: UnlinkPerson, context: EventContext,
                  also_write: Sequence[SqlWrite] = ()) -> Change:
    case = referrals.get_case(command.case_id)
    previous = case.person_ref
    case.unlink_person(occurred_at=command.occurred_at, now=utc_now())
    writes = referrals.vault.move_case(case.id, previous, case.person_ref)
    return Change.of(context, case, also_write=[*writes, *also_write])


@handles(DismissPossibleMatch)
def dismiss_possible_match(referrals: Referrals, command: DismissPossibleMatch, context: EventContext,
                           also_write: Sequence[SqlWrite] = ()) -> Change:
    case = referrals.get_case(command.case_id)
    case.dismiss_possible_match(candidate_person_ref=command.candidate_person_ref, occurred_at=command.occurred_at,
                                now=utc_now())
    writes = [referrals.vault.resolve_possible_match(case.id, command.candidate_person_ref, "dismissed")]
    return Change.of(context, case, also_write=[*writes, *also_write])


@handles(ErasePersonalData)
def erase_personal_data(referrals: Referrals, command: ErasePersonalData, context: EventContext,
                        also_write: Sequence[SqlWrite] = ()) -> Change:
    """Destroy the young person's data key, then record PersonalDataErased on each of their cases.

    The key goes first, in a transaction of its own: a repeat after a failure records the events still missing."""
    if not referrals.vault.cases_of(command.person_ref):
        raise UnknownPerson(f"the vault holds no personal data for {command.person_ref}")
    digests = referrals.vault.certain_match_keys_of(command.person_ref)  # erase destroys them
    case_ids = referrals.vault.erase(command.person_ref, context.actor)
    referrals.shred_refused_messages_of(case_ids, digests)
    cases = [referrals.get_case(case_id) for case_id in case_ids]
    for case in cases:
        case.erase_personal_data(occurred_at=utc_now())
    return Change.of(context, *cases, also_write=also_write)


# -- legal status and age ------------------------------------------------------------------------------------


def record_birthday_if_due(referrals: Referrals, case: Case, by: datetime) -> None:
    """Before a change dated `by`: AgeReached, if the young person is counted as 18 by then (from the first of the
    month after their 18th birthday) and was not at the case's last age fact. The date of birth is read from the
    vault only when the case's age says that day may have come; an erased young person has none, and no
    AgeReached is recorded for them."""
    if case.may_turn_18_by(by.date()) and (date_of_birth := referrals.vault.date_of_birth_of_case(case.id)):
        case.reach_18_if_due(date_of_birth, by)


def date_of_birth_for_age(referrals: Referrals, case: Case) -> date:
    date_of_birth = referrals.vault.date_of_birth_of_case(case.id)
    if date_of_birth is None:
        raise PersonalDataNeeded("the young person's age cannot be derived: their date of birth was erased or never "
                                 "given (re-refer them with their details)")
    return date_of_birth


@handles(ChangeLegalStatus)
def change_legal_status(referrals: Referrals, command: ChangeLegalStatus, context: EventContext,
                        also_write: Sequence[SqlWrite] = ()) -> Change:
    """The new legal status, with the young person's age on that day derived from the vault's date of birth."""
    case = referrals.get_case(command.case_id)
    case.change_legal_status(legal_status=command.legal_status, reason=command.reason, cohort=command.cohort,
                             date_of_birth=date_of_birth_for_age(referrals, case), occurred_at=command.occurred_at,
                             now=utc_now())
    return Change.of(context, case, also_write=also_write)


@handles(RecordBirthdays)
def record_birthdays(referrals: Referrals, command: RecordBirthdays, context: EventContext,
                     also_write: Sequence[SqlWrite] = ()) -> Change:
    """AgeReached on each open case whose young person is counted as 18 by `on` (dated 00:00 UTC on the first day
    of the month after the 18th birthday, never the birthday: decision 10)."""
    if command.on > utc_now().date():
        raise EventDatedInTheFuture(f"birthdays are recorded up to today, not {command.on.isoformat()}", field="on")
    by = datetime.combine(command.on, time(0), tzinfo=UTC)
    turned = []
    for case_id in referrals.cases_that_may_turn_18_by(command.on):
        case = referrals.get_case(case_id)
        if not case.may_turn_18_by(command.on):
            continue
        date_of_birth = referrals.vault.date_of_birth_of_case(case.id)
        if date_of_birth and case.reach_18_if_due(date_of_birth, by):
            turned.append(case)
    return Change.of(context, *turned, also_write=also_write)


# -- flags ---------------------------------------------------------------------------------------------------


@handles(RaiseFlag)
def raise_flag(referrals: Referrals, command: RaiseFlag, context: EventContext,
               also_write: Sequence[SqlWrite] = ()) -> Change:
    """A flag from a day on; a safeguarding flag's kind is kept in the referral service's own table (its event
    carries only an id), written in the same transaction."""
    case = referrals.get_case(command.case_id)
    record_birthday_if_due(referrals, case, command.occurred_at)
    writes: list[SqlWrite] = []
    if isinstance(command.flag, SafeguardingFlag):
        if command.dependants is not None:
            raise DependantsOnlyForTeenageParent("only a teenage parent flag has dependants", field="dependants")
        flag_id = case.raise_restricted_flag(flag=command.flag, raised_now=set(referrals.safeguarding.raised_now(
            case.id)), occurred_at=command.occurred_at, now=utc_now())
        writes.append(referrals.safeguarding.raising(flag_id, case.id, command.flag, command.occurred_at))
    else:
        case.raise_flag(flag=command.flag, dependants=command.dependants, occurred_at=command.occurred_at,
                        now=utc_now())
    return Change.of(context, case, also_write=[*writes, *also_write])


@handles(EndFlag)
def end_flag(referrals: Referrals, command: EndFlag, context: EventContext,
             also_write: Sequence[SqlWrite] = ()) -> Change:
    case = referrals.get_case(command.case_id)
    record_birthday_if_due(referrals, case, command.occurred_at)
    writes: list[SqlWrite] = []
    if isinstance(command.flag, SafeguardingFlag):
        flag_id = referrals.safeguarding.raised_now(case.id).get(command.flag)
        if flag_id is None:
            raise FlagNotRaised(f"that safeguarding flag is not raised on case {case.id}")
        case.end_restricted_flag(flag_id=flag_id, occurred_at=command.occurred_at, now=utc_now())
        writes.append(referrals.safeguarding.ending(flag_id, command.occurred_at))
    else:
        case.end_flag(flag=command.flag, occurred_at=command.occurred_at, now=utc_now())
    return Change.of(context, case, also_write=[*writes, *also_write])


class ChangedConcurrently(Conflict):
    """The case or young person changed while this change was being made; nothing was saved: read it again
    and retry."""
