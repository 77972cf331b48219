"""What a district integrator reads: the district's refused messages and why."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from services.referral.api.deps import RefusedMessagesReader
from services.referral.district_inbox.records import InboxRecords
from shared.contracts.vocabulary import DISTRICTS
from shared.web import Runtime

router = APIRouter(tags=["district integration"])


@router.get("/districts/{district}/rejected-messages")
def rejected_messages(district: str, runtime: Runtime, caller: RefusedMessagesReader,
                      unresolved: bool = True) -> list[dict]:
    """The district's refused messages with every reason, oldest first; `unresolved=false` adds those a
    corrected resend has since resolved. Message bodies are never shown (they may hold personal data)."""
    if district not in DISTRICTS:
        raise HTTPException(422, [{"loc": ["path", "district"], "msg": "unknown district",
                                   "type": "UnknownDistrict"}])
    caller.confine_to(district)
    records = InboxRecords(runtime.store.vault.datastore, runtime.schema)
    return records.rejected_messages(district, unresolved_only=unresolved)
