"""Idempotent consumers: each JetStream message is applied once, in stream order, or dead-lettered.

The position (last stream sequence applied) is written in the same PostgreSQL transaction as the
effect, so a redelivered message is recognised and skipped. The JetStream consumer is recreated at
start from that position: PostgreSQL, not JetStream, knows how far a projection has got.
One message is in flight at a time, so order holds across redeliveries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import asyncpg
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as JetStreamAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import trace
from pydantic import ValidationError

from shared.contracts import Event, UnknownEventType, parse_event
from shared.subjects import POSITION_HEADER, service_subjects, stream_name
from shared.telemetry import context_from

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class Delivery:
    """Where a message sits: its stream sequence, its position in the publishing store, its attempts."""

    stream: str
    sequence: int
    source_position: int
    subject: str
    num_delivered: int


class Projection(Protocol):
    async def apply(self, conn: asyncpg.Connection, event: Event, delivery: Delivery) -> None: ...


class EventCannotBeApplied(Exception):
    """The projection can never apply this event (retrying will not help): dead-letter it."""


class Verdict(Enum):
    ACK = "ack"
    NAK = "nak"


def tracking_ddl(schema: str) -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE TABLE IF NOT EXISTS {schema}.consumer_position ("
        " consumer text NOT NULL, stream text NOT NULL, sequence bigint NOT NULL,"
        " source_position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (consumer, stream))",
        f"CREATE TABLE IF NOT EXISTS {schema}.dead_letters ("
        " id bigserial PRIMARY KEY, consumer text NOT NULL, stream text NOT NULL, sequence bigint NOT NULL,"
        " subject text NOT NULL, event_id text, reason text NOT NULL, body bytea NOT NULL,"
        " headers jsonb NOT NULL, attempts int NOT NULL, dead_lettered_at timestamptz NOT NULL DEFAULT now())",
    ]


class IdempotentConsumer:
    """Feeds one service's event stream into a projection, exactly once and in order."""

    def __init__(self, consumer: str, source_service: str, projection: Projection, pool: asyncpg.Pool,
                 schema: str, max_deliver: int = 5, ack_wait_seconds: float = 30.0):
        self.consumer = consumer
        self.source_service = source_service
        self.stream = stream_name(source_service)
        self.durable = f"{consumer}-{source_service}"
        self.projection = projection
        self.pool = pool
        self.schema = schema
        self.max_deliver = max_deliver
        self.ack_wait_seconds = ack_wait_seconds
        self.sequence = 0
        self.source_position = 0
        self._advanced = asyncio.Condition()
        self._js: JetStreamContext | None = None

    async def prepare(self, js: JetStreamContext) -> None:
        """Load the recorded position and (re)create the JetStream consumer just after it."""
        self._js = js
        async with self.pool.acquire() as conn:
            for statement in tracking_ddl(self.schema):
                await conn.execute(statement)
            row = await conn.fetchrow(
                f"SELECT sequence, source_position FROM {self.schema}.consumer_position"
                " WHERE consumer = $1 AND stream = $2", self.consumer, self.stream)
        if row:
            self.sequence, self.source_position = row["sequence"], row["source_position"]
        try:
            await js.delete_consumer(self.stream, self.durable)
        except NotFoundError:
            pass
        await js.add_consumer(self.stream, ConsumerConfig(
            durable_name=self.durable,
            filter_subject=service_subjects(self.source_service),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.sequence + 1,
            ack_policy=JetStreamAckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_seconds,
            max_deliver=self.max_deliver,
            max_ack_pending=1,
        ))

    def subscribe(self, broker: NatsBroker) -> None:
        subscriber = broker.subscriber(
            service_subjects(self.source_service),
            stream=JStream(self.stream, declare=False),
            durable=self.durable,
            pull_sub=PullSub(batch_size=1, timeout=1.0),
            ack_policy=AckPolicy.MANUAL,
            title=f"{self.durable}",
            description=f"{self.consumer} applies the {self.source_service} service's events",
        )
        subscriber(self.handle)

    async def handle(self, msg: NatsMessage) -> None:
        metadata = msg.raw_message.metadata
        headers = dict(msg.headers or {})
        delivery = Delivery(
            stream=metadata.stream,
            sequence=metadata.sequence.stream,
            source_position=int(headers.get(POSITION_HEADER, 0)),
            subject=msg.raw_message.subject,
            num_delivered=metadata.num_delivered,
        )
        verdict = await self.receive(delivery, msg.body, headers)
        if verdict is Verdict.ACK:
            await msg.ack()
        else:
            await msg.nack(delay=min(0.1 * 2 ** delivery.num_delivered, 5.0))

    async def receive(self, delivery: Delivery, body: bytes, headers: dict[str, str]) -> Verdict:
        if delivery.sequence <= self.sequence:
            return Verdict.ACK  # applied before: a redelivery
        with tracer.start_as_current_span(
            f"apply {delivery.subject.rsplit('.', 1)[-1]} in {self.consumer}",
            context=context_from(headers), kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.destination": delivery.subject, "casetrack.stream_sequence": delivery.sequence},
        ):
            try:
                event = parse_event(body)
            except (ValueError, ValidationError, UnknownEventType) as error:
                await self._dead_letter(delivery, body, headers, f"unreadable event: {_one_line(error)}")
                return Verdict.ACK
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await self.projection.apply(conn, event, delivery)
                    await self._record_position(conn, delivery)
            except EventCannotBeApplied as error:
                await self._dead_letter(delivery, body, headers, f"cannot be applied: {error}")
                return Verdict.ACK
            except Exception as error:  # noqa: BLE001 - retried by JetStream, then dead-lettered
                if delivery.num_delivered >= self.max_deliver:
                    await self._dead_letter(delivery, body, headers,
                                            f"failed {delivery.num_delivered} times: {_one_line(error)}")
                    return Verdict.ACK
                log.warning("%s could not apply %s #%s (attempt %s): %s", self.consumer, self.stream,
                            delivery.sequence, delivery.num_delivered, _one_line(error))
                return Verdict.NAK
        await self._advance(delivery)
        return Verdict.ACK

    async def _record_position(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        await conn.execute(
            f"INSERT INTO {self.schema}.consumer_position (consumer, stream, sequence, source_position)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (consumer, stream) DO UPDATE"
            " SET sequence = EXCLUDED.sequence, source_position = EXCLUDED.source_position, updated_at = now()",
            self.consumer, self.stream, delivery.sequence, delivery.source_position)

    async def _dead_letter(self, delivery: Delivery, body: bytes, headers: dict[str, str], reason: str) -> None:
        log.error("%s dead-lettered %s #%s: %s", self.consumer, self.stream, delivery.sequence, reason)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {self.schema}.dead_letters"
                " (consumer, stream, sequence, subject, event_id, reason, body, headers, attempts)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                self.consumer, self.stream, delivery.sequence, delivery.subject, headers.get("Nats-Msg-Id"),
                reason, body, json.dumps(headers), delivery.num_delivered)
            await self._record_position(conn, delivery)
        await self._advance(delivery)

    async def _advance(self, delivery: Delivery) -> None:
        async with self._advanced:
            self.sequence = delivery.sequence
            self.source_position = max(self.source_position, delivery.source_position)
            self._advanced.notify_all()

    async def wait_for(self, source_position: int, timeout: float) -> bool:
        """Wait until every event up to `source_position` of the source store is applied."""
        async with self._advanced:
            try:
                await asyncio.wait_for(
                    self._advanced.wait_for(lambda: self.source_position >= source_position), timeout)
            except TimeoutError:
                return False
        return True

    async def lag(self) -> int:
        if self._js is None:
            return 0
        info = await self._js.consumer_info(self.stream, self.durable)
        return info.num_pending + info.num_ack_pending


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:2000]
