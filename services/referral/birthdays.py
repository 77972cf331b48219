"""The birthday sweep: the referral service records AgeReached on open cases whose young person is counted as 18
(from 00:00 UTC on the first day of the month after their 18th birthday, never the birthday itself: see
`counted_as_18_from`) while nothing else happened on the case (a change dated on or after that day records it
first anyway). It runs when the service starts and every hour; `casetrack birthdays` and `POST /birthdays` run it
at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime

from nats.js import JetStreamContext

from services.referral.application import Referrals
from services.referral.handlers import ChangedConcurrently, RecordBirthdays, handle
from shared.contracts import EventContext
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 3600
SWEEPER = "casetrack:birthdays"


def sweep(referrals: Referrals, on: date | None = None) -> tuple[int, int]:
    """Record AgeReached on the cases counted as 18 by `on` (today); (those cases, store position). A case changed
    at the same moment makes it try again once (the next sweep catches anything left)."""
    on = on or datetime.now(UTC).date()
    for attempt in (1, 2):
        try:
            saved = handle(referrals, RecordBirthdays(on=on), EventContext(actor=SWEEPER))
            return len(saved.cases), saved.position
        except ChangedConcurrently:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def start_birthday_sweep(runtime: ServiceRuntime, _js: JetStreamContext) -> None:
    """Sweep at start, then every hour, for as long as the service runs."""

    async def every_hour() -> None:
        while True:
            try:
                turned, position = await asyncio.to_thread(sweep, runtime.store)
                if turned:
                    runtime.saved(position)
                    log.info("birthday sweep: %s young people counted as 18", turned)
            except Exception as error:  # noqa: BLE001 - the next sweep tries again
                log.warning("birthday sweep failed: %s", type(error).__name__)
            await asyncio.sleep(SWEEP_EVERY_SECONDS)

    runtime.in_background(every_hour(), "birthday-sweep")
