"""The outbox relay: publishes a service's stored events to JetStream, in store order, none lost.

It reads a batch from the store's notification log after the last recorded position, publishes every
event of the batch with its ack pipelined (`Nats-Msg-Id` = event id, and the event's position in a
header), and records the batch's last position only once JetStream has acknowledged all of them. A
failed or missing ack means the whole batch is published again from the recorded position: JetStream
drops the repeats it already holds by their `Nats-Msg-Id`. On start it resumes from the later of the
recorded position and the position on the stream's last message, if that message is this store's event at
that position (a crash between publishing and recording publishes nothing twice; a message some peer put on
the stream cannot make it skip).

When the service stops, the relay ends its round and `flush` publishes what is left, up to a deadline; what is
still unpublished then is published at the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import asyncpg
from eventsourcing.persistence import Notification
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from opentelemetry import trace

from shared.eventstore import ServiceApplication
from shared.logs import Trouble
from shared.subjects import POSITION_HEADER, stream_name, subject_of
from shared.telemetry import context_from, current_traceparent, trace_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class OutboxRelay:
    def __init__(self, service: str, store: ServiceApplication, nats: NATS, pool: asyncpg.Pool,
                 schema: str, batch_size: int = 1_000, poll_seconds: float = 0.5, ack_seconds: float = 10.0):
        self.service = service
        self.store = store
        self.js = nats.jetstream()
        self.pool = pool
        self.schema = schema
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.ack_seconds = ack_seconds
        """How long a batch's acks may take before the batch counts as failed (and is published again)."""
        self.position = 0
        self.position_recorded = 0
        """The position recorded in PostgreSQL when the relay started."""
        """The last position JetStream has acknowledged (everything up to it is on the stream)."""
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._trouble = Trouble(log, f"the outbox relay of {service}")

    async def prepare(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.schema}.relay_position ("
                " stream text PRIMARY KEY, position bigint NOT NULL)"
            )
            recorded = await conn.fetchval(
                f"SELECT position FROM {self.schema}.relay_position WHERE stream = $1", stream_name(self.service)
            )
        self.position_recorded = recorded or 0
        self.position = max(self.position_recorded, await self._last_published_position())
        self._loop = asyncio.get_running_loop()

    async def _last_published_position(self) -> int:
        name = stream_name(self.service)
        try:
            info = await self.js.stream_info(name)
        except NotFoundError:
            return 0
        if not info.state.messages:
            return 0
        try:
            message = await self.js.get_msg(name, info.state.last_seq)
        except NotFoundError:
            return 0
        return await self._confirmed_in_store(message)

    async def _confirmed_in_store(self, message) -> int:
        """The position the stream's last message claims, only if this store holds that very event there: the
        resume position comes from the relay's own store, never from what a peer could have put on the stream
        (a message with a made-up position would otherwise make the relay skip events)."""
        headers = message.headers or {}
        try:
            claimed = int(headers.get(POSITION_HEADER, 0))
        except ValueError:
            claimed = 0
        if claimed <= self.position_recorded:
            return 0
        found = await asyncio.to_thread(self.store.recorder.select_notifications, claimed, 1)
        if found and found[0].id == claimed and json.loads(found[0].state).get("event_id") == headers.get(
                "Nats-Msg-Id"):
            return claimed
        log.warning("the last message on %s claims position %s, which is not this store's event there: "
                    "resuming from the recorded position", stream_name(self.service), claimed)
        return 0

    def nudge(self) -> None:
        """Tell the relay there is something new to publish; safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        """End `run` after the batch in hand (then `flush` publishes the rest)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                while await self.publish_pending() and not self._stopping:
                    pass
                self._trouble.ended()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store or NATS is unavailable: try again on the next tick
                self._trouble.failed(error)
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def flush(self) -> bool:
        """Publish everything saved so far; True once nothing is left. (The caller bounds how long it may take.)"""
        while await self.publish_pending():
            pass
        return True

    async def publish_pending(self) -> int:
        """Publish the next batch, acks pipelined; once all are acknowledged, record the batch's last position.

        Returns how many events were published. If any ack fails or does not come within `ack_seconds`,
        this raises and the position stays where it was, so the batch is published again."""
        notifications: Sequence[Notification] = await asyncio.to_thread(
            self.store.recorder.select_notifications, self.position + 1, self.batch_size
        )
        if not notifications:
            return 0
        acks: list[asyncio.Future] = []
        try:
            for notification in notifications:
                acks.append(await self._publish(notification))
            await asyncio.wait_for(asyncio.gather(*acks), self.ack_seconds)
        except BaseException:
            for ack in acks:  # frees nats-py's window of pending publishes
                ack.cancel()
            raise
        await self._record_position(notifications[-1].id)
        self.position = notifications[-1].id
        return len(notifications)

    async def _publish(self, notification: Notification) -> asyncio.Future:
        event = json.loads(notification.state)
        subject = subject_of(self.service, event["district"], event["event_type"])
        with tracer.start_as_current_span(
            f"publish {event['event_type']}", context=context_from(trace_headers(event.get("traceparent"))),
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.destination": subject, "casetrack.position": notification.id},
        ):
            headers = {"Nats-Msg-Id": event["event_id"], POSITION_HEADER: str(notification.id)}
            headers.update(trace_headers(current_traceparent()))
            return await self.js.publish_async(subject, notification.state, headers=headers)

    async def _record_position(self, position: int) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {self.schema}.relay_position (stream, position) VALUES ($1, $2)"
                " ON CONFLICT (stream) DO UPDATE SET position = EXCLUDED.position",
                stream_name(self.service), position,
            )

    async def lag(self) -> int:
        latest = await asyncio.to_thread(self.store.position)
        return max(latest - self.position, 0)
