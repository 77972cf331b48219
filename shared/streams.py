"""The JetStream streams casetrack keeps: one per service, plus district ingest and rejections.

Streams keep every event (no age limit); the event stores in PostgreSQL stay the system of record.
"""

import asyncio
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared.settings import SERVICES
from shared.subjects import PREFIX, service_subjects, stream_name

DUPLICATE_WINDOW_SECONDS = 120.0


def stream_configs(replicas: int) -> list[StreamConfig]:
    def stream(name: str, subjects: list[str], description: str) -> StreamConfig:
        return StreamConfig(
            name=name,
            description=description,
            subjects=subjects,
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            max_age=0,
            max_msgs=-1,
            max_bytes=-1,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )

    return [
        *(stream(stream_name(s), [service_subjects(s)], f"events recorded by the {s} service") for s in SERVICES),
        stream("CASETRACK_INGEST", [f"{PREFIX}.ingest.>"],
               "messages from district housing systems, each erased once answered"),
        stream("CASETRACK_REJECTED", [f"{PREFIX}.rejected.>"], "district messages casetrack refused, with reasons"),
        stream("CASETRACK_ACCEPTED", [f"{PREFIX}.accepted.>"], "district messages casetrack applied, with their case"),
    ]


async def ensure_streams(js: JetStreamContext, replicas: int) -> None:
    """Create each stream, or bring an existing one up to date with its configuration (the administrator's
    work: `casetrack up` does it once NATS is up, `casetrack streams` in a deployment; services may not)."""
    for config in stream_configs(replicas):
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)


async def create_streams(servers: list[str], replicas: int, **connect: Any) -> None:
    """Connect (as the administrator: `connect` holds nats.connect's credentials) and ensure every stream."""
    nc = await nats.connect(servers=servers, name="casetrack-streams", connect_timeout=5, **connect)
    try:
        await ensure_streams(nc.jetstream(), replicas)
    finally:
        await nc.drain()


STREAMS_WAIT_SECONDS = 1.0


async def wait_for_streams(js: JetStreamContext, names: list[str], say: Any = None) -> None:
    """Return once every stream named exists; meanwhile `say` (a logger's method) is told, once, which are
    missing and who creates them."""
    told = False
    while True:
        missing = []
        for name in names:
            try:
                await js.stream_info(name)
            except NotFoundError:
                missing.append(name)
        if not missing:
            return
        if say is not None and not told:
            say("waiting for the JetStream streams %s to exist (casetrack up creates them; in a deployment, "
                "`casetrack streams` as the NATS administrator)", ", ".join(missing))
            told = True
        await asyncio.sleep(STREAMS_WAIT_SECONDS)  # polling: the administrator creates them when it does


PENDING_NOW_SECONDS = 0.01
"""How long a pull waits for pending messages to start arriving before it waits for the next one instead."""


async def next_messages(subscription: Any, limit: int, wait_seconds: float) -> list[Msg]:
    """What a pull consumer has pending now, up to `limit`; when nothing is, the next message as soon as it
    comes, or [] after `wait_seconds`. (A pull for a whole batch would linger until its timeout gathering
    more, delaying a trickle of messages; and nats-py ends an empty pull with its own TimeoutError or, when
    the server's answer and the deadline cross, asyncio's: both mean "nothing yet".)"""
    try:
        return await subscription.fetch(limit, timeout=PENDING_NOW_SECONDS)
    except TimeoutError:
        try:
            return await subscription.fetch(1, timeout=wait_seconds)
        except TimeoutError:
            return []
