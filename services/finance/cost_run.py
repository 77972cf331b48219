"""The cost run: publishes what each stay cost in each month as `CostAccrued` events, so the journeys service can put
a cost on every step of a journey. It runs when the service starts (every month since the first stay) and every hour
(the months of the last 400 days), for the months that have ended
(`POST /cost-run?through=` runs it at once, to any day: a month not over is published to that day, and published
again, changed, by a later run). A month whose cost is what was published already publishes nothing; one whose
cost changed (a price changed back in time, payment by results released) publishes a new `CostAccrued` for that
stay and month, which replaces the earlier."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from nats.js import JetStreamContext

from services.finance import reports
from services.finance.costing import Accrual
from shared.contracts import EventContext
from shared.contracts.finance import CostPart
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

RUN_EVERY_SECONDS = 3600
RECENT_DAYS = 400
"""After the first run since the service started, each hourly run recosts only the months of the last 400 days (a
price changed further back is published by `POST /cost-run?since=`, or at the next start)."""
RUNNER = "casetrack:cost-run"
COST_RUN_LOCK = "finance.cost-run"


@dataclass(frozen=True)
class MonthCost:
    """One stay's cost in one month, under whichever contracts covered it (the one of most nights named)."""

    first: Accrual
    contract_id: object
    days: int
    cost: CostPart
    held_back: int


def months_of(accruals: list[Accrual]) -> list[MonthCost]:
    grouped: dict[tuple, list[Accrual]] = defaultdict(list)
    for accrual in accruals:
        grouped[(accrual.stay_id, accrual.month)].append(accrual)
    months = []
    for group in grouped.values():
        streams: Counter = Counter()
        for accrual in group:
            streams.update(accrual.cost.by_stream)
        busiest = max(group, key=lambda accrual: (accrual.contract_id is not None, accrual.days))
        months.append(MonthCost(
            first=group[0], contract_id=busiest.contract_id, days=sum(a.days for a in group),
            cost=CostPart(rent=sum(a.cost.rent for a in group),
                          service_charge=sum(a.cost.service_charge for a in group),
                          support=sum(a.cost.support for a in group), by_stream=dict(streams)),
            held_back=sum(a.held_back for a in group)))
    return months


def end_of_last_month(today: date) -> date:
    return today.replace(day=1) - timedelta(days=1)


async def run_costs(runtime: ServiceRuntime, through: date | None = None,
                    since: date | None = None) -> tuple[int, int]:
    """Publish every stay's monthly cost from the month of `since` (default: of the first stay ever) up to `through`
    (default: the end of last month); (events recorded, the store's position).

    One run at a time, across every replica (a lock held on the database for the run): two runs at once would
    both publish a month's new cost, and the second be refused by the store. The costing itself (pure, and long for a
    large county) runs off the event loop, so the service keeps answering while it works."""
    through = through or end_of_last_month(datetime.now(UTC).date())
    async with runtime.pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", COST_RUN_LOCK)
        try:
            first = await conn.fetchval("SELECT min(first_night) FROM finance.stays")
            if first is not None and since is not None:
                first = max(first, since)
            if first is None or first > through:
                return 0, 0
            book = await reports.ledger(conn, first.replace(day=1), through)
            months = await asyncio.to_thread(lambda: months_of(book.accruals()))
            recorded, position = await asyncio.to_thread(runtime.store.publish_costs, EventContext(actor=RUNNER),
                                                         months, through)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", COST_RUN_LOCK)
    if recorded:
        runtime.saved(position)
    return recorded, position


async def start_cost_run(runtime: ServiceRuntime, _js: JetStreamContext) -> None:
    """Run at start, then every hour, for as long as the service runs."""

    async def every_hour() -> None:
        since: date | None = None  # the first run since the start: every month
        while True:
            try:
                recorded, _ = await run_costs(runtime, since=since)
                since = datetime.now(UTC).date() - timedelta(days=RECENT_DAYS)
                if recorded:
                    log.info("cost run: %s stay-months published", recorded)
            except Exception as error:  # noqa: BLE001 - the next run tries again
                log.warning("cost run failed: %s", type(error).__name__)
            await asyncio.sleep(RUN_EVERY_SECONDS)

    runtime.in_background(every_hour(), "cost-run")
