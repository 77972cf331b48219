"""The district inbox: each district message becomes the same command an HTTP route would send, once.

A message ends one of two ways:
- **accepted**: its command's events are saved together with a record of the district's `message_id` (and,
  for a referral, its `district_ref`) in one transaction, so a repeat is recognised and applied once;
- **rejected**: it is kept with every reason (its body sealed, since it may hold personal data). A corrected
  resend is accepted and resolves it.
A failure that retrying cures (the database unreachable or its lock timing out, a concurrent change to the
same case) is retried without limit and never counts against the message; any other failure is retried
`give_up_after` times, then kept as a `ProcessingFailed` rejection the district can resend.
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
    CloseCase,
    CompleteAssessment,
    ConcludeMediation,
    DecideAtPanel,
    DecideEligibility,
    MakeReferral,
    ReopenCase,
    handle,
)
from shared.contracts import EventContext
from shared.contracts.inbound import (
    AssessmentDone,
    CaseClosure,
    DistrictMessage,
    EligibilityDecision,
    MediationEnded,
    MediationStarted,
    MessageAccepted,
    MessageRejected,
    PanelDecided,
    Reason,
    ReferralReceived,
    ReReferral,
)
from shared.errors import DomainError
from shared.subjects import accepted_subject, rejected_subject

log = logging.getLogger(__name__)

RETRIED_WITHOUT_LIMIT = (OperationalError, InterfaceError, IntegrityError, psycopg.OperationalError,
                         ChangedConcurrently)
"""Failures that retrying cures: the store unreachable or its lock timing out, or a concurrent change."""

COMMANDS: dict[type[DistrictMessage], type[BaseModel]] = {
    EligibilityDecision: DecideEligibility,
    MediationStarted: AttemptMediation,
    MediationEnded: ConcludeMediation,
    AssessmentDone: CompleteAssessment,
    PanelDecided: DecideAtPanel,
    CaseClosure: CloseCase,
    ReReferral: ReopenCase,
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


class DistrictInbox:
    """Turns district messages into commands, once each, and answers every one."""

    def __init__(self, referrals: Referrals, schema: str, give_up_after: int = 3):
        self.referrals = referrals
        self.schema = schema
        self.give_up_after = give_up_after
        self.records = InboxRecords(referrals.vault.datastore, schema)

    def prepare(self) -> None:
        self.records.create_tables()

    def receive_all(self, arrivals: Iterable[Arrival], attempts: MutableMapping[int, int]) -> Round:
        """Apply or reject each message in order. A district whose message cannot be finished now is held:
        its later messages wait for the next pass (so its order holds); other districts carry on.
        `attempts` counts the failures that count against each message (by stream sequence)."""
        done = Round()
        for arrival in arrivals:
            if arrival.district in done.held:
                continue
            try:
                done.answers[arrival.sequence] = self.receive(
                    arrival.subject, arrival.body, arrival.sequence, attempts.get(arrival.sequence, 1),
                    arrival.headers)
            except RETRIED_WITHOUT_LIMIT as error:
                log.warning("district inbox waits to finish message #%s: %s", arrival.sequence, type(error).__name__)
                done.held.add(arrival.district)
            except Exception as error:  # noqa: BLE001 - counted; `receive` rejects it after `give_up_after`
                # Only the error's type: its text could quote the message, which may hold personal data.
                log.warning("district inbox could not finish message #%s (attempt %s): %s", arrival.sequence,
                            attempts.get(arrival.sequence, 1), type(error).__name__)
                attempts[arrival.sequence] = attempts.get(arrival.sequence, 1) + 1
                done.held.add(arrival.district)
        return done

    def receive(self, subject: str, body: bytes, sequence: int, attempt: int = 1,
                headers: Mapping[str, Any] | None = None) -> Answer:
        """Apply or reject one district message; returns the answer to publish. Safe to call again."""
        district, kind = district_and_kind(subject)
        message: DistrictMessage | None = None
        try:
            message = read(subject, body, headers)
            return self._apply(district, kind, message)
        except MessageRefused as refusal:
            return self._reject(district, kind, body, sequence, refusal.reasons, message)
        except RETRIED_WITHOUT_LIMIT:
            raise
        except DomainError as error:
            reason = Reason(field=error.field, problem=str(error), type=type(error).__name__)
            return self._reject(district, kind, body, sequence, [reason], message)
        except Exception as error:
            if attempt < self.give_up_after:
                raise
            reason = Reason(field=None, problem=f"casetrack could not process it after {attempt} tries "
                                                f"({type(error).__name__}); resend it", type="ProcessingFailed")
            return self._reject(district, kind, body, sequence, [reason], message)

    def _apply(self, district: str, kind: str, message: DistrictMessage) -> Answer:
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
            command = MakeReferral(district=district, **facts)
            writes = [self.records.opening(district, message.district_ref, command.case_id),
                      *self.records.accepting(district, kind, message, command.case_id)]
        else:
            if prior.case_id is None:
                raise MessageRefused([Reason(field="district_ref", type="UnknownCase", problem=(
                    f"no case with reference {message.district_ref!r} in {district}: send its referral first"))])
            command = COMMANDS[type(message)](case_id=prior.case_id, **facts)
            writes = self.records.accepting(district, kind, message, prior.case_id)
        saved = handle(self.referrals, command, context, also_write=writes)
        return self._accepted(district, kind, message, saved.case.id, saved.position, duplicate=False,
                              case=saved.case)

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

    def _reject(self, district: str, kind: str | None, body: bytes, sequence: int, reasons: list[Reason],
                message: DistrictMessage | None) -> Answer:
        """Keep the refused message (sealed) with its reasons, once per stream position; answer the district."""
        loose = loose_fields(body) if message is None else {}
        district_ref = message.district_ref if message else loose.get("district_ref")
        message_id = message.message_id if message else loose.get("message_id")
        sealed, wrapped_key = self.referrals.vault.seal_message(body)
        row = self.records.keep_rejection(sequence, district, kind, district_ref, message_id, reasons, sealed,
                                          wrapped_key)
        rejection = MessageRejected(
            rejection_id=row["rejection_id"], district=district, kind=kind, district_ref=district_ref,
            message_id=message_id, reasons=[Reason(**r) for r in row["reasons"]], stream_sequence=sequence,
            received_at=row["received_at"])
        return Answer(rejected_subject(district), rejection)
