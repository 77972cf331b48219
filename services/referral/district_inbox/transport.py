"""The district inbox on NATS: batches taken from the CASETRACK_INGEST stream, answers published back.

One pull consumer takes up to `batch_size` pending messages at a time, in stream order. The batch goes to the
inbox in one thread hop (which saves its accepted messages in a few transactions); districts whose message
cannot be finished yet (the database away, a concurrent change) are held and tried again while the others'
answers stand, so each district's messages apply in the order sent and nothing waits on another district's bad
message. Once every message of the batch is answered, the answers are published with their acks pipelined, the
messages are erased from the stream (NATS overwrites them, so personal data sent by a district lives on only
in the vault), then acked. That answering runs while the next batch is applied; batches are answered in the
order they were applied. While a batch waits, its messages are kept in progress, so JetStream never offers
them to anyone else.
A crash at any point leaves the unacked messages to be offered again: the inbox recognises what it
already applied, and the answers' `Nats-Msg-Id` (keyed with a service secret, so no district can forge one
ahead of it) lets JetStream drop a repeat.

When the service stops, the inbox takes no new batch, and answers, erases and acks what it applied before it
returns (the service bounds how long that may take). Its backlog (messages waiting or in hand) and the age of
the oldest unanswered message are among the service's vital signs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from services.referral.district_inbox.inbox import Answer, Arrival, DistrictInbox
from shared import nats_access
from shared.logs import Trouble
from shared.streams import next_messages
from shared.subjects import PREFIX

log = logging.getLogger(__name__)

INGEST_STREAM = nats_access.INGEST_STREAM
INGEST_SUBJECTS = f"{PREFIX}.ingest.>"
DURABLE = nats_access.DISTRICT_INBOX_CONSUMER
ACK_WAIT_SECONDS = 60
LONGEST_PAUSE_SECONDS = 5.0
STOP_CHECK_SECONDS = 1.0
"""The longest an idle inbox waits for a message before it looks whether it should stop."""


class InboxTransport:
    """Feeds the inbox from JetStream in batches and answers each district."""

    def __init__(self, inbox: DistrictInbox, js: JetStreamContext, on_saved: Callable[[], object] = lambda: None,
                 batch_size: int = 256, longest_pause_seconds: float = LONGEST_PAUSE_SECONDS,
                 answer_key: bytes | None = None):
        """`on_saved` is called on the event loop after each batch (the runtime nudges its relay); a batch
        that must wait tries again after a pause that doubles up to `longest_pause_seconds`. `answer_key` keys
        the answers' message ids (a random one if not given: repeats after a restart are then not dropped)."""
        self.inbox = inbox
        self.answer_key = answer_key or secrets.token_bytes(32)
        self.longest_pause = longest_pause_seconds
        self.js = js
        self.on_saved = on_saved
        self.batch_size = batch_size
        self._stopping = False

    async def prepare(self) -> None:
        # Recreated at each start: a message left in flight by a crash is offered again at once, not after
        # ack_wait. Answered messages are erased from the stream, so what is left is what is unanswered
        # (and a message answered just before a crash is recognised as already applied).
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(INGEST_STREAM, DURABLE)
        await self.js.add_consumer(INGEST_STREAM, ConsumerConfig(
            durable_name=DURABLE,
            filter_subject=INGEST_SUBJECTS,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=-1,  # never given up by JetStream: the inbox answers every message itself
            max_ack_pending=2 * self.batch_size,  # one batch being applied while the one before is answered
        ))

    def stop(self) -> None:
        """Take no new batch; `run` returns once what was applied is answered."""
        self._stopping = True

    async def run(self) -> None:
        subscription = await self.js.pull_subscribe_bind(DURABLE, INGEST_STREAM)
        answering: asyncio.Task | None = None
        fetching = Trouble(log, "the district inbox fetching")
        try:
            while not self._stopping:
                try:
                    messages = await next_messages(subscription, self.batch_size, wait_seconds=STOP_CHECK_SECONDS)
                    fetching.ended()
                    if not messages:
                        continue
                except Exception as error:  # noqa: BLE001 - NATS away: its client reconnects, we fetch again
                    fetching.failed(error)
                    await asyncio.sleep(STOP_CHECK_SECONDS)
                    continue
                answering = await self.answer(messages, after=answering)
        except BaseException:
            if answering is not None:
                answering.cancel()
            raise
        if answering is not None:  # stopping: what was applied is answered before the service goes
            await answering
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()

    async def backlog(self) -> dict[str, Any]:
        """How many messages wait (pending) or are being applied or answered (in hand), and how long the oldest
        unanswered one has waited: answered messages are erased, so the stream's first message is that one."""
        consumer = await self.js.consumer_info(INGEST_STREAM, DURABLE)
        stream = (await self.js.stream_info(INGEST_STREAM)).state
        oldest = None
        if stream.messages:
            with contextlib.suppress(NotFoundError):  # answered and erased meanwhile
                first = await self.js.get_msg(INGEST_STREAM, stream.first_seq)
                oldest = round(max((datetime.now(UTC) - first.time).total_seconds(), 0.0), 1)
        pending, in_hand = consumer.num_pending or 0, consumer.num_ack_pending or 0
        return {"backlog": pending + in_hand, "pending": pending, "in_hand": in_hand,
                "oldest_unanswered_seconds": oldest}

    async def answer(self, messages: list[Msg], after: asyncio.Task | None = None) -> asyncio.Task:
        """Apply or reject every message of a batch; returns the task that answers, erases and acks them all
        once the batch before (`after`) is answered."""
        arrivals = [Arrival(m.subject, m.data, m.metadata.sequence.stream, m.headers) for m in messages]
        keeping = asyncio.create_task(self._keep_in_progress(messages))
        try:
            answers = await self._apply(arrivals)
        except BaseException:
            keeping.cancel()
            raise
        self.on_saved()
        return asyncio.create_task(self._answer(messages, answers, keeping, after))

    async def _answer(self, messages: list[Msg], answers: dict[int, Answer], keeping: asyncio.Task,
                      after: asyncio.Task | None) -> None:
        try:
            if after is not None:
                await after
            await _until_done("answer the districts", lambda: self._publish(answers))
            await _until_done("erase answered messages", lambda: self._erase(list(answers)))
            await _until_done("ack answered messages", lambda: asyncio.gather(*(m.ack() for m in messages)))
        finally:
            keeping.cancel()

    async def _apply(self, arrivals: list[Arrival]) -> dict[int, Answer]:
        answers: dict[int, Answer] = {}
        attempts: dict[int, int] = {}
        pause = 0.05
        while waiting := [a for a in arrivals if a.sequence not in answers]:
            done = await asyncio.to_thread(self.inbox.receive_all, waiting, attempts)
            answers |= done.answers
            if done.held:  # the database away, or a change to the same case racing: wait, then again
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.longest_pause)
        return {a.sequence: answers[a.sequence] for a in arrivals}

    async def _publish(self, answers: dict[int, Answer]) -> None:
        # One answer per ingest message: a repeat's answer is dropped by JetStream's duplicate window.
        await asyncio.gather(*(
            self.js.publish(answer.subject, answer.body.model_dump_json().encode(),
                            headers={"Nats-Msg-Id": answer_message_id(self.answer_key, sequence)})
            for sequence, answer in answers.items()))

    async def _erase(self, sequences: list[int]) -> None:
        async def erase(sequence: int) -> None:
            try:
                await self.js.delete_msg(INGEST_STREAM, sequence)
            except APIError as error:
                if not _already_gone(error):
                    raise

        await asyncio.gather(*(erase(sequence) for sequence in sequences))

    @staticmethod
    async def _keep_in_progress(messages: list[Msg]) -> None:
        while True:
            await asyncio.sleep(ACK_WAIT_SECONDS / 3)
            with contextlib.suppress(Exception):  # NATS away: the next beat tries again
                await asyncio.gather(*(m.in_progress() for m in messages))


NO_SUCH_MESSAGE = {10043, 10057}
"""JetStream's error codes for a sequence it does not hold: "sequence not found", and "no message found" or
"stream store EOF" (after its own restart, or past the stream's end)."""


def _already_gone(error: APIError) -> bool:
    """Whether erasing failed because the message is not there: erased before a crash (the inbox then offered
    it again) is erased all the same."""
    return isinstance(error, NotFoundError) or error.err_code in NO_SUCH_MESSAGE


def answer_message_id(key: bytes, sequence: int) -> str:
    """The `Nats-Msg-Id` of the answer to the ingest message at `sequence`: keyed, so that nobody can publish a
    message ahead of it with the same id (JetStream would then drop the real answer as a duplicate)."""
    return "answer-" + hmac.new(key, f"answer-to-ingest-{sequence}".encode(), hashlib.sha256).hexdigest()[:40]


def answer_key_from(secret: str) -> bytes:
    """The answers' message-id key, derived from a service secret (the vault key) for this use alone."""
    return hmac.new(secret.encode(), b"casetrack district answer message ids", hashlib.sha256).digest()


async def _until_done(what: str, step: Callable[[], Awaitable[object]]) -> None:
    """Repeat a NATS step until it works: NATS's client reconnects by itself."""
    pause = 0.05
    while True:
        try:
            await step()
            return
        except Exception as error:  # noqa: BLE001 - retried: the batch stays unacked meanwhile
            log.warning("district inbox could not %s: %s %s; trying again", what, type(error).__name__,
                        getattr(error, "err_code", "") or "")
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)


async def open_district_inbox(runtime, js: JetStreamContext) -> None:
    """Start hook of the referral service: the inbox's tables, its consumer, and its fetch loop; old copies
    of refused messages are destroyed now and every hour."""
    from services.referral.district_inbox.retention import keep_destroying_old_refusals

    inbox = DistrictInbox(runtime.store, runtime.schema)
    await asyncio.to_thread(inbox.prepare)
    transport = InboxTransport(inbox, js, on_saved=lambda: runtime.saved(0),
                               answer_key=answer_key_from(runtime.settings.vault_secret))
    await transport.prepare()
    running = runtime.in_background(transport.run(), "district-inbox")

    async def answer_what_was_applied() -> None:
        transport.stop()
        await running

    runtime.finishing.append(answer_what_was_applied)
    runtime.watch("district_inbox", transport.backlog)
    runtime.in_background(keep_destroying_old_refusals(runtime.store, runtime.schema,
                                                       runtime.settings.refused_message_retention_days),
                          "refusal-retention")
