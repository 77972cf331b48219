"""The district inbox: each district message becomes the same command an HTTP route would send, once.

A message ends one of two ways:
- **accepted**: its command's events are saved together with a record of the district's `message_id` (and,
  for a referral, its `district_ref`) in one transaction, so a repeat is recognised and applied once;
- **rejected**: it is kept with every reason (its body sealed, since it may hold personal data). A corrected
  resend is accepted and resolves it.
A failure that retrying cures (the database unreachable or its lock timing out, a concurrent change to the
same case) is retried without limit and never counts against the message; any other failure is retried
`give_up_after` times, then kept as a `ProcessingFailed` rejection the district can resend.

The accepted messages of a batch are saved in groups, one transaction each (a group commit). A group that
fails is split until the message that fails is alone; the others are saved, each district in its order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from pydantic import BaseModel

from services.referral.application import Referrals
from services.referral.district_inbox.reading import MessageRefused, district_and_kind, loose_fields, read
from services.referral.district_inbox.records import InboxRecords
from services.referral.handlers import (
    AttemptMediation,
    ChangedConcurrently,
    ChangeLegalStatus,
    CloseCase,
    CompleteAssessment,
    ConcludeMediation,
    DecideAtPanel,
    DecideEligibility,
    EndDuty,
    EndFlag,
    FollowUpReturnHome,
    MakeReferral,
    RaiseFlag,
    ReopenCase,
    StartDuty,
    decide,
    save_together,
)
from services.referral.vault import CERTAIN_MATCH
from shared.contracts import EventContext
from shared.contracts.inbound import (
    AssessmentDone,
    CaseClosure,
    DistrictMessage,
    DutyEndReported,
    DutyStartReported,
    EligibilityDecision,
    FlagStarted,
    FlagStopped,
    LegalStatusChange,
    MediationEnded,
    MediationStarted,
    MessageAccepted,
    MessageRejected,
    PanelDecided,
    Reason,
    ReferralReceived,
    ReReferral,
    ReturnHomeFollowUpReported,
)
from shared.errors import DomainError
from shared.eventstore import Change
from shared.subjects import accepted_subject, rejected_subject

log = logging.getLogger(__name__)

DATABASE_AWAY = (OperationalError, InterfaceError, psycopg.OperationalError)
"""The store unreachable or its lock timing out: nothing was saved, and no message is to blame."""
RETRIED_WITHOUT_LIMIT = (*DATABASE_AWAY, IntegrityError, ChangedConcurrently)
"""Failures that retrying cures: the database away, or a concurrent change."""

COMMANDS: dict[type[DistrictMessage], type[BaseModel]] = {
    EligibilityDecision: DecideEligibility,
    MediationStarted: AttemptMediation,
    MediationEnded: ConcludeMediation,
    AssessmentDone: CompleteAssessment,
    PanelDecided: DecideAtPanel,
    CaseClosure: CloseCase,
    ReReferral: ReopenCase,
    # homelessness duties and mediation follow-up
    DutyStartReported: StartDuty,
    DutyEndReported: EndDuty,
    ReturnHomeFollowUpReported: FollowUpReturnHome,
    LegalStatusChange: ChangeLegalStatus,
    FlagStarted: RaiseFlag,
    FlagStopped: EndFlag,
}
"""The command each update to a case becomes (a referral becomes MakeReferral)."""


@dataclass(frozen=True)
class Answer:
    """What the inbox tells the district about one message."""

    subject: str
    body: BaseModel


@dataclass(frozen=True)
class Arrival:
    """A message as it arrived on the ingest stream."""

    subject: str
    body: bytes
    sequence: int
    headers: Mapping[str, Any] | None = None

    @property
    def district(self) -> str:
        return district_and_kind(self.subject)[0]


@dataclass
class Round:
    """What one pass over a batch did: the answers, and the districts held back until the next pass."""

    answers: dict[int, Answer] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    failures: dict[int, Exception] = field(default_factory=dict)
    """Why each message left unanswered could not be finished."""


@dataclass(frozen=True)
class Decided:
    """A message whose change is decided and waits, in its group, to be saved; then it is answered."""

    arrival: Arrival
    kind: str
    message: DistrictMessage
    change: Change


@dataclass
class Group:
    """Decided changes saved together in one transaction (a group commit), in arrival order.

    A message reads what earlier ones saved (its district reference, its message id, a young person's match
    keys), so one that touches what the group holds unsaved waits for the group to be saved first."""

    decided: list[Decided] = field(default_factory=list)
    touched: set[tuple] = field(default_factory=set)

    def add(self, decided: Decided, touches: set[tuple]) -> None:
        self.decided.append(decided)
        self.touched |= touches

    def take(self) -> list[Decided]:
        decided, self.decided, self.touched = self.decided, [], set()
        return decided


class DistrictInbox:
    """Turns district messages into commands, once each, and answers every one."""

    def __init__(self, referrals: Referrals, schema: str, give_up_after: int = 3, group_size: int = 256):
        self.referrals = referrals
        self.schema = schema
        self.give_up_after = give_up_after
        self.group_size = group_size
        self.records = InboxRecords(referrals.vault.datastore, schema)

    def prepare(self) -> None:
        self.records.create_tables()

    def receive_all(self, arrivals: Iterable[Arrival], attempts: MutableMapping[int, int]) -> Round:
        """Apply or reject each message in order, saving the accepted ones in groups of up to `group_size`
        per transaction. A district whose message cannot be finished now is held: its later messages wait
        for the next pass (so its order holds); other districts carry on. `attempts` counts the failures
        that count against each message (by stream sequence); a database outage never counts."""
        done, group = Round(), Group()
        for arrival in arrivals:
            if arrival.district in done.held:
                continue
            district, kind = district_and_kind(arrival.subject)
            message: DistrictMessage | None = None
            try:
                message = read(arrival.subject, arrival.body, arrival.headers)
                touches = self._touches(district, message)
                if touches & group.touched:
                    self._save(group, done, attempts)
                    if district in done.held:
                        continue
                decided = self._decide(arrival, district, kind, message)
            except (MessageRefused, DomainError) as refusal:
                reasons = refusal.reasons if isinstance(refusal, MessageRefused) else [
                    Reason(field=refusal.field, problem=str(refusal), type=type(refusal).__name__)]
                self._save(group, done, attempts)  # a refusal is kept after the acceptances before it
                if district not in done.held:
                    self._answer_refusal(arrival, kind, reasons, message, done)
                continue
            except Exception as error:  # noqa: BLE001 - retried, counted or rejected by `_failed`
                self._failed(arrival, kind, message, error, done, attempts)
                continue
            if isinstance(decided, Answer):  # a repeat: answered without a change
                done.answers[arrival.sequence] = decided
                continue
            group.add(decided, touches)
            if len(group.decided) >= self.group_size:
                self._save(group, done, attempts)
        self._save(group, done, attempts)
        return done

    def receive(self, subject: str, body: bytes, sequence: int, attempt: int = 1,
                headers: Mapping[str, Any] | None = None) -> Answer:
        """Apply or reject one district message; returns the answer to publish. Safe to call again.
        A failure not yet given up on is raised."""
        done = self.receive_all([Arrival(subject, body, sequence, headers)], {sequence: attempt})
        if sequence not in done.answers:
            raise done.failures[sequence]
        return done.answers[sequence]

    # -- deciding ------------------------------------------------------------------------------------------

    def _touches(self, district: str, message: DistrictMessage) -> set[tuple]:
        """What deciding this message reads that an earlier message of the same group may be saving."""
        touches = {("message_id", district, message.message_id), ("district_ref", district, message.district_ref)}
        person = getattr(message, "young_person", None)
        if person is not None:
            touches |= {("match_key", digest) for digest in self.referrals.vault.match_keys(person).values()}
        return touches

    def _decide(self, arrival: Arrival, district: str, kind: str, message: DistrictMessage) -> Decided | Answer:
        prior = self.records.prior(district, message.message_id, message.district_ref)
        if prior.applied is not None:  # a resend, or a redelivery after the change was saved: applied once
            case_id, done_kind, done_ref = prior.applied
            if (done_kind, done_ref) != (kind, message.district_ref):
                raise MessageRefused([Reason(field="message_id", type="MessageIdReused", problem=(
                    f"message_id {message.message_id!r} was already used for a {done_kind} message about "
                    f"{done_ref!r}: give each message an id of its own"))])
            return self._accepted(district, kind, message, case_id, self.referrals.position(), duplicate=True)
        context = EventContext(actor=f"district:{district}")
        facts = {name: value for name, value in message if name not in ("district_ref", "message_id")}
        if isinstance(message, ReferralReceived):
            if prior.case_id is not None:  # the same district reference again: applied once
                return self._accepted(district, kind, message, prior.case_id, self.referrals.position(),
                                      duplicate=True)
            command = MakeReferral(district=district, seen_from_district=district, **facts)
            writes = [self.records.opening(district, message.district_ref, command.case_id),
                      *self.records.accepting(district, kind, message, command.case_id)]
        else:
            if prior.case_id is None:
                raise MessageRefused([Reason(field="district_ref", type="UnknownCase", problem=(
                    f"no case with reference {message.district_ref!r} in {district}: send its referral first"))])
            command = COMMANDS[type(message)](case_id=prior.case_id, **facts)
            writes = self.records.accepting(district, kind, message, prior.case_id)
        return Decided(arrival, kind, message, decide(self.referrals, command, context, also_write=writes))

    # -- saving a group ------------------------------------------------------------------------------------

    def _save(self, group: Group, done: Round, attempts: MutableMapping[int, int]) -> None:
        self._save_part(group.take(), done, attempts)

    def _save_part(self, part: list[Decided], done: Round, attempts: MutableMapping[int, int]) -> None:
        """Save `part` in one transaction; if it fails, save each half, down to the one message that fails
        (which is retried, counted or rejected alone). A message whose district is held is left for the
        next pass, with every later message of that district."""
        part = [decided for decided in part if decided.arrival.district not in done.held]
        if not part:
            return
        try:
            saved = save_together(self.referrals, [decided.change for decided in part])
        except DATABASE_AWAY as error:  # nothing was saved; no message is to blame
            log.warning("district inbox waits for the database to save %s messages: %s", len(part),
                        type(error).__name__)
            for decided in part:
                done.held.add(decided.arrival.district)
                done.failures[decided.arrival.sequence] = error
            return
        except Exception as error:  # noqa: BLE001 - isolated by splitting, then retried, counted or rejected
            if len(part) == 1:
                decided = part[0]
                self._failed(decided.arrival, decided.kind, decided.message, error, done, attempts)
                return
            half = len(part) // 2
            self._save_part(part[:half], done, attempts)
            self._save_part(part[half:], done, attempts)
            return
        for decided, one in zip(part, saved, strict=True):
            done.answers[decided.arrival.sequence] = self._accepted(
                decided.arrival.district, decided.kind, decided.message, one.case.id, one.position,
                duplicate=False, case=one.case)

    def _failed(self, arrival: Arrival, kind: str | None, message: DistrictMessage | None, error: Exception,
                done: Round, attempts: MutableMapping[int, int]) -> None:
        """A message that could not be finished: held for the next pass (counted against it unless retrying
        cures it), or, after `give_up_after` counted failures, a ProcessingFailed rejection to resend."""
        done.failures[arrival.sequence] = error
        if isinstance(error, RETRIED_WITHOUT_LIMIT):
            log.warning("district inbox waits to finish message #%s: %s", arrival.sequence, type(error).__name__)
            done.held.add(arrival.district)
            return
        attempt = attempts.get(arrival.sequence, 1)
        # Only the error's type: its text could quote the message, which may hold personal data.
        log.warning("district inbox could not finish message #%s (attempt %s): %s", arrival.sequence, attempt,
                    type(error).__name__)
        if attempt < self.give_up_after:
            attempts[arrival.sequence] = attempt + 1
            done.held.add(arrival.district)
            return
        reason = Reason(field=None, problem=f"casetrack could not process it after {attempt} tries "
                                            f"({type(error).__name__}); resend it", type="ProcessingFailed")
        self._answer_refusal(arrival, kind, [reason], message, done)

    # -- answers -------------------------------------------------------------------------------------------

    def _accepted(self, district: str, kind: str, message: DistrictMessage, case_id: UUID, position: int,
                  duplicate: bool, case=None) -> Answer:
        if isinstance(message, ReferralReceived) and case is None:
            case = self.referrals.get_case(case_id)
        referral = isinstance(message, ReferralReceived)
        body = MessageAccepted(
            district=district, kind=kind, district_ref=message.district_ref, message_id=message.message_id,
            case_id=case_id, position=f"referral:{position}", duplicate=duplicate,
            person_linked=referral and case.person_ref != case.own_person_ref,
            possible_match=referral and bool(case.possible_matches))
        return Answer(accepted_subject(district), body)

    def _answer_refusal(self, arrival: Arrival, kind: str | None, reasons: list[Reason],
                        message: DistrictMessage | None, done: Round) -> None:
        try:
            done.answers[arrival.sequence] = self._reject(arrival.district, kind, arrival.body, arrival.sequence,
                                                          reasons, message)
        except Exception as error:  # noqa: BLE001 - keeping the refusal failed: the next pass tries again
            done.failures[arrival.sequence] = error
            log.warning("district inbox waits to keep refused message #%s: %s", arrival.sequence,
                        type(error).__name__)
            done.held.add(arrival.district)

    def _reject(self, district: str, kind: str | None, body: bytes, sequence: int, reasons: list[Reason],
                message: DistrictMessage | None) -> Answer:
        """Keep the refused message (sealed) with its reasons, once per stream position; answer the district.
        Only valid identifiers are kept, published and listed; the young person it names only as a match key."""
        loose = loose_fields(body) if message is None else {}
        district_ref = message.district_ref if message else loose.get("district_ref")
        message_id = message.message_id if message else loose.get("message_id")
        person = getattr(message, "young_person", None) if message else loose.get("young_person")
        digest = self.referrals.vault.match_keys(person)[CERTAIN_MATCH] if person is not None else None
        sealed, wrapped_key = self.referrals.vault.seal_message(body)
        row = self.records.keep_rejection(sequence, district, kind, district_ref, message_id, reasons, sealed,
                                          wrapped_key, digest)
        rejection = MessageRejected(
            rejection_id=row["rejection_id"], district=district, kind=kind, district_ref=district_ref,
            message_id=message_id, reasons=[Reason(**r) for r in row["reasons"]], stream_sequence=sequence,
            received_at=row["received_at"])
        return Answer(rejected_subject(district), rejection)
