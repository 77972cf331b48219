"""The district inbox: district housing systems' messages on `casetrack.ingest.<district>.<kind>` become case events.

Each message is taken from the CASETRACK_INGEST stream one at a time, in order, and ends one of two ways:
- **accepted**: its change is saved on the case together with a record of the district's `message_id`
  (and, for a referral, its `district_ref`) in one transaction, so a repeat is recognised and applied
  once; the answer goes to `casetrack.accepted.<district>`.
- **rejected**: it is kept with every reason (its body sealed, since it may hold personal data) and the
  reasons go to `casetrack.rejected.<district>`. A corrected resend is accepted and resolves it.
Then the message is erased from the stream (NATS overwrites it), so personal data sent by a district
lives on only in the vault. A failure that retrying will cure (the database unreachable or its lock
timing out, a concurrent change to the same case) is retried without limit; any other failure is retried
`give_up_after` times, then kept as a `ProcessingFailed` rejection the district can resend, so one bad
message does not hold up every district for long.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from fastapi import APIRouter, HTTPException, Request
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as JetStreamAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError

from shared.contracts import EventContext
from shared.contracts.inbound import (
    MESSAGE_KINDS,
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
from shared.contracts.vocabulary import DISTRICTS
from shared.eventstore import SqlWrite
from shared.service import ServiceRuntime
from shared.subjects import PREFIX, accepted_subject, rejected_subject
from services.referral.application import CaseNotFound, PersonalDataNeeded, Referrals, UnknownPerson
from services.referral.domain import Case, CaseConflict, ReferralRefused

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, IntegrityError, psycopg.OperationalError)
"""Failures that retrying cures: the store unreachable or its lock timing out, or a concurrent change."""

INGEST_STREAM = "CASETRACK_INGEST"
INGEST_SUBJECTS = f"{PREFIX}.ingest.>"
DURABLE = "referral-district-inbox"


def inbox_ddl(schema: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.district_cases ("
        " district text NOT NULL, district_ref text NOT NULL, case_id uuid NOT NULL UNIQUE,"
        " PRIMARY KEY (district, district_ref))",
        f"CREATE TABLE IF NOT EXISTS {schema}.district_messages ("
        " district text NOT NULL, message_id text NOT NULL, kind text NOT NULL, district_ref text NOT NULL,"
        " case_id uuid NOT NULL, accepted_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (district, message_id))",
        f"CREATE TABLE IF NOT EXISTS {schema}.rejected_messages ("
        " rejection_id uuid PRIMARY KEY, stream_sequence bigint NOT NULL UNIQUE, district text NOT NULL,"
        " kind text, district_ref text, message_id text, reasons jsonb NOT NULL,"
        " sealed_body bytea, wrapped_body_key bytea, received_at timestamptz NOT NULL DEFAULT now(),"
        " resolved_by_message_id text, resolved_at timestamptz)",
        f"CREATE INDEX IF NOT EXISTS rejected_messages_by_ref ON {schema}.rejected_messages"
        " (district, district_ref) WHERE resolved_at IS NULL",
    ]


class MessageRefused(Exception):
    """The district message cannot be applied; `reasons` says every way it is wrong."""

    def __init__(self, reasons: list[Reason]):
        super().__init__("; ".join(f"{r.field or 'message'}: {r.problem}" for r in reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Answer:
    """What the inbox tells the district about one message."""

    subject: str
    body: BaseModel


class DistrictInbox:
    """Turns district messages into case events, once each, and answers every one."""

    def __init__(self, referrals: Referrals, schema: str, on_saved=lambda: None, give_up_after: int = 3):
        """`on_saved` is called on the event loop after each message (the runtime nudges its relay)."""
        self.referrals = referrals
        self.schema = schema
        self.on_saved = on_saved
        self.give_up_after = give_up_after
        self._js: JetStreamContext | None = None

    # -- wiring --------------------------------------------------------------------------------

    async def prepare(self, js: JetStreamContext) -> None:
        self._js = js
        await asyncio.to_thread(self._create_tables)
        # Recreated at each start: a message left in flight by a crash is offered again at once, not after
        # ack_wait. Answered messages are erased from the stream, so what is left is what is unanswered
        # (and a message answered just before a crash is recognised as already applied).
        try:
            await js.delete_consumer(INGEST_STREAM, DURABLE)
        except NotFoundError:
            pass
        await js.add_consumer(INGEST_STREAM, ConsumerConfig(
            durable_name=DURABLE,
            filter_subject=INGEST_SUBJECTS,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=JetStreamAckPolicy.EXPLICIT,
            ack_wait=60,
            max_deliver=-1,  # never give up on a message: see `give_up_after`
            max_ack_pending=1,  # one at a time, so a district's messages apply in the order sent
        ))

    def subscribe(self, broker: NatsBroker) -> None:
        broker.subscriber(
            INGEST_SUBJECTS,
            stream=JStream(INGEST_STREAM, declare=False),
            durable=DURABLE,
            pull_sub=PullSub(batch_size=1, timeout=1.0),
            ack_policy=AckPolicy.MANUAL,
            title="district inbox",
            description="District housing systems' referrals and case updates: casetrack.ingest.<district>.<kind>",
        )(self.handle)

    def _create_tables(self) -> None:
        with self.referrals.vault.datastore.transaction(commit=True) as cursor:
            for statement in inbox_ddl(self.schema):
                cursor.execute(statement)

    # -- one message ---------------------------------------------------------------------------

    async def handle(self, msg: NatsMessage) -> None:
        metadata = msg.raw_message.metadata
        sequence, attempt = metadata.sequence.stream, metadata.num_delivered
        try:
            answer = await asyncio.to_thread(self.receive, msg.raw_message.subject, msg.body, sequence, attempt)
            self.on_saved()
            # One answer per ingest message: a redelivery's answer is dropped by JetStream's duplicate window.
            await self._js.publish(answer.subject, answer.body.model_dump_json().encode(),
                                   headers={"Nats-Msg-Id": f"answer-to-ingest-{sequence}"})
            await self._js.delete_msg(INGEST_STREAM, sequence)  # erased: NATS overwrites the stored message
        except Exception as error:  # noqa: BLE001 - retried: the message stays on the stream until answered
            # Only the error's type: its text could quote the message, which may hold personal data.
            log.warning("district inbox could not finish message #%s (attempt %s): %s", sequence, attempt,
                        type(error).__name__)
            await msg.nack(delay=min(0.2 * 2 ** attempt, 30.0))
            return
        await msg.ack()

    def receive(self, subject: str, body: bytes, sequence: int, attempt: int = 1) -> Answer:
        """Apply or reject one district message; returns the answer to publish. Safe to call again."""
        tokens = subject.split(".")
        district = tokens[2] if len(tokens) > 2 else "unknown"
        kind = tokens[3] if len(tokens) == 4 else None
        payload: Any = None
        try:
            message = self._read(tokens, body)
            payload = message
            return self._apply(district, kind, message)
        except MessageRefused as refusal:
            return self._reject(district, kind, body, sequence, refusal.reasons, payload)
        except TRANSIENT:
            raise  # retried until it works: nothing is lost while the database is away
        except Exception as error:
            if attempt < self.give_up_after:
                raise
            reason = Reason(field=None, problem=f"casetrack could not process it after {attempt} tries "
                                                f"({type(error).__name__}); resend it", type="ProcessingFailed")
            return self._reject(district, kind, body, sequence, [reason], payload)

    def _read(self, tokens: list[str], body: bytes) -> DistrictMessage:
        reasons = []
        if len(tokens) != 4:
            raise MessageRefused([Reason(field=None, problem="publish on casetrack.ingest.<district>.<kind>",
                                         type="BadSubject")])
        _, _, district, kind = tokens
        if district not in DISTRICTS:
            reasons.append(Reason(field=None, problem=f"unknown district {district!r}", type="UnknownDistrict"))
        model = MESSAGE_KINDS.get(kind)
        if model is None:
            reasons.append(Reason(field=None, problem=f"unknown kind {kind!r}; kinds: {', '.join(MESSAGE_KINDS)}",
                                  type="UnknownKind"))
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise MessageRefused([*reasons, Reason(field=None, problem=f"not JSON: {type(error).__name__}",
                                                   type="NotJson")]) from None
        if model is None:
            raise MessageRefused(reasons)
        try:
            message = model.model_validate(data)
        except ValidationError as error:
            reasons += [Reason(field=".".join(str(part) for part in e["loc"]) or None, problem=e["msg"],
                               type=e["type"]) for e in error.errors(include_input=False, include_url=False)]
        if reasons:
            raise MessageRefused(reasons)
        return message

    def _apply(self, district: str, kind: str, message: DistrictMessage) -> Answer:
        done = self._already_applied(district, message.message_id)
        if done is not None:  # a resend, or a redelivery after the change was saved: applied once
            case_id, done_kind, done_ref = done
            if (done_kind, done_ref) != (kind, message.district_ref):
                raise MessageRefused([Reason(field="message_id", type="MessageIdReused", problem=(
                    f"message_id {message.message_id!r} was already used for a {done_kind} message about "
                    f"{done_ref!r}: give each message an id of its own"))])
            return self._accepted(district, kind, message, case_id, self.referrals.position(), duplicate=True)
        case_id = self._case_of(district, message.district_ref)
        context = EventContext(actor=f"district:{district}")
        if isinstance(message, ReferralReceived):
            if case_id is not None:  # the same district reference again: applied once
                return self._accepted(district, kind, message, case_id, self.referrals.position(), duplicate=True)
            case_id = uuid4()
            writes = [SqlWrite(f"INSERT INTO {self.schema}.district_cases (district, district_ref, case_id)"
                               " VALUES (%s, %s, %s)", (district, message.district_ref, case_id))]
            writes += self._accepting(district, kind, message, case_id)
            position = self._refusing_rule_breaks(lambda: self.referrals.make_referral(
                context, district=district, gateway=message.gateway, cohort=message.cohort,
                young_person=message.young_person, presenting_reason=message.presenting_reason,
                flags=message.flags, occurred_at=message.occurred_at, case_id=case_id, also_write=writes)[1])
        else:
            if case_id is None:
                raise MessageRefused([Reason(field="district_ref", type="UnknownCase", problem=(
                    f"no case with reference {message.district_ref!r} in {district}: send its referral first"))])
            writes = self._accepting(district, kind, message, case_id)
            position = self._refusing_rule_breaks(lambda: self._change(context, case_id, message, writes))
        return self._accepted(district, kind, message, case_id, position, duplicate=False)

    def _change(self, context: EventContext, case_id: UUID, message: DistrictMessage, writes: list[SqlWrite]) -> int:
        facts = dict(message)
        del facts["district_ref"], facts["message_id"]
        change = {
            EligibilityDecision: Case.decide_eligibility,
            MediationStarted: Case.attempt_mediation,
            MediationEnded: Case.conclude_mediation,
            AssessmentDone: Case.complete_assessment,
            PanelDecided: Case.decide_at_panel,
            CaseClosure: Case.close,
        }.get(type(message))
        if change is not None:
            return self.referrals.change_case(context, case_id, change, also_write=writes, **facts)
        assert isinstance(message, ReReferral)
        return self.referrals.reopen_case(context, case_id, young_person=message.young_person,
                                          presenting_reason=message.presenting_reason, cohort=message.cohort,
                                          occurred_at=message.occurred_at, also_write=writes)

    @staticmethod
    def _refusing_rule_breaks(write) -> int:
        try:
            return write()
        except (ReferralRefused, PersonalDataNeeded, UnknownPerson, CaseNotFound) as error:
            raise MessageRefused([Reason(field=None, problem=str(error), type=type(error).__name__)]) from None
        except CaseConflict as error:
            raise MessageRefused([Reason(field=None, problem=str(error), type=type(error).__name__)]) from None

    def _accepting(self, district: str, kind: str, message: DistrictMessage, case_id: UUID) -> list[SqlWrite]:
        """The writes saved with the change: the message is applied, and earlier refusals it corrects resolved."""
        return [
            SqlWrite(f"INSERT INTO {self.schema}.district_messages (district, message_id, kind, district_ref, case_id)"
                     " VALUES (%s, %s, %s, %s, %s)", (district, message.message_id, kind, message.district_ref, case_id)),
            SqlWrite(f"UPDATE {self.schema}.rejected_messages SET resolved_at = now(), resolved_by_message_id = %s,"
                     " sealed_body = NULL, wrapped_body_key = NULL"
                     " WHERE district = %s AND resolved_at IS NULL AND (message_id = %s"
                     " OR (district_ref = %s AND kind = %s))",
                     (message.message_id, district, message.message_id, message.district_ref, kind)),
        ]

    def _accepted(self, district: str, kind: str, message: DistrictMessage, case_id: UUID, position: int,
                  duplicate: bool) -> Answer:
        body = MessageAccepted(district=district, kind=kind, district_ref=message.district_ref,
                               message_id=message.message_id, case_id=case_id, position=f"referral:{position}",
                               duplicate=duplicate)
        return Answer(accepted_subject(district), body)

    def _reject(self, district: str, kind: str | None, body: bytes, sequence: int, reasons: list[Reason],
                message: DistrictMessage | None) -> Answer:
        """Keep the refused message (sealed) with its reasons, once per stream position; answer the district."""
        parsed = _loose_fields(body)
        district_ref = message.district_ref if message else parsed.get("district_ref")
        message_id = message.message_id if message else parsed.get("message_id")
        sealed, wrapped_key = self.referrals.vault.seal_message(body)
        with self.referrals.vault.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {self.schema}.rejected_messages (rejection_id, stream_sequence, district, kind,"
                " district_ref, message_id, reasons, sealed_body, wrapped_body_key)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (stream_sequence) DO NOTHING",
                (uuid4(), sequence, district, kind, district_ref, message_id,
                 json.dumps([r.model_dump() for r in reasons]), sealed, wrapped_key))
            cursor.execute(f"SELECT rejection_id, received_at, reasons FROM {self.schema}.rejected_messages"
                           " WHERE stream_sequence = %s", (sequence,))
            row = cursor.fetchone()
        rejection = MessageRejected(
            rejection_id=row["rejection_id"], district=district, kind=kind, district_ref=district_ref,
            message_id=message_id, reasons=[Reason(**r) for r in row["reasons"]], stream_sequence=sequence,
            received_at=row["received_at"])
        return Answer(rejected_subject(district), rejection)

    def _already_applied(self, district: str, message_id: str) -> tuple[UUID, str, str] | None:
        """(case_id, kind, district_ref) of the message applied with this id, if one was."""
        with self.referrals.vault.datastore.transaction() as cursor:
            cursor.execute(f"SELECT case_id, kind, district_ref FROM {self.schema}.district_messages"
                           " WHERE district = %s AND message_id = %s", (district, message_id))
            row = cursor.fetchone()
        return (row["case_id"], row["kind"], row["district_ref"]) if row else None

    def _case_of(self, district: str, district_ref: str) -> UUID | None:
        with self.referrals.vault.datastore.transaction() as cursor:
            cursor.execute(f"SELECT case_id FROM {self.schema}.district_cases"
                           " WHERE district = %s AND district_ref = %s", (district, district_ref))
            row = cursor.fetchone()
        return row["case_id"] if row else None

    def destroy_old_refusals(self, retention_days: int) -> int:
        """Destroy the sealed copies of refused messages older than `retention_days` that no corrected resend
        resolved (their reasons stay); returns how many. The table is rewritten so no old row keeps them."""
        with self.referrals.vault.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"UPDATE {self.schema}.rejected_messages SET sealed_body = NULL, wrapped_body_key = NULL"
                " WHERE sealed_body IS NOT NULL AND received_at < now() - make_interval(days => %s)",
                (retention_days,))
            destroyed = cursor.rowcount
        if destroyed:
            self.referrals.vault.rewrite_tables("rejected_messages")
        return destroyed

    async def keep_destroying_old_refusals(self, retention_days: int, every_seconds: float = 3600) -> None:
        while True:
            try:
                destroyed = await asyncio.to_thread(self.destroy_old_refusals, retention_days)
                if destroyed:
                    log.info("destroyed the kept copies of %s refused district messages older than %s days",
                             destroyed, retention_days)
            except Exception as error:  # noqa: BLE001 - tried again at the next round
                log.warning("could not destroy old refused messages: %s", type(error).__name__)
            await asyncio.sleep(every_seconds)

    def rejected_messages(self, district: str, unresolved_only: bool) -> list[dict[str, Any]]:
        """A district's refused messages with their reasons (never their bodies)."""
        with self.referrals.vault.datastore.transaction() as cursor:
            cursor.execute(
                f"SELECT rejection_id, kind, district_ref, message_id, reasons, stream_sequence, received_at,"
                f" resolved_at, resolved_by_message_id FROM {self.schema}.rejected_messages WHERE district = %s"
                + (" AND resolved_at IS NULL" if unresolved_only else "") + " ORDER BY stream_sequence",
                (district,))
            return [{key: (value.isoformat() if isinstance(value, datetime) else
                           str(value) if isinstance(value, UUID) else value) for key, value in row.items()}
                    for row in cursor.fetchall()]


async def open_district_inbox(runtime: ServiceRuntime, js: JetStreamContext) -> None:
    """Start hook of the referral service: the inbox subscribes before the broker starts, and old copies
    of refused messages are destroyed now and every hour."""
    inbox = DistrictInbox(runtime.store, runtime.schema, on_saved=lambda: runtime.saved(0))
    await inbox.prepare(js)
    inbox.subscribe(runtime.broker)
    runtime.in_background(inbox.keep_destroying_old_refusals(runtime.settings.refused_message_retention_days),
                          "refusal-retention")


router = APIRouter(tags=["district integration"])


@router.get("/districts/{district}/rejected-messages")
def rejected_messages(district: str, request: Request, unresolved: bool = True) -> list[dict]:
    """The district's refused messages with every reason, oldest first; `unresolved=false` adds those a
    corrected resend has since resolved. Message bodies are never shown (they may hold personal data)."""
    if district not in DISTRICTS:
        raise HTTPException(422, [{"loc": ["path", "district"], "msg": f"unknown district {district!r}",
                                   "type": "UnknownDistrict"}])
    runtime: ServiceRuntime = request.app.state.runtime
    return DistrictInbox(runtime.store, runtime.schema).rejected_messages(district, unresolved_only=unresolved)


def _loose_fields(body: bytes) -> dict[str, str]:
    """district_ref and message_id from a body that failed validation, if they are plain short strings."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: data[key] for key in ("district_ref", "message_id")
            if isinstance(data.get(key), str) and 0 < len(data[key]) <= 100}
