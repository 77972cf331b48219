"""Destroying the kept copies of refused district messages once the retention period has passed.

A refused message is kept sealed so the district can be helped to correct it; nobody resolved it within
`refused_message_retention_days`, so its copy is destroyed (its reasons stay) and the table rewritten, so
no old row version keeps it.
"""

from __future__ import annotations

import asyncio
import logging

from services.referral.application import Referrals
from services.referral.district_inbox.records import InboxRecords

log = logging.getLogger(__name__)


def destroy_old_refusals(referrals: Referrals, schema: str, retention_days: int) -> int:
    """Destroy the sealed copies older than `retention_days` that no corrected resend resolved; returns how many."""
    destroyed = InboxRecords(referrals.vault.datastore, schema).destroy_sealed_copies_older_than(retention_days)
    if destroyed:
        referrals.vault.rewrite_tables("rejected_messages")
    return destroyed


async def keep_destroying_old_refusals(referrals: Referrals, schema: str, retention_days: int,
                                       every_seconds: float = 3600) -> None:
    while True:
        try:
            destroyed = await asyncio.to_thread(destroy_old_refusals, referrals, schema, retention_days)
            if destroyed:
                log.info("destroyed the kept copies of %s refused district messages older than %s days",
                         destroyed, retention_days)
        except Exception as error:  # noqa: BLE001 - tried again at the next round
            log.warning("could not destroy old refused messages: %s", type(error).__name__)
        await asyncio.sleep(every_seconds)
